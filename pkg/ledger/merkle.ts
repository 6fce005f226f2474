// Merkle tree hashing and proofs as RFC 6962 §2.1 / RFC 9162 §2.1 define them.
//
// Pure code: no I/O. Proof *generation* is expressed as a plan of tree ranges so that a
// storage backend (sync or async) can fetch the few stored nodes it needs in one go;
// proof *verification* follows the RFC 9162 algorithms step by step.

import { hash } from 'node:crypto';
import { ImagetrustError } from '../errors';

export const HASH_SIZE = 32;

export function sha256(...parts: Uint8Array[]): Buffer {
  // crypto.hash (one shot) is faster than createHash for the small inputs hashed here.
  return hash('sha256', parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts), 'buffer');
}

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

// Leaves are hashed from one reused input buffer too (a concatenation allocates per leaf).
let leafInput = Buffer.alloc(1 + 4096);

export function hashLeaf(entry: Uint8Array): Buffer {
  if (entry.length + 1 > leafInput.length) {
    if (entry.length > 1 << 20) return sha256(LEAF_PREFIX, entry);
    leafInput = Buffer.alloc(2 * (entry.length + 1));
  }
  leafInput.set(entry, 1);
  return hash('sha256', leafInput.subarray(0, entry.length + 1), 'buffer');
}

// Interior nodes are most of the hashing proofs do: one reused input buffer, no concatenation.
const childrenInput = Buffer.alloc(1 + 2 * HASH_SIZE);
childrenInput[0] = 0x01;

export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) return sha256(NODE_PREFIX, left, right);
  childrenInput.set(left, 1);
  childrenInput.set(right, 1 + HASH_SIZE);
  return hash('sha256', childrenInput, 'buffer');
}

export const EMPTY_ROOT = sha256();

/** The largest power of two strictly smaller than n (n > 1). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

/** A perfect, aligned subtree: `level` 0 is a leaf; it covers leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  level: number;
  index: number;
}

export function nodeKey(id: NodeId): string {
  return `${id.level}/${id.index}`;
}

/** A half-open leaf range [start, end) whose MTH is a proof element. */
export interface Range {
  start: number;
  end: number;
}

/**
 * The stored perfect subtrees whose hashes make up MTH(D[start:end]).
 * Ranges produced by the RFC recursion always start at a multiple of their left split,
 * so the decomposition is a run of aligned perfect subtrees, largest first.
 */
export function rangeNodes(range: Range): NodeId[] {
  const nodes: NodeId[] = [];
  let { start } = range;
  const { end } = range;
  while (start < end) {
    const n = end - start;
    const size = isPowerOfTwo(n) ? n : splitPoint(n);
    if (start % size !== 0) {
      throw new ImagetrustError('INTERNAL', `range [${start}, ${end}) is not aligned`);
    }
    nodes.push({ level: log2(size), index: start / size });
    start += size;
  }
  return nodes;
}

/** Combines the hashes of rangeNodes(range), in order, into MTH of the range. */
export function foldRange(hashes: Buffer[]): Buffer {
  if (hashes.length === 0) return EMPTY_ROOT;
  let acc = hashes[hashes.length - 1] as Buffer;
  for (let i = hashes.length - 2; i >= 0; i--) acc = hashChildren(hashes[i] as Buffer, acc);
  return acc;
}

/** The ranges whose MTHs form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf level first. */
export function inclusionPlan(index: number, size: number): Range[] {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new ImagetrustError('BAD_REQUEST', `no leaf ${index} in a tree of size ${size}`);
  }
  const path: Range[] = [];
  const walk = (m: number, start: number, end: number): void => {
    const n = end - start;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (m < k) {
      walk(m, start, start + k);
      path.push({ start: start + k, end });
    } else {
      walk(m - k, start + k, end);
      path.push({ start, end: start + k });
    }
  };
  walk(index, 0, size);
  return path;
}

