// The imagetrust data source, answered by its backend (pkg/grafana): queries go through
// Grafana's /api/ds/query and "Save & test" through the backend's CheckHealth, so they work in
// alert rules, public dashboards and query caching too; the agent's URL and token stay on
// Grafana's server. What the browser still asks outside of queries (template variables, the
// app pages: Verify now, ledger statements, node and image details, admission refusals) goes
// through the backend's resources (CallResource). This file only shapes requests: frames are
// built by the backend.

import type {
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  MetricFindValue,
  ScopedVars,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv, isFetchError, type FetchError } from '@grafana/runtime';
import type { Observable } from 'rxjs';
import { STATUSES_WORST_FIRST, type NodesAnswer, type VerifyAnswer } from '../api/types';
import { migrateQuery } from './migrate';
import {
  DEFAULT_QUERY,
  DIGEST_QUERY_TYPES,
  RESOURCES,
  type ImagetrustOptions,
  type ImagetrustQuery,
} from './types';

export type Resource = (typeof RESOURCES)[keyof typeof RESOURCES];

/** A resource call the backend (or the agent behind it) refused, with the agent's error code. */
export class AgentRequestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AgentRequestError';
  }
}

/**
 * The agent (through the backend) has no such thing. Checked by shape, not `instanceof`: the
 * app's pages and the data source are separate bundles, each with its own copy of the class.
 */
export function isNotFound(err: unknown): boolean {
  const e = err as Partial<AgentRequestError> | undefined;
  return e?.name === 'AgentRequestError' && (e.status === 404 || e.code === 'NOT_FOUND');
}

function describeFetchError(err: FetchError): AgentRequestError {
  const body = err.data as { error?: { code?: string; message?: string; field?: string }; message?: string };
  const message = body?.error?.message ?? body?.message ?? err.statusText ?? 'request failed';
  return new AgentRequestError(message, err.status, body?.error?.code, body?.error?.field);
}

/** A template variable's "All" value means no filter. */
function unlessAll(value?: string): string | undefined {
  return value === '$__all' || value === 'All' || value === '*' || value === '' ? undefined : value;
}

export class DataSource extends DataSourceWithBackend<ImagetrustQuery, ImagetrustOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<ImagetrustOptions>) {
    super(instanceSettings);
    // Annotations use the query editor with the "events" query type.
    this.annotations = {
      prepareQuery: (anno) => {
        const target = (anno.target ?? {}) as Partial<ImagetrustQuery>;
        return migrateQuery({ ...target, refId: 'Anno', queryType: 'events' });
      },
    };
  }

  getDefaultQuery(): Partial<ImagetrustQuery> {
    return DEFAULT_QUERY;
  }

  filterQuery(query: ImagetrustQuery): boolean {
    const q = migrateQuery(query as never);
    return !q.hide && (!DIGEST_QUERY_TYPES.includes(q.queryType) || Boolean(q.digest));
  }

  /** Saved queries brought up to date, and dashboard variables filled in, before the backend sees them. */
  applyTemplateVariables(query: ImagetrustQuery, scopedVars: ScopedVars): ImagetrustQuery {
    const srv = getTemplateSrv();
    const replace = (v?: string) => (v ? srv.replace(v, scopedVars) : v);
    const { node, status, digest, step, ...rest } = migrateQuery(query as never);
    const filled = {
      node: unlessAll(replace(node)),
      status: unlessAll(replace(status)),
      digest: replace(digest)?.trim(),
      step: replace(step)?.trim(),
    };
    // Absent, not empty: the backend reads a missing field as "no filter".
    const kept = Object.fromEntries(Object.entries(filled).filter(([, v]) => v));
    return { ...rest, ...kept };
  }

  /** Old saved queries are migrated and empty ones dropped here; the rest is Grafana's /api/ds/query. */
  query(request: DataQueryRequest<ImagetrustQuery>): Observable<DataQueryResponse> {
    const targets = request.targets.map((t) => migrateQuery(t as never)).filter((t) => this.filterQuery(t));
    return super.query({ ...request, targets });
  }

  /** GET a backend resource; errors carry the agent's message and code. */
  async resource<T>(path: Resource, params: Record<string, string | number | undefined> = {}): Promise<T> {
    const kept: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== '') {
        kept[k] = v;
      }
    }
    try {
      return await this.getResource<T>(path, kept, { showErrorAlert: false });
    } catch (err) {
      throw isFetchError(err) ? describeFetchError(err) : err;
    }
  }

  /** Template variables: `nodes` (default) or `statuses`. */
  async metricFindQuery(query: string | { query?: string }): Promise<MetricFindValue[]> {
    const text = (typeof query === 'string' ? query : (query.query ?? '')).trim();
    if (text === 'statuses' || text === 'status') {
      return STATUSES_WORST_FIRST.map((s) => ({ text: s, value: s }));
    }
    const { nodes } = await this.resource<NodesAnswer>(RESOURCES.nodes);
    return nodes.map((n) => ({ text: n.node, value: n.node }));
  }

  /** Re-verifies now on the agent, bypassing its cache. */
  async verifyNow(target: { node?: string; container?: string; all?: boolean }): Promise<VerifyAnswer> {
    try {
      return await this.postResource<VerifyAnswer>(RESOURCES.verify, target, { showErrorAlert: false });
    } catch (err) {
      throw isFetchError(err) ? describeFetchError(err) : err;
    }
  }
}
