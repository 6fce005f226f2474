// The test vectors of docs/ledger-index.md §5 (also computed there with Python's hashlib from
// the text alone): if this test changes, the specification changes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHAIN_START,
  extendChain,
  hashIndexInner,
  hashIndexLeaf,
  indexKey,
  valueHash,
  verifyIndexProof,
} from './index-proof';
import { MemoryIndex, type KeyState } from './index-tree';

const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';
const D1 = `sha256:${'aa'.repeat(32)}`;
const D2 = `sha256:${'bb'.repeat(32)}`;
const L = (byte: string): Buffer => Buffer.from(byte.repeat(32), 'hex');
const hex = (b: Buffer): string => b.toString('hex');
const at = (count: number, chain: Buffer): KeyState => ({
  value: { count, chain },
  sequence: 0,
  newest: null,
});

describe('statement index test vectors (docs/ledger-index.md)', () => {
  const c1 = extendChain(CHAIN_START, 0, L('01'));
  const c2 = extendChain(c1, 3, L('02'));
  const index = new MemoryIndex();
  index.update([
    { key: indexKey(A, D1), apply: () => at(1, c1) },
    { key: indexKey(A, D2), apply: () => at(1, extendChain(CHAIN_START, 1, L('03'))) },
    { key: indexKey(B, D1), apply: () => at(1, extendChain(CHAIN_START, 2, L('04'))) },
    { key: indexKey(A, D1), apply: () => at(2, c2) },
  ]);

  it('keys, chain, value, leaf and inner hashes', () => {
    assert.equal(hex(indexKey(A, D1)), 'd1949fe930886a4af4b38f11ada6c64e1057c4bd3210bde6cb9e39dd06bb6637');
    assert.equal(hex(indexKey(A, D2)), '083d5d76e5a7ff4d65a94ba27cd732f016fc8a564f05ceed5c8a4ea042a3ca76');
    assert.equal(hex(indexKey(B, D1)), 'b5da9ecfd9cbe7ded64a1faa1587f68107531122f8a75c1130dafb3024965576');
    assert.equal(hex(c1), '8a703857dcc817274aa2594427c5258fb20d03a842622a45231134d424f33ebc');
    assert.equal(hex(c2), '2467e3619abc9df812836516f8b6b3ba09efaad566d3a5f735fb8628719516f9');
    assert.equal(
      hex(valueHash({ count: 2, chain: c2 })),
      '443b80c555baf6a3a4b54e5fe9bd02b18a0c161529ce95610ebb22f119d77a37',
    );
    assert.equal(
      hex(hashIndexLeaf(indexKey(A, D1), { count: 2, chain: c2 })),
      '54c47d5f921287cc0a596a388cf3dd30e8263a27d6207a4a9d9772929bb1be84',
    );
    assert.equal(
      hex(hashIndexInner(0, Buffer.alloc(32), Buffer.alloc(32, 0xff))),
      '898faf8f2fa05990d3f91d6a18208d6bda5d604f3aaff4f1cac29c7594b4c4cd',
    );
  });

  it('the three-key tree, a membership proof and an absence proof', () => {
    assert.equal(hex(index.rootHash), '3dc202d81b36ee999112cd65b9d41fb5051158024a0d8abec18b542b0d38c0be');
    const proof = index.prove(indexKey(A, D1));
    assert.deepEqual(
      proof.steps.map((s) => [s.bit, hex(s.sibling)]),
      [
        [0, '91a437a04655521b139197cee8bdcdf6f4504aff33fdfbb68be076427ef97bfb'],
        [1, '3107ba9ae6f524303f3a9e9064fc7d2af648b580f9cad7dcd9f062385bfb54ea'],
      ],
    );
    assert.deepEqual(verifyIndexProof(indexKey(A, D1), proof, index.rootHash), {
      present: true,
      value: { count: 2, chain: c2 },
    });
    const absent = indexKey(B, D2);
    assert.equal(hex(absent), 'd7d9cfa98d5b2f8bf6507467b36d72e629ecebacc6fbc09fd87e0cbacb51770a');
    const absence = index.prove(absent);
    assert.equal(hex(absence.leaf!.key), hex(indexKey(A, D1)));
    assert.deepEqual(verifyIndexProof(absent, absence, index.rootHash), { present: false });
  });
});
