// The lookup verification pipeline on its own (verifier.ts, policy.ts): every way an answer
// can be wrong gets its own code, and policies combine signers as documented.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signCheckpoint, type SignedCheckpoint } from './checkpoint';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { indexKey, verifyIndexProof, type IndexProof } from './index-proof';
import { MemoryIndex } from './index-tree';
import type { ProvenEntry } from './log';
import { consistencyPlan, hashLeaf, inclusionPlan, rootFromLeafHashes, type Range } from './merkle';
import { noteSigner } from './note';
import { advanceKey } from './ordering';
import { decide, parsePolicy, policyForSigners, VCN_LEVEL } from './policy';
import { openStatement, type SignedStatement } from './statement';
import {
  indexLookup,
  indexRootOf,
  VerificationCache,
  verifyEntries,
  verifyExtends,
  verifyKeyAnswer,
} from './verifier';
import { decodeKeyLookup } from './wire';
import { isImagetrustError } from '../errors';
import { assertCode, assertRejectsCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, Words } from '../testing/fixtures';

const alice = generateSignerKey();
const bob = generateSignerKey();
const app = digestOf('app');
const other = digestOf('other');
const ledgerKey = generateKeyPairSync('ed25519').privateKey;
const signer = noteSigner('test.ledger/1', ledgerKey);

/** A small ledger in memory: entries, their log tree, the index and a checkpoint per size. */
function build(statements: SignedStatement[]) {
  const leaves = statements.map((s) => s.envelope);
  const hashes = leaves.map((l) => hashLeaf(l));
  const index = new MemoryIndex();
  const checkpoints: SignedCheckpoint[] = [];
  statements.forEach((s, i) => {
    let o: SignedStatement;
    try {
      o = openStatement(s.envelope);
    } catch {
      o = s; // not a statement (a tampered entry): logged, indexed under its claimed statement
    }
    index.update([
      {
        key: indexKey(o.statement.signer, o.statement.digest),
        apply: (old) =>
          advanceKey(
            old,
            { index: i, leafHash: hashes[i] as Buffer, id: o.id, statement: o.statement },
            false,
          ),
      },
    ]);
    checkpoints.push(
      signCheckpoint(
        {
          origin: 'test.ledger/1',
          size: i + 1,
          rootHash: rootFromLeafHashes(hashes.slice(0, i + 1)),
          indexRoot: index.rootHash,
        },
        signer,
      ),
    );
  });
  const mth = (r: Range, size: number) => rootFromLeafHashes(hashes.slice(r.start, Math.min(r.end, size)));
  const prove = (i: number, size: number): ProvenEntry => ({
    index: i,
    leaf: leaves[i] as Buffer,
    proof: inclusionPlan(i, size).map((r) => mth(r, size)),
  });
  return {
    index,
    checkpoints,
    prove,
    hashes,
    consistency: (a: number, b: number) => consistencyPlan(a, b).map((r) => mth(r, b)),
  };
}

