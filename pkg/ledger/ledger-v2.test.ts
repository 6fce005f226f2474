// The attacks the format 2 ledger exists for: replays after an untrust, floods from other keys,
// lookups that leave statements out, hand-edited index columns and pages, a ledger operator who
// signs an index that does not match its log, and the upgrade of a 0.1 ledger file.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { audit, auditLedger, remoteAuditSource } from './audit';
import { LocalBackend, type LedgerBackend } from './backend';
import { signCheckpoint } from './checkpoint';
import { LedgerClient } from './client';
import { indexKey } from './index-proof';
import { MemoryIndex } from './index-tree';
import { readKeyFile } from './keys';
import type { KeyLookup, Ledger, LookupOptions } from './log';
import { hashLeaf } from './merkle';
import { noteSigner } from './note';
import { openBackend, openLocalLedger } from './open';
import { advanceKey } from './ordering';
import { policyForSigners } from './policy';
import { SignerRateLimiter } from './rate-limit';
import { RemoteBackend } from './remote';
import { buildLedgerServer } from './server';
import { MemoryStateStore } from './state';
import { openStatement, type ImageDigest } from './statement';
import { upgradeLedger } from './upgrade';
import { isImagetrustError } from '../errors';
import { assertRejectsCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, tempDir, Words } from '../testing/fixtures';
import { v1Statement, writeV1Ledger } from '../testing/legacy';

const alice = generateSignerKey();
const app = digestOf('app');
const onlyAlice = policyForSigners([alice.keyId]);

async function ledgerWithUntrust(t: TestContext) {
  const dir = tempDir(t);
  const file = join(dir, 'ledger.db');
  const ledger = await openLocalLedger(file);
  const w = new Words();
  const trusted = w.next(alice, app, 'trusted');
  await ledger.append([trusted.envelope]);
  await ledger.append([w.next(alice, digestOf('other'), 'trusted').envelope]);
  await ledger.append([w.next(alice, app, 'untrusted').envelope]);
  const client = new LedgerClient(new LocalBackend(ledger), { state: new MemoryStateStore() });
  t.after(() => client.close());
  return { dir, file, ledger, client, trusted, w };
}

/** The same signed statement re-wrapped as an attacker could: other JSON, URL-safe base64. */
function reencodings(envelope: Buffer): Buffer[] {
  const env = JSON.parse(envelope.toString()) as {
    payloadType: string;
    payload: string;
    signatures: { sig: string }[];
  };
  const urlSafe = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return [
    envelope,
    Buffer.from(
      JSON.stringify(
        { signatures: env.signatures, payloadType: env.payloadType, payload: env.payload },
        null,
        1,
      ),
    ),
    Buffer.from(
      JSON.stringify({
        ...env,
        payload: urlSafe(env.payload),
        signatures: env.signatures.map((s) => ({ ...s, sig: urlSafe(s.sig) })),
      }),
    ),
  ];
}

describe('replays after an untrust are never trusted', () => {
  it('ledger serve refuses every re-encoding of the old statement with 409', async (t) => {
    const { ledger, trusted } = await ledgerWithUntrust(t);
    const server = buildLedgerServer({ ledger, allowedSigners: new Set([alice.keyId]) });
    for (const bytes of reencodings(trusted.envelope)) {
      const res = await server.inject({
        method: 'POST',
        url: '/api/v1/statements',
        payload: { statements: [bytes.toString('base64')] },
      });
      assert.equal(res.statusCode, 409, res.body);
      assert.match(res.body, /LEDGER_CONFLICT/);
    }
    assert.equal((await ledger.latestCheckpoint()).size, 3);
  });

  it('a ledger that logs the replays anyway still answers untrusted', async (t) => {
    const { ledger, client, trusted } = await ledgerWithUntrust(t);
    // A hostile ledger skips the order check: the replays are logged and indexed.
    for (const bytes of reencodings(trusted.envelope))
      await ledger.appendOpened([openStatement(bytes)], false, Date.now());
    const answer = await client.verify(app, onlyAlice);
    assert.equal(answer.statements.length, 5);
    assert.equal(answer.verdict.status, 'untrusted');
    const report = await auditLedger(ledger);
    assert.equal(report.problems.filter((p) => /should have refused/.test(p)).length, 3);
  });

  it('an out-of-order or skipping statement is refused by the ledger', async (t) => {
    const { ledger, w } = await ledgerWithUntrust(t);
    const skip = new Words();
    skip.next(alice, app, 'trusted');
    await assertRejectsCode(
      () => ledger.append([skip.next(alice, app, 'trusted').envelope]),
      'LEDGER_CONFLICT',
    );
    w.next(alice, app, 'trusted'); // sequence 3 signed but never sent
    await assertRejectsCode(() => ledger.append([w.next(alice, app, 'trusted').envelope]), 'LEDGER_CONFLICT');
    await assertRejectsCode(
      () => ledger.append([v1Statement(alice, app, 'trusted', '2030-01-01T00:00:00Z')]),
      'STATEMENT_INVALID',
    );
  });
});

