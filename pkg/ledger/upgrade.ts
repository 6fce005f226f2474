// `imagetrust ledger upgrade`: rebuilds an imagetrust 0.1 ledger file (format 1: no statement
// index) into format 2. The entries are replayed in their order, batch by batch as the 0.1
// ledger checkpointed them, into a new file beside the old one; every checkpoint is signed
// again with the same ledger key, tree size and log root, now with the index root, at the
// time the original was signed. The new file is audited before it replaces the old one, and
// the old file is kept as `<file>.v1.bak`. Nothing is changed if any step fails.

import Database from 'better-sqlite3';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { ImagetrustError } from '../errors';
import { auditLedger, type AuditReport } from './audit';
import { parseCheckpoint } from './checkpoint';
import { readKeyFile } from './keys';
import { Ledger } from './log';
import { openStatement, type SignedStatement } from './statement';
import { SqliteStore } from './store/sqlite';

export interface UpgradeResult {
  backup: string;
  entries: number;
  checkpoints: number;
  audit: AuditReport;
}

export interface UpgradeOptions {
  keyPath?: string;
  onProgress?: (done: number, total: number) => void;
}

interface V1Ledger {
  origin: string;
  checkpoints: { size: number; note: string; created_at: number }[];
  entries: { idx: number; leaf: Buffer }[];
}

function readV1(path: string): V1Ledger {
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch (err) {
    throw new ImagetrustError('IO', `cannot open ledger ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const tables = new Set(
      db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .all()
        .map((r) => r.name),
    );
    if (tables.has('index_heads')) throw new ImagetrustError('USAGE', `${path} is already a format 2 ledger`);
    if (!tables.has('entries') || !tables.has('checkpoints'))
      throw new ImagetrustError('USAGE', `${path} is not a ledger`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const origin = db
      .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'origin'")
      .get()?.value;
    if (!origin) throw new ImagetrustError('LEDGER_TAMPERED', `${path} has no origin`);
    return {
      origin,
      checkpoints: db
        .prepare<[], V1Ledger['checkpoints'][number]>(
          'SELECT size, note, created_at FROM checkpoints ORDER BY size',
        )
        .all(),
      entries: db
        .prepare<[], V1Ledger['entries'][number]>('SELECT idx, leaf FROM entries ORDER BY idx')
        .all(),
    };
  } finally {
    db.close();
  }
}

export async function upgradeLedger(path: string, options: UpgradeOptions = {}): Promise<UpgradeResult> {
  const v1 = readV1(path);
  const key = readKeyFile(options.keyPath ?? `${path}.key`);
  const first = v1.checkpoints[0];
  if (!first || first.size !== 0)
    throw new ImagetrustError('LEDGER_TAMPERED', `${path} lacks the checkpoint of the empty tree`);
  v1.entries.forEach((e, i) => {
    if (e.idx !== i) throw new ImagetrustError('LEDGER_TAMPERED', `${path}: entry ${i} is missing`);
  });
  const tmp = `${path}.upgrade-${process.pid}`;
  rmSync(tmp, { force: true });
  const store = new SqliteStore(tmp);
  let ledger: Ledger | undefined;
  try {
    ledger = await Ledger.open(store, { key, origin: v1.origin, clock: () => first.created_at });
    if (ledger.info.origin !== v1.origin)
      throw new ImagetrustError('INTERNAL', 'upgrade kept another origin');
    let done = 0;
    for (const cp of v1.checkpoints.slice(1)) {
      const opened: SignedStatement[] = v1.entries.slice(done, cp.size).map((e) => {
        try {
          return openStatement(e.leaf);
        } catch (err) {
          throw new ImagetrustError(
            'LEDGER_TAMPERED',
            `${path}: entry ${e.idx} is not a valid statement; audit it first`,
            {
              cause: err,
            },
          );
        }
      });
      if (opened.length === 0) continue;
      const { checkpoint } = await ledger.appendOpened(opened, false, cp.created_at);
      const original = parseCheckpoint(cp.note.slice(0, cp.note.indexOf('\n\n') + 1));
      const rebuilt = parseCheckpoint(checkpoint.note.slice(0, checkpoint.note.indexOf('\n\n') + 1));
      if (original.size !== rebuilt.size || !original.rootHash.equals(rebuilt.rootHash)) {
        throw new ImagetrustError(
          'LEDGER_TAMPERED',
          `${path}: the entries do not reproduce the checkpoint of size ${cp.size}`,
        );
      }
      done = cp.size;
      options.onProgress?.(done, v1.entries.length);
    }
    if (done !== v1.entries.length)
      throw new ImagetrustError(
        'LEDGER_TAMPERED',
        `${path}: entries ${done}.. are not covered by a checkpoint`,
      );
    const report = await auditLedger(ledger);
    if (report.problems.length > 0) {
      throw new ImagetrustError(
        'LEDGER_TAMPERED',
        `the upgraded ledger does not audit: ${report.problems.slice(0, 3).join('; ')}`,
      );
    }
    await ledger.close();
    ledger = undefined;
    let backup = `${path}.v1.bak`;
    if (existsSync(backup)) backup = `${path}.v1.${Date.now()}.bak`;
    renameSync(path, backup);
    renameSync(tmp, path);
    for (const suffix of ['-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    return { backup, entries: v1.entries.length, checkpoints: v1.checkpoints.length, audit: report };
  } catch (err) {
    if (ledger) await ledger.close();
    else await store.close().catch(() => undefined);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${tmp}${suffix}`, { force: true });
    throw err;
  }
}