describe('verifyKeyAnswer', () => {
  const w = new Words();
  const s = [
    w.next(alice, app, 'trusted'),
    w.next(bob, app, 'trusted'),
    w.next(alice, app, 'untrusted'),
    w.next(alice, other, 'trusted'),
  ];
  const l = build(s);
  const cp = l.checkpoints[3] as SignedCheckpoint;
  const proof = l.index.prove(indexKey(alice.keyId, app));
  const entries = [l.prove(0, 4), l.prove(2, 4)];

  it('accepts the complete answer, with and without an earlier checkpoint to extend', async () => {
    const got = await verifyKeyAnswer({ proof, entries }, cp, alice.keyId, app, new VerificationCache());
    assert.deepEqual(
      got.map((x) => x.index),
      [0, 2],
    );
    const since = {
      checkpoint: l.checkpoints[1] as SignedCheckpoint,
      proof: build(s.slice(0, 2)).index.prove(indexKey(alice.keyId, app)),
    };
    assert.equal((await verifyKeyAnswer({ proof, entries, since }, cp, alice.keyId, app)).length, 2);
  });

  it('gives the same verdicts with a cache that has proven the same entries before', async () => {
    const cache = new VerificationCache(4);
    const lastHashZeroed = entries.map((e) => ({
      ...e,
      proof: e.proof.map((h, i) => (i === e.proof.length - 1 ? Buffer.alloc(32) : h)),
    }));
    for (let round = 0; round < 2; round++) {
      assert.equal((await verifyKeyAnswer({ proof, entries }, cp, alice.keyId, app, cache)).length, 2);
      await assertRejectsCode(
        () => verifyKeyAnswer({ proof, entries: lastHashZeroed }, cp, alice.keyId, app, cache),
        'PROOF_INVALID',
      );
      await assertRejectsCode(
        () =>
          verifyKeyAnswer({ proof, entries: [l.prove(0, 4), l.prove(1, 4)] }, cp, alice.keyId, app, cache),
        'LEDGER_TAMPERED',
      );
    }
  });

  it('accepts a proven absence with no entries, and refuses entries for an absent key', async () => {
    const absent = indexKey(bob.keyId, other);
    assert.deepEqual(
      await verifyKeyAnswer({ proof: l.index.prove(absent), entries: [] }, cp, bob.keyId, other),
      [],
    );
    await assertRejectsCode(
      () => verifyKeyAnswer({ proof: l.index.prove(absent), entries: [l.prove(3, 4)] }, cp, bob.keyId, other),
      'LEDGER_TAMPERED',
    );
  });

  it('names every wrong answer', async () => {
    await assertRejectsCode(
      () => verifyKeyAnswer({ proof, entries: [entries[0] as ProvenEntry] }, cp, alice.keyId, app),
      'PROOF_INVALID',
    );
    await assertRejectsCode(
      () => verifyKeyAnswer({ proof, entries: [l.prove(0, 4), l.prove(1, 4)] }, cp, alice.keyId, app),
      'LEDGER_TAMPERED',
    );
    await assertRejectsCode(
      () => verifyKeyAnswer({ proof, entries: [l.prove(3, 4)] }, cp, alice.keyId, app),
      'LEDGER_TAMPERED',
    );
    await assertRejectsCode(
      () => verifyKeyAnswer({ proof, entries: [...entries].reverse() }, cp, alice.keyId, app),
      'PROOF_INVALID',
    );
    const garbage = { ...l.prove(0, 4), leaf: Buffer.from('{}') };
    await assertRejectsCode(() => verifyEntries([garbage], cp, app), 'PROOF_INVALID');
    // A logged entry that is not a valid statement, with a valid inclusion proof: tampered storage.
    const bogus = build([
      s[0] as SignedStatement,
      { ...(s[1] as SignedStatement), envelope: Buffer.from('{"not":"a statement"}') },
    ]);
    await assertRejectsCode(
      () => verifyEntries([bogus.prove(1, 2)], bogus.checkpoints[1] as SignedCheckpoint, app),
      'LEDGER_TAMPERED',
    );
    const noIndex = { ...cp, indexRoot: undefined } as SignedCheckpoint;
    assertCode(() => indexRootOf(noIndex), 'LEDGER_UPGRADE_NEEDED');
  });

  it('refuses an earlier index that does not lead up to the later one', async () => {
    const later = build([...s, w.next(alice, app, 'trusted')]);
    const cp5 = later.checkpoints[4] as SignedCheckpoint;
    const proof5 = later.index.prove(indexKey(alice.keyId, app));
    const all = [later.prove(0, 5), later.prove(2, 5), later.prove(4, 5)];
    // The earlier proof claims alice had nothing about app at size 2 (it had entry 0).
    const emptyEarlier = build([s[1] as SignedStatement, s[1] as SignedStatement]);
    await assertRejectsCode(
      () =>
        verifyKeyAnswer(
          {
            proof: proof5,
            entries: all,
            since: {
              checkpoint: {
                ...(later.checkpoints[1] as SignedCheckpoint),
                indexRoot: emptyEarlier.index.rootHash,
              },
              proof: emptyEarlier.index.prove(indexKey(alice.keyId, app)),
            },
          },
          cp5,
          alice.keyId,
          app,
        ),
      'LEDGER_INCONSISTENT',
    );
  });
});

