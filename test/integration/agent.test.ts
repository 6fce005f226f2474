// The node agent against two real Docker engines (two nodes), a real `ledger serve` and real
// agent processes: statuses, drift, a container started while the agent runs, engine and
// ledger outages and recovery, the vcn-compatible command verifier, hostile labels, the API.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReadOnlyDocker } from '../../pkg/docker/engine';
import { isImagetrustError } from '../../pkg/errors';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { BIN, cliFor } from './harness/cli';
import { startAgentProcess, startLedgerServer, type AgentProcess } from './harness/agent';
import { startHostileLedger } from './harness/hostile-ledger';
import { waitFor } from './harness/process';
import type { ContainerResult } from '../../pkg/api/types';

const TOKEN = 'integration-token-0123456789';

let work: string;
let engineA: Engine;
let engineB: Engine;
let ledgerHome: string;
let ledger: { url: string; port: number; stop(): Promise<void> };
let signerId: string;
let agentA: AgentProcess;
let agentB: AgentProcess;
/** What every agent of the fleet runs with. */
let common: string[];

/** What /api/v1/containers answers, as the one wire-type module declares it. */
type Container = ContainerResult;

async function containersOf(agent: AgentProcess, query = ''): Promise<Container[]> {
  const res = await agent.get(`/api/v1/containers${query}`, TOKEN);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.containers as Container[];
}

async function waitForStatus(
  agent: AgentProcess,
  node: string,
  name: string,
  status: string,
  timeoutMs = 20_000,
): Promise<Container> {
  return waitFor(
    `${name} on ${node} to be ${status}`,
    async () =>
      (await containersOf(agent)).find((c) => c.node === node && c.name === name && c.status === status),
    timeoutMs,
    20,
  );
}

