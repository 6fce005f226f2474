// The rows both ledger stores keep (SQLite and PostgreSQL have the same tables and columns)
// and how they read back into the store's values.

import type { InnerNode, TreeNode } from '../index-tree';
import type { StoredCheckpoint, StoredEntry } from './store';

export interface CheckpointRow {
  size: number;
  note: string;
  created_at: number;
}
export interface EntryRow {
  idx: number;
  leaf: Buffer;
  digest: string;
  signer: string;
  ikey: Buffer;
  sid: Buffer;
}
export interface InnerRow {
  id: Buffer;
  bit: number;
  left_id: Buffer;
  left_hash: Buffer;
  right_id: Buffer;
  right_hash: Buffer;
}
export interface LeafRow {
  key: Buffer;
  count: number;
  chain: Buffer;
  sequence: number;
  newest: Buffer | null;
}

export const toCheckpoint = (row: CheckpointRow | undefined): StoredCheckpoint | undefined =>
  row && { size: row.size, note: row.note, createdAt: row.created_at };

export const toEntry = (r: EntryRow): StoredEntry => ({
  index: r.idx,
  leaf: r.leaf,
  digest: r.digest,
  signer: r.signer,
  key: r.ikey,
  id: r.sid,
});

export const toInner = (r: InnerRow): InnerNode => ({
  kind: 'inner',
  id: r.id,
  bit: r.bit,
  left: { id: r.left_id, hash: r.left_hash },
  right: { id: r.right_id, hash: r.right_hash },
});

export const toLeaf = (r: LeafRow): TreeNode => ({
  kind: 'leaf',
  id: Buffer.concat([Buffer.from([0]), r.key]),
  key: r.key,
  value: { count: r.count, chain: r.chain },
  sequence: r.sequence,
  newest: r.newest,
});
