// The ledger itself: an append-only Merkle log of signed statements over a LedgerStore, with
// the statement index beside it and checkpoints, signed by the ledger's own key, that commit
// to both. It serves one signer's entries about one digest with inclusion proofs and the
// index proof that they are all of them, consistency proofs between sizes and historical
// checkpoints. It never holds signer keys: it only accepts statements whose signatures
// verify, from the signers it is told to accept, in each signer's own order.

import type { KeyObject } from 'node:crypto';
import { ImagetrustError } from '../errors';
import { signCheckpoint } from './checkpoint';
import { rawPublicKey } from './ed25519';
import { indexKey, type IndexProof } from './index-proof';
import type { KeyState } from './index-tree';
import {
  consistencyPlan,
  hashLeaf,
  inclusionPlan,
  nodeKey,
  planNodes,
  resolvePlan,
  sha256,
  type NodeId,
  type Range,
} from './merkle';
import { noteSigner, vkeyFor, type NoteSigner } from './note';
import { advanceKey, idBytes, type IndexedEntry } from './ordering';
import { openStatement, openStatementAsync, type ImageDigest, type SignedStatement } from './statement';
import type { AppendLeaf, LedgerStore, SearchQuery, StoredCheckpoint, StoredEntry } from './store/store';

export interface ProvenEntry {
  index: number;
  leaf: Buffer;
  /** Inclusion proof against the tree size of the lookup. */
  proof: Buffer[];
}

/** One page of one signer's entries about one digest, with the proofs that make it complete. */
export interface KeyLookup {
  size: number;
  /** The index proof for (signer, digest) at `size`. */
  proof: IndexProof;
  /** The same key's index proof at an earlier checkpoint the client holds. */
  since?: { size: number; proof: IndexProof };
  offset: number;
  entries: ProvenEntry[];
}

export interface LookupOptions {
  since?: number;
  offset?: number;
  limit?: number;
}

export interface AppendLimits {
  /** Signer key ids allowed to append; every correctly signed statement when absent. */
  allowedSigners?: ReadonlySet<string>;
  /** At most this many statements per (signer, digest). */
  maxPerKey?: number;
  /** Charges the (verified) signers of a batch against their budgets; throws to refuse. */
  admit?: (signers: string[]) => void;
}

export interface LedgerInfo {
  origin: string;
  /** The checkpoint verifier key (C2SP vkey). */
  vkey: string;
}

export interface LedgerOptions {
  /** The checkpoint key. Without it the ledger is read-only (its verifier key is read from the store). */
  key?: KeyObject;
  /** Used when the store has no origin yet. */
  origin?: string;
  clock?: () => number;
}

export const MAX_BATCH = 10_000;
export const LOOKUP_PAGE = 1000;
export const DEFAULT_MAX_PER_KEY = 10_000;

export class Ledger {
  readonly info: LedgerInfo;
  private readonly signer: NoteSigner | undefined;

  private constructor(
    readonly store: LedgerStore,
    info: LedgerInfo,
    signer: NoteSigner | undefined,
    private readonly clock: () => number,
  ) {
    this.info = info;
    this.signer = signer;
  }

  static async open(store: LedgerStore, options: LedgerOptions): Promise<Ledger> {
    if (!options.key) return Ledger.openReadOnly(store, options);
    const raw = rawPublicKey(options.key);
    const defaultOrigin = options.origin ?? `imagetrust.ledger/${sha256(raw).subarray(0, 4).toString('hex')}`;
    const origin = await store.initMeta('origin', defaultOrigin);
    const vkey = vkeyFor(origin, raw);
    // The key the ledger was created with stays its key: another one would sign a second history.
    const recorded = await store.initMeta('vkey', vkey);
    if (recorded !== vkey) {
      throw new ImagetrustError(
        'KEY_INVALID',
        `the checkpoint key given is not the key of ledger ${store.description} (${recorded})`,
      );
    }
    const signer = noteSigner(origin, options.key);
    const ledger = new Ledger(store, { origin, vkey }, signer, options.clock ?? Date.now);
    await ledger.ensureInitialCheckpoint();
    await ledger.indexAttributes();
    return ledger;
  }

  /**
   * A ledger written before the attribute search index existed gets its index once: every
   * entry's attributes, read from the statements themselves.
   */
  private async indexAttributes(): Promise<void> {
    if ((await this.store.getMeta('attributes-indexed')) === '1') return;
    const { size } = await this.latestCheckpoint();
    for (let start = 0; start < size; start += LOOKUP_PAGE) {
      const entries = await this.store.entries(start, Math.min(size, start + LOOKUP_PAGE));
      const rows = entries.flatMap((e) => {
        try {
          const { statement } = openStatement(e.leaf);
          return Object.entries(statement.attributes).map(([key, value]) => ({ index: e.index, key, value }));
        } catch {
          return []; // `ledger audit` reports an entry that is not a statement.
        }
      });
      if (rows.length > 0) await this.store.addAttributes(rows);
    }
    await this.store.initMeta('attributes-indexed', '1');
  }

