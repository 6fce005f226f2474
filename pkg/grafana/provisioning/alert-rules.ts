// imagetrust's Grafana-managed alert rules, built with the foundation SDK's alerting and
// server-side-expression builders, and written in Grafana's file-provisioning format
// (provisioning/alerting/imagetrust.yaml). Each rule: A = a query, B = reduce (last) to one
// number per series, C = threshold on B, the condition.
//
// Three sets, each alerting on the same conditions: Prometheus (the agents' /metrics, as
// provisioning/prometheus/imagetrust-rules.yml does), InfluxDB (the original setup's
// vcn_verification alert), and imagetrust's own data source through its backend: `counts` and
// `nodeUp` answer numeric-multi frames (one per node, or node and status), so B yields one
// number per node and each node alerts on its own.

import * as alerting from '@grafana/grafana-foundation-sdk/alerting';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as expr from '@grafana/grafana-foundation-sdk/expr';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import { ImagetrustError } from '../../errors';
import { EXPRESSION_UID, IMAGETRUST, INFLUXDB, PROMETHEUS } from './datasources';
import {
  ImagetrustQueryBuilder,
  type ALERTABLE_QUERY_TYPES,
  type ImagetrustQueryParams,
} from './imagetrust-query';
import { InfluxqlQueryBuilder } from './influxql-query';

/** The folder provisioning/dashboards/dashboards.yaml creates; the rules live beside the dashboards. */
export const ALERT_FOLDER = { uid: 'imagetrust', title: 'imagetrust' } as const;
export const ALERT_ORG_ID = 1;
export const RULE_GROUP = 'imagetrust';
export const RULE_GROUP_INTERVAL_SECONDS = 60;

type Evaluator = expr.TypeThreshold['conditions'][number]['evaluator'];
type RuleState = Pick<alerting.Rule, 'noDataState' | 'execErrState'>;

interface RuleSpec extends RuleState {
  uid: string;
  title: string;
  for: string;
  severity: 'critical' | 'warning';
  annotations: Record<string, string>;
  datasourceUid: string;
  /** The data source's query type, which Grafana passes on as DataQuery.queryType. */
  queryType?: string;
  /** Seconds before now that query A looks at. */
  lookback: number;
  query: cog.Builder<cog.Dataquery>;
  /** When B (the last value of each series) fires. */
  fires: Evaluator;
}

const above = (n: number): Evaluator => ({ type: 'gt', params: [n] });
const below = (n: number): Evaluator => ({ type: 'lt', params: [n] });

function queryA(spec: RuleSpec): alerting.QueryBuilder {
  const a = new alerting.QueryBuilder('A')
    .datasourceUid(spec.datasourceUid)
    .relativeTimeRange({ from: spec.lookback, to: 0 })
    .model(spec.query);
  return spec.queryType === undefined ? a : a.queryType(spec.queryType);
}

function rule(spec: RuleSpec): alerting.RuleBuilder {
  return new alerting.RuleBuilder(spec.title)
    .uid(spec.uid)
    .orgID(ALERT_ORG_ID)
    .folderUID(ALERT_FOLDER.uid)
    .ruleGroup(RULE_GROUP)
    .condition('C')
    .forDuration(spec.for)
    .noDataState(spec.noDataState)
    .execErrState(spec.execErrState)
    .labels({ severity: spec.severity })
    .annotations(spec.annotations)
    .queries([
      queryA(spec),
      new alerting.QueryBuilder('B')
        .datasourceUid(EXPRESSION_UID)
        .model(new expr.TypeReduceBuilder().refId('B').expression('A').reducer('last')),
      new alerting.QueryBuilder('C').datasourceUid(EXPRESSION_UID).model(
        new expr.TypeThresholdBuilder()
          .refId('C')
          .expression('B')
          .conditions([{ evaluator: spec.fires }]),
      ),
    ]);
}

