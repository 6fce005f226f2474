// The fleet server's side of the fleet store: the whole fleet's answers, from a replica in
// memory of the nodes and containers tables. The replica is loaded whole at start, a node is
// re-read as soon as its agent's change is committed (NOTIFY), and every second one small query
// reads every node's heartbeat and version (catching any notification missed). So a query costs
// no database work, and the database's load follows the fleet's changes, not its readers.
//
// A node whose heartbeat (the database's clock) is older than `staleMs` is `unreachable` and its
// containers `unknown` with their last known status and its age. If the database has not been
// read for `maxLagMs`, every answer is an error (503 STORE_UNREACHABLE), never an old view.
// Verify-now requests reach the node's agent through LISTEN/NOTIFY; history is pruned in small
// batches so no lock is held for long.

import type pg from 'pg';
import { ImagetrustError } from '../errors';
import { Database, dbError } from '../postgres/database';
import type { ChangeEvent } from '../agent/history';
import { byTimeThenNode, checkPoints, stepSeries, type CountPoint, type Snapshot } from '../agent/series';
import type { ContainerResult, NodeState } from '../agent/types';
import {
  imagesOf,
  matches,
  summaryOf,
  unreachableView,
  worstFirst,
  type ContainerFilter,
  type FleetSummary,
  type ImageSummary,
  type LocalView,
} from '../agent/views';
import type { ImageFacts } from './publisher';
import { DB_NOW_MS, FLEET_MIGRATIONS, FLEET_SCHEMA, channels } from './schema';

export interface FleetStoreOptions {
  url: string;
  /** A node silent for longer than this is unreachable. */
  staleMs: number;
  /** Without a successful read of the database for this long, answers are errors. */
  maxLagMs?: number;
  /** How often heartbeats and versions are read. */
  pollMs?: number;
  /** How long a verify-now request waits for the node's answer. */
  verifyTimeoutMs?: number;
  clock?: () => number;
  max?: number;
}

interface NodeRow {
  node: string;
  state: NodeState;
  images: Record<string, ImageFacts>;
  heartbeat_at: number;
  version: number;
}

interface Replica {
  row: NodeRow;
  containers: ContainerResult[];
}

const PRUNE_BATCH = 5000;

export class FleetStore {
  private readonly replica = new Map<string, Replica>();
  /** Grows whenever the replica changes (a node re-read, added, dropped or gone silent). */
  private changes = 0;
  /** The database's clock minus ours, at the last poll. */
  private skew = 0;
  private readAt = Number.NEGATIVE_INFINITY;
  private loaded = false;
  private poller: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  private listening: Promise<void> | undefined;
  private readonly refreshing = new Map<string, Promise<void>>();
  private readonly waiting = new Map<number, () => void>();
  private readonly clock: () => number;
  private readonly channels: ReturnType<typeof channels>;
  private closed = false;

  private constructor(
    private readonly db: Database,
    private readonly options: FleetStoreOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.channels = channels(db.schema);
  }

  /** Opens the store and keeps its replica current until close(). */
  static async open(options: FleetStoreOptions): Promise<FleetStore> {
    const db = await Database.open({
      url: options.url,
      defaultSchema: FLEET_SCHEMA,
      product: 'fleet store',
      migrations: FLEET_MIGRATIONS,
      max: options.max ?? 16,
      onIdleError: () => undefined,
    });
    const store = new FleetStore(db, options);
    await store.poll().catch(() => undefined);
    store.poller = setInterval(() => void store.poll().catch(() => undefined), options.pollMs ?? 1000);
    store.poller.unref();
    return store;
  }

