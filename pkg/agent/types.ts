// What the agent reports: one result per running container, one state per node.

import type { ContainerStatus } from '../verify/verifier';

export const CONTAINER_STATUSES: readonly ContainerStatus[] = [
  'trusted',
  'untrusted',
  'unsupported',
  'unknown',
];

export interface ContainerResult {
  node: string;
  id: string;
  /** The container's name without the leading slash, exactly as the engine reports it. */
  name: string;
  /** The reference the container was started with. */
  image: string;
  /** What it runs: the container's ImageID. */
  digest: string;
  status: ContainerStatus;
  statusCode: number;
  level: number;
  signer?: string;
  signerName?: string;
  signedAt?: string;
  verifiedAt: string;
  reason?: string;
  /** The reference now resolves to another digest than the one running. */
  drift: boolean;
  driftDigest?: string;
  state: string;
  labels: Record<string, string>;
  /** This is the agent's own container. */
  self?: boolean;
  proof?: { index: number; treeSize: number };
}

export type NodeHealth = 'up' | 'unreachable';

export interface StatusCounts {
  trusted: number;
  untrusted: number;
  unsupported: number;
  unknown: number;
  total: number;
}

export interface NodeState {
  node: string;
  status: NodeHealth;
  /** Why the node is unreachable. */
  reason?: string;
  /** When the node's containers were last listed successfully. */
  lastScan?: string;
  /** Seconds since lastScan, at the time of the answer. */
  ageSeconds?: number;
  engine?: { version: string; apiVersion: string };
  /** `note`: the newest checkpoint the node proved, which its peers check against theirs (gossip). */
  ledger?: { checkpoint?: string; treeSize?: number; note?: string; error?: string };
  counts: StatusCounts;
  /** The answering agent itself (false for a peer). */
  local: boolean;
  url?: string;
}

export function countStatuses(results: Iterable<{ status: ContainerStatus }>): StatusCounts {
  const counts: StatusCounts = { trusted: 0, untrusted: 0, unsupported: 0, unknown: 0, total: 0 };
  for (const r of results) {
    counts[r.status] += 1;
    counts.total += 1;
  }
  return counts;
}

/** Worst first: an operator looks at these first. */
export const STATUS_SEVERITY: Record<ContainerStatus, number> = {
  untrusted: 3,
  unknown: 2,
  unsupported: 1,
  trusted: 0,
};
