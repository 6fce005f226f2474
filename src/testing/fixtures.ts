import { FieldType, createDataFrame, type DataFrame } from '@grafana/data';
import type { ContainerResult, NodeState } from '../api/types';

/** A container result as the agent API returns it. */
export const container = (over: Partial<ContainerResult> = {}): ContainerResult => ({
  node: 'node-a',
  id: 'c'.repeat(64),
  name: 'web',
  image: 'app:1',
  digest: `sha256:${'a'.repeat(64)}`,
  status: 'untrusted',
  statusCode: 1,
  level: 0,
  verifiedAt: '2026-12-01T00:00:00Z',
  drift: false,
  state: 'running',
  labels: {},
  ...over,
});

/** A node as /api/v1/nodes answers it. */
export const nodeState = (over: Partial<NodeState> = {}): NodeState => ({
  node: 'node-a',
  status: 'up',
  counts: { trusted: 1, untrusted: 0, unsupported: 0, unknown: 0, total: 1 },
  local: true,
  ...over,
});

// Frames as the backend's containers and summary queries answer them (the columns the panel reads).
export function containersFrame(containers: ContainerResult[]): DataFrame {
  const column = (name: keyof ContainerResult) => ({
    name,
    type: FieldType.string,
    values: containers.map((c) => String(c[name] ?? '')),
  });
  return createDataFrame({
    name: 'containers',
    fields: [
      column('node'),
      column('name'),
      column('status'),
      column('image'),
      column('digest'),
      column('reason'),
    ],
  });
}

export function summaryFrame(nodes: NodeState[]): DataFrame {
  const count = (k: keyof NodeState['counts']) => ({
    name: k,
    type: FieldType.number,
    values: nodes.map((n) => n.counts[k]),
  });
  return createDataFrame({
    name: 'summary',
    fields: [
      { name: 'node', type: FieldType.string, values: nodes.map((n) => n.node) },
      { name: 'status', type: FieldType.string, values: nodes.map((n) => n.status) },
      count('trusted'),
      count('untrusted'),
      count('unsupported'),
      count('unknown'),
      count('total'),
      { name: 'ageSeconds', type: FieldType.number, values: nodes.map((n) => n.ageSeconds ?? null) },
      { name: 'reason', type: FieldType.string, values: nodes.map((n) => n.reason ?? null) },
    ],
  });
}
