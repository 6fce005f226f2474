// Witness conformance (C2SP tlog-witness as REFERENCE §7 states it), cosignatures, witness
// policies, and a ledger server collecting cosignatures for clients that demand a quorum.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { LedgerClient } from '../ledger/client';
import { cosignatureVerifier, cosigner, verifyCosignatures, withSignatures } from '../ledger/cosignature';
import { CheckpointCosigning } from '../ledger/cosigning';
import type { Ledger } from '../ledger/log';
import { vkeyFor } from '../ledger/note';
import { openLocalLedger } from '../ledger/open';
import { policyForSigners } from '../ledger/policy';
import { RemoteBackend } from '../ledger/remote';
import { buildLedgerServer } from '../ledger/server';
import { MemoryStateStore } from '../ledger/state';
import { checkWitnesses, parseWitnessPolicy, satisfies } from '../ledger/witness-policy';
import { assertCode, assertRejectsCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, tempDir, Words } from '../testing/fixtures';
import { buildWitnessServer } from './server';
import { FileWitnessState, MemoryWitnessState, type WitnessStateStore } from './state';
import { Witness, type EntrySource } from './witness';

const alice = generateSignerKey();
const app = digestOf('app');
const newKey = () => generateKeyPairSync('ed25519').privateKey;

async function ledgerAt(t: TestContext, name = 'ledger.db'): Promise<{ ledger: Ledger; dir: string }> {
  const dir = tempDir(t);
  const ledger = await openLocalLedger(join(dir, name));
  t.after(() => ledger.close());
  return { ledger, dir };
}

function request(old: number, proof: Buffer[], note: string): string {
  return `old ${old}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${note}`;
}

function witnessFor(
  ledger: Ledger,
  state: WitnessStateStore = new MemoryWitnessState(),
  entries?: EntrySource,
  name = 'w1.example',
  clock: () => number = Date.now,
) {
  const signer = cosigner(name, newKey());
  const witness = new Witness({
    cosigner: signer,
    logs: [ledger.info.vkey],
    state,
    ...(entries ? { entries } : {}),
    clock,
  });
  return { witness, signer, app: buildWitnessServer({ witness, logs: [ledger.info.vkey] }) };
}

describe('cosignatures (C2SP tlog-cosignature v1)', () => {
  it('sign, verify, ignore unknown keys, refuse forgeries, count duplicates once', async (t) => {
    const { ledger } = await ledgerAt(t);
    const note = (await ledger.latestCheckpoint()).note;
    const text = note.slice(0, note.lastIndexOf('\n\n') + 1);
    const w1 = cosigner('w1.example', newKey());
    const w2 = cosigner('w2.example', newKey());
    const stranger = cosigner('w1.example', newKey());
    const line = w1.sign(text, 1_700_000_000);
    const cosigned = withSignatures(note, [line, line, stranger.sign(text, 5)]);
    const found = verifyCosignatures(cosigned, [cosignatureVerifier(w1.vkey), cosignatureVerifier(w2.vkey)]);
    assert.deepEqual([...found], [[w1.vkey, 1_700_000_000]]);
    // A valid line moved onto another checkpoint text is a forgery for that text.
    const other = `${text.replace(/\n0\n/, '\n1\n')}`;
    assertCode(
      () => verifyCosignatures(`${other}\n${line}`, [cosignatureVerifier(w1.vkey)]),
      'WITNESS_INVALID',
    );
    assertCode(() => cosignatureVerifier(ledger.info.vkey), 'KEY_INVALID');
    assertCode(() => cosigner('bad name', newKey()), 'KEY_INVALID');
    assertCode(() => w1.sign(text, -1), 'KEY_INVALID');
  });
});

