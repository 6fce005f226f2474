// The ledger's HTTP wire format, shared by `ledger serve`, its remote client and the tests:
// how proofs, entries and lookup pages are written as JSON, and how an answer from a server
// that is not trusted is read back. Decoding checks every shape and size; anything unexpected
// is LEDGER_BAD_RESPONSE. Pure code: no I/O.

import { ImagetrustError } from '../errors';
import type { IndexProof } from './index-proof';
import type { KeyLookup, ProvenEntry } from './log';

export const LEDGER_API = '/api/v1';

export interface WireIndexProof {
  steps: { bit: number; sibling: string }[];
  leaf?: { key: string; count: number; chain: string };
}

export interface WireEntry {
  index: number;
  leaf: string;
  proof: string[];
}

export interface WireKeyLookup {
  size: number;
  signer: string;
  digest: string;
  offset: number;
  proof: WireIndexProof;
  since?: { size: number; proof: WireIndexProof };
  entries: WireEntry[];
}

const b64 = (b: Buffer): string => b.toString('base64');

export function encodeIndexProof(p: IndexProof): WireIndexProof {
  return {
    steps: p.steps.map((s) => ({ bit: s.bit, sibling: b64(s.sibling) })),
    ...(p.leaf ? { leaf: { key: b64(p.leaf.key), count: p.leaf.count, chain: b64(p.leaf.chain) } } : {}),
  };
}

export function encodeEntry(e: ProvenEntry): WireEntry {
  return { index: e.index, leaf: b64(e.leaf), proof: e.proof.map(b64) };
}

export function encodeKeyLookup(signer: string, digest: string, l: KeyLookup): WireKeyLookup {
  return {
    size: l.size,
    signer,
    digest,
    offset: l.offset,
    proof: encodeIndexProof(l.proof),
    ...(l.since ? { since: { size: l.since.size, proof: encodeIndexProof(l.since.proof) } } : {}),
    entries: l.entries.map(encodeEntry),
  };
}

function bad(message: string): ImagetrustError {
  return new ImagetrustError('LEDGER_BAD_RESPONSE', message);
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function decodeBase64(value: unknown, what: string): Buffer {
  if (typeof value !== 'string') throw bad(`${what} is not base64`);
  const bytes = Buffer.from(value, 'base64');
  // Canonical base64, what `ledger serve` writes, is recognised by encoding it back: several
  // times faster than the pattern, which still decides for any other text.
  if (bytes.toString('base64') !== value && !B64.test(value)) throw bad(`${what} is not base64`);
  return bytes;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw bad(`${what} is not a count`);
  return value;
}

export function decodeHashes(value: unknown, what: string): Buffer[] {
  if (!Array.isArray(value) || value.length > 64) throw bad(`${what} is not a list of at most 64 hashes`);
  return value.map((v, i) => decodeBase64(v, `${what}[${i}]`));
}

export function decodeIndexProof(value: unknown, what = 'index proof'): IndexProof {
  if (!isObject(value) || !Array.isArray(value.steps) || value.steps.length > 256)
    throw bad(`${what} is malformed`);
  const steps = value.steps.map((s: unknown, i) => {
    if (!isObject(s)) throw bad(`${what} step ${i} is malformed`);
    return {
      bit: count(s.bit, `${what} step ${i} bit`),
      sibling: decodeBase64(s.sibling, `${what} step ${i}`),
    };
  });
  if (value.leaf === undefined) return { steps };
  const leaf = value.leaf;
  if (!isObject(leaf)) throw bad(`${what} leaf is malformed`);
  return {
    steps,
    leaf: {
      key: decodeBase64(leaf.key, `${what} leaf key`),
      count: count(leaf.count, `${what} leaf count`),
      chain: decodeBase64(leaf.chain, `${what} leaf chain`),
    },
  };
}

export function decodeEntry(value: unknown, i: number): ProvenEntry {
  if (!isObject(value)) throw bad(`entry ${i} is malformed`);
  return {
    index: count(value.index, `entry ${i} index`),
    leaf: decodeBase64(value.leaf, `entry ${i} leaf`),
    proof: decodeHashes(value.proof, `entry ${i} proof`),
  };
}

export function decodeKeyLookup(value: unknown, limit: number): KeyLookup {
  if (!isObject(value) || !Array.isArray(value.entries)) throw bad('ledger lookup answer is malformed');
  if (value.entries.length > limit) throw bad(`ledger lookup answer holds more than ${limit} entries`);
  let since: KeyLookup['since'];
  if (value.since !== undefined) {
    if (!isObject(value.since)) throw bad('ledger lookup answer is malformed');
    since = {
      size: count(value.since.size, 'since size'),
      proof: decodeIndexProof(value.since.proof, 'earlier index proof'),
    };
  }
  return {
    size: count(value.size, 'size'),
    offset: count(value.offset, 'offset'),
    proof: decodeIndexProof(value.proof),
    ...(since ? { since } : {}),
    entries: value.entries.map(decodeEntry),
  };
}

/** A page of raw entries, as `GET /entries` answers it (for auditors). */
export function decodeLeafPage(value: unknown, limit: number): { index: number; leaf: Buffer }[] {
  if (!isObject(value) || !Array.isArray(value.entries) || value.entries.length > limit)
    throw bad('ledger entries answer is malformed');
  return value.entries.map((e: unknown, i) => {
    if (!isObject(e)) throw bad(`entry ${i} is malformed`);
    return { index: count(e.index, `entry ${i} index`), leaf: decodeBase64(e.leaf, `entry ${i} leaf`) };
  });
}

/** A page of signed checkpoints, as `GET /checkpoints` answers it (for auditors). */
export function decodeCheckpointPage(value: unknown, limit: number): { size: number; note: string }[] {
  if (!isObject(value) || !Array.isArray(value.checkpoints) || value.checkpoints.length > limit)
    throw bad('ledger checkpoints answer is malformed');
  return value.checkpoints.map((c: unknown, i) => {
    if (!isObject(c) || typeof c.note !== 'string') throw bad(`checkpoint ${i} is malformed`);
    return { size: count(c.size, `checkpoint ${i} size`), note: c.note };
  });
}
