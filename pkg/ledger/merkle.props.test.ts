// Generated trees and proofs (merkle.ts, index-proof.ts, verifier.ts): for random trees every
// valid proof is accepted, with and without the memo of proven nodes; no mutation of a valid
// proof is ever accepted, and a refused proof leaves the memo as it was. For the statement
// index, whatever proof comes in, the answer is the truth or PROOF_INVALID.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { ErrorCode } from '../errors';
import { indexKey, verifyIndexProof, type IndexProof, type IndexValue } from './index-proof';
import { MemoryIndex, type KeyState } from './index-tree';
import {
  consistencyPlan,
  hashLeaf,
  inclusionPlan,
  ProvenNodes,
  rootFromInclusionProof,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
  type Range,
} from './merkle';
import { indexLookup, VerificationCache } from './verifier';
import { assertRefused, checkProperty, reportPropertyTotals, typedOutcome } from '../testing/property';

after(() => reportPropertyTotals('pkg/ledger/merkle.props.test.ts'));

const INCLUSION_CODES: ErrorCode[] = ['PROOF_INVALID'];
const CONSISTENCY_CODES: ErrorCode[] = ['PROOF_INVALID', 'LEDGER_INCONSISTENT'];

/** Distinct leaves: each entry starts with its index. */
const tree = fc.array(fc.uint8Array({ maxLength: 24 }), { minLength: 1, maxLength: 140 }).map((entries) => {
  const leaves = entries.map((e, i) => {
    const b = Buffer.alloc(4 + e.length);
    b.writeUInt32BE(i);
    b.set(e, 4);
    return hashLeaf(b);
  });
  return leaves;
});

const mth = (leaves: Buffer[], r: Range): Buffer => rootFromLeafHashes(leaves.slice(r.start, r.end));
const inclusionProof = (leaves: Buffer[], index: number, size: number): Buffer[] =>
  inclusionPlan(index, size).map((r) => mth(leaves.slice(0, size), r));
const consistencyProof = (leaves: Buffer[], first: number, second: number): Buffer[] =>
  consistencyPlan(first, second).map((r) => mth(leaves.slice(0, second), r));

function flipBit(b: Uint8Array, bit: number): Buffer {
  const out = Buffer.from(b);
  const at = (bit >> 3) % out.length;
  out[at] = (out[at] as number) ^ (1 << (bit & 7));
  return out;
}

const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));

/** One change to a list of proof hashes; undefined when it would change nothing. */
type ListMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'drop'; at: number }
  | { kind: 'insert'; at: number; hash: Buffer }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'replace'; at: number; hash: Buffer }
  | { kind: 'short'; at: number; length: number };

const listMutation: fc.Arbitrary<ListMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(255) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), hash: hashArb }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), hash: hashArb }),
  fc.record({ kind: fc.constant('short' as const), at: fc.nat(), length: fc.constantFrom(0, 1, 31, 33, 64) }),
);

function mutateList(list: Buffer[], m: ListMutation): Buffer[] | undefined {
  const out = [...list];
  const n = out.length;
  switch (m.kind) {
    case 'flip':
      if (n === 0) return undefined;
      out[m.at % n] = flipBit(out[m.at % n] as Buffer, m.bit);
      return out;
    case 'drop':
      if (n === 0) return undefined;
      out.splice(m.at % n, 1);
      return out;
    case 'insert':
      out.splice(m.at % (n + 1), 0, m.hash);
      return out;
    case 'swap': {
      if (n < 2) return undefined;
      const [a, b] = [m.a % n, m.b % n];
      if ((out[a] as Buffer).equals(out[b] as Buffer)) return undefined;
      [out[a], out[b]] = [out[b] as Buffer, out[a] as Buffer];
      return out;
    }
    case 'replace':
      if (n === 0 || (out[m.at % n] as Buffer).equals(m.hash)) return undefined;
      out[m.at % n] = m.hash;
      return out;
    case 'short':
      if (n === 0) return undefined;
      out[m.at % n] = Buffer.alloc(m.length, 1);
      return out;
  }
}

