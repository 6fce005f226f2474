// The statement index as a ledger keeps it: a crit-bit Merkle tree (hashing in index-proof.ts)
// whose nodes are stored, versioned by tree size, so that a proof can be made for any
// checkpoint. Updates and proofs are written once, as generators that yield the id of each
// node they need and receive the node back: the embedded SQLite store answers synchronously
// inside its transaction, a networked store asynchronously, an auditor from memory. (No
// library offers a versioned Patricia Merkle tree over a caller's storage; sans-I/O keeps
// this code pure and testable.)
//
// Node ids: a leaf is 0x00 ‖ key; an inner node splitting on bit b is 0x01 ‖ u8(b) ‖ the first
// ⌈b/8⌉ bytes of any key below it with the bits from b on cleared. An inner node, once made,
// keeps its id for ever: inserting keys only adds nodes. Pure code: no I/O.

import { ImagetrustError } from '../errors';
import {
  critBit,
  hashIndexInner,
  hashIndexLeaf,
  INDEX_EMPTY_ROOT,
  keyBit,
  type IndexProof,
  type IndexValue,
} from './index-proof';

export interface ChildRef {
  id: Buffer;
  hash: Buffer;
}

export interface InnerNode {
  kind: 'inner';
  id: Buffer;
  bit: number;
  left: ChildRef;
  right: ChildRef;
}

/**
 * What the ledger keeps per key. `value` is committed by the tree; `sequence` (the highest
 * per-signer sequence number seen) and `newest` (the id of that statement) are the ledger's
 * bookkeeping for refusing out-of-order statements, derivable from the entries.
 */
export interface KeyState {
  value: IndexValue;
  sequence: number;
  newest: Buffer | null;
}

export interface LeafNode extends KeyState {
  kind: 'leaf';
  id: Buffer;
  key: Buffer;
}

export type TreeNode = InnerNode | LeafNode;

/** A tree operation: yields node ids, receives the node (or undefined if it is not stored). */
export type TreeOp<T> = Generator<Buffer, T, TreeNode | undefined>;

export function leafId(key: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x00]), key]);
}

export function innerId(bit: number, key: Buffer): Buffer {
  const prefix = Buffer.from(key.subarray(0, Math.ceil(bit / 8)));
  if (bit % 8 !== 0)
    prefix[prefix.length - 1] = (prefix[prefix.length - 1] as number) & (0xff << (8 - (bit % 8)));
  return Buffer.concat([Buffer.from([0x01, bit]), prefix]);
}

export function refOf(node: TreeNode): ChildRef {
  const hash =
    node.kind === 'leaf'
      ? hashIndexLeaf(node.key, node.value)
      : hashIndexInner(node.bit, node.left.hash, node.right.hash);
  return { id: node.id, hash };
}

export function rootHashOf(root: ChildRef | undefined): Buffer {
  return root?.hash ?? INDEX_EMPTY_ROOT;
}

/** A node id as a map key (latin1: one character per byte, the cheapest conversion). */
export const idKey = (id: Buffer): string => id.toString('latin1');

function missing(id: Buffer): ImagetrustError {
  return new ImagetrustError('LEDGER_TAMPERED', `index node ${id.toString('hex')} is missing`);
}

function checked(id: Buffer, node: TreeNode | undefined): TreeNode {
  if (!node || !node.id.equals(id)) throw missing(id);
  return node;
}

export interface KeyUpdate {
  key: Buffer;
  /** The key's new state from its old one (undefined for a new key); may throw to refuse. */
  apply: (old: KeyState | undefined) => KeyState;
}

export interface IndexUpdateResult {
  root: ChildRef | undefined;
  /** Every node the updates made or changed, once each, in its final form. */
  written: TreeNode[];
}

/** A child whose hash is computed once, after the whole batch (see updateIndex). */
const DIRTY = Buffer.alloc(0);

/**
 * Applies updates in order (later ones see earlier ones) to the tree under `root`. Nodes the
 * batch changes are kept with their hashes unset and hashed once at the end, bottom up, so a
 * batch of k keys costs one hash per changed node rather than k whole paths.
 */
