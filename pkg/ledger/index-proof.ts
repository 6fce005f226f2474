// The verifiable statement index, as a client checks it (docs/ledger-index.md is the spec).
//
// Every checkpoint commits, beside the log root, to an index root: a crit-bit (binary
// Patricia) Merkle tree keyed by SHA-256(signer ‖ digest) whose value is the count and a hash
// chain over (leaf index, leaf hash) of every log entry of that signer about that digest, in
// log order. A proof for one key leads from the key's leaf (or, for an absent key, from the
// leaf found where the key would be) to the root; the client recomputes the chain from the
// entries it received, so nothing can be left out, reordered or added.
//
// All hashes are SHA-256 with a one-byte domain tag, distinct from RFC 6962's 0x00 and 0x01:
//   key    = H(0x10 ‖ signer key id (16 bytes) ‖ digest (32 bytes))
//   chain  = c0 = 32 zero bytes;  c_i = H(0x11 ‖ c_{i-1} ‖ u64be(leaf index) ‖ leaf hash)
//   value  = H(0x12 ‖ u64be(count) ‖ chain)
//   leaf   = H(0x13 ‖ key ‖ value)
//   inner  = H(0x14 ‖ u8(bit) ‖ left ‖ right)      (left: the subtree whose keys have 0 at `bit`)
//   empty tree root = 32 zero bytes
// Bits are numbered from the most significant bit of the key's first byte (bit 0).
// Pure code: no I/O.

import { hash } from 'node:crypto';
import { ImagetrustError } from '../errors';
import { HASH_SIZE, sha256 } from './merkle';

export const INDEX_EMPTY_ROOT = Buffer.alloc(HASH_SIZE);
export const CHAIN_START = Buffer.alloc(HASH_SIZE);
/** The checkpoint extension line that carries the index root: `imagetrust-index/v1 <base64>`. */
export const INDEX_EXTENSION = 'imagetrust-index/v1';

const TAG_KEY = Buffer.from([0x10]);
const TAG_CHAIN = Buffer.from([0x11]);
const TAG_VALUE = Buffer.from([0x12]);
const TAG_LEAF = Buffer.from([0x13]);
const TAG_INNER = 0x14;

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** The index key of (signer key id as 32 hex digits, digest as `sha256:<64 hex>`). */
export function indexKey(signer: string, digest: string): Buffer {
  const s = Buffer.from(signer, 'hex');
  const d = Buffer.from(digest.replace(/^sha256:/, ''), 'hex');
  if (s.length !== 16 || d.length !== 32) {
    throw new ImagetrustError('INTERNAL', 'index key needs a 16-byte signer id and a 32-byte digest');
  }
  return sha256(TAG_KEY, s, d);
}

export function extendChain(chain: Buffer, leafIndex: number, leafHash: Buffer): Buffer {
  return sha256(TAG_CHAIN, chain, u64(leafIndex), leafHash);
}

export interface IndexValue {
  count: number;
  chain: Buffer;
}

export function valueHash(value: IndexValue): Buffer {
  return sha256(TAG_VALUE, u64(value.count), value.chain);
}

export function hashIndexLeaf(key: Buffer, value: IndexValue): Buffer {
  return sha256(TAG_LEAF, key, valueHash(value));
}

// Inner nodes are most of the hashing a batch does: one reused input buffer, no concatenation.
const innerInput = Buffer.alloc(2 + 2 * HASH_SIZE);
innerInput[0] = TAG_INNER;

export function hashIndexInner(bit: number, left: Buffer, right: Buffer): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE)
    return sha256(Buffer.from([TAG_INNER, bit]), left, right);
  innerInput[1] = bit;
  left.copy(innerInput, 2);
  right.copy(innerInput, 2 + HASH_SIZE);
  return hash('sha256', innerInput, 'buffer');
}

/** Bit `b` of a 256-bit key, most significant bit first. */
export function keyBit(key: Uint8Array, b: number): 0 | 1 {
  return (((key[b >> 3] as number) >> (7 - (b & 7))) & 1) as 0 | 1;
}

/** The first bit at which two different keys differ. */
export function critBit(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < HASH_SIZE; i++) {
    const x = (a[i] as number) ^ (b[i] as number);
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return -1;
}

/** A proof for one key: the inner nodes from the root down, and the leaf the path ends at. */
export interface IndexProof {
  /** Root first: the bit each inner node splits on, and the hash of the child not on the path. */
  steps: { bit: number; sibling: Buffer }[];
  /** The leaf the key's path ends at (another key's leaf proves absence); none for an empty tree. */
  leaf?: { key: Buffer; count: number; chain: Buffer };
}

export type IndexLookup = { present: true; value: IndexValue } | { present: false };

function invalid(message: string): ImagetrustError {
  return new ImagetrustError('PROOF_INVALID', `index proof: ${message}`);
}

/**
 * Checks `proof` for `key` against an index root and returns what it proves: the key's value,
 * or that the key is absent. Any other outcome is PROOF_INVALID.
 */
export function verifyIndexProof(key: Buffer, proof: IndexProof, root: Buffer): IndexLookup {
  if (key.length !== HASH_SIZE) throw invalid('key is not 32 bytes');
  if (proof.steps.length > 256) throw invalid('more than 256 steps');
  let last = -1;
  for (const s of proof.steps) {
    if (!Number.isInteger(s.bit) || s.bit <= last || s.bit > 255)
      throw invalid('bit positions must increase from the root down');
    if (s.sibling.length !== HASH_SIZE) throw invalid('a sibling hash is not 32 bytes');
    last = s.bit;
  }
  let hash: Buffer;
  if (!proof.leaf) {
    if (proof.steps.length !== 0) throw invalid('a path through inner nodes must end at a leaf');
    hash = INDEX_EMPTY_ROOT;
  } else {
    const { leaf } = proof;
    if (leaf.key.length !== HASH_SIZE || leaf.chain.length !== HASH_SIZE) throw invalid('malformed leaf');
    if (!Number.isSafeInteger(leaf.count) || leaf.count < 1) throw invalid('leaf count must be positive');
    hash = hashIndexLeaf(leaf.key, leaf);
  }
  for (let i = proof.steps.length - 1; i >= 0; i--) {
    const { bit, sibling } = proof.steps[i] as { bit: number; sibling: Buffer };
    hash = keyBit(key, bit) === 0 ? hashIndexInner(bit, hash, sibling) : hashIndexInner(bit, sibling, hash);
  }
  if (!hash.equals(root)) throw invalid('does not lead to the checkpoint index root');
  if (proof.leaf && proof.leaf.key.equals(key)) {
    return { present: true, value: { count: proof.leaf.count, chain: proof.leaf.chain } };
  }
  return { present: false };
}

/** The chain value of entries in log order; throws PROOF_INVALID if they are not strictly increasing. */
export function chainOf(entries: { index: number; leafHash: Buffer }[]): IndexValue {
  let chain: Buffer = CHAIN_START;
  let last = -1;
  for (const e of entries) {
    if (!Number.isSafeInteger(e.index) || e.index <= last) throw invalid('entries are not in log order');
    chain = extendChain(chain, e.index, e.leafHash);
    last = e.index;
  }
  return { count: entries.length, chain };
}

/** Whether a lookup answer's entries are exactly what the proven index value commits to. */
export function sameValue(a: IndexValue, b: IndexValue): boolean {
  return a.count === b.count && a.chain.equals(b.chain);
}