describe('Merkle proofs (generated trees)', () => {
  it('every inclusion proof of a random tree is accepted, with and without proven nodes', () => {
    checkProperty(
      'merkle: valid inclusion proofs are accepted',
      fc.property(tree, fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), (leaves, picks) => {
        const size = leaves.length;
        const root = rootFromLeafHashes(leaves);
        const proven = new ProvenNodes(size, root, 1 << 10, 0);
        for (const p of picks) {
          const index = p % size;
          const proof = inclusionProof(leaves, index, size);
          assert.deepEqual(rootFromInclusionProof(index, size, leaves[index] as Buffer, proof), root);
          verifyInclusion(index, size, leaves[index] as Buffer, proof, root);
          verifyInclusion(index, size, leaves[index] as Buffer, proof, root, proven);
          assert.ok(proof.length <= Math.ceil(Math.log2(size)));
        }
      }),
      { runs: 500 },
    );
  });

  it('no mutation of an inclusion proof, its leaf, index or root is accepted, and a refusal leaves the memo as it was', () => {
    checkProperty(
      'merkle: mutated inclusion proofs are refused',
      fc.property(
        tree,
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.oneof(
          { weight: 4, arbitrary: listMutation.map((m) => ({ target: 'proof' as const, m })) },
          fc.record({ target: fc.constant('leaf' as const), bit: fc.nat(255) }),
          fc.record({ target: fc.constant('root' as const), bit: fc.nat(255) }),
          fc.record({ target: fc.constant('index' as const), to: fc.nat() }),
        ),
        fc.constantFrom(0, 2),
        (leaves, pick, warm, mutation, minLevel) => {
          const size = leaves.length;
          const root = rootFromLeafHashes(leaves);
          const index = pick % size;
          const proof = inclusionProof(leaves, index, size);
          let leaf = leaves[index] as Buffer;
          let at = index;
          let list = proof;
          let claimedRoot = root;
          if (mutation.target === 'proof') {
            const changed = mutateList(proof, mutation.m);
            if (!changed) return;
            list = changed;
          } else if (mutation.target === 'leaf') leaf = flipBit(leaf, mutation.bit);
          else if (mutation.target === 'root') claimedRoot = flipBit(root, mutation.bit);
          else {
            at = mutation.to % size;
            if (at === index) return;
          }
          const proven = new ProvenNodes(size, root, 1 << 10, minLevel);
          for (const w of warm)
            verifyInclusion(
              w % size,
              size,
              leaves[w % size] as Buffer,
              inclusionProof(leaves, w % size, size),
              root,
              proven,
            );
          assertRefused(() => verifyInclusion(at, size, leaf, list, claimedRoot), INCLUSION_CODES, 'plain');
          assertRefused(
            () => verifyInclusion(at, size, leaf, list, claimedRoot, proven),
            INCLUSION_CODES,
            'memo',
          );
          // Refused twice, and every valid proof still accepted: the refusal taught the memo nothing.
          assertRefused(
            () => verifyInclusion(at, size, leaf, list, claimedRoot, proven),
            INCLUSION_CODES,
            'again',
          );
          for (let i = 0; i < size; i += Math.max(1, Math.floor(size / 8)))
            verifyInclusion(i, size, leaves[i] as Buffer, inclusionProof(leaves, i, size), root, proven);
        },
      ),
      { runs: 1200 },
    );
  });

  it('random indexes, sizes and hashes never crash the inclusion check', () => {
    checkProperty(
      'merkle: random inclusion inputs give PROOF_INVALID',
      fc.property(
        fc.oneof(
          fc.integer({ min: -5, max: 1 << 20 }),
          fc.double(),
          fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 60),
        ),
        fc.oneof(
          fc.integer({ min: -5, max: 1 << 20 }),
          fc.double(),
          fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 60),
        ),
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 70 }),
        (index, size, proof) => {
          assertRefused(
            () => verifyInclusion(index, size, Buffer.alloc(32), proof, Buffer.alloc(32, 1)),
            INCLUSION_CODES,
            'random',
          );
        },
      ),
      { runs: 500 },
    );
  });

  it('every consistency proof between two sizes of a random tree is accepted; no mutation of one is', () => {
    checkProperty(
      'merkle: consistency proofs, valid and mutated',
      fc.property(
        tree,
        fc.nat(),
        fc.nat(),
        fc.oneof(
          { weight: 4, arbitrary: listMutation.map((m) => ({ target: 'proof' as const, m })) },
          fc.record({ target: fc.constantFrom('first' as const, 'second' as const), bit: fc.nat(255) }),
        ),
        (leaves, a, b, mutation) => {
          const second = 1 + (a % leaves.length);
          const first = b % (second + 1);
          const firstRoot = rootFromLeafHashes(leaves.slice(0, first));
          const secondRoot = rootFromLeafHashes(leaves.slice(0, second));
          const proof = consistencyProof(leaves, first, second);
          verifyConsistency(first, second, firstRoot, secondRoot, proof);
          let [r1, r2, list] = [firstRoot, secondRoot, proof];
          if (mutation.target === 'proof') {
            const changed = mutateList(proof, mutation.m);
            if (!changed) return;
            list = changed;
          } else if (mutation.target === 'first') {
            // From the empty tree anything is consistent: its root is not checked.
            if (first === 0) return;
            r1 = flipBit(firstRoot, mutation.bit);
          } else {
            if (first === 0) return;
            r2 = flipBit(secondRoot, mutation.bit);
          }
          assertRefused(() => verifyConsistency(first, second, r1, r2, list), CONSISTENCY_CODES, 'mutated');
        },
      ),
      { runs: 1200 },
    );
  });
});

