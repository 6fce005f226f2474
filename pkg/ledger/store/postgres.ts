// The ledger store on PostgreSQL (pg), for a fleet: several `ledger serve` processes share one
// database. The tables are the SQLite store's, in a schema of their own. An append is one
// transaction that first takes a transaction-scoped advisory lock, so appends from every
// server are serialized in the database: it reads the tree head, stores leaves, log nodes,
// index updates and the signed checkpoint, and commits, or nothing of it exists. A server
// killed in the middle leaves nothing behind: PostgreSQL rolls its transaction back.
//
// Reads are served by any server. Each keeps the statement index's nodes at the latest tree
// size it knows in memory (bounded), and catches up from the rows other servers wrote since
// (`version` is the tree size of the batch that wrote a node) before it uses them.

import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ImagetrustError } from '../../errors';
import { Database, dbError, type Migration } from '../../postgres/database';
import type { IndexProof } from '../index-proof';
import {
  idKey,
  proveIndex,
  rootHashOf,
  runAsync,
  updateIndex,
  type ChildRef,
  type InnerNode,
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

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE entries (
  idx bigint PRIMARY KEY,
  digest text NOT NULL,
  signer text NOT NULL,
  ikey bytea NOT NULL,
  sid bytea NOT NULL,
  leaf bytea NOT NULL
);
CREATE INDEX entries_by_key ON entries (ikey, idx);
CREATE TABLE nodes (level integer NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx));
CREATE TABLE checkpoints (size bigint PRIMARY KEY, note text NOT NULL, created_at bigint NOT NULL);
CREATE INDEX checkpoints_by_time ON checkpoints (created_at, size);
CREATE TABLE index_heads (size bigint PRIMARY KEY, root_id bytea, root_hash bytea NOT NULL);
CREATE TABLE index_nodes (
  id bytea NOT NULL,
  version bigint NOT NULL,
  bit integer NOT NULL,
  left_id bytea NOT NULL,
  left_hash bytea NOT NULL,
  right_id bytea NOT NULL,
  right_hash bytea NOT NULL,
  PRIMARY KEY (id, version)
);
CREATE INDEX index_nodes_by_version ON index_nodes (version);
CREATE TABLE index_leaves (
  key bytea NOT NULL,
  version bigint NOT NULL,
  count bigint NOT NULL,
  chain bytea NOT NULL,
  sequence bigint NOT NULL,
  newest bytea,
  PRIMARY KEY (key, version)
);
CREATE INDEX index_leaves_by_version ON index_leaves (version);
`,
  },
  {
    // Search by digest and by evidence attribute. A value can be 4096 characters, more than a
    // B-tree entry holds: the index keys on its SHA-256, and queries compare the value too.
    version: 2,
    sql: `
