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

export interface StatementOptions {
  sequence?: number;
  supersedes?: string;
  time?: string;
  attributes?: Record<string, string>;
}

/** One statement with an explicit place in the signer's order (sequence 1 by default). */
export function statementFor(
  key: SignerKey,
  digest: ImageDigest,
  status: StatementStatus,
  options: StatementOptions = {},
): SignedStatement {
  return signStatement(
    {
      digest,
      name: 'docker://example/app:1',
      status,
      signer: key.keyId,
      time: options.time ?? '2026-01-01T00:00:00Z',
      metadata: { os: 'linux' },
      attributes: options.attributes ?? {},
      sequence: options.sequence ?? 1,
      ...(options.supersedes ? { supersedes: options.supersedes } : {}),
    },
    key.privateKey,
  );
}

/** Signs each signer's successive words about each digest in order, as a real signer would. */
export class Words {
  private readonly last = new Map<string, { sequence: number; id: string }>();

  next(
    key: SignerKey,
    digest: ImageDigest,
    status: StatementStatus,
    options: Omit<StatementOptions, 'sequence' | 'supersedes'> = {},
  ): SignedStatement {
    const k = `${key.keyId}/${digest}`;
    const prev = this.last.get(k);
    const signed = statementFor(key, digest, status, {
      ...options,
      sequence: (prev?.sequence ?? 0) + 1,
      ...(prev ? { supersedes: prev.id } : {}),
    });
    this.last.set(k, { sequence: signed.statement.sequence, id: signed.id });
    return signed;
  }
}

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'imagetrust-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export { generateSignerKey };
