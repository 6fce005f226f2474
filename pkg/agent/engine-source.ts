// The engine source: what runs on one Docker engine, read-only. A read lists the running
// containers, inspects each image ID once (and forgets those nothing runs any more), and
// learns the reference each container was started with and what that resolves to now. It
// also follows the engine's events: a container or image event, a reconnect or a gap in the
// stream wakes the monitor for a pass.
//
//   read():   GET /containers/json ─► inspect new image IDs ─► start references ─► EngineView
//   follow(): GET /events ─(container and image events; reconnect with backoff)─► wake()
//
// Another engine (another runtime, a fake in tests) plugs in behind the EngineSource interface.

import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { asImagetrustError, isImagetrustError } from '../errors';
import type { ContainerSummary, DockerReader } from '../docker/engine';
import { parseImageRef } from '../docker/image-ref';
import { imageInfoFrom, type ImageInfo } from '../docker/resolve';
import { isImageDigest } from '../ledger/statement';
import { forEachLimited } from './limit';

/** One running container, as the judge needs it. */
export interface RunningContainer {
  id: string;
  /** The name without the leading slash. */
  name: string;
  /** What it runs: the engine's image ID as reported (judged only when it is a sha256 digest). */
  imageId: string;
  /** The reference it was started with; the image ID when no name is known. */
  image: string;
  /** What that reference resolves to now, when it is a name that resolves (drift). */
  resolvesTo?: string;
  state: string;
  labels: Record<string, string>;
}

/** The reference a container was started with, and what it resolves to now. */
interface StartReference {
  ref: string;
  digest?: string;
}

export interface EngineInfo {
  version: string;
  apiVersion: string;
}

export interface EngineView {
  engine: EngineInfo;
  containers: RunningContainer[];
}

export interface EngineSource {
  /** What runs now. Throws (DOCKER_UNREACHABLE, DOCKER_ERROR …) when the engine cannot be listed. */
  read(): Promise<EngineView>;
  /** What the engine said about an image that runs (repo tags and digests for the API). */
  imageInfo(digest: string): ImageInfo | undefined;
  /** Follows the engine's changes until stop(), calling wake() whenever a pass should run. */
  follow(wake: () => void): void;
  stop(): void;
}

export interface DockerSourceOptions {
  docker: DockerReader;
  logger: Logger;
  /** What references resolve to is re-read at least this often (ms). */
  resyncMs: number;
  /** How many inspections run at once. */
  concurrency?: number;
  clock?: () => number;
}

