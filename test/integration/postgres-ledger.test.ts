// The ledger on a real PostgreSQL server: the same checkpoints as the SQLite store for the
// same statements, verified lookups, two `ledger serve` on one database taking appends from
// eight signers while one of them is killed, `ledger copy` from a file, and bad input
// (wrong password, a database that is not imagetrust's, a newer schema, an unknown scheme)
// refused with a clear error and nothing written.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LocalBackend } from '../../pkg/ledger/backend';
import { LedgerClient } from '../../pkg/ledger/client';
import { auditLedger } from '../../pkg/ledger/audit';
import { openLocalLedger } from '../../pkg/ledger/open';
import { policyForSigners } from '../../pkg/ledger/policy';
import { MemoryStateStore } from '../../pkg/ledger/state';
import { openStatement } from '../../pkg/ledger/statement';
import { verifiedSearch } from '../../pkg/ledger/search';
import { digestOf, generateSignerKey, Words } from '../../pkg/testing/fixtures';
import { isImagetrustError } from '../../pkg/errors';
import { BIN, cliFor } from './harness/cli';
import { freePort, startBackground, waitFor, type Background } from './harness/process';
import { startPostgres, type Postgres } from './harness/postgres';

const NO_ENGINE = 'unix:///nonexistent/docker.sock';
let pg: Postgres;
let work: string;

before(async () => {
  pg = await startPostgres();
  work = mkdtempSync('/tmp/itd-pgledger-');
});

after(async () => {
  await pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the PostgreSQL ledger store', () => {
  it('signs exactly the checkpoints the SQLite store signs, and its lookups verify', async () => {
    const url = await pg.database('same_as_sqlite');
    const file = join(work, 'same.sqlite');
    const clock = () => Date.parse('2026-12-01T00:00:00Z');
    const sqlite = await openLocalLedger(file, { clock, origin: 'example.org/fleet' });
    copyFileSync(`${file}.key`, join(work, 'same.key'));
    const postgres = await openLocalLedger(url, {
      keyPath: join(work, 'same.key'),
      clock,
      origin: 'example.org/fleet',
    });
    assert.equal(postgres.info.vkey, sqlite.info.vkey);
    const alice = generateSignerKey();
    const bob = generateSignerKey();
    const w = new Words();
    for (let batch = 0; batch < 12; batch += 1) {
      const statements = Array.from({ length: 1 + (batch % 5) * 7 }, (_, i) =>
        w.next(
          i % 3 === 0 ? bob : alice,
          digestOf(`image-${(batch * 31 + i) % 23}`),
          i % 4 === 0 ? 'untrusted' : 'trusted',
          { attributes: { 'ci.job': String(batch), note: `long ${'x'.repeat(3000 + i)}` } },
        ),
      );
      const envelopes = statements.map((s) => s.envelope);
      const a = await sqlite.append(envelopes);
      const b = await postgres.append(envelopes);
      assert.equal(b.checkpoint.note, a.checkpoint.note, `batch ${batch}`);
    }
    const client = new LedgerClient(new LocalBackend(postgres), {
      state: new MemoryStateStore(),
      ledgerKey: postgres.info.vkey,
    });
    const reference = new LedgerClient(new LocalBackend(sqlite), {
      state: new MemoryStateStore(),
      ledgerKey: sqlite.info.vkey,
    });
    const policy = policyForSigners([alice.keyId, bob.keyId]);
    for (let i = 0; i < 25; i += 1) {
      const digest = digestOf(`image-${i}`);
      const got = await client.verify(digest, policy);
      const want = await reference.verify(digest, policy);
      assert.equal(got.verdict.status, want.verdict.status, digest);
      assert.equal(got.statements.length, want.statements.length);
    }
    for (const query of [{ digest: digestOf('image-3') }, { attribute: { key: 'ci.job', value: '3' } }]) {
      const got = await verifiedSearch(client, query);
      const want = await verifiedSearch(reference, query);
      assert.ok(want.found.length > 0, JSON.stringify(query));
      assert.deepEqual(
        got.found.map((f) => f.index),
        want.found.map((f) => f.index),
      );
    }
    const report = await auditLedger(postgres);
    assert.deepEqual(report.problems, []);
    assert.equal(report.entries, (await sqlite.latestCheckpoint()).size);
    await client.close();
    await reference.close();
  });

  it('refuses a checkpoint key that is not the ledger’s, and opens read-only without a key', async () => {
    const url = await pg.database('keys');
    const ledger = await openLocalLedger(url, { keyPath: join(work, 'keys.key') });
    const vkey = ledger.info.vkey;
    await ledger.close();
    await assert.rejects(openLocalLedger(url, { keyPath: join(work, 'other.key') }), (err) =>
      isImagetrustError(err, 'KEY_NOT_FOUND'),
    );
    const readOnly = await openLocalLedger(url);
    assert.equal(readOnly.info.vkey, vkey);
    await assert.rejects(readOnly.append([w1().envelope]), (err) => isImagetrustError(err, 'USAGE'));
    await readOnly.close();
  });

  it('serves readers with a role that may only SELECT (verify and audit need no write access)', async () => {
    const url = await pg.database('select_only');
    const writer = await openLocalLedger(url, { keyPath: join(work, 'select-only.key') });
    const statement = w1();
    await writer.append([statement.envelope]);
    await writer.close();
    const db = 'select_only';
    await pg.query("CREATE ROLE reader LOGIN PASSWORD 'reader-password-0123'", [], db);
    await pg.query('GRANT USAGE ON SCHEMA imagetrust_ledger TO reader', [], db);
    await pg.query('GRANT SELECT ON ALL TABLES IN SCHEMA imagetrust_ledger TO reader', [], db);
    const readerUrl = new URL(url);
    readerUrl.username = 'reader';
    readerUrl.password = 'reader-password-0123';
    const reader = await openLocalLedger(readerUrl.toString());
    try {
      const report = await auditLedger(reader);
      assert.deepEqual(report.problems, []);
      assert.equal(report.treeSize, 1);
    } finally {
      await reader.close();
    }
  });
});

