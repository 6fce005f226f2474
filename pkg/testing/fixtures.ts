// Builders for ledger tests: signer keys, statements about made-up digests, temp ledgers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { generateSignerKey, type SignerKey } from '../ledger/keys';
import {
  signStatement,
  type ImageDigest,
  type SignedStatement,
  type StatementStatus,
} from '../ledger/statement';

export function digestOf(name: string): ImageDigest {
  return `sha256:${createHash('sha256').update(name).digest('hex')}`;
}

export function statementFor(
  key: SignerKey,
  digest: ImageDigest,
  status: StatementStatus,
  time = '2026-01-01T00:00:00Z',
): SignedStatement {
  return signStatement(
    {
      kind: 'docker',
      digest,
      name: 'docker://example/app:1',
      status,
      signer: key.keyId,
      time,
      metadata: { os: 'linux' },
    },
    key.privateKey,
  );
}

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'imagetrust-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export { generateSignerKey };
