// The judge: whether the image each running container runs is trusted. A container is judged
// by the digest it runs, never by its tag; the verifier (ledger or command) is asked once per
// digest and checkpoint (verdicts are cached by digest and Epoch.key, for cacheTtlMs); the
// verdicts become ContainerResults, with drift when the reference a container was started
// with now resolves to another digest. The judge also keeps the ledger state of the node.
//
// Fail closed: trust material that cannot be reached or believed makes every container
// `unknown` with the reason; a lookup whose proofs fail marks the ledger compromised.

import type { Logger } from 'pino';
import { asImagetrustError } from '../errors';
import { isImageDigest, type ImageDigest } from '../ledger/statement';
import { unknown, type Epoch, type Verification, type Verifier } from '../verify/verifier';
import type { RunningContainer } from './engine-source';
import { forEachLimited } from './limit';
import type { ContainerResult, NodeState } from './types';

export interface JudgeOptions {
  node: string;
  verifier: Verifier;
  logger: Logger;
  cacheTtlMs: number;
  isSelf?: (containerId: string) => boolean;
  clock?: () => number;
  /** How many verifications run at once. */
  concurrency?: number;
}

/** One verification the verifier ran (a cache miss). */
export interface VerificationRun {
  result: Verification['status'];
  durationMs: number;
}

export interface Judgement {
  /** By container id. */
  results: Map<string, ContainerResult>;
  /** When the results were made. */
  time: number;
  /** The trust material could be had (its epoch); when not, every container is unknown. */
  trustReached: boolean;
  /** The ledger answered but could not be believed. */
  compromised: boolean;
  verified: VerificationRun[];
  cacheHits: number;
}

type LedgerState = NodeState['ledger'];

interface CachedVerification {
  /** The verifier's Epoch.key when this was verified. */
  epoch: string;
  at: number;
  verification: Verification;
}

/** What this pass may verify against: the epoch, or why there is none. */
type Trust = { epoch: Epoch; error?: undefined } | { epoch?: undefined; error: string; compromised: boolean };

export class Judge {
  private readonly cache = new Map<string, CachedVerification>();
  private ledgerState: LedgerState;
  private readonly clock: () => number;

