// Agent API answers → frame descriptions, one function per query type. The table-shaped ones
// keep the fields, display names, mappings and links of the frontend's src/datasource/frames.ts
// so panels read the same; the alertable ones use Grafana's data-plane shapes
// (grafana-plugin-sdk-go data/contract_docs): `numeric-multi` (one frame per series, one
// number field with labels) and `timeseries-multi` (one frame per series: time + number with
// labels), so an alert rule reduces them to one series per node (and status). Pure.

import {
  CONTAINER_STATUSES,
  type ChangeEvent,
  type ContainerResult,
  type FleetSummary,
  type HistoryPoint,
  type ImageSummary,
  type NodeState,
  type StatementsAnswer,
  type TrustStatus,
} from '../api/types';
import { field, type FieldConfig, type FrameSpec, type ValueMapping } from './frame';

export const APP_URL = '/a/imagetrust-fleet-app';

/** Status colours and texts: the same as the UI's STATUS_DISPLAY (src/api/types.ts). */
export const STATUS_DISPLAY: Record<TrustStatus, { color: string; text: string }> = {
  trusted: { color: 'green', text: 'Trusted' },
  untrusted: { color: 'red', text: 'Untrusted' },
  unsupported: { color: 'orange', text: 'Unsupported' },
  unknown: { color: 'purple', text: 'Unknown' },
};

const WORST_FIRST: TrustStatus[] = ['untrusted', 'unknown', 'unsupported', 'trusted'];

export const statusMappings: ValueMapping[] = [
  {
    type: 'value',
    options: Object.fromEntries(
      WORST_FIRST.map((s, index) => [
        s,
        { text: STATUS_DISPLAY[s].text, color: STATUS_DISPLAY[s].color, index },
      ]),
    ),
  },
];

