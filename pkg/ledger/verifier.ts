// Proof checking for lookups, as one pipeline over data: a checkpoint already opened with the
// ledger's key, the entries a ledger returned for a digest, and the trusted state. No I/O.
//
//   entries ─► leaf hash ─► inclusion proof vs checkpoint root ─► statement signature ─► digest matches

import { ImagetrustError, isImagetrustError } from '../errors';
import type { Checkpoint } from './checkpoint';
import { hashLeaf, verifyConsistency, verifyInclusion } from './merkle';
import type { ProvenEntry } from './log';
import type { VerifiedStatement } from './policy';
import { openStatement, type ImageDigest, type Statement } from './statement';

/** Memo of work already done, keyed by leaf hash (signatures) and by leaf hash + checkpoint (inclusion). */
export class VerificationCache {
  private readonly statements = new Map<string, Statement>();
  private readonly included = new Set<string>();

  constructor(private readonly limit = 100_000) {}

  statement(leafHash: Buffer): Statement | undefined {
    return this.statements.get(leafHash.toString('base64'));
  }

  rememberStatement(leafHash: Buffer, statement: Statement): void {
    if (this.statements.size >= this.limit) this.statements.clear();
    this.statements.set(leafHash.toString('base64'), statement);
  }

  isIncluded(key: string): boolean {
    return this.included.has(key);
  }

  rememberIncluded(key: string): void {
    if (this.included.size >= this.limit) this.included.clear();
    this.included.add(key);
  }
}

function inclusionKey(leafHash: Buffer, index: number, cp: Checkpoint): string {
  return `${leafHash.toString('base64')}:${index}:${cp.size}:${cp.rootHash.toString('base64')}`;
}

/**
 * Checks every entry against the checkpoint and returns the statements, oldest first.
 * A bad proof is PROOF_INVALID; a logged statement that does not verify, or one about
 * another digest, means the ledger's storage was tampered with.
 */
export function verifyEntries(
  entries: ProvenEntry[],
  checkpoint: Checkpoint,
  digest: ImageDigest,
  cache?: VerificationCache,
): VerifiedStatement[] {
  const out: VerifiedStatement[] = [];
  let lastIndex = -1;
  for (const e of entries) {
    if (!Number.isSafeInteger(e.index) || e.index <= lastIndex) {
      throw new ImagetrustError('PROOF_INVALID', 'ledger returned entries out of order');
    }
    lastIndex = e.index;
    const leafHash = hashLeaf(e.leaf);
    const key = inclusionKey(leafHash, e.index, checkpoint);
    if (!cache?.isIncluded(key)) {
      verifyInclusion(e.index, checkpoint.size, leafHash, e.proof, checkpoint.rootHash);
      cache?.rememberIncluded(key);
    }
    let statement = cache?.statement(leafHash);
    if (!statement) {
      try {
        statement = openStatement(e.leaf).statement;
      } catch (err) {
        if (!isImagetrustError(err, 'STATEMENT_INVALID')) throw err;
        throw new ImagetrustError(
          'LEDGER_TAMPERED',
          `logged entry ${e.index} is not a valid statement: ${err.message}`,
          {
            cause: err,
          },
        );
      }
      cache?.rememberStatement(leafHash, statement);
    }
    if (statement.digest !== digest) {
      throw new ImagetrustError('LEDGER_TAMPERED', `ledger returned entry ${e.index} for another digest`);
    }
    out.push({ index: e.index, leafHash, statement });
  }
  return out;
}

/** Throws LEDGER_INCONSISTENT (with both checkpoints as evidence) unless `next` extends `trusted`. */
export function verifyExtends(
  trusted: Checkpoint & { note: string },
  next: Checkpoint & { note: string },
  proof: Buffer[],
): void {
  const evidence = {
    trusted: trusted.note,
    presented: next.note,
    proof: proof.map((p) => p.toString('base64')),
  };
  if (next.size < trusted.size) {
    throw new ImagetrustError(
      'LEDGER_INCONSISTENT',
      `ledger rolled back from tree size ${trusted.size} to ${next.size}`,
      { details: evidence },
    );
  }
  try {
    verifyConsistency(trusted.size, next.size, trusted.rootHash, next.rootHash, proof);
  } catch (err) {
    throw new ImagetrustError(
      'LEDGER_INCONSISTENT',
      `ledger checkpoint of size ${next.size} is not consistent with the trusted checkpoint of size ${trusted.size}`,
      { cause: err, details: evidence },
    );
  }
}
