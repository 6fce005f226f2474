// `imagetrust ledger audit`: recompute the whole log and the whole statement index from the
// entries and check every checkpoint against them. For a local file it also checks every
// stored log node, every index node each batch wrote, every derived column (digest, signer,
// index key, statement id) against the statement it was derived from, and SQLite's own
// integrity check; for a remote ledger (`--ledger URL`) it reads entries and checkpoints
// page by page over the API. Statements the ledger should have refused (replays, gaps) are
// reported too. Reports every problem found, not just the first.

import { isImagetrustError } from '../errors';
import { openCheckpoint } from './checkpoint';
import type { LedgerBackend } from './backend';
import { indexKey } from './index-proof';
import { MemoryIndex, type KeyState, type TreeNode } from './index-tree';
import type { Ledger } from './log';
import { appendToTree, hashLeaf, nodeKey, rangeNodes, type NodeId } from './merkle';
import { noteVerifier, type NoteVerifier } from './note';
import { advanceKey, idBytes, type IndexedEntry } from './ordering';
import { openStatement } from './statement';

export interface AuditReport {
  location: string;
  entries: number;
  checkpoints: number;
  treeSize: number;
  indexKeys: number;
  problems: string[];
}

export interface AuditOptions {
  /** The checkpoint key to check against (defaults to the one the ledger reports). */
  ledgerKey?: string;
  pageSize?: number;
  onProgress?: (done: number, total: number) => void;
}

const MAX_PROBLEMS = 1000;

/** What an audit reads; the local store adds what only direct access can check. */
interface AuditSource {
  location: string;
  vkey: string;
  latestNote(): Promise<string>;
  checkpoints(fromSize: number, limit: number): Promise<{ size: number; note: string }[]>;
  entries(start: number, limit: number): Promise<{ index: number; leaf: Buffer; columns?: StoredColumns }[]>;
  local?: {
    entryCount(): Promise<{ entries: number; maxIndex: number }>;
    logNodes(ids: NodeId[]): Promise<Map<string, Buffer>>;
    indexRoot(size: number): Promise<Buffer | undefined>;
    indexNodesWrittenAt(size: number): Promise<TreeNode[]>;
    integrityCheck(): Promise<string[]>;
  };
}

interface StoredColumns {
  digest: string;
  signer: string;
  key: Buffer;
  id: Buffer;
}

export function localAuditSource(ledger: Ledger): AuditSource {
  const { store } = ledger;
  return {
    location: store.description,
    vkey: ledger.info.vkey,
    latestNote: async () => (await ledger.latestCheckpoint()).note,
    checkpoints: (from, limit) => store.checkpointsBetween(from, Number.MAX_SAFE_INTEGER, limit),
    entries: async (start, limit) =>
      (await store.entries(start, start + limit)).map((e) => ({
        index: e.index,
        leaf: e.leaf,
        columns: { digest: e.digest, signer: e.signer, key: e.key, id: e.id },
      })),
    local: {
      entryCount: async () => store.counts(),
      logNodes: (ids) => store.nodes(ids),
      indexRoot: (size) => store.indexRoot(size),
      indexNodesWrittenAt: (size) => store.indexNodesWrittenAt(size),
      integrityCheck: () => store.integrityCheck(),
    },
  };
}

export async function remoteAuditSource(backend: LedgerBackend): Promise<AuditSource> {
  const info = await backend.info();
  return {
    location: backend.location,
    vkey: info.vkey,
    latestNote: () => backend.latestCheckpoint(),
    checkpoints: (from, limit) => backend.checkpoints(from, limit),
    entries: (start, limit) => backend.entries(start, limit),
  };
}

function sameNode(a: TreeNode, b: TreeNode): boolean {
  if (a.kind === 'leaf' && b.kind === 'leaf') {
    return (
      a.key.equals(b.key) &&
      a.value.count === b.value.count &&
      a.value.chain.equals(b.value.chain) &&
      a.sequence === b.sequence &&
      (a.newest === null ? b.newest === null : b.newest !== null && a.newest.equals(b.newest))
    );
  }
  if (a.kind === 'inner' && b.kind === 'inner') {
    return (
      a.bit === b.bit &&
      a.left.id.equals(b.left.id) &&
      a.left.hash.equals(b.left.hash) &&
      a.right.id.equals(b.right.id) &&
      a.right.hash.equals(b.right.hash)
    );
  }
  return false;
}