describe('tree sizes a lookup may name', () => {
  it('refuses a size past the latest checkpoint, before and after the ledger grows', async (t) => {
    const { ledger, w } = await ledgerWithUntrust(t);
    assert.equal((await ledger.lookup(alice.keyId, app, 3)).entries.length, 2);
    assert.equal((await ledger.lookup(alice.keyId, app, 1)).entries.length, 1);
    for (const size of [4, -1, 1.5, Number.NaN]) {
      await assertRejectsCode(() => ledger.lookup(alice.keyId, app, size), 'BAD_REQUEST');
    }
    await ledger.append([w.next(alice, app, 'trusted').envelope]);
    assert.equal((await ledger.lookup(alice.keyId, app, 4)).entries.length, 3);
    await assertRejectsCode(() => ledger.lookup(alice.keyId, app, 5), 'BAD_REQUEST');
    await assertRejectsCode(() => ledger.consistencyProof(1, 5), 'BAD_REQUEST');
  });
});

describe('a flood from other keys', () => {
  it('does not reach an allowed signer’s lookup, and per-key limits hold', async (t) => {
    const { ledger, client } = await ledgerWithUntrust(t);
    const flood = new Words();
    const keys = Array.from({ length: 50 }, () => generateSignerKey());
    for (let round = 0; round < 4; round++) {
      await ledger.append(keys.map((k) => flood.next(k, app, 'trusted').envelope));
    }
    const answer = await client.verify(app, onlyAlice);
    assert.equal(answer.verdict.status, 'untrusted');
    assert.equal(answer.statements.length, 2);
    assert.ok(answer.statements.every((s) => s.statement.signer === alice.keyId));
    const noisy = keys[0]!;
    await assertRejectsCode(
      () => ledger.append([flood.next(noisy, app, 'trusted').envelope], { maxPerKey: 4 }),
      'LIMIT_EXCEEDED',
    );
  });

  it('ledger serve charges each signer its budget', async (t) => {
    const { ledger } = await ledgerWithUntrust(t);
    let now = 0;
    const server = buildLedgerServer({
      ledger,
      allowedSigners: undefined,
      rateLimiter: new SignerRateLimiter({ perSecond: 1, burst: 2, clock: () => now }),
    });
    const w = new Words();
    const mallory = generateSignerKey();
    const post = (n: number) =>
      server.inject({
        method: 'POST',
        url: '/api/v1/statements',
        payload: {
          statements: Array.from({ length: n }, (_, i) =>
            w.next(mallory, digestOf(`m${now}-${i}`), 'trusted').envelope.toString('base64'),
          ),
        },
      });
    assert.equal((await post(2)).statusCode, 200);
    assert.equal((await post(1)).statusCode, 429);
    now += 1000;
    assert.equal((await post(1)).statusCode, 200);
  });
});

/** A backend that leaves statements out of its answers, as a hostile ledger would. */
class OmittingBackend implements LedgerBackend {
  constructor(
    private readonly inner: LedgerBackend,
    private readonly change: (l: KeyLookup) => KeyLookup,
  ) {}
  get location() {
    return this.inner.location;
  }
  info = () => this.inner.info();
  latestCheckpoint = () => this.inner.latestCheckpoint();
  checkpoint = (q: Parameters<LedgerBackend['checkpoint']>[0]) => this.inner.checkpoint(q);
  consistencyProof = (a: number, b: number) => this.inner.consistencyProof(a, b);
  append = (e: Buffer[]) => this.inner.append(e);
  entries = (s: number, l: number) => this.inner.entries(s, l);
  checkpoints = (s: number, l: number) => this.inner.checkpoints(s, l);
  close = () => this.inner.close();
  async lookup(
    signer: string,
    digest: ImageDigest,
    size: number,
    options?: LookupOptions,
  ): Promise<KeyLookup> {
    return this.change(await this.inner.lookup(signer, digest, size, options));
  }
}

