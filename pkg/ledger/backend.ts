// What a ledger client needs from a ledger, wherever it runs: in this process over a local
// file (LocalBackend) or behind `imagetrust ledger serve` (RemoteBackend). Nothing a backend
// returns is trusted; LedgerClient verifies all of it.

import { ImagetrustError } from '../errors';
import type { KeyLookup, Ledger, LedgerInfo, LookupOptions } from './log';
import type { ImageDigest } from './statement';
import type { SearchPage } from './search';
import type { SearchQuery } from './store/store';

export type CheckpointQuery = { size: number } | { time: number };

export interface LedgerBackend {
  readonly location: string;
  info(): Promise<LedgerInfo>;
  /** The latest signed checkpoint note. */
  latestCheckpoint(): Promise<string>;
  /** A historical checkpoint note (the newest at or before the size or time), if any. */
  checkpoint(query: CheckpointQuery): Promise<string | undefined>;
  /** One page of a signer's entries about a digest, with inclusion and index proofs. */
  lookup(signer: string, digest: ImageDigest, size: number, options?: LookupOptions): Promise<KeyLookup>;
  consistencyProof(first: number, second: number): Promise<Buffer[]>;
  append(envelopes: Buffer[]): Promise<{ firstIndex: number; checkpoint: string }>;
  /** Raw entries from `start` (at most a page), for auditors. */
  entries(start: number, limit: number): Promise<{ index: number; leaf: Buffer }[]>;
  /** Signed checkpoints from `fromSize` on (at most a page), for auditors. */
  checkpoints(fromSize: number, limit: number): Promise<{ size: number; note: string }[]>;
  /**
   * For a ledger whose storage this process reads directly: the latest checkpoint and how many
   * entries the storage holds, read in one snapshot, so that a deleted or truncated row is
   * caught without a full audit.
   */
  latestWithCounts?(): Promise<{ checkpoint: string; entries: number; maxIndex: number }>;
  /** Statements that match a search at `size`, with inclusion proofs (not proven complete). */
  search?(query: SearchQuery, options: { size: number; offset: number; limit: number }): Promise<SearchPage>;
  close(): Promise<void>;
}

export class LocalBackend implements LedgerBackend {
  readonly location: string;

  constructor(private readonly ledger: Ledger) {
    this.location = ledger.store.description;
  }

  async info(): Promise<LedgerInfo> {
    return this.ledger.info;
  }

  async latestCheckpoint(): Promise<string> {
    return (await this.ledger.latestCheckpoint()).note;
  }

  async checkpoint(query: CheckpointQuery): Promise<string | undefined> {
    const cp =
      'size' in query
        ? await this.ledger.checkpointAtSize(query.size)
        : await this.ledger.checkpointAtTime(query.time);
    return cp?.note;
  }

  lookup(signer: string, digest: ImageDigest, size: number, options?: LookupOptions): Promise<KeyLookup> {
    return this.ledger.lookup(signer, digest, size, options);
  }

  async entries(start: number, limit: number): Promise<{ index: number; leaf: Buffer }[]> {
    return (await this.ledger.entries(start, limit)).map((e) => ({ index: e.index, leaf: e.leaf }));
  }

  async checkpoints(fromSize: number, limit: number): Promise<{ size: number; note: string }[]> {
    return this.ledger.checkpoints(fromSize, limit);
  }

  consistencyProof(first: number, second: number): Promise<Buffer[]> {
    return this.ledger.consistencyProof(first, second);
  }

  async append(envelopes: Buffer[]): Promise<{ firstIndex: number; checkpoint: string }> {
    const { firstIndex, checkpoint } = await this.ledger.append(envelopes);
    return { firstIndex, checkpoint: checkpoint.note };
  }

  search(query: SearchQuery, options: { size: number; offset: number; limit: number }): Promise<SearchPage> {
    return this.ledger.search(query, options.size, options);
  }

  async latestWithCounts(): Promise<{ checkpoint: string; entries: number; maxIndex: number }> {
    const { checkpoint, counts } = await this.ledger.store.snapshot();
    if (!checkpoint) throw new ImagetrustError('LEDGER_TAMPERED', 'ledger has no checkpoint');
    if (counts.leafNodes !== counts.entries) {
      throw new ImagetrustError(
        'LEDGER_TAMPERED',
        `ledger holds ${counts.entries} entries but ${counts.leafNodes} leaf hashes`,
      );
    }
    return { checkpoint: checkpoint.note, entries: counts.entries, maxIndex: counts.maxIndex };
  }

  close(): Promise<void> {
    return this.ledger.close();
  }
}
