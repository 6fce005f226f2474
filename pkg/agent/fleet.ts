// Peers: other agents this one answers for. Each is asked for its local view concurrently,
// with a per-node timeout. A peer that does not answer is `unreachable`; its containers keep
// their last known identity but read `unknown`, with the last known status and its age.
// A peer that cannot be reached is PEER_UNREACHABLE; one whose answer is bad (not 2xx, not
// JSON, too large, not a node view) is PEER_INVALID.

import { ImagetrustError, asImagetrustError } from '../errors';
import { CONTAINER_STATUSES, type ContainerResult, type NodeState } from './types';
import { unreachableView, type LocalView } from './views';

export type { LocalView };

interface PeerMemory {
  view?: LocalView;
  at?: number;
}

export interface FleetOptions {
  peers: string[];
  token?: string;
  timeoutMs: number;
  /** How long one fan-out's answer is reused (ms). */
  cacheMs?: number;
  /** The largest answer a peer may give (bytes; 64 MiB by default). */
  maxResponseBytes?: number;
  /** Called with every peer answer that parsed (gossip listens here). */
  onView?: (url: string, view: LocalView) => void;
  clock?: () => number;
}

const MAX_PEER_RESPONSE = 64 * 1024 * 1024;

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

/** Checks a peer's answer enough that nothing it says can break ours. */
export function parseLocalView(doc: unknown): LocalView {
  const o = doc as { node?: Record<string, unknown>; containers?: unknown };
  if (!o || typeof o !== 'object' || !o.node || typeof o.node !== 'object' || !Array.isArray(o.containers)) {
    throw new ImagetrustError('PEER_INVALID', 'peer answered something that is not a node view');
  }
  if (!isString(o.node.node)) throw new ImagetrustError('PEER_INVALID', 'peer view has no node name');
  const containers = o.containers.filter(
    (c): c is ContainerResult =>
      !!c &&
      typeof c === 'object' &&
      isString((c as ContainerResult).id) &&
      isString((c as ContainerResult).name) &&
      CONTAINER_STATUSES.includes((c as ContainerResult).status),
  );
  return { node: o.node as unknown as NodeState, containers };
}

/** What one peer answered when asked to re-verify. */
export interface PeerVerification {
  url: string;
  /** The peer's node name, or its URL when it never answered. */
  node: string;
  containers?: ContainerResult[];
  error?: ImagetrustError;
}

/**
 * A peer's answer as JSON: PEER_INVALID when it is not 2xx, too large or not JSON;
 * PEER_UNREACHABLE when the body stops coming (the timeout covers it too).
 */
async function answerOf(res: Response, maxBytes: number, refused = 'peer answered'): Promise<unknown> {
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new ImagetrustError('PEER_UNREACHABLE', `peer stopped answering: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!res.ok) {
    // The peer's own error, when it sent one, is kept as evidence.
    const said = (safeJson(text) as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const message = typeof said?.message === 'string' ? `: ${said.message.slice(0, 200)}` : '';
    throw new ImagetrustError('PEER_INVALID', `${refused} (HTTP ${res.status}${message})`, {
      details: { status: res.status, ...(typeof said?.code === 'string' ? { peerCode: said.code } : {}) },
    });
  }
  if (Buffer.byteLength(text) > maxBytes) throw new ImagetrustError('PEER_INVALID', 'peer answer too large');
  const doc = safeJson(text);
  if (doc === undefined) throw new ImagetrustError('PEER_INVALID', 'peer answer is not JSON');
  return doc;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export class Fleet {
  private readonly memory = new Map<string, PeerMemory>();
  private readonly clock: () => number;
  private readonly cacheMs: number;
  private readonly maxBytes: number;
  private recent: { at: number; views: Promise<LocalView[]> } | undefined;

  constructor(private readonly options: FleetOptions) {
    this.clock = options.clock ?? Date.now;
    this.cacheMs = options.cacheMs ?? 1000;
    this.maxBytes = options.maxResponseBytes ?? MAX_PEER_RESPONSE;
    for (const p of options.peers) this.memory.set(p, {});
  }

  get peers(): string[] {
    return this.options.peers;
  }

  private async ask(url: string): Promise<LocalView> {
    const res = await this.call(url, '/api/v1/local', {}, this.options.timeoutMs, url);
    return parseLocalView(await answerOf(res, this.maxBytes));
  }

  /** One request to a peer; PEER_UNREACHABLE when it does not answer. */
  private async call(
    url: string,
    path: string,
    init: RequestInit,
    timeoutMs: number,
    who: string,
  ): Promise<Response> {
    try {
      return await fetch(`${url.replace(/\/+$/, '')}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string> | undefined),
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new ImagetrustError('PEER_UNREACHABLE', `${who} is unreachable: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * Every peer's view. Requests that arrive together share one fan-out, and its answer is
   * reused for `cacheMs` (dashboards ask many times at once).
   */
  views(): Promise<LocalView[]> {
    const now = this.clock();
    if (this.recent && now - this.recent.at < this.cacheMs) return this.recent.views;
    const views = this.askAll();
    this.recent = { at: now, views };
    views.catch(() => (this.recent = undefined));
    return views;
  }

  get generation(): number {
    return this.recent?.at ?? 0;
  }

  private askAll(): Promise<LocalView[]> {
    return Promise.all(
      this.options.peers.map(async (url) => {
        const mem = this.memory.get(url) as PeerMemory;
        try {
          const view = await this.ask(url);
          this.options.onView?.(url, view);
          mem.view = view;
          mem.at = this.clock();
          return { node: { ...view.node, local: false, url }, containers: view.containers };
        } catch (err) {
          return this.unreachable(url, mem, err instanceof Error ? err.message : String(err));
        }
      }),
    );
  }

  /** Asks the peer that answers for `node` to re-verify now. */
  async verifyOn(node: string, container?: string): Promise<ContainerResult[]> {
    const url = [...this.memory.entries()].find(([, m]) => m.view?.node.node === node)?.[0];
    if (!url) throw new ImagetrustError('NOT_FOUND', `no node ${node} among the peers that answered`);
    return this.verifyAt(url, { node, ...(container === undefined ? {} : { container }) });
  }

  /** Asks every peer to re-verify all its containers now; one that fails is reported, not dropped. */
  verifyAll(): Promise<PeerVerification[]> {
    return Promise.all(
      this.options.peers.map(async (url): Promise<PeerVerification> => {
        const node = this.memory.get(url)?.view?.node.node ?? url;
        try {
          return { url, node, containers: await this.verifyAt(url, {}) };
        } catch (err) {
          return { url, node, error: asImagetrustError(err, 'PEER_INVALID') };
        }
      }),
    );
  }

  private async verifyAt(
    url: string,
    body: { node?: string; container?: string },
  ): Promise<ContainerResult[]> {
    const what = body.node ?? url;
    const res = await this.call(
      url,
      '/api/v1/verify',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      Math.max(this.options.timeoutMs, 30_000),
      `node ${what} (${url})`,
    );
    const doc = (await answerOf(res, this.maxBytes, `node ${what} refused to verify`)) as {
      containers?: unknown;
    };
    if (!doc || typeof doc !== 'object' || !Array.isArray(doc.containers))
      throw new ImagetrustError('PEER_INVALID', `node ${what} answered a verification without containers`);
    return parseLocalView({ node: { node: what }, containers: doc.containers }).containers;
  }

  private unreachable(url: string, mem: PeerMemory, reason: string): LocalView {
    const view = unreachableView(mem.view, url, reason, mem.at, this.clock());
    return { node: { ...view.node, url }, containers: view.containers };
  }
}