  get location(): string {
    return this.db.location;
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.db.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw dbError('fleet store read failed', err, this.db.location);
    }
  }

  /** The database's clock now, as of the last poll. */
  private dbNow(): number {
    return this.clock() + this.skew;
  }

  /**
   * Changes whenever an answer may: the replica changed, or a second passed (a node may have
   * gone silent, and a replica not read for too long must refuse).
   */
  get generation(): string {
    return `${this.changes}/${Math.floor(this.clock() / 1000)}`;
  }

  /** Whether the replica is current enough to answer from. */
  fresh(): boolean {
    return this.loaded && this.clock() - this.readAt <= (this.options.maxLagMs ?? 3000);
  }

  async ping(): Promise<boolean> {
    return this.fresh();
  }

  private requireFresh(): void {
    if (!this.fresh()) {
      throw new ImagetrustError(
        'STORE_UNREACHABLE',
        `the fleet store ${this.db.location} has not been read for ${Math.round((this.clock() - this.readAt) / 1000)}s: no answer rather than an old one`,
      );
    }
  }

  /** Heartbeats and versions of every node; re-reads the nodes that changed, drops removed ones. */
  private poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        void this.listen();
        const started = this.clock();
        const rows = await this.query<{
          node: string;
          heartbeat_at: number;
          version: number;
          db_now: number;
        }>(`SELECT node, heartbeat_at, version, ${DB_NOW_MS} AS db_now FROM nodes`);
        const seen = new Set<string>();
        const stale: string[] = [];
        for (const r of rows) {
          seen.add(r.node);
          const known = this.replica.get(r.node);
          if (known && known.row.version === r.version) known.row.heartbeat_at = r.heartbeat_at;
          else stale.push(r.node);
        }
        for (const node of this.replica.keys())
          if (!seen.has(node)) {
            this.replica.delete(node);
            this.changes += 1;
          }
        await this.refresh(stale);
        this.skew = (rows[0]?.db_now ?? this.clock()) - this.clock();
        if (rows.length === 0) {
          const [now] = await this.query<{ db_now: number }>(`SELECT ${DB_NOW_MS} AS db_now`);
          this.skew = (now?.db_now ?? this.clock()) - this.clock();
        }
        this.readAt = started;
        this.loaded = true;
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  /** Re-reads whole nodes (their row and containers), a batch at a time. */
  private async refresh(nodes: string[]): Promise<void> {
    for (let i = 0; i < nodes.length; i += 200) {
      const batch = nodes.slice(i, i + 200);
      const [rows, containers] = await Promise.all([
        this.query<NodeRow>(
          'SELECT node, state, images, heartbeat_at, version FROM nodes WHERE node = ANY($1)',
          [batch],
        ),
        this.query<{ node: string; result: ContainerResult }>(
          'SELECT node, result FROM containers WHERE node = ANY($1)',
          [batch],
        ),
      ]);
      const byNode = new Map<string, ContainerResult[]>();
      for (const c of containers) {
        let list = byNode.get(c.node);
        if (!list) byNode.set(c.node, (list = []));
        list.push(c.result);
      }
      for (const r of rows) this.replica.set(r.node, { row: r, containers: byNode.get(r.node) ?? [] });
      for (const n of batch) if (!rows.some((r) => r.node === n)) this.replica.delete(n);
      this.changes += 1;
    }
  }

  /** One node changed: re-read it now (one at a time per node; a change during a read reads again). */
  private changed(node: string): void {
    const running = this.refreshing.get(node);
    const next = (running ?? Promise.resolve())
      .then(() => this.refresh([node]))
      .catch(() => undefined)
      .finally(() => {
        if (this.refreshing.get(node) === next) this.refreshing.delete(node);
      });
    this.refreshing.set(node, next);
  }

  /** One connection LISTENs for changed nodes and for verify-now answers; re-made when it drops. */
  private listen(): Promise<void> {
    if (this.listener || this.closed) return Promise.resolve();
    this.listening ??= (async () => {
      let client: pg.Client | undefined;
      try {
        client = await this.db.connectAlone();
        const c = client;
        const drop = (): void => {
          if (this.listener === c) this.listener = undefined;
          c.end().catch(() => undefined);
        };
        c.on('error', drop);
        c.on('end', drop);
        c.on('notification', (msg) => {
          if (msg.channel === this.channels.changed && msg.payload) this.changed(msg.payload);
          else if (msg.channel === this.channels.verified) this.waiting.get(Number(msg.payload))?.();
        });
        await c.query(`LISTEN ${this.channels.changed}`);
        await c.query(`LISTEN ${this.channels.verified}`);
        this.listener = c;
      } catch {
        await client?.end().catch(() => undefined);
      } finally {
        this.listening = undefined;
      }
    })();
    return this.listening;
  }

  private view(r: Replica, now: number): LocalView {
    const silent = now - r.row.heartbeat_at;
    if (silent > this.options.staleMs) {
      return unreachableView(
        { node: r.row.state, containers: r.containers },
        r.row.node,
        `no heartbeat for ${Math.round(silent / 1000)}s`,
        r.row.heartbeat_at - this.skew,
        this.clock(),
      );
    }
    return { node: { ...r.row.state, local: false }, containers: r.containers };
  }

  /** Every node's view, from the replica (sorted by node). */
  async views(): Promise<FleetRead> {
    this.requireFresh();
    const now = this.dbNow();
    const names = [...this.replica.keys()].sort();
    const facts = new Map<string, ImageFacts>();
    const views = names.map((n) => {
      const r = this.replica.get(n) as Replica;
      for (const [digest, f] of Object.entries(r.row.images ?? {})) facts.set(digest, f);
      return this.view(r, now);
    });
    return { views, facts };
  }

  async nodes(): Promise<NodeState[]> {
    return (await this.views()).views.map((v) => v.node);
  }

  async containers(filter: ContainerFilter = {}): Promise<ContainerResult[]> {
    this.requireFresh();
    if (filter.node !== undefined) {
      const r = this.replica.get(filter.node);
      if (!r) return [];
      return worstFirst(this.view(r, this.dbNow()).containers.filter((c) => matches(c, filter)));
    }
    const { views } = await this.views();
    return worstFirst(views.flatMap((v) => v.containers).filter((c) => matches(c, filter)));
  }

  async images(filter: ContainerFilter = {}): Promise<ImageSummary[]> {
    const { facts } = await this.views();
    return imagesOf(await this.containers(filter), (d) => facts.get(d));
  }

  async summary(): Promise<FleetSummary> {
    return summaryOf((await this.views()).views);
  }

  async events(from: number, to: number, node: string | undefined, limit: number): Promise<ChangeEvent[]> {
    const rows = await this.query<{ event: ChangeEvent }>(
      node === undefined
        ? 'SELECT event FROM events WHERE time >= $1 AND time <= $2 ORDER BY time, id LIMIT $3'
        : 'SELECT event FROM events WHERE time >= $1 AND time <= $2 AND node = $4 ORDER BY time, id LIMIT $3',
      node === undefined ? [from, to, limit] : [from, to, limit, node],
    );
    return rows.map((r) => r.event);
  }

  async series(from: number, to: number, stepMs: number, node?: string): Promise<CountPoint[]> {
    checkPoints(from, to, stepMs);
    const names =
      node === undefined
        ? (await this.query<{ node: string }>('SELECT node FROM nodes')).map((r) => r.node)
        : [node];
    const columns = 'time, trusted, untrusted, unsupported, unknown, total';
    const before = await this.query<Snapshot & { node: string }>(
      `SELECT DISTINCT ON (node) node, ${columns} FROM snapshots WHERE node = ANY($1) AND time <= $2 ORDER BY node, time DESC, id DESC`,
      [names, from],
    );
    const rows = await this.query<Snapshot & { node: string }>(
      `SELECT node, ${columns} FROM snapshots WHERE node = ANY($1) AND time > $2 AND time <= $3 ORDER BY node, time, id`,
      [names, from, to],
    );
    const grouped = new Map<string, Snapshot[]>();
    for (const r of rows) {
      let list = grouped.get(r.node);
      if (!list) grouped.set(r.node, (list = []));
      list.push(r);
    }
    const first = new Map(before.map((b) => [b.node, b]));
    return byTimeThenNode(
      names.flatMap((n) => stepSeries(n, first.get(n), grouped.get(n) ?? [], from, to, stepMs)),
    );
  }

  /** Asks the node's agent to verify now and waits for its answer. */
  async verifyNow(node: string, container?: string): Promise<ContainerResult[]> {
    this.requireFresh();
    const known = this.replica.get(node);
    if (!known) throw new ImagetrustError('NOT_FOUND', `no node ${node} in the fleet store`);
    const silent = this.dbNow() - known.row.heartbeat_at;
    if (silent > this.options.staleMs)
      throw new ImagetrustError(
        'PEER_UNREACHABLE',
        `node ${node} is unreachable: no heartbeat for ${Math.round(silent / 1000)}s`,
      );
    await this.listen();
    if (!this.listener)
      throw new ImagetrustError('STORE_UNREACHABLE', `cannot listen for answers on ${this.db.location}`);
    const [request] = await this.query<{ id: number }>(
      `WITH r AS (INSERT INTO verify_requests (node, container, requested_at) VALUES ($1, $2, ${DB_NOW_MS}) RETURNING id)
       SELECT id, pg_notify($3, json_build_object('id', id, 'node', $1::text)::text) FROM r`,
      [node, container ?? null, this.channels.verify],
    );
    const id = (request as { id: number }).id;
    const timeoutMs = this.options.verifyTimeoutMs ?? 30_000;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve();
      }, timeoutMs);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve();
      });
    });
    const [done] = await this.query<{
      answer: { containers?: ContainerResult[]; error?: { code: string; message: string } } | null;
    }>('SELECT answer FROM verify_requests WHERE id = $1', [id]);
    const answer = done?.answer;
    if (!answer)
      throw new ImagetrustError(
        'PEER_UNREACHABLE',
        `node ${node} did not answer within ${timeoutMs / 1000}s`,
      );
    if (answer.error) {
      const code = answer.error.code === 'NOT_FOUND' ? 'NOT_FOUND' : 'PEER_INVALID';
      throw new ImagetrustError(code, `node ${node}: ${answer.error.message}`);
    }
    if (!Array.isArray(answer.containers))
      throw new ImagetrustError('PEER_INVALID', `node ${node} answered no containers`);
    this.changed(node);
    return answer.containers;
  }

  /** Every node verifies now; nodes that cannot are listed with why. */
  async verifyAll(): Promise<{
    containers: ContainerResult[];
    unreachable: { node: string; code: string; message: string }[];
  }> {
    const names = (await this.query<{ node: string }>('SELECT node FROM nodes ORDER BY node')).map(
      (r) => r.node,
    );
    const settled = await Promise.allSettled(names.map((n) => this.verifyNow(n)));
    const containers: ContainerResult[] = [];
    const unreachable: { node: string; code: string; message: string }[] = [];
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') containers.push(...s.value);
      else {
        const e = s.reason as { code?: string; message?: string };
        unreachable.push({
          node: names[i] as string,
          code: e.code ?? 'INTERNAL',
          message: e.message ?? String(s.reason),
        });
      }
    });
    return { containers, unreachable };
  }

  /**
   * Drops history older than `before` in batches of PRUNE_BATCH rows, each its own short
   * transaction, so writers never wait long. Returns the rows removed.
   */
  async prune(before: number): Promise<number> {
    let removed = 0;
    for (const table of ['events', 'snapshots', 'verify_requests']) {
      const column = table === 'verify_requests' ? 'requested_at' : 'time';
      for (;;) {
        const rows = await this.query<{ n: number }>(
          `WITH gone AS (DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${column} < $1 LIMIT ${PRUNE_BATCH}) RETURNING 1) SELECT count(*)::int AS n FROM gone`,
          [before],
        );
        const n = rows[0]?.n ?? 0;
        removed += n;
        if (n < PRUNE_BATCH) break;
      }
    }
    return removed;
  }

  /** Rows and bytes the fleet store holds, for benchmarks and /metrics. */
  async size(): Promise<{ rows: Record<string, number>; bytes: number }> {
    const rows = await this.query<{ relname: string; n: string; bytes: string }>(
      "SELECT c.relname, c.reltuples::bigint::text AS n, pg_total_relation_size(c.oid)::text AS bytes FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'",
    );
    const exact = await this.query<{ t: string; n: number }>(
      "SELECT 'nodes' AS t, count(*)::int AS n FROM nodes UNION ALL SELECT 'containers', count(*)::int FROM containers UNION ALL SELECT 'events', count(*)::int FROM events UNION ALL SELECT 'snapshots', count(*)::int FROM snapshots",
    );
    return {
      rows: Object.fromEntries(exact.map((r) => [r.t, r.n])),
      bytes: rows.reduce((sum, r) => sum + Number(r.bytes), 0),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    for (const wake of this.waiting.values()) wake();
    await this.polling?.catch(() => undefined);
    await this.listening;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await Promise.all(this.refreshing.values());
    await this.db.close();
  }
}

export interface FleetRead {
  views: LocalView[];
  facts: Map<string, ImageFacts>;
}
