// The fleet's answers computed from node views, wherever the views come from (this agent and
// its peers, or the PostgreSQL fleet store): containers worst first, images with the nodes
// that run them, counts per node, and what a node that stopped answering looks like.

import {
  STATUS_SEVERITY,
  countStatuses,
  type ContainerResult,
  type FleetSummary,
  type ImageSummary,
  type NodeState,
} from '../api/types';

export type { FleetSummary, ImageSummary } from '../api/types';

export interface LocalView {
  node: NodeState;
  containers: ContainerResult[];
}

export interface ContainerFilter {
  node?: string;
  status?: string;
}

export type ImageFactsOf = (digest: string) => { repoTags: string[]; repoDigests: string[] } | undefined;

export function matches(c: ContainerResult, filter: ContainerFilter): boolean {
  return (
    (filter.node === undefined || c.node === filter.node) &&
    (filter.status === undefined || c.status === filter.status)
  );
}

/** Worst first, then by node and name: what an operator looks at first. */
export function worstFirst(containers: ContainerResult[]): ContainerResult[] {
  return containers.sort(
    (a, b) =>
      STATUS_SEVERITY[b.status] - STATUS_SEVERITY[a.status] ||
      a.node.localeCompare(b.node) ||
      a.name.localeCompare(b.name),
  );
}

/** One entry per image digest: its worst status, references, nodes and containers. */
export function imagesOf(containers: ContainerResult[], facts: ImageFactsOf): ImageSummary[] {
  const byDigest = new Map<string, ImageSummary>();
  for (const c of containers) {
    let img = byDigest.get(c.digest);
    if (!img) {
      const info = facts(c.digest);
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

export function summaryOf(views: LocalView[]): FleetSummary {
  return {
    nodes: views.map((v) => ({ node: v.node.node, status: v.node.status, ...countStatuses(v.containers) })),
    total: countStatuses(views.flatMap((v) => v.containers)),
  };
}

/**
 * A node that stopped answering: `unreachable`, its containers keep their identity but read
 * `unknown`, with the last known status and its age.
 */
export function unreachableView(
  last: LocalView | undefined,
  fallbackName: string,
  reason: string,
  lastHeardAt: number | undefined,
  now: number,
): LocalView {
  const age = lastHeardAt === undefined ? undefined : Math.round((now - lastHeardAt) / 100) / 10;
  const containers = (last?.containers ?? []).map((c) => {
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
    node: last?.node.node ?? fallbackName,
    status: 'unreachable',
    reason,
    ...(last?.node.lastScan ? { lastScan: last.node.lastScan } : {}),
    ...(age === undefined ? {} : { ageSeconds: age }),
    counts: countStatuses(containers),
    local: false,
  };
  return { node, containers };
}