/** Builds one node: images of every kind, notarized through the shared ledger, and containers. */
async function populate(engine: Engine, prefix: string): Promise<void> {
  const signer = cliFor(ledgerHome, engine.host, { IMAGETRUST_LEDGER: ledger.url });
  await importImage(engine, 'local/trusted:1', `${prefix}-trusted`);
  await importImage(engine, 'local/untrusted:1', `${prefix}-untrusted`);
  await importImage(engine, 'local/unsupported:1', `${prefix}-unsupported`);
  await importImage(engine, 'local/unsigned:1', `${prefix}-unsigned`);
  await importImage(engine, 'local/drift:1', `${prefix}-drift-old`);
  for (const [verb, ref] of [
    ['sign', 'local/trusted:1'],
    ['untrust', 'local/untrusted:1'],
    ['unsupport', 'local/unsupported:1'],
    ['sign', 'local/drift:1'],
  ]) {
    const r = await signer([verb as string, `docker://${ref}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  for (const name of ['trusted', 'untrusted', 'unsupported', 'unsigned', 'drift']) {
    await runContainer(engine, `${prefix}-${name}`, `local/${name}:1`, ['--restart', 'always']);
  }
  // The tag moves on: the drift container still runs the old (trusted) image.
  await importImage(engine, 'local/drift:1', `${prefix}-drift-new`);
}

before(async () => {
  work = mkdtempSync('/tmp/itd-agent-');
  ledgerHome = mkdtempSync(join(work, 'ledger-'));
  [engineA, engineB] = await Promise.all([startEngine('a'), startEngine('b')]);
  ledger = await startLedgerServer(ledgerHome);
  const keygen = await cliFor(ledgerHome, engineA.host)(['keygen']);
  assert.equal(keygen.code, 0, keygen.stderr);
  signerId = keygen.stdout.trim();
  await Promise.all([populate(engineA, 'a'), populate(engineB, 'b')]);
  // Agents do not forward their API token to peers: they share a peer credential instead.
  const peerTokenFile = join(work, 'peer-token');
  writeFileSync(peerTokenFile, 'peer-credential-0123456789\n', { mode: 0o600 });
  common = [
    '--peer-token-file',
    peerTokenFile,
    '--ledger',
    ledger.url,
    '--signer',
    signerId,
    '--token',
    TOKEN,
    '--resync',
    '2',
    '--docker-timeout',
    '2',
  ];
  agentB = await startAgentProcess({ work, dockerHost: engineB.host, args: ['--node', 'node-b', ...common] });
  agentA = await startAgentProcess({
    work,
    dockerHost: engineA.host,
    args: ['--node', 'node-a', '--peer', agentB.url, '--peer-timeout', '1', ...common],
  });
});

after(async () => {
  await Promise.allSettled([agentA?.stop(), agentB?.stop(), ledger?.stop()]);
  await Promise.allSettled([engineA?.stop(), engineB?.stop()]);
  if (work && !process.env.IMAGETRUST_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

describe('agent on two nodes', () => {
  it('reports every container of the fleet by the image it runs, with drift', async () => {
    await waitForStatus(agentA, 'node-a', 'a-trusted', 'trusted');
    await waitForStatus(agentA, 'node-b', 'b-trusted', 'trusted');
    const all = await containersOf(agentA);
    const view = Object.fromEntries(
      all.map((c) => [`${c.node}/${c.name}`, `${c.status}${c.drift ? '+drift' : ''}`]),
    );
    for (const [node, p] of [
      ['node-a', 'a'],
      ['node-b', 'b'],
    ]) {
      assert.equal(view[`${node}/${p}-trusted`], 'trusted', JSON.stringify(view));
      assert.equal(view[`${node}/${p}-untrusted`], 'untrusted');
      assert.equal(view[`${node}/${p}-unsupported`], 'unsupported');
      assert.equal(view[`${node}/${p}-unsigned`], 'unknown');
      assert.equal(view[`${node}/${p}-drift`], 'trusted+drift');
    }
    const onlyB = await containersOf(agentA, '?node=node-b&status=untrusted');
    assert.deepEqual(
      onlyB.map((c) => c.name),
      ['b-untrusted'],
    );
    const summary = await agentA.get('/api/v1/summary', TOKEN);
    assert.deepEqual(summary.body.total, { trusted: 4, untrusted: 2, unsupported: 2, unknown: 2, total: 10 });
    const nodes = await agentA.get('/api/v1/nodes', TOKEN);
    assert.deepEqual(
      nodes.body.nodes.map((n: { node: string; status: string }) => `${n.node}:${n.status}`),
      ['node-a:up', 'node-b:up'],
    );
    const images = await agentA.get('/api/v1/images?node=node-a', TOKEN);
    assert.equal(images.body.images.length, 5);
  });

  it('reports a container started while it runs within moments, from the event stream (printed)', async () => {
    // An agent that would not resync for an hour: only the event stream can tell it.
    const watcher = await startAgentProcess({
      work,
      dockerHost: engineA.host,
      args: ['--node', 'node-a', '--ledger', ledger.url, '--signer', signerId, '--resync', '3600'],
    });
    try {
      await waitFor('first pass', async () =>
        (await watcher.get('/api/v1/containers')).body.containers.length > 0 ? true : undefined,
      );
      await importImage(engineA, 'local/late:1', 'a-late');
      const signer = cliFor(ledgerHome, engineA.host, { IMAGETRUST_LEDGER: ledger.url });
      assert.equal((await signer(['untrust', 'docker://local/late:1'])).code, 0);
      const started = Date.now();
      await runContainer(engineA, 'a-late', 'local/late:1');
      const runReturned = Date.now() - started;
      await waitForStatus(watcher, 'node-a', 'a-late', 'untrusted', 10_000);
      const seen = Date.now() - started;
      console.log(
        `# new untrusted container: docker run returned after ${runReturned} ms, API reported it after ${seen} ms`,
      );
      const events = await watcher.get(`/api/v1/events?from=${started - 1000}`);
      assert.ok(
        events.body.events.some(
          (e: { kind: string; containerName: string }) =>
            e.kind === 'started' && e.containerName === 'a-late',
        ),
      );
      const history = await watcher.get(`/api/v1/history?from=${started - 60_000}&step=5s`);
      assert.ok(history.body.points.length > 0);
      await engineA.docker(['rm', '-f', 'a-late']);
    } finally {
      await watcher.stop();
    }
  });

  it('keeps hostile labels intact and harmless', async () => {
    const labels = {
      quote: `it's "quoted" \\ back`,
      newline: 'line one\nline two',
      subshell: '$(touch /tmp/itd-pwned) `id`',
      unicode: 'ünïcødé ✓ 日本',
      big: 'x'.repeat(10_000),
    };
    const args: string[] = [];
    for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
    await runContainer(engineA, 'a-hostile.name_with-every.allowed_char', 'local/unsigned:1', args);
    const c = await waitForStatus(agentA, 'node-a', 'a-hostile.name_with-every.allowed_char', 'unknown');
    for (const [k, v] of Object.entries(labels)) assert.equal(c.labels[k], v, k);
    assert.equal(require('node:fs').existsSync('/tmp/itd-pwned'), false);
    await engineA.docker(['rm', '-f', 'a-hostile.name_with-every.allowed_char']);
  });

  it('guards its API with the token and names bad parameters', async () => {
    assert.equal((await agentA.get('/api/v1/containers')).status, 401);
    assert.equal((await agentA.get('/api/v1/containers', 'not-the-token')).status, 401);
    const bad = await agentA.get('/api/v1/containers?status=maybe', TOKEN);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'status');
  });

  it('re-verifies on demand, also on a peer', async () => {
    const local = await agentA.post('/api/v1/verify', { container: 'a-trusted' }, TOKEN);
    assert.equal(local.status, 200, JSON.stringify(local.body));
    assert.equal(local.body.containers[0].status, 'trusted');
    const remote = await agentA.post('/api/v1/verify', { node: 'node-b', container: 'b-untrusted' }, TOKEN);
    assert.equal(remote.status, 200, JSON.stringify(remote.body));
    assert.equal(remote.body.containers[0].name, 'b-untrusted');
    const all = await agentA.post('/api/v1/verify', { all: true }, TOKEN);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const nodes = new Set(all.body.containers.map((c: { node: string }) => c.node));
    assert.deepEqual([...nodes].sort(), ['node-a', 'node-b']);
    assert.deepEqual(all.body.unreachable, []);
  });

  it('shows the evidence signed with an image in its ledger statements', async () => {
    const signer = cliFor(ledgerHome, engineA.host, { IMAGETRUST_LEDGER: ledger.url });
    const r = await signer([
      'sign',
      'docker://local/trusted:1',
      '--attr',
      'ci.job=99',
      '--attr',
      'vcs.commit=cafe',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const digest = (await containersOf(agentA)).find((c) => c.name === 'a-trusted')?.digest as string;
    // The agent proves the ledger's newest checkpoint once per pass (every 2 s here).
    const last = await waitFor('the new statement in the agent', async () => {
      const res = await agentA.get(`/api/v1/ledger/statements?digest=${digest}`, TOKEN);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const statements = res.body.statements as { attributes: Record<string, string> }[];
      return statements.at(-1)?.attributes['ci.job'] === '99' ? statements.at(-1) : undefined;
    });
    assert.deepEqual(last.attributes, { 'ci.job': '99', 'vcs.commit': 'cafe' });
  });

  it('never writes to Docker: its client refuses anything but reads', async () => {
    const docker = new ReadOnlyDocker({ dockerHost: engineA.host });
    const before = (await docker.listContainers()).length;
    for (const attempt of [
      () => docker.raw.createContainer({ Image: 'local/trusted:1', name: 'should-not-exist' }),
      () => docker.raw.getContainer('a-trusted').stop(),
      () => docker.raw.getContainer('a-trusted').remove({ force: true }),
      () => docker.raw.pruneImages(),
    ]) {
      await assert.rejects(attempt, (err: unknown) => isImagetrustError(err, 'DOCKER_WRITE_REFUSED'));
    }
    assert.equal((await docker.listContainers()).length, before);
  });
});