export function* updateIndex(root: ChildRef | undefined, updates: KeyUpdate[]): TreeOp<IndexUpdateResult> {
  const overlay = new Map<string, TreeNode>();
  const put = (node: TreeNode): ChildRef => {
    overlay.set(idKey(node.id), node);
    return { id: node.id, hash: DIRTY };
  };
  const leaf = (key: Buffer, state: KeyState): LeafNode => ({
    kind: 'leaf',
    id: leafId(key),
    key,
    value: state.value,
    sequence: state.sequence,
    newest: state.newest,
  });
  const inner = (from: InnerNode, left: ChildRef, right: ChildRef): InnerNode => ({
    kind: 'inner',
    id: from.id,
    bit: from.bit,
    left,
    right,
  });
  for (const { key, apply } of updates) {
    if (!root) {
      root = put(leaf(key, apply(undefined)));
      continue;
    }
    const path: InnerNode[] = [];
    const refs: ChildRef[] = [root];
    let node = overlay.get(idKey(root.id)) ?? checked(root.id, yield root.id);
    while (node.kind === 'inner') {
      path.push(node);
      const next = keyBit(key, node.bit) === 0 ? node.left : node.right;
      refs.push(next);
      node = overlay.get(idKey(next.id)) ?? checked(next.id, yield next.id);
    }
    let replacement: ChildRef;
    let depth: number;
    if (node.key.equals(key)) {
      replacement = put(leaf(key, apply(node)));
      depth = path.length;
    } else {
      const fresh = put(leaf(key, apply(undefined)));
      const bit = critBit(key, node.key);
      depth = path.findIndex((p) => p.bit > bit);
      if (depth === -1) depth = path.length;
      // The subtree the new inner node goes above, as its parent refers to it.
      const below = refs[depth] as ChildRef;
      const [left, right] = keyBit(key, bit) === 0 ? [fresh, below] : [below, fresh];
      replacement = put({ kind: 'inner', id: innerId(bit, key), bit, left, right });
    }
    for (let j = depth - 1; j >= 0; j--) {
      const parent = path[j] as InnerNode;
      replacement = put(
        keyBit(key, parent.bit) === 0
          ? inner(parent, replacement, parent.right)
          : inner(parent, parent.left, replacement),
      );
    }
    root = replacement;
  }
  const hashed = (ref: ChildRef): ChildRef => {
    if (ref.hash !== DIRTY) return ref;
    const node = overlay.get(idKey(ref.id)) as TreeNode;
    if (node.kind === 'inner') {
      node.left = hashed(node.left);
      node.right = hashed(node.right);
    }
    return refOf(node);
  };
  return { root: root && hashed(root), written: [...overlay.values()] };
}

/** The proof for `key` in the tree under `root`. */
export function* proveIndex(root: ChildRef | undefined, key: Buffer): TreeOp<IndexProof> {
  if (!root) return { steps: [] };
  const steps: IndexProof['steps'] = [];
  let node = checked(root.id, yield root.id);
  while (node.kind === 'inner') {
    const side = keyBit(key, node.bit);
    steps.push({ bit: node.bit, sibling: side === 0 ? node.right.hash : node.left.hash });
    const next = side === 0 ? node.left.id : node.right.id;
    node = checked(next, yield next);
  }
  return { steps, leaf: { key: node.key, count: node.value.count, chain: node.value.chain } };
}

export function runSync<T>(op: TreeOp<T>, read: (id: Buffer) => TreeNode | undefined): T {
  let step = op.next();
  while (!step.done) step = op.next(read(step.value));
  return step.value;
}

export async function runAsync<T>(
  op: TreeOp<T>,
  read: (id: Buffer) => Promise<TreeNode | undefined>,
): Promise<T> {
  let step = op.next();
  while (!step.done) step = op.next(await read(step.value));
  return step.value;
}

/** The whole index in memory, at its latest version: for audits, upgrades, witnesses and tests. */
export class MemoryIndex {
  private readonly nodes = new Map<string, TreeNode>();
  root: ChildRef | undefined;

  private readonly read = (id: Buffer): TreeNode | undefined => this.nodes.get(idKey(id));

  update(updates: KeyUpdate[]): TreeNode[] {
    const { root, written } = runSync(updateIndex(this.root, updates), this.read);
    for (const n of written) this.nodes.set(idKey(n.id), n);
    this.root = root;
    return written;
  }

  get rootHash(): Buffer {
    return rootHashOf(this.root);
  }

  prove(key: Buffer): IndexProof {
    return runSync(proveIndex(this.root, key), this.read);
  }

  /** Keys in the tree: a crit-bit tree has one inner node fewer than it has leaves. */
  get keyCount(): number {
    return this.root ? (this.nodes.size + 1) / 2 : 0;
  }
}