describe('witness policies (C2SP tlog-policy)', () => {
  const ws = [1, 2, 3].map((i) => cosigner(`w${i}.example`, newKey()));
  const text = [
    '# three companies, any two',
    ...ws.map((w, i) => `witness w${i + 1} ${w.vkey} https://w${i + 1}.example/`),
    'group companies 2 w1 w2 w3',
    'quorum companies',
  ].join('\n');

  it('parses and counts k of n', () => {
    const policy = parseWitnessPolicy(text);
    assert.equal(policy.witnesses.length, 3);
    assert.ok(satisfies(policy, 'companies', new Set(['w1', 'w3'])));
    assert.ok(!satisfies(policy, 'companies', new Set(['w2'])));
    assert.ok(satisfies(parseWitnessPolicy('quorum none'), 'none', new Set()));
  });

  it('names every malformed line', () => {
    const raw = generateKeyPairSync('ed25519')
      .publicKey.export({ format: 'der', type: 'spki' })
      .subarray(-32);
    const logKey = vkeyFor('log.example', raw);
    assert.deepEqual(parseWitnessPolicy(`log ${logKey} https://l\nquorum none`).logKeys, [logKey]);
    for (const bad of [
      'log\nquorum none',
      'log x+00000000+AA\nquorum none',
      'quorum nobody',
      'group g 2 w1',
      `witness w1 ${ws[0]!.vkey}\ngroup g 3 w1\nquorum g`,
      `witness w1 not-a-key\nquorum w1`,
      'frobnicate x\nquorum none',
      'quorum none\nquorum none',
      '',
    ]) {
      assertCode(() => parseWitnessPolicy(bad), 'CONFIG_INVALID');
    }
  });

  it('refuses a checkpoint below the quorum, and a view older than the age limit', async (t) => {
    const { ledger } = await ledgerAt(t);
    const policy = parseWitnessPolicy(
      text.replace(/(witness w\d) (\S+\+\S+\+\S+) \S+/g, (_m, a: string, b: string) => `${a} ${b}`),
    );
    const note = (await ledger.latestCheckpoint()).note;
    const body = note.slice(0, note.lastIndexOf('\n\n') + 1);
    const now = 1_800_000_000;
    const two = withSignatures(note, [ws[0]!.sign(body, now - 10), ws[2]!.sign(body, now - 4000)]);
    assert.equal(checkWitnesses(two, policy, now, 5000).quorumTime, now - 4000);
    assertCode(() => checkWitnesses(two, policy, now, 3600), 'CHECKPOINT_STALE');
    const one = withSignatures(note, [ws[0]!.sign(body, now)]);
    assertCode(() => checkWitnesses(one, policy, now, 3600), 'WITNESS_QUORUM');
    // Stripped: no cosignatures at all.
    assertCode(() => checkWitnesses(note, policy, now, 3600), 'WITNESS_QUORUM');
  });
});