  /**
   * One page of the statements that match a search (an evidence attribute, a digest or both)
   * below `size`, each with its inclusion proof. A search finds; it does not prove that nothing
   * else matches (a lookup proves that, per signer and digest).
   */
  async search(
    query: SearchQuery,
    size: number,
    options: { offset?: number; limit?: number } = {},
  ): Promise<{
    size: number;
    offset: number;
    entries: ProvenEntry[];
  }> {
    await this.requireSize(size);
    if (!query.attribute && !query.digest)
      throw new ImagetrustError('BAD_REQUEST', 'search for an attribute or a digest');
    const offset = options.offset ?? 0;
    const limit = Math.min(options.limit ?? LOOKUP_PAGE, LOOKUP_PAGE);
    const entries = await this.store.searchEntries(query, size, offset, limit);
    return { size, offset, entries: await this.prove(entries, size) };
  }

  /** A ledger opened without its key answers reads only; it must exist already. */
  private static async openReadOnly(store: LedgerStore, options: LedgerOptions): Promise<Ledger> {
    const origin = await store.getMeta('origin');
    const vkey = await store.getMeta('vkey');
    if (!origin || !vkey || !(await store.latestCheckpoint())) {
      throw new ImagetrustError(
        'NOT_FOUND',
        `${store.description} holds no ledger yet: create it with its checkpoint key (--checkpoint-key FILE with "ledger serve" or "ledger copy")`,
      );
    }
    return new Ledger(store, { origin, vkey }, undefined, options.clock ?? Date.now);
  }

  /** Whether this process holds the checkpoint key (it can append). */
  get writable(): boolean {
    return this.signer !== undefined;
  }

  /** An empty ledger signs the checkpoint of size 0 so that every state is a signed one. */
  private async ensureInitialCheckpoint(): Promise<void> {
    if (await this.store.latestCheckpoint()) return;
    const counts = await this.store.counts();
    if (counts.entries !== 0)
      throw new ImagetrustError('LEDGER_TAMPERED', 'ledger has entries but no checkpoint');
    await this.appendOpened([], false, this.clock());
  }

  private requireSigner(): NoteSigner {
    if (!this.signer) {
      throw new ImagetrustError(
        'USAGE',
        `ledger ${this.store.description} was opened without its checkpoint key: it cannot append (give --checkpoint-key FILE)`,
      );
    }
    return this.signer;
  }

  /**
   * Validates and appends new statements in one transaction: each must verify, come from an
   * allowed signer, be written in format 2 and be its signer's next word about its digest
   * (no duplicates, no replays, no gaps: LEDGER_CONFLICT).
   */
  async append(
    envelopes: Buffer[],
    limits: AppendLimits = {},
  ): Promise<{ firstIndex: number; checkpoint: StoredCheckpoint }> {
    this.requireSigner();
    if (envelopes.length === 0) throw new ImagetrustError('BAD_REQUEST', 'nothing to append');
    if (envelopes.length > MAX_BATCH)
      throw new ImagetrustError('BAD_REQUEST', `at most ${MAX_BATCH} statements per append`);
    const opened = await Promise.all(envelopes.map((e) => openStatementAsync(e)));
    for (const { statement } of opened) {
      if (limits.allowedSigners && !limits.allowedSigners.has(statement.signer)) {
        throw new ImagetrustError(
          'SIGNER_NOT_ALLOWED',
          `signer ${statement.signer} may not append to this ledger`,
        );
      }
      if (statement.format !== 2) {
        throw new ImagetrustError(
          'STATEMENT_INVALID',
          'imagetrust 0.1 statements are no longer accepted: sign again with imagetrust 0.2 or later',
        );
      }
    }
    limits.admit?.(opened.map((o) => o.statement.signer));
    const maxPerKey = limits.maxPerKey ?? DEFAULT_MAX_PER_KEY;
    return this.appendOpened(opened, true, this.clock(), maxPerKey);
  }

