// Peers: other agents this one answers for. Each is asked for its local view concurrently,
// with a per-node timeout. A peer that does not answer is `unreachable`; its containers keep
// their last known identity but read `unknown`, with the last known status and its age.
// A peer that cannot be reached is PEER_UNREACHABLE; one whose answer is bad (not 2xx, not
// JSON, over the size bound while it streams in, not a node view by pkg/agent/peer-schema.ts,
// or for another node than the one it speaks for) is PEER_INVALID: that peer alone reads
// unreachable, the other nodes are not touched.
//
// Which node a peer speaks for: `--peer NAME=URL` binds it to NAME from the start (the safe
// form); a bare `--peer URL` learns the name from its first good answer and keeps it for the
// life of the process. Either way a peer can never speak for this agent's own node or for a
// node another peer is bound to, and an answer for another name is refused and counted.
// The peers are sent the peer credential (`--peer-token-file`), never this agent's API token.

import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { ImagetrustError, asImagetrustError } from '../errors';
import { readBoundedText } from '../net/bounded';
import type { FetchFunction } from '../net/client';
import { readSecretFile } from '../net/files';
import { NODE_NAME, parsePeerVerification, parsePeerView } from './peer-schema';
import type { ContainerResult } from './types';
import { unreachableView, type LocalView } from './views';

export type { LocalView };

/** A peer as configured: its URL and, with NAME=URL, the node it speaks for. */
export interface PeerSpec {
  url: string;
  node?: string;
}

/** `NAME=URL` or `URL` (an http(s) URL); CONFIG_INVALID otherwise. */
export function parsePeerSpec(text: string): PeerSpec {
  const m = /^([^=/:]+)=(.*)$/s.exec(text);
  const name = m?.[1];
  const url = m ? (m[2] as string) : text;
  if (name !== undefined && !NODE_NAME.test(name))
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `${JSON.stringify(text.slice(0, 80))}: the node name before "=" may hold letters, digits, dot, dash and underscore`,
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `${JSON.stringify(text.slice(0, 80))} is not a URL or NAME=URL`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ImagetrustError('CONFIG_INVALID', `${JSON.stringify(text.slice(0, 80))} is not an http(s) URL`);
  return { url: url.replace(/\/+$/, ''), ...(name !== undefined ? { node: name } : {}) };
}

/**
 * Every peer spec parsed, with the problems of the set as a whole: the same URL or node name
 * twice, or a peer bound to this agent's own node name.
 */
