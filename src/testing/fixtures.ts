import type { ContainerResult } from '../api/types';

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
