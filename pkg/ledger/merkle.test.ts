import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  EMPTY_ROOT,
  appendToTree,
  completedNodes,
  consistencyPlan,
  hashChildren,
  hashLeaf,
  inclusionPlan,
  nodeKey,
  planNodes,
  ProvenNodes,
  resolvePlan,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
  type NodeId,
  type Range,
} from './merkle';
import { assertCode } from '../testing/assert-code';

const leaf = (i: number): Buffer => hashLeaf(Buffer.from(`leaf ${i}`));

/** MTH(D[start:end]) by the RFC definition, from nothing but the leaf hashes. */
function naiveMth(leaves: Buffer[], start: number, end: number): Buffer {
  return rootFromLeafHashes(leaves.slice(start, end));
}

/** A node lookup over an in-memory tree, as a store would serve it. */
function nodeSource(leaves: Buffer[]): (id: NodeId) => Buffer {
  return (id) => {
    const width = 2 ** id.level;
    const start = id.index * width;
    assert.ok(start + width <= leaves.length, `node ${nodeKey(id)} is not complete`);
    return naiveMth(leaves, start, start + width);
  };
}

const names = (plan: Range[]): string[] => plan.map((r) => `${r.start}-${r.end}`);

describe('RFC 9162 §2.1.5 worked example (7 leaves)', () => {
  // a..f and j are the leaves d0..d6; g=[0,2) h=[2,4) i=[4,6) k=[0,4) l=[4,7).
  const rangeName: Record<string, string> = {
    '0-1': 'a',
    '1-2': 'b',
    '2-3': 'c',
    '3-4': 'd',
    '4-5': 'e',
    '5-6': 'f',
    '6-7': 'j',
    '0-2': 'g',
    '2-4': 'h',
    '4-6': 'i',
    '0-4': 'k',
    '4-7': 'l',
  };
  const letters = (plan: Range[]): string[] => names(plan).map((n) => rangeName[n] ?? n);

  it('inclusion paths', () => {
    assert.deepEqual(letters(inclusionPlan(0, 7)), ['b', 'h', 'l']);
    assert.deepEqual(letters(inclusionPlan(3, 7)), ['c', 'g', 'l']);
    assert.deepEqual(letters(inclusionPlan(4, 7)), ['f', 'j', 'k']);
    assert.deepEqual(letters(inclusionPlan(6, 7)), ['i', 'k']);
  });

  it('consistency proofs', () => {
    assert.deepEqual(letters(consistencyPlan(3, 7)), ['c', 'd', 'g', 'l']);
    assert.deepEqual(letters(consistencyPlan(4, 7)), ['l']);
    assert.deepEqual(letters(consistencyPlan(6, 7)), ['i', 'j', 'k']);
  });

  it('verifies them', () => {
    const leaves = Array.from({ length: 7 }, (_, i) => leaf(i));
    const node = nodeSource(leaves);
    const root7 = rootFromLeafHashes(leaves);
    verifyInclusion(3, 7, leaves[3]!, resolvePlan(inclusionPlan(3, 7), node), root7);
    verifyConsistency(3, 7, naiveMth(leaves, 0, 3), root7, resolvePlan(consistencyPlan(3, 7), node));
  });
});

