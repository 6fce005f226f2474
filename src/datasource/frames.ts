// Agent API answers → Grafana data frames, with field types, units, value mappings
// (status → colour and text) and data links to the app's pages. Pure: no requests.

import {
  FieldType,
  MappingType,
  createDataFrame,
  type DataFrame,
  type FieldConfig,
  type ValueMapping,
} from '@grafana/data';
import {
  STATUS_DISPLAY,
  TRUST_STATUSES,
  type ChangeEvent,
  type ContainerResult,
  type HistoryPoint,
  type ImageSummary,
  type NodeState,
  type StatementsAnswer,
} from '../api/types';

export const APP_URL = '/a/imagetrust-fleet-app';

export const statusMappings: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: Object.fromEntries(
      TRUST_STATUSES.map((s, index) => [
        s,
        { text: STATUS_DISPLAY[s].text, color: STATUS_DISPLAY[s].color, index },
      ]),
    ),
  },
];

export const nodeMappings: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      up: { text: 'Up', color: 'green', index: 0 },
      unreachable: { text: 'Unreachable', color: 'red', index: 1 },
    },
  },
];

const statusConfig: FieldConfig = {
  mappings: statusMappings,
  custom: { cellOptions: { type: 'color-background' } },
};

const time = (iso?: string) => (iso ? Date.parse(iso) : null);

export function containersFrame(containers: ContainerResult[], refId?: string): DataFrame {
  return createDataFrame({
    refId,
    name: 'containers',
    meta: { preferredVisualisationType: 'table' },
    fields: [
      {
        name: 'node',
        type: FieldType.string,
        values: containers.map((c) => c.node),
        config: {
          displayName: 'Node',
          links: [{ title: 'Open node', url: `${APP_URL}/node/\${__value.text}` }],
        },
      },
      {
        name: 'name',
        type: FieldType.string,
        values: containers.map((c) => c.name),
        config: {
          displayName: 'Container',
          links: [{ title: 'Open node', url: `${APP_URL}/node/\${__data.fields.node}` }],
        },
      },
      {
        name: 'status',
        type: FieldType.string,
        values: containers.map((c) => c.status),
        config: { displayName: 'Status', ...statusConfig },
      },
      {
        name: 'image',
        type: FieldType.string,
        values: containers.map((c) => c.image),
        config: { displayName: 'Image' },
      },
      {
        name: 'digest',
        type: FieldType.string,
        values: containers.map((c) => c.digest),
        config: {
          displayName: 'Digest',
          links: [{ title: 'Open image', url: `${APP_URL}/image/\${__value.text}` }],
        },
      },
      {
        name: 'drift',
        type: FieldType.boolean,
        values: containers.map((c) => c.drift),
        config: { displayName: 'Drift' },
      },
      {
        name: 'signer',
        type: FieldType.string,
        values: containers.map((c) => c.signerName ?? c.signer ?? ''),
        config: { displayName: 'Signer' },
      },
      {
        name: 'signedAt',
        type: FieldType.time,
        values: containers.map((c) => time(c.signedAt)),
        config: { displayName: 'Signed' },
      },
      {
        name: 'verifiedAt',
        type: FieldType.time,
        values: containers.map((c) => time(c.verifiedAt)),
        config: { displayName: 'Verified' },
      },
      {
        name: 'level',
        type: FieldType.number,
        values: containers.map((c) => c.level),
        config: { displayName: 'Level', decimals: 0 },
      },
      {
        name: 'reason',
        type: FieldType.string,
        values: containers.map((c) => c.reason ?? ''),
        config: { displayName: 'Reason' },
      },
      {
        name: 'id',
        type: FieldType.string,
        values: containers.map((c) => c.id),
        config: { displayName: 'Container id', custom: { hidden: true } },
      },
    ],
  });
}