// The statement index. Keys are made-up 32-byte keys; values are (count, chain) pairs.
const indexKeyArb = fc.nat(400).map((n) => createHash('sha256').update(`key ${n}`).digest());
const valueOf = (n: number, count: number): IndexValue => ({
  count,
  chain: createHash('sha256').update(`chain ${n} ${count}`).digest(),
});
const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const stateOf = (v: IndexValue): KeyState => ({ value: v, sequence: 0, newest: null });

type ProofMutation =
  | { kind: 'sibling'; at: number; bit: number }
  | { kind: 'bit'; at: number; to: number }
  | { kind: 'drop'; at: number }
  | { kind: 'insert'; at: number; bit: number; sibling: Buffer }
  | { kind: 'count'; to: number }
  | { kind: 'chain'; bit: number }
  | { kind: 'leafKey'; bit: number }
  | { kind: 'noLeaf' }
  | { kind: 'otherKey' };

const proofMutation: fc.Arbitrary<ProofMutation> = fc.oneof(
  fc.record({ kind: fc.constant('sibling' as const), at: fc.nat(), bit: fc.nat(255) }),
  fc.record({ kind: fc.constant('bit' as const), at: fc.nat(), to: fc.integer({ min: -1, max: 300 }) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bit: fc.nat(255), sibling: hashArb }),
  fc.record({
    kind: fc.constant('count' as const),
    to: fc.oneof(fc.integer({ min: -2, max: 9 }), fc.double()),
  }),
  fc.record({ kind: fc.constant('chain' as const), bit: fc.nat(255) }),
  fc.record({ kind: fc.constant('leafKey' as const), bit: fc.nat(255) }),
  fc.constant({ kind: 'noLeaf' as const }),
  fc.constant({ kind: 'otherKey' as const }),
);