function w1() {
  return new Words().next(generateSignerKey(), digestOf('x'), 'trusted');
}

describe('two ledger servers on one database', () => {
  let url: string;
  const servers: Background[] = [];
  const urls: string[] = [];
  let keyFile: string;

  async function startServer(name: string): Promise<{ server: Background; url: string }> {
    const port = await freePort();
    const home = mkdtempSync(join(work, `${name}-`));
    const server = startBackground(
      process.execPath,
      [BIN, 'ledger', 'serve', '--open', '--port', String(port), '--signer-rate', '100000'],
      join(home, 'serve.log'),
      {
        PATH: process.env.PATH,
        HOME: home,
        IMAGETRUST_HOME: home,
        IMAGETRUST_LEDGER: url,
        IMAGETRUST_CHECKPOINT_KEY: keyFile,
      },
    );
    const base = `http://127.0.0.1:${port}`;
    await waitFor(`ledger serve ${name} (${server.logFile})`, async () =>
      (await fetch(`${base}/healthz`)).ok ? true : undefined,
    );
    return { server, url: base };
  }

  before(async () => {
    url = await pg.database('two_servers');
    keyFile = join(work, 'two.key');
    // The first creates the ledger and its key; the second starts on both.
    for (const name of ['a', 'b']) {
      const s = await startServer(name);
      servers.push(s.server);
      urls.push(s.url);
    }
  });

  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('takes appends from 8 signers through both, loses nothing acknowledged when one is killed, and audits', async () => {
    const signers = Array.from({ length: 8 }, () => generateSignerKey());
    const acknowledged: { signer: string; digest: string; sequence: number }[] = [];
    const w = new Words();
    let killed = false;
    const perSigner = 30;
    await Promise.all(
      signers.map(async (key, s) => {
        for (let i = 0; i < perSigner; i += 1) {
          const batch = Array.from({ length: 5 }, (_, j) =>
            w.next(key, digestOf(`img-${(i * 5 + j) % 17}`), 'trusted'),
          );
          // Half the signers go through each server; after the kill, everyone goes through b.
          const target = killed || s % 2 === 1 ? urls[1] : urls[0];
          if (s === 0 && i === 10 && !killed) {
            killed = true;
            await servers[0]?.stop('SIGKILL');
          }
          let res: Response | undefined;
          try {
            res = await fetch(`${target}/api/v1/statements`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ statements: batch.map((b) => b.envelope.toString('base64')) }),
            });
          } catch {
            // The killed server: nothing was acknowledged; the signer goes on through the survivor
            // with the same words (they were never appended, or their sequence would conflict).
            res = await fetch(`${urls[1]}/api/v1/statements`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ statements: batch.map((b) => b.envelope.toString('base64')) }),
            });
          }
          if (res.status === 409) {
            // The killed server had committed the batch before dying: it is in the log.
            await res.text();
            continue;
          }
          assert.equal(res.status, 200, await res.clone().text());
          await res.json();
          for (const b of batch)
            acknowledged.push({
              signer: key.keyId,
              digest: b.statement.digest,
              sequence: b.statement.sequence,
            });
        }
      }),
    );
    assert.ok(killed);
    // The survivor still serves reads and appends.
    const info = (await (await fetch(`${urls[1]}/api/v1/checkpoint`)).text()).split('\n');
    const size = Number(info[1]);
    assert.ok(size >= acknowledged.length, `tree size ${size} < ${acknowledged.length} acknowledged`);
    const reader = await openLocalLedger(url);
    const report = await auditLedger(reader);
    assert.deepEqual(report.problems, []);
    const present = new Set<string>();
    for (let start = 0; start < report.entries; start += 1000) {
      for (const e of await reader.entries(start, 1000)) {
        const s = openStatement(e.leaf).statement;
        present.add(`${s.signer}/${s.digest}/${s.sequence}`);
      }
    }
    for (const a of acknowledged)
      assert.ok(
        present.has(`${a.signer}/${a.digest}/${a.sequence}`),
        `acknowledged ${JSON.stringify(a)} is missing`,
      );
    await reader.close();
    const cli = cliFor(mkdtempSync(join(work, 'audit-')), NO_ENGINE);
    const audit = await cli(['ledger', 'audit', '--ledger', url]);
    assert.equal(audit.code, 0, audit.stdout + audit.stderr);
    assert.match(audit.stdout, /OK/);
  });
});

