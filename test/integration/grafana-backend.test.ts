// The data source's backend executable (dist/datasource/gpx_imagetrust_linux_amd64) driven the
// way Grafana drives it (harness/grafana-backend.ts) against a real agent on a real Docker
// engine with a real ledger: handshake, gRPC health, CheckHealth, QueryData for every query
// type decoded with apache-arrow, alert-shaped frames that reduce to one number per node,
// resources, a per-query error for every kind of bad input while the process stays up, and
// a clean exit on SIGTERM with nothing on stdout but the handshake line.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startAgentProcess, startLedgerServer, type AgentProcess } from './harness/agent';
import { REPO, cliFor } from './harness/cli';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import {
  backendExecutable,
  startBackend,
  toGrafanaJson,
  type BackendProcess,
  type DataSourceSettings,
} from './harness/grafana-backend';
import { freePort, runOk, waitFor } from './harness/process';

const TOKEN = 'grafana-backend-token-0123456789';

let work: string;
let engine: Engine;
let ledger: { url: string; stop(): Promise<void> };
let agent: AgentProcess;
let frozenAgent: AgentProcess;
let huge: Server;
let backend: BackendProcess;
let ds: DataSourceSettings;
let deadPeer: string;
let trustedDigest: string;

before(async () => {
  work = mkdtempSync('/tmp/itd-grafana-');
  const exe = backendExecutable();
  if (!existsSync(exe)) await runOk('npm', ['run', 'build:backend'], { cwd: REPO, timeoutMs: 300_000 });
  const ledgerHome = mkdtempSync(join(work, 'ledger-'));
  engine = await startEngine('gfb');
  ledger = await startLedgerServer(ledgerHome);
  const cli = cliFor(ledgerHome, engine.host, { IMAGETRUST_LEDGER: ledger.url });
  const keygen = await cli(['keygen']);
  assert.equal(keygen.code, 0, keygen.stderr);
  const signer = keygen.stdout.trim();
  trustedDigest = await importImage(engine, 'local/trusted:1', 'gfb-trusted');
  await importImage(engine, 'local/untrusted:1', 'gfb-untrusted');
  await importImage(engine, 'local/unsigned:1', 'gfb-unsigned');
  for (const [verb, ref, ...extra] of [
    ['sign', 'local/trusted:1', '--attr', 'ci.job=4242', '--attr', 'vcs.commit=cafe'],
    ['untrust', 'local/untrusted:1'],
  ]) {
    const r = await cli([verb as string, `docker://${ref}`, ...extra]);
    assert.equal(r.code, 0, r.stderr);
  }
  for (const [name, image] of [
    ['t1', 'trusted'],
    ['t2', 'trusted'],
    ['u1', 'untrusted'],
    ['u2', 'untrusted'],
    ['u3', 'untrusted'],
    ['x1', 'unsigned'],
  ]) {
    await runContainer(engine, name as string, `local/${image}:1`);
  }
  // A peer that never answers: the agent reports it unreachable.
  deadPeer = `http://127.0.0.1:${await freePort()}`;
  const common = ['--ledger', ledger.url, '--signer', signer, '--token', TOKEN, '--resync', '2'];
  agent = await startAgentProcess({
    work,
    dockerHost: engine.host,
    args: ['--node', 'node-a', '--peer', deadPeer, '--peer-timeout', '1', ...common],
  });
  // A second agent, frozen later (SIGSTOP): it accepts connections and never answers.
  frozenAgent = await startAgentProcess({
    work,
    dockerHost: engine.host,
    args: ['--node', 'node-f', ...common],
  });
  // An "agent" whose answer never ends (bounded by the backend).
  huge = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const more = () => {
      while (sent < 64 && res.write(chunk)) sent += 1;
      if (sent < 64) res.once('drain', more);
      else res.end('{}');
    };
    res.write('{"containers":[');
    more();
  });
  await new Promise<void>((r) => huge.listen(0, '127.0.0.1', r));
  await waitFor('the agent to judge every container', async () => {
    const res = await agent.get('/api/v1/containers?node=node-a', TOKEN);
    const cs = (res.body.containers ?? []) as { status: string }[];
    return cs.length === 6 && cs.filter((c) => c.status === 'untrusted').length === 3 ? true : undefined;
  });
  backend = await startBackend();
  ds = { uid: 'imagetrust', url: agent.url, token: TOKEN, lastUpdatedMS: 1 };
});

