// `imagetrust authz` as a real dockerd's authorization plugin (a unique plugin name: the
// plugin folder is shared by every engine on the machine): `docker run` of a trusted image
// works, untrusted and never-signed are refused with the reason, a start is judged by the
// container's fixed image, a dry run allows and counts, a dead plugin makes the engine refuse,
// an oversized create body is refused, and hostile requests sent straight to the plugin's
// socket never crash it and never allow a create or start.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { importImage, startEngine, type Engine } from './harness/docker';
import { BIN, cliFor } from './harness/cli';
import { startAgentProcess, startLedgerServer } from './harness/agent';
import { freePort, run, startBackground, waitFor, type Background } from './harness/process';

const NAME = `itd-authz-${process.pid}`;
const SOCKET = `/run/docker/plugins/${NAME}.sock`;
let work: string;
let engine: Engine;
let ledger: { url: string; stop(): Promise<void> };
let signerId: string;
let plugin: Background | undefined;
let metricsUrl: string;
let auditLog: string;

async function startPlugin(extra: string[] = []): Promise<void> {
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}`;
  plugin = startBackground(
    process.execPath,
    [
      BIN,
      'authz',
      '--name',
      NAME,
      '--ledger',
      ledger.url,
      '--signer',
      signerId,
      '--audit-log',
      auditLog,
      '--max-staleness',
      '0',
      '--metrics-listen',
      `127.0.0.1:${port}`,
      ...extra,
    ],
    join(work, 'authz.log'),
    {
      PATH: process.env.PATH,
      HOME: work,
      IMAGETRUST_HOME: work,
      DOCKER_HOST: engine?.host ?? 'unix:///nonexistent/docker.sock',
    },
  );
  await waitFor(`authz plugin (${work}/authz.log)`, async () =>
    (await fetch(`${metricsUrl}/metrics`)).ok ? true : undefined,
  );
}

async function stopPlugin(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await plugin?.stop(signal);
  plugin = undefined;
}

/** `docker run` through the engine (and so through the plugin). */
async function dockerRun(image: string, name: string): Promise<{ code: number; stderr: string }> {
  return run('docker', ['run', '-d', '--network', 'none', '--name', name, image, 'sleep', '600'], {
    env: { ...process.env, DOCKER_HOST: engine.host },
    timeoutMs: 60_000,
  });
}

/** Posts a document to the plugin's socket as dockerd would. */
function toPlugin(path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: SOCKET, path, method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  work = mkdtempSync('/tmp/itd-authz-');
  auditLog = join(work, 'audit.jsonl');
  const ledgerHome = mkdtempSync(join(work, 'ledger-'));
  ledger = await startLedgerServer(ledgerHome);
  const keygen = await cliFor(ledgerHome, 'unix:///nonexistent')(['keygen']);
  assert.equal(keygen.code, 0, keygen.stderr);
  signerId = keygen.stdout.trim();
  // dockerd will not start while a configured plugin is missing: the plugin comes first.
  await startPlugin();
  engine = await startEngine('authz', { extraArgs: ['--authorization-plugin', NAME] });
  await stopPlugin();
  await startPlugin();
  const signer = cliFor(ledgerHome, engine.host, { IMAGETRUST_LEDGER: ledger.url });
  await importImage(engine, 'local/trusted:1', 'authz-trusted');
  await importImage(engine, 'local/untrusted:1', 'authz-untrusted');
  await importImage(engine, 'local/unsigned:1', 'authz-unsigned');
  for (const [verb, ref] of [
    ['sign', 'local/trusted:1'],
    ['untrust', 'local/untrusted:1'],
  ]) {
    const r = await signer([verb as string, `docker://${ref}`]);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  if (!plugin) await startPlugin().catch(() => undefined); // the engine needs it to remove its containers
  await engine?.stop();
  await stopPlugin();
  await ledger?.stop();
  rmSync(SOCKET, { force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('imagetrust authz on a real dockerd', () => {
  it('runs a trusted image and refuses untrusted and never-signed ones, saying why', async () => {
    const ok = await dockerRun('local/trusted:1', 'ok');
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await dockerRun('local/untrusted:1', 'bad');
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      new RegExp(`authorization denied by plugin ${NAME}: imagetrust: sha256:[0-9a-f]{64} is untrusted by`),
    );
    const unsigned = await dockerRun('local/unsigned:1', 'unsigned');
    assert.notEqual(unsigned.code, 0);
    assert.match(unsigned.stderr, /imagetrust: sha256:[0-9a-f]{64} is not trusted: never notarized/);
    const lines = readFileSync(auditLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { verdict: string; action: string });
    assert.ok(lines.some((l) => l.action === 'container-create' && l.verdict === 'refused'));
    assert.ok(lines.some((l) => l.action === 'container-start' && l.verdict === 'allowed'));
    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    assert.match(
      metrics,
      /imagetrust_admission_decisions_total\{action="container-create",verdict="refused"\} 2/,
    );
    const refusals = (await (await fetch(`${metricsUrl}/api/v1/admission/refusals`)).json()) as {
      refusals: unknown[];
    };
    assert.equal(refusals.refusals.length, 2);
    // The node's agent serves them from the plugin's audit log (the Grafana app's Node page shows them).
    const agent = await startAgentProcess({
      work,
      dockerHost: engine.host,
      args: [
        '--node',
        'authz-node',
        '--ledger',
        ledger.url,
        '--signer',
        signerId,
        '--admission-log',
        auditLog,
      ],
    });
    try {
      const r = await agent.get('/api/v1/admission/refusals');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const listed = r.body.refusals as { verdict: string; message: string }[];
      assert.equal(listed.length, 2);
      assert.match(listed[0]?.message ?? '', /is untrusted by/);
    } finally {
      await agent.stop();
    }
  });

  it('judges a start by the container’s fixed image, not by where its tag points now', async () => {
    // A create that slipped through (the tag moved between the check and the create) is caught at start.
    await stopPlugin();
    await startPlugin(['--rule', 'container-create=allow']);
    const created = await run(
      'docker',
      ['create', '--network', 'none', '--name', 'slipped', 'local/untrusted:1', 'sleep', '600'],
      {
        env: { ...process.env, DOCKER_HOST: engine.host },
      },
    );
    assert.equal(created.code, 0, created.stderr);
    await stopPlugin();
    await startPlugin();
    const start = await run('docker', ['start', 'slipped'], {
      env: { ...process.env, DOCKER_HOST: engine.host },
    });
    assert.notEqual(start.code, 0);
    assert.match(start.stderr, /is untrusted by/);
    // And the other way round: created from a trusted tag, the tag then moved: it starts what it was created from.
    await engine.docker(['tag', 'local/trusted:1', 'local/moving:1']);
    const made = await run(
      'docker',
      ['create', '--network', 'none', '--name', 'moved', 'local/moving:1', 'sleep', '600'],
      {
        env: { ...process.env, DOCKER_HOST: engine.host },
      },
    );
    assert.equal(made.code, 0, made.stderr);
    await engine.docker(['tag', 'local/untrusted:1', 'local/moving:1']);
    const started = await run('docker', ['start', 'moved'], {
      env: { ...process.env, DOCKER_HOST: engine.host },
    });
    assert.equal(started.code, 0, started.stderr);
  });

  it('refuses a create whose body the engine did not forward (over 1 MiB)', async () => {
    const body = JSON.stringify({
      Image: 'local/trusted:1',
      Cmd: ['sleep', '600'],
      Labels: { pad: 'x'.repeat(1_100_000) },
    });
    const socket = engine.host.replace(/^unix:\/\//, '');
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          socketPath: socket,
          path: '/v1.41/containers/create?name=big',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        },
        (r) => {
          let text = '';
          r.on('data', (d: Buffer) => (text += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.status, 403, res.text);
    assert.match(res.text, /did not forward the request body/);
  });

  it('never crashes and never allows a hostile create or start sent to its socket (fast-check)', async () => {
    const trustedId = (
      await engine.docker(['image', 'inspect', '--format', '{{.Id}}', 'local/trusted:1'])
    ).trim();
    const uri = fc.oneof(
      fc.string().map((s) => `/v1.41/containers/${encodeURIComponent(s)}/start`),
      fc.string().map((s) => `/containers/create?${s}`),
      fc.string({ maxLength: 200 }),
    );
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64')),
    );
    await fc.assert(
      fc.asyncProperty(uri, body, fc.boolean(), async (u, b, garbage) => {
        const doc = garbage
          ? `{"RequestMethod":"POST","RequestUri":${JSON.stringify(u)},"RequestBody":${JSON.stringify(b)}`
          : JSON.stringify({ User: 'fuzz', RequestMethod: 'POST', RequestUri: u, RequestBody: b });
        const res = await toPlugin('/AuthZPlugin.AuthZReq', doc);
        assert.equal(res.status, 200, res.body);
        const answer = JSON.parse(res.body) as { Allow: boolean };
        if (garbage) assert.equal(answer.Allow, false, `${u} ${b}`);
        const start = /^\/v1\.41\/containers\/([^/]+)\/start$/.exec(u);
        if (answer.Allow && start) {
          // Allowed only because it names a container that runs the trusted image (an id prefix can).
          const id = decodeURIComponent(start[1] as string);
          const image = await run('docker', ['inspect', '--format', '{{.Image}}', id], {
            env: { ...process.env, DOCKER_HOST: engine.host },
          });
          assert.equal(image.stdout.trim(), trustedId, `allowed ${u}`);
        }
        if (answer.Allow && u.includes('containers/create'))
          assert.fail(`allowed a create with a fuzzed body: ${b}`);
      }),
      { numRuns: 300 },
    );
    const health = await dockerRun('local/trusted:1', 'after-fuzz');
    assert.equal(health.code, 0, health.stderr);
  });

  it('dry run allows and counts what it would refuse', async () => {
    await stopPlugin();
    await startPlugin(['--dry-run']);
    const r = await dockerRun('local/untrusted:1', 'dry');
    assert.equal(r.code, 0, r.stderr);
    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    assert.match(
      metrics,
      /imagetrust_admission_decisions_total\{action="container-create",verdict="would-refuse"\} 1/,
    );
    await stopPlugin();
    await startPlugin();
  });

  it('fails closed: with the plugin killed the engine refuses', async () => {
    await stopPlugin('SIGKILL');
    const r = await dockerRun('local/trusted:1', 'no-plugin');
    assert.notEqual(r.code, 0);
    // Every call fails while the plugin is away, even the CLI's first ping.
    assert.match(r.stderr, /plugin|authorization|500 Internal Server Error/i);
    await startPlugin();
  });
});