describe('ledger copy', () => {
  it('copies a file ledger into PostgreSQL with identical checkpoints, and a client keeps trusting it', async () => {
    const home = mkdtempSync(join(work, 'copy-'));
    const file = join(home, 'ledger.sqlite');
    const cli = cliFor(home, NO_ENGINE, { IMAGETRUST_LEDGER: file });
    const k = await cli(['keygen']);
    assert.equal(k.code, 0, k.stderr);
    const image = `sha256:${'a'.repeat(64)}`;
    for (const args of [
      ['sign', '--hash', image],
      ['sign', '--hash', `sha256:${'b'.repeat(64)}`],
      ['untrust', '--hash', image],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 0, r.stderr);
    }
    // The client has trusted the file ledger's checkpoints before the move.
    assert.equal((await cli(['verify', '--hash', `sha256:${'b'.repeat(64)}`])).code, 0);
    const url = await pg.database('copied');
    const r = await cli(['ledger', 'copy', '--from', file, '--to', url]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /3 entries, 4 checkpoints/);
    const source = await openLocalLedger(file);
    const copy = await openLocalLedger(url);
    assert.deepEqual(
      (await copy.checkpoints(0, 100)).map((c) => c.note),
      (await source.checkpoints(0, 100)).map((c) => c.note),
    );
    await source.close();
    await copy.close();
    const moved = { IMAGETRUST_LEDGER: url };
    assert.equal((await cli(['verify', '--hash', image], moved)).code, 1);
    assert.equal((await cli(['verify', '--hash', `sha256:${'b'.repeat(64)}`], moved)).code, 0);
    const again = await cli(['ledger', 'copy', '--from', file, '--to', url]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /not empty/);
  });
});

describe('bad input is refused clearly and writes nothing', () => {
  it('a wrong password', async () => {
    await pg.query("CREATE ROLE guarded LOGIN PASSWORD 'right-one'");
    const url = `postgres://guarded:wrong-one@127.0.0.1:${pg.port}/postgres`;
    const cli = cliFor(mkdtempSync(join(work, 'pw-')), NO_ENGINE);
    const r = await cli([
      'verify',
      '--signer',
      `${'a'.repeat(32)}`,
      '--hash',
      `sha256:${'a'.repeat(64)}`,
      '--ledger',
      url,
    ]);
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /refused the credentials/);
    assert.doesNotMatch(r.stderr, /wrong-one/);
  });

  it('a database whose schema holds something else', async () => {
    const url = await pg.database('not_ours');
    await pg.query(
      'CREATE SCHEMA imagetrust_ledger; CREATE TABLE imagetrust_ledger.customers (id int)',
      [],
      'not_ours',
    );
    const r = await cliFor(mkdtempSync(join(work, 'foreign-')), NO_ENGINE)(
      ['ledger', 'serve', '--open', '--port', String(await freePort())],
      { IMAGETRUST_LEDGER: url, IMAGETRUST_CHECKPOINT_KEY: join(work, 'foreign.key') },
    );
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /not imagetrust's \(customers\)/);
    const tables = await pg.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'imagetrust_ledger'",
      [],
      'not_ours',
    );
    assert.deepEqual(
      tables.rows.map((t) => t.table_name),
      ['customers'],
    );
  });

  it('a schema written by a newer imagetrust', async () => {
    const url = await pg.database('newer');
    const ledger = await openLocalLedger(url, { keyPath: join(work, 'newer.key') });
    await ledger.close();
    await pg.query(
      "INSERT INTO imagetrust_ledger.schema_migrations (version, product) VALUES (99, 'ledger')",
      [],
      'newer',
    );
    const r = await cliFor(
      mkdtempSync(join(work, 'newer-')),
      NO_ENGINE,
    )(['ledger', 'audit', '--ledger', url]);
    assert.equal(r.code, 79, r.stderr);
    assert.match(r.stderr, /schema version 99, written by a newer imagetrust/);
  });

  it('a --ledger with an unknown scheme creates no folder', async () => {
    const home = mkdtempSync(join(work, 'scheme-'));
    const r = await cliFor(
      home,
      NO_ENGINE,
    )([
      'verify',
      '--signer',
      'a'.repeat(32),
      '--hash',
      `sha256:${'a'.repeat(64)}`,
      '--ledger',
      'mysql://db/ledger',
    ]);
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, /mysql: is not supported/);
    assert.equal(existsSync(join(home, 'mysql:')), false);
    assert.deepEqual(
      readdirSync(process.cwd()).filter((f) => f.startsWith('mysql')),
      [],
    );
  });
});