/** Query A on imagetrust's own data source: alertable query types only. */
export function imagetrustQuery<Q extends (typeof ALERTABLE_QUERY_TYPES)[number]>(
  queryType: Q,
  params: ImagetrustQueryParams[Q],
): Pick<RuleSpec, 'datasourceUid' | 'queryType' | 'query'> {
  return {
    datasourceUid: IMAGETRUST.uid,
    queryType,
    query: new ImagetrustQueryBuilder(queryType, params).refId('A'),
  };
}

function promql(expression: string): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder().refId('A').expr(expression).instant();
}

const FAIL_CLOSED: RuleState = { noDataState: 'OK', execErrState: 'Alerting' };
const ALERT_ON_SILENCE: RuleState = { noDataState: 'Alerting', execErrState: 'Alerting' };

const PROMETHEUS_RULES: RuleSpec[] = [
  {
    uid: 'imagetrust-untrusted-container',
    title: 'Untrusted container running',
    for: '0s',
    ...FAIL_CLOSED,
    severity: 'critical',
    annotations: {
      summary: 'A container runs an image notarized as untrusted',
      description: 'Container {{ $labels.container_name }} on {{ $labels.node }} runs {{ $labels.image }}.',
    },
    datasourceUid: PROMETHEUS.uid,
    lookback: 300,
    query: promql(
      'count by (node, container_name, image, digest) (imagetrust_container_trust{status="untrusted"})',
    ),
    fires: above(0),
  },
  {
    uid: 'imagetrust-unknown-container',
    title: 'Container of unknown trust',
    for: '2m',
    ...FAIL_CLOSED,
    severity: 'warning',
    annotations: {
      summary: 'A container runs an image nobody allowed notarized, or that could not be verified',
    },
    datasourceUid: PROMETHEUS.uid,
    lookback: 300,
    query: promql(
      'count by (node, container_name, image, digest) (imagetrust_container_trust{status="unknown"})',
    ),
    fires: above(0),
  },
  {
    uid: 'imagetrust-node-unreachable',
    title: 'Node unreachable',
    for: '1m',
    ...ALERT_ON_SILENCE,
    severity: 'critical',
    annotations: { summary: 'An imagetrust node cannot be reached; its containers are unknown' },
    datasourceUid: PROMETHEUS.uid,
    lookback: 300,
    query: promql('max by (node) (imagetrust_node_up)'),
    fires: below(1),
  },
  {
    uid: 'imagetrust-stale-scan',
    title: 'Stale scan',
    for: '1m',
    ...ALERT_ON_SILENCE,
    severity: 'warning',
    annotations: { summary: 'A node has not been scanned for more than five minutes' },
    datasourceUid: PROMETHEUS.uid,
    lookback: 600,
    query: promql('time() - max by (node) (imagetrust_last_scan_timestamp_seconds)'),
    fires: above(300),
  },
  {
    uid: 'imagetrust-ledger-inconsistent',
    title: 'Ledger compromised',
    for: '0s',
    ...FAIL_CLOSED,
    severity: 'critical',
    annotations: { summary: 'An agent refused the ledger: bad signature, failed proof, fork or rollback' },
    datasourceUid: PROMETHEUS.uid,
    lookback: 600,
    query: promql('max by (node) (increase(imagetrust_ledger_consistency_failures_total[10m]))'),
    fires: above(0),
  },
  {
    uid: 'imagetrust-ledger-split-view',
    title: 'Ledger split view',
    for: '0s',
    ...FAIL_CLOSED,
    severity: 'critical',
    annotations: { summary: 'Two agents proved checkpoints of two different ledger histories (gossip)' },
    datasourceUid: PROMETHEUS.uid,
    lookback: 600,
    query: promql('max by (node) (increase(imagetrust_ledger_split_view_total[10m]))'),
    fires: above(0),
  },
];

/** The original setup's alert: any vcn_verification point with failed = 1. */
const INFLUXDB_RULES: RuleSpec[] = [
  {
    uid: 'imagetrust-influx-failed-verification',
    title: 'Failed verification (InfluxDB, vcn_verification)',
    for: '0s',
    ...FAIL_CLOSED,
    severity: 'critical',
    annotations: { summary: 'A container failed verification (vcn_verification failed = 1)' },
    datasourceUid: INFLUXDB.uid,
    lookback: 300,
    query: new InfluxqlQueryBuilder(
      'SELECT last("failed") FROM "vcn_verification" WHERE $timeFilter GROUP BY "hostname", "container_name"',
    )
      .refId('A')
      .resultFormat('time_series'),
    fires: above(0),
  },
];