describe('a lookup that leaves a statement out is refused', () => {
  const cases: [string, (l: KeyLookup) => KeyLookup, string][] = [
    ['drops the newest statement', (l) => ({ ...l, entries: l.entries.slice(0, -1) }), 'PROOF_INVALID'],
    ['drops the digest entirely', (l) => ({ ...l, entries: [] }), 'PROOF_INVALID'],
    ['claims the key is absent', (l) => ({ ...l, entries: [], proof: { steps: [] } }), 'PROOF_INVALID'],
    ['reorders the entries', (l) => ({ ...l, entries: [...l.entries].reverse() }), 'PROOF_INVALID'],
    [
      'shortens an index proof',
      (l) => ({ ...l, proof: { ...l.proof, steps: l.proof.steps.slice(1) } }),
      'PROOF_INVALID',
    ],
    [
      'lengthens an inclusion proof',
      (l) => ({ ...l, entries: l.entries.map((e) => ({ ...e, proof: [...e.proof, Buffer.alloc(32)] })) }),
      'PROOF_INVALID',
    ],
  ];
  for (const [name, change, code] of cases) {
    it(name, async (t) => {
      const { ledger } = await ledgerWithUntrust(t);
      const client = new LedgerClient(new OmittingBackend(new LocalBackend(ledger), change), {
        state: new MemoryStateStore(),
      });
      await assertRejectsCode(() => client.verify(app, onlyAlice), code as 'PROOF_INVALID');
    });
  }
});

describe('a ledger operator who signs an index that does not match the log', () => {
  it('is caught by a client that trusted an earlier checkpoint (the index must only grow)', async (t) => {
    const { ledger, dir } = await ledgerWithUntrust(t);
    const state = new MemoryStateStore();
    const honest = new LedgerClient(new LocalBackend(ledger), { state });
    assert.equal((await honest.verify(app, onlyAlice)).verdict.status, 'untrusted');
    // The operator appends one more entry and signs a checkpoint whose index leaves out the untrust.
    await ledger.append([new Words().next(alice, digestOf('third'), 'trusted').envelope]);
    const forged = await forgedIndexBackend(ledger, join(dir, 'ledger.db.key'), 2);
    const fooled = new LedgerClient(forged, { state });
    await assertRejectsCode(() => fooled.verify(app, onlyAlice), 'LEDGER_INCONSISTENT');
  });

  it('is caught when it re-signs a size the client holds with another index root', async (t) => {
    const { ledger, dir } = await ledgerWithUntrust(t);
    const state = new MemoryStateStore();
    assert.equal(
      (await new LedgerClient(new LocalBackend(ledger), { state }).verify(app, onlyAlice)).verdict.status,
      'untrusted',
    );
    const forged = await forgedIndexBackend(ledger, join(dir, 'ledger.db.key'), 2);
    await assertRejectsCode(
      () => new LedgerClient(forged, { state }).verify(app, onlyAlice),
      'LEDGER_INCONSISTENT',
    );
  });
});

/**
 * The latest checkpoint re-signed with the ledger's own key over an index built without the
 * entry at `omit`; lookups answered from that index. What a dishonest operator could serve.
 */