/** The ranges whose MTHs form PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1). */
export function consistencyPlan(first: number, second: number): Range[] {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) {
    throw new ImagetrustError('BAD_REQUEST', `no consistency proof from size ${first} to ${second}`);
  }
  if (first === 0 || first === second) return [];
  const proof: Range[] = [];
  const sub = (m: number, start: number, end: number, complete: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!complete) proof.push({ start, end });
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, start, start + k, complete);
      proof.push({ start: start + k, end });
    } else {
      sub(m - k, start + k, end, false);
      proof.push({ start, end: start + k });
    }
  };
  sub(first, 0, second, true);
  return proof;
}

/** Resolves a plan of ranges with a node lookup (which must know every node the plan names). */
export function resolvePlan(plan: Range[], node: (id: NodeId) => Buffer): Buffer[] {
  return plan.map((r) => foldRange(rangeNodes(r).map(node)));
}

/** The nodes a plan needs, without duplicates, for a bulk fetch. */
export function planNodes(plan: Range[]): NodeId[] {
  const seen = new Map<string, NodeId>();
  for (const r of plan) for (const id of rangeNodes(r)) seen.set(nodeKey(id), id);
  return [...seen.values()];
}

/** The perfect subtrees that a leaf appended at `index` completes (its own leaf node included). */
export function completedNodes(index: number): NodeId[] {
  const out: NodeId[] = [{ level: 0, index }];
  let level = 0;
  let i = index;
  while (i % 2 === 1) {
    i = (i - 1) / 2;
    level += 1;
    out.push({ level, index: i });
  }
  return out;
}

/** MTH(D[0:n]) computed naively from all leaf hashes: the reference for tests and audits. */
export function rootFromLeafHashes(leaves: Buffer[]): Buffer {
  const mth = (start: number, end: number): Buffer => {
    const n = end - start;
    if (n === 0) return EMPTY_ROOT;
    if (n === 1) return leaves[start] as Buffer;
    const k = splitPoint(n);
    return hashChildren(mth(start, start + k), mth(start + k, end));
  };
  return mth(0, leaves.length);
}

function proofError(message: string): ImagetrustError {
  return new ImagetrustError('PROOF_INVALID', message);
}

function notIncluded(index: number, size: number): ImagetrustError {
  return proofError(`leaf ${index} is not in the tree of size ${size}`);
}

function checkHashes(hashes: Uint8Array[], what: string): void {
  for (const h of hashes) {
    if (h.length !== HASH_SIZE) throw proofError(`${what} holds a hash of ${h.length} bytes`);
  }
}

/**
 * 32-byte hashes copied into one growing buffer and found by slot: a memo of proven hashes
 * must not keep alive the larger buffers that a proof's hashes may be views of. Full at
 * `limit`; then it is cleared by its owner and starts over.
 */
export class HashSlab {
  private hashes = Buffer.alloc(0);
  count = 0;

  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.count >= this.limit;
  }

  clear(): void {
    this.count = 0;
  }

  push(hash: Uint8Array): number {
    if (this.full) throw new ImagetrustError('INTERNAL', 'a memo of proven hashes is full');
    if ((this.count + 1) * HASH_SIZE > this.hashes.length) {
      const grown = Buffer.alloc(Math.min(this.limit, Math.max(1024, this.count * 2)) * HASH_SIZE);
      this.hashes.copy(grown);
      this.hashes = grown;
    }
    this.hashes.set(hash, this.count * HASH_SIZE);
    return this.count++;
  }

  at(slot: number): Buffer {
    return this.hashes.subarray(slot * HASH_SIZE, (slot + 1) * HASH_SIZE);
  }

  /** Whether the hash in `slot` is `hash` (a plain loop: cheaper than a native call for 32 bytes). */
  equals(slot: number, hash: Uint8Array): boolean {
    if (hash.length !== HASH_SIZE) return false;
    const hashes = this.hashes;
    const at = slot * HASH_SIZE;
    for (let i = 0; i < HASH_SIZE; i++) if (hashes[at + i] !== hash[i]) return false;
    return true;
  }
}

