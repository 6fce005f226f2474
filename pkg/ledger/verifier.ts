// Proof checking for lookups, as one pipeline over data: a checkpoint already opened with the
// ledger's key, the entries a ledger returned for one signer and digest, the index proof, and
// the checkpoint the client held before. No I/O.
//
//   index proof vs checkpoint index root ─► (count, chain) or absent
//   entries ─► leaf hash ─► inclusion proof vs checkpoint root ─► statement signature
//           ─► signer and digest match ─► chain over (index, leaf hash) = the proven value
//   index proof at the earlier checkpoint ─► the entries below it chain to that value
//
// The signatures are checked on libuv's thread pool while the proofs are hashed here, and a
// VerificationCache keeps the tree and index nodes proofs have proven, so that the next proof
// at the same checkpoint compares where it meets them instead of hashing up to the root again.

import { ImagetrustError, isImagetrustError } from '../errors';
import type { Checkpoint } from './checkpoint';
import {
  chainOf,
  hashIndexInner,
  hashIndexLeaf,
  indexKey,
  keyBit,
  sameValue,
  verifyIndexProof,
  type IndexLookup,
  type IndexProof,
} from './index-proof';
import { HASH_SIZE, HashSlab, hashLeaf, ProvenNodes, verifyConsistency, verifyInclusion } from './merkle';
import type { ProvenEntry } from './log';
import type { VerifiedStatement } from './policy';
import { beginOpenStatement, type ImageDigest, type PendingStatement, type Statement } from './statement';

interface OpenedStatement {
  statement: Statement;
  id: string;
}

/** Checkpoints whose proven nodes are kept: the latest and one before it (or a historical one). */
const PROVEN_TREES = 2;

/**
 * Nodes of one statement index (by its root) that index proofs already led to the root, each
 * found by its place: the turns, (bit, side), that lead to it from the root, kept as a trie of
 * node ids (the root is node 0). A place names one node of the tree: a proof whose turns
 * differ from the tree's shares no place with an accepted one. Like merkle.ts ProvenNodes for
 * the log: a later proof is compared where it meets these nodes and hashed only where not.
 */
class ProvenIndexNodes {
  /** (parent id · 512 + turn) → child id; a node's id is its hash's slot. */
  private readonly children = new Map<number, number>();
  private readonly slab: HashSlab;

  constructor(
    readonly root: Buffer,
    limit: number,
  ) {
    this.slab = new HashSlab(limit);
    this.slab.push(root);
  }

  child(id: number, turn: number): number | undefined {
    return this.children.get(id * 512 + turn);
  }

  hash(id: number): Buffer {
    return this.slab.at(id);
  }

  equals(id: number, hash: Uint8Array): boolean {
    return this.slab.equals(id, hash);
  }

  /** Adds the nodes of an accepted proof: its path (depth 0 is the root) and each sibling. */
  addPath(turns: number[], proven: Uint8Array[], siblings: Uint8Array[]): void {
    const needed = 2 * turns.length;
    if (1 + needed > this.slab.limit) return;
    let path = proven;
    if (this.slab.count + needed > this.slab.limit) {
      // Hashes read from the slab are views of it: copied before it is written over.
      path = proven.map((h) => Buffer.from(h));
      this.children.clear();
      this.slab.clear();
      this.slab.push(this.root);
    }
    let id = 0;
    turns.forEach((t, j) => {
      this.insert(id, t ^ 1, siblings[j] as Uint8Array);
      id = this.insert(id, t, path[j + 1] as Uint8Array);
    });
  }

  private insert(parent: number, turn: number, hash: Uint8Array): number {
    const known = this.child(parent, turn);
    if (known !== undefined) return known;
    const id = this.slab.push(hash);
    this.children.set(parent * 512 + turn, id);
    return id;
  }
}

/**
 * What a well-formed index proof of a present or absent key (a leaf under one or more inner
 * nodes) proves, using the nodes earlier proofs proved: the verdict verifyIndexProof gives,
 * with each sibling compared with a proven one where known and hashes computed only where the
 * path is not proven yet. `undefined` for any other shape and for any disagreement: then
 * verifyIndexProof decides, and names what is wrong.
 */