  constructor(private readonly options: JudgeOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** The ledger as of the last judgement: the proven checkpoint, or why it could not be believed. */
  get ledger(): LedgerState {
    return this.ledgerState;
  }

  /** Judges every container; `fresh` bypasses the cache. */
  async judge(containers: RunningContainer[], fresh: boolean): Promise<Judgement> {
    const trust = await this.trust();
    const digests = new Set<ImageDigest>();
    for (const c of containers) if (isImageDigest(c.imageId)) digests.add(c.imageId);
    this.forget(digests);
    const run = { hits: 0, verified: [] as VerificationRun[] };
    const verdicts = new Map<string, Verification>();
    await forEachLimited([...digests], this.options.concurrency ?? 8, async (digest) => {
      verdicts.set(digest, await this.verification(digest, trust, fresh, run));
    });
    // Published once every digest is judged: a reader never sees a half-done view.
    const { ledger, compromised } = this.ledgerAfter(trust, verdicts.values());
    this.ledgerState = ledger;
    const time = this.clock();
    const verifiedAt = new Date(time).toISOString();
    const results = new Map<string, ContainerResult>();
    for (const c of containers) results.set(c.id, this.result(c, verdicts.get(c.imageId), verifiedAt));
    return {
      results,
      time,
      trustReached: trust.epoch !== undefined,
      compromised,
      verified: run.verified,
      cacheHits: run.hits,
    };
  }

  private async trust(): Promise<Trust> {
    const { verifier, logger } = this.options;
    try {
      return { epoch: await verifier.epoch() };
    } catch (err) {
      const e = asImagetrustError(err);
      const error = `${e.compromised ? 'ledger compromised: ' : ''}${e.message} [${e.code}]`;
      logger.warn({ reason: error }, 'trust material unavailable: containers are unknown');
      return { error, compromised: e.compromised };
    }
  }

  /** The ledger state a pass publishes, and whether the ledger could not be believed. */
  private ledgerAfter(
    trust: Trust,
    verdicts: Iterable<Verification>,
  ): { ledger: LedgerState; compromised: boolean } {
    if (trust.epoch === undefined) return { ledger: { error: trust.error }, compromised: trust.compromised };
    const e = trust.epoch;
    const ledger: LedgerState =
      this.options.verifier.kind === 'builtin'
        ? {
            checkpoint: e.key,
            ...(e.treeSize !== undefined ? { treeSize: e.treeSize } : {}),
            ...(e.note !== undefined ? { note: e.note } : {}),
          }
        : undefined;
    for (const v of verdicts) {
      if (!v.compromised) continue;
      // The checkpoint was fine but a lookup's proofs were not: the ledger cannot be believed.
      const error = v.reason ?? 'ledger compromised';
      this.options.logger.warn(
        { reason: error },
        'ledger answers could not be believed: containers are unknown',
      );
      return { ledger: { ...ledger, error }, compromised: true };
    }
    return { ledger, compromised: false };
  }

  private async verification(
    digest: ImageDigest,
    trust: Trust,
    fresh: boolean,
    run: { hits: number; verified: VerificationRun[] },
  ): Promise<Verification> {
    if (trust.epoch === undefined) return unknown(trust.error);
    const epoch = trust.epoch.key;
    const now = this.clock();
    const cached = this.cache.get(digest);
    if (
      !fresh &&
      cached &&
      cached.epoch === epoch &&
      now - cached.at < this.options.cacheTtlMs &&
      !cached.verification.transient
    ) {
      run.hits += 1;
      return cached.verification;
    }
    const verification = await this.options.verifier.verify({ digest });
    run.verified.push({ result: verification.status, durationMs: this.clock() - now });
    this.cache.set(digest, { epoch, at: now, verification });
    return verification;
  }

  /** Forgets the verdicts of digests nothing runs, so memory follows what runs. */
  private forget(running: Set<string>): void {
    for (const d of this.cache.keys()) if (!running.has(d)) this.cache.delete(d);
  }

  /** One container's result; optional fields are set only when present (no spread copies: 1,000 a pass). */
  private result(
    c: RunningContainer,
    verdict: Verification | undefined,
    verifiedAt: string,
  ): ContainerResult {
    const v =
      verdict ?? unknown(`container runs ${JSON.stringify(c.imageId.slice(0, 80))}, not a sha256 image ID`);
    const drift = c.resolvesTo !== undefined && c.resolvesTo !== c.imageId;
    const r: ContainerResult = {
      node: this.options.node,
      id: c.id,
      name: c.name,
      image: c.image,
      digest: c.imageId,
      status: v.status,
      statusCode: v.statusCode,
      level: v.level,
      verifiedAt,
      drift,
      state: c.state,
      labels: c.labels,
    };
    if (v.signer) r.signer = v.signer;
    if (v.signerName) r.signerName = v.signerName;
    if (v.signedAt) r.signedAt = v.signedAt;
    if (v.reason) r.reason = v.reason;
    if (drift) r.driftDigest = c.resolvesTo;
    if (this.options.isSelf?.(c.id)) r.self = true;
    if (v.proof) r.proof = v.proof;
    return r;
  }
}

/** The results of a node whose engine cannot be reached: every container `unknown`, with the reason. */
export function unreachableResults(
  results: Map<string, ContainerResult>,
  reason: string,
): Map<string, ContainerResult> {
  const next = new Map<string, ContainerResult>();
  for (const [id, r] of results) {
    const u: ContainerResult = {
      ...r,
      status: 'unknown',
      statusCode: 2,
      level: 0,
      reason: `node unreachable: ${reason}`,
    };
    delete u.signer;
    delete u.signerName;
    delete u.signedAt;
    delete u.proof;
    next.set(id, u);
  }
  return next;
}