describe('outages fail closed and recover', () => {
  async function nodeStatus(
    node: string,
    status: string,
  ): Promise<{ node: string; status: string; reason?: string }> {
    return waitFor(`${node} ${status}`, async () => {
      const nodes = (await agentA.get('/api/v1/nodes', TOKEN)).body.nodes as {
        node: string;
        status: string;
        reason?: string;
      }[];
      return nodes.find((n) => n.node === node && n.status === status);
    });
  }

  it('an engine that cannot be reached makes its node unreachable and its containers unknown, then recovers', async () => {
    // The engine hangs while its containers keep running.
    await engineB.freeze!();
    try {
      const down = await nodeStatus('node-b', 'unreachable');
      assert.match(down.reason ?? '', /unreachable/);
      const bView = await waitFor('node-b containers unknown', async () => {
        const view = await containersOf(agentA, '?node=node-b');
        return view.length > 0 && view.every((c) => c.status === 'unknown') ? view : undefined;
      });
      assert.ok(
        bView.every((c) => /node unreachable/.test(c.reason ?? '')),
        JSON.stringify(bView.map((c) => c.reason)),
      );
    } finally {
      await engineB.thaw!();
    }
    await waitForStatus(agentA, 'node-b', 'b-trusted', 'trusted');
    await nodeStatus('node-b', 'up');
  });

  it('an engine that stops and restarts is unreachable, then recovers', async () => {
    await engineB.halt!();
    await nodeStatus('node-b', 'unreachable');
    await engineB.resume!();
    await waitForStatus(agentA, 'node-b', 'b-trusted', 'trusted', 60_000);
    const events = await agentB.get(`/api/v1/events?node=node-b&from=${Date.now() - 120_000}`, TOKEN);
    const kinds = new Set(events.body.events.map((e: { kind: string }) => e.kind));
    assert.ok(kinds.has('node-unreachable') && kinds.has('node-up'), JSON.stringify([...kinds]));
  });

  it('a peer agent that stops answering shows as unreachable with its last known state', async () => {
    await agentB.stop();
    const node = await waitFor('peer unreachable', async () => {
      const nodes = (await agentA.get('/api/v1/nodes', TOKEN)).body.nodes as {
        node: string;
        status: string;
        ageSeconds?: number;
      }[];
      return nodes.find((n) => n.node === 'node-b' && n.status === 'unreachable');
    });
    assert.equal(typeof node.ageSeconds, 'number');
    const b = await containersOf(agentA, '?node=node-b');
    const trusted = b.find((c) => c.name === 'b-trusted');
    assert.ok(trusted, JSON.stringify(b));
    assert.equal(trusted?.status, 'unknown');
    assert.equal(trusted?.lastKnownStatus, 'trusted');
    // Re-verifying everything reports the peer it could not reach instead of dropping it.
    const all = await agentA.post('/api/v1/verify', { all: true }, TOKEN);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.ok(all.body.containers.every((c: { node: string }) => c.node === 'node-a'));
    assert.deepEqual(
      all.body.unreachable.map((u: { node: string; code: string }) => `${u.node}:${u.code}`),
      ['node-b:PEER_UNREACHABLE'],
    );
    agentB = await startAgentProcess({
      work,
      dockerHost: engineB.host,
      port: agentB.port,
      home: agentB.home,
      args: ['--node', 'node-b', ...common],
    });
    await waitForStatus(agentA, 'node-b', 'b-trusted', 'trusted');
  });

  it('a ledger that cannot be reached makes containers unknown, then recovers', async () => {
    await ledger.stop();
    const c = await waitForStatus(agentA, 'node-a', 'a-trusted', 'unknown');
    assert.match(c.reason ?? '', /LEDGER_UNREACHABLE/);
    ledger = await startLedgerServer(ledgerHome, ledger.port);
    await waitForStatus(agentA, 'node-a', 'a-trusted', 'trusted');
  });
});

