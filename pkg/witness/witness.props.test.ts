// Generated hostile add-checkpoint requests (witness.ts through server.ts inject()): random and
// mutated bodies, forged roots the log key signed (a lying log), random proofs and old sizes.
// The witness answers every one with a C2SP status, never 5xx; it cosigns only checkpoints of
// the one true history, its cosignature verifies for exactly that checkpoint, and a refused
// request leaves its state as it was.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { signCheckpoint } from '../ledger/checkpoint';
import { cosigner, cosignatureVerifier, verifyCosignatures, withSignatures } from '../ledger/cosignature';
import { rawPublicKey } from '../ledger/ed25519';
import { consistencyPlan, hashLeaf, rootFromLeafHashes } from '../ledger/merkle';
import { noteSigner, vkeyFor } from '../ledger/note';
import { buildWitnessServer } from './server';
import { MemoryWitnessState } from './state';
import { Witness } from './witness';
import { checkAsyncProperty, hostileText, reportPropertyTotals } from '../testing/property';

after(() => reportPropertyTotals('pkg/witness/witness.props.test.ts'));

const ORIGIN = 'imagetrust.ledger/witness-props';
const logKey = generateKeyPairSync('ed25519').privateKey;
const log = noteSigner(ORIGIN, logKey);
const witnessSigner = cosigner('witness.example/props', generateKeyPairSync('ed25519').privateKey);
const LEAVES = Array.from({ length: 48 }, (_, i) => hashLeaf(Buffer.from(`entry ${i}`)));
const rootAt = (size: number): Buffer => rootFromLeafHashes(LEAVES.slice(0, size));
const noteAt = (size: number, root = rootAt(size)): string =>
  signCheckpoint({ origin: ORIGIN, size, rootHash: root }, log).note;
const proofBetween = (a: number, b: number): Buffer[] =>
  consistencyPlan(a, b).map((r) => rootFromLeafHashes(LEAVES.slice(r.start, r.end)));
const body = (old: number, proof: Buffer[], note: string): string =>
  `old ${old}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${note}`;

const hash = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));
/** What a request is built from; `old` relative to the witness's size is chosen at run time. */
const request = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('valid' as const), grow: fc.nat(6) }) },
  fc.record({
    kind: fc.constant('mutated' as const),
    grow: fc.nat(6),
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('forged' as const),
    grow: fc.nat(6),
    root: hash,
    proof: fc.array(hash, { maxLength: 6 }),
  }),
  fc.record({
    kind: fc.constant('oldSize' as const),
    grow: fc.nat(6),
    old: fc.integer({ min: -1, max: 60 }),
  }),
  fc.record({ kind: fc.constant('random' as const), text: hostileText(300) }),
);

describe('witness add-checkpoint (generated hostile requests)', () => {
  it('cosigns only the true history, answers every request with a C2SP status, and refusals change nothing', async () => {
    const state = new MemoryWitnessState();
    state.set(ORIGIN, { size: 1, root: rootAt(1) });
    const witness = new Witness({
      cosigner: witnessSigner,
      logs: [vkeyFor(ORIGIN, rawPublicKey(logKey))],
      state,
      clock: () => 1_800_000_000_000,
    });
    const app = buildWitnessServer({ witness, logs: [ORIGIN] });
    after(() => app.close());
    let sent = 0;
    await checkAsyncProperty(
      'witness: hostile add-checkpoint requests',
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 4 }), async (requests) => {
        for (const r of requests) {
          const held = state.get(ORIGIN) as { size: number; root: Buffer };
          const size = r.kind === 'random' ? 0 : Math.min(LEAVES.length, held.size + r.grow);
          let text: string;
          let note = '';
          if (r.kind === 'random') text = r.text;
          else if (r.kind === 'forged') {
            note = noteAt(size, r.root);
            text = body(held.size, r.proof, note);
          } else {
            note = noteAt(size);
            const old = r.kind === 'oldSize' ? r.old : held.size;
            text = body(old, old >= 0 && old <= size ? proofBetween(old, size) : [], note);
            if (r.kind === 'mutated') {
              const bytes = Buffer.from(text, 'utf8');
              const at = r.at % bytes.length;
              bytes[at] = bytes[at] === r.byte ? (r.byte + 1) & 0xff : r.byte;
              text = bytes.toString('utf8');
            }
          }
          // Each request from its own address: the server's per-client rate limit is not under test here.
          sent += 1;
          const res = await app.inject({
            method: 'POST',
            url: '/add-checkpoint',
            payload: text,
            headers: { 'content-type': 'text/plain' },
            remoteAddress: `127.${(sent >> 16) & 255}.${(sent >> 8) & 255}.${sent & 255}`,
          });
          assert.ok(
            [200, 400, 403, 404, 409, 422].includes(res.statusCode),
            `${res.statusCode} ${res.body.slice(0, 200)}`,
          );
          const now = state.get(ORIGIN) as { size: number; root: Buffer };
          if (res.statusCode !== 200) {
            assert.equal(now.size, held.size, 'a refused request moved the witness');
            assert.deepEqual(now.root, held.root);
            if (res.statusCode === 409) assert.equal(res.body, `${held.size}\n`);
            continue;
          }
          // Cosigned: the state is the true root at its size, and the cosignature verifies for it.
          assert.deepEqual(now.root, rootAt(now.size), 'cosigned a root of another history');
          assert.ok(now.size >= held.size);
          const cosigned = withSignatures(noteAt(now.size), res.body.split('\n').filter(Boolean));
          assert.equal(
            verifyCosignatures(cosigned, [cosignatureVerifier(witnessSigner.vkey)]).get(witnessSigner.vkey),
            1_800_000_000,
          );
        }
      }),
      { runs: 300 },
    );
  });
});

describe('witness regression cases', () => {
  it('found while writing the property: a size-0 checkpoint whose root is not the empty root is not cosigned', async () => {
    const witness = new Witness({
      cosigner: witnessSigner,
      logs: [vkeyFor(ORIGIN, rawPublicKey(logKey))],
      state: new MemoryWitnessState(),
    });
    const lying = await witness.addCheckpoint(body(0, [], noteAt(0, Buffer.alloc(32, 0xab))));
    assert.equal(lying.status, 422);
    const honest = await witness.addCheckpoint(body(0, [], noteAt(0)));
    assert.equal(honest.status, 200);
  });
});
