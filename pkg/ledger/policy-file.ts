// Reading a trust policy file (JSON; see policy.ts for its fields).

import { readFileSync } from 'node:fs';
import { ImagetrustError } from '../errors';
import { parsePolicy, type TrustPolicy } from './policy';

export function parsePolicyFile(path: string): TrustPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ImagetrustError('CONFIG_INVALID', `cannot read policy ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parsePolicy(doc, path);
}