describe('an agent behind a hostile ledger', () => {
  it('reports containers unknown with "ledger compromised" when lookups leave the untrust out, never trusted', async () => {
    const hostile = await startHostileLedger(ledger.url, 'drop-newest');
    const victim = await startAgentProcess({
      work,
      dockerHost: engineA.host,
      args: ['--node', 'node-a', '--ledger', hostile.url, '--signer', signerId, '--resync', '2'],
    });
    try {
      const untrusted = await waitForStatus(victim, 'node-a', 'a-untrusted', 'unknown');
      assert.match(untrusted.reason ?? '', /ledger compromised.*PROOF_INVALID/);
      const all = await containersOf(victim);
      assert.ok(all.length >= 5);
      assert.ok(
        all.every((c) => c.status !== 'trusted'),
        JSON.stringify(all.map((c) => [c.name, c.status])),
      );
      const metrics = await victim.get('/metrics');
      assert.match(metrics.body as string, /imagetrust_ledger_up\{node="node-a"\} 0/);
    } finally {
      await victim.stop();
      await hostile.stop();
    }
  });
});

describe('an agent with a witness policy', () => {
  it('reports containers unknown when no witness quorum cosigned the ledger, never trusted', async () => {
    const witnessKey = join(work, 'absent-witness.key');
    const k = await cliFor(work, engineA.host)(['witness', 'keygen', 'absent.example', '--key', witnessKey]);
    assert.equal(k.code, 0, k.stderr);
    const policy = join(work, 'witness-policy.txt');
    writeFileSync(policy, `witness w1 ${k.stdout.trim()}\nquorum w1\n`);
    const strict = await startAgentProcess({
      work,
      dockerHost: engineA.host,
      args: [
        '--node',
        'node-a',
        '--ledger',
        ledger.url,
        '--signer',
        signerId,
        '--witness-policy',
        policy,
        '--resync',
        '2',
      ],
    });
    try {
      const c = await waitForStatus(strict, 'node-a', 'a-trusted', 'unknown');
      assert.match(c.reason ?? '', /WITNESS_QUORUM/);
      assert.ok((await containersOf(strict)).every((x) => x.status !== 'trusted'));
    } finally {
      await strict.stop();
    }
  });
});

