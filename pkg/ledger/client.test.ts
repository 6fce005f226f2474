import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalBackend } from './backend';
import { LedgerClient } from './client';
import { openLocalLedger } from './open';
import { policyForSigners, type TrustPolicy } from './policy';
import { RemoteBackend } from './remote';
import { buildLedgerServer } from './server';
import { FileStateStore, MemoryStateStore } from './state';
import { auditLedger } from './audit';
import { assertRejectsCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, tempDir, Words } from '../testing/fixtures';
import { isImagetrustError } from '../errors';
import type { SignedStatement } from './statement';

const alice = generateSignerKey();
const bob = generateSignerKey();
const app = digestOf('app');
const other = digestOf('other');

async function localClient(t: TestContext, path?: string) {
  const dir = path ?? tempDir(t);
  const file = join(dir, 'ledger.db');
  const ledger = await openLocalLedger(file);
  const client = new LedgerClient(new LocalBackend(ledger), {
    state: new FileStateStore(join(dir, 'state')),
  });
  t.after(() => client.close());
  return { client, ledger, file, dir };
}

/** Opens a fresh client on the same files, as a new CLI invocation would. */
async function reopen(t: TestContext, dir: string) {
  const ledger = await openLocalLedger(join(dir, 'ledger.db'));
  const client = new LedgerClient(new LocalBackend(ledger), {
    state: new FileStateStore(join(dir, 'state')),
  });
  t.after(() => client.close());
  return client;
}

const onlyAlice: TrustPolicy = policyForSigners([alice.keyId]);
const both: TrustPolicy = policyForSigners([alice.keyId, bob.keyId]);

