// Proof checking for lookups, as one pipeline over data: a checkpoint already opened with the
// ledger's key, the entries a ledger returned for one signer and digest, the index proof, and
// the checkpoint the client held before. No I/O.
//
//   index proof vs checkpoint index root ─► (count, chain) or absent
//   entries ─► leaf hash ─► inclusion proof vs checkpoint root ─► statement signature
//           ─► signer and digest match ─► chain over (index, leaf hash) = the proven value
//   index proof at the earlier checkpoint ─► the entries below it chain to that value

import { ImagetrustError, isImagetrustError } from '../errors';
import type { Checkpoint } from './checkpoint';
import {
  chainOf,
  indexKey,
  sameValue,
  verifyIndexProof,
  type IndexLookup,
  type IndexProof,
} from './index-proof';
import { hashLeaf, verifyConsistency, verifyInclusion } from './merkle';
import type { ProvenEntry } from './log';
import type { VerifiedStatement } from './policy';
import { openStatementAsync, type ImageDigest, type Statement } from './statement';

interface OpenedStatement {
  statement: Statement;
  id: string;
}

/** Memo of work already done, keyed by leaf hash (signatures) and by leaf hash + checkpoint (inclusion). */
export class VerificationCache {
  private readonly statements = new Map<string, OpenedStatement>();
  private readonly included = new Set<string>();

  constructor(private readonly limit = 100_000) {}

  statement(leafHash: Buffer): OpenedStatement | undefined {
    return this.statements.get(leafHash.toString('base64'));
  }

  rememberStatement(leafHash: Buffer, opened: OpenedStatement): void {
    if (this.statements.size >= this.limit) this.statements.clear();
    this.statements.set(leafHash.toString('base64'), opened);
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
 * another digest, means the ledger's storage was tampered with. Signatures are checked on
 * the thread pool, all of a lookup's at once.
 */
export async function verifyEntries(
  entries: ProvenEntry[],
  checkpoint: Checkpoint,
  digest: ImageDigest,
  cache?: VerificationCache,
): Promise<VerifiedStatement[]> {
  let lastIndex = -1;
  for (const e of entries) {
    if (!Number.isSafeInteger(e.index) || e.index <= lastIndex) {
      throw new ImagetrustError('PROOF_INVALID', 'ledger returned entries out of order');
    }
    lastIndex = e.index;
  }
  const leafHashes = entries.map((e) => hashLeaf(e.leaf));
  entries.forEach((e, i) => {
    const leafHash = leafHashes[i] as Buffer;
    const key = inclusionKey(leafHash, e.index, checkpoint);
    if (!cache?.isIncluded(key)) {
      verifyInclusion(e.index, checkpoint.size, leafHash, e.proof, checkpoint.rootHash);
      cache?.rememberIncluded(key);
    }
  });
  const opened = await Promise.all(entries.map((e, i) => openEntry(e, leafHashes[i] as Buffer, cache)));
  return entries.map((e, i) => {
    const o = opened[i] as OpenedStatement;
    if (o.statement.digest !== digest) {
      throw new ImagetrustError('LEDGER_TAMPERED', `ledger returned entry ${e.index} for another digest`);
    }
    return { index: e.index, leafHash: leafHashes[i] as Buffer, id: o.id, statement: o.statement };
  });
}

async function openEntry(
  e: ProvenEntry,
  leafHash: Buffer,
  cache?: VerificationCache,
): Promise<OpenedStatement> {
  let opened = cache?.statement(leafHash);
  if (!opened) {
    try {
      const o = await openStatementAsync(e.leaf);
      opened = { statement: o.statement, id: o.id };
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
    cache?.rememberStatement(leafHash, opened);
  }
  return opened;
}

/** A checkpoint's index root; a checkpoint without one cannot prove a lookup complete. */
export function indexRootOf(cp: Checkpoint): Buffer {
  if (!cp.indexRoot) {
    throw new ImagetrustError(
      'LEDGER_UPGRADE_NEEDED',
      `the checkpoint of tree size ${cp.size} carries no statement index (an imagetrust 0.1 ledger): lookups cannot be proven complete until the ledger is upgraded`,
    );
  }
  return cp.indexRoot;
}

export interface KeyAnswer {
  proof: IndexProof;
  entries: ProvenEntry[];
  since?: { checkpoint: Checkpoint; proof: IndexProof };
}

/**
 * Checks one signer's complete answer about one digest: the index proof, every entry, that
 * the entries are exactly the ones the index commits to, and that they extend what the index
 * committed to at the client's earlier checkpoint. Returns the statements in log order.
 */
export async function verifyKeyAnswer(
  answer: KeyAnswer,
  checkpoint: Checkpoint,
  signer: string,
  digest: ImageDigest,
  cache?: VerificationCache,
): Promise<VerifiedStatement[]> {
  const key = indexKey(signer, digest);
  const proven = verifyIndexProof(key, answer.proof, indexRootOf(checkpoint));
  const statements = await verifyEntries(answer.entries, checkpoint, digest, cache);
  for (const s of statements) {
    if (s.statement.signer !== signer) {
      throw new ImagetrustError('LEDGER_TAMPERED', `ledger returned entry ${s.index} of another signer`);
    }
  }
  const got = chainOf(statements);
  const expected = proven.present ? proven.value.count : 0;
  if (!proven.present ? got.count !== 0 : !sameValue(got, proven.value)) {
    throw new ImagetrustError(
      'PROOF_INVALID',
      `ledger returned ${got.count} entries of signer ${signer} about ${digest}, but its index commits to ${expected}${got.count === expected ? ' others' : ''}`,
      { details: { signer, digest, returned: statements.map((s) => s.index), indexed: expected } },
    );
  }
  if (answer.since) checkExtends(answer.since, statements, checkpoint, signer, digest);
  return statements;
}

function checkExtends(
  since: { checkpoint: Checkpoint; proof: IndexProof },
  statements: VerifiedStatement[],
  checkpoint: Checkpoint,
  signer: string,
  digest: ImageDigest,
): void {
  const earlier: IndexLookup = verifyIndexProof(
    indexKey(signer, digest),
    since.proof,
    indexRootOf(since.checkpoint),
  );
  const prefix = chainOf(statements.filter((s) => s.index < since.checkpoint.size));
  const ok = earlier.present ? sameValue(prefix, earlier.value) : prefix.count === 0;
  if (!ok) {
    throw new ImagetrustError(
      'LEDGER_INCONSISTENT',
      `the ledger's index for signer ${signer} about ${digest} at tree size ${checkpoint.size} does not extend the one at tree size ${since.checkpoint.size}`,
      { details: { signer, digest, earlier: since.checkpoint.size, later: checkpoint.size } },
    );
  }
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
