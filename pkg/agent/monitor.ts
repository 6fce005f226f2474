// The local node's monitor: what runs on this engine and whether each image is trusted.
//
//   events ─┐
//   resync ─┼─► pass: GET /containers/json ─► inspect each new digest once ─► verify (cached
//   verify ─┘         by digest + ledger checkpoint) ─► results, drift, history
//
// Fail closed: if the engine cannot be listed the node is `unreachable` and every container
// `unknown`; if the ledger cannot be believed every container is `unknown` with the reason.
// Both recover on their own: the event stream reconnects with backoff and resyncs.

import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { asImagetrustError, isImagetrustError } from '../errors';
import type { ContainerSummary, DockerReader } from '../docker/engine';
import { parseImageRef } from '../docker/image-ref';
import { imageInfoFrom, type ImageInfo } from '../docker/resolve';
import { isImageDigest, type ImageDigest } from '../ledger/statement';
import { unknown, type Verification, type Verifier } from '../verify/verifier';
import type { ChangeEvent, History } from './history';
import { countStatuses, type ContainerResult, type NodeState } from './types';

export interface MonitorOptions {
  node: string;
  docker: DockerReader;
  verifier: Verifier;
  history?: History;
  logger: Logger;
  resyncMs: number;
  cacheTtlMs: number;
  isSelf?: (containerId: string) => boolean;
  clock?: () => number;
  /** How many verifications run at once. */
  concurrency?: number;
  /** Called after every pass (metrics hook). */
  onPass?: (info: PassInfo) => void;
}

export interface PassInfo {
  durationMs: number;
  ok: boolean;
  /** The ledger could not be believed in this pass (as opposed to not reached). */
  compromised: boolean;
  /** The node's results after the pass. */
  results: ContainerResult[];
  time: number;
  verified: { result: Verification['status']; durationMs: number }[];
  cacheHits: number;
  cacheMisses: number;
}

interface CachedVerification {
  /** The verifier's Epoch.key when this was verified. */
  epoch: string;
  at: number;
  verification: Verification;
}

const MAX_EVENT_LINE = 1024 * 1024;
const MAX_BACKOFF_MS = 30_000;
const EVENT_ACTIONS = new Set([
  'create',
  'start',
  'restart',
  'unpause',
  'die',
  'stop',
  'kill',
  'destroy',
  'rename',
  'update',
  'pause',
]);

export class NodeMonitor {
  readonly node: string;
  private results = new Map<string, ContainerResult>();
  private readonly cache = new Map<string, CachedVerification>();
  private readonly images = new Map<string, ImageInfo>();
  private readonly createdWith = new Map<string, string | undefined>();
  private readonly refDigests = new Map<string, string | undefined>();
  private refsResolvedAt = 0;
  private health: NodeState['status'] = 'unreachable';
  private healthReason: string | undefined = 'not scanned yet';
  private lastScan: number | undefined;
  private engine: NodeState['engine'];
  private ledger: NodeState['ledger'];
  private running: Promise<void> | undefined;
  private again: { fresh: boolean } | undefined;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private stream: Readable | undefined;
  private wake: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryDelay = 0;
  private readonly clock: () => number;
  /** Changes whenever the results do: answers computed from them can be reused until then. */
  generation = 0;

  constructor(private readonly options: MonitorOptions) {
    this.node = options.node;
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    void this.followEvents();
    this.timer = setInterval(() => void this.pass(), this.options.resyncMs);
    this.timer.unref();
    void this.pass();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.stream?.destroy();
    this.wake?.();
    await this.running?.catch(() => undefined);
  }

  /** Runs a pass now, or once more right after the one in progress; resolves when it is done. */
  pass(options: { fresh?: boolean } = {}): Promise<void> {
    if (this.running) {
      // The pass in progress runs once more before its promise settles.
      this.again = { fresh: Boolean(options.fresh) || Boolean(this.again?.fresh) };
      return this.running;
    }
    const run = async (fresh: boolean): Promise<void> => {
      try {
        await this.scan(fresh);
      } catch (err) {
        this.options.logger.error({ err }, 'pass failed');
      }
      const next = this.again;
      this.again = undefined;
      if (next && !this.stopped) await run(next.fresh);
    };
    this.running = run(Boolean(options.fresh)).finally(() => (this.running = undefined));
    return this.running;
  }

  containers(): ContainerResult[] {
    return [...this.results.values()];
  }