after(async () => {
  frozenAgent?.process.child.kill('SIGCONT');
  await backend?.stop().catch(() => undefined);
  huge?.close();
  await Promise.allSettled([agent?.stop(), frozenAgent?.stop(), ledger?.stop()]);
  await engine?.stop();
  if (work && !process.env.IMAGETRUST_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

async function summaryOfAgent(): Promise<{
  nodes: { node: string; status: string; untrusted: number; unknown: number }[];
}> {
  const res = await agent.get('/api/v1/summary', TOKEN);
  assert.equal(res.status, 200);
  return res.body;
}

describe('the backend as Grafana starts it', () => {
  it('handshakes on 127.0.0.1 and serves gRPC health for "plugin"', async () => {
    console.log(
      `# handshake ${backend.handshakeMs.toFixed(0)} ms, SERVING ${backend.servingMs.toFixed(0)} ms`,
    );
    assert.ok(backend.port > 0);
    assert.equal(await backend.healthCheck('plugin'), 'SERVING');
    assert.equal(await backend.healthCheck('other'), 'SERVICE_UNKNOWN');
  });

  it('refuses to start outside Grafana, saying so on stderr', () => {
    const r = spawnSync(backendExecutable(), [], { env: { PATH: process.env.PATH }, timeout: 20_000 });
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout.toString(), '');
    assert.match(r.stderr.toString(), /grafana_plugin_type=datasource/);
    const v = spawnSync(backendExecutable(), [], {
      env: { PATH: process.env.PATH, grafana_plugin_type: 'datasource', PLUGIN_PROTOCOL_VERSIONS: '1' },
      timeout: 20_000,
    });
    assert.notEqual(v.status, 0);
    assert.match(v.stderr.toString(), /protocol versions 1/);
  });
});

describe('CheckHealth', () => {
  it("says today's verdicts", async () => {
    const res = await backend.checkHealth(ds);
    assert.equal(res.status, 'OK', res.message);
    assert.match(res.message, /2 nodes, 6 containers: 3 untrusted, 1 unknown; unreachable: /);
  });

  it('fails clearly without a URL, with a wrong token, when the agent is down', async () => {
    const noUrl = await backend.checkHealth({ uid: 'h1' });
    assert.equal(noUrl.status, 'ERROR');
    assert.match(noUrl.message, /no agent URL/);
    const wrong = await backend.checkHealth({ ...ds, uid: 'h2', token: 'wrong' });
    assert.equal(wrong.status, 'ERROR');
    assert.match(wrong.message, /token/);
    const down = await backend.checkHealth({ uid: 'h3', url: deadPeer });
    assert.equal(down.status, 'ERROR');
    assert.match(down.message, /Cannot reach the agent/);
  });
});

describe('QueryData', () => {
  it('answers every query type with Arrow frames', async () => {
    const results = await backend.queryData(ds, [
      { refId: 'containers', queryType: 'containers', json: { node: 'node-a' } },
      { refId: 'untrusted', queryType: 'containers', json: { status: 'untrusted' } },
      { refId: 'summary', queryType: 'summary' },
      { refId: 'history', queryType: 'history', json: { step: '10s' }, from: Date.now() - 600_000 },
      { refId: 'images', queryType: 'images' },
      { refId: 'statements', queryType: 'statements', json: { digest: trustedDigest } },
      { refId: 'evidence', queryType: 'evidence', json: { digest: trustedDigest } },
      { refId: 'events', queryType: 'events', from: Date.now() - 3_600_000 },
      { refId: 'counts', queryType: 'counts' },
      { refId: 'nodeUp', queryType: 'nodeUp' },
    ]);
    for (const [refId, r] of Object.entries(results)) {
      assert.equal(r.error, '', `${refId}: ${r.error}`);
      assert.equal(r.status, 200);
      assert.ok(r.frames.length > 0, refId);
      for (const f of r.frames) assert.equal(f.refId, refId);
    }
    const col = (refId: string, name: string, frame = 0) =>
      results[refId]!.frames[frame]!.fields.find((f) => f.name === name)!.values;
    assert.equal(col('containers', 'name').length, 6);
    assert.deepEqual(col('untrusted', 'status'), ['untrusted', 'untrusted', 'untrusted']);
    assert.deepEqual(new Set(col('summary', 'status')), new Set(['up', 'unreachable']));
    assert.ok(results.history!.frames.every((f) => f.meta?.type === 'timeseries-multi'));
    assert.ok(col('images', 'digest').includes(trustedDigest));
    assert.ok(col('statements', 'status').includes('trusted'));
    assert.deepEqual(
      Object.fromEntries(col('evidence', 'key').map((k, i) => [k, col('evidence', 'value')[i]])),
      { 'ci.job': '4242', 'vcs.commit': 'cafe' },
    );
    assert.ok(col('events', 'title').length > 0);
    assert.ok((col('events', 'tags') as string[][]).every((t) => Array.isArray(t) && t[0] === 'imagetrust'));
    // Grafana's JSON frames for a browser stand-in.
    const json = toGrafanaJson({ counts: results.counts! });
    assert.equal(json.results.counts!.frames[0]!.schema.meta?.type, 'numeric-multi');
    assert.equal(json.results.counts!.frames[0]!.schema.fields[0]!.typeInfo.frame, 'float64');
  });

  it('alert queries reduce to exactly one number per node (and status), equal to the API', async () => {
    const api = await summaryOfAgent();
    const results = await backend.queryData(ds, [
      { refId: 'A', queryType: 'counts', json: { status: 'untrusted' } },
      { refId: 'B', queryType: 'counts' },
      { refId: 'C', queryType: 'nodeUp' },
    ]);
    const series = (refId: string) =>
      results[refId]!.frames.map((f) => {
        assert.equal(f.meta?.type, 'numeric-multi');
        assert.equal(f.fields.length, 1);
        assert.equal(f.fields[0]!.type, 'number');
        assert.equal(f.fields[0]!.values.length, 1);
        return { labels: f.fields[0]!.labels!, value: f.fields[0]!.values[0] as number };
      });
    const untrusted = series('A');
    assert.deepEqual(untrusted.map((s) => s.labels.node).sort(), api.nodes.map((n) => n.node).sort());
    for (const n of api.nodes) {
      const one = untrusted.filter((s) => s.labels.node === n.node);
      assert.equal(one.length, 1);
      assert.equal(one[0]!.value, n.untrusted);
    }
    assert.equal(untrusted.find((s) => s.labels.node === 'node-a')!.value, 3);
    const all = series('B');
    assert.equal(all.length, api.nodes.length * 4);
    assert.equal(new Set(all.map((s) => `${s.labels.node}/${s.labels.status}`)).size, all.length);
    const up = series('C');
    assert.equal(up.find((s) => s.labels.node === 'node-a')!.value, 1);
    assert.equal(up.filter((s) => s.value === 0).length, 1);
    // The unreachable peer still has its frames.
    const down = api.nodes.find((n) => n.status === 'unreachable')!;
    assert.equal(all.filter((s) => s.labels.node === down.node).length, 4);
  });

  it('gives each bad query its own error, and the process stays up', async () => {
    const mixed = await backend.queryData(ds, [
      { refId: 'ok', queryType: 'counts' },
      { refId: 'malformed', json: Buffer.from('{"queryType": "counts",') },
      { refId: 'unknown', queryType: 'dropTables' },
      { refId: 'status', queryType: 'counts', json: { status: 'fine' } },
      { refId: 'digest', queryType: 'statements', json: { digest: 'sha256:nope' } },
    ]);
    assert.equal(mixed.ok!.error, '');
    for (const refId of ['malformed', 'unknown', 'status', 'digest']) {
      assert.match(mixed[refId]!.error, /^BAD_REQUEST/, refId);
      assert.deepEqual([mixed[refId]!.status, mixed[refId]!.errorSource], [400, 'plugin'], refId);
    }
    const cases: [string, DataSourceSettings, RegExp, number, string][] = [
      ['no url', { uid: 'q1' }, /^CONFIG_INVALID/, 500, 'plugin'],
      ['wrong token', { ...ds, uid: 'q2', token: 'wrong' }, /^UNAUTHORIZED/, 401, 'downstream'],
      ['unreachable', { uid: 'q3', url: deadPeer }, /^PEER_UNREACHABLE/, 502, 'downstream'],
      [
        'huge',
        { uid: 'q4', url: `http://127.0.0.1:${(huge.address() as AddressInfo).port}` },
        /^LIMIT_EXCEEDED/,
        502,
        'downstream',
      ],
    ];
    for (const [what, settings, error, status, source] of cases) {
      const r = (await backend.queryData(settings, [{ refId: 'A', queryType: 'containers' }])).A!;
      assert.match(r.error, error, what);
      assert.deepEqual([r.status, r.errorSource, r.frames.length], [status, source, 0], what);
      assert.ok(backend.alive(), what);
    }
    assert.equal(await backend.healthCheck(), 'SERVING');
  });

  it('honours the gRPC deadline with a slow agent', async () => {
    frozenAgent.process.child.kill('SIGSTOP');
    try {
      const started = Date.now();
      const r = (
        await backend.queryData(
          { uid: 'slow', url: frozenAgent.url, token: TOKEN },
          [{ refId: 'A', queryType: 'counts' }],
          {
            timeoutMs: 1500,
          },
        )
      ).A!;
      const took = Date.now() - started;
      assert.match(r.error, /^PEER_UNREACHABLE: .*within/);
      assert.deepEqual([r.status, r.errorSource], [504, 'downstream']);
      assert.ok(took < 1500, `answered after ${took} ms`);
    } finally {
      frozenAgent.process.child.kill('SIGCONT');
    }
    assert.ok(backend.alive());
  });

  it('rebuilds the instance when the settings change', async () => {
    const before = (
      await backend.queryData({ ...ds, uid: 'rot', token: 'old', lastUpdatedMS: 10 }, [
        { refId: 'A', queryType: 'nodeUp' },
      ])
    ).A!;
    assert.match(before.error, /^UNAUTHORIZED/);
    const afterChange = (
      await backend.queryData({ ...ds, uid: 'rot', lastUpdatedMS: 11 }, [{ refId: 'A', queryType: 'nodeUp' }])
    ).A!;
    assert.equal(afterChange.error, '');
  });
});

describe('CallResource', () => {
  it('proxies the allowed paths with the token added server side', async () => {
    const nodes = await backend.callResource(ds, { path: 'nodes' });
    assert.equal(nodes.status, 200);
    assert.match(nodes.headers['content-type']![0]!, /application\/json/);
    assert.equal(nodes.json().nodes.length, 2);
    const statements = await backend.callResource(ds, {
      path: 'ledger/statements',
      query: { digest: trustedDigest },
    });
    assert.equal(statements.status, 200);
    assert.ok(statements.json().statements.length >= 1);
    const verify = await backend.callResource(ds, {
      path: 'verify',
      method: 'POST',
      body: { node: 'node-a' },
    });
    assert.equal(verify.status, 200, verify.body.toString());
    assert.equal(verify.json().containers.length, 6);
    const containers = await backend.callResource(ds, { path: 'containers', query: { status: 'untrusted' } });
    assert.equal(containers.json().containers.length, 3);
  });

  it('refuses what is not on the list, without asking the agent', async () => {
    assert.equal((await backend.callResource(ds, { path: '../../healthz' })).status, 404);
    assert.equal((await backend.callResource(ds, { path: 'nodes', method: 'DELETE' })).status, 405);
    assert.equal((await backend.callResource(ds, { path: 'containers', query: { all: '1' } })).status, 400);
    assert.equal(
      (await backend.callResource(ds, { path: 'verify', method: 'POST', body: { rm: true } })).status,
      400,
    );
    assert.equal(
      (await backend.callResource({ ...ds, uid: 'r2', token: 'x' }, { path: 'nodes' })).status,
      401,
    );
    // The agent's own 400 travels back as it is.
    assert.equal(
      (await backend.callResource(ds, { path: 'containers', query: { status: 'fine' } })).status,
      400,
    );
  });
});

describe('shutdown', () => {
  it('has written nothing to stdout after the handshake, and exits within 2 s of SIGTERM', async () => {
    const metrics = await backend.collectMetrics();
    assert.match(metrics, /imagetrust_grafana_backend_queries_total\{query_type="counts",outcome="ok"\}/);
    assert.equal(backend.stdoutAfterHandshake(), '');
    const stopped = await backend.stop('SIGTERM');
    console.log(`# exit ${stopped.exitMs.toFixed(0)} ms after SIGTERM`);
    assert.equal(stopped.code, 0);
    assert.ok(stopped.exitMs < 2000, `${stopped.exitMs} ms`);
    assert.equal(backend.stdoutAfterHandshake(), '');
  });
});
