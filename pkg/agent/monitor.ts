// The local node's monitor: what runs on this engine and whether each image is trusted. It
// orchestrates three collaborators and keeps the node's view for the API:
//
//   engine source (list, inspect, events) ──► judge (verifier, cache, drift, results)
//        │ wake: events, reconnects, resync          │
//        └────────── pass (schedule.ts) ◄────────────┘──► view ──► publishers (history, metrics, …)
//
// Fail closed: if the engine cannot be listed the node is `unreachable` and every container
// `unknown`; if the ledger cannot be believed every container is `unknown` with the reason.
// Both recover on their own: the event stream reconnects with backoff and resyncs, and a
// failed pass is retried soon.

import type { Logger } from 'pino';
import { asImagetrustError, type ErrorCode, type ImagetrustError } from '../errors';
import type { DockerReader } from '../docker/engine';
import type { ImageInfo } from '../docker/resolve';
import type { Verifier } from '../verify/verifier';
import { DockerEngineSource, type EngineInfo, type EngineSource, type EngineView } from './engine-source';
import type { ChangeEvent } from './history';
import { Judge, unreachableResults, type VerificationRun } from './judge';
import { closeAll, publishAll, type Publisher } from './publish';
import { PassScheduler } from './schedule';
import { countStatuses, type ContainerResult, type NodeState } from './types';

interface CommonOptions {
  node: string;
  verifier: Verifier;
  /** Where each pass's update goes; closed by stop(). */
  publishers?: Publisher[];
  logger: Logger;
  resyncMs: number;
  cacheTtlMs: number;
  isSelf?: (containerId: string) => boolean;
  clock?: () => number;
  /** How many verifications (and inspections) run at once. */
  concurrency?: number;
}

/** The containers come from a Docker engine, or from any other engine source. */
export type MonitorOptions = CommonOptions & ({ docker: DockerReader } | { source: EngineSource });

export interface PassInfo {
  durationMs: number;
  ok: boolean;
  /** The ledger could not be believed in this pass (as opposed to not reached). */
  compromised: boolean;
  /** The node's results after the pass. */
  results: ContainerResult[];
  time: number;
  verified: VerificationRun[];
  cacheHits: number;
  cacheMisses: number;
}

/** Whether the engine answered the last pass. */
interface EngineHealth {
  status: NodeState['status'];
  reason?: string;
  /** The error code of the failure, when unreachable. */
  code?: ErrorCode;
  info?: EngineInfo;
}

export class NodeMonitor {
  readonly node: string;
  private readonly source: EngineSource;
  private readonly judge: Judge;
  private readonly publishers: Publisher[];
  private readonly schedule: PassScheduler;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private results = new Map<string, ContainerResult>();
  private health: EngineHealth = { status: 'unreachable', reason: 'not scanned yet' };
  private lastScan: number | undefined;
  /** Changes whenever the results do: answers computed from them can be reused until then. */
  generation = 0;

  constructor(options: MonitorOptions) {
    this.node = options.node;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.publishers = options.publishers ?? [];
    this.source =
      'source' in options
        ? options.source
        : new DockerEngineSource({
            docker: options.docker,
            logger: options.logger,
            resyncMs: options.resyncMs,
            ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
            ...(options.clock ? { clock: options.clock } : {}),
          });
    this.judge = new Judge(options);
    this.schedule = new PassScheduler((fresh) => this.scan(fresh), options);
  }

  start(): void {
    this.source.follow(() => void this.pass());
    this.schedule.start();
  }

  /** Stops following the engine, waits for the pass in progress and closes the publishers. */
  async stop(): Promise<void> {
    this.source.stop();
    await this.schedule.stop();
    await closeAll(this.publishers, this.logger);
  }

  /** Runs a pass now, or once more right after the one in progress; resolves when it is done. */
  pass(options: { fresh?: boolean } = {}): Promise<void> {
    return this.schedule.pass(options);
  }

  containers(): ContainerResult[] {
    return [...this.results.values()];
  }

  state(): NodeState {
    const now = this.clock();
    const ledger = this.judge.ledger;
    return {
      node: this.node,
      status: this.health.status,
      ...(this.health.reason ? { reason: this.health.reason } : {}),
      ...(this.lastScan === undefined
        ? {}
        : {
            lastScan: new Date(this.lastScan).toISOString(),
            ageSeconds: Math.max(0, Math.round((now - this.lastScan) / 100) / 10),
          }),
      ...(this.health.info ? { engine: this.health.info } : {}),
      ...(ledger ? { ledger } : {}),
      counts: countStatuses(this.results.values()),
      local: true,
    };
  }