/**
 * Hashes of nodes of one tree (size and root) that an inclusion proof already led to the root:
 * the nodes on its path and their siblings, by level and by index at that level (a node on the
 * right edge keeps the index the RFC 9162 walk gives it). A later proof whose walk meets one of
 * them is proven from there on; one that meets a different hash there cannot lead to the root.
 * Levels below `minLevel` are rarely shared and not kept; when full, it starts over.
 */
export class ProvenNodes {
  private readonly levels: Map<number, number>[] = [];
  private readonly slab: HashSlab;

  constructor(
    readonly size: number,
    readonly root: Buffer,
    limit = 1 << 16,
    private readonly minLevel = 2,
  ) {
    this.slab = new HashSlab(limit);
  }

  /** Whether these nodes belong to the tree of `size` with `root`. */
  covers(size: number, root: Uint8Array): boolean {
    return size === this.size && this.root.equals(root);
  }

  /** The hash of the node at (level, index), if known. */
  get(level: number, index: number): Buffer | undefined {
    const slot = this.levels[level]?.get(index);
    return slot === undefined ? undefined : this.slab.at(slot);
  }

  /** Whether a node at (level, index) is known: then whether it has `hash`. */
  match(level: number, index: number, hash: Uint8Array): boolean | undefined {
    const slot = this.levels[level]?.get(index);
    return slot === undefined ? undefined : this.slab.equals(slot, hash);
  }

  add(level: number, index: number, hash: Uint8Array): void {
    if (level < this.minLevel) return;
    let nodes = this.levels[level];
    if (nodes?.has(index)) return;
    if (this.slab.full) {
      this.levels.length = 0;
      this.slab.clear();
      nodes = undefined;
    }
    if (!nodes) {
      nodes = new Map();
      this.levels[level] = nodes;
    }
    nodes.set(index, this.slab.push(hash));
  }
}

/**
 * Follows an inclusion proof from the leaf (RFC 9162 §2.1.3.2 steps 1–3). Without `proven`,
 * returns the root it leads to. With it, checks the proof against `proven.root` and returns
 * nothing: every proof hash must be the tree's node where the proof puts it, as a full check
 * demands, but a hash `proven` holds is compared instead of hashed again, and above a node
 * known to be the tree's, with a sibling known too, the parent is known without hashing. The
 * nodes of an accepted proof are added to `proven`. Throws PROOF_INVALID for a malformed
 * proof or one that does not lead to the root.
 */
function walkInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: Uint8Array[],
  proven: ProvenNodes | undefined,
): Buffer | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw proofError(`leaf index ${index} is outside a tree of size ${size}`);
  }
  if (leafHash.length !== HASH_SIZE)
    throw proofError(`inclusion proof holds a hash of ${leafHash.length} bytes`);
  checkHashes(proof, 'inclusion proof');
  let fn = index;
  let sn = size - 1;
  let level = 0;
  let r: Buffer = Buffer.from(leafHash);
  /** Whether `r` is known to be the tree's node at (level, fn). */
  let known = false;
  const walked: { level: number; index: number; hash: Uint8Array }[] = [];
  for (const p of proof) {
    if (sn === 0) throw proofError('inclusion proof is longer than the tree is deep');
    const left = fn % 2 === 1 || fn === sn;
    // A node on the right edge without a sibling moves up unchanged until it is a right child.
    if (left) {
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
        level += 1;
      }
    }
    const sibling = left ? fn - 1 : fn + 1;
    const knownSibling = proven?.match(level, sibling, p);
    if (knownSibling === false) throw notIncluded(index, size);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
    level += 1;
    const parent = known && knownSibling ? proven?.get(level, fn) : undefined;
    if (parent) {
      r = parent;
      continue;
    }
    if (proven) walked.push({ level: level - 1, index: sibling, hash: p });
    r = left ? hashChildren(p, r) : hashChildren(r, p);
    if (!proven) continue;
    const knownParent = proven.match(level, fn, r);
    if (knownParent === false) throw notIncluded(index, size);
    known = knownParent === true || (known && knownSibling === true);
    if (!knownParent) walked.push({ level, index: fn, hash: r });
  }
  if (sn !== 0) throw proofError('inclusion proof is shorter than the tree is deep');
  if (!proven) return r;
  if (!known && !r.equals(proven.root)) throw notIncluded(index, size);
  for (const w of walked) proven.add(w.level, w.index, w.hash);
  return undefined;
}