/**
 * On imagetrust's own data source (through its backend): per node, no Prometheus needed.
 * A backend error or an unreachable fleet server alerts (execErrState Alerting): fail closed.
 */
const IMAGETRUST_RULES: RuleSpec[] = [
  {
    uid: 'imagetrust-ds-untrusted',
    title: 'Untrusted containers on a node (imagetrust)',
    for: '0s',
    ...FAIL_CLOSED,
    severity: 'critical',
    annotations: {
      summary:
        'Node {{ $labels.node }} runs {{ $values.B.Value }} container(s) of images notarized as untrusted',
    },
    ...imagetrustQuery('counts', { status: 'untrusted' }),
    lookback: 300,
    fires: above(0),
  },
  {
    uid: 'imagetrust-ds-unknown',
    title: 'Containers of unknown trust on a node (imagetrust)',
    for: '2m',
    ...FAIL_CLOSED,
    severity: 'warning',
    annotations: {
      summary:
        'Node {{ $labels.node }} runs {{ $values.B.Value }} container(s) of images nobody allowed notarized, or that could not be verified',
    },
    ...imagetrustQuery('counts', { status: 'unknown' }),
    lookback: 300,
    fires: above(0),
  },
  {
    uid: 'imagetrust-ds-node-unreachable',
    title: 'Node unreachable (imagetrust)',
    for: '1m',
    ...ALERT_ON_SILENCE,
    severity: 'critical',
    annotations: { summary: 'Node {{ $labels.node }} cannot be reached; its containers are unknown' },
    ...imagetrustQuery('nodeUp', {}),
    lookback: 300,
    fires: below(1),
  },
];

export function alertRuleGroup(): alerting.RuleGroup {
  return new alerting.RuleGroupBuilder(RULE_GROUP)
    .folderUid(ALERT_FOLDER.uid)
    .interval(RULE_GROUP_INTERVAL_SECONDS)
    .rules([...PROMETHEUS_RULES, ...INFLUXDB_RULES, ...IMAGETRUST_RULES].map(rule))
    .build();
}

export function contactPoints(): alerting.ContactPoint[] {
  return [
    new alerting.ContactPointBuilder()
      .uid('imagetrust-operators-email')
      .name('imagetrust operators')
      .type('email')
      .settings({ addresses: 'ops@example.com', singleEmail: false })
      .disableResolveMessage(false)
      .build(),
  ];
}

// ---- Grafana's file-provisioning format (apiVersion 1) ----
// The SDK's types are those of Grafana's provisioning HTTP API (a group titled and placed by
// folder uid, rules carrying orgID, folderUID and ruleGroup); files name the folder by title at
// the group and list contact points with their receivers. The conversion below is mechanical
// and refuses a rule that does not belong to its group.

export type JsonObject = { [key: string]: unknown };

export interface FileQuery {
  refId: string;
  queryType?: string;
  datasourceUid: string;
  relativeTimeRange?: { from: number; to: number };
  model: JsonObject;
}

export interface FileRule {
  uid: string;
  title: string;
  condition: string;
  for: string;
  noDataState: alerting.Rule['noDataState'];
  execErrState: alerting.Rule['execErrState'];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  data: FileQuery[];
}

export interface FileRuleGroup {
  orgId: number;
  name: string;
  folder: string;
  interval: string;
  rules: FileRule[];
}

export interface FileContactPoint {
  orgId: number;
  name: string;
  receivers: {
    uid: string;
    type: alerting.ContactPoint['type'];
    settings: JsonObject;
    disableResolveMessage: boolean;
  }[];
}

export interface AlertingProvisioning {
  apiVersion: 1;
  contactPoints: FileContactPoint[];
  groups: FileRuleGroup[];
}

