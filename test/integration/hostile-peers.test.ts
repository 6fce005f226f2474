// A real aggregating agent (its own Docker engine, a real ledger file) with two peers: a
// well-behaved one bound by name (`--peer n2=URL`), and a hostile one (a bare `--peer URL`):
// a real HTTP server in this test answering crafted JSON. What the hostile peer says must
// never break the aggregator's API or metrics, never change another node, never make anything
// trusted, and a 600 MB answer must be cut off while the agent's memory stays bounded.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { cliFor } from './harness/cli';
import { startAgentProcess, type AgentProcess } from './harness/agent';
import { waitFor } from './harness/process';
import type { ContainerResult, NodeState } from '../../pkg/api/types';

const TOKEN = 'hostile-peers-api-token-0123456789';
const PEER_TOKEN = 'hostile-peers-peer-token-9876543210';

type Mode = (req: IncomingMessage, res: ServerResponse) => void;

let work: string;
let engine: Engine;
let agent: AgentProcess;
let good: Server;
let hostile: Server;
let hostileUrl: string;
let mode: Mode;
/** Every Authorization header the peers were sent. */
const credentials = new Set<string>();

function container(node: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    node,
    id: 'c'.repeat(64),
    name: 'peer-web',
    image: 'local/peer:1',
    digest: `sha256:${'a'.repeat(64)}`,
    status: 'trusted',
    statusCode: 0,
    level: 0,
    verifiedAt: new Date().toISOString(),
    drift: false,
    state: 'running',
    labels: {},
    ...extra,
  };
}

function view(node: unknown, containers: unknown[]): unknown {
  return {
    node: {
      node,
      status: 'up',
      local: true,
      lastScan: new Date().toISOString(),
      counts: {
        trusted: containers.length,
        untrusted: 0,
        unsupported: 0,
        unknown: 0,
        total: containers.length,
      },
    },
    containers,
  };
}

const answer =
  (doc: unknown): Mode =>
  (_req, res) =>
    void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));

async function serve(handler: () => Mode): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.headers.authorization) credentials.add(req.headers.authorization);
    handler()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function get(path: string): Promise<{ status: number; body: any }> {
  return agent.get(path, TOKEN);
}

async function nodes(): Promise<NodeState[]> {
  const res = await get('/api/v1/nodes');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.nodes as NodeState[];
}

async function metrics(): Promise<string> {
  const res = await get('/metrics');
  assert.equal(res.status, 200, String(res.body));
  return res.body as string;
}

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round(kb / 1024);
}

before(async () => {
  work = mkdtempSync('/tmp/itd-hostile-peers-');
  engine = await startEngine('hp');
  const home = mkdtempSync(join(work, 'signer-'));
  const cli = cliFor(home, engine.host);
  const keygen = await cli(['keygen']);
  assert.equal(keygen.code, 0, keygen.stderr);
  await importImage(engine, 'local/trusted:1', 'hp-trusted');
  const signed = await cli(['sign', 'docker://local/trusted:1']);
  assert.equal(signed.code, 0, signed.stderr);
  await runContainer(engine, 'agg-web', 'local/trusted:1');

  ({ server: good } = await serve(() => answer(view('n2', [container('n2')]))));
  const goodUrl = `http://127.0.0.1:${(good.address() as AddressInfo).port}`;
  mode = answer(view('evil', [container(7)]));
  ({ server: hostile, url: hostileUrl } = await serve(() => mode));
  const tokenFile = join(work, 'peer.token');
  writeFileSync(tokenFile, `${PEER_TOKEN}\n`, { mode: 0o600 });
  agent = await startAgentProcess({
    work,
    dockerHost: engine.host,
    home,
    args: [
      '--node',
      'agg',
      '--ledger',
      join(home, 'ledger.db'),
      '--token',
      TOKEN,
      '--peer-token-file',
      tokenFile,
      '--peer',
      `n2=${goodUrl}`,
      '--peer',
      hostileUrl,
      '--peer-timeout',
      '20',
      '--resync',
      '2',
    ],
  });
  await waitFor('the local container to be trusted', async () => {
    const res = await get('/api/v1/containers?node=agg');
    return (res.body.containers as ContainerResult[] | undefined)?.find((c) => c.status === 'trusted');
  });
});

