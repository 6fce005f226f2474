// The embedded ledger store: one SQLite file (better-sqlite3) in WAL mode, one IMMEDIATE
// transaction per append batch, synchronous=FULL by default so an acknowledged append
// survives a power cut. Schema format 2 (imagetrust 0.2): entries with their index key and
// statement id, the log's complete subtrees, the statement index's nodes versioned by tree
// size, and checkpoints. A format 1 file (imagetrust 0.1) is refused until `imagetrust ledger
// upgrade` rebuilds it.

import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ImagetrustError } from '../../errors';
import type { IndexProof } from '../index-proof';
import {
  idKey,
  proveIndex,
  rootHashOf,
  runSync,
  updateIndex,
  type ChildRef,
  type TreeNode,
} from '../index-tree';
import { appendToTree, nodeKey, type NodeId } from '../merkle';
import {
  toCheckpoint,
  toEntry,
  toInner,
  toLeaf,
  type CheckpointRow,
  type EntryRow,
  type InnerRow,
  type LeafRow,
} from './rows';
import type {
  AppendInput,
  AppendOutput,
  AttributeRow,
  LedgerStore,
  SearchQuery,
  StoreCounts,
  StoredCheckpoint,
  StoredEntry,
} from './store';

export const STORE_FORMAT = '2';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  idx INTEGER PRIMARY KEY,
  digest TEXT NOT NULL,
  signer TEXT NOT NULL,
  ikey BLOB NOT NULL,
  sid BLOB NOT NULL,
  leaf BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_key ON entries (ikey, idx);
