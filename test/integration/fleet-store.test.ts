// A fleet on PostgreSQL: two real Docker engines with agents that only connect out, publishing
// to one real PostgreSQL server, and a real `fleet serve` answering for both: statuses and
// drift, verify-now reaching the right node through LISTEN/NOTIFY, a killed agent going
// `unreachable`, PostgreSQL restarted under running agents (they buffer and recover; the fleet
// API answers errors, never an old view, while it is down), history and metrics.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { BIN, cliFor } from './harness/cli';
import { startAgentProcess, startLedgerServer, type AgentProcess } from './harness/agent';
import { freePort, startBackground, waitFor, type Background } from './harness/process';
import { startPostgres, type Postgres } from './harness/postgres';
import { FleetStore } from '../../pkg/fleet/store';
import type { ContainerResult } from '../../pkg/api/types';

const TOKEN = 'fleet-integration-token-0123';

/** What /api/v1/containers answers, as the one wire-type module declares it. */
type Container = ContainerResult;

let work: string;
let pg: Postgres;
let fleetDb: string;
let engineA: Engine;
let engineB: Engine;
let ledger: { url: string; stop(): Promise<void> };
let agentA: AgentProcess;
let agentB: AgentProcess;
let fleet: Background;
let api: string;
let common: string[];

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

async function containers(query = ''): Promise<Container[]> {
  const r = await get(`/api/v1/containers${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.containers as Container[];
}

function find(list: Container[], node: string, name: string): Container | undefined {
  return list.find((c) => c.node === node && c.name === name);
}

async function startAgent(engine: Engine, node: string): Promise<AgentProcess> {
  return startAgentProcess({
    work,
    dockerHost: engine.host,
    args: ['--node', node, ...common],
  });
}

before(async () => {
  work = mkdtempSync('/tmp/itd-fleet-');
  pg = await startPostgres();
  fleetDb = await pg.database('fleet');
  const ledgerHome = mkdtempSync(join(work, 'ledger-'));
  [engineA, engineB] = await Promise.all([startEngine('fa'), startEngine('fb')]);
  ledger = await startLedgerServer(ledgerHome);
  const signer = (engine: Engine) => cliFor(ledgerHome, engine.host, { IMAGETRUST_LEDGER: ledger.url });
  const keygen = await signer(engineA)(['keygen']);
  assert.equal(keygen.code, 0, keygen.stderr);
  const signerId = keygen.stdout.trim();
  for (const [engine, prefix] of [
    [engineA, 'a'],
    [engineB, 'b'],
  ] as const) {
    await importImage(engine, 'local/trusted:1', `${prefix}-trusted`);
    await importImage(engine, 'local/untrusted:1', `${prefix}-untrusted`);
    await importImage(engine, 'local/drift:1', `${prefix}-drift-old`);
    for (const [verb, ref] of [
      ['sign', 'local/trusted:1'],
      ['untrust', 'local/untrusted:1'],
      ['sign', 'local/drift:1'],
    ]) {
      const r = await signer(engine)([verb as string, `docker://${ref}`]);
      assert.equal(r.code, 0, r.stderr);
    }
    for (const name of ['trusted', 'untrusted', 'drift'])
      await runContainer(engine, `${prefix}-${name}`, `local/${name}:1`, ['--restart', 'always']);
    await importImage(engine, 'local/drift:1', `${prefix}-drift-new`);
  }
  common = [
    '--ledger',
    ledger.url,
    '--signer',
    signerId,
    '--token',
    TOKEN,
    '--resync',
    '2',
    '--fleet-db',
    fleetDb,
    '--fleet-heartbeat',
    '1',
  ];
  [agentA, agentB] = await Promise.all([startAgent(engineA, 'node-a'), startAgent(engineB, 'node-b')]);
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  fleet = startBackground(
    process.execPath,
    [BIN, 'fleet', 'serve', '--listen', `127.0.0.1:${port}`, '--stale-after', '4s'],
    join(work, 'fleet-serve.log'),
    { PATH: process.env.PATH, HOME: work, IMAGETRUST_FLEET_DB: fleetDb, IMAGETRUST_TOKEN: TOKEN },
  );
  await waitFor(`fleet serve (${work}/fleet-serve.log)`, async () =>
    (await fetch(`${api}/healthz`)).ok ? true : undefined,
  );
});