export async function audit(source: AuditSource, options: AuditOptions = {}): Promise<AuditReport> {
  const verifier: NoteVerifier = noteVerifier(options.ledgerKey ?? source.vkey);
  const origin = verifier.name;
  const pageSize = options.pageSize ?? 1000;
  const problems: string[] = [];
  const report = (p: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const describe = (err: unknown): string => (isImagetrustError(err) ? err.message : String(err));
  /** A read that fails is a problem to report, not the end of the audit. */
  const attempt = async <T>(what: string, read: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await read();
    } catch (err) {
      report(`${what}: ${describe(err)}`);
      return fallback;
    }
  };

  let latestSize = 0;
  try {
    latestSize = openCheckpoint(await source.latestNote(), verifier, origin).size;
  } catch (err) {
    report(`latest checkpoint: ${describe(err)}`);
  }
  let total = latestSize;
  if (source.local) {
    const counts = await attempt(
      'counting the entries',
      () => (source.local as NonNullable<AuditSource['local']>).entryCount(),
      {
        entries: -1,
        maxIndex: -1,
      },
    );
    if (counts.entries >= 0 && counts.entries !== latestSize)
      report(`storage holds ${counts.entries} entries, the latest checkpoint ${latestSize}`);
    total = Math.max(total, counts.maxIndex + 1);
    for (const p of await source.local.integrityCheck()) report(`SQLite: ${p}`);
  }

  const checkpoints: { size: number; note: string }[] = [];
  for (let from = 0; ;) {
    const page = await attempt('reading the checkpoints', () => source.checkpoints(from, pageSize), []);
    if (page.length === 0) break;
    checkpoints.push(...page);
    const last = page[page.length - 1]?.size ?? from;
    if (page.length < pageSize || last + 1 <= from) break;
    from = last + 1;
  }

  const index = new MemoryIndex();
  const frontier = new Map<string, Buffer>();
  let size = 0;
  let logRoot = appendToTree(0, [], () => Buffer.alloc(0)).root;
  let pending: IndexedEntry[] = [];
  let buffered: { index: number; leaf: Buffer; columns?: StoredColumns }[] = [];
  let cursor = 0;
  let reported = -1;
  const progress = (): void => {
    if (size === reported) return;
    reported = size;
    options.onProgress?.(size, total);
  };

  const nextEntry = async (): Promise<
    { index: number; leaf: Buffer; columns?: StoredColumns } | undefined
  > => {
    if (buffered.length === 0 && cursor < total) {
      const start = cursor;
      buffered = await attempt(
        `reading entries from ${start}`,
        () => source.entries(start, Math.min(pageSize, total - start)),
        [],
      );
      cursor += Math.max(buffered.length, 1);
    }
    return buffered.shift();
  };

  const addEntry = async (row: { index: number; leaf: Buffer; columns?: StoredColumns }): Promise<void> => {
    const leafHash = hashLeaf(row.leaf);
    try {
      const { statement, id } = openStatement(row.leaf);
      pending.push({ index: row.index, leafHash, id, statement });
      const c = row.columns;
      if (c) {
        if (c.digest !== statement.digest)
          report(`entry ${row.index}: its digest column does not match its statement`);
        if (c.signer !== statement.signer)
          report(`entry ${row.index}: its signer column does not match its statement`);
        if (!c.key.equals(indexKey(statement.signer, statement.digest)))
          report(`entry ${row.index}: its index key column does not match its statement`);
        if (!c.id.equals(idBytes(id)))
          report(`entry ${row.index}: its statement id column does not match its statement`);
      }
    } catch (err) {
      report(`entry ${row.index}: ${describe(err)}`);
    }
    const { nodes, root } = appendToTree(size, [leafHash], (id) => frontier.get(nodeKey(id)) as Buffer);
    const local = source.local;
    const stored = local
      ? await attempt(
          'reading tree nodes',
          () => local.logNodes(nodes.map((n) => n.id)),
          new Map<string, Buffer>(),
        )
      : undefined;
    for (const n of nodes) {
      frontier.set(nodeKey(n.id), n.hash);
      if (!stored) continue;
      const s = stored.get(nodeKey(n.id));
      if (!s) report(`tree node ${nodeKey(n.id)} is missing`);
      else if (!s.equals(n.hash)) report(`tree node ${nodeKey(n.id)} does not match the entries`);
    }
    size += 1;
    logRoot = root;
    const keep = new Set(rangeNodes({ start: 0, end: size }).map(nodeKey));
    for (const key of frontier.keys()) if (!keep.has(key)) frontier.delete(key);
  };

  /** Applies the entries since the last checkpoint to the index, as the ledger's batch did. */
  const flushIndex = (): TreeNode[] => {
    const batch = pending;
    pending = [];
    return index.update(
      batch.map((e) => ({
        key: indexKey(e.statement.signer, e.statement.digest),
        apply: (old: KeyState | undefined) => {
          try {
            return advanceKey(old, e, true);
          } catch (err) {
            report(`entry ${e.index}: the ledger should have refused it (${describe(err)})`);
            return advanceKey(old, e, false);
          }
        },
      })),
    );
  };

  const checkCheckpoint = async (cp: { size: number; note: string }, written: TreeNode[]): Promise<void> => {
    try {
      const opened = openCheckpoint(cp.note, verifier, origin);
      if (opened.size !== cp.size)
        report(`checkpoint row ${cp.size} holds a checkpoint for size ${opened.size}`);
      else if (!opened.rootHash.equals(logRoot))
        report(`checkpoint at size ${cp.size} does not match the entries`);
      if (!opened.indexRoot) report(`checkpoint at size ${cp.size} carries no index root`);
      else if (!opened.indexRoot.equals(index.rootHash))
        report(
          `checkpoint at size ${cp.size}: its index root does not match the index recomputed from the entries`,
        );
    } catch (err) {
      report(`checkpoint at size ${cp.size}: ${describe(err)}`);
    }
    if (!source.local) return;
    const local = source.local;
    const storedRoot = await attempt(
      `reading the index root of size ${cp.size}`,
      () => local.indexRoot(cp.size),
      undefined,
    );
    if (!storedRoot) report(`index root for size ${cp.size} is missing`);
    else if (!storedRoot.equals(index.rootHash))
      report(`stored index root for size ${cp.size} does not match the entries`);
    const stored = new Map(
      (
        await attempt(
          `reading the index nodes of size ${cp.size}`,
          () => local.indexNodesWrittenAt(cp.size),
          [],
        )
      ).map((n) => [n.id.toString('hex'), n]),
    );
    for (const n of written) {
      const s = stored.get(n.id.toString('hex'));
      if (!s) report(`index node ${n.id.toString('hex')} of size ${cp.size} is missing`);
      else if (!sameNode(s, n))
        report(`index node ${n.id.toString('hex')} of size ${cp.size} does not match the entries`);
      stored.delete(n.id.toString('hex'));
    }
    for (const id of stored.keys())
      report(`index node ${id} of size ${cp.size} was not written by the entries`);
  };

  let previous = -1;
  for (const cp of checkpoints) {
    if (cp.size <= previous) {
      report(`checkpoint sizes are not increasing at ${cp.size}`);
      continue;
    }
    previous = cp.size;
    while (size < cp.size) {
      const row = await nextEntry();
      if (!row || row.index !== size) {
        report(`entry ${size} is missing`);
        return finish();
      }
      await addEntry(row);
      if (size % pageSize === 0) progress();
    }
    await checkCheckpoint(cp, flushIndex());
  }
  if (size < total) report(`entries ${size}..${total - 1} are not covered by any checkpoint`);
  if (checkpoints.length === 0 || checkpoints[0]?.size !== 0)
    report('the checkpoint of the empty tree is missing');
  if (checkpoints.length > 0 && checkpoints[checkpoints.length - 1]?.size !== latestSize)
    report(`the newest stored checkpoint is not the latest one (${latestSize})`);
  progress();
  return finish();

  function finish(): AuditReport {
    return {
      location: source.location,
      entries: size,
      checkpoints: checkpoints.length,
      treeSize: latestSize,
      indexKeys: index.keyCount,
      problems,
    };
  }
}

/** Audits a local ledger, everything stored included. */
export function auditLedger(ledger: Ledger, options: AuditOptions = {}): Promise<AuditReport> {
  return audit(localAuditSource(ledger), options);
}