describe('tree hashing', () => {
  it('empty tree root is SHA-256 of nothing', () => {
    assert.equal(
      EMPTY_ROOT.toString('hex'),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    assert.deepEqual(rootFromLeafHashes([]), EMPTY_ROOT);
  });

  it('separates leaves from nodes (0x00 / 0x01 prefixes)', () => {
    const a = leaf(0);
    const b = leaf(1);
    assert.notDeepEqual(hashLeaf(Buffer.concat([a, b])), hashChildren(a, b));
  });

  it('completedNodes names the subtrees an append finishes', () => {
    assert.deepEqual(completedNodes(0), [{ level: 0, index: 0 }]);
    assert.deepEqual(completedNodes(3), [
      { level: 0, index: 3 },
      { level: 1, index: 1 },
      { level: 2, index: 0 },
    ]);
    assert.deepEqual(completedNodes(6), [{ level: 0, index: 6 }]);
  });
});

describe('exhaustive against a naive recomputation, every (m, n) up to 64 leaves', () => {
  const N = 64;
  const leaves = Array.from({ length: N }, (_, i) => leaf(i));
  const node = nodeSource(leaves);
  const roots = Array.from({ length: N + 1 }, (_, n) => naiveMth(leaves, 0, n));

  it('inclusion proofs verify and have at most ⌈log2 n⌉ hashes', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = resolvePlan(inclusionPlan(m, n), node);
        assert.ok(proof.length <= Math.ceil(Math.log2(n)), `proof(${m}, ${n}) too long`);
        verifyInclusion(m, n, leaves[m]!, proof, roots[n]!);
      }
    }
  });

  it('consistency proofs verify for every 0 <= m <= n', () => {
    for (let n = 0; n <= N; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = resolvePlan(consistencyPlan(m, n), node);
        verifyConsistency(m, n, roots[m]!, roots[n]!, proof);
      }
    }
  });

  it('every single-bit corruption of an inclusion proof is rejected', () => {
    for (const n of [1, 2, 3, 5, 8, 13, 31, 64]) {
      for (let m = 0; m < n; m += Math.max(1, Math.floor(n / 7))) {
        const proof = resolvePlan(inclusionPlan(m, n), node);
        for (let p = 0; p < proof.length; p++) {
          const bad = proof.map((h) => Buffer.from(h));
          const h = bad[p]!;
          h[p % 32] = h[p % 32]! ^ 1;
          assertCode(() => verifyInclusion(m, n, leaves[m]!, bad, roots[n]!), 'PROOF_INVALID');
        }
        assertCode(() => verifyInclusion(m, n, leaf(999), proof, roots[n]!), 'PROOF_INVALID');
        if (n > 1)
          assertCode(() => verifyInclusion(m, n, leaves[m]!, proof.slice(1), roots[n]!), 'PROOF_INVALID');
        assertCode(() => verifyInclusion(m, n, leaves[m]!, [...proof, leaf(0)], roots[n]!), 'PROOF_INVALID');
        assertCode(() => verifyInclusion(n, n, leaves[m]!, proof, roots[n]!), 'PROOF_INVALID');
      }
    }
  });

  it('proofs checked against proven nodes give exactly the verdicts of full checks', () => {
    for (const n of [1, 2, 3, 5, 7, 8, 13, 31, 33, 64]) {
      const proven = new ProvenNodes(n, roots[n]!, 1 << 16, 0);
      // Twice over every leaf: the second pass meets a proven node at once.
      for (const m of [...Array(n).keys(), ...Array(n).keys()]) {
        const proof = resolvePlan(inclusionPlan(m, n), node);
        verifyInclusion(m, n, leaves[m]!, proof, roots[n]!, proven);
        for (let p = 0; p < proof.length; p++) {
          const bad = proof.map((h) => Buffer.from(h));
          bad[p]![0] = bad[p]![0]! ^ 1;
          assertCode(() => verifyInclusion(m, n, leaves[m]!, bad, roots[n]!, proven), 'PROOF_INVALID');
        }
        assertCode(() => verifyInclusion(m, n, leaf(999), proof, roots[n]!, proven), 'PROOF_INVALID');
        if (n > 1) {
          const short = assertCode(
            () => verifyInclusion(m, n, leaves[m]!, proof.slice(0, -1), roots[n]!, proven),
            'PROOF_INVALID',
          );
          assert.match(short.message, /shorter/);
          // The first hash is another leaf's: proven, but not where this proof puts it.
          if (m + 1 < n) {
            assertCode(
              () => verifyInclusion(m, n, leaves[m + 1]!, proof, roots[n]!, proven),
              'PROOF_INVALID',
            );
          }
        }
        const long = assertCode(
          () => verifyInclusion(m, n, leaves[m]!, [...proof, leaf(0)], roots[n]!, proven),
          'PROOF_INVALID',
        );
        assert.match(long.message, /longer/);
      }
    }
  });

  it('proven nodes of another tree are not used, and a full memo starts over', () => {
    const other = new ProvenNodes(20, roots[20]!, 1 << 16, 0);
    verifyInclusion(5, 20, leaves[5]!, resolvePlan(inclusionPlan(5, 20), node), roots[20]!, other);
    const proof21 = resolvePlan(inclusionPlan(5, 21), node);
    verifyInclusion(5, 21, leaves[5]!, proof21, roots[21]!, other);
    assertCode(() => verifyInclusion(5, 21, leaves[5]!, proof21, roots[20]!, other), 'PROOF_INVALID');
    const small = new ProvenNodes(64, roots[64]!, 8, 0);
    for (let m = 0; m < 64; m++)
      verifyInclusion(m, 64, leaves[m]!, resolvePlan(inclusionPlan(m, 64), node), roots[64]!, small);
  });

  it('a wrong index or size is rejected', () => {
    const proof = resolvePlan(inclusionPlan(5, 20), node);
    assertCode(() => verifyInclusion(4, 20, leaves[5]!, proof, roots[20]!), 'PROOF_INVALID');
    assertCode(() => verifyInclusion(5, 21, leaves[5]!, proof, roots[21]!), 'PROOF_INVALID');
    assertCode(() => verifyInclusion(-1, 20, leaves[5]!, proof, roots[20]!), 'PROOF_INVALID');
    assertCode(() => verifyInclusion(5, 20, leaves[5]!, [Buffer.alloc(3)], roots[20]!), 'PROOF_INVALID');
  });

  it('consistency with a rewritten past, a shrunk tree or a tampered proof is rejected', () => {
    const forked = leaves.map((h, i) => (i === 0 ? leaf(1000) : h));
    for (const [m, n] of [
      [3, 7],
      [4, 7],
      [6, 7],
      [1, 2],
      [7, 64],
      [32, 33],
      [17, 40],
    ] as const) {
      const proof = resolvePlan(consistencyPlan(m, n), node);
      const forkedRoot = naiveMth(forked, 0, n);
      assert.throws(() => verifyConsistency(m, n, roots[m]!, forkedRoot, proof));
      assert.throws(() => verifyConsistency(m, n, naiveMth(forked, 0, m), roots[n]!, proof));
      for (let p = 0; p < proof.length; p++) {
        const bad = proof.map((h) => Buffer.from(h));
        const h = bad[p]!;
        h[0] = h[0]! ^ 0x80;
        assert.throws(() => verifyConsistency(m, n, roots[m]!, roots[n]!, bad));
      }
      assertCode(() => verifyConsistency(n, m, roots[n]!, roots[m]!, proof), 'LEDGER_INCONSISTENT');
    }
    assertCode(() => verifyConsistency(5, 5, roots[5]!, roots[6]!, []), 'LEDGER_INCONSISTENT');
    assertCode(() => verifyConsistency(5, 5, roots[5]!, roots[5]!, [leaf(1)]), 'PROOF_INVALID');
    assertCode(() => verifyConsistency(0, 5, EMPTY_ROOT, roots[5]!, [leaf(1)]), 'PROOF_INVALID');
    assertCode(() => verifyConsistency(3, 7, roots[3]!, roots[7]!, []), 'PROOF_INVALID');
  });

  it('planNodes asks for each stored node once', () => {
    const plan = consistencyPlan(13, 64);
    const ids = planNodes(plan).map(nodeKey);
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe('appendToTree', () => {
  it('grows a tree in batches to the same roots and nodes as the naive definition', () => {
    const leaves = Array.from({ length: 70 }, (_, i) => leaf(i));
    const stored = new Map<string, Buffer>();
    let size = 0;
    for (const batch of [1, 2, 1, 4, 7, 3, 16, 1, 35]) {
      const added = leaves.slice(size, size + batch);
      const { nodes, root } = appendToTree(size, added, (id) => stored.get(nodeKey(id))!);
      for (const n of nodes) stored.set(nodeKey(n.id), n.hash);
      size += batch;
      assert.deepEqual(root, rootFromLeafHashes(leaves.slice(0, size)));
    }
    const check = nodeSource(leaves);
    for (const [key, hash] of stored) {
      const [level, index] = key.split('/').map(Number) as [number, number];
      assert.deepEqual(hash, check({ level, index }));
    }
  });
});