after(async () => {
  await Promise.allSettled([fleet?.stop(), agentA?.stop(), agentB?.stop(), ledger?.stop()]);
  await Promise.allSettled([engineA?.stop(), engineB?.stop(), pg?.stop()]);
  if (work && !process.env.IMAGETRUST_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

describe('fleet serve over the PostgreSQL fleet store', () => {
  it('answers for both nodes: statuses and drift, from agents that only connect out', async () => {
    const list = await waitFor('both nodes in the fleet store', async () => {
      const l = await containers();
      return l.filter((c) => ['trusted', 'untrusted'].includes(c.status)).length === 6 ? l : undefined;
    });
    for (const node of ['node-a', 'node-b']) {
      const prefix = node.slice(-1);
      assert.equal(find(list, node, `${prefix}-trusted`)?.status, 'trusted');
      assert.equal(find(list, node, `${prefix}-untrusted`)?.status, 'untrusted');
      assert.equal(find(list, node, `${prefix}-drift`)?.drift, true);
    }
    const nodes = (await get('/api/v1/nodes')).body.nodes as { node: string; status: string }[];
    assert.deepEqual(
      nodes.map((n) => [n.node, n.status]),
      [
        ['node-a', 'up'],
        ['node-b', 'up'],
      ],
    );
    const summary = (await get('/api/v1/summary')).body;
    assert.equal(summary.total.total, 6);
    assert.equal(summary.total.untrusted, 2);
    const one = await containers('?node=node-b&status=untrusted');
    assert.deepEqual(
      one.map((c) => c.name),
      ['b-untrusted'],
    );
    const images = (await get('/api/v1/images')).body.images as {
      status: string;
      nodes: string[];
      repoTags: string[];
    }[];
    // Each node imported its own image (their digests differ): one entry per digest, with its tags.
    const untrusted = images.filter((i) => i.status === 'untrusted');
    assert.deepEqual(untrusted.map((i) => i.nodes).sort(), [['node-a'], ['node-b']]);
    assert.ok(untrusted.every((i) => i.repoTags.includes('local/untrusted:1')));
    assert.equal((await fetch(`${api}/api/v1/summary`)).status, 401);
  });

  it('reports a container started on a node, and keeps its history and metrics', async () => {
    await runContainer(engineB, 'b-late', 'local/untrusted:1');
    await waitFor('b-late untrusted in the fleet API', async () =>
      find(await containers('?node=node-b'), 'node-b', 'b-late')?.status === 'untrusted' ? true : undefined,
    );
    const events = (await get('/api/v1/events')).body.events as {
      node: string;
      kind: string;
      containerName?: string;
    }[];
    assert.ok(
      events.some((e) => e.node === 'node-b' && e.kind === 'started' && e.containerName === 'b-late'),
    );
    const history = (await get(`/api/v1/history?from=${Date.now() - 600_000}&step=10s`)).body;
    assert.ok(
      history.points.some(
        (p: { node: string; untrusted: number }) => p.node === 'node-b' && p.untrusted >= 1,
      ),
    );
    // Metrics read the whole fleet, reused for a second: b-late shows within it.
    const metrics = await waitFor('metrics with b-late', async () => {
      const res = await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await res.text();
      return /imagetrust_containers\{node="node-b",status="untrusted"\} 2/.test(text) ? text : undefined;
    });
    assert.match(metrics, /imagetrust_node_up\{node="node-a"\} 1/);
    assert.match(
      metrics,
      /imagetrust_container_trust\{node="node-b",container_name="b-late",[^}]*status="untrusted"\} 0/,
    );
  });

  it('verify-now reaches the right node through LISTEN/NOTIFY', async () => {
    const res = await fetch(`${api}/api/v1/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ node: 'node-a', container: 'a-untrusted' }),
    });
    const body = (await res.json()) as { containers: Container[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.containers.map((c) => [c.node, c.name, c.status]),
      [['node-a', 'a-untrusted', 'untrusted']],
    );
    const missing = await fetch(`${api}/api/v1/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ node: 'node-a', container: 'no-such-container' }),
    });
    assert.equal(missing.status, 404);
  });

  it('shows a node whose agent was killed as unreachable, its containers unknown with their last status', async () => {
    await agentB.process.stop('SIGKILL');
    const list = await waitFor(
      'node-b unreachable',
      async () => {
        const l = await containers('?node=node-b');
        return l.length > 0 && l.every((c) => c.status === 'unknown') ? l : undefined;
      },
      20_000,
    );
    const untrusted = find(list, 'node-b', 'b-untrusted');
    assert.equal(untrusted?.lastKnownStatus, 'untrusted');
    assert.match(untrusted?.reason ?? '', /no heartbeat/);
    const nodes = (await get('/api/v1/nodes')).body.nodes as { node: string; status: string }[];
    assert.equal(nodes.find((n) => n.node === 'node-b')?.status, 'unreachable');
    const all = await fetch(`${api}/api/v1/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ all: true }),
    });
    const answer = (await all.json()) as {
      containers: Container[];
      unreachable: { node: string; code: string }[];
    };
    assert.equal(all.status, 200, JSON.stringify(answer));
    assert.deepEqual(
      answer.unreachable.map((u) => [u.node, u.code]),
      [['node-b', 'PEER_UNREACHABLE']],
    );
    assert.ok(answer.containers.every((c) => c.node === 'node-a'));
    agentB = await startAgent(engineB, 'node-b');
    await waitFor('node-b back', async () =>
      find(await containers('?node=node-b'), 'node-b', 'b-trusted')?.status === 'trusted' ? true : undefined,
    );
  });

  it('survives a PostgreSQL restart: agents buffer and recover, the API never answers an old view', async () => {
    await pg.halt();
    // The fleet server's replica answers for at most 3 s without reading the database; then it refuses.
    await new Promise((r) => setTimeout(r, 4500));
    const down = await get('/api/v1/containers');
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.error.code, 'STORE_UNREACHABLE');
    assert.equal((await fetch(`${api}/healthz`)).status, 503);
    // Meanwhile a node changes: the change waits in its agent.
    await runContainer(engineA, 'a-while-down', 'local/untrusted:1');
    await new Promise((r) => setTimeout(r, 3000));
    await pg.resume();
    const c = await waitFor(
      'the change made while PostgreSQL was down',
      async () => find(await containers('?node=node-a'), 'node-a', 'a-while-down'),
      30_000,
    );
    assert.equal(c.status, 'untrusted');
    const events = (await get('/api/v1/events')).body.events as { kind: string; containerName?: string }[];
    assert.ok(events.some((e) => e.kind === 'started' && e.containerName === 'a-while-down'));
    // Nothing was reported trusted while the store was unknown: the agents' own APIs still judge.
    const local = await agentA.get('/api/v1/containers', TOKEN);
    assert.equal(
      (local.body.containers as Container[]).find((x) => x.name === 'a-while-down')?.status,
      'untrusted',
    );
  });

  it('prunes history older than the retention in batches, keeping the rest', async () => {
    const old = Date.now() - 40 * 86_400_000;
    await pg.query(
      `INSERT INTO imagetrust_fleet.events (time, node, event) SELECT $1::bigint + g, 'node-old', '{"kind":"started"}' FROM generate_series(1, 12000) g`,
      [old],
      'fleet',
    );
    const store = await FleetStore.open({ url: fleetDb, staleMs: 30_000 });
    try {
      const removed = await store.prune(Date.now() - 30 * 86_400_000);
      assert.ok(removed >= 12_000, `removed ${removed}`);
      const left = await pg.query(
        "SELECT count(*) FILTER (WHERE node = 'node-old')::int AS old, count(*)::int AS n FROM imagetrust_fleet.events",
        [],
        'fleet',
      );
      assert.equal(left.rows[0].old, 0);
      assert.ok(left.rows[0].n > 0, 'recent events are kept');
    } finally {
      await store.close();
    }
  });
});
