// The ledger itself: an append-only Merkle log of signed statements over a LedgerStore,
// with checkpoints signed by the ledger's own key. It serves entries with inclusion proofs,
// consistency proofs between sizes and historical checkpoints. It never holds signer keys:
// it only accepts statements whose signatures verify.

import type { KeyObject } from 'node:crypto';
import { ImagetrustError } from '../errors';
import { signCheckpoint } from './checkpoint';
import { rawPublicKey } from './ed25519';
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
import { openStatementAsync, type ImageDigest } from './statement';
import type { LedgerStore, StoredCheckpoint } from './store/store';

export interface ProvenEntry {
  index: number;
  leaf: Buffer;
  /** Inclusion proof against the tree size of the lookup. */
  proof: Buffer[];
}

export interface LedgerInfo {
  origin: string;
  /** The checkpoint verifier key (C2SP vkey). */
  vkey: string;
}

export interface LedgerOptions {
  key: KeyObject;
  /** Used when the store has no origin yet. */
  origin?: string;
  clock?: () => number;
}

export const MAX_BATCH = 10_000;

export class Ledger {
  readonly info: LedgerInfo;
  private readonly signer: NoteSigner;

  private constructor(
    readonly store: LedgerStore,
    info: LedgerInfo,
    signer: NoteSigner,
    private readonly clock: () => number,
  ) {
    this.info = info;
    this.signer = signer;
  }

  static async open(store: LedgerStore, options: LedgerOptions): Promise<Ledger> {
    const raw = rawPublicKey(options.key);
    const defaultOrigin = options.origin ?? `imagetrust.ledger/${sha256(raw).subarray(0, 4).toString('hex')}`;
    const origin = await store.initMeta('origin', defaultOrigin);
    const signer = noteSigner(origin, options.key);
    const ledger = new Ledger(
      store,
      { origin, vkey: vkeyFor(origin, raw) },
      signer,
      options.clock ?? Date.now,
    );
    await ledger.ensureInitialCheckpoint();
    return ledger;
  }

  /** An empty ledger signs the checkpoint of size 0 so that every state is a signed one. */
  private async ensureInitialCheckpoint(): Promise<void> {
    if (await this.store.latestCheckpoint()) return;
    const counts = await this.store.counts();
    if (counts.entries !== 0)
      throw new ImagetrustError('LEDGER_TAMPERED', 'ledger has entries but no checkpoint');
    await this.store.append({ leaves: [], sign: (size, root) => this.sign(size, root), now: this.clock() });
  }

  private sign(size: number, rootHash: Buffer): string {
    return signCheckpoint({ origin: this.info.origin, size, rootHash }, this.signer).note;
  }

  /**
   * Validates and appends statements in one transaction. `allowedSigners`, when given, limits
   * who may append; it is checked on the statements the signature check already opened.
   */
  async append(
    envelopes: Buffer[],
    allowedSigners?: ReadonlySet<string>,
  ): Promise<{ firstIndex: number; checkpoint: StoredCheckpoint }> {
    if (envelopes.length === 0) throw new ImagetrustError('BAD_REQUEST', 'nothing to append');
    if (envelopes.length > MAX_BATCH)
      throw new ImagetrustError('BAD_REQUEST', `at most ${MAX_BATCH} statements per append`);
    const leaves = await Promise.all(
      envelopes.map(async (envelope) => {
        const { statement } = await openStatementAsync(envelope);
        if (allowedSigners && !allowedSigners.has(statement.signer)) {
          throw new ImagetrustError(
            'BAD_REQUEST',
            `signer ${statement.signer} may not append to this ledger`,
          );
        }
        return { leaf: envelope, leafHash: hashLeaf(envelope), digest: statement.digest };
      }),
    );
    return this.store.append({ leaves, sign: (size, root) => this.sign(size, root), now: this.clock() });
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

  private async requireSize(size: number): Promise<void> {
    const latest = await this.latestCheckpoint();
    if (!Number.isSafeInteger(size) || size < 0 || size > latest.size) {
      throw new ImagetrustError('BAD_REQUEST', `tree size ${size} is not between 0 and ${latest.size}`);
    }
  }

  /** Every entry for a digest below `size`, each with its inclusion proof for that tree size. */
  async lookup(digest: ImageDigest, size: number): Promise<ProvenEntry[]> {
    await this.requireSize(size);
    const entries = await this.store.entriesByDigest(digest, size);
    const plans = entries.map((e) => inclusionPlan(e.index, size));
    // One fetch for the nodes of every proof: proofs for one digest share their upper levels.
    const lookup = await this.fetchNodes(plans.flat());
    return entries.map((e, i) => ({
      index: e.index,
      leaf: e.leaf,
      proof: resolvePlan(plans[i] as Range[], lookup),
    }));
  }

  async consistencyProof(first: number, second: number): Promise<Buffer[]> {
    await this.requireSize(second);
    return this.resolve(consistencyPlan(first, second));
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
