// Generated hostile parameters for the agent API (api.ts through inject(), over an in-process
// ApiSource): any query string, path or body gets an answer or a 4xx with the error shape
// (naming the field), never a 5xx, and nothing is asked of the source for a refused request.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES } from '../errors';
import { buildAgentApi } from './api';
import type { ApiSource } from './source';
import { countStatuses, type ContainerResult } from './types';
import { checkAsyncProperty, hostileText, reportPropertyTotals } from '../testing/property';

after(() => reportPropertyTotals('pkg/agent/api.props.test.ts'));

const TOKEN = 'a-token-of-at-least-16-chars';
const container: ContainerResult = {
  node: 'n1',
  id: 'c1',
  name: 'web',
  image: 'app:1',
  digest: `sha256:${'a'.repeat(64)}`,
  status: 'untrusted',
  statusCode: 1,
  level: 0,
  verifiedAt: '2026-01-01T00:00:00Z',
  drift: false,
  state: 'running',
  labels: {},
};

/** An ApiSource that answers from one node and counts what it was asked. */
function fakeSource(calls: string[]): ApiSource {
  const node = { node: 'n1', status: 'up' as const, counts: countStatuses([container]), local: true };
  const called = <T>(name: string, value: T): Promise<T> => {
    calls.push(name);
    return Promise.resolve(value);
  };
  return {
    generation: 'g1',
    health: () => called('health', { ok: true, status: 'ok' }),
    describe: () => ({ node: 'n1' }),
    local: () => ({ node, containers: [container] }),
    nodes: () => called('nodes', [node]),
    containers: () => called('containers', [container]),
    images: () => called('images', []),
    summary: () => called('summary', { nodes: [], total: countStatuses([]) }),
    series: () => called('series', []),
    events: () => called('events', []),
    statements: (digest) =>
      called('statements', { digest, treeSize: 0, origin: 'o', statements: [] } as never),
    verifyNow: () => called('verifyNow', [container]),
    verifyAll: () => called('verifyAll', { containers: [container], unreachable: [] }),
  };
}

const ROUTES = [
  '/api/v1',
  '/api/v1/local',
  '/api/v1/nodes',
  '/api/v1/containers',
  '/api/v1/images',
  '/api/v1/summary',
  '/api/v1/history',
  '/api/v1/events',
  '/api/v1/ledger/statements',
  '/healthz',
];
const PARAMS = [
  'node',
  'status',
  'scope',
  'from',
  'to',
  'step',
  'limit',
  'digest',
  'x',
  '__proto__',
  'constructor',
];
const value = fc.oneof(
  hostileText(20),
  fc.constantFrom(
    '',
    'n1',
    'trusted',
    'bogus',
    'local',
    'fleet',
    '0',
    '-1',
    '1e3',
    '1.5',
    '99999999999999999',
    '2026-01-01T00:00:00Z',
    '30s',
    '0s',
    '1ms',
    '5m',
    '1h',
    '999999999d',
    `sha256:${'a'.repeat(64)}`,
    'x'.repeat(300),
  ),
);
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...PARAMS), hostileText(6)), value), { maxLength: 4 })
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
const verifyBody = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.record(
    {
      node: fc.oneof(value, fc.jsonValue({ maxDepth: 1 })),
      container: fc.oneof(value, fc.jsonValue({ maxDepth: 1 })),
      all: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
    },
    { requiredKeys: [] },
  ),
);
const authorization = fc.oneof(
  fc.constant(`Bearer ${TOKEN}`),
  fc.constant(undefined),
  hostileText(40),
  fc.constantFrom('Bearer', 'Bearer ', `bearer  ${TOKEN} `, `Basic ${TOKEN}`, `Bearer ${TOKEN}x`),
);

describe('agent API (generated hostile parameters)', () => {
  it('answers any request, or refuses it with a typed 4xx that asks nothing of the source', async () => {
    const calls: string[] = [];
    const api = buildAgentApi({
      source: fakeSource(calls),
      token: TOKEN,
      clock: () => Date.parse('2026-06-01T00:00:00Z'),
    });
    after(() => api.close());
    let sent = 0;
    await checkAsyncProperty(
      'agent api: hostile queries, bodies and tokens',
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            method: fc.constant('GET' as const),
            path: fc.oneof(
              fc.constantFrom(...ROUTES),
              hostileText(20).map((p) => `/api/v1/${encodeURIComponent(p)}`),
            ),
            body: fc.constant(undefined),
          }),
          fc.record({
            method: fc.constant('POST' as const),
            path: fc.constant('/api/v1/verify'),
            body: verifyBody,
          }),
        ),
        query,
        authorization,
        async (req, q, auth) => {
          calls.length = 0;
          sent += 1;
          const res = await api.inject({
            // Each request from its own address: per-client rate limits are not under test here.
            remoteAddress: `127.${(sent >> 16) & 255}.${(sent >> 8) & 255}.${sent & 255}`,
            method: req.method,
            url: `${req.path}${q ? `?${q}` : ''}`,
            headers: {
              ...(auth === undefined ? {} : { authorization: auth }),
              ...(req.body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            ...(req.body === undefined ? {} : { payload: JSON.stringify(req.body) }),
          });
          assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 300)}`);
          if (res.statusCode < 400) return;
          const answer = res.json() as { error?: { code?: string; message?: string } | string };
          if (typeof answer.error !== 'object') {
            assert.equal(res.statusCode, 404, res.body);
            return;
          }
          assert.ok(typeof answer.error.code === 'string' && answer.error.code in ERROR_CODES, res.body);
          assert.equal(typeof answer.error.message, 'string');
          if (res.statusCode === 401) assert.notEqual(auth, `Bearer ${TOKEN}`);
          // The health route answers for the source; every refused request reaches nothing else.
          assert.deepEqual(
            calls.filter((c) => c !== 'health'),
            [],
            `${req.method} ${req.path}?${q} reached the source`,
          );
        },
      ),
      { runs: 800 },
    );
  });
});
