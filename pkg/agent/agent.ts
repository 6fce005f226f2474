// The agent: the local node's monitor, the peers it answers for, and the history, behind the
// queries the HTTP API serves.

import { ImagetrustError } from '../errors';
import type { ImageDigest } from '../ledger/statement';
import type { LedgerStatements } from '../verify/builtin';
import type { Fleet, LocalView } from './fleet';
import type { History } from './history';
import type { NodeMonitor } from './monitor';
import {
  STATUS_SEVERITY,
  countStatuses,
  type ContainerResult,
  type NodeState,
  type StatusCounts,
} from './types';

export interface ContainerFilter {
  node?: string;
  status?: string;
}

export interface ImageSummary {
  digest: string;
  status: ContainerResult['status'];
  signer?: string;
  signedAt?: string;
  references: string[];
  nodes: string[];
  containers: number;
  drift: boolean;
  repoTags: string[];
  repoDigests: string[];
}

export class Agent {
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
    const all = (await this.views()).flatMap((v) => v.containers);
    return all
      .filter(
        (c) =>
          (filter.node === undefined || c.node === filter.node) &&
          (filter.status === undefined || c.status === filter.status),
      )
      .sort(
        (a, b) =>
          STATUS_SEVERITY[b.status] - STATUS_SEVERITY[a.status] ||
          a.node.localeCompare(b.node) ||
          a.name.localeCompare(b.name),
      );
  }

  async images(filter: ContainerFilter = {}): Promise<ImageSummary[]> {
    const byDigest = new Map<string, ImageSummary>();
    for (const c of await this.containers(filter)) {
      let img = byDigest.get(c.digest);
      if (!img) {
        const info = this.monitor.imageInfo(c.digest);
        img = {
          digest: c.digest,
          status: c.status,
          ...(c.signer ? { signer: c.signer } : {}),
          ...(c.signedAt ? { signedAt: c.signedAt } : {}),
          references: [],
          nodes: [],
          containers: 0,
          drift: false,
          repoTags: info?.repoTags ?? [],
          repoDigests: info?.repoDigests ?? [],
        };
        byDigest.set(c.digest, img);
      }
      if (STATUS_SEVERITY[c.status] > STATUS_SEVERITY[img.status]) img.status = c.status;
      if (!img.references.includes(c.image)) img.references.push(c.image);
      if (!img.nodes.includes(c.node)) img.nodes.push(c.node);
      img.containers += 1;
      img.drift ||= c.drift;
    }
    return [...byDigest.values()].sort(
      (a, b) => STATUS_SEVERITY[b.status] - STATUS_SEVERITY[a.status] || b.containers - a.containers,
    );
  }

  async summary(): Promise<{
    nodes: (StatusCounts & { node: string; status: NodeState['status'] })[];
    total: StatusCounts;
  }> {
    const views = await this.views();
    const nodes = views.map((v) => ({
      node: v.node.node,
      status: v.node.status,
      ...countStatuses(v.containers),
    }));
    return { nodes, total: countStatuses(views.flatMap((v) => v.containers)) };
  }

  /** Re-verifies now, bypassing the cache: every local container, or one; a peer is asked to do it. */
  async verifyNow(target: { node?: string; container?: string }): Promise<ContainerResult[]> {
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
}