  /** Why the engine is unreachable, as an error code and message (undefined while it answers). */
  unreachable(): { code: ErrorCode; message: string } | undefined {
    const { status, code, reason } = this.health;
    return status === 'unreachable'
      ? { code: code ?? 'DOCKER_UNREACHABLE', message: reason ?? '' }
      : undefined;
  }

  imageInfo(digest: string): ImageInfo | undefined {
    return this.source.imageInfo(digest);
  }

  private async scan(fresh: boolean): Promise<void> {
    const started = this.clock();
    let view: EngineView;
    try {
      view = await this.source.read();
    } catch (err) {
      this.engineDown(asImagetrustError(err, 'DOCKER_UNREACHABLE'), started);
      return;
    }
    const changes: ChangeEvent[] = [];
    if (this.health.status !== 'up') {
      if (this.lastScan !== undefined) changes.push({ time: started, node: this.node, kind: 'node-up' });
      this.logger.info({ node: this.node }, 'Docker engine reachable');
    }
    this.health = { status: 'up', info: view.engine };
    const j = await this.judge.judge(view.containers, fresh);
    if (j.trustReached) this.schedule.recovered();
    else this.schedule.retrySoon();
    changes.push(...diff(this.results, j.results, j.time, this.node));
    this.results = j.results;
    this.generation += 1;
    this.lastScan = j.time;
    this.publish(changes, j.time, {
      durationMs: this.clock() - started,
      ok: true,
      compromised: j.compromised,
      results: [...j.results.values()],
      time: j.time,
      verified: j.verified,
      cacheHits: j.cacheHits,
      cacheMisses: j.verified.length,
    });
  }

  /** The engine cannot be listed: the node is unreachable and every container unknown. */
  private engineDown(err: ImagetrustError, started: number): void {
    const now = this.clock();
    const reason = err.message;
    const changes: ChangeEvent[] = [];
    if (this.health.status === 'up') {
      changes.push({ time: now, node: this.node, kind: 'node-unreachable', detail: reason });
      this.logger.warn({ node: this.node, reason }, 'Docker engine unreachable: containers are unknown');
    }
    this.health = { ...this.health, status: 'unreachable', reason, code: err.code };
    const next = unreachableResults(this.results, reason);
    changes.push(...diff(this.results, next, now, this.node));
    this.results = next;
    this.generation += 1;
    this.schedule.retrySoon();
    this.publish(changes, now, {
      durationMs: this.clock() - started,
      ok: false,
      compromised: false,
      results: this.containers(),
      time: this.clock(),
      verified: [],
      cacheHits: 0,
      cacheMisses: 0,
    });
  }

  private publish(changes: ChangeEvent[], time: number, pass: PassInfo): void {
    for (const c of changes)
      if (c.kind === 'status' || c.kind === 'drift') this.logger.info({ change: c }, 'trust change');
    publishAll(
      this.publishers,
      { time, node: this.state(), containers: pass.results, changes, pass },
      this.logger,
    );
  }
}

/** The history events between two views of a node. */
export function diff(
  before: Map<string, ContainerResult>,
  after: Map<string, ContainerResult>,
  time: number,
  node: string,
): ChangeEvent[] {
  const out: ChangeEvent[] = [];
  const base = (r: ContainerResult) => ({
    time,
    node,
    containerId: r.id,
    containerName: r.name,
    image: r.image,
    digest: r.digest,
  });
  for (const [id, r] of after) {
    const prev = before.get(id);
    if (!prev) {
      out.push({ ...base(r), kind: 'started', status: r.status });
      continue;
    }
    if (prev.status !== r.status)
      out.push({
        ...base(r),
        kind: 'status',
        status: r.status,
        previous: prev.status,
        ...(r.reason ? { detail: r.reason } : {}),
      });
    if (r.drift && (!prev.drift || prev.driftDigest !== r.driftDigest)) {
      out.push({
        ...base(r),
        kind: 'drift',
        status: r.status,
        detail: `${r.image} now resolves to ${r.driftDigest}`,
      });
    }
  }
  for (const [id, r] of before)
    if (!after.has(id)) out.push({ ...base(r), kind: 'stopped', previous: r.status });
  return out;
}
