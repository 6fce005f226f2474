// The wire types of the agent's and `fleet serve`'s HTTP API (/api/v1, pkg/agent/api.ts): one
// module imported by the server, the Grafana backend, the plugin's browser code and the tests.
// Pure: no imports, no I/O, so it compiles for Node, jest and the browser bundle alike.
// Each answer type has a field schema next to it (`Schema<T>` makes the compiler demand one
// entry per field, with its kind and whether it is optional); `fieldProblems` checks a parsed
// answer against it: the contract test holds real answers to these declarations.

export const API_VERSION = 'v1';

export type TrustStatus = 'trusted' | 'untrusted' | 'unsupported' | 'unknown';

/** In the order the agent's metrics and counts list them. */
export const CONTAINER_STATUSES: readonly TrustStatus[] = ['trusted', 'untrusted', 'unsupported', 'unknown'];

/** Worst first: an operator looks at these first. */
export const STATUS_SEVERITY: Readonly<Record<TrustStatus, number>> = {
  untrusted: 3,
  unknown: 2,
  unsupported: 1,
  trusted: 0,
};

/** The statuses, worst first (menus, legends). */
export const STATUSES_WORST_FIRST: readonly TrustStatus[] = [...CONTAINER_STATUSES].sort(
  (a, b) => STATUS_SEVERITY[b] - STATUS_SEVERITY[a],
);

export function isTrustStatus(value: unknown): value is TrustStatus {
  return typeof value === 'string' && (CONTAINER_STATUSES as readonly string[]).includes(value);
}

