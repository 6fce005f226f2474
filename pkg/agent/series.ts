// Counts by status as time series: the last snapshot at or before every step, per node. The
// agent's SQLite history and the PostgreSQL fleet store both answer /history with this.

import { ImagetrustError } from '../errors';
import type { StatusCounts } from './types';

export interface CountPoint extends StatusCounts {
  time: number;
  node: string;
}

export interface Snapshot extends StatusCounts {
  time: number;
}

export const MAX_POINTS = 11_000;

export function checkPoints(from: number, to: number, stepMs: number): void {
  const points = Math.floor((to - from) / stepMs) + 1;
  if (points > MAX_POINTS)
    throw new ImagetrustError('BAD_REQUEST', `step: ${points} points asked for, at most ${MAX_POINTS}`);
}

/** One node's points from `from` to `to`: `before` is its last snapshot at or before `from`. */
export function stepSeries(
  node: string,
  before: Snapshot | undefined,
  rows: Snapshot[],
  from: number,
  to: number,
  stepMs: number,
): CountPoint[] {
  const out: CountPoint[] = [];
  let current = before;
  let i = 0;
  for (let t = from; t <= to; t += stepMs) {
    while (i < rows.length && (rows[i] as Snapshot).time <= t) current = rows[i++];
    if (!current) continue;
    out.push({
      time: t,
      node,
      trusted: current.trusted,
      untrusted: current.untrusted,
      unsupported: current.unsupported,
      unknown: current.unknown,
      total: current.total,
    });
  }
  return out;
}

export function byTimeThenNode(points: CountPoint[]): CountPoint[] {
  return points.sort((a, b) => a.time - b.time || a.node.localeCompare(b.node));
}
