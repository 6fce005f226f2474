// What the Fleet and Node pages show of a large fleet (1,000 nodes × 50 containers): search
// and status filters, containers grouped by node worst first, and the counts summarised at
// the top. Pure: data in, data out; the pages and the panel render what these return.

import {
  STATUS_SEVERITY,
  countStatuses,
  worstStatus,
  type ContainerResult,
  type NodeState,
  type StatusCounts,
  type TrustStatus,
} from './types';

export interface ViewFilter {
  /** Words that must all appear (case-insensitively) in a row's name, image, node or digest. */
  search: string;
  /** Only these statuses; empty for every status. */
  statuses: readonly TrustStatus[];
}

export const NO_FILTER: ViewFilter = { search: '', statuses: [] };

/** The search text as lower-case words; empty words are dropped. */
export function searchWords(search: string): string[] {
  return search.toLowerCase().split(/\s+/).filter(Boolean);
}

function allWordsIn(words: string[], haystack: string): boolean {
  return words.every((w) => haystack.includes(w));
}

/** A predicate for containers: matches on name, image, node, digest and status. */
export function containerMatcher(filter: ViewFilter): (c: ContainerResult) => boolean {
  const words = searchWords(filter.search);
  const statuses = new Set(filter.statuses);
  return (c) =>
    (statuses.size === 0 || statuses.has(c.status)) &&
    (words.length === 0 ||
      allWordsIn(words, `${c.name}\n${c.image}\n${c.node}\n${c.digest}\n${c.status}`.toLowerCase()));
}

export function filterContainers(
  containers: readonly ContainerResult[],
  filter: ViewFilter,
): ContainerResult[] {
  return containers.filter(containerMatcher(filter));
}

/** Unreachable nodes first (they hide what they run), then by the worst status, then by name. */
export function nodeRank(node: { unreachable: boolean; worst?: TrustStatus }): number {
  return node.unreachable ? 4 : node.worst ? STATUS_SEVERITY[node.worst] : -1;
}

export interface NodeRow {
  node: string;
  unreachable: boolean;
  reason?: string;
  worst?: TrustStatus;
  counts: StatusCounts;
  ageSeconds?: number;
}

export function nodeRows(nodes: readonly NodeState[]): NodeRow[] {
  return nodes
    .map((n) => ({
      node: n.node,
      unreachable: n.status === 'unreachable',
      ...(n.reason ? { reason: n.reason } : {}),
      worst: worstStatus(n.counts),
      counts: n.counts,
      ...(n.ageSeconds === undefined ? {} : { ageSeconds: n.ageSeconds }),
    }))
    .sort((a, b) => nodeRank(b) - nodeRank(a) || a.node.localeCompare(b.node));
}

/**
 * Nodes whose name matches the search and that run a container of one of the statuses (an
 * unreachable node matches `unknown`: that is what its containers read).
 */
export function filterNodeRows(rows: readonly NodeRow[], filter: ViewFilter): NodeRow[] {
  const words = searchWords(filter.search);
  return rows.filter(
    (r) =>
      (words.length === 0 || allWordsIn(words, r.node.toLowerCase())) &&
      (filter.statuses.length === 0 || filter.statuses.some((s) => r.counts[s] > 0)),
  );
}

export interface NodeGroup {
  node: string;
  worst?: TrustStatus;
  unreachable: boolean;
  counts: StatusCounts;
  containers: ContainerResult[];
}

/** Containers grouped by node, worst node first; inside a group worst container first, then by name. */
export function groupByNode(
  containers: readonly ContainerResult[],
  unreachable: ReadonlySet<string> = new Set(),
): NodeGroup[] {
  const byNode = new Map<string, ContainerResult[]>();
  for (const c of containers) {
    const list = byNode.get(c.node);
    if (list) {
      list.push(c);
    } else {
      byNode.set(c.node, [c]);
    }
  }
  const groups: NodeGroup[] = [];
  for (const [node, list] of byNode) {
    const counts = countStatuses(list);
    list.sort(
      (a, b) => STATUS_SEVERITY[b.status] - STATUS_SEVERITY[a.status] || a.name.localeCompare(b.name),
    );
    groups.push({
      node,
      worst: worstStatus(counts),
      unreachable: unreachable.has(node),
      counts,
      containers: list,
    });
  }
  return groups.sort((a, b) => nodeRank(b) - nodeRank(a) || a.node.localeCompare(b.node));
}

/** One row of a grouped list: a node's header, then its containers. */
export type GroupedRow =
  { kind: 'node'; group: NodeGroup } | { kind: 'container'; container: ContainerResult };

export function groupedRows(groups: readonly NodeGroup[]): GroupedRow[] {
  const rows: GroupedRow[] = [];
  for (const group of groups) {
    rows.push({ kind: 'node', group });
    for (const container of group.containers) {
      rows.push({ kind: 'container', container });
    }
  }
  return rows;
}

export interface FleetTotals {
  nodes: number;
  unreachable: number;
  containers: StatusCounts;
}

/** The counts at the top of a page: nodes, unreachable nodes, containers by status. */
export function fleetTotals(nodes: readonly NodeState[]): FleetTotals {
  const containers: StatusCounts = { trusted: 0, untrusted: 0, unsupported: 0, unknown: 0, total: 0 };
  let unreachable = 0;
  for (const n of nodes) {
    if (n.status === 'unreachable') {
      unreachable += 1;
    }
    for (const k of Object.keys(containers) as Array<keyof StatusCounts>) {
      containers[k] += n.counts[k];
    }
  }
  return { nodes: nodes.length, unreachable, containers };
}
