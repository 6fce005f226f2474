// The ledger's storage boundary. A store keeps entries (the logged bytes), the hashes of
// complete subtrees, and every checkpoint the ledger signed. It trusts nothing it reads back:
// the ledger and its clients verify everything against signed checkpoints.
//
// The interface is asynchronous so that a networked database can implement it; the
// embedded SQLite store answers synchronously underneath.

import type { NodeId } from '../merkle';

export interface StoredEntry {
  index: number;
  leaf: Buffer;
}

export interface StoredCheckpoint {
  size: number;
  note: string;
  /** When the ledger signed it (milliseconds since the epoch). */
  createdAt: number;
}

export interface AppendInput {
  leaves: { leaf: Buffer; leafHash: Buffer; digest: string }[];
  /** Called inside the transaction with the new tree; returns the signed checkpoint note. */
  sign: (size: number, root: Buffer) => string;
  now: number;
}

export interface AppendOutput {
  firstIndex: number;
  checkpoint: StoredCheckpoint;
}

export interface StoreCounts {
  entries: number;
  maxIndex: number;
  leafNodes: number;
}

export interface LedgerStore {
  readonly description: string;
  getMeta(key: string): Promise<string | undefined>;
  /** Sets the value unless one is stored already; returns the stored value. */
  initMeta(key: string, value: string): Promise<string>;
  /**
   * Appends leaves, stores the subtrees they complete and the checkpoint `sign` returns,
   * all in one durable transaction that also serialises concurrent writers.
   */
  append(input: AppendInput): Promise<AppendOutput>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** The newest checkpoint whose size is at most `size`. */
  checkpointAtSize(size: number): Promise<StoredCheckpoint | undefined>;
  /** The newest checkpoint signed at or before `time` (ms). */
  checkpointAtTime(time: number): Promise<StoredCheckpoint | undefined>;
  checkpointsBetween(fromSize: number, toSize: number): Promise<StoredCheckpoint[]>;
  /** Entries logged for a digest with an index below `beforeSize`, oldest first. */
  entriesByDigest(digest: string, beforeSize: number): Promise<StoredEntry[]>;
  /** Entries with start <= index < end, in index order. */
  entries(start: number, end: number): Promise<StoredEntry[]>;
  /** Hashes of the requested nodes; a missing node is absent from the map. */
  nodes(ids: NodeId[]): Promise<Map<string, Buffer>>;
  counts(): Promise<StoreCounts>;
  /** The latest checkpoint and the counts, read in one consistent snapshot. */
  snapshot(): Promise<{ checkpoint: StoredCheckpoint | undefined; counts: StoreCounts }>;
  /** Bytes the store occupies, for benchmarks. */
  sizeOnDisk(): Promise<number>;
  close(): Promise<void>;
}