  state(): NodeState {
    const now = this.clock();
    return {
      node: this.node,
      status: this.health,
      ...(this.healthReason ? { reason: this.healthReason } : {}),
      ...(this.lastScan === undefined
        ? {}
        : {
            lastScan: new Date(this.lastScan).toISOString(),
            ageSeconds: Math.max(0, Math.round((now - this.lastScan) / 100) / 10),
          }),
      ...(this.engine ? { engine: this.engine } : {}),
      ...(this.ledger ? { ledger: this.ledger } : {}),
      counts: countStatuses(this.results.values()),
      local: true,
    };
  }

  imageInfo(digest: string): ImageInfo | undefined {
    return this.images.get(digest);
  }

  private async scan(fresh: boolean): Promise<void> {
    const started = this.clock();
    const { docker, verifier, logger } = this.options;
    let list: ContainerSummary[];
    try {
      list = await docker.listContainers();
      if (!this.engine) {
        const v = await docker.version();
        this.engine = { version: String(v.Version), apiVersion: String(v.ApiVersion) };
      }
    } catch (err) {
      this.markUnreachable(asImagetrustError(err, 'DOCKER_UNREACHABLE').message);
      this.scheduleRetry();
      this.options.onPass?.({
        durationMs: this.clock() - started,
        ok: false,
        compromised: false,
        results: this.containers(),
        time: this.clock(),
        verified: [],
        cacheHits: 0,
        cacheMisses: 0,
      });
      return;
    }
    const changes: ChangeEvent[] = [];
    if (this.health !== 'up') {
      if (this.lastScan !== undefined) changes.push({ time: started, node: this.node, kind: 'node-up' });
      logger.info({ node: this.node }, 'Docker engine reachable');
    }
    this.health = 'up';
    this.healthReason = undefined;

    let epoch: string | undefined;
    let epochError: string | undefined;
    let compromised = false;
    // Published once, when the pass has judged every digest: a reader never sees a half-done view.
    let ledger: NodeState['ledger'];
    try {
      const e = await verifier.epoch();
      epoch = e.key;
      ledger =
        verifier.kind === 'builtin'
          ? {
              checkpoint: e.key,
              ...(e.treeSize !== undefined ? { treeSize: e.treeSize } : {}),
              ...(e.note !== undefined ? { note: e.note } : {}),
            }
          : undefined;
    } catch (err) {
      const e = asImagetrustError(err);
      compromised = e.compromised;
      epochError = `${e.compromised ? 'ledger compromised: ' : ''}${e.message} [${e.code}]`;
      ledger = { error: epochError };
      this.ledger = ledger;
      this.scheduleRetry();
      logger.warn({ reason: epochError }, 'trust material unavailable: containers are unknown');
    }

    const digests = new Set<string>();
    for (const c of list) if (isImageDigest(c.ImageID)) digests.add(c.ImageID);
    await this.inspectNew([...digests]);
    const drift = await this.resolveRefs(list);

    const hits = { n: 0 };
    const verified: PassInfo['verified'] = [];
    const verdicts = new Map<string, Verification>();
    await this.forEachLimited([...digests], async (digest) => {
      verdicts.set(
        digest,
        await this.verification(digest as ImageDigest, epoch, epochError, fresh, hits, verified),
      );
    });

    const disbelieved = [...verdicts.values()].find((v) => v.compromised);
    if (disbelieved && epochError === undefined) {
      // The checkpoint was fine but a lookup's proofs were not: the ledger cannot be believed.
      compromised = true;
      ledger = { ...ledger, error: disbelieved.reason ?? 'ledger compromised' };
      logger.warn({ reason: ledger.error }, 'ledger answers could not be believed: containers are unknown');
    }
    this.ledger = ledger;

    const now = this.clock();
    const next = new Map<string, ContainerResult>();
    for (const c of list) {
      const id = String(c.Id);
      const digest = String(c.ImageID);
      const v =
        verdicts.get(digest) ??
        unknown(`container runs ${JSON.stringify(digest.slice(0, 80))}, not a sha256 image ID`);
      const started = drift.get(id);
      const driftDigest = started?.digest;
      const result: ContainerResult = {
        node: this.node,
        id,
        name: containerName(c),
        image: started?.ref ?? String(c.Image),
        digest,
        status: v.status,
        statusCode: v.statusCode,
        level: v.level,
        ...(v.signer ? { signer: v.signer } : {}),
        ...(v.signerName ? { signerName: v.signerName } : {}),
        ...(v.signedAt ? { signedAt: v.signedAt } : {}),
        verifiedAt: new Date(now).toISOString(),
        ...(v.reason ? { reason: v.reason } : {}),
        drift: driftDigest !== undefined && driftDigest !== digest,
        ...(driftDigest !== undefined && driftDigest !== digest ? { driftDigest } : {}),
        state: String(c.State ?? ''),
        labels: labelsOf(c),
        ...(this.options.isSelf?.(id) ? { self: true } : {}),
        ...(v.proof ? { proof: v.proof } : {}),
      };
      next.set(id, result);
    }
    changes.push(...diff(this.results, next, now, this.node));
    this.results = next;
    this.generation += 1;
    this.lastScan = now;
    if (epochError === undefined) this.retryDelay = 0;
    this.record(changes, now);
    this.options.onPass?.({
      durationMs: this.clock() - started,
      ok: true,
      compromised,
      results: [...next.values()],
      time: now,
      verified,
      cacheHits: hits.n,
      cacheMisses: verified.length,
    });
  }

