import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  CHAIN_START,
  chainOf,
  critBit,
  extendChain,
  hashIndexInner,
  hashIndexLeaf,
  INDEX_EMPTY_ROOT,
  indexKey,
  keyBit,
  valueHash,
  verifyIndexProof,
  type IndexProof,
  type IndexValue,
} from './index-proof';
import {
  innerId,
  leafId,
  MemoryIndex,
  runAsync,
  updateIndex,
  type KeyState,
  type TreeNode,
} from './index-tree';
import { assertCode } from '../testing/assert-code';

const key = (n: number | string): Buffer => createHash('sha256').update(`key ${n}`).digest();
const value = (count: number, seed = 0): IndexValue => ({
  count,
  chain: createHash('sha256').update(`chain ${count} ${seed}`).digest(),
});
const state = (v: IndexValue): KeyState => ({ value: v, sequence: 0, newest: null });

/** The crit-bit root computed from scratch by its definition: the reference for the stored tree. */
function referenceRoot(entries: Map<string, IndexValue>): Buffer {
  const keys = [...entries.keys()].sort().map((k) => Buffer.from(k, 'hex'));
  const build = (ks: Buffer[]): Buffer => {
    if (ks.length === 0) return INDEX_EMPTY_ROOT;
    if (ks.length === 1) {
      const k = ks[0] as Buffer;
      return hashIndexLeaf(k, entries.get(k.toString('hex')) as IndexValue);
    }
    // Sorted keys: the first differing bit of the first and last key splits the set.
    const bit = critBit(ks[0] as Buffer, ks[ks.length - 1] as Buffer);
    const left = ks.filter((k) => keyBit(k, bit) === 0);
    const right = ks.filter((k) => keyBit(k, bit) === 1);
    return hashIndexInner(bit, build(left), build(right));
  };
  return build(keys);
}

function fill(n: number): { index: MemoryIndex; entries: Map<string, IndexValue> } {
  const index = new MemoryIndex();
  const entries = new Map<string, IndexValue>();
  for (let i = 0; i < n; i++) {
    entries.set(key(i).toString('hex'), value(1, i));
    index.update([{ key: key(i), apply: () => state(value(1, i)) }]);
  }
  return { index, entries };
}

describe('statement index hashing', () => {
  it('separates its domains from RFC 6962 and from each other', () => {
    const k = Buffer.alloc(32, 7);
    const v = value(3);
    assert.notDeepEqual(hashIndexLeaf(k, v), hashIndexInner(0, k, valueHash(v)));
    assert.equal(indexKey('00'.repeat(16), `sha256:${'11'.repeat(32)}`).length, 32);
    assert.notDeepEqual(
      indexKey('00'.repeat(16), `sha256:${'11'.repeat(32)}`),
      indexKey('00'.repeat(15) + '01', `sha256:${'11'.repeat(32)}`),
    );
    assert.throws(() => indexKey('00', `sha256:${'11'.repeat(32)}`), /16-byte signer/);
  });

  it('numbers bits from the most significant bit of the first byte', () => {
    const k = Buffer.alloc(32);
    k[0] = 0b1000_0000;
    k[1] = 0b0000_0001;
    assert.equal(keyBit(k, 0), 1);
    assert.equal(keyBit(k, 1), 0);
    assert.equal(keyBit(k, 15), 1);
    assert.equal(critBit(k, Buffer.alloc(32)), 0);
    const j = Buffer.from(k);
    j[31] = 1;
    assert.equal(critBit(k, j), 255);
    assert.equal(critBit(k, k), -1);
  });

  it('chains entries in log order and refuses any other order', () => {
    const h = Buffer.alloc(32, 1);
    const one = chainOf([{ index: 4, leafHash: h }]);
    assert.deepEqual(one, { count: 1, chain: extendChain(CHAIN_START, 4, h) });
    assert.deepEqual(chainOf([]), { count: 0, chain: CHAIN_START });
    assertCode(
      () =>
        chainOf([
          { index: 4, leafHash: h },
          { index: 4, leafHash: h },
        ]),
      'PROOF_INVALID',
    );
  });

  it('ids an inner node by its bit and the prefix before it', () => {
    const k = Buffer.alloc(32, 0xff);
    assert.deepEqual(innerId(0, k), Buffer.from([1, 0]));
    assert.deepEqual(innerId(3, k), Buffer.from([1, 3, 0b1110_0000]));
    assert.deepEqual(innerId(8, k), Buffer.from([1, 8, 0xff]));
    assert.equal(leafId(k).length, 33);
  });
});

