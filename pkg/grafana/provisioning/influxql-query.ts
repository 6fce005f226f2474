// A raw InfluxQL query of Grafana's InfluxDB data source (InfluxDB 1.x, the original setup's
// vcn_verification measurement) as a foundation-SDK query variant. The SDK (v0.0.21) has no
// InfluxDB package, so this is its custom-query extension point, with the fields Grafana's
// InfluxDB query model (InfluxQuery: rawQuery, query, resultFormat) uses for raw queries.

import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as common from '@grafana/grafana-foundation-sdk/common';

export type InfluxResultFormat = 'time_series' | 'table' | 'logs';

export interface InfluxqlDataquery extends cog.Dataquery {
  refId?: string;
  datasource?: common.DataSourceRef;
  rawQuery: true;
  resultFormat: InfluxResultFormat;
  query: string;
}

export class InfluxqlQueryBuilder implements cog.Builder<cog.Dataquery> {
  private refIdValue: string | undefined;
  private datasourceValue: common.DataSourceRef | undefined;
  private format: InfluxResultFormat = 'time_series';

  constructor(private readonly query: string) {}

  refId(refId: string): this {
    this.refIdValue = refId;
    return this;
  }

  datasource(datasource: common.DataSourceRef): this {
    this.datasourceValue = datasource;
    return this;
  }

  resultFormat(format: InfluxResultFormat): this {
    this.format = format;
    return this;
  }

  build(): InfluxqlDataquery {
    return {
      _implementsDataqueryVariant() {},
      ...(this.refIdValue !== undefined ? { refId: this.refIdValue } : {}),
      ...(this.datasourceValue !== undefined ? { datasource: this.datasourceValue } : {}),
      rawQuery: true,
      resultFormat: this.format,
      query: this.query,
    };
  }
}