CREATE INDEX entries_by_digest ON entries (digest, idx);
CREATE TABLE attributes (
  key text NOT NULL,
  vhash bytea NOT NULL,
  value text NOT NULL,
  idx bigint NOT NULL,
  PRIMARY KEY (key, vhash, idx)
);
`,
  },
];

const valueHash = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Index nodes kept in memory per server (about 250 bytes each). */
const MAX_CACHED_INDEX_NODES = 400_000;
/** Catching up on more rows than this is slower than reading nodes as they are needed. */
const MAX_SYNC_ROWS = 50_000;
const CACHED_LOG_LEVEL = 4;
const MAX_CACHED_LOG_NODES = 200_000;

const CHECKPOINT_COLUMNS = 'size, note, created_at';
const ENTRY_COLUMNS = 'idx, leaf, digest, signer, ikey, sid';
const INNER_COLUMNS = 'id, bit, left_id, left_hash, right_id, right_hash';
const LEAF_COLUMNS = 'key, count, chain, sequence, newest';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** The index at one tree size: every node it holds is that node's newest version at `size`. */
class IndexCache {
  size = -1;
  readonly nodes = new Map<string, TreeNode>();

  get(id: Buffer, size: number): TreeNode | undefined {
    return this.size === size ? this.nodes.get(idKey(id)) : undefined;
  }

  /** Keeps a node read at `size` if the cache is still at that size. */
  offer(node: TreeNode, size: number): void {
    if (this.size === size && this.nodes.size < MAX_CACHED_INDEX_NODES) this.nodes.set(idKey(node.id), node);
  }

  /** Nodes a batch wrote to reach `size`: cached ones are replaced, new ones added while there is room. */
  advance(written: TreeNode[], size: number): void {
    for (const n of written) {
      const key = idKey(n.id);
      if (this.nodes.has(key) || this.nodes.size < MAX_CACHED_INDEX_NODES) this.nodes.set(key, n);
    }
    this.size = size;
  }

  reset(size: number): void {
    this.nodes.clear();
    this.size = size;
  }
}

export interface PostgresStoreOptions {
  /** Create and migrate the schema (a server, a copy); readers only check it. */
  migrate?: boolean;
  /** Called when an idle connection fails; the pool replaces it. */
  onIdleError?: (err: Error) => void;
  max?: number;
}

export class PostgresStore implements LedgerStore {
  readonly description: string;
  private readonly index = new IndexCache();
  private readonly logNodeCache = new Map<string, Buffer>();
  /** In-process appends and cache catch-ups run one at a time. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: Database) {
    this.description = `${db.location} (schema ${db.schema})`;
  }

  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const db = await Database.open({
      url,
      defaultSchema: 'imagetrust_ledger',
      product: 'ledger',
      migrations: MIGRATIONS,
      migrate: options.migrate ?? true,
      ...(options.max ? { max: options.max } : {}),
      ...(options.onIdleError ? { onIdleError: options.onIdleError } : {}),
    });
    return new PostgresStore(db);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async read<T>(what: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
    try {
      return await fn(this.db.pool);
    } catch (err) {
      throw dbError(what, err);
    }
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.read('ledger read failed', async (q) => {
      const r = await q.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]);
      return r.rows[0]?.value;
    });
  }

  async initMeta(key: string, value: string): Promise<string> {
    return this.read('ledger write failed', async (q) => {
      await q.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
        key,
        value,
      ]);
      const r = await q.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]);
      return r.rows[0]?.value ?? value;
    });
  }

  private async readIndexNode(q: Queryable, id: Buffer, size: number): Promise<TreeNode | undefined> {
    const hit = this.index.get(id, size);
    if (hit) return hit;
    let node: TreeNode | undefined;
    if (id[0] === 0) {
      const r = await q.query<LeafRow>(
        `SELECT ${LEAF_COLUMNS} FROM index_leaves WHERE key = $1 AND version <= $2 ORDER BY version DESC LIMIT 1`,
        [id.subarray(1), size],
      );
      node = r.rows[0] && toLeaf(r.rows[0]);
    } else {
      const r = await q.query<InnerRow>(
        `SELECT ${INNER_COLUMNS} FROM index_nodes WHERE id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1`,
        [id, size],
      );
      node = r.rows[0] && toInner(r.rows[0]);
    }
    if (node) this.index.offer(node, size);
    return node;
  }

  /** Brings the cache from its size to `size` with the rows written in between (all committed). */
  private async catchUp(q: Queryable, size: number): Promise<void> {
    const from = this.index.size;
    if (from === size) return;
    if (from < 0 || from > size) {
      this.index.reset(size);
      return;
    }
    const inner = await q.query<InnerRow & { version: number }>(
      `SELECT ${INNER_COLUMNS}, version FROM index_nodes WHERE version > $1 AND version <= $2 ORDER BY version LIMIT ${MAX_SYNC_ROWS + 1}`,
      [from, size],
    );
    const leaves = await q.query<LeafRow & { version: number }>(
      `SELECT ${LEAF_COLUMNS}, version FROM index_leaves WHERE version > $1 AND version <= $2 ORDER BY version LIMIT ${MAX_SYNC_ROWS + 1}`,
      [from, size],
    );
    if (inner.rows.length > MAX_SYNC_ROWS || leaves.rows.length > MAX_SYNC_ROWS) {
      this.index.reset(size);
      return;
    }
    // Rows in version order: the newest version of a node wins.
    const written = [
      ...inner.rows.map((r) => ({ v: r.version, n: toInner(r) })),
      ...leaves.rows.map((r) => ({ v: r.version, n: toLeaf(r) })),
    ]
      .sort((a, b) => a.v - b.v)
      .map((x) => x.n);
    this.index.advance(written, size);
  }

  private async indexHead(q: Queryable, size: number): Promise<ChildRef | undefined | null> {
    const r = await q.query<{ root_id: Buffer | null; root_hash: Buffer }>(
      'SELECT root_id, root_hash FROM index_heads WHERE size = $1',
      [size],
    );
    const head = r.rows[0];
    if (!head) return null;
    return head.root_id ? { id: head.root_id, hash: head.root_hash } : undefined;
  }

  async append(input: AppendInput): Promise<AppendOutput> {
    return this.exclusive(async () => {
      let written: TreeNode[] = [];
      try {
        const output = await this.db.transaction(async (q) => {
          const r = await this.appendIn(q, input);
          written = r.written;
          return r.output;
        });
        this.index.advance(written, output.checkpoint.size);
        return output;
      } catch (err) {
        // The cache stays right: it only ever held rows committed at the size it is at.
        throw dbError('ledger append failed', err);
      }
    });
  }

  private async appendIn(
    q: Queryable,
    input: AppendInput,
  ): Promise<{ output: AppendOutput; written: TreeNode[] }> {
    // Every server's appends queue here; the lock ends with the transaction (or the connection).
    await q.query("SELECT pg_advisory_xact_lock(hashtext('imagetrust:append:' || current_schema()))");
    const latest = toCheckpoint(
      (
        await q.query<CheckpointRow>(
          `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size DESC LIMIT 1`,
        )
      ).rows[0],
    );
    const max = (await q.query<{ m: number | null }>('SELECT max(idx) AS m FROM entries')).rows[0]?.m ?? null;
    const size = (max ?? -1) + 1;
    if (size !== (latest?.size ?? 0)) {
      throw new ImagetrustError(
        'LEDGER_TAMPERED',
        `ledger holds ${size} entries but its latest checkpoint is for ${latest?.size ?? 0}: refusing to append`,
      );
    }
    const head = latest ? await this.indexHead(q, size) : undefined;
    if (head === null)
      throw new ImagetrustError('LEDGER_TAMPERED', `ledger has no index for tree size ${size}`);
    // appendToTree reads only the complete subtrees on the tree's right edge: fetch them at once.
    const frontier = frontierOf(size);
    const found = await this.fetchNodes(q, frontier);
    const { nodes, root } = appendToTree(
      size,
      input.leaves.map((l) => l.leafHash),
      (id) => {
        const hash = found.get(nodeKey(id));
        if (!hash) throw new ImagetrustError('LEDGER_TAMPERED', `ledger is missing tree node ${nodeKey(id)}`);
        return hash;
      },
    );
    await this.catchUp(q, size);
    await this.prefetchLeaves(
      q,
      input.leaves.map((l) => l.key),
      size,
    );
    const updates = input.leaves.map((l, i) => ({
      key: l.key,
      apply: (old: Parameters<AppendInput['advance']>[0]) => input.advance(old, i, size + i),
    }));
    const index = await runAsync(updateIndex(head, updates), (id) => this.readIndexNode(q, id, size));
    const newSize = size + input.leaves.length;
    const leaves = input.leaves;
    if (leaves.length > 0) {
      await q.query(
        'INSERT INTO entries (idx, digest, signer, ikey, sid, leaf) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[])',
        [
          leaves.map((_, i) => size + i),
          leaves.map((l) => l.digest),
          leaves.map((l) => l.signer),
          leaves.map((l) => l.key),
          leaves.map((l) => l.id),
          leaves.map((l) => l.leaf),
        ],
      );
      await q.query(
        'INSERT INTO nodes (level, idx, hash) SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])',
        [nodes.map((n) => n.id.level), nodes.map((n) => n.id.index), nodes.map((n) => n.hash)],
      );
    }
    const attributes = leaves.flatMap((l, i) =>
      Object.entries(l.attributes ?? {}).map(([key, value]) => ({ index: size + i, key, value })),
    );
    if (attributes.length > 0) await this.insertAttributes(q, attributes);
    const inners = index.written.filter((n): n is InnerNode => n.kind === 'inner');
    const keyed = index.written.filter((n) => n.kind === 'leaf');
    if (inners.length > 0) {
      await q.query(
        'INSERT INTO index_nodes (id, version, bit, left_id, left_hash, right_id, right_hash) SELECT u.id, $2, u.bit, u.li, u.lh, u.ri, u.rh FROM unnest($1::bytea[], $3::integer[], $4::bytea[], $5::bytea[], $6::bytea[], $7::bytea[]) AS u(id, bit, li, lh, ri, rh)',
        [
          inners.map((n) => n.id),
          newSize,
          inners.map((n) => n.bit),
          inners.map((n) => n.left.id),
          inners.map((n) => n.left.hash),
          inners.map((n) => n.right.id),
          inners.map((n) => n.right.hash),
        ],
      );
    }
    if (keyed.length > 0) {
      await q.query(
        'INSERT INTO index_leaves (key, version, count, chain, sequence, newest) SELECT u.key, $2, u.count, u.chain, u.sequence, u.newest FROM unnest($1::bytea[], $3::bigint[], $4::bytea[], $5::bigint[], $6::bytea[]) AS u(key, count, chain, sequence, newest)',
        [
          keyed.map((n) => (n.kind === 'leaf' ? n.key : Buffer.alloc(0))),
          newSize,
          keyed.map((n) => (n.kind === 'leaf' ? n.value.count : 0)),
          keyed.map((n) => (n.kind === 'leaf' ? n.value.chain : Buffer.alloc(0))),
          keyed.map((n) => (n.kind === 'leaf' ? n.sequence : 0)),
          keyed.map((n) => (n.kind === 'leaf' ? n.newest : null)),
        ],
      );
    }
    const indexRoot = rootHashOf(index.root);
    await q.query('INSERT INTO index_heads (size, root_id, root_hash) VALUES ($1, $2, $3)', [
      newSize,
      index.root?.id ?? null,
      indexRoot,
    ]);
    const note = input.sign(newSize, root, indexRoot);
    await q.query('INSERT INTO checkpoints (size, note, created_at) VALUES ($1, $2, $3)', [
      newSize,
      note,
      input.now,
    ]);
    return {
      output: { firstIndex: size, checkpoint: { size: newSize, note, createdAt: input.now } },
      written: index.written,
    };
  }

  /** The index leaves of a batch's keys, read at once rather than one by one. */
  private async prefetchLeaves(q: Queryable, keys: Buffer[], size: number): Promise<void> {
    const wanted = [...new Map(keys.map((k) => [k.toString('hex'), k])).values()].filter(
      (k) => !this.index.get(Buffer.concat([Buffer.from([0]), k]), size),
    );
    if (wanted.length === 0) return;
    const r = await q.query<LeafRow>(
      `SELECT DISTINCT ON (key) ${LEAF_COLUMNS} FROM index_leaves WHERE key = ANY($1::bytea[]) AND version <= $2 ORDER BY key, version DESC`,
      [wanted, size],
    );
    for (const row of r.rows) this.index.offer(toLeaf(row), size);
  }

  private async fetchNodes(q: Queryable, ids: NodeId[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    if (ids.length === 0) return out;
    const r = await q.query<{ level: number; idx: number; hash: Buffer }>(
      'SELECT n.level, n.idx, n.hash FROM nodes n JOIN unnest($1::integer[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx',
      [ids.map((id) => id.level), ids.map((id) => id.index)],
    );
    for (const row of r.rows) out.set(`${row.level}/${row.idx}`, row.hash);
    return out;
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.read('ledger read failed', async (q) =>
      toCheckpoint(
        (
          await q.query<CheckpointRow>(
            `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size DESC LIMIT 1`,
          )
        ).rows[0],
      ),
    );
  }

  async checkpointAtSize(size: number): Promise<StoredCheckpoint | undefined> {
    return this.read('ledger read failed', async (q) =>
      toCheckpoint(
        (
          await q.query<CheckpointRow>(
            `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE size <= $1 ORDER BY size DESC LIMIT 1`,
            [size],
          )
        ).rows[0],
      ),
    );
  }

  async checkpointAtTime(time: number): Promise<StoredCheckpoint | undefined> {
    return this.read('ledger read failed', async (q) =>
      toCheckpoint(
        (
          await q.query<CheckpointRow>(
            `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE created_at <= $1 ORDER BY size DESC LIMIT 1`,
            [time],
          )
        ).rows[0],
      ),
    );
  }

  async checkpointsBetween(
    fromSize: number,
    toSize: number,
    limit = Number.MAX_SAFE_INTEGER,
  ): Promise<StoredCheckpoint[]> {
    return this.read('ledger read failed', async (q) =>
      (
        await q.query<CheckpointRow>(
          `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE size >= $1 AND size <= $2 ORDER BY size LIMIT $3`,
          [fromSize, toSize, limit],
        )
      ).rows.map((r) => toCheckpoint(r) as StoredCheckpoint),
    );
  }

  async keyEntries(key: Buffer, beforeSize: number, offset: number, limit: number): Promise<StoredEntry[]> {
    return this.read('ledger read failed', async (q) =>
      (
        await q.query<EntryRow>(
          `SELECT ${ENTRY_COLUMNS} FROM entries WHERE ikey = $1 AND idx < $2 ORDER BY idx LIMIT $3 OFFSET $4`,
          [key, beforeSize, limit, offset],
        )
      ).rows.map(toEntry),
    );
  }

  async indexProof(key: Buffer, size: number): Promise<IndexProof> {
    return this.read('ledger read failed', async (q) => {
      const head = await this.indexHead(q, size);
      if (head === null) throw new ImagetrustError('NOT_FOUND', `no index for tree size ${size}`);
      // A newer size than the cache's is committed (its head exists): catch up and use the cache.
      if (size > this.index.size) await this.exclusive(() => this.catchUp(q, size));
      return runAsync(proveIndex(head, key), (id) => this.readIndexNode(q, id, size));
    });
  }

  async indexRoot(size: number): Promise<Buffer | undefined> {
    return this.read('ledger read failed', async (q) => {
      const r = await q.query<{ root_hash: Buffer }>('SELECT root_hash FROM index_heads WHERE size = $1', [
        size,
      ]);
      return r.rows[0]?.root_hash;
    });
  }

  async indexNodesWrittenAt(size: number): Promise<TreeNode[]> {
    return this.read('ledger read failed', async (q) => {
      const inner = await q.query<InnerRow>(`SELECT ${INNER_COLUMNS} FROM index_nodes WHERE version = $1`, [
        size,
      ]);
      const leaves = await q.query<LeafRow>(`SELECT ${LEAF_COLUMNS} FROM index_leaves WHERE version = $1`, [
        size,
      ]);
      return [...inner.rows.map(toInner), ...leaves.rows.map(toLeaf)];
    });
  }

  private async insertAttributes(q: Queryable, rows: AttributeRow[]): Promise<void> {
    await q.query(
      'INSERT INTO attributes (key, vhash, value, idx) SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bigint[]) ON CONFLICT DO NOTHING',
      [
        rows.map((r) => r.key),
        rows.map((r) => valueHash(r.value)),
        rows.map((r) => r.value),
        rows.map((r) => r.index),
      ],
    );
  }

  async addAttributes(rows: AttributeRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 5000) {
      const chunk = rows.slice(i, i + 5000);
      await this.read('ledger write failed', (q) => this.insertAttributes(q, chunk));
    }
  }

  async searchEntries(
    query: SearchQuery,
    beforeSize: number,
    offset: number,
    limit: number,
  ): Promise<StoredEntry[]> {
    const e = ENTRY_COLUMNS.split(', ')
      .map((c) => `e.${c}`)
      .join(', ');
    return this.read('ledger search failed', async (q) => {
      const { attribute, digest } = query;
      const r = attribute
        ? await q.query<EntryRow>(
            `SELECT ${e} FROM attributes a JOIN entries e ON e.idx = a.idx WHERE a.key = $1 AND a.vhash = $2 AND a.value = $3 AND a.idx < $4${digest ? ' AND e.digest = $7' : ''} ORDER BY a.idx LIMIT $5 OFFSET $6`,
            [
              attribute.key,
              valueHash(attribute.value),
              attribute.value,
              beforeSize,
              limit,
              offset,
              ...(digest ? [digest] : []),
            ],
          )
        : await q.query<EntryRow>(
            `SELECT ${ENTRY_COLUMNS} FROM entries WHERE digest = $1 AND idx < $2 ORDER BY idx LIMIT $3 OFFSET $4`,
            [digest ?? '', beforeSize, limit, offset],
          );
      return r.rows.map(toEntry);
    });
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.read('ledger read failed', async (q) =>
      (
        await q.query<EntryRow>(
          `SELECT ${ENTRY_COLUMNS} FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
          [start, end],
        )
      ).rows.map(toEntry),
    );
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
    const found = await this.read('ledger read failed', (q) => this.fetchNodes(q, missing));
    if (this.logNodeCache.size > MAX_CACHED_LOG_NODES) this.logNodeCache.clear();
    for (const [key, hash] of found) {
      out.set(key, hash);
      if (Number(key.slice(0, key.indexOf('/'))) >= CACHED_LOG_LEVEL) this.logNodeCache.set(key, hash);
    }
    return out;
  }

  private async readCounts(q: Queryable): Promise<StoreCounts> {
    const c = (
      await q.query<{ entries: number; max_index: number | null; leaf_nodes: number }>(
        'SELECT (SELECT count(*) FROM entries) AS entries, (SELECT max(idx) FROM entries) AS max_index, (SELECT count(*) FROM nodes WHERE level = 0) AS leaf_nodes',
      )
    ).rows[0];
    return { entries: c?.entries ?? 0, maxIndex: c?.max_index ?? -1, leafNodes: c?.leaf_nodes ?? 0 };
  }

  async counts(): Promise<StoreCounts> {
    return this.read('ledger read failed', (q) => this.readCounts(q));
  }

  async snapshot(): Promise<{ checkpoint: StoredCheckpoint | undefined; counts: StoreCounts }> {
    try {
      return await this.db.transaction(
        async (q) => ({
          checkpoint: toCheckpoint(
            (
              await q.query<CheckpointRow>(
                `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size DESC LIMIT 1`,
              )
            ).rows[0],
          ),
          counts: await this.readCounts(q),
        }),
        'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      );
    } catch (err) {
      throw dbError('ledger read failed', err);
    }
  }

  /**
   * What the database can say about itself beyond what the audit recomputes: every checkpoint
   * has its index head, and index rows belong to a batch that was checkpointed.
   */
  async integrityCheck(): Promise<string[]> {
    try {
      const r = await this.db.pool.query<{ problem: string }>(`
        SELECT 'checkpoint of size ' || c.size || ' has no index head' AS problem
          FROM checkpoints c LEFT JOIN index_heads h ON h.size = c.size WHERE h.size IS NULL
        UNION ALL
        SELECT 'index head of size ' || h.size || ' has no checkpoint'
          FROM index_heads h LEFT JOIN checkpoints c ON c.size = h.size WHERE c.size IS NULL
        UNION ALL
        SELECT 'index nodes written at size ' || v || ' that no checkpoint has'
          FROM (SELECT DISTINCT version AS v FROM index_nodes UNION SELECT DISTINCT version FROM index_leaves) w
          LEFT JOIN checkpoints c ON c.size = w.v WHERE c.size IS NULL
        LIMIT 100`);
      return r.rows.map((row) => row.problem);
    } catch (err) {
      return [`PostgreSQL consistency check failed: ${(err as Error).message}`];
    }
  }

  async sizeOnDisk(): Promise<number> {
    return this.read('ledger read failed', async (q) => {
      const r = await q.query<{ bytes: string | null }>(
        "SELECT sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'",
      );
      return Number(r.rows[0]?.bytes ?? 0);
    });
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.db.close();
  }
}

/** The complete subtrees a tree of `size` ends with (its right edge): one per set bit of `size`. */
export function frontierOf(size: number): NodeId[] {
  const out: NodeId[] = [];
  let start = 0;
  for (let level = 52; level >= 0; level -= 1) {
    const width = 2 ** level;
    if (size - start >= width) {
      out.push({ level, index: start / width });
      start += width;
    }
  }
  return out;
}