function mutateIndexProof(p: IndexProof, m: ProofMutation, other: IndexProof): IndexProof | undefined {
  const steps = p.steps.map((s) => ({ ...s }));
  const n = steps.length;
  const leaf = p.leaf ? { ...p.leaf } : undefined;
  switch (m.kind) {
    case 'sibling':
      if (n === 0) return undefined;
      (steps[m.at % n] as IndexProof['steps'][0]).sibling = flipBit(
        steps[m.at % n]?.sibling as Buffer,
        m.bit,
      );
      break;
    case 'bit':
      if (n === 0 || steps[m.at % n]?.bit === m.to) return undefined;
      (steps[m.at % n] as IndexProof['steps'][0]).bit = m.to;
      break;
    case 'drop':
      if (n === 0) return undefined;
      steps.splice(m.at % n, 1);
      break;
    case 'insert':
      steps.splice(m.at % (n + 1), 0, { bit: m.bit, sibling: m.sibling });
      break;
    case 'count':
      if (!leaf || leaf.count === m.to) return undefined;
      leaf.count = m.to;
      break;
    case 'chain':
      if (!leaf) return undefined;
      leaf.chain = flipBit(leaf.chain, m.bit);
      break;
    case 'leafKey':
      if (!leaf) return undefined;
      leaf.key = flipBit(leaf.key, m.bit);
      break;
    case 'noLeaf':
      if (!leaf) return undefined;
      return { steps };
    case 'otherKey':
      return other;
  }
  return { steps, ...(leaf ? { leaf } : {}) };
}

describe('statement index proofs (generated)', () => {
  it('whatever proof comes in, the answer is the truth or PROOF_INVALID, with and without a warm cache', () => {
    checkProperty(
      'index: every proof gives the truth or PROOF_INVALID',
      fc.property(
        fc.array(fc.tuple(fc.nat(400), fc.integer({ min: 1, max: 4 })), { maxLength: 40 }),
        indexKeyArb,
        indexKeyArb,
        fc.array(indexKeyArb, { maxLength: 6 }),
        fc.option(proofMutation, { nil: undefined }),
        (ops, asked, otherKey, warm, mutation) => {
          const index = new MemoryIndex();
          const truth = new Map<string, IndexValue>();
          for (let i = 0; i < ops.length; i += 5) {
            index.update(
              ops.slice(i, i + 5).map(([k, c]) => {
                const key = createHash('sha256').update(`key ${k}`).digest();
                const v = valueOf(k, c);
                truth.set(key.toString('hex'), v);
                return { key, apply: () => stateOf(v) };
              }),
            );
          }
          const root = index.rootHash;
          const cache = new VerificationCache(1 << 12);
          for (const w of warm) indexLookup(w, index.prove(w), root, cache);
          const valid = index.prove(asked);
          const expected = truth.get(asked.toString('hex'));
          const want = expected ? { present: true, value: expected } : { present: false };
          assert.deepEqual(verifyIndexProof(asked, valid, root), want);
          const proof = mutation ? mutateIndexProof(valid, mutation, index.prove(otherKey)) : valid;
          if (!proof) return;
          for (const [what, lookup] of [
            ['plain', () => verifyIndexProof(asked, proof, root)],
            ['cached', () => indexLookup(asked, proof, root, cache)],
          ] as const) {
            const outcome = typedOutcome(lookup, what);
            if ('code' in outcome) assert.equal(outcome.code, 'PROOF_INVALID', what);
            else
              assert.deepEqual(outcome.value, want, `${what}: a proof gave an answer that is not the truth`);
          }
          // The cache still answers valid proofs truly after whatever it was shown.
          assert.deepEqual(indexLookup(asked, valid, root, cache), want);
        },
      ),
      { runs: 1000 },
    );
  });

  it('index keys of any signer and digest text are a typed refusal or 32 bytes', () => {
    checkProperty(
      'index: keys from hostile signer and digest text',
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), hex(32)),
        fc.oneof(
          fc.string({ maxLength: 80 }),
          hex(64).map((h) => `sha256:${h}`),
        ),
        (signer, digest) => {
          const outcome = typedOutcome(() => indexKey(signer, digest), 'indexKey');
          if ('value' in outcome) assert.equal(outcome.value.length, 32);
          else assert.equal(outcome.code, 'INTERNAL');
        },
      ),
      { runs: 300 },
    );
  });
});
