// Reading a trust policy file (JSON; see policy.ts for its fields).

import { readFileSync } from 'node:fs';
import { ImagetrustError } from '../errors';
import { parsePolicy, type TrustPolicy } from './policy';
import { parseWitnessPolicy, type WitnessPolicy } from './witness-policy';

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

export function parseWitnessPolicyFile(path: string): WitnessPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `cannot read witness policy ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  try {
    return parseWitnessPolicy(text);
  } catch (err) {
    throw new ImagetrustError('CONFIG_INVALID', `${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The default --max-checkpoint-age: how old a witnessed view may be. */
export const DEFAULT_MAX_CHECKPOINT_AGE_S = 3600;

/** A duration: seconds, or a number with s, m, h or d. */
export function parseDuration(value: string, what: string): number {
  const m = /^([1-9][0-9]{0,8})([smhd]?)$/.exec(value.trim());
  if (!m)
    throw new ImagetrustError(
      'USAGE',
      `${what} ${JSON.stringify(value)}: expected seconds or a number with s, m, h or d`,
    );
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
