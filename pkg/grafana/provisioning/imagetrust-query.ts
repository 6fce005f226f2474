// imagetrust's query model (src/datasource/types.ts ImagetrustQuery) as a foundation-SDK query
// variant, so dashboards and alert rules built in code carry exactly what the data source's
// query editor saves. Each query type accepts only the parameters the data source reads for it
// (src/datasource/datasource.ts, and the backend's alertable `counts` and `nodeUp`): a digest on
// a containers query, or a status on nodeUp, does not compile.

import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as common from '@grafana/grafana-foundation-sdk/common';
import type { TrustStatus } from '../../api/types';

/** A dashboard template variable (`$node`, `${status}`), interpolated before the query runs. */
export type TemplateVariable = `$${string}`;

/** A status filter: one status, or a variable that holds one (or All). */
export type StatusFilter = TrustStatus | TemplateVariable;

/** The parameters each query type takes (all others are not part of its model). */
export interface ImagetrustQueryParams {
  containers: { node?: string; status?: StatusFilter };
  summary: { node?: string };
  history: { node?: string; step?: string };
  images: { node?: string; status?: StatusFilter };
  statements: { digest: string };
  evidence: { digest: string };
  events: { node?: string; status?: StatusFilter };
  /** Alertable: numeric-multi, one frame per (node, status), field `containers`. */
  counts: { status?: TrustStatus };
  /** Alertable: numeric-multi, one frame per node, field `up` (1 up, 0 unreachable). */
  nodeUp: Record<string, never>;
}

export type ImagetrustQueryType = keyof ImagetrustQueryParams;

/** Every query type, in the data source's order (the test holds it equal to QUERY_TYPES). */
export const IMAGETRUST_QUERY_TYPES = [
  'containers',
  'summary',
  'history',
  'images',
  'statements',
  'evidence',
  'events',
  'counts',
  'nodeUp',
] as const satisfies readonly ImagetrustQueryType[];

/** The parameters of each query type at run time, in the order a saved query lists them. */
export const QUERY_PARAMETERS = {
  containers: ['node', 'status'],
  summary: ['node'],
  history: ['node', 'step'],
  images: ['node', 'status'],
  statements: ['digest'],
  evidence: ['digest'],
  events: ['node', 'status'],
  counts: ['status'],
  nodeUp: [],
} as const satisfies { [Q in ImagetrustQueryType]: readonly (keyof ImagetrustQueryParams[Q])[] };

/** Compiles only while QUERY_PARAMETERS lists every parameter ImagetrustQueryParams declares. */
type _EveryParameterListed<
  T extends never = {
    [Q in ImagetrustQueryType]: Exclude<
      Extract<keyof ImagetrustQueryParams[Q], keyof ImagetrustDataquery>,
      (typeof QUERY_PARAMETERS)[Q][number]
    >;
  }[ImagetrustQueryType],
> = T;

/** The query types Grafana-managed alert rules can use: they answer in data-plane numeric shapes. */
export const ALERTABLE_QUERY_TYPES = ['counts', 'nodeUp'] as const satisfies readonly ImagetrustQueryType[];

/** src/datasource/types.ts QUERY_VERSION: saved queries carry it; migrate.ts upgrades older ones. */
export const QUERY_VERSION = 2;

/** The saved query as JSON (ImagetrustQuery), a variant of the SDK's Dataquery. */
export interface ImagetrustDataquery extends cog.Dataquery {
  refId?: string;
  hide?: boolean;
  datasource?: common.DataSourceRef;
  queryType: ImagetrustQueryType;
  version: number;
  node?: string;
  status?: string;
  digest?: string;
  step?: string;
}

export class ImagetrustQueryBuilder<Q extends ImagetrustQueryType> implements cog.Builder<cog.Dataquery> {
  private refIdValue: string | undefined;
  private hideValue: boolean | undefined;
  private datasourceValue: common.DataSourceRef | undefined;

  constructor(
    private readonly queryType: Q,
    private readonly params: ImagetrustQueryParams[Q],
  ) {}

  refId(refId: string): this {
    this.refIdValue = refId;
    return this;
  }

  hide(hide: boolean): this {
    this.hideValue = hide;
    return this;
  }

  datasource(datasource: common.DataSourceRef): this {
    this.datasourceValue = datasource;
    return this;
  }

  /** Keys in a fixed order (refId, datasource, queryType, version, parameters): stable output. */
  build(): ImagetrustDataquery {
    const params: { node?: string; status?: string; digest?: string; step?: string } = this.params;
    const query: ImagetrustDataquery = {
      _implementsDataqueryVariant() {},
      ...(this.refIdValue !== undefined ? { refId: this.refIdValue } : {}),
      ...(this.hideValue !== undefined ? { hide: this.hideValue } : {}),
      ...(this.datasourceValue !== undefined ? { datasource: this.datasourceValue } : {}),
      queryType: this.queryType,
      version: QUERY_VERSION,
    };
    for (const key of QUERY_PARAMETERS[this.queryType]) {
      const value = params[key];
      if (value !== undefined) query[key] = value;
    }
    return query;
  }
}
