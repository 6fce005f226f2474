// The imagetrust data source: queries the agent API through Grafana's data proxy (the
// `agent` route in plugin.json adds the token from secureJsonData, so the browser never sees
// it), turns answers into frames, resolves template variables and serves annotations.

import {
  DataSourceApi,
  type DataFrame,
  type DataQueryRequest,
  type DataQueryResponse,
  type DataSourceInstanceSettings,
  type MetricFindValue,
  type ScopedVars,
  type TestDataSourceResponse,
} from '@grafana/data';
import { getBackendSrv, getTemplateSrv, isFetchError, type FetchError } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';
import {
  TRUST_STATUSES,
  type ChangeEvent,
  type ContainerResult,
  type HistoryPoint,
  type ImageSummary,
  type NodeState,
  type StatementsAnswer,
} from '../api/types';
import {
  containersFrame,
  eventsFrame,
  historyFrames,
  imagesFrame,
  statementsFrame,
  evidenceFrame,
  summaryFrame,
} from './frames';
import { migrateQuery } from './migrate';
import {
  API_VERSION,
  DEFAULT_QUERY,
  PROXY_ROUTE,
  type ImagetrustOptions,
  type ImagetrustQuery,
} from './types';

export class AgentRequestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AgentRequestError';
  }
}

function describeFetchError(err: FetchError): AgentRequestError {
  const body = err.data as { error?: { message?: string; field?: string } } | undefined;
  const message = body?.error?.message ?? err.statusText ?? 'request failed';
  return new AgentRequestError(message, err.status, body?.error?.field);
}

export class DataSource extends DataSourceApi<ImagetrustQuery, ImagetrustOptions> {
  readonly baseUrl: string;

  constructor(instanceSettings: DataSourceInstanceSettings<ImagetrustOptions>) {
    super(instanceSettings);
    this.baseUrl = `${instanceSettings.url ?? ''}/${PROXY_ROUTE}`;
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
    const byDigest = query.queryType === 'statements' || query.queryType === 'evidence';
    return !query.hide && (!byDigest || Boolean(query.digest));
  }

