// The agent's API (pkg/agent/api.ts, /api/v1) as the plugin reads it.

export type TrustStatus = 'trusted' | 'untrusted' | 'unsupported' | 'unknown';
export const TRUST_STATUSES: TrustStatus[] = ['untrusted', 'unknown', 'unsupported', 'trusted'];

export interface ContainerResult {
  node: string;
  id: string;
  name: string;
  image: string;
  digest: string;
  status: TrustStatus;
  statusCode: number;
  level: number;
  signer?: string;
  signerName?: string;
  signedAt?: string;
  verifiedAt: string;
  reason?: string;
  drift: boolean;
  driftDigest?: string;
  state: string;
  labels: Record<string, string>;
  self?: boolean;
  lastKnownStatus?: TrustStatus;
}

export interface StatusCounts {
  trusted: number;
  untrusted: number;
  unsupported: number;
  unknown: number;
  total: number;
}

export interface NodeState {
  node: string;
  status: 'up' | 'unreachable';
  reason?: string;
  lastScan?: string;
  ageSeconds?: number;
  counts: StatusCounts;
  local: boolean;
}

export interface ImageSummary {
  digest: string;
  status: TrustStatus;
  signer?: string;
  signedAt?: string;
  references: string[];
  nodes: string[];
  containers: number;
  drift: boolean;
}

export interface HistoryPoint extends StatusCounts {
  time: number;
  node: string;
}

export interface ChangeEvent {
  time: number;
  node: string;
  kind: string;
  containerId?: string;
  containerName?: string;
  image?: string;
  digest?: string;
  status?: string;
  previous?: string;
  detail?: string;
}

export interface LedgerStatement {
  index: number;
  status: string;
  signer: string;
  time: string;
  name: string;
  allowed: boolean;
  /** Evidence signed into the statement (CI job, commit, pipeline …); absent from older agents. */
  attributes?: Record<string, string>;
}

/** A `docker run` (or start, or service) the host's admission plugin refused, from its audit log. */
export interface AdmissionRefusal {
  time: string;
  user: string;
  action: string;
  image?: string;
  digest?: string;
  verdict: string;
  message?: string;
}

export interface StatementsAnswer {
  digest: string;
  treeSize: number;
  origin: string;
  statements: LedgerStatement[];
}

/** Status → colour and text, used by value mappings, the panel and the app pages. */
export const STATUS_DISPLAY: Record<TrustStatus, { color: string; text: string }> = {
  trusted: { color: 'green', text: 'Trusted' },
  untrusted: { color: 'red', text: 'Untrusted' },
  unsupported: { color: 'orange', text: 'Unsupported' },
  unknown: { color: 'purple', text: 'Unknown' },
};

export const STATUS_SEVERITY: Record<TrustStatus, number> = {
  untrusted: 3,
  unknown: 2,
  unsupported: 1,
  trusted: 0,
};

export function worstStatus(counts: StatusCounts): TrustStatus | undefined {
  if (counts.untrusted > 0) {
    return 'untrusted';
  }
  if (counts.unknown > 0) {
    return 'unknown';
  }
  if (counts.unsupported > 0) {
    return 'unsupported';
  }
  if (counts.trusted > 0) {
    return 'trusted';
  }
  return undefined;
}