function provenIndexLookup(
  key: Buffer,
  proof: IndexProof,
  proven: ProvenIndexNodes,
): IndexLookup | undefined {
  const { steps, leaf } = proof;
  if (key.length !== HASH_SIZE || !leaf || steps.length === 0 || steps.length > 256) return undefined;
  if (leaf.key.length !== HASH_SIZE || leaf.chain.length !== HASH_SIZE) return undefined;
  if (!Number.isSafeInteger(leaf.count) || leaf.count < 1) return undefined;
  const m = steps.length;
  // Top down: each step's turn, and the ids of the proven nodes on the key's path and beside it.
  const turns: number[] = [];
  const pathIds: number[] = [0];
  const siblingIds: (number | undefined)[] = [];
  let last = -1;
  for (const { bit, sibling } of steps) {
    if (!Number.isInteger(bit) || bit <= last || bit > 255 || sibling.length !== HASH_SIZE) return undefined;
    last = bit;
    const t = bit * 2 + keyBit(key, bit);
    turns.push(t);
    const above = pathIds[turns.length - 1];
    if (above === undefined) continue;
    siblingIds.push(proven.child(above, t ^ 1));
    const id = proven.child(above, t);
    if (id !== undefined) pathIds.push(id);
  }
  // Bottom up, as verifyIndexProof hashes: path[j] is the node at depth j.
  const path: Uint8Array[] = new Array(m + 1);
  let hash = hashIndexLeaf(leaf.key, leaf);
  path[m] = hash;
  const leafId = pathIds[m];
  if (leafId !== undefined && !proven.equals(leafId, hash)) return undefined;
  /** Whether `hash` is known to be the tree's node at depth j + 1. */
  let known = leafId !== undefined;
  for (let j = m - 1; j >= 0; j--) {
    const { bit, sibling } = steps[j] as { bit: number; sibling: Buffer };
    const siblingId = siblingIds[j];
    const knownSibling = siblingId !== undefined;
    if (knownSibling && !proven.equals(siblingId, sibling)) return undefined;
    const parentId = pathIds[j];
    if (known && knownSibling && parentId !== undefined) {
      hash = proven.hash(parentId);
    } else {
      hash =
        (turns[j] as number) % 2 === 0
          ? hashIndexInner(bit, hash, sibling)
          : hashIndexInner(bit, sibling, hash);
      if (parentId !== undefined && !proven.equals(parentId, hash)) return undefined;
      known = parentId !== undefined;
    }
    path[j] = hash;
  }
  proven.addPath(
    turns,
    path,
    steps.map((s) => s.sibling),
  );
  return leaf.key.equals(key)
    ? { present: true, value: { count: leaf.count, chain: leaf.chain } }
    : { present: false };
}

/** verifyIndexProof, with the nodes a cache holds for that index root: the same verdicts and errors. */
export function indexLookup(
  key: Buffer,
  proof: IndexProof,
  root: Buffer,
  cache?: VerificationCache,
): IndexLookup {
  const proven = cache?.provenIndexNodes(root);
  return (proven && provenIndexLookup(key, proof, proven)) ?? verifyIndexProof(key, proof, root);
}

/**
 * Memo of work already done: statements keyed by leaf hash (signatures), and per checkpoint
 * the log tree nodes (merkle.ts ProvenNodes) and index nodes (ProvenIndexNodes) that proofs
 * already led to its roots, so that a later proof is compared where it meets them instead of
 * hashed again.
 */
export class VerificationCache {
  private readonly statements = new Map<string, OpenedStatement>();
  private readonly trees = new Map<string, ProvenNodes>();
  private readonly indexes = new Map<string, ProvenIndexNodes>();

  /** At most `limit` entries in each memo (and at most 2^16 nodes per tree). */
  constructor(private readonly limit = 100_000) {}

  private get nodeLimit(): number {
    return Math.min(this.limit, 1 << 16);
  }

  statement(leafHash: Buffer): OpenedStatement | undefined {
    return this.statements.get(leafHash.toString('base64'));
  }

  rememberStatement(leafHash: Buffer, opened: OpenedStatement): void {
    if (this.statements.size >= this.limit) this.statements.clear();
    this.statements.set(leafHash.toString('base64'), opened);
  }

