// Saved-query migrations. Version 1 queries (before query types were named as the agent API
// names them) used `type` with `nodeSummary`/`timeline` and `nodeFilter`/`statusFilter`.

import { DEFAULT_QUERY, QUERY_TYPES, QUERY_VERSION, type ImagetrustQuery, type QueryType } from './types';

const V1_TYPES: Record<string, QueryType> = {
  nodeSummary: 'summary',
  timeline: 'history',
  list: 'containers',
};

export function migrateQuery(raw: Partial<ImagetrustQuery> & Record<string, unknown>): ImagetrustQuery {
  if (raw.version === QUERY_VERSION && raw.queryType) {
    return raw as ImagetrustQuery;
  }
  const { type, nodeFilter, statusFilter, ...rest } = raw;
  const legacy = typeof type === 'string' ? (V1_TYPES[type] ?? type) : undefined;
  const candidate = (raw.queryType ?? legacy ?? DEFAULT_QUERY.queryType) as string;
  const queryType: QueryType = (QUERY_TYPES as readonly string[]).includes(candidate)
    ? (candidate as QueryType)
    : 'containers';
  const out: ImagetrustQuery = { ...(rest as ImagetrustQuery), queryType, version: QUERY_VERSION };
  if (out.node === undefined && typeof nodeFilter === 'string' && nodeFilter !== '') {
    out.node = nodeFilter;
  }
  if (out.status === undefined && typeof statusFilter === 'string' && statusFilter !== '') {
    out.status = statusFilter;
  }
  return out;
}
