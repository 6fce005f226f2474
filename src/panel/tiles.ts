// Frames → trust-map tiles: one per node (from the summary frame, or counted from the
// containers frame) or one per container. Pure.

import type { DataFrame } from '@grafana/data';
import { STATUS_SEVERITY, worstStatus, type StatusCounts, type TrustStatus } from '../api/types';

export type TileBy = 'node' | 'container';

export interface Tile {
  key: string;
  title: string;
  subtitle?: string;
  /** The worst status in the tile; undefined when it has no containers. */
  status?: TrustStatus;
  unreachable: boolean;
  counts: StatusCounts;
  ageSeconds?: number;
  reason?: string;
}

const STATUSES: TrustStatus[] = ['trusted', 'untrusted', 'unsupported', 'unknown'];

function column(frame: DataFrame, name: string): unknown[] | undefined {
  const f = frame.fields.find((x) => x.name === name);
  return f ? (Array.from(f.values) as unknown[]) : undefined;
}

function emptyCounts(): StatusCounts {
  return { trusted: 0, untrusted: 0, unsupported: 0, unknown: 0, total: 0 };
}

function isStatus(v: unknown): v is TrustStatus {
  return typeof v === 'string' && (STATUSES as string[]).includes(v);
}

function fromSummary(frame: DataFrame): Tile[] {
  const nodes = column(frame, 'node') ?? [];
  const statusCol = column(frame, 'status') ?? [];
  const age = column(frame, 'ageSeconds') ?? [];
  const reason = column(frame, 'reason') ?? [];
  return nodes.map((node, i) => {
    const counts = emptyCounts();
    for (const s of [...STATUSES, 'total'] as const) {
      counts[s] = Number(column(frame, s)?.[i] ?? 0);
    }
    const unreachable = statusCol[i] === 'unreachable';
    const a = age[i];
    return {
      key: String(node),
      title: String(node),
      status: worstStatus(counts),
      unreachable,
      counts,
      ...(typeof a === 'number' ? { ageSeconds: a } : {}),
      ...(reason[i] ? { reason: String(reason[i]) } : {}),
    };
  });
}

function fromContainers(frame: DataFrame, tileBy: TileBy): Tile[] {
  const nodes = column(frame, 'node') ?? [];
  const names = column(frame, 'name') ?? [];
  const statuses = column(frame, 'status') ?? [];
  const images = column(frame, 'image') ?? [];
  const reasons = column(frame, 'reason') ?? [];
  const tiles = new Map<string, Tile>();
  nodes.forEach((node, i) => {
    const status = isStatus(statuses[i]) ? statuses[i] : 'unknown';
    const key = tileBy === 'node' ? String(node) : `${node}/${names[i]}`;
    let tile = tiles.get(key);
    if (!tile) {
      tile = {
        key,
        title: tileBy === 'node' ? String(node) : String(names[i]),
        ...(tileBy === 'container' ? { subtitle: `${node} · ${images[i]}` } : {}),
        unreachable: false,
        counts: emptyCounts(),
        ...(tileBy === 'container' && reasons[i] ? { reason: String(reasons[i]) } : {}),
      };
      tiles.set(key, tile);
    }
    tile.counts[status] += 1;
    tile.counts.total += 1;
    tile.status = worstStatus(tile.counts);
  });
  return [...tiles.values()];
}

/** Worst tiles first, then by name. */
export function tilesFromFrames(series: DataFrame[], tileBy: TileBy): Tile[] {
  const summary = series.find((f) => f.name === 'summary' || (column(f, 'total') && column(f, 'node')));
  const containers = series.find(
    (f) => f.name === 'containers' || (column(f, 'digest') && column(f, 'name')),
  );
  let tiles: Tile[] = [];
  if (tileBy === 'node' && summary) {
    tiles = fromSummary(summary);
  } else if (containers) {
    tiles = fromContainers(containers, tileBy);
  } else if (summary) {
    tiles = fromSummary(summary);
  }
  const rank = (t: Tile) => (t.unreachable ? 4 : t.status ? STATUS_SEVERITY[t.status] : -1);
  return tiles.sort((a, b) => rank(b) - rank(a) || a.title.localeCompare(b.title));
}