  /** GET or POST on the agent API through the data proxy. */
  async request<T>(
    path: string,
    options: {
      method?: 'GET' | 'POST';
      params?: Record<string, string | number | undefined>;
      data?: unknown;
    } = {},
  ): Promise<T> {
    const params: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(options.params ?? {})) {
      if (v !== undefined && v !== '') {
        params[k] = v;
      }
    }
    try {
      const res = await lastValueFrom(
        getBackendSrv().fetch<T>({
          url: `${this.baseUrl}/api/${API_VERSION}${path}`,
          method: options.method ?? 'GET',
          params,
          data: options.data,
          showErrorAlert: false,
          showSuccessAlert: false,
        }),
      );
      return res.data;
    } catch (err) {
      if (isFetchError(err)) {
        throw describeFetchError(err);
      }
      throw err;
    }
  }

  applyTemplateVariables(query: ImagetrustQuery, scopedVars: ScopedVars): ImagetrustQuery {
    const srv = getTemplateSrv();
    const replace = (v?: string) => (v ? srv.replace(v, scopedVars) : v);
    const all = (v?: string) => (v === '$__all' || v === 'All' || v === '*' ? undefined : v);
    return {
      ...query,
      node: all(replace(query.node)),
      status: all(replace(query.status)),
      digest: replace(query.digest),
    };
  }

  async query(request: DataQueryRequest<ImagetrustQuery>): Promise<DataQueryResponse> {
    const targets = request.targets.map((t) => migrateQuery(t as never)).filter((t) => this.filterQuery(t));
    const from = request.range.from.valueOf();
    const to = request.range.to.valueOf();
    const frames = await Promise.all(
      targets.map((raw) =>
        this.runQuery(this.applyTemplateVariables(raw, request.scopedVars), from, to, request.intervalMs),
      ),
    );
    return { data: frames.flat() };
  }

  async runQuery(q: ImagetrustQuery, from: number, to: number, intervalMs = 60_000): Promise<DataFrame[]> {
    switch (q.queryType) {
      case 'containers': {
        const { containers } = await this.request<{ containers: ContainerResult[] }>('/containers', {
          params: { node: q.node, status: q.status },
        });
        return [containersFrame(containers, q.refId)];
      }
      case 'summary': {
        const { nodes } = await this.request<{ nodes: NodeState[] }>('/nodes');
        return [summaryFrame(q.node ? nodes.filter((n) => n.node === q.node) : nodes, q.refId)];
      }
      case 'history': {
        const step =
          q.step || `${Math.max(1, Math.round(Math.max(intervalMs, (to - from) / 10_000) / 1000))}s`;
        const { points } = await this.request<{ points: HistoryPoint[] }>('/history', {
          params: { from, to, node: q.node, step },
        });
        return historyFrames(points, q.refId);
      }
      case 'images': {
        const { images } = await this.request<{ images: ImageSummary[] }>('/images', {
          params: { node: q.node, status: q.status },
        });
        return [imagesFrame(images, q.refId)];
      }
      case 'statements': {
        const answer = await this.request<StatementsAnswer>('/ledger/statements', {
          params: { digest: q.digest },
        });
        return [statementsFrame(answer, q.refId)];
      }
      case 'evidence': {
        const answer = await this.request<StatementsAnswer>('/ledger/statements', {
          params: { digest: q.digest },
        });
        return [evidenceFrame(answer, q.refId)];
      }
      case 'events': {
        const { events } = await this.request<{ events: ChangeEvent[] }>('/events', {
          params: { from, to, node: q.node },
        });
        const kept = events.filter((e) => !q.status || e.status === q.status);
        return [eventsFrame(kept, q.refId)];
      }
    }
  }

  /** Template variables: `nodes` (default) or `statuses`. */
  async metricFindQuery(query: string | { query?: string }): Promise<MetricFindValue[]> {
    const text = (typeof query === 'string' ? query : (query.query ?? '')).trim();
    if (text === 'statuses' || text === 'status') {
      return TRUST_STATUSES.map((s) => ({ text: s, value: s }));
    }
    const { nodes } = await this.request<{ nodes: NodeState[] }>('/nodes');
    return nodes.map((n) => ({ text: n.node, value: n.node }));
  }

  /** Re-verifies now on the agent, bypassing its cache. */
  verifyNow(target: { node?: string; container?: string }): Promise<{ containers: ContainerResult[] }> {
    return this.request('/verify', { method: 'POST', data: target });
  }

  async testDatasource(): Promise<TestDataSourceResponse> {
    try {
      const info = await this.request<{ api?: string; node?: string; peers?: number }>('');
      if (info.api !== API_VERSION) {
        return {
          status: 'error',
          message: `The agent speaks API ${info.api ?? 'unknown'}; this plugin needs ${API_VERSION}.`,
        };
      }
      const { nodes } = await this.request<{ nodes: NodeState[] }>('/nodes');
      const down = nodes.filter((n) => n.status !== 'up').map((n) => n.node);
      const fleet = `${nodes.length} node(s)${down.length > 0 ? `, unreachable: ${down.join(', ')}` : ''}`;
      return {
        status: down.length > 0 ? 'warning' : 'success',
        message: `Connected to the imagetrust agent on ${info.node}: ${fleet}.`,
      };
    } catch (err) {
      if (err instanceof AgentRequestError) {
        if (err.status === 401) {
          return {
            status: 'error',
            message: 'The agent refused the token: check the API token in the data source settings.',
          };
        }
        if (err.status === 404) {
          return {
            status: 'error',
            message: 'This URL answers, but not as an imagetrust agent (no /api/v1).',
          };
        }
        if (err.status === undefined || err.status === 0 || err.status >= 500) {
          return {
            status: 'error',
            message: `Cannot reach the agent at the configured URL (${err.message}).`,
          };
        }
        return { status: 'error', message: `The agent answered HTTP ${err.status}: ${err.message}` };
      }
      return {
        status: 'error',
        message: `Cannot reach the agent: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }
}