after(async () => {
  await agent?.stop();
  for (const s of [good, hostile]) {
    s?.closeAllConnections();
    s?.close();
  }
  await engine?.stop();
  if (work && !process.env.IMAGETRUST_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

describe('hostile peers against a real agent', () => {
  it('a container whose node is a number makes that peer unreachable; the API and /metrics still answer', async () => {
    mode = answer(view('evil', [container(7)]));
    const all = await nodes();
    const byUrl = new Map(all.map((n) => [n.url ?? n.node, n]));
    assert.equal(byUrl.get(hostileUrl)?.status, 'unreachable');
    assert.match(byUrl.get(hostileUrl)?.reason ?? '', /containers\[0\]\.node/);
    assert.deepEqual(
      all.map((n) => `${n.node}:${n.status}`),
      ['agg:up', 'n2:up', `${hostileUrl}:unreachable`],
    );
    for (const path of ['/api/v1/containers', '/api/v1/images', '/api/v1/summary']) {
      const res = await get(path);
      assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
    }
    const containers = (await get('/api/v1/containers')).body.containers as ContainerResult[];
    assert.deepEqual(containers.map((c) => `${c.node}/${c.name}:${c.status}`).sort(), [
      'agg/agg-web:trusted',
      'n2/peer-web:trusted',
    ]);
    const text = await metrics();
    assert.match(text, /imagetrust_node_up\{node="agg"\} 1/);
    assert.match(text, /imagetrust_node_up\{node="n2"\} 1/);
    assert.match(text, new RegExp(`imagetrust_node_up\\{node="${hostileUrl}"\\} 0`));
    assert.match(
      text,
      new RegExp(`imagetrust_peer_answers_refused_total\\{peer="${hostileUrl}",reason="invalid"\\} [1-9]`),
    );
  });

  it("a peer claiming another node's name or this agent's is refused and counted; that node is untouched", async () => {
    for (const claimed of ['n2', 'agg']) {
      mode = answer(
        view(claimed, [container(claimed, { status: 'untrusted', statusCode: 1, name: 'fake' })]),
      );
      await new Promise((r) => setTimeout(r, 1100)); // past the fan-out's 1 s reuse
      const all = await nodes();
      assert.deepEqual(
        all.map((n) => `${n.node}:${n.status}`),
        ['agg:up', 'n2:up', `${hostileUrl}:unreachable`],
        claimed,
      );
      const containers = (await get('/api/v1/containers')).body.containers as ContainerResult[];
      assert.ok(!containers.some((c) => c.name === 'fake'), JSON.stringify(containers));
    }
    // Answering validly as itself binds it to "evil"; claiming n2 after that is refused too.
    mode = answer(view('evil', [container('evil', { status: 'untrusted', statusCode: 1 })]));
    await new Promise((r) => setTimeout(r, 1100));
    assert.deepEqual(
      (await nodes()).map((n) => `${n.node}:${n.status}`),
      ['agg:up', 'n2:up', 'evil:up'],
    );
    mode = answer(view('n2', [container('n2', { status: 'untrusted', statusCode: 1, name: 'fake' })]));
    await new Promise((r) => setTimeout(r, 1100));
    const after = await nodes();
    assert.deepEqual(
      after.map((n) => `${n.node}:${n.status}`),
      ['agg:up', 'n2:up', 'evil:unreachable'],
    );
    assert.match(after[2]?.reason ?? '', /speaks for node evil only/);
    const evil = ((await get('/api/v1/containers?node=evil')).body.containers as ContainerResult[])[0];
    assert.equal(evil?.status, 'unknown');
    const claims = new RegExp(
      `imagetrust_peer_answers_refused_total\\{peer="${hostileUrl}",reason="node_name"\\} (\\d+)`,
    ).exec(await metrics());
    assert.ok(Number(claims?.[1]) >= 3, claims?.[0]);
  });

  it('a 600 MB answer is cut off while it streams in, with the agent RSS bounded', async () => {
    let sent = 0;
    let closed = false;
    mode = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => (closed = true));
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      res.write('{"node":{"node":"evil","pad":"');
      const pump = (): void => {
        while (!res.destroyed && sent < 600 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end('"}}');
      };
      pump();
    };
    const pid = agent.process.child.pid as number;
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
    try {
      await new Promise((r) => setTimeout(r, 1100));
      const started = Date.now();
      const all = await nodes();
      const evil = all.find((n) => n.url === hostileUrl);
      assert.equal(evil?.status, 'unreachable');
      assert.match(evil?.reason ?? '', /too large/);
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
      await waitFor('the connection to be closed', async () => (closed ? true : undefined), 5000);
    } finally {
      clearInterval(sampler);
    }
    process.stdout.write(
      `# 600 MB answer: ${Math.round(sent / 1024 / 1024)} MiB sent before the agent hung up; agent RSS ${before} MB before, peak ${peak} MB\n`,
    );
    assert.ok(sent < 100 * 1024 * 1024, `${sent} bytes sent`);
    assert.ok(peak - before < 150, `RSS grew from ${before} to ${peak} MB`);
    assert.equal((await get('/api/v1/containers')).status, 200);
  });

  it('peers are sent the peer credential, never the API token', () => {
    assert.deepEqual([...credentials], [`Bearer ${PEER_TOKEN}`]);
  });
});
