// Reading the admission audit log back: the newest refusals, for the agent's API and the
// Grafana app. Only the log's tail is read (at most 1 MiB), and lines that do not parse as a
// decision are skipped: the log is the plugin's, and a broken line must not break the agent.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Decision } from './admission';

const TAIL = 1024 * 1024;

export function recentRefusals(path: string, limit = 100): Decision[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, TAIL);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n');
    if (size > length) lines.shift(); // The first line is cut.
    const out: Decision[] = [];
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const d = JSON.parse(line) as Decision;
        if (d && typeof d === 'object' && typeof d.verdict === 'string' && d.verdict !== 'allowed')
          out.push(d);
      } catch {
        // Not a decision.
      }
    }
    return out.slice(-limit);
  } finally {
    closeSync(fd);
  }
}