export const nodeMappings: ValueMapping[] = [
  {
    type: 'value',
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
const nodeLink = { title: 'Open node', url: `${APP_URL}/node/\${__value.text}` };
const imageLink = { title: 'Open image', url: `${APP_URL}/image/\${__value.text}` };

function time(iso: string | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

export function containersFrame(containers: ContainerResult[], refId: string): FrameSpec {
  const c = containers;
  return {
    name: 'containers',
    refId,
    meta: { preferredVisualisationType: 'table' },
    fields: [
      field(
        'node',
        'string',
        c.map((x) => x.node),
        { config: { displayName: 'Node', links: [nodeLink] } },
      ),
      field(
        'name',
        'string',
        c.map((x) => x.name),
        {
          config: {
            displayName: 'Container',
            links: [{ title: 'Open node', url: `${APP_URL}/node/\${__data.fields.node}` }],
          },
        },
      ),
      field(
        'status',
        'string',
        c.map((x) => x.status),
        { config: { displayName: 'Status', ...statusConfig } },
      ),
      field(
        'image',
        'string',
        c.map((x) => x.image),
        { config: { displayName: 'Image' } },
      ),
      field(
        'digest',
        'string',
        c.map((x) => x.digest),
        { config: { displayName: 'Digest', links: [imageLink] } },
      ),
      field(
        'drift',
        'boolean',
        c.map((x) => x.drift),
        { config: { displayName: 'Drift' } },
      ),
      field(
        'signer',
        'string',
        c.map((x) => x.signerName ?? x.signer ?? ''),
        { config: { displayName: 'Signer' } },
      ),
      field(
        'signedAt',
        'time',
        c.map((x) => time(x.signedAt)),
        { config: { displayName: 'Signed' } },
      ),
      field(
        'verifiedAt',
        'time',
        c.map((x) => time(x.verifiedAt)),
        { config: { displayName: 'Verified' } },
      ),
      field(
        'level',
        'number',
        c.map((x) => x.level),
        { config: { displayName: 'Level', decimals: 0 } },
      ),
      field(
        'reason',
        'string',
        c.map((x) => x.reason ?? ''),
        { config: { displayName: 'Reason' } },
      ),
      field(
        'id',
        'string',
        c.map((x) => x.id),
        { config: { displayName: 'Container id', custom: { hidden: true } } },
      ),
    ],
  };
}

export function summaryFrame(nodes: NodeState[], refId: string): FrameSpec {
  const count = (k: keyof NodeState['counts'], displayName: string, color: string) =>
    field(
      k,
      'number',
      nodes.map((n) => n.counts[k]),
      {
        config: { displayName, unit: 'none', decimals: 0, color: { mode: 'fixed', fixedColor: color } },
      },
    );
  return {
    name: 'summary',
    refId,
    fields: [
      field(
        'node',
        'string',
        nodes.map((n) => n.node),
        { config: { displayName: 'Node', links: [nodeLink] } },
      ),
      field(
        'status',
        'string',
        nodes.map((n) => n.status),
        {
          config: { displayName: 'Node status', mappings: nodeMappings },
        },
      ),
      count('trusted', 'Trusted', 'green'),
      count('untrusted', 'Untrusted', 'red'),
      count('unsupported', 'Unsupported', 'orange'),
      count('unknown', 'Unknown', 'purple'),
      count('total', 'Total', 'text'),
      field(
        'lastScan',
        'time',
        nodes.map((n) => time(n.lastScan)),
        { config: { displayName: 'Last scan' } },
      ),
      field(
        'ageSeconds',
        'number',
        nodes.map((n) => n.ageSeconds ?? null),
        {
          config: { displayName: 'Scan age', unit: 's' },
        },
      ),
      field(
        'reason',
        'string',
        nodes.map((n) => n.reason ?? ''),
        { config: { displayName: 'Reason' } },
      ),
    ],
  };
}

/**
 * timeseries-multi: one frame per node × status (time, then `containers` with labels
 * {node, status}), nodes by name, statuses worst first; the legend reads "node status".
 */
export function historyFrames(points: HistoryPoint[], refId: string, statuses = WORST_FIRST): FrameSpec[] {
  const byNode = new Map<string, HistoryPoint[]>();
  for (const p of points) {
    let list = byNode.get(p.node);
    if (!list) byNode.set(p.node, (list = []));
    list.push(p);
  }
  const frames: FrameSpec[] = [];
  for (const node of [...byNode.keys()].sort()) {
    const ps = (byNode.get(node) as HistoryPoint[]).sort((a, b) => a.time - b.time);
    for (const status of statuses) {
      frames.push({
        name: 'containers',
        refId,
        meta: { type: 'timeseries-multi', typeVersion: [0, 1], preferredVisualisationType: 'graph' },
        fields: [
          field(
            'time',
            'time',
            ps.map((p) => p.time),
          ),
          field(
            'containers',
            'number',
            ps.map((p) => p[status]),
            {
              labels: { node, status },
              config: {
                displayNameFromDS: `${node} ${status}`,
                color: { mode: 'fixed', fixedColor: STATUS_DISPLAY[status].color },
                decimals: 0,
              },
            },
          ),
        ],
      });
    }
  }
  return frames.length > 0 ? frames : [emptyTyped(refId, 'timeseries-multi')];
}

/** A typed frame without fields: "no data" in the data plane, not an error. */
function emptyTyped(refId: string, type: 'numeric-multi' | 'timeseries-multi'): FrameSpec {
  return { name: '', refId, meta: { type, typeVersion: [0, 1] }, fields: [] };
}

/**
 * numeric-multi: one frame per (node, status), a single `containers` field with labels
 * {node, status}. A node the API reports unreachable keeps its frames: its containers are
 * counted as `unknown` there, as the API reports them.
 */
export function countsFrames(summary: FleetSummary, refId: string, status?: TrustStatus): FrameSpec[] {
  const statuses = status ? [status] : CONTAINER_STATUSES;
  const nodes = [...summary.nodes].sort((a, b) => a.node.localeCompare(b.node));
  const frames = nodes.flatMap((n) =>
    statuses.map((s): FrameSpec => ({
      name: 'counts',
      refId,
      meta: { type: 'numeric-multi', typeVersion: [0, 1] },
      fields: [
        field('containers', 'number', [n[s]], {
          labels: { node: n.node, status: s },
          config: {
            displayNameFromDS: `${n.node} ${s}`,
            decimals: 0,
            color: { mode: 'fixed', fixedColor: STATUS_DISPLAY[s].color },
          },
        }),
      ],
    })),
  );
  return frames.length > 0 ? frames : [emptyTyped(refId, 'numeric-multi')];
}

/** numeric-multi: one frame per node, a single `up` field (1 up, 0 unreachable), labels {node}. */
export function nodeUpFrames(summary: FleetSummary, refId: string): FrameSpec[] {
  const nodes = [...summary.nodes].sort((a, b) => a.node.localeCompare(b.node));
  const frames = nodes.map((n): FrameSpec => ({
    name: 'up',
    refId,
    meta: { type: 'numeric-multi', typeVersion: [0, 1] },
    fields: [
      field('up', 'number', [n.status === 'up' ? 1 : 0], {
        labels: { node: n.node },
        config: {
          displayNameFromDS: n.node,
          decimals: 0,
          mappings: [
            {
              type: 'value',
              options: {
                '1': { text: 'Up', color: 'green', index: 0 },
                '0': { text: 'Unreachable', color: 'red', index: 1 },
              },
            },
          ],
        },
      }),
    ],
  }));
  return frames.length > 0 ? frames : [emptyTyped(refId, 'numeric-multi')];
}

export function imagesFrame(images: ImageSummary[], refId: string): FrameSpec {
  const i = images;
  return {
    name: 'images',
    refId,
    fields: [
      field(
        'digest',
        'string',
        i.map((x) => x.digest),
        { config: { displayName: 'Digest', links: [imageLink] } },
      ),
      field(
        'status',
        'string',
        i.map((x) => x.status),
        { config: { displayName: 'Status', ...statusConfig } },
      ),
      field(
        'references',
        'string',
        i.map((x) => x.references.join(', ')),
        { config: { displayName: 'References' } },
      ),
      field(
        'nodes',
        'string',
        i.map((x) => x.nodes.join(', ')),
        { config: { displayName: 'Nodes' } },
      ),
      field(
        'containers',
        'number',
        i.map((x) => x.containers),
        {
          config: { displayName: 'Containers', decimals: 0 },
        },
      ),
      field(
        'drift',
        'boolean',
        i.map((x) => x.drift),
        { config: { displayName: 'Drift' } },
      ),
      field(
        'signer',
        'string',
        i.map((x) => x.signer ?? ''),
        { config: { displayName: 'Signer' } },
      ),
    ],
  };
}

export function statementsFrame(answer: StatementsAnswer, refId: string): FrameSpec {
  const s = answer.statements;
  return {
    name: 'statements',
    refId,
    meta: { custom: { treeSize: answer.treeSize, origin: answer.origin } },
    fields: [
      field(
        'time',
        'time',
        s.map((x) => time(x.time)),
        { config: { displayName: 'Signed' } },
      ),
      field(
        'index',
        'number',
        s.map((x) => x.index),
        { config: { displayName: 'Entry', decimals: 0 } },
      ),
      field(
        'status',
        'string',
        s.map((x) => x.status),
        { config: { displayName: 'Status', ...statusConfig } },
      ),
      field(
        'signer',
        'string',
        s.map((x) => x.signer),
        { config: { displayName: 'Signer' } },
      ),
      field(
        'allowed',
        'boolean',
        s.map((x) => x.allowed),
        { config: { displayName: 'Allowed signer' } },
      ),
      field(
        'name',
        'string',
        s.map((x) => x.name),
        { config: { displayName: 'Signed as' } },
      ),
    ],
  };
}

/** One row per evidence attribute of each statement about a digest (CI job, commit, pipeline …). */
export function evidenceFrame(answer: StatementsAnswer, refId: string): FrameSpec {
  const rows = answer.statements.flatMap((s) =>
    Object.entries(s.attributes ?? {}).map(([key, value]) => ({ s, key, value })),
  );
  return {
    name: 'evidence',
    refId,
    meta: { custom: { treeSize: answer.treeSize, origin: answer.origin, digest: answer.digest } },
    fields: [
      field(
        'time',
        'time',
        rows.map((r) => time(r.s.time)),
        { config: { displayName: 'Signed' } },
      ),
      field(
        'index',
        'number',
        rows.map((r) => r.s.index),
        { config: { displayName: 'Entry', decimals: 0 } },
      ),
      field(
        'status',
        'string',
        rows.map((r) => r.s.status),
        { config: { displayName: 'Status', ...statusConfig } },
      ),
      field(
        'signer',
        'string',
        rows.map((r) => r.s.signer),
        { config: { displayName: 'Signer' } },
      ),
      field(
        'key',
        'string',
        rows.map((r) => r.key),
        { config: { displayName: 'Attribute' } },
      ),
      field(
        'value',
        'string',
        rows.map((r) => r.value),
        { config: { displayName: 'Value' } },
      ),
    ],
  };
}

function eventTitle(e: ChangeEvent): string {
  if (e.kind === 'status') return `${e.containerName}: ${e.previous} → ${e.status}`;
  if (e.kind.startsWith('node-')) return `${e.node}: ${e.kind === 'node-up' ? 'back up' : 'unreachable'}`;
  return `${e.containerName}: ${e.kind}${e.status ? ` (${e.status})` : ''}`;
}

/** Trust changes as an annotation frame (time, title, text, tags as JSON string arrays). */
export function eventsFrame(events: ChangeEvent[], refId: string): FrameSpec {
  return {
    name: 'events',
    refId,
    fields: [
      field(
        'time',
        'time',
        events.map((e) => e.time),
      ),
      field('title', 'string', events.map(eventTitle)),
      field(
        'text',
        'string',
        events.map((e) => [e.image, e.digest, e.detail].filter(Boolean).join('\n')),
      ),
      field(
        'tags',
        'other',
        events.map((e) => ['imagetrust', e.node, e.kind, ...(e.status ? [e.status] : [])]),
      ),
      field(
        'status',
        'string',
        events.map((e) => e.status ?? ''),
      ),
    ],
  };
}
