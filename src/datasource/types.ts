import type { DataQuery, DataSourceJsonData } from '@grafana/schema';

export const QUERY_TYPES = [
  'containers',
  'summary',
  'history',
  'images',
  'statements',
  'evidence',
  'events',
  'counts',
  'nodeUp',
] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export const QUERY_TYPE_LABELS: Record<QueryType, string> = {
  containers: 'Containers',
  summary: 'Node summary',
  history: 'History (counts by status)',
  images: 'Images',
  statements: 'Ledger statements for a digest',
  evidence: 'Evidence (CI job, commit) of a digest',
  events: 'Trust changes (annotations)',
  counts: 'Container counts per node (alertable)',
  nodeUp: 'Node up (alertable)',
};

/** Answered by the backend as numeric frames with node (and status) labels: one series per node. */
export const ALERTABLE_QUERY_TYPES: readonly QueryType[] = ['counts', 'nodeUp'];

/** Query types about one digest rather than a node. */
export const DIGEST_QUERY_TYPES: readonly QueryType[] = ['statements', 'evidence'];

/** Query types that take a status filter. */
export const STATUS_QUERY_TYPES: readonly QueryType[] = ['containers', 'images', 'events', 'counts'];

/** Saved queries carry their schema version; migrate.ts brings older ones up to date. */
export const QUERY_VERSION = 2;

export interface ImagetrustQuery extends DataQuery {
  queryType: QueryType;
  node?: string;
  status?: string;
  digest?: string;
  /** History resolution, e.g. `1m`; the panel interval when empty. */
  step?: string;
  version?: number;
}

export const DEFAULT_QUERY: Partial<ImagetrustQuery> = { queryType: 'containers', version: QUERY_VERSION };

export interface ImagetrustOptions extends DataSourceJsonData {
  /** The agent's URL as Grafana's server reaches it (the backend calls it, not the browser). */
  url?: string;
}

export interface ImagetrustSecureOptions {
  token?: string;
}

/**
 * The backend's resources (CallResource), under /api/datasources/uid/<uid>/resources/: what the
 * app pages and template variables still ask for outside of queries.
 */
export const RESOURCES = {
  nodes: 'nodes',
  containers: 'containers',
  images: 'images',
  summary: 'summary',
  events: 'events',
  refusals: 'admission/refusals',
  statements: 'ledger/statements',
  verify: 'verify',
} as const;