describe('index proofs checked against the nodes of earlier ones', () => {
  const key = (n: number): Buffer => createHash('sha256').update(`key ${n}`).digest();
  const index = new MemoryIndex();
  for (let i = 0; i < 300; i += 2) {
    index.update([
      {
        key: key(i),
        apply: () => ({
          value: { count: 1 + (i % 3), chain: createHash('sha256').update(`chain ${i}`).digest() },
          sequence: 0,
          newest: null,
        }),
      },
    ]);
  }
  const root = index.rootHash;
  /** verifyIndexProof's verdict, or the error code and message it throws. */
  const verdict = (f: () => unknown): unknown => {
    try {
      return f();
    } catch (err) {
      return isImagetrustError(err) ? `${err.code}: ${err.message}` : err;
    }
  };
  const variants = (p: IndexProof): IndexProof[] => [
    p,
    ...p.steps.map((_, i) => ({
      ...p,
      steps: p.steps.map((s, j) => (j === i ? { ...s, sibling: Buffer.from(s.sibling).fill(i, 0, 1) } : s)),
    })),
    ...p.steps.map((_, i) => ({
      ...p,
      steps: p.steps.map((s, j) => (j === i ? { ...s, bit: s.bit + 1 } : s)),
    })),
    { ...p, steps: p.steps.slice(1) },
    { ...p, steps: p.steps.slice(0, -1) },
    { ...p, steps: [...p.steps].reverse() },
    ...(p.leaf ? [{ ...p, leaf: { ...p.leaf, count: p.leaf.count + 1 } }, { steps: p.steps }] : []),
  ];

  it('give exactly the verdicts and errors of verifyIndexProof, for present and absent keys', () => {
    // The default memo, and one so small that it starts over again and again.
    for (const cache of [new VerificationCache(), new VerificationCache(40)]) {
      verdictsMatch(cache);
    }
  });

  function verdictsMatch(cache: VerificationCache): void {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < 300; i += 7) {
        const k = key(i);
        for (const proof of variants(index.prove(k))) {
          assert.deepEqual(
            verdict(() => indexLookup(k, proof, root, cache)),
            verdict(() => verifyIndexProof(k, proof, root)),
          );
        }
        // Another key's proof, and this key's proof against another root.
        const other = index.prove(key(i + 2));
        assert.deepEqual(
          verdict(() => indexLookup(k, other, root, cache)),
          verdict(() => verifyIndexProof(k, other, root)),
        );
        assertCode(() => indexLookup(k, index.prove(k), Buffer.alloc(32, 1), cache), 'PROOF_INVALID');
      }
    }
  }
});

describe('verifyExtends', () => {
  const w = new Words();
  const l = build([
    w.next(alice, app, 'trusted'),
    w.next(alice, other, 'trusted'),
    w.next(bob, app, 'trusted'),
  ]);
  const [c1, , c3] = l.checkpoints as [SignedCheckpoint, SignedCheckpoint, SignedCheckpoint];

  it('accepts a consistent successor and refuses a rollback or a bad proof with both checkpoints', () => {
    verifyExtends(c1, c3, l.consistency(1, 3));
    const rollback = assertCode(() => verifyExtends(c3, c1, []), 'LEDGER_INCONSISTENT');
    assert.equal(rollback.details?.trusted, c3.note);
    const bad = assertCode(() => verifyExtends(c1, c3, [Buffer.alloc(32)]), 'LEDGER_INCONSISTENT');
    assert.equal(bad.details?.presented, c3.note);
  });
});

