// Peers: other agents this one answers for. Each is asked for its local view concurrently,
// with a per-node timeout. A peer that does not answer is `unreachable`; its containers keep
// their last known identity but read `unknown`, with the last known status and its age.

import { ImagetrustError } from '../errors';
import { CONTAINER_STATUSES, countStatuses, type ContainerResult, type NodeState } from './types';

export interface LocalView {
  node: NodeState;
  containers: ContainerResult[];
}

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
    throw new ImagetrustError('BAD_REQUEST', 'peer answered something that is not a node view');
  }
  if (!isString(o.node.node)) throw new ImagetrustError('BAD_REQUEST', 'peer view has no node name');
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

export class Fleet {
  private readonly memory = new Map<string, PeerMemory>();
  private readonly clock: () => number;
  private readonly cacheMs: number;
  private recent: { at: number; views: Promise<LocalView[]> } | undefined;

  constructor(private readonly options: FleetOptions) {
    this.clock = options.clock ?? Date.now;
    this.cacheMs = options.cacheMs ?? 1000;
    for (const p of options.peers) this.memory.set(p, {});
  }

  get peers(): string[] {
    return this.options.peers;
  }

  private async ask(url: string): Promise<LocalView> {
    const res = await fetch(`${url.replace(/\/+$/, '')}/api/v1/local`, {
      headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    if (!res.ok) throw new ImagetrustError('BAD_REQUEST', `peer answered HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_PEER_RESPONSE) throw new ImagetrustError('BAD_REQUEST', 'peer answer too large');
    return parseLocalView(JSON.parse(text));
  }

  /** Every peer's view, asked concurrently; never throws. */
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
    let res: Response;
    try {
      res = await fetch(`${url.replace(/\/+$/, '')}/api/v1/verify`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        body: JSON.stringify({ node, ...(container === undefined ? {} : { container }) }),
        signal: AbortSignal.timeout(Math.max(this.options.timeoutMs, 30_000)),
      });
    } catch (err) {
      throw new ImagetrustError(
        'PEER_UNREACHABLE',
        `node ${node} (${url}) is unreachable: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const doc = (await res.json().catch(() => undefined)) as { containers?: unknown } | undefined;
    if (!res.ok || !doc || !Array.isArray(doc.containers))
      throw new ImagetrustError('BAD_REQUEST', `node ${node} refused to verify (HTTP ${res.status})`);
    return parseLocalView({ node: { node }, containers: doc.containers }).containers;
  }

  private unreachable(url: string, mem: PeerMemory, reason: string): LocalView {
    const age = mem.at === undefined ? undefined : Math.round((this.clock() - mem.at) / 100) / 10;
    const containers = (mem.view?.containers ?? []).map((c) => {
      const u: ContainerResult & { lastKnownStatus?: string } = {
        ...c,
        status: 'unknown',
        statusCode: 2,
        level: 0,
        lastKnownStatus: c.status,
        reason: `node unreachable (${reason}); last known ${c.status}${age === undefined ? '' : ` ${age}s ago`}`,
      };
      return u;
    });
    const node: NodeState = {
      node: mem.view?.node.node ?? url,
      status: 'unreachable',
      reason,
      ...(mem.view?.node.lastScan ? { lastScan: mem.view.node.lastScan } : {}),
      ...(age === undefined ? {} : { ageSeconds: age }),
      counts: countStatuses(containers),
      local: false,
      url,
    };
    return { node, containers };
  }
}