describe('witness add-checkpoint: every answer of REFERENCE §7', () => {
  it('cosigns a consistent checkpoint and answers 400, 403, 404, 409 and 422 as specified', async (t) => {
    const { ledger } = await ledgerAt(t);
    const w = new Words();
    const { app: server, signer } = witnessFor(ledger);
    const post = (payload: string) =>
      server.inject({
        method: 'POST',
        url: '/add-checkpoint',
        payload,
        headers: { 'content-type': 'text/plain' },
      });
    const cp0 = await ledger.latestCheckpoint();
    const ok0 = await post(request(0, [], cp0.note));
    assert.equal(ok0.statusCode, 200, ok0.body);
    assert.match(ok0.body, new RegExp(`^\u2014 ${signer.name} `));
    await ledger.append([w.next(alice, app, 'trusted').envelope]);
    await ledger.append([w.next(alice, digestOf('b'), 'trusted').envelope]);
    const cp2 = await ledger.latestCheckpoint();
    const stale = await post(request(1, [], cp2.note));
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.body, '0\n');
    assert.equal(stale.headers['content-type'], 'text/x.tlog.size');
    const ok2 = await post(request(0, [], cp2.note));
    assert.equal(ok2.statusCode, 200, ok2.body);
    await ledger.append([w.next(alice, digestOf('c'), 'trusted').envelope]);
    await ledger.append([w.next(alice, digestOf('d'), 'trusted').envelope]);
    const cp4 = await ledger.latestCheckpoint();
    const badProof = await post(request(2, [Buffer.alloc(32, 1)], cp4.note));
    assert.equal(badProof.statusCode, 422);
    const good = await post(request(2, await ledger.consistencyProof(2, 4), cp4.note));
    assert.equal(good.statusCode, 200, good.body);
    // The same checkpoint again: a fresh cosignature (what keeps a quiet ledger fresh).
    assert.equal((await post(request(4, [], cp4.note))).statusCode, 200);
    // Rollback: an older checkpoint is refused.
    assert.equal((await post(request(4, [], cp2.note))).statusCode, 400);
    assert.equal((await post(request(2, [], cp2.note))).statusCode, 409);
    // Malformed, unknown log, wrong key.
    assert.equal((await post('nonsense')).statusCode, 400);
    assert.equal((await post(`old 0\n\n${cp4.note.replace(/\n4\n/, '\nfour\n')}`)).statusCode, 403);
    assert.equal((await post(`old 0\n\n${ledger.info.origin}\nnot a checkpoint`)).statusCode, 400);
    assert.equal((await post(`old 0\nnot-base64\n\n${cp4.note}`)).statusCode, 400);
    const stranger = await openLocalLedger(join(tempDir(t), 'other.db'));
    t.after(() => stranger.close());
    assert.equal((await post(request(0, [], (await stranger.latestCheckpoint()).note))).statusCode, 404);
    const impostor = await openLocalLedger(join(tempDir(t), 'impostor.db'), { origin: ledger.info.origin });
    t.after(() => impostor.close());
    await impostor.append([new Words().next(alice, app, 'untrusted').envelope]);
    await impostor.append([new Words().next(alice, digestOf('x'), 'untrusted').envelope]);
    await impostor.append([new Words().next(alice, digestOf('y'), 'untrusted').envelope]);
    await impostor.append([new Words().next(alice, digestOf('z'), 'untrusted').envelope]);
    assert.equal((await post(request(4, [], (await impostor.latestCheckpoint()).note))).statusCode, 403);
    const info = await server.inject({ method: 'GET', url: '/' });
    assert.match(info.body, /first three lines/);
  });

  it('answers 422 for another root at the size it cosigned (a fork), and lets only one of two racing requests win', async (t) => {
    const { ledger, dir } = await ledgerAt(t);
    const { witness } = witnessFor(ledger);
    const fork = await openLocalLedger(join(dir, 'fork.db'), {
      keyPath: join(dir, 'ledger.db.key'),
      origin: ledger.info.origin,
    });
    t.after(() => fork.close());
    await ledger.append([new Words().next(alice, app, 'trusted').envelope]);
    await fork.append([new Words().next(alice, app, 'untrusted').envelope]);
    const [a, b] = await Promise.all([
      witness.addCheckpoint(request(0, [], (await ledger.latestCheckpoint()).note)),
      witness.addCheckpoint(request(0, [], (await fork.latestCheckpoint()).note)),
    ]);
    assert.deepEqual([a.status, b.status], [200, 409]);
    const same = await witness.addCheckpoint(request(1, [], (await fork.latestCheckpoint()).note));
    assert.equal(same.status, 422);
  });

  it('keeps its state across a restart, written before it answers', async (t) => {
    const { ledger, dir } = await ledgerAt(t);
    const path = join(dir, 'witness.json');
    const first = witnessFor(ledger, new FileWitnessState(path));
    await ledger.append([new Words().next(alice, app, 'trusted').envelope]);
    assert.equal(
      (await first.witness.addCheckpoint(request(0, [], (await ledger.latestCheckpoint()).note))).status,
      200,
    );
    const again = new Witness({
      cosigner: first.signer,
      logs: [ledger.info.vkey],
      state: new FileWitnessState(path),
    });
    const r = await again.addCheckpoint(request(0, [], (await ledger.latestCheckpoint()).note));
    assert.deepEqual([r.status, r.body], [409, '1\n']);
  });

  it('with the entries, recomputes the index and refuses a checkpoint whose index root does not match', async (t) => {
    const { ledger, dir } = await ledgerAt(t);
    const w = new Words();
    await ledger.append([
      w.next(alice, app, 'trusted').envelope,
      w.next(alice, digestOf('b'), 'trusted').envelope,
    ]);
    const honest: EntrySource = async (_o, start, limit) =>
      (await ledger.entries(start, limit)).map((e) => ({ index: e.index, leaf: e.leaf }));
    const { witness } = witnessFor(ledger, new MemoryWitnessState(), honest);
    assert.equal(witness.recomputesIndex, true);
    assert.equal(
      (await witness.addCheckpoint(request(0, [], (await ledger.latestCheckpoint()).note))).status,
      200,
    );
    await ledger.append([w.next(alice, app, 'untrusted').envelope]);
    // An entries API that leaves the untrust out: the entries no longer make the log root.
    const lying: EntrySource = async (o, start, limit) =>
      (await honest(o, start, limit)).map((e) => ({
        ...e,
        leaf: e.index === 2 ? w.next(alice, digestOf('q'), 'trusted').envelope : e.leaf,
      }));
    const liar = witnessFor(ledger, new MemoryWitnessState(), lying);
    const broken: EntrySource = async () => {
      throw new Error('connection reset');
    };
    const cut = await witnessFor(ledger, new MemoryWitnessState(), broken).witness.addCheckpoint(
      request(0, [], (await ledger.latestCheckpoint()).note),
    );
    assert.deepEqual([cut.status, /cannot recompute/.test(cut.body)], [422, true]);
    const refused = await liar.witness.addCheckpoint(request(0, [], (await ledger.latestCheckpoint()).note));
    assert.equal(refused.status, 422);
    const proof = await ledger.consistencyProof(2, 3);
    assert.equal(
      (await witness.addCheckpoint(request(2, proof, (await ledger.latestCheckpoint()).note))).status,
      200,
    );
    // A checkpoint re-signed by the ledger's key with an index root that is not the entries'.
    const { signCheckpoint } = await import('../ledger/checkpoint.js');
    const { noteSigner } = await import('../ledger/note.js');
    const { readKeyFile } = await import('../ledger/keys.js');
    const latest = await ledger.latestCheckpoint();
    const root = Buffer.from(latest.note.split('\n')[2] as string, 'base64');
    const forged = signCheckpoint(
      { origin: ledger.info.origin, size: 3, rootHash: root, indexRoot: Buffer.alloc(32, 7) },
      noteSigner(ledger.info.origin, readKeyFile(join(dir, 'ledger.db.key'))),
    ).note;
    const fresh = witnessFor(ledger, new MemoryWitnessState(), honest);
    assert.equal((await fresh.witness.addCheckpoint(request(0, [], forged))).status, 422);
  });
});