export interface ContainerResult {
  node: string;
  id: string;
  /** The container's name without the leading slash, exactly as the engine reports it. */
  name: string;
  /** The reference the container was started with. */
  image: string;
  /** What it runs: the container's ImageID. */
  digest: string;
  status: TrustStatus;
  /** vcn's status code: 0 trusted, 1 untrusted, 2 unknown, 3 unsupported. */
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
  /** On a node that stopped answering (status `unknown`): what the container was before. */
  lastKnownStatus?: TrustStatus;
  /**
   * Where the deciding statement sits in the ledger, proven at `treeSize`; `index` is -1 when
   * the ledger holds no statement for the digest (proven absent by the index proof).
   */
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

export interface ImageSummary {
  digest: string;
  /** The worst status of the containers that run it. */
  status: TrustStatus;
  signer?: string;
  signedAt?: string;
  /** The references containers were started with. */
  references: string[];
  nodes: string[];
  containers: number;
  drift: boolean;
  repoTags: string[];
  repoDigests: string[];
}

export interface FleetSummary {
  nodes: (StatusCounts & { node: string; status: NodeHealth })[];
  total: StatusCounts;
}

export interface HistoryPoint extends StatusCounts {
  time: number;
  node: string;
}

export type ChangeKind = 'started' | 'stopped' | 'status' | 'drift' | 'node-unreachable' | 'node-up';

export interface ChangeEvent {
  time: number;
  node: string;
  kind: ChangeKind;
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
  /** The signer's own order of its words about a digest. */
  sequence?: number;
  status: string;
  signer: string;
  time: string;
  name: string;
  allowed: boolean;
  /** Evidence signed into the statement (CI job, commit, pipeline …); absent from older agents. */
  attributes?: Record<string, string>;
}

export interface StatementsAnswer {
  digest: string;
  treeSize: number;
  origin: string;
  statements: LedgerStatement[];
}

/** A `docker run` (or start, or service) the host's admission plugin refused, from its audit log. */
export interface AdmissionRefusal {
  time: string;
  user: string;
  method?: string;
  uri?: string;
  action: string;
  image?: string;
  digest?: string;
  status?: string;
  /** `refused`, or `would-refuse` in dry-run mode. */
  verdict: string;
  allow?: boolean;
  message?: string;
  durationMs?: number;
}

export interface UnverifiedNode {
  node: string;
  code: string;
  message: string;
}

// The answers, route by route.
export interface NodesAnswer {
  nodes: NodeState[];
}
export interface ContainersAnswer {
  containers: ContainerResult[];
}
export interface ImagesAnswer {
  images: ImageSummary[];
}
export interface HistoryAnswer {
  from: number;
  to: number;
  /** Seconds. */
  step: number;
  points: HistoryPoint[];
}
export interface EventsAnswer {
  events: ChangeEvent[];
}
export interface RefusalsAnswer {
  node?: string;
  refusals: AdmissionRefusal[];
}
/** POST /verify: the containers verified again; with `all`, the nodes that could not be asked. */
export interface VerifyAnswer {
  containers: ContainerResult[];
  unreachable?: UnverifiedNode[];
}
/** What every error answer carries. */
export interface ErrorAnswer {
  error: { code: string; message: string; field?: string };
}

export function countStatuses(results: Iterable<{ status: TrustStatus }>): StatusCounts {
  const counts: StatusCounts = { trusted: 0, untrusted: 0, unsupported: 0, unknown: 0, total: 0 };
  for (const r of results) {
    counts[r.status] += 1;
    counts.total += 1;
  }
  return counts;
}

/** The worst status present; undefined when there is nothing to count. */
export function worstStatus(counts: StatusCounts): TrustStatus | undefined {
  let worst: TrustStatus | undefined;
  for (const s of CONTAINER_STATUSES) {
    if (counts[s] > 0 && (worst === undefined || STATUS_SEVERITY[s] > STATUS_SEVERITY[worst])) worst = s;
  }
  return worst;
}

// Field schemas.

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array';
type KindOf<V> = V extends string
  ? 'string'
  : V extends number
    ? 'number'
    : V extends boolean
      ? 'boolean'
      : V extends readonly unknown[]
        ? 'array'
        : 'object';

/** One entry per field of T: its kind, with `?` when the field is optional. */
export type Schema<T> = {
  readonly [K in keyof T]-?: undefined extends T[K] ? `${KindOf<NonNullable<T[K]>>}?` : KindOf<T[K]>;
};

export const CONTAINER_RESULT_SCHEMA: Schema<ContainerResult> = {
  node: 'string',
  id: 'string',
  name: 'string',
  image: 'string',
  digest: 'string',
  status: 'string',
  statusCode: 'number',
  level: 'number',
  signer: 'string?',
  signerName: 'string?',
  signedAt: 'string?',
  verifiedAt: 'string',
  reason: 'string?',
  drift: 'boolean',
  driftDigest: 'string?',
  state: 'string',
  labels: 'object',
  self: 'boolean?',
  lastKnownStatus: 'string?',
  proof: 'object?',
};

export const STATUS_COUNTS_SCHEMA: Schema<StatusCounts> = {
  trusted: 'number',
  untrusted: 'number',
  unsupported: 'number',
  unknown: 'number',
  total: 'number',
};

export const NODE_STATE_SCHEMA: Schema<NodeState> = {
  node: 'string',
  status: 'string',
  reason: 'string?',
  lastScan: 'string?',
  ageSeconds: 'number?',
  engine: 'object?',
  ledger: 'object?',
  counts: 'object',
  local: 'boolean',
  url: 'string?',
};

export const IMAGE_SUMMARY_SCHEMA: Schema<ImageSummary> = {
  digest: 'string',
  status: 'string',
  signer: 'string?',
  signedAt: 'string?',
  references: 'array',
  nodes: 'array',
  containers: 'number',
  drift: 'boolean',
  repoTags: 'array',
  repoDigests: 'array',
};

export const SUMMARY_NODE_SCHEMA: Schema<FleetSummary['nodes'][number]> = {
  ...STATUS_COUNTS_SCHEMA,
  node: 'string',
  status: 'string',
};

export const HISTORY_POINT_SCHEMA: Schema<HistoryPoint> = {
  ...STATUS_COUNTS_SCHEMA,
  time: 'number',
  node: 'string',
};

export const CHANGE_EVENT_SCHEMA: Schema<ChangeEvent> = {
  time: 'number',
  node: 'string',
  kind: 'string',
  containerId: 'string?',
  containerName: 'string?',
  image: 'string?',
  digest: 'string?',
  status: 'string?',
  previous: 'string?',
  detail: 'string?',
};

export const LEDGER_STATEMENT_SCHEMA: Schema<LedgerStatement> = {
  index: 'number',
  sequence: 'number?',
  status: 'string',
  signer: 'string',
  time: 'string',
  name: 'string',
  allowed: 'boolean',
  attributes: 'object?',
};

export const STATEMENTS_ANSWER_SCHEMA: Schema<StatementsAnswer> = {
  digest: 'string',
  treeSize: 'number',
  origin: 'string',
  statements: 'array',
};

export const ADMISSION_REFUSAL_SCHEMA: Schema<AdmissionRefusal> = {
  time: 'string',
  user: 'string',
  method: 'string?',
  uri: 'string?',
  action: 'string',
  image: 'string?',
  digest: 'string?',
  status: 'string?',
  verdict: 'string',
  allow: 'boolean?',
  message: 'string?',
  durationMs: 'number?',
};

export const UNVERIFIED_NODE_SCHEMA: Schema<UnverifiedNode> = {
  node: 'string',
  code: 'string',
  message: 'string',
};

function kindOf(value: unknown): Kind | 'null' | 'undefined' {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const t = typeof value;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'object' ? t : 'undefined';
}

/**
 * What is wrong with `value` as a T: fields the schema does not declare, required fields
 * missing, fields of another kind. Empty when it fits. `where` prefixes each problem.
 */
export function fieldProblems<T>(value: unknown, schema: Schema<T>, where = ''): string[] {
  const at = (k: string) => (where ? `${where}.${k}` : k);
  if (kindOf(value) !== 'object') return [`${where || 'value'}: expected an object, got ${kindOf(value)}`];
  const record = value as Record<string, unknown>;
  const declared = schema as Readonly<Record<string, string>>;
  const problems: string[] = [];
  for (const key of Object.keys(record)) {
    if (!(key in declared)) problems.push(`${at(key)}: not declared`);
  }
  for (const [key, spec] of Object.entries(declared)) {
    const optional = spec.endsWith('?');
    const want = optional ? spec.slice(0, -1) : spec;
    const got = kindOf(record[key]);
    if (got === 'undefined') {
      if (!optional) problems.push(`${at(key)}: missing`);
    } else if (got !== want) {
      problems.push(`${at(key)}: expected ${want}, got ${got}`);
    }
  }
  return problems;
}