  /** The proven nodes of the statement index with this root (empty at first). */
  provenIndexNodes(indexRoot: Buffer): ProvenIndexNodes {
    const key = indexRoot.toString('base64');
    let nodes = this.indexes.get(key);
    if (!nodes) {
      if (this.indexes.size >= PROVEN_TREES) this.indexes.clear();
      nodes = new ProvenIndexNodes(indexRoot, this.nodeLimit);
      this.indexes.set(key, nodes);
    }
    return nodes;
  }

  /** The proven nodes of a checkpoint's tree (empty at first). */
  provenNodes(cp: Checkpoint): ProvenNodes {
    const key = `${cp.size}:${cp.rootHash.toString('base64')}`;
    let nodes = this.trees.get(key);
    if (!nodes) {
      if (this.trees.size >= PROVEN_TREES) this.trees.clear();
      nodes = new ProvenNodes(cp.size, cp.rootHash, this.nodeLimit);
      this.trees.set(key, nodes);
    }
    return nodes;
  }
}

/** An entry's statement: known already, being opened (signature on the thread pool), or not a statement. */
type Opening = { opened: OpenedStatement } | { pending: PendingStatement } | { error: unknown };

/** Starts opening every entry not opened before, so that all of a lookup's signatures are checked at once. */
function beginOpenings(entries: ProvenEntry[], leafHashes: Buffer[], cache?: VerificationCache): Opening[] {
  return entries.map((e, i) => {
    const opened = cache?.statement(leafHashes[i] as Buffer);
    if (opened) return { opened };
    try {
      return { pending: beginOpenStatement(e.leaf) };
    } catch (err) {
      return { error: err };
    }
  });
}

async function finishOpening(
  e: ProvenEntry,
  leafHash: Buffer,
  opening: Opening,
  cache?: VerificationCache,
): Promise<OpenedStatement> {
  if ('opened' in opening) return opening.opened;
  let opened: OpenedStatement;
  try {
    if ('error' in opening) throw opening.error;
    const o = await opening.pending.opened();
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
  return opened;
}

/**
 * Checks every entry against the checkpoint and returns the statements, oldest first.
 * A bad proof is PROOF_INVALID; a logged statement that does not verify, or one about
 * another digest, means the ledger's storage was tampered with. Signatures are checked on
 * the thread pool, all of a lookup's at once, while the inclusion proofs are hashed here.
 */
export async function verifyEntries(
  entries: ProvenEntry[],
  checkpoint: Checkpoint,
  digest: ImageDigest,
  cache?: VerificationCache,
): Promise<VerifiedStatement[]> {
  const leafHashes = entries.map((e) => hashLeaf(e.leaf));
  const openings = beginOpenings(entries, leafHashes, cache);
  let lastIndex = -1;
  for (const e of entries) {
    if (!Number.isSafeInteger(e.index) || e.index <= lastIndex) {
      throw new ImagetrustError('PROOF_INVALID', 'ledger returned entries out of order');
    }
    lastIndex = e.index;
  }
  const proven = cache?.provenNodes(checkpoint);
  entries.forEach((e, i) => {
    verifyInclusion(e.index, checkpoint.size, leafHashes[i] as Buffer, e.proof, checkpoint.rootHash, proven);
  });
  const opened = await Promise.all(
    entries.map((e, i) => finishOpening(e, leafHashes[i] as Buffer, openings[i] as Opening, cache)),
  );
  return entries.map((e, i) => {
    const o = opened[i] as OpenedStatement;
    if (o.statement.digest !== digest) {
      throw new ImagetrustError('LEDGER_TAMPERED', `ledger returned entry ${e.index} for another digest`);
    }
    return { index: e.index, leafHash: leafHashes[i] as Buffer, id: o.id, statement: o.statement };
  });
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
  const proven = indexLookup(key, answer.proof, indexRootOf(checkpoint), cache);
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
  if (answer.since) checkExtends(answer.since, statements, checkpoint, signer, digest, cache);
  return statements;
}

function checkExtends(
  since: { checkpoint: Checkpoint; proof: IndexProof },
  statements: VerifiedStatement[],
  checkpoint: Checkpoint,
  signer: string,
  digest: ImageDigest,
  cache?: VerificationCache,
): void {
  const earlier = indexLookup(indexKey(signer, digest), since.proof, indexRootOf(since.checkpoint), cache);
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