/** An HTTP server on loopback for a hostile witness; `handler` decides each answer. */
async function fakeWitness(
  t: TestContext,
  handler: (body: string) => { status: number; body: string } | 'hang',
) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const a = handler(body);
      if (a === 'hang') return;
      res.writeHead(a.status);
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('a ledger server collecting cosignatures, and clients demanding a quorum', () => {
  async function fleet(t: TestContext, extra: string[] = [], clock: () => number = Date.now) {
    const { ledger } = await ledgerAt(t);
    const witnesses = await Promise.all(
      [1, 2, 3].map(async (i) => {
        const { app: server, signer } = witnessFor(
          ledger,
          new MemoryWitnessState(),
          undefined,
          `w${i}.example`,
          clock,
        );
        await server.listen({ host: '127.0.0.1', port: 0 });
        t.after(() => server.close());
        return {
          server,
          signer,
          url: `http://127.0.0.1:${(server.server.address() as { port: number }).port}`,
        };
      }),
    );
    const cosigning = new CheckpointCosigning(ledger, {
      witnesses: [...witnesses.map((w) => w.url), ...extra],
      timeoutMs: 300,
    });
    const server = buildLedgerServer({ ledger, allowedSigners: undefined, cosigning });
    await server.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => server.close());
    const url = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
    const policy = parseWitnessPolicy(
      [
        ...witnesses.map((w, i) => `witness w${i + 1} ${w.signer.vkey}`),
        'group two 2 w1 w2 w3',
        'quorum two',
      ].join('\n'),
    );
    return { ledger, witnesses, cosigning, url, policy };
  }

  it('serves the checkpoint with the quorum’s cosignatures; a client with a policy trusts it', async (t) => {
    const { cosigning, url, policy, ledger } = await fleet(t);
    const writer = new LedgerClient(new RemoteBackend(url), { state: new MemoryStateStore() });
    await writer.append([new Words().next(alice, app, 'trusted')]);
    await cosigning.round();
    const reader = new LedgerClient(new RemoteBackend(url), {
      state: new MemoryStateStore(),
      ledgerKey: ledger.info.vkey,
      witnesses: { policy, maxAgeMs: 3_600_000 },
    });
    assert.equal((await reader.verify(app, policyForSigners([alice.keyId]))).verdict.status, 'trusted');
    const served = await (await fetch(`${url}/api/v1/checkpoint`)).text();
    assert.equal(
      verifyCosignatures(
        served,
        policy.witnesses.map((w) => w.verifier),
      ).size,
      3,
    );
  });

  it('a checkpoint no quorum cosigned is refused, never trusted', async (t) => {
    const { url, policy, witnesses } = await fleet(t);
    await Promise.all(witnesses.slice(1).map((w) => w.server.close()));
    const writer = new LedgerClient(new RemoteBackend(url), { state: new MemoryStateStore() });
    await writer.append([new Words().next(alice, app, 'trusted')]);
    const reader = new LedgerClient(new RemoteBackend(url), {
      state: new MemoryStateStore(),
      witnesses: { policy, maxAgeMs: 3_600_000 },
    });
    await assertRejectsCode(() => reader.verify(app, policyForSigners([alice.keyId])), 'WITNESS_QUORUM');
  });

  it('a view older than the age limit is refused until the witnesses cosign it again', async (t) => {
    let now = Date.now();
    const { url, policy, cosigning } = await fleet(t, [], () => now);
    await cosigning.round();
    const reader = new LedgerClient(new RemoteBackend(url), {
      state: new MemoryStateStore(),
      witnesses: { policy, maxAgeMs: 60_000 },
      clock: () => now,
    });
    assert.equal((await reader.verify(app, policyForSigners([alice.keyId]))).verdict.status, 'unknown');
    now += 120_000; // the ledger froze: nothing new was cosigned for two minutes
    await assertRejectsCode(() => reader.latest({ refresh: true }), 'CHECKPOINT_STALE');
    await cosigning.round(); // a live ledger has its checkpoint cosigned again, appends or not
    assert.equal((await reader.latest({ refresh: true })).size, 0);
  });

  it('witnesses that answer garbage or hang delay nobody', async (t) => {
    const garbage = await fakeWitness(t, () => ({ status: 200, body: 'hello\n\u2014 nonsense !!!\n' }));
    const hanging = await fakeWitness(t, () => 'hang');
    const { url, policy, cosigning } = await fleet(t, [garbage, hanging]);
    const started = Date.now();
    await cosigning.round();
    assert.ok(Date.now() - started < 2000);
    const reader = new LedgerClient(new RemoteBackend(url), {
      state: new MemoryStateStore(),
      witnesses: { policy, maxAgeMs: 3_600_000 },
    });
    assert.equal((await reader.verify(app, policyForSigners([alice.keyId]))).verdict.status, 'unknown');
  });
});
