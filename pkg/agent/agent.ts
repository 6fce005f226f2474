// The agent: the local node's monitor, the peers it answers for, and the history, behind the
// queries the HTTP API serves.

import { ImagetrustError } from '../errors';
import type { ImageDigest } from '../ledger/statement';
import type { LedgerStatements } from '../verify/builtin';
import type { Fleet } from './fleet';
import type { ChangeEvent, History } from './history';
import type { NodeMonitor } from './monitor';
import type { CountPoint } from './series';
import type { ApiSource, UnverifiedNode, VerifyTarget } from './source';
import type { ContainerResult, NodeState } from './types';
import {
  imagesOf,
  matches,
  summaryOf,
  worstFirst,
  type ContainerFilter,
  type FleetSummary,
  type ImageSummary,
  type LocalView,
} from './views';

export type { ContainerFilter, ImageSummary, LocalView, UnverifiedNode };

export class Agent implements ApiSource {
  constructor(
    readonly monitor: NodeMonitor,
    readonly fleet: Fleet | undefined,
    readonly history: History | undefined,
    /** Ledger lookups for the app's Image page; absent when the verifier is a command. */
    readonly ledger?: { statements(digest: ImageDigest): Promise<LedgerStatements> },
  ) {}

  get nodeName(): string {
    return this.monitor.node;
  }

  get generation(): string {
    return `${this.monitor.generation}/${this.fleet?.generation ?? 0}`;
  }

  async health(): Promise<{ ok: boolean; status: string }> {
    return { ok: true, status: this.monitor.state().status };
  }

  describe(): Record<string, unknown> {
    return { node: this.nodeName, peers: this.fleet?.peers.length ?? 0 };
  }

  local(): LocalView {
    return { node: this.monitor.state(), containers: this.monitor.containers() };
  }

  async views(scope: 'fleet' | 'local' = 'fleet'): Promise<LocalView[]> {
    const local = this.local();
    if (scope === 'local' || !this.fleet) return [local];
    return [local, ...(await this.fleet.views())];
  }

  async nodes(): Promise<NodeState[]> {
    return (await this.views()).map((v) => v.node);
  }

  async containers(filter: ContainerFilter = {}): Promise<ContainerResult[]> {
    return worstFirst((await this.views()).flatMap((v) => v.containers).filter((c) => matches(c, filter)));
  }

  async images(filter: ContainerFilter = {}): Promise<ImageSummary[]> {
    return imagesOf(await this.containers(filter), (digest) => this.monitor.imageInfo(digest));
  }

  async summary(): Promise<FleetSummary> {
    return summaryOf(await this.views());
  }

  async series(from: number, to: number, stepMs: number, node?: string): Promise<CountPoint[]> {
    return this.history ? this.history.series(from, to, stepMs, node) : [];
  }

  async events(from: number, to: number, node: string | undefined, limit: number): Promise<ChangeEvent[]> {
    return this.history ? this.history.events(from, to, node, limit) : [];
  }

  async statements(digest: ImageDigest): Promise<LedgerStatements> {
    if (!this.ledger)
      throw new ImagetrustError('NOT_FOUND', 'this agent verifies with a command, not a ledger');
    return this.ledger.statements(digest);
  }

  /** Re-verifies now, bypassing the cache: every local container, or one; a peer is asked to do it. */
  async verifyNow(target: VerifyTarget): Promise<ContainerResult[]> {
    if (target.node !== undefined && target.node !== this.nodeName) {
      if (!this.fleet) throw new ImagetrustError('NOT_FOUND', `no node ${target.node}`);
      return this.fleet.verifyOn(target.node, target.container);
    }
    await this.monitor.pass({ fresh: true });
    const results = this.monitor.containers();
    if (target.container === undefined) return results;
    const wanted = target.container;
    const match = results.filter(
      (c) => c.id === wanted || c.name === wanted || (wanted.length >= 12 && c.id.startsWith(wanted)),
    );
    if (match.length === 0)
      throw new ImagetrustError('NOT_FOUND', `no running container ${target.container} on ${this.nodeName}`);
    return match;
  }

  /**
   * Re-verifies every node now, this one and every peer at once. A node that cannot do it (a
   * peer unreachable or answering garbage, this node's engine unreachable) is listed in
   * `unreachable` with the error code and message.
   */
  async verifyAll(): Promise<{ containers: ContainerResult[]; unreachable: UnverifiedNode[] }> {
    const [local, peers] = await Promise.all([this.verifyNow({}), this.fleet?.verifyAll() ?? []]);
    const unreachable: UnverifiedNode[] = [];
    const down = this.monitor.unreachable();
    if (down) unreachable.push({ node: this.nodeName, ...down });
    const containers = [...local];
    for (const p of peers) {
      if (p.containers) containers.push(...p.containers);
      else if (p.error) unreachable.push({ node: p.node, code: p.error.code, message: p.error.message });
    }
    return { containers, unreachable };
  }
}