describe('trust policy', () => {
  const w = new Words();
  const at = (i: number, st: SignedStatement) => ({
    index: i,
    leafHash: hashLeaf(st.envelope),
    id: st.id,
    statement: st.statement,
  });

  it('parses a policy file, naming every bad field at once', () => {
    const p = parsePolicy({ signers: [{ keyId: alice.keyId, name: 'ops', level: 3 }], ledgerKey: 'x+1+y' });
    assert.deepEqual(p, { signers: [{ keyId: alice.keyId, name: 'ops', level: 3 }], ledgerKey: 'x+1+y' });
    const err = assertCode(
      () => parsePolicy({ signers: [{ keyId: 'nope', level: 7, name: 5 }], ledgerKey: 3, extra: true }),
      'CONFIG_INVALID',
    );
    for (const field of ['keyId', 'level', 'name', 'ledgerKey', 'extra'])
      assert.match(err.message, new RegExp(field));
    assertCode(() => parsePolicy([]), 'CONFIG_INVALID');
    assertCode(() => parsePolicy({ signers: [] }), 'CONFIG_INVALID');
    assertCode(() => policyForSigners(['short']), 'USAGE');
  });

  it('trusts if any allowed signer trusts, preferring the higher level; otherwise the latest word decides', () => {
    const a1 = w.next(alice, app, 'untrusted', { time: '2026-01-01T00:00:00Z' });
    const b1 = w.next(bob, app, 'trusted', { time: '2026-01-02T00:00:00Z' });
    const policy = parsePolicy({
      signers: [
        { keyId: alice.keyId, level: 3 },
        { keyId: bob.keyId, level: 1 },
      ],
    });
    const v = decide([at(0, a1), at(1, b1)], policy);
    assert.equal(v.status, 'trusted');
    assert.equal(v.level, 1);
    const b2 = w.next(bob, app, 'unsupported', { time: '2026-01-03T00:00:00Z' });
    assert.equal(decide([at(0, a1), at(1, b1), at(2, b2)], policy).status, 'unsupported');
    assert.equal(decide([at(0, a1)], policyForSigners([bob.keyId])).status, 'unknown');
    assert.equal(decide([], policy).level, VCN_LEVEL.UNKNOWN);
  });
});

describe('the wire format read back from an untrusted server', () => {
  it('refuses every malformed lookup answer as LEDGER_BAD_RESPONSE', () => {
    const good = { size: 1, offset: 0, proof: { steps: [] }, entries: [] };
    assert.equal(decodeKeyLookup(good, 10).size, 1);
    for (const bad of [
      null,
      { ...good, entries: 'x' },
      { ...good, size: -1 },
      { ...good, proof: { steps: [{ bit: 1, sibling: '!!' }] } },
      { ...good, proof: { steps: [], leaf: 'x' } },
      { ...good, since: 5 },
      { ...good, entries: [{ index: 0, leaf: 'AA==', proof: 'x' }] },
      { ...good, entries: Array.from({ length: 11 }, () => ({ index: 0, leaf: '', proof: [] })) },
    ]) {
      assertCode(() => decodeKeyLookup(bad, 10), 'LEDGER_BAD_RESPONSE');
    }
  });

  it('a lower-level trusted signer yields to a higher-level one', () => {
    const w = new Words();
    const a = w.next(alice, app, 'trusted');
    const b = w.next(bob, app, 'trusted');
    const at = (i: number, st: SignedStatement) => ({
      index: i,
      leafHash: hashLeaf(st.envelope),
      id: st.id,
      statement: st.statement,
    });
    const policy = parsePolicy({
      signers: [
        { keyId: alice.keyId, level: 1 },
        { keyId: bob.keyId, level: 3 },
      ],
    });
    assert.equal(decide([at(0, a), at(1, b)], policy).signer?.keyId, bob.keyId);
  });
});