export function summaryFrame(nodes: NodeState[], refId?: string): DataFrame {
  const counts = (k: keyof NodeState['counts']) => nodes.map((n) => n.counts[k]);
  const countConfig = (displayName: string, color: string): FieldConfig => ({
    displayName,
    unit: 'none',
    decimals: 0,
    color: { mode: 'fixed', fixedColor: color },
  });
  return createDataFrame({
    refId,
    name: 'summary',
    fields: [
      {
        name: 'node',
        type: FieldType.string,
        values: nodes.map((n) => n.node),
        config: {
          displayName: 'Node',
          links: [{ title: 'Open node', url: `${APP_URL}/node/\${__value.text}` }],
        },
      },
      {
        name: 'status',
        type: FieldType.string,
        values: nodes.map((n) => n.status),
        config: { displayName: 'Node status', mappings: nodeMappings },
      },
      {
        name: 'trusted',
        type: FieldType.number,
        values: counts('trusted'),
        config: countConfig('Trusted', 'green'),
      },
      {
        name: 'untrusted',
        type: FieldType.number,
        values: counts('untrusted'),
        config: countConfig('Untrusted', 'red'),
      },
      {
        name: 'unsupported',
        type: FieldType.number,
        values: counts('unsupported'),
        config: countConfig('Unsupported', 'orange'),
      },
      {
        name: 'unknown',
        type: FieldType.number,
        values: counts('unknown'),
        config: countConfig('Unknown', 'purple'),
      },
      {
        name: 'total',
        type: FieldType.number,
        values: counts('total'),
        config: countConfig('Total', 'text'),
      },
      {
        name: 'lastScan',
        type: FieldType.time,
        values: nodes.map((n) => time(n.lastScan)),
        config: { displayName: 'Last scan' },
      },
      {
        name: 'ageSeconds',
        type: FieldType.number,
        values: nodes.map((n) => n.ageSeconds ?? null),
        config: { displayName: 'Scan age', unit: 's' },
      },
      {
        name: 'reason',
        type: FieldType.string,
        values: nodes.map((n) => n.reason ?? ''),
        config: { displayName: 'Reason' },
      },
    ],
  });
}

/** One time series frame per node: the count of containers in each status over time. */
export function historyFrames(points: HistoryPoint[], refId?: string): DataFrame[] {
  const byNode = new Map<string, HistoryPoint[]>();
  for (const p of points) {
    byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  }
  return [...byNode.entries()].map(([node, ps]) =>
    createDataFrame({
      refId,
      name: node,
      meta: { preferredVisualisationType: 'graph' },
      fields: [
        { name: 'time', type: FieldType.time, values: ps.map((p) => p.time) },
        ...TRUST_STATUSES.map((s) => ({
          name: s,
          type: FieldType.number,
          values: ps.map((p) => p[s]),
          labels: { node },
          config: {
            displayNameFromDS: `${node} ${s}`,
            color: { mode: 'fixed', fixedColor: STATUS_DISPLAY[s].color },
            decimals: 0,
          },
        })),
      ],
    }),
  );
}

export function imagesFrame(images: ImageSummary[], refId?: string): DataFrame {
  return createDataFrame({
    refId,
    name: 'images',
    fields: [
      {
        name: 'digest',
        type: FieldType.string,
        values: images.map((i) => i.digest),
        config: {
          displayName: 'Digest',
          links: [{ title: 'Open image', url: `${APP_URL}/image/\${__value.text}` }],
        },
      },
      {
        name: 'status',
        type: FieldType.string,
        values: images.map((i) => i.status),
        config: { displayName: 'Status', ...statusConfig },
      },
      {
        name: 'references',
        type: FieldType.string,
        values: images.map((i) => i.references.join(', ')),
        config: { displayName: 'References' },
      },
      {
        name: 'nodes',
        type: FieldType.string,
        values: images.map((i) => i.nodes.join(', ')),
        config: { displayName: 'Nodes' },
      },
      {
        name: 'containers',
        type: FieldType.number,
        values: images.map((i) => i.containers),
        config: { displayName: 'Containers', decimals: 0 },
      },
      {
        name: 'drift',
        type: FieldType.boolean,
        values: images.map((i) => i.drift),
        config: { displayName: 'Drift' },
      },
      {
        name: 'signer',
        type: FieldType.string,
        values: images.map((i) => i.signer ?? ''),
        config: { displayName: 'Signer' },
      },
    ],
  });
}

