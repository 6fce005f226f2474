// A GENERATED fleet for the fleet-scale screenshot and bench/browser.bench.ts: an HTTP server
// that answers the agent API's read routes (/api/v1, /nodes, /containers, /summary, /images)
// for N nodes × M containers made up here, typed by the wire-type module. It is not an
// agent: no engine or ledger stands behind it. Only the browser's side is under test with it
// (the same stand-in and the same backend executable as against the real agent).

import { createServer, type Server } from 'node:http';
import {
  API_VERSION,
  countStatuses,
  type ContainerResult,
  type FleetSummary,
  type NodeState,
  type TrustStatus,
} from '../../pkg/api/types';

export interface GeneratedFleet {
  url: string;
  nodes: NodeState[];
  containers: ContainerResult[];
  close(): Promise<void>;
}

/** Mostly trusted, as a fleet is: one untrusted container in 61, one unknown in 89, one unsupported in 113. */
function statusOf(i: number): TrustStatus {
  if (i % 61 === 7) return 'untrusted';
  if (i % 89 === 11) return 'unknown';
  if (i % 113 === 13) return 'unsupported';
  return 'trusted';
}

const CODE: Record<TrustStatus, number> = { trusted: 0, untrusted: 1, unknown: 2, unsupported: 3 };
const APPS = ['api', 'web', 'worker', 'cache', 'db', 'queue', 'proxy', 'metrics', 'cron', 'auth'];

export function generateFleet(
  nodeCount: number,
  perNode: number,
): { nodes: NodeState[]; containers: ContainerResult[] } {
  const containers: ContainerResult[] = [];
  const nodes: NodeState[] = [];
  const hex = (n: number) => n.toString(16).padStart(64, '0');
  for (let n = 0; n < nodeCount; n++) {
    const node = `node-${String(n).padStart(4, '0')}`;
    const unreachable = n % 250 === 17;
    const mine: ContainerResult[] = [];
    for (let c = 0; c < perNode; c++) {
      const i = n * perNode + c;
      const app = APPS[c % APPS.length] as string;
      const status = unreachable ? 'unknown' : statusOf(i);
      mine.push({
        node,
        id: hex(i + 1),
        name: `${app}-${c}`,
        image: `registry.example/${app}:${1 + (i % 7)}`,
        digest: `sha256:${hex(1_000_000 + (i % 500))}`,
        status,
        statusCode: CODE[status],
        level: 0,
        verifiedAt: '2026-12-01T00:00:00Z',
        drift: false,
        state: 'running',
        labels: {},
        ...(status === 'untrusted'
          ? { reason: 'the newest statement of an allowed signer says untrusted' }
          : {}),
        ...(unreachable ? { lastKnownStatus: statusOf(i), reason: 'node unreachable (timeout)' } : {}),
      });
    }
    containers.push(...mine);
    nodes.push({
      node,
      status: unreachable ? 'unreachable' : 'up',
      ...(unreachable ? { reason: 'timeout' } : { lastScan: '2026-12-01T00:00:00Z', ageSeconds: 4 }),
      counts: countStatuses(mine),
      local: n === 0,
    });
  }
  return { nodes, containers };
}

export async function startGeneratedFleet(nodeCount: number, perNode: number): Promise<GeneratedFleet> {
  const { nodes, containers } = generateFleet(nodeCount, perNode);
  const summary: FleetSummary = {
    nodes: nodes.map((n) => ({ node: n.node, status: n.status, ...n.counts })),
    total: countStatuses(containers),
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fleet');
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    const path = url.pathname.replace(`/api/${API_VERSION}`, '');
    if (url.pathname === '/healthz') return send(200, { ok: true, status: 'generated' });
    if (!url.pathname.startsWith(`/api/${API_VERSION}`))
      return send(404, { error: { code: 'NOT_FOUND', message: 'no route' } });
    if (path === '') return send(200, { api: API_VERSION, node: 'generated-fleet', peers: nodeCount - 1 });
    if (path === '/nodes') return send(200, { nodes });
    if (path === '/summary') return send(200, summary);
    if (path === '/containers') {
      const node = url.searchParams.get('node');
      const status = url.searchParams.get('status');
      return send(200, {
        containers: containers.filter((c) => (!node || c.node === node) && (!status || c.status === status)),
      });
    }
    return send(404, {
      error: { code: 'NOT_FOUND', message: `the generated fleet does not answer ${path}` },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    nodes,
    containers,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