describe('gossip between agents', () => {
  it('finds a ledger that shows two nodes two histories, with both checkpoints, a metric and the API', async () => {
    // The operator runs a second ledger with the same key for node B only (a split view).
    const forkHome = mkdtempSync(join(work, 'fork-'));
    copyFileSync(join(ledgerHome, 'ledger.db.key'), join(forkHome, 'ledger.db.key'));
    const fork = await startLedgerServer(forkHome);
    const forkSigner = cliFor(mkdtempSync(join(work, 'fork-signer-')), engineB.host, {
      IMAGETRUST_LEDGER: fork.url,
    });
    await forkSigner(['keygen']);
    for (const d of ['1', '2', '3'])
      assert.equal((await forkSigner(['sign', '--hash', `sha256:${d.repeat(64)}`])).code, 0);
    const misled = await startAgentProcess({
      work,
      dockerHost: engineB.host,
      args: ['--node', 'node-b', '--ledger', fork.url, '--signer', signerId, '--resync', '1'],
    });
    const checker = await startAgentProcess({
      work,
      dockerHost: engineA.host,
      args: [
        '--node',
        'node-a',
        '--ledger',
        ledger.url,
        '--signer',
        signerId,
        '--resync',
        '1',
        '--peer',
        misled.url,
      ],
    });
    try {
      const found = await waitFor(
        'a split view',
        async () => {
          const r = await checker.get('/api/v1/ledger/split-views');
          return r.body.total >= 1 ? r.body : undefined;
        },
        30_000,
        200,
      );
      assert.match(found.splitViews[0].message, /split view/);
      assert.match(found.splitViews[0].ours, /\n\d+\n/);
      assert.match(found.splitViews[0].theirs, /\n3\n/);
      const metrics = await checker.get('/metrics');
      assert.match(metrics.body as string, /imagetrust_ledger_split_view_total\{node="node-a"\} 1/);
    } finally {
      await Promise.allSettled([checker.stop(), misled.stop(), fork.stop()]);
    }
  });
});

describe('vcn-compatible command as the verifier', () => {
  it('gives the same answers through `imagetrust verify` as an external command', async () => {
    const home = mkdtempSync(join(work, 'cmd-'));
    const command = JSON.stringify([
      process.execPath,
      BIN,
      'verify',
      '-o',
      'json',
      '--ledger',
      ledger.url,
      '--signer',
      signerId,
      '{ref}',
    ]);
    const agent = await startAgentProcess({
      work,
      dockerHost: engineA.host,
      home,
      args: ['--node', 'node-a', '--verifier', 'command', '--verifier-command', command],
    });
    try {
      await waitForStatus(agent, 'node-a', 'a-trusted', 'trusted', 30_000);
      const view = Object.fromEntries((await containersOf(agent)).map((c) => [c.name, c.status]));
      assert.equal(view['a-untrusted'], 'untrusted');
      assert.equal(view['a-unsupported'], 'unsupported');
      assert.equal(view['a-unsigned'], 'unknown');
    } finally {
      await agent.stop();
    }
  });

  it('a command that hangs, crashes or prints garbage gives unknown with the reason', async () => {
    const scripts = mkdtempSync(join(work, 'scripts-'));
    const cases: [string, string, RegExp][] = [
      ['hang', 'setInterval(() => {}, 1000);', /timed out/],
      ['crash', 'process.kill(process.pid, "SIGKILL");', /SIGKILL/],
      ['garbage', 'console.log("<html>not json</html>"); process.exit(0);', /no JSON/],
      [
        'liar',
        'console.log(JSON.stringify({verification:{status:0,level:0}})); process.exit(1);',
        /says trusted but it exited 1/,
      ],
    ];
    for (const [name, body, reason] of cases) {
      const file = join(scripts, `${name}.js`);
      writeFileSync(file, body);
      const agent = await startAgentProcess({
        work,
        dockerHost: engineA.host,
        args: [
          '--node',
          'node-a',
          '--verifier',
          'command',
          '--verifier-command',
          JSON.stringify([process.execPath, file, '{ref}']),
          '--verifier-timeout',
          '1',
        ],
      });
      try {
        const c = await waitFor(
          `${name}: a-trusted verified`,
          async () => (await containersOf(agent)).find((x) => x.name === 'a-trusted'),
          20_000,
        );
        assert.equal(c.status, 'unknown', name);
        assert.match(c.reason ?? '', reason, name);
      } finally {
        await agent.stop();
      }
    }
  });
});
