import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { assertRejectsCode } from '../testing/assert-code';
import { tempDir } from '../testing/fixtures';
import { openLocalLedger } from './open';

async function made(dir: string): Promise<string> {
  const file = join(dir, 'ledger.db');
  const ledger = await openLocalLedger(file);
  await ledger.close();
  return file;
}

describe('opening a ledger read-only', () => {
  it('reads an existing ledger and never writes it', async (t) => {
    const file = await made(tempDir(t));
    const before = readFileSync(file);
    const ledger = await openLocalLedger(file, { readonly: true });
    try {
      assert.equal(ledger.writable, false);
      assert.equal((await ledger.latestCheckpoint()).size, 0);
      await assertRejectsCode(() => ledger.append([]), 'USAGE');
    } finally {
      await ledger.close();
    }
    assert.deepEqual(readFileSync(file), before);
  });

  it('a missing file is NOT_FOUND, and neither it nor a key is created', async (t) => {
    const file = join(tempDir(t), 'typo.db');
    await assertRejectsCode(() => openLocalLedger(file, { readonly: true }), 'NOT_FOUND');
    assert.equal(existsSync(file), false);
    assert.equal(existsSync(`${file}.key`), false);
  });

  it('an empty, wiped, garbage or tableless file is LEDGER_TAMPERED, and stays as it was', async (t) => {
    const dir = tempDir(t);
    const empty = await made(dir);
    truncateSync(empty, 0);
    await assertRejectsCode(() => openLocalLedger(empty, { readonly: true }), 'LEDGER_TAMPERED');
    assert.equal(readFileSync(empty).length, 0);

    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, Buffer.alloc(8192, 0x41));
    await assertRejectsCode(() => openLocalLedger(garbage, { readonly: true }), 'LEDGER_TAMPERED');

    const other = join(dir, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE notes (x TEXT)');
    db.close();
    const e = await assertRejectsCode(() => openLocalLedger(other, { readonly: true }), 'LEDGER_TAMPERED');
    assert.match(e.message, /tables .* are missing/);

    const rows = await made(tempDir(t));
    const wipe = new Database(rows);
    wipe.exec('DELETE FROM meta; DELETE FROM checkpoints');
    wipe.close();
    await assertRejectsCode(() => openLocalLedger(rows, { readonly: true }), 'LEDGER_TAMPERED');
  });
});
