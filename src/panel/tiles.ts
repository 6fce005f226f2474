// Frames → trust-map tiles: one per node (from the summary frame, or counted from the
// containers frame) or one per container; then filtered (search, status), grouped by node and
// cut into rows of as many tiles as fit, for a virtualized grid. Pure.

import type { DataFrame } from '@grafana/data';
import {
  STATUS_SEVERITY,
  countStatuses,
  worstStatus,
  type StatusCounts,
  type TrustStatus,
} from '../api/types';
import { nodeRank, searchWords, type ViewFilter } from '../api/fleetView';

export type TileBy = 'node' | 'container';

export interface Tile {
  key: string;
  title: string;
  subtitle?: string;
  /** The node the tile is, or the node its container runs on. */
  node: string;
  /** What the search looks in (lower case). */
  text: string;
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
      node: String(node),
      text: String(node).toLowerCase(),
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
        node: String(node),
        text: (tileBy === 'node'
          ? String(node)
          : `${names[i]}\n${images[i]}\n${node}\n${status}`
        ).toLowerCase(),
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
  const rank = (t: Tile) =>
    nodeRank({ unreachable: t.unreachable, ...(t.status ? { worst: t.status } : {}) });
  return tiles.sort((a, b) => rank(b) - rank(a) || a.title.localeCompare(b.title));
}

/**
 * Tiles whose text has every search word and that show one of the statuses (a node tile: one
 * of its containers has it; an unreachable node counts as `unknown`, which its containers read).
 */
export function filterTiles(tiles: readonly Tile[], filter: ViewFilter): Tile[] {
  const words = searchWords(filter.search);
  return tiles.filter(
    (t) =>
      words.every((w) => t.text.includes(w)) &&
      (filter.statuses.length === 0 ||
        filter.statuses.some((s) => t.counts[s] > 0 || (s === 'unknown' && t.unreachable))),
  );
}

/** The counts the tiles add up to: every container once. */
export function tileTotals(tiles: readonly Tile[]): StatusCounts {
  const total = countStatuses([]);
  for (const t of tiles) {
    for (const k of Object.keys(total) as Array<keyof StatusCounts>) {
      total[k] += t.counts[k];
    }
  }
  return total;
}

export type TileRow =
  | { kind: 'group'; node: string; status?: TrustStatus; counts: StatusCounts; tiles: number }
  | { kind: 'tiles'; tiles: Tile[] };

function chunk(tiles: Tile[], columns: number, into: TileRow[]): void {
  for (let i = 0; i < tiles.length; i += columns) {
    into.push({ kind: 'tiles', tiles: tiles.slice(i, i + columns) });
  }
}

/** How many tiles of at least `minWidth` fit across `width` with `gap` between them. */
export function columnsFor(width: number, minWidth: number, gap: number): number {
  return Math.max(1, Math.floor((width + gap) / (Math.max(1, minWidth) + gap)));
}

/**
 * Rows for the virtualized grid. Grouped: a header per node, worst node first, then that
 * node's tiles (already worst first); otherwise the tiles as they are, `columns` a row.
 */
export function tileRows(tiles: readonly Tile[], columns: number, grouped: boolean): TileRow[] {
  const rows: TileRow[] = [];
  if (!grouped) {
    chunk([...tiles], columns, rows);
    return rows;
  }
  const byNode = new Map<string, Tile[]>();
  for (const t of tiles) {
    const list = byNode.get(t.node);
    if (list) {
      list.push(t);
    } else {
      byNode.set(t.node, [t]);
    }
  }
  const groups = [...byNode].map(([node, list]) => {
    const counts = tileTotals(list);
    return { node, list, counts, status: worstStatus(counts) };
  });
  const rank = (g: { status?: TrustStatus }) => (g.status ? STATUS_SEVERITY[g.status] : -1);
  groups.sort((a, b) => rank(b) - rank(a) || a.node.localeCompare(b.node));
  for (const g of groups) {
    rows.push({
      kind: 'group',
      node: g.node,
      ...(g.status ? { status: g.status } : {}),
      counts: g.counts,
      tiles: g.list.length,
    });
    chunk(g.list, columns, rows);
  }
  return rows;
}