async function forgedIndexBackend(ledger: Ledger, keyPath: string, omit: number): Promise<LedgerBackend> {
  const inner = new LocalBackend(ledger);
  const latest = await ledger.latestCheckpoint();
  const entries = await ledger.store.entries(0, latest.size);
  const index = new MemoryIndex();
  const kept = entries.filter((e) => e.index !== omit);
  index.update(
    kept.map((e) => {
      const o = openStatement(e.leaf);
      return {
        key: indexKey(o.statement.signer, o.statement.digest),
        apply: (old) =>
          advanceKey(
            old,
            { index: e.index, leafHash: hashLeaf(e.leaf), id: o.id, statement: o.statement },
            false,
          ),
      };
    }),
  );
  const body = latest.note.slice(0, latest.note.indexOf('\n'));
  const rootLine = latest.note.split('\n')[2] as string;
  const note = signCheckpoint(
    { origin: body, size: latest.size, rootHash: Buffer.from(rootLine, 'base64'), indexRoot: index.rootHash },
    noteSigner(body, readKeyFile(keyPath)),
  ).note;
  const backend = new OmittingBackend(inner, (l) => l);
  return Object.assign(backend, {
    latestCheckpoint: async () => note,
    lookup: async (
      signer: string,
      digest: ImageDigest,
      size: number,
      options?: LookupOptions,
    ): Promise<KeyLookup> => {
      const real = await inner.lookup(signer, digest, size, options);
      const key = indexKey(signer, digest);
      return {
        ...real,
        proof: size === latest.size ? index.prove(key) : real.proof,
        entries: real.entries.filter((e) => e.index !== omit),
      };
    },
  });
}

async function notarizedFile(t: TestContext) {
  const { dir, file, ledger } = await ledgerWithUntrust(t);
  await ledger.close();
  const db = new Database(file);
  t.after(() => db.close());
  const reopen = async () => {
    const l = await openLocalLedger(file);
    const client = new LedgerClient(new LocalBackend(l), { state: new MemoryStateStore() });
    t.after(() => client.close());
    return { ledger: l, client };
  };
  return { dir, db, reopen };
}

async function assertNeverTrusted(client: LedgerClient): Promise<void> {
  try {
    const answer = await client.verify(app, onlyAlice);
    assert.notEqual(answer.verdict.status, 'trusted');
  } catch (err) {
    assert.ok(isImagetrustError(err) && err.compromised, `expected a compromise error, got ${String(err)}`);
  }
}

describe('a ledger file whose index was edited by hand is never trusted and fails its audit', () => {
  const edits: [string, string][] = [
    [
      'the index key column of the untrust moved to another key',
      `UPDATE entries SET ikey = zeroblob(32) WHERE idx = 2`,
    ],
    [
      'the digest column of the untrust changed',
      `UPDATE entries SET digest = 'sha256:${'0'.repeat(64)}' WHERE idx = 2`,
    ],
    ['an index leaf count lowered', 'UPDATE index_leaves SET count = count - 1 WHERE count = 2'],
    ['an index leaf chain replaced', 'UPDATE index_leaves SET chain = zeroblob(32) WHERE count = 2'],
    ['an index leaf deleted', 'DELETE FROM index_leaves WHERE count = 2'],
    ['an inner node hash changed', 'UPDATE index_nodes SET left_hash = zeroblob(32)'],
    ['the index root replaced', 'UPDATE index_heads SET root_hash = zeroblob(32) WHERE size = 3'],
  ];
  for (const [name, sql] of edits) {
    it(name, async (t) => {
      const { db, reopen } = await notarizedFile(t);
      db.prepare(sql).run();
      const { ledger, client } = await reopen();
      await assertNeverTrusted(client);
      const report = await auditLedger(ledger);
      assert.ok(report.problems.length > 0, `audit found nothing after: ${sql}`);
    });
  }

  it('a flipped byte in the index b-tree page of the entries', async (t) => {
    const { db, reopen, dir } = await notarizedFile(t);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const page = (
      db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'entries_by_key'").get() as {
        rootpage: number;
      }
    ).rootpage;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const fd = openSync(join(dir, 'ledger.db'), 'r+');
    const buf = Buffer.alloc(pageSize);
    readSync(fd, buf, 0, pageSize, (page - 1) * pageSize);
    // Flip bytes in the cell content at the end of the page (where the keys live).
    for (let i = pageSize - 40; i < pageSize - 8; i++) buf[i] = (buf[i] as number) ^ 0x01;
    writeSync(fd, buf, 0, pageSize, (page - 1) * pageSize);
    closeSync(fd);
    const { ledger, client } = await reopen();
    await assertNeverTrusted(client);
    const report = await auditLedger(ledger);
    assert.ok(
      report.problems.some((p) => /SQLite/.test(p)),
      report.problems.join('\n'),
    );
  });
});

