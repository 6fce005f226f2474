// The agent's side of the fleet store: a publisher that writes its node's state, the results
// of its containers and its history into PostgreSQL, connecting out only. It writes what
// changed as soon as a pass produced it (one transaction; writes that pile up while one runs
// are merged into the next), and a heartbeat in between, so `fleet serve` can tell a quiet
// node from a dead one. While the database is down the newest state waits in memory with the
// history events (bounded; the oldest are dropped and counted) and is written whole once it
// is back. It also listens for verify-now requests addressed to its node.

import type pg from 'pg';
import type { Logger } from 'pino';
import { asImagetrustError } from '../errors';
import { Database } from '../postgres/database';
import type { ChangeEvent } from '../agent/history';
import type { NodeUpdate, Publisher } from '../agent/publish';
import type { ContainerResult } from '../agent/types';
import { DB_NOW_MS, FLEET_MIGRATIONS, FLEET_SCHEMA, channels } from './schema';

export interface ImageFacts {
  repoTags: string[];
  repoDigests: string[];
}

export interface FleetPublisherOptions {
  url: string;
  node: string;
  /** Who writes (host, pid, version): a second agent publishing the same node is logged. */
  agent: string;
  logger: Logger;
  heartbeatMs?: number;
  /** What the engine says about the images its containers run (for the fleet's /images). */
  imageFacts?: (digest: string) => ImageFacts | undefined;
  /** Runs a verification now on this node (a verify-now request from `fleet serve`). */
  verifyNow?: (container?: string) => Promise<ContainerResult[]>;
  maxBufferedEvents?: number;
  clock?: () => number;
  /** A database shared with other publishers (the fleet simulator); its owner closes it. */
  database?: Database;
}

export interface FleetPublisherStats {
  connected: boolean;
  writes: number;
  failures: number;
  bufferedEvents: number;
  droppedEvents: number;
  lastWriteAt?: number;
}

const MAX_BACKOFF_MS = 30_000;
/** A request older than this was given up by `fleet serve`. */
const REQUEST_TTL_MS = 60_000;

export class FleetPublisher implements Publisher {
  readonly name = 'fleet-store';
  private db: Database | undefined;
  private opening: Promise<Database> | undefined;
  private latest: NodeUpdate | undefined;
  /** The JSON of each container result and of the node state as the database holds them. */
  private written = new Map<string, string>();
  private writtenNode: string | undefined;
  private writtenImages: string | undefined;
  private events: ChangeEvent[] = [];
  private snapshots: { time: number; counts: NodeUpdate['node']['counts'] }[] = [];
  private lastCounts: string | undefined;
  private flushing: Promise<void> | undefined;
  private dirty = false;
  private retry: NodeJS.Timeout | undefined;
  private retryDelay = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private listener: pg.Client | undefined;
  private closed = false;
  private readonly clock: () => number;
  private readonly channels: ReturnType<typeof channels>;
  readonly stats: FleetPublisherStats = {
    connected: false,
    writes: 0,
    failures: 0,
    bufferedEvents: 0,
    droppedEvents: 0,
  };

  constructor(private readonly options: FleetPublisherOptions) {
    this.clock = options.clock ?? Date.now;
    this.channels = channels(schemaOf(options.url));
    this.heartbeat = setInterval(() => this.kick(), options.heartbeatMs ?? 10_000);
    this.heartbeat.unref();
  }

  publish(update: NodeUpdate): void {
    this.latest = update;
    const max = this.options.maxBufferedEvents ?? 10_000;
    this.events.push(...update.changes);
    if (this.events.length > max) {
      this.stats.droppedEvents += this.events.length - max;
      this.events.splice(0, this.events.length - max);
    }
    const counts = JSON.stringify(update.node.counts);
    if (counts !== this.lastCounts) {
      this.lastCounts = counts;
      this.snapshots.push({ time: update.time, counts: update.node.counts });
      if (this.snapshots.length > max) this.snapshots.splice(0, this.snapshots.length - max);
    }
    this.stats.bufferedEvents = this.events.length;
    this.kick();
  }

  /** Writes now, or once more right after the write in progress. */
  private kick(): void {
    if (this.closed) return;
    if (this.flushing) {
      this.dirty = true;
      return;
    }
    this.flushing = this.flushLoop().finally(() => (this.flushing = undefined));
  }