/** The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1–3), or a PROOF_INVALID error. */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: Uint8Array[],
): Buffer {
  return walkInclusionProof(index, size, leafHash, proof, undefined) as Buffer;
}

/**
 * Checks that `leafHash` is leaf `index` of the tree of `size` with `root`. With `proven` (nodes
 * of that same tree), the walk stops hashing where it meets a node already proven, and the
 * nodes of a proof that reaches the root are added to it.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: Uint8Array[],
  root: Uint8Array,
  proven?: ProvenNodes,
): void {
  if (proven?.covers(size, root)) {
    walkInclusionProof(index, size, leafHash, proof, proven);
    return;
  }
  const computed = walkInclusionProof(index, size, leafHash, proof, undefined) as Buffer;
  if (!computed.equals(root)) throw notIncluded(index, size);
}

/** RFC 9162 §2.1.4.2, with the edge cases (first = 0, first = second) the RFC leaves to the caller. */
export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: Uint8Array[],
): void {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || second < first) {
    throw new ImagetrustError('LEDGER_INCONSISTENT', `tree size went from ${first} to ${second}`);
  }
  checkHashes([firstRoot, secondRoot, ...proof], 'consistency proof');
  if (first === 0) {
    if (proof.length !== 0) throw proofError('consistency proof from an empty tree must be empty');
    return;
  }
  if (first === second) {
    if (proof.length !== 0) throw proofError('consistency proof between equal sizes must be empty');
    if (!Buffer.from(firstRoot).equals(secondRoot)) {
      throw new ImagetrustError('LEDGER_INCONSISTENT', `two different roots for tree size ${first}`);
    }
    return;
  }
  // Step 1.
  if (proof.length === 0) throw proofError('consistency proof is empty');
  // Step 2.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  // Step 3.
  let fn = first - 1;
  let sn = second - 1;
  // Step 4.
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 5.
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = Buffer.from(path[0] as Uint8Array);
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0) throw proofError('consistency proof is longer than the trees are deep');
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 7.
  if (sn !== 0) throw proofError('consistency proof is shorter than the trees are deep');
  if (!fr.equals(firstRoot) || !sr.equals(secondRoot)) {
    throw new ImagetrustError(
      'LEDGER_INCONSISTENT',
      `tree of size ${second} does not extend the tree of size ${first}`,
    );
  }
}

/**
 * The nodes that appending `leafHashes` to a tree of `size` leaves stores, and the new root.
 * `node` must know the current tree's frontier: rangeNodes({start: 0, end: size}).
 */
export function appendToTree(
  size: number,
  leafHashes: Buffer[],
  node: (id: NodeId) => Buffer,
): { nodes: { id: NodeId; hash: Buffer }[]; root: Buffer } {
  const fresh = new Map<string, Buffer>();
  const lookup = (id: NodeId): Buffer => fresh.get(nodeKey(id)) ?? node(id);
  const nodes: { id: NodeId; hash: Buffer }[] = [];
  leafHashes.forEach((leafHash, offset) => {
    for (const id of completedNodes(size + offset)) {
      const hash =
        id.level === 0
          ? leafHash
          : hashChildren(
              lookup({ level: id.level - 1, index: id.index * 2 }),
              lookup({ level: id.level - 1, index: id.index * 2 + 1 }),
            );
      fresh.set(nodeKey(id), hash);
      nodes.push({ id, hash });
    }
  });
  const newSize = size + leafHashes.length;
  return { nodes, root: foldRange(rangeNodes({ start: 0, end: newSize }).map(lookup)) };
}
