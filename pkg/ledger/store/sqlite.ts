// The embedded ledger store: one SQLite file (better-sqlite3) in WAL mode, one IMMEDIATE
// transaction per append batch, synchronous=FULL by default so an acknowledged append
// survives a power cut.

import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ImagetrustError } from '../../errors';
import { appendToTree, nodeKey, type NodeId } from '../merkle';
import type {
  AppendInput,
  AppendOutput,
  LedgerStore,
  StoreCounts,
  StoredCheckpoint,
  StoredEntry,
} from './store';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  idx INTEGER PRIMARY KEY,
  digest TEXT NOT NULL,
  leaf BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_digest ON entries (digest, idx);
CREATE TABLE IF NOT EXISTS nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  size INTEGER PRIMARY KEY,
  note TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_by_time ON checkpoints (created_at, size);
`;

const NODE_CHUNK = 128;

export interface SqliteStoreOptions {
  synchronous?: 'FULL' | 'NORMAL';
  readonly?: boolean;
}

interface CheckpointRow {
  size: number;
  note: string;
  created_at: number;
}

const toCheckpoint = (row: CheckpointRow | undefined): StoredCheckpoint | undefined =>
  row && { size: row.size, note: row.note, createdAt: row.created_at };

export class SqliteStore implements LedgerStore {
  readonly description: string;
  private readonly db: Database.Database;
  private readonly path: string;
  private readonly stmt;
  private readonly nodeQueries = new Map<
    number,
    Database.Statement<number[], { level: number; idx: number; hash: Buffer }>
  >();

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.description = `sqlite:${path}`;
    try {
      if (path !== ':memory:' && !options.readonly)
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      this.db = new Database(path, {
        readonly: options.readonly ?? false,
        fileMustExist: options.readonly ?? false,
      });
      this.db.pragma('busy_timeout = 10000');
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.exec(SCHEMA);
      }
      this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    } catch (err) {
      throw new ImagetrustError('IO', `cannot open ledger ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const db = this.db;
    this.stmt = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      insertMeta: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
      maxIndex: db.prepare<[], { m: number | null }>('SELECT max(idx) AS m FROM entries'),
      insertEntry: db.prepare('INSERT INTO entries (idx, digest, leaf) VALUES (?, ?, ?)'),
      insertNode: db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      getNode: db.prepare<[number, number], { hash: Buffer }>(
        'SELECT hash FROM nodes WHERE level = ? AND idx = ?',
      ),
      insertCheckpoint: db.prepare('INSERT INTO checkpoints (size, note, created_at) VALUES (?, ?, ?)'),
      latest: db.prepare<[], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints ORDER BY size DESC LIMIT 1',
      ),
      atSize: db.prepare<[number], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints WHERE size <= ? ORDER BY size DESC LIMIT 1',
      ),
      atTime: db.prepare<[number], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints WHERE created_at <= ? ORDER BY size DESC LIMIT 1',
      ),
      between: db.prepare<[number, number], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints WHERE size >= ? AND size <= ? ORDER BY size',
      ),
      byDigest: db.prepare<[string, number], { idx: number; leaf: Buffer }>(
        'SELECT idx, leaf FROM entries WHERE digest = ? AND idx < ? ORDER BY idx',
      ),
      range: db.prepare<[number, number], { idx: number; leaf: Buffer }>(
        'SELECT idx, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx',
      ),
      counts: db.prepare<[], { entries: number; maxIndex: number | null }>(
        'SELECT count(*) AS entries, max(idx) AS maxIndex FROM entries',
      ),
      leafNodes: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM nodes WHERE level = 0'),
    };
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.stmt.getMeta.get(key)?.value;
  }

  async initMeta(key: string, value: string): Promise<string> {
    this.stmt.insertMeta.run(key, value);
    return this.stmt.getMeta.get(key)?.value ?? value;
  }

  async append(input: AppendInput): Promise<AppendOutput> {
    const run = this.db.transaction((): AppendOutput => {
      const latest = this.stmt.latest.get();
      const size = (this.stmt.maxIndex.get()?.m ?? -1) + 1;
      if (size !== (latest?.size ?? 0)) {
        throw new ImagetrustError(
          'LEDGER_TAMPERED',
          `ledger holds ${size} entries but its latest checkpoint is for ${latest?.size ?? 0}: refusing to append`,
        );
      }
      const lookup = (id: NodeId): Buffer => {
        const row = this.stmt.getNode.get(id.level, id.index);
        if (!row) throw new ImagetrustError('LEDGER_TAMPERED', `ledger is missing tree node ${nodeKey(id)}`);
        return row.hash;
      };
      const { nodes, root } = appendToTree(
        size,
        input.leaves.map((l) => l.leafHash),
        lookup,
      );
      input.leaves.forEach((l, i) => this.stmt.insertEntry.run(size + i, l.digest, l.leaf));
      for (const n of nodes) this.stmt.insertNode.run(n.id.level, n.id.index, n.hash);
      const newSize = size + input.leaves.length;
      const note = input.sign(newSize, root);
      this.stmt.insertCheckpoint.run(newSize, note, input.now);
      return { firstIndex: size, checkpoint: { size: newSize, note, createdAt: input.now } };
    });
    try {
      return run.immediate();
    } catch (err) {
      if (err instanceof ImagetrustError) throw err;
      throw new ImagetrustError('IO', `ledger append failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return toCheckpoint(this.stmt.latest.get());
  }

  async checkpointAtSize(size: number): Promise<StoredCheckpoint | undefined> {
    return toCheckpoint(this.stmt.atSize.get(size));
  }

  async checkpointAtTime(time: number): Promise<StoredCheckpoint | undefined> {
    return toCheckpoint(this.stmt.atTime.get(time));
  }

  async checkpointsBetween(fromSize: number, toSize: number): Promise<StoredCheckpoint[]> {
    return this.stmt.between.all(fromSize, toSize).map((r) => toCheckpoint(r) as StoredCheckpoint);
  }

  async entriesByDigest(digest: string, beforeSize: number): Promise<StoredEntry[]> {
    return this.stmt.byDigest.all(digest, beforeSize).map((r) => ({ index: r.idx, leaf: r.leaf }));
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.stmt.range.all(start, end).map((r) => ({ index: r.idx, leaf: r.leaf }));
  }

  async nodes(ids: NodeId[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (let i = 0; i < ids.length; i += NODE_CHUNK) {
      const chunk = ids.slice(i, i + NODE_CHUNK);
      const params = chunk.flatMap((id) => [id.level, id.index]);
      for (const row of this.nodeQuery(chunk.length).all(...params))
        out.set(`${row.level}/${row.idx}`, row.hash);
    }
    return out;
  }

  /** One query for up to NODE_CHUNK nodes; statements are prepared once per length. */
  private nodeQuery(n: number): Database.Statement<number[], { level: number; idx: number; hash: Buffer }> {
    let stmt = this.nodeQueries.get(n);
    if (!stmt) {
      const values = Array.from({ length: n }, () => '(?, ?)').join(', ');
      stmt = this.db.prepare<number[], { level: number; idx: number; hash: Buffer }>(
        `SELECT level, idx, hash FROM nodes WHERE (level, idx) IN (VALUES ${values})`,
      );
      this.nodeQueries.set(n, stmt);
    }
    return stmt;
  }

  async counts(): Promise<StoreCounts> {
    const c = this.stmt.counts.get();
    return {
      entries: c?.entries ?? 0,
      maxIndex: c?.maxIndex ?? -1,
      leafNodes: this.stmt.leafNodes.get()?.n ?? 0,
    };
  }

  async snapshot(): Promise<{ checkpoint: StoredCheckpoint | undefined; counts: StoreCounts }> {
    // A read transaction: both answers come from the same WAL snapshot.
    return this.db.transaction(() => {
      const checkpoint = toCheckpoint(this.stmt.latest.get());
      const c = this.stmt.counts.get();
      const counts = {
        entries: c?.entries ?? 0,
        maxIndex: c?.maxIndex ?? -1,
        leafNodes: this.stmt.leafNodes.get()?.n ?? 0,
      };
      return { checkpoint, counts };
    })();
  }

  async sizeOnDisk(): Promise<number> {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    if (this.path === ':memory:') return 0;
    return statSync(this.path).size;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