describe('crit-bit statement index', () => {
  it('has the empty root when empty, and a lone leaf as root with one key', () => {
    const index = new MemoryIndex();
    assert.deepEqual(index.rootHash, INDEX_EMPTY_ROOT);
    assert.deepEqual(verifyIndexProof(key(1), index.prove(key(1)), index.rootHash), { present: false });
    index.update([{ key: key(1), apply: () => state(value(1)) }]);
    assert.deepEqual(index.rootHash, hashIndexLeaf(key(1), value(1)));
    assert.equal(index.keyCount, 1);
  });

  it('matches the reference root and proves every key present and others absent (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 5 })), {
          maxLength: 120,
        }),
        (ops) => {
          const index = new MemoryIndex();
          const entries = new Map<string, IndexValue>();
          // Several updates per batch, some keys updated more than once.
          for (let i = 0; i < ops.length; i += 7) {
            const batch = ops.slice(i, i + 7).map(([k, c]) => {
              const v = value(c, k);
              entries.set(key(k).toString('hex'), v);
              return { key: key(k), apply: () => state(v) };
            });
            index.update(batch);
            assert.deepEqual(index.rootHash, referenceRoot(entries));
          }
          for (const [hex, v] of entries) {
            const found = verifyIndexProof(
              Buffer.from(hex, 'hex'),
              index.prove(Buffer.from(hex, 'hex')),
              index.rootHash,
            );
            assert.deepEqual(found, { present: true, value: v });
          }
          for (const absent of [1000, 1001, 1002]) {
            assert.deepEqual(verifyIndexProof(key(absent), index.prove(key(absent)), index.rootHash), {
              present: false,
            });
          }
          assert.equal(index.keyCount, entries.size);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps proofs short: about log2 of the number of keys', () => {
    const { index } = fill(4096);
    const lengths = Array.from({ length: 4096 }, (_, i) => index.prove(key(i)).steps.length);
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    assert.ok(mean < 12 + 2 && mean > 12 - 1, `mean proof length ${mean}`);
  });

  it('sees earlier updates of the same batch and passes the old state to apply', () => {
    const index = new MemoryIndex();
    const seen: (number | undefined)[] = [];
    const bump = (old: KeyState | undefined): KeyState => {
      seen.push(old?.value.count);
      return state(value((old?.value.count ?? 0) + 1));
    };
    index.update([
      { key: key(1), apply: bump },
      { key: key(2), apply: bump },
      { key: key(1), apply: bump },
    ]);
    assert.deepEqual(seen, [undefined, undefined, 1]);
    const found = verifyIndexProof(key(1), index.prove(key(1)), index.rootHash);
    assert.equal(found.present && found.value.count, 2);
    assert.deepEqual(verifyIndexProof(key(3), index.prove(key(3)), index.rootHash), { present: false });
  });

  it('reports a node the store lost as tampered, and works over an asynchronous store', async () => {
    const nodes = new Map<string, TreeNode>();
    const read = async (id: Buffer): Promise<TreeNode | undefined> => nodes.get(id.toString('hex'));
    const first = await runAsync(
      updateIndex(
        undefined,
        [1, 2, 3].map((i) => ({ key: key(i), apply: () => state(value(1)) })),
      ),
      read,
    );
    for (const n of first.written) nodes.set(n.id.toString('hex'), n);
    const second = await runAsync(
      updateIndex(first.root, [{ key: key(4), apply: () => state(value(1)) }]),
      read,
    );
    const reference = new Map([1, 2, 3, 4].map((i) => [key(i).toString('hex'), value(1)]));
    assert.deepEqual(second.root?.hash, referenceRoot(reference));
    nodes.clear();
    await assert.rejects(
      () => runAsync(updateIndex(first.root, [{ key: key(5), apply: () => state(value(1)) }]), read),
      (err: unknown) => (err as { code?: string }).code === 'LEDGER_TAMPERED',
    );
  });
});

describe('index proofs a hostile ledger could serve', () => {
  const { index } = fill(64);
  const root = index.rootHash;
  const k = key(10);
  const good = index.prove(k);
  const variants: [string, IndexProof][] = [
    ['one step short', { ...good, steps: good.steps.slice(1) }],
    ['one step too long', { ...good, steps: [{ bit: 0, sibling: Buffer.alloc(32) }, ...good.steps] }],
    [
      'a sibling flipped',
      { ...good, steps: good.steps.map((s, i) => (i === 1 ? { ...s, sibling: Buffer.alloc(32, 9) } : s)) },
    ],
    [
      'a bit position changed',
      { ...good, steps: good.steps.map((s, i) => (i === 0 ? { ...s, bit: s.bit + 1 } : s)) },
    ],
    ['bits out of order', { ...good, steps: [...good.steps].reverse() }],
    ['a lower count', { ...good, leaf: { ...good.leaf!, count: good.leaf!.count - 1 || 2 } }],
    ['another chain', { ...good, leaf: { ...good.leaf!, chain: Buffer.alloc(32, 1) } }],
    ['no leaf', { steps: good.steps }],
    [
      'a short hash',
      { ...good, steps: good.steps.map((s, i) => (i === 0 ? { ...s, sibling: Buffer.alloc(31) } : s)) },
    ],
  ];
  for (const [name, proof] of variants) {
    it(`refuses ${name}`, () => {
      assertCode(() => verifyIndexProof(k, proof, root), 'PROOF_INVALID');
    });
  }

  it('cannot prove a present key absent with another key’s leaf', () => {
    const other = index.prove(key(11));
    assertCode(() => verifyIndexProof(k, other, root), 'PROOF_INVALID');
  });

  it('refuses a proof for the empty tree against a non-empty root', () => {
    assertCode(() => verifyIndexProof(k, { steps: [] }, root), 'PROOF_INVALID');
  });
});
