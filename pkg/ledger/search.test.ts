import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalBackend, type LedgerBackend } from './backend';
import { LedgerClient } from './client';
import { openLocalLedger } from './open';
import { RemoteBackend } from './remote';
import { verifiedSearch } from './search';
import { buildLedgerServer } from './server';
import { MemoryStateStore } from './state';
import { assertRejectsCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, tempDir, Words } from '../testing/fixtures';

const alice = generateSignerKey();
const bob = generateSignerKey();

describe('search by evidence attribute and by digest', () => {
  it('finds every matching statement, proven, locally and through ledger serve', async (t) => {
    const dir = tempDir(t);
    const ledger = await openLocalLedger(join(dir, 'ledger.db'));
    const w = new Words();
    const unicode = 'Zürich ☃\nsecond line';
    await ledger.append([
      w.next(alice, digestOf('a'), 'trusted', { attributes: { 'ci.job': '4242', note: unicode } }).envelope,
      w.next(bob, digestOf('b'), 'trusted', { attributes: { 'ci.job': '4242' } }).envelope,
      w.next(alice, digestOf('c'), 'trusted', { attributes: { 'ci.job': '17' } }).envelope,
    ]);
    await ledger.append([w.next(alice, digestOf('a'), 'untrusted').envelope]);
    const server = buildLedgerServer({ ledger, allowedSigners: undefined });
    await server.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => server.close());
    const address = server.addresses()[0] as { port: number };
    for (const backend of [new LocalBackend(ledger), new RemoteBackend(`http://127.0.0.1:${address.port}`)]) {
      const client = new LedgerClient(backend as LedgerBackend, { state: new MemoryStateStore() });
      const job = await verifiedSearch(client, { attribute: { key: 'ci.job', value: '4242' } });
      assert.deepEqual(
        job.found.map((f) => [f.index, f.statement.digest]),
        [
          [0, digestOf('a')],
          [1, digestOf('b')],
        ],
      );
      assert.equal(job.checkpoint.size, 4);
      const exact = await verifiedSearch(client, { attribute: { key: 'note', value: unicode } });
      assert.deepEqual(
        exact.found.map((f) => f.statement.attributes.note),
        [unicode],
      );
      const byHash = await verifiedSearch(client, { digest: digestOf('a') });
      assert.deepEqual(
        byHash.found.map((f) => f.statement.status),
        ['trusted', 'untrusted'],
      );
      const both = await verifiedSearch(client, {
        digest: digestOf('b'),
        attribute: { key: 'ci.job', value: '4242' },
      });
      assert.equal(both.found.length, 1);
      assert.equal(
        (await verifiedSearch(client, { attribute: { key: 'ci.job', value: 'none' } })).found.length,
        0,
      );
    }
  });

  it('refuses a search answer that does not match, is not included, or is out of order', async (t) => {
    const dir = tempDir(t);
    const ledger = await openLocalLedger(join(dir, 'ledger.db'));
    const w = new Words();
    await ledger.append([
      w.next(alice, digestOf('a'), 'trusted', { attributes: { 'ci.job': '1' } }).envelope,
      w.next(alice, digestOf('b'), 'trusted', { attributes: { 'ci.job': '2' } }).envelope,
    ]);
    const honest = new LocalBackend(ledger);
    const lying = (
      edit: (page: Awaited<ReturnType<NonNullable<LedgerBackend['search']>>>) => void,
    ): LedgerBackend =>
      Object.assign(Object.create(honest) as LedgerBackend, {
        search: async (...args: Parameters<NonNullable<LedgerBackend['search']>>) => {
          const page = await honest.search(...args);
          edit(page);
          return page;
        },
      });
    const query = { attribute: { key: 'ci.job', value: '1' } };
    // Another statement, proven included, that does not carry the attribute.
    const other = await ledger.search({ attribute: { key: 'ci.job', value: '2' } }, 2);
    const swapped = new LedgerClient(
      lying((p) => (p.entries = other.entries)),
      { state: new MemoryStateStore() },
    );
    await assertRejectsCode(() => verifiedSearch(swapped, query), 'LEDGER_TAMPERED');
    const forged = new LedgerClient(
      lying((p) => (p.entries = p.entries.map((e) => ({ ...e, proof: e.proof.slice(1) })))),
      { state: new MemoryStateStore() },
    );
    await assertRejectsCode(() => verifiedSearch(forged, query), 'PROOF_INVALID');
  });

  it('indexes the attributes of a ledger written before search existed', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ledger.db');
    const ledger = await openLocalLedger(file);
    await ledger.append([
      new Words().next(alice, digestOf('a'), 'trusted', { attributes: { 'ci.job': '9' } }).envelope,
    ]);
    await ledger.close();
    // As an imagetrust 0.2 file: no attribute rows, no marker.
    const db = new Database(file);
    db.exec("DELETE FROM attributes; DELETE FROM meta WHERE key = 'attributes-indexed'");
    db.close();
    const reopened = await openLocalLedger(file);
    t.after(() => reopened.close());
    const client = new LedgerClient(new LocalBackend(reopened), { state: new MemoryStateStore() });
    assert.equal(
      (await verifiedSearch(client, { attribute: { key: 'ci.job', value: '9' } })).found.length,
      1,
    );
  });
});