export function checkPeerSpecs(
  texts: string[],
  localNode: string,
): { peers: PeerSpec[]; problems: string[] } {
  const peers: PeerSpec[] = [];
  const problems: string[] = [];
  for (const t of texts) {
    try {
      peers.push(parsePeerSpec(t));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const urls = new Set<string>();
  const names = new Set<string>();
  for (const p of peers) {
    if (urls.has(p.url)) problems.push(`${p.url} is given twice`);
    urls.add(p.url);
    if (p.node === undefined) continue;
    if (p.node === localNode) problems.push(`${p.node} is this agent's own node name, not a peer's`);
    else if (names.has(p.node)) problems.push(`two peers are bound to node ${p.node}`);
    names.add(p.node);
  }
  return { peers, problems };
}

/** The peer credential from a file only its owner can read (pkg/net/files.ts), or CONFIG_INVALID. */
export function readPeerToken(path: string): string {
  const token = readSecretFile(path, 'peer token file');
  if (token.length < 16 || /\s/.test(token))
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `peer token file ${path}: expected one token of at least 16 characters without spaces`,
    );
  return token;
}

interface PeerMemory {
  spec: PeerSpec;
  /** The node this peer speaks for: configured, or learned from its first good answer. */
  bound?: string;
  view?: LocalView;
  at?: number;
  /** Answers refused: bad by schema, and for another node's name. */
  invalid: number;
  nameClaims: number;
}

export interface FleetOptions {
  /** `URL` or `NAME=URL` each (see parsePeerSpec). */
  peers: string[];
  /** This agent's own node: no peer may speak for it. */
  localNode?: string;
  /** The peer credential sent to every peer (never the API token). */
  token?: string;
  timeoutMs: number;
  /** How long one fan-out's answer is reused (ms). */
  cacheMs?: number;
  /** The largest answer a peer may give (bytes; 16 MiB by default), enforced while it streams in. */
  maxResponseBytes?: number;
  /** Called with every peer answer that was accepted (gossip listens here). */
  onView?: (url: string, view: LocalView) => void;
  logger?: Pick<Logger, 'warn' | 'info'>;
  /** How peers are asked (pkg/net/client.ts clientFetch for TLS); the global fetch by default. */
  fetch?: FetchFunction;
  clock?: () => number;
}

/** 10,000 containers of about 1 KiB each, with room to spare. */
export const MAX_PEER_RESPONSE = 16 * 1024 * 1024;
/** A refusal's body is kept only as evidence: a little of it is enough. */
const MAX_ERROR_BODY = 64 * 1024;

/** What one peer answered when asked to re-verify. */
export interface PeerVerification {
  url: string;
  /** The peer's node name, or its URL when it never answered. */
  node: string;
  containers?: ContainerResult[];
  error?: ImagetrustError;
}

/** Answers refused from one peer, for the metrics. */
export interface PeerRefusals {
  url: string;
  invalid: number;
  nameClaims: number;
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
    const { peers, problems } = checkPeerSpecs(options.peers, options.localNode ?? '');
    if (problems.length > 0) throw new ImagetrustError('CONFIG_INVALID', `peer: ${problems.join('; ')}`);
    for (const spec of peers)
      this.memory.set(spec.url, {
        spec,
        ...(spec.node ? { bound: spec.node } : {}),
        invalid: 0,
        nameClaims: 0,
      });
  }

  get peers(): string[] {
    return [...this.memory.keys()];
  }

  /** The answers refused so far, per peer. */
  refusals(): PeerRefusals[] {
    return [...this.memory.values()].map((m) => ({
      url: m.spec.url,
      invalid: m.invalid,
      nameClaims: m.nameClaims,
    }));
  }

  /**
   * Whether a peer may speak for `node`: its bound name, or (not bound yet) a name that is
   * neither this agent's nor any other peer's. Refused claims are PEER_INVALID and counted.
   */
  private bind(mem: PeerMemory, node: string): void {
    const { url } = mem.spec;
    const refuse = (why: string): never => {
      mem.nameClaims += 1;
      this.options.logger?.warn(
        { peer: url, claimed: node, bound: mem.bound },
        `refused a peer's answer: ${why}`,
      );
      throw new ImagetrustError('PEER_INVALID', `peer ${url} answered for node ${node}: ${why}`, {
        details: { claimed: node, ...(mem.bound ? { bound: mem.bound } : {}) },
      });
    };
    if (mem.bound !== undefined) {
      if (mem.bound !== node) refuse(`it speaks for node ${mem.bound} only`);
      return;
    }
    if (node === this.options.localNode) refuse("that is this agent's own node");
    for (const other of this.memory.values())
      if (other !== mem && other.bound === node) refuse(`node ${node} is ${other.spec.url}'s`);
    mem.bound = node;
    this.options.logger?.info({ peer: url, node }, 'peer bound to the node name it answered for first');
  }

  private async ask(mem: PeerMemory): Promise<LocalView> {
    const { url } = mem.spec;
    try {
      const doc = await this.call(url, '/api/v1/local', {}, this.options.timeoutMs, `peer ${url}`);
      const view = parsePeerView(doc, `peer ${url}`);
      this.bind(mem, view.node.node);
      return view;
    } catch (err) {
      if (err instanceof ImagetrustError && err.code === 'PEER_INVALID' && err.details?.claimed === undefined)
        mem.invalid += 1;
      throw err;
    }
  }

  /**
   * One request to a peer and its answer as JSON, read with the size bound while it streams
   * in: PEER_UNREACHABLE when it does not answer or breaks off (the timeout covers the body
   * too), PEER_INVALID when it is not 2xx, too large or not JSON.
   */
  private async call(
    url: string,
    path: string,
    init: RequestInit,
    timeoutMs: number,
    who: string,
    refused = `${who} refused`,
  ): Promise<unknown> {
    const abort = new AbortController();
    let res: Response;
    try {
      res = await (this.options.fetch ?? fetch)(`${url}${path}`, {
        ...init,
        redirect: 'error',
        headers: {
          ...(init.headers as Record<string, string> | undefined),
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (err) {
      throw new ImagetrustError('PEER_UNREACHABLE', `${who} is unreachable: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const bound = { tooLarge: 'PEER_INVALID', broken: 'PEER_UNREACHABLE', who, abort } as const;
    if (!res.ok) {
      // The peer's own error, when it sent one, is kept as evidence.
      const text = await readBoundedText(res, { ...bound, maxBytes: MAX_ERROR_BODY }).catch(() => '');
      const said = (safeJson(text) as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const message = typeof said?.message === 'string' ? `: ${said.message.slice(0, 200)}` : '';
      throw new ImagetrustError('PEER_INVALID', `${refused} (HTTP ${res.status}${message})`, {
        details: {
          status: res.status,
          ...(typeof said?.code === 'string' ? { peerCode: said.code.slice(0, 64) } : {}),
        },
      });
    }
    const text = await readBoundedText(res, { ...bound, maxBytes: this.maxBytes });
    const doc = safeJson(text);
    if (doc === undefined)
      throw new ImagetrustError('PEER_INVALID', `${who} answered something that is not JSON`);
    return doc;
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
      [...this.memory.values()].map(async (mem) => {
        const { url } = mem.spec;
        try {
          const view = await this.ask(mem);
          this.options.onView?.(url, view);
          mem.view = view;
          mem.at = this.clock();
          return { node: { ...view.node, local: false, url }, containers: view.containers };
        } catch (err) {
          return this.unreachable(mem, err instanceof Error ? err.message : String(err));
        }
      }),
    );
  }

  /** Asks the peer that speaks for `node` to re-verify now. */
  async verifyOn(node: string, container?: string): Promise<ContainerResult[]> {
    const mem = [...this.memory.values()].find((m) => m.bound === node);
    if (!mem) throw new ImagetrustError('NOT_FOUND', `no node ${node} among the peers`);
    return this.verifyAt(mem, node, { node, ...(container === undefined ? {} : { container }) });
  }

  /** Asks every peer to re-verify all its containers now; one that fails is reported, not dropped. */
  verifyAll(): Promise<PeerVerification[]> {
    return Promise.all(
      [...this.memory.values()].map(async (mem): Promise<PeerVerification> => {
        const { url } = mem.spec;
        try {
          // A peer that never answered says first which node it is (and is bound to it).
          const node = mem.bound ?? (await this.ask(mem)).node.node;
          return { url, node, containers: await this.verifyAt(mem, node, {}) };
        } catch (err) {
          return { url, node: mem.bound ?? url, error: asImagetrustError(err, 'PEER_INVALID') };
        }
      }),
    );
  }

  private async verifyAt(
    mem: PeerMemory,
    node: string,
    body: { node?: string; container?: string },
  ): Promise<ContainerResult[]> {
    const { url } = mem.spec;
    const who = `node ${node} (${url})`;
    const doc = await this.call(
      url,
      '/api/v1/verify',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      Math.max(this.options.timeoutMs, 30_000),
      who,
      `${who} refused to verify`,
    );
    try {
      return parsePeerVerification(doc, node, who);
    } catch (err) {
      mem.invalid += 1;
      throw err;
    }
  }

  private unreachable(mem: PeerMemory, reason: string): LocalView {
    const { url } = mem.spec;
    const view = unreachableView(mem.view, mem.bound ?? url, reason, mem.at, this.clock());
    return { node: { ...view.node, url }, containers: view.containers };
  }
}

/** `imagetrust_peer_answers_refused_total{peer, reason}`: bad answers and claims of other nodes' names. */
export function registerPeerMetrics(registry: Registry, fleet: Fleet): void {
  new Counter({
    name: 'imagetrust_peer_answers_refused_total',
    help: "Peers' answers refused: invalid by schema or size (reason=invalid), or for a node the peer does not speak for (reason=node_name)",
    labelNames: ['peer', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of fleet.refusals()) {
        this.inc({ peer: r.url, reason: 'invalid' }, r.invalid);
        this.inc({ peer: r.url, reason: 'node_name' }, r.nameClaims);
      }
    },
  });
}
