// The data sources the generated dashboards and alert rules refer to, by the uid and type that
// provisioning/datasources/imagetrust.yaml gives them (provisioning.test.ts holds the two equal).

import type * as common from '@grafana/grafana-foundation-sdk/common';

/** A data source reference with both parts present (alert rules need the uid on its own). */
export interface ProvisionedDataSource extends common.DataSourceRef {
  readonly type: string;
  readonly uid: string;
}

/** imagetrust's own data source (src/datasource), answered by its backend (pkg/grafana). */
export const IMAGETRUST = {
  type: 'imagetrust-fleet-datasource',
  uid: 'imagetrust',
} as const satisfies ProvisionedDataSource;

/** Prometheus scraping the agents' /metrics. */
export const PROMETHEUS = {
  type: 'prometheus',
  uid: 'imagetrust-prometheus',
} as const satisfies ProvisionedDataSource;

/** InfluxDB 1.x holding the original setup's vcn_verification measurement. */
export const INFLUXDB = {
  type: 'influxdb',
  uid: 'imagetrust-influxdb',
} as const satisfies ProvisionedDataSource;

/** Grafana's own annotations (the built-in "Annotations & Alerts"). */
export const GRAFANA = { type: 'grafana', uid: '-- Grafana --' } as const satisfies ProvisionedDataSource;

/** Server-side expressions (reduce, threshold) in alert rules. */
export const EXPRESSION_UID = '__expr__';
