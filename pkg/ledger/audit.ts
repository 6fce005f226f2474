// `imagetrust ledger audit`: recompute the whole tree from the stored entries and check that
// every stored node and every stored checkpoint agrees with it, and that every entry is a
// validly signed statement. Reports every problem found, not just the first.

import { isImagetrustError } from '../errors';
import { openCheckpoint } from './checkpoint';
import type { Ledger } from './log';
import { appendToTree, hashLeaf, nodeKey, rangeNodes, type NodeId } from './merkle';
import { noteVerifier } from './note';
import { openStatement } from './statement';

export interface AuditReport {
  entries: number;
  checkpoints: number;
  treeSize: number;
  problems: string[];
}

export interface AuditOptions {
  /** The checkpoint key to check against (defaults to the one the ledger reports). */
  ledgerKey?: string;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

const MAX_PROBLEMS = 1000;

export async function auditLedger(ledger: Ledger, options: AuditOptions = {}): Promise<AuditReport> {
  const verifier = noteVerifier(options.ledgerKey ?? ledger.info.vkey);
  const origin = verifier.name;
  const problems: string[] = [];
  const report = (p: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const latest = await ledger.latestCheckpoint();
  const counts = await ledger.store.counts();
  const total = Math.max(latest.size, counts.maxIndex + 1);
  if (counts.entries !== latest.size)
    report(`storage holds ${counts.entries} entries, the latest checkpoint ${latest.size}`);

  const checkpoints = await ledger.store.checkpointsBetween(0, Number.MAX_SAFE_INTEGER);
  let nextCheckpoint = 0;
  const frontier = new Map<string, Buffer>();
  const batchSize = options.batchSize ?? 5000;
  let size = 0;

  const checkRootsUpTo = (treeSize: number, root: Buffer): void => {
    while (
      nextCheckpoint < checkpoints.length &&
      (checkpoints[nextCheckpoint]?.size ?? Infinity) <= treeSize
    ) {
      const cp = checkpoints[nextCheckpoint++]!;
      if (cp.size !== treeSize) continue; // checked when the tree reaches that size
      try {
        const opened = openCheckpoint(cp.note, verifier, origin);
        if (opened.size !== cp.size)
          report(`checkpoint row ${cp.size} holds a checkpoint for size ${opened.size}`);
        else if (!opened.rootHash.equals(root))
          report(`checkpoint at size ${cp.size} does not match the stored entries`);
      } catch (err) {
        report(`checkpoint at size ${cp.size}: ${isImagetrustError(err) ? err.message : String(err)}`);
      }
    }
  };

  checkRootsUpTo(0, appendToTree(0, [], () => Buffer.alloc(0)).root);
  for (let start = 0; start < total; start += batchSize) {
    const rows = await ledger.store.entries(start, Math.min(total, start + batchSize));
    const leafHashes: Buffer[] = [];
    for (const row of rows) {
      if (row.index !== size + leafHashes.length) {
        report(`entry ${size + leafHashes.length} is missing`);
        return { entries: counts.entries, checkpoints: checkpoints.length, treeSize: latest.size, problems };
      }
      try {
        openStatement(row.leaf);
      } catch (err) {
        report(`entry ${row.index}: ${(err as Error).message}`);
      }
      leafHashes.push(hashLeaf(row.leaf));
    }
    // Grow the tree one leaf at a time so that every checkpoint size in between is checked.
    for (const leafHash of leafHashes) {
      const { nodes, root } = appendToTree(
        size,
        [leafHash],
        (id: NodeId) => frontier.get(nodeKey(id)) as Buffer,
      );
      const stored = await ledger.store.nodes(nodes.map((n) => n.id));
      for (const n of nodes) {
        frontier.set(nodeKey(n.id), n.hash);
        const s = stored.get(nodeKey(n.id));
        if (!s) report(`tree node ${nodeKey(n.id)} is missing`);
        else if (!s.equals(n.hash)) report(`tree node ${nodeKey(n.id)} does not match the entries`);
      }
      size += 1;
      checkRootsUpTo(size, root);
      const keep = new Set(rangeNodes({ start: 0, end: size }).map(nodeKey));
      for (const key of frontier.keys()) if (!keep.has(key)) frontier.delete(key);
    }
    options.onProgress?.(size, total);
  }
  return { entries: counts.entries, checkpoints: checkpoints.length, treeSize: latest.size, problems };
}