export function statementsFrame(answer: StatementsAnswer, refId?: string): DataFrame {
  const s = answer.statements;
  return createDataFrame({
    refId,
    name: 'statements',
    meta: { custom: { treeSize: answer.treeSize, origin: answer.origin } },
    fields: [
      {
        name: 'time',
        type: FieldType.time,
        values: s.map((x) => Date.parse(x.time)),
        config: { displayName: 'Signed' },
      },
      {
        name: 'index',
        type: FieldType.number,
        values: s.map((x) => x.index),
        config: { displayName: 'Entry', decimals: 0 },
      },
      {
        name: 'status',
        type: FieldType.string,
        values: s.map((x) => x.status),
        config: { displayName: 'Status', ...statusConfig },
      },
      {
        name: 'signer',
        type: FieldType.string,
        values: s.map((x) => x.signer),
        config: { displayName: 'Signer' },
      },
      {
        name: 'allowed',
        type: FieldType.boolean,
        values: s.map((x) => x.allowed),
        config: { displayName: 'Allowed signer' },
      },
      {
        name: 'name',
        type: FieldType.string,
        values: s.map((x) => x.name),
        config: { displayName: 'Signed as' },
      },
    ],
  });
}

/** Trust changes as an annotation frame (time, title, text, tags). */
export function eventsFrame(events: ChangeEvent[], refId?: string): DataFrame {
  const title = (e: ChangeEvent) =>
    e.kind === 'status'
      ? `${e.containerName}: ${e.previous} → ${e.status}`
      : e.kind.startsWith('node-')
        ? `${e.node}: ${e.kind === 'node-up' ? 'back up' : 'unreachable'}`
        : `${e.containerName}: ${e.kind}${e.status ? ` (${e.status})` : ''}`;
  return createDataFrame({
    refId,
    name: 'events',
    fields: [
      { name: 'time', type: FieldType.time, values: events.map((e) => e.time) },
      { name: 'title', type: FieldType.string, values: events.map(title) },
      {
        name: 'text',
        type: FieldType.string,
        values: events.map((e) => [e.image, e.digest, e.detail].filter(Boolean).join('\n')),
      },
      {
        name: 'tags',
        type: FieldType.other,
        values: events.map((e) => ['imagetrust', e.node, e.kind, ...(e.status ? [e.status] : [])]),
      },
      { name: 'status', type: FieldType.string, values: events.map((e) => e.status ?? '') },
    ],
  });
}

/** One row per evidence attribute of each statement about a digest (CI job, commit, pipeline …). */
export function evidenceFrame(answer: StatementsAnswer, refId?: string): DataFrame {
  const rows = answer.statements.flatMap((s) =>
    Object.entries(s.attributes ?? {}).map(([key, value]) => ({ s, key, value })),
  );
  return createDataFrame({
    refId,
    name: 'evidence',
    meta: { custom: { treeSize: answer.treeSize, origin: answer.origin, digest: answer.digest } },
    fields: [
      {
        name: 'time',
        type: FieldType.time,
        values: rows.map((r) => Date.parse(r.s.time)),
        config: { displayName: 'Signed' },
      },
      {
        name: 'index',
        type: FieldType.number,
        values: rows.map((r) => r.s.index),
        config: { displayName: 'Entry', decimals: 0 },
      },
      {
        name: 'status',
        type: FieldType.string,
        values: rows.map((r) => r.s.status),
        config: { displayName: 'Status', ...statusConfig },
      },
      {
        name: 'signer',
        type: FieldType.string,
        values: rows.map((r) => r.s.signer),
        config: { displayName: 'Signer' },
      },
      {
        name: 'key',
        type: FieldType.string,
        values: rows.map((r) => r.key),
        config: { displayName: 'Attribute' },
      },
      {
        name: 'value',
        type: FieldType.string,
        values: rows.map((r) => r.value),
        config: { displayName: 'Value' },
      },
    ],
  });
}