  /** After a failure, tries again soon (1 s, doubling up to the resync interval) rather than at the next resync. */
  private scheduleRetry(): void {
    if (this.stopped || this.retry) return;
    this.retryDelay = Math.min(this.options.resyncMs, this.retryDelay === 0 ? 1000 : this.retryDelay * 2);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.pass();
    }, this.retryDelay);
    this.retry.unref();
  }

  private async verification(
    digest: ImageDigest,
    epoch: string | undefined,
    epochError: string | undefined,
    fresh: boolean,
    hits: { n: number },
    verified: PassInfo['verified'],
  ): Promise<Verification> {
    if (epoch === undefined) return unknown(epochError ?? 'trust material unavailable');
    const now = this.clock();
    const cached = this.cache.get(digest);
    if (
      !fresh &&
      cached &&
      cached.epoch === epoch &&
      now - cached.at < this.options.cacheTtlMs &&
      !cached.verification.transient
    ) {
      hits.n += 1;
      return cached.verification;
    }
    const t0 = this.clock();
    const verification = await this.options.verifier.verify({ digest });
    verified.push({ result: verification.status, durationMs: this.clock() - t0 });
    this.cache.set(digest, { epoch, at: now, verification });
    return verification;
  }

  private async inspectNew(digests: string[]): Promise<void> {
    const missing = digests.filter((d) => !this.images.has(d));
    await this.forEachLimited(missing, async (digest) => {
      try {
        this.images.set(digest, imageInfoFrom(await this.options.docker.inspectImage(digest)));
      } catch (err) {
        this.options.logger.debug({ digest, err: asImagetrustError(err).message }, 'image inspect failed');
      }
    });
    // Forget images nothing runs any more, so memory follows what runs.
    const running = new Set(digests);
    for (const d of this.images.keys()) if (!running.has(d)) this.images.delete(d);
    for (const d of this.cache.keys()) if (!running.has(d)) this.cache.delete(d);
  }

  /**
   * The reference a container was started with. The list shows it, except when the tag has
   * moved on: then the list shows the image ID, and the container is inspected (once; a
   * container's reference never changes) to learn the name it was started with.
   */
  private async startedWith(c: ContainerSummary): Promise<string | undefined> {
    const shown = typeof c.Image === 'string' ? c.Image : '';
    if (!looksLikeId(shown)) return shown;
    const id = String(c.Id);
    if (this.createdWith.has(id)) return this.createdWith.get(id);
    try {
      const ref = await this.options.docker.containerImageRef(id);
      this.createdWith.set(id, ref !== undefined && !looksLikeId(ref) ? ref : undefined);
    } catch (err) {
      this.options.logger.debug({ id, err: asImagetrustError(err).message }, 'container inspect failed');
      return undefined;
    }
    return this.createdWith.get(id);
  }

  /** For each container, the reference it was started with and what that resolves to now (for drift). */
  private async resolveRefs(
    list: ContainerSummary[],
  ): Promise<Map<string, { ref: string; digest?: string }>> {
    const refOf = new Map<string, string>();
    await this.forEachLimited(list, async (c) => {
      const ref = await this.startedWith(c);
      if (ref !== undefined && ref !== '') refOf.set(String(c.Id), ref);
    });
    const running = new Set(list.map((c) => String(c.Id)));
    for (const id of this.createdWith.keys()) if (!running.has(id)) this.createdWith.delete(id);
    const resolved = new Map<string, string | undefined>();
    for (const ref of new Set(refOf.values())) {
      try {
        if (parseImageRef(ref, { requireScheme: false }).imageId === undefined) resolved.set(ref, undefined);
      } catch {
        // Not a reference: nothing can drift.
      }
    }
    // What a reference resolves to is kept until an image event (tag, untag, import, …) or the
    // next resync; a pass then costs one list and nothing per reference.
    const now = this.clock();
    if (now - this.refsResolvedAt >= this.options.resyncMs) this.refDigests.clear();
    const unresolved = [...resolved.keys()].filter((ref) => {
      if (!this.refDigests.has(ref)) return true;
      resolved.set(ref, this.refDigests.get(ref));
      return false;
    });
    if (unresolved.length > 0 && this.refDigests.size === 0) this.refsResolvedAt = now;
    await this.forEachLimited(unresolved, async (ref) => {
      try {
        const info = await this.options.docker.inspectImage(ref);
        const digest = isImageDigest(info.Id) ? info.Id : undefined;
        resolved.set(ref, digest);
        this.refDigests.set(ref, digest);
      } catch (err) {
        if (isImagetrustError(err, 'IMAGE_NOT_FOUND')) this.refDigests.set(ref, undefined);
        else
          this.options.logger.debug({ ref, err: asImagetrustError(err).message }, 'reference lookup failed');
      }
    });
    const out = new Map<string, { ref: string; digest?: string }>();
    for (const [id, ref] of refOf) {
      const digest = resolved.get(ref);
      out.set(id, digest === undefined ? { ref } : { ref, digest });
    }
    return out;
  }

  private markUnreachable(reason: string): void {
    const now = this.clock();
    const changes: ChangeEvent[] = [];
    if (this.health !== 'unreachable' || this.healthReason !== reason) {
      if (this.health === 'up') {
        changes.push({ time: now, node: this.node, kind: 'node-unreachable', detail: reason });
        this.options.logger.warn(
          { node: this.node, reason },
          'Docker engine unreachable: containers are unknown',
        );
      }
    }
    this.health = 'unreachable';
    this.healthReason = reason;
    const next = new Map<string, ContainerResult>();
    for (const [id, r] of this.results) {
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
    changes.push(...diff(this.results, next, now, this.node));
    this.results = next;
    this.generation += 1;
    this.record(changes, now);
  }

  private record(changes: ChangeEvent[], now: number): void {
    const { history, logger } = this.options;
    for (const c of changes)
      if (c.kind === 'status' || c.kind === 'drift') logger.info({ change: c }, 'trust change');
    if (!history) return;
    try {
      history.record(changes);
      history.snapshot(now, this.node, countStatuses(this.results.values()));
    } catch (err) {
      logger.error({ err }, 'cannot write history');
    }
  }

  private async forEachLimited<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
    const limit = this.options.concurrency ?? 8;
    let next = 0;
    const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    });
    await Promise.all(workers);
  }

  /** Follows the engine's container events; reconnects with backoff and resyncs after every gap. */
  private async followEvents(): Promise<void> {
    let failures = 0;
    let connectedBefore = false;
    while (!this.stopped) {
      try {
        const stream = await this.options.docker.containerEvents();
        this.stream = stream;
        failures = 0;
        if (connectedBefore) this.options.logger.info('event stream reconnected: resyncing');
        connectedBefore = true;
        void this.pass();
        await this.consume(stream);
      } catch (err) {
        failures += 1;
        this.options.logger.debug({ err: asImagetrustError(err).message }, 'event stream unavailable');
      }
      if (this.stopped) break;
      void this.pass();
      const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 8));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Resolves when the stream ends or fails; every complete line is one JSON event. */
  private consume(stream: Readable): Promise<void> {
    return new Promise((resolve) => {
      let buffer = '';
      const done = (): void => {
        stream.removeAllListeners('data');
        resolve();
      };
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        if (buffer.length > MAX_EVENT_LINE) buffer = '';
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          this.onEvent(line);
        }
      });
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', (err) => {
        this.options.logger.debug({ err: err.message }, 'event stream error');
        done();
      });
    });
  }

  private onEvent(line: string): void {
    let event: { Type?: unknown; Action?: unknown; status?: unknown };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return;
    }
    const action =
      typeof event.Action === 'string' ? event.Action : typeof event.status === 'string' ? event.status : '';
    if (event.Type === 'image') {
      // A tag moved, an image was imported or removed: references may resolve differently now.
      this.refDigests.clear();
      void this.pass();
      return;
    }
    if (event.Type !== undefined && event.Type !== 'container') return;
    if (EVENT_ACTIONS.has(action.split(':')[0] ?? '')) void this.pass();
  }
}

function looksLikeId(ref: string): boolean {
  return /^(sha256:)?[0-9a-f]{12,64}$/.test(ref);
}

function containerName(c: ContainerSummary): string {
  const first = Array.isArray(c.Names) && typeof c.Names[0] === 'string' ? c.Names[0] : '';
  return first.startsWith('/') ? first.slice(1) : first;
}

function labelsOf(c: ContainerSummary): Record<string, string> {
  const out: Record<string, string> = {};
  if (c.Labels && typeof c.Labels === 'object')
    for (const [k, v] of Object.entries(c.Labels)) if (typeof v === 'string') out[k] = v;
  return out;
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