describe('ledger upgrade from imagetrust 0.1', () => {
  it('refuses to open a 0.1 file, then rebuilds it with its index, audits it and keeps the old file', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ledger.db');
    const trusted = v1Statement(alice, app, 'trusted', '2026-01-01T00:00:00Z');
    writeV1Ledger(file, [
      [{ digest: app, envelope: trusted }],
      [{ digest: app, envelope: v1Statement(alice, app, 'untrusted', '2026-02-01T00:00:00Z') }],
      // The 0.1 replay: the old trusted envelope logged again.
      [
        { digest: app, envelope: trusted },
        {
          digest: digestOf('b'),
          envelope: v1Statement(alice, digestOf('b'), 'trusted', '2026-02-02T00:00:00Z'),
        },
      ],
    ]);
    await assertRejectsCode(() => openLocalLedger(file), 'LEDGER_UPGRADE_NEEDED');
    const result = await upgradeLedger(file);
    assert.equal(result.entries, 4);
    assert.equal(result.checkpoints, 4);
    assert.deepEqual(result.audit.problems, []);
    assert.ok(existsSync(result.backup));
    const ledger = await openLocalLedger(file);
    const client = new LedgerClient(new LocalBackend(ledger), { state: new MemoryStateStore() });
    t.after(() => client.close());
    assert.equal((await client.verify(app, onlyAlice)).verdict.status, 'untrusted');
    assert.equal((await client.verify(app, onlyAlice, { size: 1 })).verdict.status, 'trusted');
    assert.equal((await client.verify(digestOf('b'), onlyAlice)).verdict.status, 'trusted');
    // The signer's next word continues from its 0.1 history.
    const next = await client.nextWord(alice.keyId, app);
    assert.equal(next.sequence, 1);
    await assertRejectsCode(() => upgradeLedger(file), 'USAGE');
  });
});

describe('lookups are bounded and paged', () => {
  it('a client follows the pages of a long history over HTTP, and a page never exceeds the limit', async (t) => {
    const { ledger } = await ledgerWithUntrust(t);
    const w = new Words();
    const long = digestOf('long');
    const batch = Array.from(
      { length: 1205 },
      (_, i) => w.next(alice, long, i % 2 === 0 ? 'trusted' : 'untrusted').envelope,
    );
    for (let i = 0; i < batch.length; i += 500) await ledger.append(batch.slice(i, i + 500));
    const server = buildLedgerServer({ ledger, allowedSigners: undefined });
    await server.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => server.close());
    const url = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
    const page = await server.inject({
      method: 'GET',
      url: `/api/v1/lookup/${long}/${alice.keyId}?limit=5000`,
    });
    assert.equal(JSON.parse(page.body).entries.length, 1000);
    const client = new LedgerClient(new RemoteBackend(url), { state: new MemoryStateStore() });
    const answer = await client.verify(long, onlyAlice);
    assert.equal(answer.statements.length, 1205);
    assert.equal(answer.verdict.status, 'trusted'); // sequence 1205 is a trust (i = 1204 is even)
  });
});

describe('ledger locations', () => {
  it('refuses a URL of an unknown scheme instead of creating a file named after it', async (t) => {
    const dir = tempDir(t);
    const cwd = process.cwd();
    process.chdir(dir);
    t.after(() => process.chdir(cwd));
    for (const location of ['mysql://imagetrust@127.0.0.1/ledger', 'file:ledger.db', 'sqlite:///x.db']) {
      await assertRejectsCode(() => openBackend(location), 'USAGE');
    }
    // A postgres:// URL is a PostgreSQL ledger: with no server there, it is unreachable, not a path.
    await assertRejectsCode(
      () => openBackend('postgres://imagetrust@127.0.0.1:1/ledger'),
      'STORE_UNREACHABLE',
    );
    for (const made of ['mysql:', 'postgres:', 'file:ledger.db', 'sqlite:'])
      assert.equal(existsSync(join(dir, made)), false, made);
    assert.ok((await openBackend(join(dir, 'plain.db'))) instanceof LocalBackend);
  });
});

describe('remote audit', () => {
  it('recomputes log and index over the API, page by page', async (t) => {
    const { ledger } = await ledgerWithUntrust(t);
    const server = buildLedgerServer({ ledger, allowedSigners: undefined });
    await server.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => server.close());
    const url = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
    const report = await audit(await remoteAuditSource(new RemoteBackend(url)), { pageSize: 2 });
    assert.deepEqual(report.problems, []);
    assert.equal(report.entries, 3);
    assert.equal(report.indexKeys, 2);
  });
});
