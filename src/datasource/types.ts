import type { DataQuery, DataSourceJsonData } from '@grafana/schema';

export const QUERY_TYPES = [
  'containers',
  'summary',
  'history',
  'images',
  'statements',
  'evidence',
  'events',
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
};

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
  /** The agent's URL as Grafana's server reaches it (the data proxy calls it, not the browser). */
  url?: string;
}

export interface ImagetrustSecureOptions {
  token?: string;
}

/** The data-proxy route in datasource/plugin.json. */
export const PROXY_ROUTE = 'agent';
export const API_VERSION = 'v1';