  /**
   * Appends statements that are already opened. `enforce` false replays a log as it is (an
   * upgrade or a copy): the index records every entry and the highest sequence wins.
   */
  async appendOpened(
    opened: SignedStatement[],
    enforce: boolean,
    now: number,
    maxPerKey = Number.MAX_SAFE_INTEGER,
  ): Promise<{ firstIndex: number; checkpoint: StoredCheckpoint }> {
    const leaves: (AppendLeaf & { entry: Omit<IndexedEntry, 'index'> })[] = opened.map((o) => {
      const leafHash = hashLeaf(o.envelope);
      return {
        leaf: o.envelope,
        leafHash,
        digest: o.statement.digest,
        signer: o.statement.signer,
        key: indexKey(o.statement.signer, o.statement.digest),
        id: idBytes(o.id),
        attributes: o.statement.attributes,
        entry: { leafHash, id: o.id, statement: o.statement },
      };
    });
    const advance = (old: KeyState | undefined, i: number, index: number): KeyState => {
      const leaf = leaves[i] as (typeof leaves)[number];
      if (enforce && (old?.value.count ?? 0) >= maxPerKey) {
        throw new ImagetrustError(
          'LIMIT_EXCEEDED',
          `signer ${leaf.signer} already has ${maxPerKey} statements about ${leaf.digest}, the most this ledger keeps`,
        );
      }
      return advanceKey(old, { ...leaf.entry, index }, enforce);
    };
    const signer = this.requireSigner();
    return this.store.append({
      leaves,
      advance,
      sign: (size, rootHash, indexRoot) =>
        signCheckpoint({ origin: this.info.origin, size, rootHash, indexRoot }, signer).note,
      now,
    });
  }

  async latestCheckpoint(): Promise<StoredCheckpoint> {
    const cp = await this.store.latestCheckpoint();
    if (!cp) throw new ImagetrustError('LEDGER_TAMPERED', 'ledger has no checkpoint');
    return cp;
  }

  async checkpointAtSize(size: number): Promise<StoredCheckpoint | undefined> {
    return this.store.checkpointAtSize(size);
  }

  async checkpointAtTime(time: number): Promise<StoredCheckpoint | undefined> {
    return this.store.checkpointAtTime(time);
  }

  private async fetchNodes(plan: Range[]): Promise<(id: NodeId) => Buffer> {
    const found = await this.store.nodes(planNodes(plan));
    return (id: NodeId): Buffer => {
      const hash = found.get(nodeKey(id));
      if (!hash) throw new ImagetrustError('LEDGER_TAMPERED', `ledger is missing tree node ${nodeKey(id)}`);
      return hash;
    };
  }

  private async resolve(plan: Range[]): Promise<Buffer[]> {
    return resolvePlan(plan, await this.fetchNodes(plan));
  }

  /** The largest tree size a checkpoint was read for: the log only grows, so smaller sizes stay valid. */
  private checkedSize = -1;

  private async requireSize(size: number): Promise<void> {
    if (Number.isSafeInteger(size) && size >= 0 && size <= this.checkedSize) return;
    const latest = await this.latestCheckpoint();
    this.checkedSize = Math.max(this.checkedSize, latest.size);
    if (!Number.isSafeInteger(size) || size < 0 || size > latest.size) {
      throw new ImagetrustError('BAD_REQUEST', `tree size ${size} is not between 0 and ${latest.size}`);
    }
  }

  /**
   * One page of a signer's entries about a digest below `size`, each with its inclusion proof
   * for that size, and the index proofs at `size` (and at `since`) that say how many there are.
   */
  async lookup(
    signer: string,
    digest: ImageDigest,
    size: number,
    options: LookupOptions = {},
  ): Promise<KeyLookup> {
    await this.requireSize(size);
    const key = indexKey(signer, digest);
    const offset = options.offset ?? 0;
    const limit = Math.min(options.limit ?? LOOKUP_PAGE, LOOKUP_PAGE);
    const proof = await this.store.indexProof(key, size);
    let since: KeyLookup['since'];
    if (options.since !== undefined && options.since < size) {
      since = { size: options.since, proof: await this.store.indexProof(key, options.since) };
    }
    const entries = await this.store.keyEntries(key, size, offset, limit);
    return { size, proof, ...(since ? { since } : {}), offset, entries: await this.prove(entries, size) };
  }

  private async prove(entries: StoredEntry[], size: number): Promise<ProvenEntry[]> {
    const plans = entries.map((e) => inclusionPlan(e.index, size));
    // One fetch for the nodes of every proof: proofs for one key share their upper levels.
    const lookup = await this.fetchNodes(plans.flat());
    return entries.map((e, i) => ({
      index: e.index,
      leaf: e.leaf,
      proof: resolvePlan(plans[i] as Range[], lookup),
    }));
  }

  /** Raw entries for auditors, at most LOOKUP_PAGE from `start`. */
  async entries(start: number, limit: number): Promise<StoredEntry[]> {
    const latest = await this.latestCheckpoint();
    const end = Math.min(latest.size, start + Math.min(limit, LOOKUP_PAGE));
    return start >= end ? [] : this.store.entries(start, end);
  }

  /** Checkpoints from `fromSize` on, for auditors, at most LOOKUP_PAGE. */
  async checkpoints(fromSize: number, limit: number): Promise<StoredCheckpoint[]> {
    return this.store.checkpointsBetween(fromSize, Number.MAX_SAFE_INTEGER, Math.min(limit, LOOKUP_PAGE));
  }

  async consistencyProof(first: number, second: number): Promise<Buffer[]> {
    await this.requireSize(second);
    return this.resolve(consistencyPlan(first, second));
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