function invalid(message: string): ImagetrustError {
  return new ImagetrustError('CONFIG_INVALID', `alert provisioning: ${message}`);
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A query model as plain JSON (the SDK's variant marker methods drop out), refId first. */
function plainModel(model: cog.Dataquery, where: string): JsonObject {
  const parsed: unknown = JSON.parse(JSON.stringify(model));
  if (!isJsonObject(parsed)) throw invalid(`${where}: the model is not an object`);
  const { refId, ...rest } = parsed;
  return refId === undefined ? rest : { refId, ...rest };
}

/** Seconds as Grafana durations: 60 → 1m, 90 → 90s. */
export function duration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds <= 0)
    throw invalid(`interval ${seconds} is not a positive integer`);
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

function fileQuery(query: alerting.Query, ruleUid: string): FileQuery {
  const where = `${ruleUid} ${query.refId ?? '?'}`;
  if (!query.refId || !query.datasourceUid || !query.model)
    throw invalid(`${where}: refId, datasourceUid and model are required`);
  const range = query.relativeTimeRange;
  return {
    refId: query.refId,
    ...(query.queryType ? { queryType: query.queryType } : {}),
    datasourceUid: query.datasourceUid,
    ...(range ? { relativeTimeRange: { from: range.from ?? 0, to: range.to ?? 0 } } : {}),
    model: plainModel(query.model, where),
  };
}

function fileRule(rule: alerting.Rule, group: alerting.RuleGroup): FileRule {
  const uid = rule.uid;
  if (!uid) throw invalid(`rule "${rule.title}" has no uid`);
  if (rule.folderUID !== group.folderUid || rule.ruleGroup !== group.title || rule.orgID !== ALERT_ORG_ID)
    throw invalid(`${uid} does not belong to group ${group.title}`);
  const data = rule.data.map((q) => fileQuery(q, uid));
  if (!data.some((q) => q.refId === rule.condition))
    throw invalid(`${uid}: condition ${rule.condition} is none of its queries`);
  return {
    uid,
    title: rule.title,
    condition: rule.condition,
    for: rule.for,
    noDataState: rule.noDataState,
    execErrState: rule.execErrState,
    ...(rule.labels ? { labels: rule.labels } : {}),
    ...(rule.annotations ? { annotations: rule.annotations } : {}),
    data,
  };
}

/** Files group receivers under their contact point's name. */
function contactPointsByName(points: alerting.ContactPoint[]): FileContactPoint[] {
  const byName = new Map<string, FileContactPoint>();
  for (const point of points) {
    if (!point.uid || !point.name) throw invalid('a contact point needs a uid and a name');
    const settings: unknown = point.settings;
    if (!isJsonObject(settings)) throw invalid(`contact point ${point.uid}: settings must be an object`);
    const entry = byName.get(point.name) ?? { orgId: ALERT_ORG_ID, name: point.name, receivers: [] };
    entry.receivers.push({
      uid: point.uid,
      type: point.type,
      settings,
      disableResolveMessage: point.disableResolveMessage ?? false,
    });
    byName.set(point.name, entry);
  }
  return [...byName.values()];
}

export function toFileProvisioning(
  groups: alerting.RuleGroup[],
  points: alerting.ContactPoint[],
  folderTitle: (uid: string) => string,
): AlertingProvisioning {
  return {
    apiVersion: 1,
    contactPoints: contactPointsByName(points),
    groups: groups.map((group) => {
      if (!group.title || !group.folderUid || group.interval === undefined)
        throw invalid('a rule group needs a title, a folder and an interval');
      return {
        orgId: ALERT_ORG_ID,
        name: group.title,
        folder: folderTitle(group.folderUid),
        interval: duration(group.interval),
        rules: (group.rules ?? []).map((r) => fileRule(r, group)),
      };
    }),
  };
}

export function alertingProvisioning(): AlertingProvisioning {
  return toFileProvisioning([alertRuleGroup()], contactPoints(), (uid) => {
    if (uid !== ALERT_FOLDER.uid) throw invalid(`unknown folder ${uid}`);
    return ALERT_FOLDER.title;
  });
}