CREATE INDEX IF NOT EXISTS entries_by_digest ON entries (digest, idx);
CREATE TABLE IF NOT EXISTS attributes (
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (key, value, idx)
) WITHOUT ROWID;
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
CREATE TABLE IF NOT EXISTS index_heads (
  size INTEGER PRIMARY KEY,
  root_id BLOB,
  root_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS index_nodes (
  id BLOB NOT NULL,
  version INTEGER NOT NULL,
  bit INTEGER NOT NULL,
  left_id BLOB NOT NULL,
  left_hash BLOB NOT NULL,
  right_id BLOB NOT NULL,
  right_hash BLOB NOT NULL,
  PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_leaves (
  key BLOB NOT NULL,
  version INTEGER NOT NULL,
  count INTEGER NOT NULL,
  chain BLOB NOT NULL,
  sequence INTEGER NOT NULL,
  newest BLOB,
  PRIMARY KEY (key, version)
) WITHOUT ROWID;
`;

const NODE_CHUNK = 128;
const LATEST = Number.MAX_SAFE_INTEGER;
/**
 * Inner index nodes splitting on a bit below this are kept in memory at their latest version
 * (at most 2^16 of them): the top of every path, read by every append and lookup. The cache
 * belongs to one tree size and is dropped whenever another process appended.
 */
const CACHED_BITS = 16;
/** Log tree nodes never change once written; the upper ones are in every proof. */
const CACHED_LOG_LEVEL = 4;
const MAX_CACHED_LOG_NODES = 200_000;

export interface SqliteStoreOptions {
  synchronous?: 'FULL' | 'NORMAL';
  readonly?: boolean;
}

/** The tables of format 2: a file without them (wiped, or not a ledger) is not read as one. */
const TABLES = [
  'meta',
  'entries',
  'attributes',
  'nodes',
  'checkpoints',
  'index_heads',
  'index_nodes',
  'index_leaves',
];

/** SQLite's own word that the file is damaged means tampering or corruption, never an answer. */
function ioError(what: string, err: unknown): ImagetrustError {
  if (err instanceof ImagetrustError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  if (code === 'SQLITE_READONLY_DIRECTORY' || code === 'SQLITE_READONLY_CANTINIT') {
    return new ImagetrustError(
      'IO',
      `${what}: SQLite must create the ledger's -shm file beside it to read a WAL ledger, and its folder is not writable (${(err as Error).message})`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new ImagetrustError(
      'LEDGER_TAMPERED',
      `${what}: the ledger file is damaged (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
  return new ImagetrustError('IO', `${what}: ${(err as Error).message}`, { cause: err });
}

/** Runs a read, turning SQLite's errors into typed ones. */
function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw ioError(what, err);
  }
}

/**
 * What SQLite itself says of a ledger file that could not be opened as one (for the audit's
 * report): its integrity check, or why the file is not a database at all. Only reads.
 */
export function sqliteFileProblems(path: string): string[] {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
  } catch (err) {
    return [`SQLite cannot read the file: ${(err as Error).message}`];
  } finally {
    db?.close();
  }
}

export class SqliteStore implements LedgerStore {
  readonly description: string;
  private readonly db: Database.Database;
  private readonly path: string;
  private readonly stmt: ReturnType<SqliteStore['prepare']>;
  private readonly nodeQueries = new Map<
    number,
    Database.Statement<number[], { level: number; idx: number; hash: Buffer }>
  >();
  private readonly innerCache = new Map<string, TreeNode>();
  private readonly logNodeCache = new Map<string, Buffer>();
  private cacheSize = -1;

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
    } catch (err) {
      throw ioError(`cannot open ledger ${path}`, err);
    }
    try {
      this.checkFormat();
      if (options.readonly) this.checkTables();
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.exec(SCHEMA);
        this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)").run(STORE_FORMAT);
      }
      this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      // The index's upper nodes and recent versions are read by every append: keep 64 MiB of
      // pages in memory rather than SQLite's default 2 MiB.
      this.db.pragma('cache_size = -65536');
      this.stmt = this.prepare();
    } catch (err) {
      this.db.close();
      throw ioError(`cannot open ledger ${path}`, err);
    }
  }

  private prepare() {
    const db = this.db;
    const read = <P extends unknown[], R>(sql: string) => db.prepare<P, R>(sql);
    return {
      getMeta: read<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      insertMeta: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
      maxIndex: read<[], { m: number | null }>('SELECT max(idx) AS m FROM entries'),
      insertEntry: db.prepare(
        'INSERT INTO entries (idx, digest, signer, ikey, sid, leaf) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      insertNode: db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      getNode: read<[number, number], { hash: Buffer }>('SELECT hash FROM nodes WHERE level = ? AND idx = ?'),
      insertCheckpoint: db.prepare('INSERT INTO checkpoints (size, note, created_at) VALUES (?, ?, ?)'),
      latest: read<[], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints ORDER BY size DESC LIMIT 1',
      ),
      atSize: read<[number], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints WHERE size <= ? ORDER BY size DESC LIMIT 1',
      ),
      atTime: read<[number], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints WHERE created_at <= ? ORDER BY size DESC LIMIT 1',
      ),
      between: read<[number, number, number], CheckpointRow>(
        'SELECT size, note, created_at FROM checkpoints WHERE size >= ? AND size <= ? ORDER BY size LIMIT ?',
      ),
      byKey: read<[Buffer, number, number, number], EntryRow>(
        'SELECT idx, leaf, digest, signer, ikey, sid FROM entries WHERE ikey = ? AND idx < ? ORDER BY idx LIMIT ? OFFSET ?',
      ),
      range: read<[number, number], EntryRow>(
        'SELECT idx, leaf, digest, signer, ikey, sid FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx',
      ),
      counts: read<[], { entries: number; maxIndex: number | null }>(
        'SELECT count(*) AS entries, max(idx) AS maxIndex FROM entries',
      ),
      leafNodes: read<[], { n: number }>('SELECT count(*) AS n FROM nodes WHERE level = 0'),
      head: read<[number], { root_id: Buffer | null; root_hash: Buffer }>(
        'SELECT root_id, root_hash FROM index_heads WHERE size = ?',
      ),
      insertHead: db.prepare('INSERT INTO index_heads (size, root_id, root_hash) VALUES (?, ?, ?)'),
      innerAt: read<[Buffer, number], InnerRow>(
        'SELECT id, bit, left_id, left_hash, right_id, right_hash FROM index_nodes WHERE id = ? AND version <= ? ORDER BY version DESC LIMIT 1',
      ),
      leafAt: read<[Buffer, number], LeafRow>(
        'SELECT key, count, chain, sequence, newest FROM index_leaves WHERE key = ? AND version <= ? ORDER BY version DESC LIMIT 1',
      ),
      innersWritten: read<[number], InnerRow>(
        'SELECT id, bit, left_id, left_hash, right_id, right_hash FROM index_nodes WHERE version = ?',
      ),
      leavesWritten: read<[number], LeafRow>(
        'SELECT key, count, chain, sequence, newest FROM index_leaves WHERE version = ?',
      ),
      insertInner: db.prepare(
        'INSERT INTO index_nodes (id, version, bit, left_id, left_hash, right_id, right_hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      insertAttribute: db.prepare('INSERT OR IGNORE INTO attributes (key, value, idx) VALUES (?, ?, ?)'),
      byDigest: read<[string, number, number, number], EntryRow>(
        'SELECT idx, leaf, digest, signer, ikey, sid FROM entries WHERE digest = ? AND idx < ? ORDER BY idx LIMIT ? OFFSET ?',
      ),
      byAttribute: read<[string, string, number, number, number], EntryRow>(
        'SELECT e.idx, e.leaf, e.digest, e.signer, e.ikey, e.sid FROM attributes a JOIN entries e ON e.idx = a.idx WHERE a.key = ? AND a.value = ? AND a.idx < ? ORDER BY a.idx LIMIT ? OFFSET ?',
      ),
      byAttributeAndDigest: read<[string, string, string, number, number, number], EntryRow>(
        'SELECT e.idx, e.leaf, e.digest, e.signer, e.ikey, e.sid FROM attributes a JOIN entries e ON e.idx = a.idx WHERE a.key = ? AND a.value = ? AND e.digest = ? AND a.idx < ? ORDER BY a.idx LIMIT ? OFFSET ?',
      ),
      insertLeaf: db.prepare(
        'INSERT INTO index_leaves (key, version, count, chain, sequence, newest) VALUES (?, ?, ?, ?, ?, ?)',
      ),
    };
  }

  /** A file opened only to read must already be a ledger: an empty or wiped file is reported, never read as one. */
  private checkTables(): void {
    const tables = new Set(
      this.db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .all()
        .map((r) => r.name),
    );
    const missing = TABLES.filter((t) => !tables.has(t));
    if (missing.length === 0) return;
    throw new ImagetrustError(
      'LEDGER_TAMPERED',
      tables.size === 0
        ? `${this.path} holds no ledger: the file is empty (wiped, truncated, or never a ledger)`
        : `${this.path} is not a complete imagetrust ledger: tables ${missing.join(', ')} are missing`,
      { details: { missing } },
    );
  }

  /** A file written by imagetrust 0.1 has entries but no statement index. */
  private checkFormat(): void {
    const tables = new Set(
      this.db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .all()
        .map((r) => r.name),
    );
    if (tables.has('entries') && !tables.has('index_heads')) {
      throw new ImagetrustError(
        'LEDGER_UPGRADE_NEEDED',
        `${this.path} is an imagetrust 0.1 ledger without a statement index: run "imagetrust ledger upgrade --ledger ${this.path}"`,
      );
    }
  }

  private readIndexNode(id: Buffer, version: number, cached: boolean): TreeNode | undefined {
    if (id[0] === 0) {
      const row = this.stmt.leafAt.get(id.subarray(1), version);
      return row && toLeaf(row);
    }
    const hit = cached ? this.innerCache.get(idKey(id)) : undefined;
    if (hit) return hit;
    const row = this.stmt.innerAt.get(id, version);
    const node = row && toInner(row);
    if (node && cached && node.bit < CACHED_BITS) this.innerCache.set(idKey(id), node);
    return node;
  }

  /** Makes the cache hold the latest nodes of a tree of `size` (called inside a transaction). */
  private cacheAt(size: number): void {
    if (this.cacheSize !== size) {
      this.innerCache.clear();
      this.cacheSize = size;
    }
  }

  private indexHead(size: number): ChildRef | undefined | null {
    const head = this.stmt.head.get(size);
    if (!head) return null;
    return head.root_id ? { id: head.root_id, hash: head.root_hash } : undefined;
  }

  async getMeta(key: string): Promise<string | undefined> {
    return guarded('ledger read failed', () => this.stmt.getMeta.get(key)?.value);
  }

  async initMeta(key: string, value: string): Promise<string> {
    return guarded('ledger write failed', () => {
      this.stmt.insertMeta.run(key, value);
      return this.stmt.getMeta.get(key)?.value ?? value;
    });
  }

  async append(input: AppendInput): Promise<AppendOutput> {
    const run = this.db.transaction((): { output: AppendOutput; written: TreeNode[] } => {
      const latest = this.stmt.latest.get();
      const size = (this.stmt.maxIndex.get()?.m ?? -1) + 1;
      if (size !== (latest?.size ?? 0)) {
        throw new ImagetrustError(
          'LEDGER_TAMPERED',
          `ledger holds ${size} entries but its latest checkpoint is for ${latest?.size ?? 0}: refusing to append`,
        );
      }
      const head = latest ? this.indexHead(size) : undefined;
      if (head === null)
        throw new ImagetrustError('LEDGER_TAMPERED', `ledger has no index for tree size ${size}`);
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
      const updates = input.leaves.map((l, i) => ({
        key: l.key,
        apply: (old: Parameters<AppendInput['advance']>[0]) => input.advance(old, i, size + i),
      }));
      this.cacheAt(size);
      const index = runSync(updateIndex(head, updates), (id) => this.readIndexNode(id, LATEST, true));
      const newSize = size + input.leaves.length;
      input.leaves.forEach((l, i) => {
        this.stmt.insertEntry.run(size + i, l.digest, l.signer, l.key, l.id, l.leaf);
        for (const [k, v] of Object.entries(l.attributes ?? {}))
          this.stmt.insertAttribute.run(k, v, size + i);
      });
      for (const n of nodes) this.stmt.insertNode.run(n.id.level, n.id.index, n.hash);
      for (const n of index.written) {
        if (n.kind === 'leaf')
          this.stmt.insertLeaf.run(n.key, newSize, n.value.count, n.value.chain, n.sequence, n.newest);
        else
          this.stmt.insertInner.run(n.id, newSize, n.bit, n.left.id, n.left.hash, n.right.id, n.right.hash);
      }
      const indexRoot = rootHashOf(index.root);
      this.stmt.insertHead.run(newSize, index.root?.id ?? null, indexRoot);
      const note = input.sign(newSize, root, indexRoot);
      this.stmt.insertCheckpoint.run(newSize, note, input.now);
      return {
        output: { firstIndex: size, checkpoint: { size: newSize, note, createdAt: input.now } },
        written: index.written,
      };
    });
    try {
      const { output, written } = run.immediate();
      for (const n of written)
        if (n.kind === 'inner' && n.bit < CACHED_BITS) this.innerCache.set(idKey(n.id), n);
      this.cacheSize = output.checkpoint.size;
      return output;
    } catch (err) {
      // What the transaction read into the cache may belong to a rolled-back state.
      this.innerCache.clear();
      this.cacheSize = -1;
      throw ioError('ledger append failed', err);
    }
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return guarded('ledger read failed', () => toCheckpoint(this.stmt.latest.get()));
  }

  async checkpointAtSize(size: number): Promise<StoredCheckpoint | undefined> {
    return guarded('ledger read failed', () => toCheckpoint(this.stmt.atSize.get(size)));
  }

  async checkpointAtTime(time: number): Promise<StoredCheckpoint | undefined> {
    return guarded('ledger read failed', () => toCheckpoint(this.stmt.atTime.get(time)));
  }

  async checkpointsBetween(fromSize: number, toSize: number, limit = LATEST): Promise<StoredCheckpoint[]> {
    return guarded('ledger read failed', () =>
      this.stmt.between.all(fromSize, toSize, limit).map((r) => toCheckpoint(r) as StoredCheckpoint),
    );
  }

  async keyEntries(key: Buffer, beforeSize: number, offset: number, limit: number): Promise<StoredEntry[]> {
    return guarded('ledger read failed', () =>
      this.stmt.byKey.all(key, beforeSize, limit, offset).map(toEntry),
    );
  }

  async indexProof(key: Buffer, size: number): Promise<IndexProof> {
    const read = this.db.transaction((): IndexProof => {
      const head = this.indexHead(size);
      if (head === null) throw new ImagetrustError('NOT_FOUND', `no index for tree size ${size}`);
      const latest = this.stmt.latest.get()?.size;
      const cached = latest === size;
      if (cached) this.cacheAt(size);
      return runSync(proveIndex(head, key), (id) => this.readIndexNode(id, size, cached));
    });
    return guarded('ledger read failed', () => read());
  }

  async indexRoot(size: number): Promise<Buffer | undefined> {
    return guarded('ledger read failed', () => this.stmt.head.get(size)?.root_hash);
  }

  async indexNodesWrittenAt(size: number): Promise<TreeNode[]> {
    return guarded('ledger read failed', () => [
      ...this.stmt.innersWritten.all(size).map(toInner),
      ...this.stmt.leavesWritten.all(size).map(toLeaf),
    ]);
  }

  async searchEntries(
    query: SearchQuery,
    beforeSize: number,
    offset: number,
    limit: number,
  ): Promise<StoredEntry[]> {
    return guarded('ledger search failed', () => {
      const { attribute, digest } = query;
      const rows = attribute
        ? digest
          ? this.stmt.byAttributeAndDigest.all(
              attribute.key,
              attribute.value,
              digest,
              beforeSize,
              limit,
              offset,
            )
          : this.stmt.byAttribute.all(attribute.key, attribute.value, beforeSize, limit, offset)
        : this.stmt.byDigest.all(digest ?? '', beforeSize, limit, offset);
      return rows.map(toEntry);
    });
  }

  async addAttributes(rows: AttributeRow[]): Promise<void> {
    const run = this.db.transaction(() => {
      for (const r of rows) this.stmt.insertAttribute.run(r.key, r.value, r.index);
    });
    guarded('ledger write failed', () => run.immediate());
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    return guarded('ledger read failed', () => this.stmt.range.all(start, end).map(toEntry));
  }

  async nodes(ids: NodeId[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const missing: NodeId[] = [];
    for (const id of ids) {
      const hit = id.level >= CACHED_LOG_LEVEL ? this.logNodeCache.get(nodeKey(id)) : undefined;
      if (hit) out.set(nodeKey(id), hit);
      else missing.push(id);
    }
    if (missing.length === 0) return out;
    const found = guarded('ledger read failed', () => this.readNodes(missing));
    if (this.logNodeCache.size > MAX_CACHED_LOG_NODES) this.logNodeCache.clear();
    for (const [key, hash] of found) {
      out.set(key, hash);
      if (Number(key.slice(0, key.indexOf('/'))) >= CACHED_LOG_LEVEL) this.logNodeCache.set(key, hash);
    }
    return out;
  }

  private readNodes(ids: NodeId[]): Map<string, Buffer> {
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

  private readCounts(): StoreCounts {
    const c = this.stmt.counts.get();
    return {
      entries: c?.entries ?? 0,
      maxIndex: c?.maxIndex ?? -1,
      leafNodes: this.stmt.leafNodes.get()?.n ?? 0,
    };
  }

  async counts(): Promise<StoreCounts> {
    return guarded('ledger read failed', () => this.readCounts());
  }

  async snapshot(): Promise<{ checkpoint: StoredCheckpoint | undefined; counts: StoreCounts }> {
    // A read transaction: both answers come from the same WAL snapshot.
    const read = this.db.transaction(() => ({
      checkpoint: toCheckpoint(this.stmt.latest.get()),
      counts: this.readCounts(),
    }));
    return guarded('ledger read failed', () => read());
  }

  async integrityCheck(): Promise<string[]> {
    try {
      const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
      return rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
    } catch (err) {
      return [`SQLite integrity check failed: ${(err as Error).message}`];
    }
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