  /** Resolves when everything published so far is written (or the write failed). */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    do {
      this.dirty = false;
      try {
        await this.write();
        this.retryDelay = 0;
      } catch (err) {
        this.failed(err);
        return;
      }
    } while (this.dirty && !this.closed);
  }

  private failed(err: unknown): void {
    this.stats.failures += 1;
    if (this.stats.connected)
      this.options.logger.warn(
        { err: asImagetrustError(err, 'STORE_UNREACHABLE').message },
        'fleet store unreachable: buffering until it is back',
      );
    this.stats.connected = false;
    // Nothing is known to be in the database any more: the next write is a whole one.
    this.written.clear();
    this.writtenNode = undefined;
    this.writtenImages = undefined;
    if (this.closed || this.retry) return;
    this.retryDelay = Math.min(MAX_BACKOFF_MS, this.retryDelay === 0 ? 1000 : this.retryDelay * 2);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.kick();
    }, this.retryDelay);
    this.retry.unref();
  }

  private async database(): Promise<Database> {
    if (this.options.database) return this.options.database;
    if (this.db) return this.db;
    this.opening ??= Database.open({
      url: this.options.url,
      defaultSchema: FLEET_SCHEMA,
      product: 'fleet store',
      migrations: FLEET_MIGRATIONS,
      max: 2,
      onIdleError: () => undefined,
    }).finally(() => (this.opening = undefined));
    this.db = await this.opening;
    return this.db;
  }

  private async write(): Promise<void> {
    const db = await this.database();
    const update = this.latest;
    const now = this.clock();
    if (!update) return;
    const nodeJson = JSON.stringify(update.node);
    const images = this.imagesOf(update.containers);
    // Serialized once, before any wait: what is remembered as written is exactly what was sent.
    const serialized = update.containers.map((c) => ({
      id: c.id,
      status: c.status,
      json: JSON.stringify(c),
    }));
    const changed = serialized.filter((c) => this.written.get(c.id) !== c.json);
    const running = new Set(serialized.map((c) => c.id));
    const gone = [...this.written.keys()].filter((id) => !running.has(id));
    const events = this.events.slice();
    const snapshots = this.snapshots.slice();
    const whole = this.writtenNode === undefined;
    const { node, agent } = this.options;
    const anything =
      whole ||
      nodeJson !== this.writtenNode ||
      images !== this.writtenImages ||
      changed.length > 0 ||
      gone.length > 0;
    await db.transaction(async (q) => {
      const prior = await q.query<{ agent: string | null }>(
        `WITH before AS (SELECT agent FROM nodes WHERE node = $1)
         INSERT INTO nodes (node, state, images, heartbeat_at, agent) VALUES ($1, $2, $3, ${DB_NOW_MS}, $4)
         ON CONFLICT (node) DO UPDATE SET heartbeat_at = ${DB_NOW_MS}, agent = $4,
           state = CASE WHEN $5 THEN $2 ELSE nodes.state END,
           images = CASE WHEN $6 THEN $3 ELSE nodes.images END,
           version = nodes.version + CASE WHEN $7 THEN 1 ELSE 0 END
         RETURNING (SELECT agent FROM before) AS agent`,
        [
          node,
          nodeJson,
          images,
          agent,
          nodeJson !== this.writtenNode,
          images !== this.writtenImages,
          anything,
        ],
      );
      const before = prior.rows[0]?.agent;
      if (before && before !== agent && whole)
        this.options.logger.warn({ node, other: before }, 'another agent published this node before');
      if (whole)
        await q.query('DELETE FROM containers WHERE node = $1 AND NOT (id = ANY($2))', [
          node,
          update.containers.map((c) => c.id),
        ]);
      else if (gone.length > 0)
        await q.query('DELETE FROM containers WHERE node = $1 AND id = ANY($2)', [node, gone]);
      // Delivered when the transaction commits: fleet servers re-read this node at once.
      if (anything) await q.query('SELECT pg_notify($1, $2)', [this.channels.changed, node]);
      if (changed.length > 0) {
        await q.query(
          `INSERT INTO containers (node, id, status, result, changed_at)
           SELECT $1, u.id, u.status, u.result, $2 FROM unnest($3::text[], $4::text[], $5::jsonb[]) AS u(id, status, result)
           ON CONFLICT (node, id) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result, changed_at = EXCLUDED.changed_at`,
          [node, now, changed.map((c) => c.id), changed.map((c) => c.status), changed.map((c) => c.json)],
        );
      }
      if (events.length > 0) {
        await q.query(
          'INSERT INTO events (time, node, event) SELECT u.time, $1, u.event FROM unnest($2::bigint[], $3::jsonb[]) AS u(time, event)',
          [node, events.map((e) => e.time), events.map((e) => JSON.stringify({ ...e, node }))],
        );
      }
      if (snapshots.length > 0) {
        await q.query(
          `INSERT INTO snapshots (time, node, trusted, untrusted, unsupported, unknown, total)
           SELECT u.time, $1, u.t, u.u, u.s, u.k, u.n FROM unnest($2::bigint[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[]) AS u(time, t, u, s, k, n)`,
          [
            node,
            snapshots.map((s) => s.time),
            snapshots.map((s) => s.counts.trusted),
            snapshots.map((s) => s.counts.untrusted),
            snapshots.map((s) => s.counts.unsupported),
            snapshots.map((s) => s.counts.unknown),
            snapshots.map((s) => s.counts.total),
          ],
        );
      }
    });
    // Written: remember it, and forget what was buffered up to here.
    this.writtenNode = nodeJson;
    this.writtenImages = images;
    for (const id of gone) this.written.delete(id);
    if (whole) this.written.clear();
    for (const c of serialized) this.written.set(c.id, c.json);
    this.events.splice(0, events.length);
    this.snapshots.splice(0, snapshots.length);
    this.stats.bufferedEvents = this.events.length;
    this.stats.writes += 1;
    this.stats.lastWriteAt = now;
    if (!this.stats.connected) {
      this.stats.connected = true;
      this.options.logger.info({ fleetDb: db.location }, 'publishing to the fleet store');
      void this.listen(db);
    }
  }

  private imagesOf(containers: ContainerResult[]): string {
    const out: Record<string, ImageFacts> = {};
    for (const c of containers) {
      const facts = this.options.imageFacts?.(c.digest);
      if (facts) out[c.digest] = facts;
    }
    return JSON.stringify(out);
  }

  /** LISTENs for verify-now requests; answers those that waited while it was away. */
  private async listen(db: Database): Promise<void> {
    if (!this.options.verifyNow || this.listener || this.closed) return;
    let client: pg.Client;
    try {
      client = await db.connectAlone();
    } catch {
      return; // Tried again on the next reconnect.
    }
    this.listener = client;
    const drop = (): void => {
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => undefined);
      if (!this.closed) this.failed(new Error('listener connection lost'));
    };
    client.on('error', drop);
    client.on('end', () => {
      if (this.listener === client) drop();
    });
    client.on('notification', (msg) => {
      if (msg.channel !== this.channels.verify || !msg.payload) return;
      let request: { id?: unknown; node?: unknown };
      try {
        request = JSON.parse(msg.payload) as typeof request;
      } catch {
        return;
      }
      if (request.node === this.options.node && typeof request.id === 'number')
        void this.answer(db, request.id);
    });
    try {
      await client.query(`LISTEN ${this.channels.verify}`);
      const waiting = await db.pool.query<{ id: number }>(
        `SELECT id FROM verify_requests WHERE node = $1 AND answered_at IS NULL AND requested_at > ${DB_NOW_MS} - $2`,
        [this.options.node, REQUEST_TTL_MS],
      );
      for (const r of waiting.rows) void this.answer(db, r.id);
    } catch {
      drop();
    }
  }

  private async answer(db: Database, id: number): Promise<void> {
    let answer: unknown;
    try {
      const claimed = await db.pool.query<{ container: string | null }>(
        'UPDATE verify_requests SET answered_at = 0 WHERE id = $1 AND node = $2 AND answered_at IS NULL RETURNING container',
        [id, this.options.node],
      );
      const row = claimed.rows[0];
      if (!row) return;
      try {
        const containers = await (this.options.verifyNow as NonNullable<FleetPublisherOptions['verifyNow']>)(
          row.container ?? undefined,
        );
        answer = { containers };
      } catch (err) {
        const e = asImagetrustError(err);
        answer = { error: { code: e.code, message: e.message } };
      }
      // The new results are in the database before the answer is.
      this.kick();
      await this.settled();
      await db.pool.query(
        `WITH done AS (UPDATE verify_requests SET answered_at = ${DB_NOW_MS}, answer = $2 WHERE id = $1 RETURNING id) SELECT pg_notify($3, id::text) FROM done`,
        [id, JSON.stringify(answer), this.channels.verified],
      );
    } catch (err) {
      this.options.logger.warn(
        { id, err: asImagetrustError(err).message },
        'cannot answer a verify-now request',
      );
    }
  }

  async close(): Promise<void> {
    await this.settled();
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.retry) clearTimeout(this.retry);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.opening?.catch(() => undefined);
    await this.db?.close().catch(() => undefined);
  }
}

/** The schema a fleet-store URL names (`?schema=`), for its notification channels. */
export function schemaOf(url: string): string {
  try {
    return new URL(url).searchParams.get('schema') ?? FLEET_SCHEMA;
  } catch {
    return FLEET_SCHEMA;
  }
}
