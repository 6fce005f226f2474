// The agent's append-only history (SQLite): every change (container started or stopped,
// status changed, drift seen, node unreachable or back) for annotations, and a snapshot of
// the counts by status whenever they change, for time series. Rows older than the retention
// are dropped.

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ImagetrustError } from '../errors';
import { byTimeThenNode, checkPoints, stepSeries, MAX_POINTS, type CountPoint } from './series';
import type { StatusCounts } from './types';

import type { ChangeEvent, ChangeKind } from '../api/types';

export type { ChangeEvent, ChangeKind } from '../api/types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  node TEXT NOT NULL,
  kind TEXT NOT NULL,
  container_id TEXT,
  container_name TEXT,
  image TEXT,
  digest TEXT,
  status TEXT,
  previous TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
CREATE TABLE IF NOT EXISTS snapshots (
  time INTEGER NOT NULL,
  node TEXT NOT NULL,
  trusted INTEGER NOT NULL,
  untrusted INTEGER NOT NULL,
  unsupported INTEGER NOT NULL,
  unknown INTEGER NOT NULL,
  total INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_by_node_time ON snapshots (node, time);
`;

interface EventRow {
  time: number;
  node: string;
  kind: ChangeKind;
  container_id: string | null;
  container_name: string | null;
  image: string | null;
  digest: string | null;
  status: string | null;
  previous: string | null;
  detail: string | null;
}

interface SnapshotRow extends StatusCounts {
  time: number;
  node: string;
}

export { MAX_POINTS, type CountPoint };

export class History {
  private readonly db: Database.Database;
  private readonly lastSnapshot = new Map<string, string>();

  constructor(
    path: string,
    private readonly retentionMs: number,
  ) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw new ImagetrustError('IO', `cannot open history ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  record(events: ChangeEvent[]): void {
    if (events.length === 0) return;
    const insert = this.db.prepare(
      'INSERT INTO events (time, node, kind, container_id, container_name, image, digest, status, previous, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      for (const e of events) {
        insert.run(
          e.time,
          e.node,
          e.kind,
          e.containerId ?? null,
          e.containerName ?? null,
          e.image ?? null,
          e.digest ?? null,
          e.status ?? null,
          e.previous ?? null,
          e.detail ?? null,
        );
      }
    })();
  }

  /** Stores the counts of a node if they differ from the last ones stored. */
  snapshot(time: number, node: string, counts: StatusCounts): void {
    const key = `${counts.trusted}/${counts.untrusted}/${counts.unsupported}/${counts.unknown}/${counts.total}`;
    if (this.lastSnapshot.get(node) === key) return;
    this.lastSnapshot.set(node, key);
    this.db
      .prepare(
        'INSERT INTO snapshots (time, node, trusted, untrusted, unsupported, unknown, total) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(time, node, counts.trusted, counts.untrusted, counts.unsupported, counts.unknown, counts.total);
  }

  events(from: number, to: number, node?: string, limit = 10_000): ChangeEvent[] {
    const rows = (
      node === undefined
        ? this.db
            .prepare('SELECT * FROM events WHERE time >= ? AND time <= ? ORDER BY time, id LIMIT ?')
            .all(from, to, limit)
        : this.db
            .prepare(
              'SELECT * FROM events WHERE time >= ? AND time <= ? AND node = ? ORDER BY time, id LIMIT ?',
            )
            .all(from, to, node, limit)
    ) as EventRow[];
    return rows.map((r) => ({
      time: r.time,
      node: r.node,
      kind: r.kind,
      ...(r.container_id === null ? {} : { containerId: r.container_id }),
      ...(r.container_name === null ? {} : { containerName: r.container_name }),
      ...(r.image === null ? {} : { image: r.image }),
      ...(r.digest === null ? {} : { digest: r.digest }),
      ...(r.status === null ? {} : { status: r.status }),
      ...(r.previous === null ? {} : { previous: r.previous }),
      ...(r.detail === null ? {} : { detail: r.detail }),
    }));
  }

  /** Counts by status for each node at every step from `from` to `to` (the last snapshot at or before each point). */
  series(from: number, to: number, stepMs: number, node?: string): CountPoint[] {
    checkPoints(from, to, stepMs);
    const nodes = (
      node === undefined ? this.db.prepare('SELECT DISTINCT node FROM snapshots').all() : [{ node }]
    ) as { node: string }[];
    const points = nodes.flatMap(({ node: n }) => {
      const before = this.db
        .prepare('SELECT * FROM snapshots WHERE node = ? AND time <= ? ORDER BY time DESC LIMIT 1')
        .get(n, from) as SnapshotRow | undefined;
      const rows = this.db
        .prepare('SELECT * FROM snapshots WHERE node = ? AND time > ? AND time <= ? ORDER BY time')
        .all(n, from, to) as SnapshotRow[];
      return stepSeries(n, before, rows, from, to, stepMs);
    });
    return byTimeThenNode(points);
  }

  prune(now: number): number {
    const cutoff = now - this.retentionMs;
    const a = this.db.prepare('DELETE FROM events WHERE time < ?').run(cutoff).changes;
    const b = this.db.prepare('DELETE FROM snapshots WHERE time < ?').run(cutoff).changes;
    return a + b;
  }

  close(): void {
    this.db.close();
  }
}