const MAX_EVENT_LINE = 1024 * 1024;
const MAX_BACKOFF_MS = 30_000;
const CONTAINER_ACTIONS = new Set([
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

/** A Docker engine through the read-only client. */
export class DockerEngineSource implements EngineSource {
  private readonly images = new Map<string, ImageInfo>();
  private readonly refs: StartReferences;
  private readonly events: EventFollower;
  private engine: EngineInfo | undefined;

  constructor(private readonly options: DockerSourceOptions) {
    this.refs = new StartReferences(options);
    this.events = new EventFollower(options.docker, options.logger, () => this.refs.forgetResolved());
  }

  async read(): Promise<EngineView> {
    const { docker } = this.options;
    const list = await docker.listContainers();
    if (!this.engine) {
      const v = await docker.version();
      this.engine = { version: String(v.Version), apiVersion: String(v.ApiVersion) };
    }
    const digests = new Set<string>();
    for (const c of list) if (isImageDigest(c.ImageID)) digests.add(c.ImageID);
    await this.inspectNew(digests);
    const started = await this.refs.resolve(list);
    const containers = list.map((c): RunningContainer => {
      const id = String(c.Id);
      const ref = started.get(id);
      const container: RunningContainer = {
        id,
        name: containerName(c),
        imageId: String(c.ImageID),
        image: ref?.ref ?? String(c.Image),
        state: String(c.State ?? ''),
        labels: labelsOf(c),
      };
      if (ref?.digest !== undefined) container.resolvesTo = ref.digest;
      return container;
    });
    return { engine: this.engine, containers };
  }

  imageInfo(digest: string): ImageInfo | undefined {
    return this.images.get(digest);
  }

  follow(wake: () => void): void {
    this.events.start(wake);
  }

  stop(): void {
    this.events.stop();
  }

  private async inspectNew(running: Set<string>): Promise<void> {
    const missing = [...running].filter((d) => !this.images.has(d));
    await forEachLimited(missing, this.options.concurrency ?? 8, async (digest) => {
      try {
        this.images.set(digest, imageInfoFrom(await this.options.docker.inspectImage(digest)));
      } catch (err) {
        this.options.logger.debug({ digest, err: asImagetrustError(err).message }, 'image inspect failed');
      }
    });
    // Forget images nothing runs, so memory follows what runs.
    for (const d of this.images.keys()) if (!running.has(d)) this.images.delete(d);
  }
}

/**
 * The reference each container was started with, and what it resolves to now. The list shows
 * the reference, except when the tag has moved on: then it shows the image ID, and the
 * container is inspected (once; a container's reference never changes) to learn the name.
 * What a reference resolves to is kept until an image event or the next resync.
 */
class StartReferences {
  private readonly createdWith = new Map<string, string | undefined>();
  private readonly resolved = new Map<string, string | undefined>();
  private resolvedAt = 0;
  private readonly clock: () => number;

  constructor(private readonly options: DockerSourceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** A tag moved, an image was imported or removed: references may resolve differently now. */
  forgetResolved(): void {
    this.resolved.clear();
  }

  /** For each container id, the reference it was started with and what that resolves to now. */
  async resolve(list: ContainerSummary[]): Promise<Map<string, StartReference>> {
    const refOf = new Map<string, string>();
    const unnamed: ContainerSummary[] = [];
    for (const c of list) {
      const shown = typeof c.Image === 'string' ? c.Image : '';
      if (looksLikeId(shown)) unnamed.push(c);
      else if (shown !== '') refOf.set(String(c.Id), shown);
    }
    // Only a container whose tag moved on is inspected (once) to learn its name.
    await forEachLimited(unnamed, this.limit, async (c) => {
      const ref = await this.createdName(String(c.Id));
      if (ref !== undefined) refOf.set(String(c.Id), ref);
    });
    if (this.createdWith.size > 0) {
      const running = new Set(list.map((c) => String(c.Id)));
      for (const id of this.createdWith.keys()) if (!running.has(id)) this.createdWith.delete(id);
    }
    const digestOf = await this.digests(new Set(refOf.values()));
    const out = new Map<string, StartReference>();
    for (const [id, ref] of refOf) {
      const digest = digestOf.get(ref);
      out.set(id, digest === undefined ? { ref } : { ref, digest });
    }
    return out;
  }

  private get limit(): number {
    return this.options.concurrency ?? 8;
  }

  /** The name a container was created with (`Config.Image`), unless that is an ID too. */
  private async createdName(id: string): Promise<string | undefined> {
    if (this.createdWith.has(id)) return this.createdWith.get(id);
    try {
      const ref = await this.options.docker.containerImageRef(id);
      this.createdWith.set(id, ref !== undefined && ref !== '' && !looksLikeId(ref) ? ref : undefined);
    } catch (err) {
      this.options.logger.debug({ id, err: asImagetrustError(err).message }, 'container inspect failed');
      return undefined;
    }
    return this.createdWith.get(id);
  }

  /** What each name resolves to now (a reference by ID cannot drift and is left out). */
  private async digests(refs: Set<string>): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    for (const ref of refs) {
      try {
        if (parseImageRef(ref, { requireScheme: false }).imageId === undefined) out.set(ref, undefined);
      } catch {
        // Not a reference: nothing can drift.
      }
    }
    // A pass then costs one list and nothing per reference.
    const now = this.clock();
    if (now - this.resolvedAt >= this.options.resyncMs) this.resolved.clear();
    const unresolved = [...out.keys()].filter((ref) => {
      if (!this.resolved.has(ref)) return true;
      out.set(ref, this.resolved.get(ref));
      return false;
    });
    if (unresolved.length > 0 && this.resolved.size === 0) this.resolvedAt = now;
    await forEachLimited(unresolved, this.limit, async (ref) => {
      try {
        const info = await this.options.docker.inspectImage(ref);
        const digest = isImageDigest(info.Id) ? info.Id : undefined;
        out.set(ref, digest);
        this.resolved.set(ref, digest);
      } catch (err) {
        if (isImagetrustError(err, 'IMAGE_NOT_FOUND')) this.resolved.set(ref, undefined);
        else
          this.options.logger.debug({ ref, err: asImagetrustError(err).message }, 'reference lookup failed');
      }
    });
    return out;
  }
}

/** Follows the engine's events; reconnects with backoff and wakes a resync after every gap. */
class EventFollower {
  private stopped = true;
  private stream: Readable | undefined;
  private interrupt: (() => void) | undefined;

  constructor(
    private readonly docker: DockerReader,
    private readonly logger: Logger,
    private readonly onImageEvent: () => void,
  ) {}

  start(wake: () => void): void {
    this.stopped = false;
    void this.loop(wake);
  }

  stop(): void {
    this.stopped = true;
    this.stream?.destroy();
    this.interrupt?.();
  }

  private async loop(wake: () => void): Promise<void> {
    let failures = 0;
    let connectedBefore = false;
    while (!this.stopped) {
      try {
        const stream = await this.docker.containerEvents();
        this.stream = stream;
        failures = 0;
        if (connectedBefore) this.logger.info('event stream reconnected: resyncing');
        connectedBefore = true;
        wake();
        await this.consume(stream, wake);
      } catch (err) {
        failures += 1;
        this.logger.debug({ err: asImagetrustError(err).message }, 'event stream unavailable');
      }
      if (this.stopped) break;
      wake();
      await this.sleep(Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 8)));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.interrupt = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Resolves when the stream ends or fails; every complete line is one JSON event. */
  private consume(stream: Readable, wake: () => void): Promise<void> {
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
          if (this.matters(line)) wake();
        }
      });
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', (err) => {
        this.logger.debug({ err: err.message }, 'event stream error');
        done();
      });
    });
  }

  /** Whether an event line calls for a pass; an image event also forgets resolved references. */
  private matters(line: string): boolean {
    let event: { Type?: unknown; Action?: unknown; status?: unknown };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return false;
    }
    if (event.Type === 'image') {
      this.onImageEvent();
      return true;
    }
    if (event.Type !== undefined && event.Type !== 'container') return false;
    const action =
      typeof event.Action === 'string' ? event.Action : typeof event.status === 'string' ? event.status : '';
    return CONTAINER_ACTIONS.has(action.split(':')[0] ?? '');
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
