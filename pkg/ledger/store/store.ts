// The ledger's storage boundary. A store keeps entries (the logged bytes and the columns they
// are found by), the hashes of complete log subtrees, the statement index's nodes versioned
// by tree size, and every checkpoint the ledger signed. It trusts nothing it reads back: the
// ledger and its clients verify everything against signed checkpoints, and `ledger audit`
// checks every column against the statement it was derived from.
//
// The interface is asynchronous so that a networked database can implement it; the
// embedded SQLite store answers synchronously underneath.

import type { IndexProof } from '../index-proof';
import type { KeyState, TreeNode } from '../index-tree';
import type { NodeId } from '../merkle';

export interface StoredEntry {
  index: number;
  leaf: Buffer;
  /** Derived columns, as the ledger stored them (audit compares them with the statement). */
  digest: string;
  signer: string;
  key: Buffer;
  id: Buffer;
}

export interface StoredCheckpoint {
  size: number;
  note: string;
  /** When the ledger signed it (milliseconds since the epoch). */
  createdAt: number;
}

export interface AppendLeaf {
  leaf: Buffer;
  leafHash: Buffer;
  digest: string;
  signer: string;
  /** The statement index key of (signer, digest). */
  key: Buffer;
  /** The statement id. */
  id: Buffer;
  /** The statement's evidence attributes, indexed for search. */
  attributes?: Record<string, string>;
}

/** What `imagetrust search` looks for: statements with an attribute, about a digest, or both. */
export interface SearchQuery {
  attribute?: { key: string; value: string };
  digest?: string;
}

/** One entry's evidence attributes, as the search index keeps them. */
export interface AttributeRow {
  index: number;
  key: string;
  value: string;
}

export interface AppendInput {
  leaves: AppendLeaf[];
  /** The index key's next state for leaf `i` at log index `index`; throws to refuse the batch. */
  advance: (old: KeyState | undefined, i: number, index: number) => KeyState;
  /** Called inside the transaction with the new trees; returns the signed checkpoint note. */
  sign: (size: number, root: Buffer, indexRoot: Buffer) => string;
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
   * Appends leaves, stores the subtrees they complete, the index nodes they change and the
   * checkpoint `sign` returns, all in one durable transaction that also serialises writers.
   */
  append(input: AppendInput): Promise<AppendOutput>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** The newest checkpoint whose size is at most `size`. */
  checkpointAtSize(size: number): Promise<StoredCheckpoint | undefined>;
  /** The newest checkpoint signed at or before `time` (ms). */
  checkpointAtTime(time: number): Promise<StoredCheckpoint | undefined>;
  /** Checkpoints with fromSize <= size <= toSize, smallest first, at most `limit`. */
  checkpointsBetween(fromSize: number, toSize: number, limit?: number): Promise<StoredCheckpoint[]>;
  /** Entries of one index key below `beforeSize`, in log order, from `offset`, at most `limit`. */
  keyEntries(key: Buffer, beforeSize: number, offset: number, limit: number): Promise<StoredEntry[]>;
  /** The index proof for `key` in the index of the checkpoint of exactly `size`. */
  indexProof(key: Buffer, size: number): Promise<IndexProof>;
  /** The index root committed at exactly `size`, if a checkpoint of that size exists. */
  indexRoot(size: number): Promise<Buffer | undefined>;
  /** Every index node written by the batch that reached `size` (for audits). */
  indexNodesWrittenAt(size: number): Promise<TreeNode[]>;
  /** Entries below `beforeSize` that match the query, in log order, from `offset`, at most `limit`. */
  searchEntries(
    query: SearchQuery,
    beforeSize: number,
    offset: number,
    limit: number,
  ): Promise<StoredEntry[]>;
  /** Adds rows to the attribute index (an index built before it existed); rows already there are kept. */
  addAttributes(rows: AttributeRow[]): Promise<void>;
  /** Entries with start <= index < end, in index order. */
  entries(start: number, end: number): Promise<StoredEntry[]>;
  /** Hashes of the requested log tree nodes; a missing node is absent from the map. */
  nodes(ids: NodeId[]): Promise<Map<string, Buffer>>;
  counts(): Promise<StoreCounts>;
  /** The latest checkpoint and the counts, read in one consistent snapshot. */
  snapshot(): Promise<{ checkpoint: StoredCheckpoint | undefined; counts: StoreCounts }>;
  /** The database's own consistency check; problems found, none when healthy. */
  integrityCheck(): Promise<string[]>;
  /** Bytes the store occupies, for benchmarks. */
  sizeOnDisk(): Promise<number>;
  close(): Promise<void>;
}