describe('ledger client over a local ledger', () => {
  it('notarizes, verifies and follows the newest statement of an allowed signer', async (t) => {
    const w = new Words();
    const { client } = await localClient(t);
    assert.equal((await client.verify(app, onlyAlice)).verdict.status, 'unknown');
    const { indexes, checkpoint } = await client.append([w.next(alice, app, 'trusted')]);
    assert.deepEqual(indexes, [0]);
    assert.equal(checkpoint.size, 1);
    let answer = await client.verify(app, onlyAlice);
    assert.equal(answer.verdict.status, 'trusted');
    assert.equal(answer.verdict.statusCode, 0);
    assert.equal(answer.verdict.decidedBy?.index, 0);
    await client.append([w.next(alice, app, 'untrusted')]);
    answer = await client.verify(app, onlyAlice);
    assert.equal(answer.verdict.status, 'untrusted');
    assert.equal(answer.statements.length, 2);
    await client.append([w.next(alice, app, 'unsupported')]);
    assert.equal((await client.verify(app, onlyAlice)).verdict.statusCode, 3);
    assert.equal((await client.verify(other, onlyAlice)).verdict.status, 'unknown');
  });

  it('counts only allowed signers, any-of across several', async (t) => {
    const w = new Words();
    const { client } = await localClient(t);
    await client.append([w.next(bob, app, 'trusted'), w.next(alice, app, 'untrusted')]);
    assert.equal((await client.verify(app, onlyAlice)).verdict.status, 'untrusted');
    assert.equal((await client.verify(app, policyForSigners([bob.keyId]))).verdict.status, 'trusted');
    const anyOf = await client.verify(app, both);
    assert.equal(anyOf.verdict.status, 'trusted');
    assert.equal(anyOf.verdict.signer?.keyId, bob.keyId);
    assert.equal(
      (await client.verify(app, policyForSigners([generateSignerKey().keyId]))).verdict.status,
      'unknown',
    );
  });

  it('travels in time by tree size and by time, proven against the checkpoint of that moment', async (t) => {
    const w = new Words();
    const dir = tempDir(t);
    let now = Date.parse('2026-03-01T00:00:00Z');
    const ledger = await openLocalLedger(join(dir, 'ledger.db'), { clock: () => now });
    const client = new LedgerClient(new LocalBackend(ledger), { state: new MemoryStateStore() });
    t.after(() => client.close());
    now += 1000;
    await client.append([w.next(alice, app, 'trusted')]);
    now += 1000;
    await client.append([w.next(alice, other, 'trusted')]);
    now += 1000;
    await client.append([w.next(alice, app, 'untrusted')]);
    assert.equal((await client.verify(app, onlyAlice)).verdict.status, 'untrusted');
    const bySize = await client.verify(app, onlyAlice, { size: 2 });
    assert.equal(bySize.verdict.status, 'trusted');
    assert.equal(bySize.checkpoint.size, 2);
    assert.equal(bySize.latest.size, 3);
    assert.equal((await client.verify(app, onlyAlice, { size: 0 })).verdict.status, 'unknown');
    const byTime = await client.verify(app, onlyAlice, { time: Date.parse('2026-03-01T00:00:01.500Z') });
    assert.equal(byTime.checkpoint.size, 1);
    assert.equal(byTime.verdict.status, 'trusted');
    await assertRejectsCode(
      () => client.verify(app, onlyAlice, { time: Date.parse('2020-01-01T00:00:00Z') }),
      'NOT_FOUND',
    );
  });

  it('refuses statements whose signature does not verify, and stores nothing', async (t) => {
    const w = new Words();
    const { client, ledger } = await localClient(t);
    const good = w.next(alice, app, 'trusted');
    // Change the signature's first character to another one (a fixed replacement could be a no-op).
    const forged = Buffer.from(
      good.envelope
        .toString('utf8')
        .replace(/"sig":"(.)/, (_m, c: string) => `"sig":"${c === 'A' ? 'B' : 'A'}`),
    );
    await assertRejectsCode(() => ledger.append([forged]), 'STATEMENT_INVALID');
    await assertRejectsCode(() => ledger.append([Buffer.from('{not json')]), 'STATEMENT_INVALID');
    await assertRejectsCode(() => ledger.append([good.envelope, Buffer.from('[]')]), 'STATEMENT_INVALID');
    assert.equal((await ledger.latestCheckpoint()).size, 0);
    assert.equal((await client.verify(app, onlyAlice)).verdict.status, 'unknown');
  });

  it('audits a healthy ledger clean', async (t) => {
    const w = new Words();
    const { client, ledger } = await localClient(t);
    for (let i = 0; i < 9; i++) await client.append([w.next(alice, digestOf(`img${i}`), 'trusted')]);
    await client.append([1, 2, 3].map((i) => w.next(bob, digestOf(`b${i}`), 'trusted')));
    const progress: number[] = [];
    const report = await auditLedger(ledger, { pageSize: 4, onProgress: (done) => progress.push(done) });
    assert.deepEqual(report.problems, []);
    assert.equal(report.treeSize, 12);
    assert.equal(report.checkpoints, 11);
    assert.deepEqual(progress, [4, 8, 12]);
  });
});

/** A notarized ledger with some history, verified once so the client keeps its checkpoint. */
async function notarized(t: TestContext) {
  const w = new Words();
  const { client, dir, file, ledger } = await localClient(t);
  await client.append([w.next(alice, other, 'trusted')]);
  await client.append([w.next(alice, app, 'trusted')]);
  await client.append([w.next(alice, digestOf('x'), 'trusted')]);
  await client.append([w.next(alice, app, 'untrusted')]);
  await client.append([w.next(alice, digestOf('y'), 'trusted')]);
  assert.equal((await client.verify(app, onlyAlice)).verdict.status, 'untrusted');
  await ledger.close();
  const db = new Database(file);
  t.after(() => db.close());
  return { dir, db };
}

async function assertCompromised(t: TestContext, dir: string, fresh = false): Promise<void> {
  let client: LedgerClient;
  try {
    client = fresh ? (await localClient(t, tempDirWith(t, dir))).client : await reopen(t, dir);
  } catch (err) {
    assert.ok(isImagetrustError(err) && err.compromised, `expected a compromise error, got ${String(err)}`);
    return;
  }
  try {
    const answer = await client.verify(app, onlyAlice);
    assert.fail(`tampered ledger answered ${answer.verdict.status}`);
  } catch (err) {
    assert.ok(isImagetrustError(err), String(err));
    assert.ok(err.compromised, `expected a compromise error, got ${err.code}: ${err.message}`);
  }
}

/** The same ledger files with no client state: a first-time client. */
function tempDirWith(t: TestContext, dir: string): string {
  const fresh = tempDir(t);
  for (const f of ['ledger.db', 'ledger.db-wal', 'ledger.db.key']) {
    if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(fresh, f));
  }
  return fresh;
}

describe('a ledger file edited by hand is reported compromised, never trusted', () => {
  it('a statement status flipped', async (t) => {
    const { dir, db } = await notarized(t);
    const row = db.prepare('SELECT leaf FROM entries WHERE idx = 3').get() as { leaf: Buffer };
    const env = JSON.parse(row.leaf.toString()) as { payload: string };
    const payload = Buffer.from(env.payload, 'base64').toString().replace('"untrusted"', '"trusted"');
    const flipped = JSON.stringify({ ...env, payload: Buffer.from(payload).toString('base64') });
    db.prepare('UPDATE entries SET leaf = ? WHERE idx = 3').run(Buffer.from(flipped));
    await assertCompromised(t, dir);
  });

  it('a row deleted', async (t) => {
    const { dir, db } = await notarized(t);
    db.prepare('DELETE FROM entries WHERE idx = 3').run();
    await assertCompromised(t, dir);
    await assertCompromised(t, dir, true);
  });

  it('rows reordered', async (t) => {
    const { dir, db } = await notarized(t);
    const a = db.prepare('SELECT leaf, digest FROM entries WHERE idx = 1').get() as {
      leaf: Buffer;
      digest: string;
    };
    const b = db.prepare('SELECT leaf, digest FROM entries WHERE idx = 3').get() as {
      leaf: Buffer;
      digest: string;
    };
    db.prepare('UPDATE entries SET leaf = ?, digest = ? WHERE idx = 1').run(b.leaf, b.digest);
    db.prepare('UPDATE entries SET leaf = ?, digest = ? WHERE idx = 3').run(a.leaf, a.digest);
    await assertCompromised(t, dir);
    await assertCompromised(t, dir, true);
  });

  it('the last rows truncated', async (t) => {
    const { dir, db } = await notarized(t);
    db.prepare('DELETE FROM entries WHERE idx >= 3').run();
    await assertCompromised(t, dir);
    await assertCompromised(t, dir, true);
  });

  it('the last rows truncated together with their nodes and checkpoints (a rollback)', async (t) => {
    const { dir, db } = await notarized(t);
    db.prepare('DELETE FROM entries WHERE idx >= 3').run();
    db.prepare(
      'DELETE FROM nodes WHERE (level = 0 AND idx >= 3) OR (level = 1 AND idx >= 1) OR level >= 2',
    ).run();
    db.prepare('DELETE FROM checkpoints WHERE size > 3').run();
    await assertCompromised(t, dir);
  });

  it('a checkpoint replaced by an older one, by garbage, or by one signed with another key', async (t) => {
    const { dir, db } = await notarized(t);
    const older = (db.prepare('SELECT note FROM checkpoints WHERE size = 2').get() as { note: string }).note;
    db.prepare('UPDATE checkpoints SET note = ? WHERE size = 5').run(older);
    await assertCompromised(t, dir);
    await assertCompromised(t, dir, true);
    db.prepare('UPDATE checkpoints SET note = ? WHERE size = 5').run('garbage\n\n\u2014 x AAAA\n');
    await assertCompromised(t, dir);
    const stranger = await openLocalLedger(join(tempDir(t), 'other.db'), {
      origin: (db.prepare("SELECT value FROM meta WHERE key = 'origin'").get() as { value: string }).value,
    });
    const strangerNote = (await stranger.latestCheckpoint()).note;
    await stranger.close();
    db.prepare('UPDATE checkpoints SET note = ? WHERE size = 5').run(strangerNote);
    await assertCompromised(t, dir);
  });

  it('a tree node rewritten', async (t) => {
    const { dir, db } = await notarized(t);
    db.prepare('UPDATE nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 1').run();
    await assertCompromised(t, dir);
  });
});

describe('ledger server and remote client', () => {
  async function serve(t: TestContext) {
    const dir = tempDir(t);
    const ledger = await openLocalLedger(join(dir, 'served.db'));
    const server = buildLedgerServer({ ledger, allowedSigners: undefined });
    await server.listen({ host: '127.0.0.1', port: 0 });
    t.after(async () => {
      await server.close();
      await ledger.close();
    });
    const address = server.server.address() as { port: number };
    return { url: `http://127.0.0.1:${address.port}`, ledger, server, dir };
  }

  it('serves lookups, appends and consistency proofs to a second client', async (t) => {
    const w = new Words();
    const { url } = await serve(t);
    const writer = new LedgerClient(new RemoteBackend(url), { state: new MemoryStateStore() });
    const reader = new LedgerClient(new RemoteBackend(url), { state: new MemoryStateStore() });
    await writer.append([w.next(alice, app, 'trusted')]);
    assert.equal((await reader.verify(app, onlyAlice)).verdict.status, 'trusted');
    await writer.append([w.next(alice, app, 'untrusted'), w.next(bob, app, 'trusted')]);
    assert.equal((await reader.verify(app, onlyAlice)).verdict.status, 'untrusted');
    assert.equal((await reader.verify(app, both)).verdict.status, 'trusted');
    assert.equal((await reader.verify(app, onlyAlice, { size: 1 })).verdict.status, 'trusted');
  });

  it('a server that rewrites its history is refused with both checkpoints as evidence', async (t) => {
    const w = new Words();
    const { url, ledger, dir } = await serve(t);
    const state = new MemoryStateStore();
    const client = new LedgerClient(new RemoteBackend(url), { state });
    await client.append([w.next(alice, app, 'untrusted')]);
    await client.append([w.next(alice, other, 'trusted')]);
    assert.equal((await client.verify(app, onlyAlice)).verdict.status, 'untrusted');

    // The operator rebuilds the ledger with the same key and origin but a different past.
    const key = join(dir, 'served.db.key');
    const w2 = new Words();
    const forked = await openLocalLedger(join(dir, 'forked.db'), {
      keyPath: key,
      origin: ledger.info.origin,
    });
    await forked.append([w2.next(alice, app, 'trusted').envelope]);
    await forked.append([w2.next(alice, other, 'trusted').envelope]);
    await forked.append([w2.next(alice, digestOf('z'), 'trusted').envelope]);
    const forkServer = buildLedgerServer({ ledger: forked, allowedSigners: undefined });
    await forkServer.listen({ host: '127.0.0.1', port: 0 });
    t.after(async () => {
      await forkServer.close();
      await forked.close();
    });
    const forkUrl = `http://127.0.0.1:${(forkServer.server.address() as { port: number }).port}`;
    const fooled = new LedgerClient(new RemoteBackend(forkUrl), { state });
    const err = await assertRejectsCode(() => fooled.verify(app, onlyAlice), 'LEDGER_INCONSISTENT');
    assert.match(String(err.details?.trusted), /\n2\n/);
    assert.match(String(err.details?.presented), /\n3\n/);
  });

  it('garbage and silence from a server are typed errors', async (t) => {
    const garbage = buildLedgerServer({ ledger: (await serve(t)).ledger, allowedSigners: undefined });
    garbage.get('/nonsense', async () => 'x');
    const http = await import('node:http');
    const bogus = http.createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/ledger')) res.end('{"origin": 5}');
      else res.end('not json at all');
    });
    await new Promise<void>((r) => bogus.listen(0, '127.0.0.1', r));
    t.after(() => bogus.close());
    const port = (bogus.address() as { port: number }).port;
    const client = new LedgerClient(new RemoteBackend(`http://127.0.0.1:${port}`), {
      state: new MemoryStateStore(),
    });
    await assertRejectsCode(() => client.verify(app, onlyAlice), 'LEDGER_BAD_RESPONSE');
    const dead = new LedgerClient(new RemoteBackend('http://127.0.0.1:9'), { state: new MemoryStateStore() });
    await assertRejectsCode(() => dead.verify(app, onlyAlice), 'LEDGER_UNREACHABLE');
  });

  it('accepts appends only from allowed signers when told to, storing nothing else', async (t) => {
    const w = new Words();
    const ledger = await openLocalLedger(join(tempDir(t), 'allow.db'));
    t.after(() => ledger.close());
    const server = buildLedgerServer({ ledger, allowedSigners: new Set([alice.keyId]) });
    const post = (s: SignedStatement) =>
      server.inject({
        method: 'POST',
        url: '/api/v1/statements',
        payload: { statements: [s.envelope.toString('base64')] },
      });
    const refused = await post(w.next(bob, app, 'trusted'));
    assert.equal(refused.statusCode, 403);
    assert.match(refused.body, /may not append/);
    assert.equal((await ledger.latestCheckpoint()).size, 0);
    assert.equal((await post(w.next(alice, app, 'trusted'))).statusCode, 200);
    assert.equal((await ledger.latestCheckpoint()).size, 1);
  });

  it('rejects bad parameters with 400 and the field named', async (t) => {
    const { server } = await serve(t);
    const res = await server.inject({ method: 'GET', url: '/api/v1/proof/consistency?first=x&second=1' });
    assert.equal(res.statusCode, 400);
    assert.match(res.body, /first/);
    const bad = await server.inject({ method: 'GET', url: `/api/v1/lookup/sha256:zz/${alice.keyId}` });
    assert.equal(bad.statusCode, 400);
    const post = await server.inject({
      method: 'POST',
      url: '/api/v1/statements',
      payload: { statements: [5] },
    });
    assert.equal(post.statusCode, 400);
    const forged = await server.inject({
      method: 'POST',
      url: '/api/v1/statements',
      payload: { statements: ['e30='] },
    });
    assert.equal(forged.statusCode, 400);
    assert.match(forged.body, /STATEMENT_INVALID/);
  });
});

describe('several processes sharing one state', () => {
  it('an answer overtaken by another process is a proven prefix, not a rollback', async (t) => {
    const w = new Words();
    const dir = tempDir(t);
    const a = await reopen(t, dir);
    const b = await reopen(t, dir);
    const first = await a.append([w.next(alice, app, 'trusted')]);
    await b.append([w.next(alice, other, 'trusted')]);
    // `a` now presents the checkpoint it got for its own append, which `b` has overtaken.
    const { checkpoint, behind } = await a.accept(first.checkpoint.note);
    assert.equal(checkpoint.size, 1);
    assert.equal(behind, true);
    assert.equal((await a.verify(other, onlyAlice)).verdict.status, 'trusted');
  });
});
