import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Writable, type Readable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { ImagetrustError } from '../errors';
import type { ContainerSummary, DockerReader, ImageInspect } from '../docker/engine';
import { unknown, type Epoch, type Verification, type Verifier, type VerifyTarget } from '../verify/verifier';
import { Agent } from './agent';
import { buildAgentApi } from './api';
import { loadAgentConfig, redactedConfig } from './config';
import { History } from './history';
import type { EngineSource, EngineView } from './engine-source';
import { Fleet } from './fleet';
import { NodeMonitor } from './monitor';
import { historyPublisher, type NodeUpdate, type Publisher } from './publish';
import { ownContainerMatcher } from './self';
import { assertCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, tempDir, Words } from '../testing/fixtures';
import { LocalBackend } from '../ledger/backend';
import { LedgerClient } from '../ledger/client';
import { openLocalLedger } from '../ledger/open';
import { policyForSigners } from '../ledger/policy';
import { MemoryStateStore } from '../ledger/state';
import { BuiltinVerifier } from '../verify/builtin';

const D = (c: string) => `sha256:${c.repeat(64)}`;

/** An in-process engine: containers and images set by the test. */
class FakeDocker implements DockerReader {
  readonly address = 'fake://';
  containers: ContainerSummary[] = [];
  images = new Map<string, string>(); // ref or digest -> digest
  down = false;
  events = new PassThrough();
  lists = 0;

  async ping(): Promise<void> {}
  async version() {
    return { Version: '99.0', ApiVersion: '1.99' };
  }
  async listContainers(): Promise<ContainerSummary[]> {
    this.lists += 1;
    if (this.down) throw new ImagetrustError('DOCKER_UNREACHABLE', 'engine is down');
    return this.containers.map((c) => ({ ...c }));
  }
  async inspectImage(ref: string): Promise<ImageInspect> {
    const id = this.images.get(ref) ?? (ref.startsWith('sha256:') ? ref : undefined);
    if (!id) throw new ImagetrustError('IMAGE_NOT_FOUND', `no image ${ref}`);
    return { Id: id, RepoTags: [], RepoDigests: [], Os: 'linux', Architecture: 'amd64', Size: 1 };
  }
  async containerImageRef(id: string): Promise<string | undefined> {
    return this.createdWith.get(id);
  }
  createdWith = new Map<string, string>();
  async containerEvents(): Promise<Readable> {
    if (this.down) throw new ImagetrustError('DOCKER_UNREACHABLE', 'engine is down');
    return this.events;
  }
  run(id: string, name: string, image: string, digest: string, labels: Record<string, string> = {}): void {
    this.containers.push({
      Id: id.padEnd(64, '0'),
      Names: [`/${name}`],
      Image: image,
      ImageID: digest,
      Labels: labels,
      State: 'running',
      Status: 'Up',
      Created: 0,
    });
  }
}

class FakeVerifier implements Verifier {
  readonly kind = 'builtin' as const;
  verdicts = new Map<string, Verification>();
  calls = 0;
  epochValue = 'cp/1';
  broken: string | undefined;
  async epoch(): Promise<Epoch> {
    if (this.broken) throw new ImagetrustError('LEDGER_UNREACHABLE', this.broken);
    return { key: this.epochValue, treeSize: Number(this.epochValue.split('/')[1]) };
  }
  async verify(target: VerifyTarget): Promise<Verification> {
    this.calls += 1;
    return this.verdicts.get(target.digest) ?? unknown('never notarized', false);
  }
  async close(): Promise<void> {}
}

const trusted: Verification = {
  status: 'trusted',
  statusCode: 0,
  level: 2,
  signer: 'k'.repeat(32),
  signedAt: '2026-01-01T00:00:00Z',
};
const untrusted: Verification = { status: 'untrusted', statusCode: 1, level: 0, signer: 'k'.repeat(32) };
const logger = pino({ level: 'silent' });

function setup(options: { history?: History; publishers?: Publisher[]; fleet?: Fleet; node?: string } = {}) {
  const { history, publishers = [], fleet } = options;
  const docker = new FakeDocker();
  const verifier = new FakeVerifier();
  const monitor = new NodeMonitor({
    node: options.node ?? 'n1',
    docker,
    verifier,
    logger,
    resyncMs: 3_600_000,
    cacheTtlMs: 60_000,
    publishers: [...(history ? [historyPublisher(history)] : []), ...publishers],
  });
  return { docker, verifier, monitor, agent: new Agent(monitor, fleet, history) };
}

/** A publisher that keeps what it is given. */
function recorder(name = 'recorder'): Publisher & { updates: NodeUpdate[] } {
  const updates: NodeUpdate[] = [];
  return { name, updates, publish: (u) => void updates.push(u) };
}

/** A logger that keeps its error lines. */
function capturingLogger(): { logger: Logger; errors: Record<string, unknown>[] } {
  const errors: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = JSON.parse(chunk.toString('utf8')) as Record<string, unknown>;
      if (line.level === 50) errors.push(line);
      done();
    },
  });
  return { logger: pino({ level: 'error' }, stream), errors };
}

/** A URL nothing listens on (a port just given back). */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('NodeMonitor', () => {
  it('judges containers by the digest they run and reports drift', async () => {
    const { docker, verifier, monitor } = setup();
    docker.images.set('app:1', D('a'));
    docker.run('c1', 'web', 'app:1', D('a'));
    docker.run('c2', 'old', D('b'), D('b')); // started as app:1 before the tag moved to a: the list shows the ID
    docker.createdWith.set('c2'.padEnd(64, '0'), 'app:1');
    docker.run('c3', 'byid', D('c'), D('c'));
    verifier.verdicts.set(D('a'), trusted);
    verifier.verdicts.set(D('b'), untrusted);
    await monitor.pass();
    const byName = new Map(monitor.containers().map((c) => [c.name, c]));
    assert.equal(byName.get('web')?.status, 'trusted');
    assert.equal(byName.get('web')?.drift, false);
    assert.equal(byName.get('old')?.status, 'untrusted');
    assert.equal(byName.get('old')?.drift, true);
    assert.equal(byName.get('old')?.driftDigest, D('a'));
    assert.equal(byName.get('old')?.image, 'app:1');
    assert.equal(byName.get('byid')?.status, 'unknown');
    assert.equal(monitor.state().status, 'up');
    assert.deepEqual(monitor.state().counts, {
      trusted: 1,
      untrusted: 1,
      unsupported: 0,
      unknown: 1,
      total: 3,
    });
  });

  it('caches by digest and checkpoint; a new checkpoint or a fresh pass re-verifies', async () => {
    const { docker, verifier, monitor } = setup();
    docker.run('c1', 'a', 'x', D('a'));
    docker.run('c2', 'b', 'x', D('a'));
    verifier.verdicts.set(D('a'), trusted);
    await monitor.pass();
    await monitor.pass();
    assert.equal(verifier.calls, 1);
    verifier.epochValue = 'cp/2';
    await monitor.pass();
    assert.equal(verifier.calls, 2);
    await monitor.pass({ fresh: true });
    assert.equal(verifier.calls, 3);
  });

  it('fails closed when the engine or the ledger is gone, and recovers', async () => {
    const { docker, verifier, monitor } = setup();
    docker.run('c1', 'a', 'x', D('a'));
    verifier.verdicts.set(D('a'), trusted);
    await monitor.pass();
    docker.down = true;
    await monitor.pass();
    assert.equal(monitor.state().status, 'unreachable');
    assert.equal(monitor.containers()[0]?.status, 'unknown');
    assert.match(monitor.containers()[0]?.reason ?? '', /node unreachable/);
    assert.equal(monitor.containers()[0]?.signer, undefined);
    docker.down = false;
    await monitor.pass();
    assert.equal(monitor.containers()[0]?.status, 'trusted');
    verifier.broken = 'ledger is down';
    await monitor.pass();
    assert.equal(monitor.containers()[0]?.status, 'unknown');
    assert.match(monitor.containers()[0]?.reason ?? '', /ledger is down/);
    verifier.broken = undefined;
    await monitor.pass();
    assert.equal(monitor.containers()[0]?.status, 'trusted');
  });

  it('a lookup whose proofs fail marks the ledger as not believed, with the tree size kept', async () => {
    const { docker, verifier, monitor } = setup();
    docker.run('c1', 'a', 'x', D('a'));
    verifier.verdicts.set(D('a'), {
      ...unknown(
        'ledger compromised: index proof does not lead to the checkpoint index root [PROOF_INVALID]',
      ),
      compromised: true,
    });
    await monitor.pass();
    assert.equal(monitor.containers()[0]?.status, 'unknown');
    assert.match(monitor.state().ledger?.error ?? '', /PROOF_INVALID/);
    assert.equal(monitor.state().ledger?.treeSize, 1);
    verifier.verdicts.set(D('a'), trusted);
    await monitor.pass();
    assert.equal(monitor.state().ledger?.error, undefined);
    assert.equal(monitor.containers()[0]?.status, 'trusted');
  });

  it('reports the tree size of a real ledger whose origin and root hold "/" (a structured epoch)', async (t) => {
    const dir = tempDir(t);
    const ledger = await openLocalLedger(join(dir, 'ledger.db'), { origin: 'example.com/ledgers/prod' });
    const key = generateSignerKey();
    const w = new Words();
    let size = 0;
    // Append until the root's base64 holds a '/', as most roots eventually do.
    while (!(await ledger.latestCheckpoint()).note.split('\n')[2]?.includes('/')) {
      await ledger.append([w.next(key, digestOf(`e${size}`), 'trusted').envelope]);
      size += 1;
    }
    const client = new LedgerClient(new LocalBackend(ledger), { state: new MemoryStateStore() });
    const builtin = new BuiltinVerifier(client, policyForSigners([key.keyId]));
    const docker = new FakeDocker();
    docker.run('c1', 'a', 'x', D('a'));
    const monitor = new NodeMonitor({
      node: 'n1',
      docker,
      verifier: builtin,
      logger,
      resyncMs: 3_600_000,
      cacheTtlMs: 60_000,
    });
    await monitor.pass();
    assert.equal(monitor.state().ledger?.treeSize, size);
    assert.match(monitor.state().ledger?.note ?? '', /^example\.com\/ledgers\/prod\n/);
    await builtin.close();
  });

  it('an engine event starts a pass', async () => {
    const { docker, verifier, monitor } = setup();
    verifier.verdicts.set(D('a'), untrusted);
    monitor.start();
    try {
      await new Promise((r) => setTimeout(r, 50));
      docker.run('c9', 'new', 'x', D('a'));
      docker.events.write(`${JSON.stringify({ Type: 'container', Action: 'start', id: 'c9' })}\n`);
      const deadline = Date.now() + 2000;
      while (monitor.containers().length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(monitor.containers()[0]?.status, 'untrusted');
    } finally {
      await monitor.stop();
    }
  });

  it('keeps hostile names and labels intact', async () => {
    const { docker, monitor } = setup();
    const name = `x"; $(rm -rf /) \`id\` \n ünï ${'n'.repeat(10_000)}`;
    const labels = { 'a"b': 'c\nd', evil: '$(touch /tmp/x)', big: 'v'.repeat(10_000) };
    docker.run('c1', name, 'x', D('a'), labels);
    await monitor.pass();
    assert.equal(monitor.containers()[0]?.name, name);
    assert.deepEqual(monitor.containers()[0]?.labels, labels);
  });

  it('records changes and counts in the history', async (t) => {
    const history = new History(join(tempDir(t), 'h.db'), 86_400_000);
    t.after(() => history.close());
    const { docker, verifier, monitor } = setup({ history });
    docker.run('c1', 'a', 'x', D('a'));
    await monitor.pass();
    verifier.verdicts.set(D('a'), untrusted);
    await monitor.pass({ fresh: true });
    docker.containers = [];
    await monitor.pass();
    const kinds = history.events(0, Date.now() + 1000).map((e) => `${e.kind}:${e.status ?? e.previous}`);
    assert.deepEqual(kinds, ['started:unknown', 'status:untrusted', 'stopped:untrusted']);
    const points = history.series(Date.now() - 1000, Date.now(), 1000);
    assert.ok(points.length >= 1);
    assert.equal(points[points.length - 1]?.total, 0);
  });
  it('hands every pass to every publisher, also a pass that found the engine unreachable', async () => {
    const seen = recorder();
    const { docker, verifier, monitor } = setup({ publishers: [seen] });
    docker.run('c1', 'web', 'x', D('a'));
    verifier.verdicts.set(D('a'), trusted);
    await monitor.pass();
    const up = seen.updates[0] as NodeUpdate;
    assert.equal(up.pass.ok, true);
    assert.equal(up.node.status, 'up');
    assert.deepEqual(up.node, { ...monitor.state(), ageSeconds: up.node.ageSeconds });
    assert.deepEqual(
      up.containers.map((c) => `${c.name}:${c.status}`),
      ['web:trusted'],
    );
    assert.deepEqual(
      up.changes.map((c) => c.kind),
      ['started'],
    );
    assert.equal(up.pass.cacheMisses, 1);
    docker.down = true;
    await monitor.pass();
    const down = seen.updates[1] as NodeUpdate;
    assert.equal(down.pass.ok, false);
    assert.equal(down.node.status, 'unreachable');
    assert.match(down.node.reason ?? '', /engine is down/);
    assert.equal(down.containers[0]?.status, 'unknown');
    assert.match(down.containers[0]?.reason ?? '', /node unreachable: engine is down/);
    assert.deepEqual(
      down.changes.map((c) => c.kind),
      ['node-unreachable', 'status'],
    );
    assert.deepEqual(monitor.unreachable(), { code: 'DOCKER_UNREACHABLE', message: 'engine is down' });
  });

  it('a publisher that throws or rejects is logged; the pass and the other publishers go on', async () => {
    const { logger: log, errors } = capturingLogger();
    const docker = new FakeDocker();
    const verifier = new FakeVerifier();
    const after = recorder('after');
    const monitor = new NodeMonitor({
      node: 'n1',
      docker,
      verifier,
      logger: log,
      resyncMs: 3_600_000,
      cacheTtlMs: 60_000,
      publishers: [
        {
          name: 'throws',
          publish() {
            throw new ImagetrustError('IO', 'disk full');
          },
        },
        { name: 'rejects', publish: async () => Promise.reject(new ImagetrustError('IO', 'store down')) },
        after,
      ],
    });
    docker.run('c1', 'web', 'x', D('a'));
    verifier.verdicts.set(D('a'), trusted);
    await monitor.pass();
    await new Promise((r) => setImmediate(r));
    assert.equal(monitor.containers()[0]?.status, 'trusted');
    assert.equal(after.updates.length, 1);
    assert.deepEqual(
      errors.map((e) => e.publisher),
      ['throws', 'rejects'],
    );
    await monitor.stop();
  });

  it('closes its publishers when it stops', async () => {
    let closed = 0;
    const { monitor } = setup({
      publishers: [
        { name: 'a', publish: () => undefined, close: async () => void (closed += 1) },
        { name: 'b', publish: () => undefined },
      ],
    });
    await monitor.stop();
    assert.equal(closed, 1);
  });

  it('takes any engine source: the judge sees only running containers and their references', async () => {
    let view: EngineView | Error = {
      engine: { version: 'x', apiVersion: '1' },
      containers: [
        {
          id: 'p1',
          name: 'pod',
          imageId: D('a'),
          image: 'app:1',
          resolvesTo: D('b'),
          state: 'running',
          labels: {},
        },
      ],
    };
    const source: EngineSource = {
      read: async () => {
        if (view instanceof Error) throw view;
        return view;
      },
      imageInfo: () => undefined,
      follow: () => undefined,
      stop: () => undefined,
    };
    const verifier = new FakeVerifier();
    verifier.verdicts.set(D('a'), trusted);
    const monitor = new NodeMonitor({
      node: 'n2',
      source,
      verifier,
      logger,
      resyncMs: 1000,
      cacheTtlMs: 1000,
    });
    await monitor.pass();
    const [c] = monitor.containers();
    assert.deepEqual([c?.status, c?.drift, c?.driftDigest, c?.image], ['trusted', true, D('b'), 'app:1']);
    assert.deepEqual(monitor.state().engine, { version: 'x', apiVersion: '1' });
    view = new ImagetrustError('DOCKER_ERROR', 'runtime refused');
    await monitor.pass();
    assert.equal(monitor.state().status, 'unreachable');
    assert.equal(monitor.containers()[0]?.status, 'unknown');
    assert.deepEqual(monitor.unreachable(), { code: 'DOCKER_ERROR', message: 'runtime refused' });
  });
});

describe('agent API', () => {
  async function api(token?: string) {
    const { docker, verifier, monitor, agent } = setup();
    docker.run('c1', 'web', 'x', D('a'));
    docker.run('c2', 'db', 'x', D('b'));
    verifier.verdicts.set(D('a'), trusted);
    verifier.verdicts.set(D('b'), untrusted);
    await monitor.pass();
    return { app: buildAgentApi({ source: agent, ...(token ? { token } : {}) }), verifier };
  }

  it('answers containers, filters, nodes, images and summary', async () => {
    const { app } = await api();
    const all = (await app.inject('/api/v1/containers')).json() as { containers: { name: string }[] };
    assert.deepEqual(
      all.containers.map((c) => c.name),
      ['db', 'web'],
    );
    const bad = (await app.inject('/api/v1/containers?status=untrusted')).json() as { containers: unknown[] };
    assert.equal(bad.containers.length, 1);
    const summary = (await app.inject('/api/v1/summary')).json() as {
      total: { trusted: number; untrusted: number };
    };
    assert.deepEqual([summary.total.trusted, summary.total.untrusted], [1, 1]);
    const images = (await app.inject('/api/v1/images')).json() as { images: { digest: string }[] };
    assert.equal(images.images[0]?.digest, D('b'));
    const nodes = (await app.inject('/api/v1/nodes')).json() as { nodes: { node: string; status: string }[] };
    assert.deepEqual(
      nodes.nodes.map((n) => `${n.node}:${n.status}`),
      ['n1:up'],
    );
  });

  it('rejects bad parameters with 400 and the field named', async () => {
    const { app } = await api();
    for (const [url, field] of [
      ['/api/v1/containers?status=fine', 'status'],
      ['/api/v1/containers?nodes=x', 'nodes'],
      [`/api/v1/containers?node=${'x'.repeat(300)}`, 'node'],
      ['/api/v1/history?step=0', 'step'],
      ['/api/v1/history?step=abc', 'step'],
      ['/api/v1/history?from=yesterday', 'from'],
      ['/api/v1/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['/api/v1/history?from=0&to=99999999999&step=1', 'step'],
      ['/api/v1/events?limit=0', 'limit'],
    ] as const) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 400, url);
      assert.equal((res.json() as { error: { field: string } }).error.field, field, url);
    }
    const post = await app.inject({ method: 'POST', url: '/api/v1/verify', payload: { container: 5 } });
    assert.equal(post.statusCode, 400);
    const missing = await app.inject({
      method: 'POST',
      url: '/api/v1/verify',
      payload: { container: 'nope' },
    });
    assert.equal(missing.statusCode, 404);
  });

  it('requires the bearer token when one is set', async () => {
    const { app } = await api('s3cret-token-0123456789');
    assert.equal((await app.inject('/api/v1/containers')).statusCode, 401);
    assert.equal(
      (await app.inject({ url: '/api/v1/containers', headers: { authorization: 'Bearer wrong' } }))
        .statusCode,
      401,
    );
    assert.equal(
      (
        await app.inject({
          url: '/api/v1/containers',
          headers: { authorization: 'Basic s3cret-token-0123456789' },
        })
      ).statusCode,
      401,
    );
    assert.equal(
      (
        await app.inject({
          url: '/api/v1/containers',
          headers: { authorization: 'Bearer s3cret-token-0123456789' },
        })
      ).statusCode,
      200,
    );
    assert.equal((await app.inject('/healthz')).statusCode, 200);
  });

  it('POST /api/v1/verify re-verifies bypassing the cache', async () => {
    const { app, verifier } = await api();
    const before = verifier.calls;
    const res = await app.inject({ method: 'POST', url: '/api/v1/verify', payload: { container: 'web' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      (res.json() as { containers: { name: string }[] }).containers.map((c) => c.name),
      ['web'],
    );
    assert.equal(verifier.calls, before + 2);
  });

  it('POST /api/v1/verify {all:true} reports the nodes it could not reach, with their codes', async (t) => {
    // A peer that answers, one that is gone, one that answers garbage.
    const good = setup({ node: 'peer' });
    good.docker.run('p1', 'peer-web', 'x', D('a'));
    good.verifier.verdicts.set(D('a'), trusted);
    await good.monitor.pass();
    const peerApp = buildAgentApi({ source: good.agent });
    t.after(() => peerApp.close());
    const goodUrl = await peerApp.listen({ host: '127.0.0.1', port: 0 });
    const garbage = createServer((_req, res) => res.writeHead(200).end('<html>'));
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      garbage.closeAllConnections();
      garbage.close();
    });
    const garbageUrl = `http://127.0.0.1:${(garbage.address() as AddressInfo).port}`;
    const goneUrl = await closedPort();
    const fleet = new Fleet({ peers: [goodUrl, goneUrl, garbageUrl], timeoutMs: 2000 });

    const { docker, verifier, monitor, agent } = setup({ fleet });
    docker.run('c1', 'web', 'x', D('a'));
    verifier.verdicts.set(D('a'), trusted);
    await monitor.pass();
    const app = buildAgentApi({ source: agent });
    const res = await app.inject({ method: 'POST', url: '/api/v1/verify', payload: { all: true } });
    assert.equal(res.statusCode, 200);
    const body = res.json() as {
      containers: { node: string; name: string }[];
      unreachable: { node: string; code: string; message: string }[];
    };
    assert.deepEqual(body.containers.map((c) => `${c.node}/${c.name}`).sort(), ['n1/web', 'peer/peer-web']);
    assert.deepEqual(
      body.unreachable.map((u) => `${u.node}:${u.code}`),
      [`${goneUrl}:PEER_UNREACHABLE`, `${garbageUrl}:PEER_INVALID`],
    );
    assert.ok(body.unreachable.every((u) => u.message.length > 0));

    // This node's own engine counts too.
    docker.down = true;
    const down = (
      await app.inject({ method: 'POST', url: '/api/v1/verify', payload: { all: true } })
    ).json() as {
      unreachable: { node: string; code: string }[];
    };
    assert.deepEqual(down.unreachable[0], {
      node: 'n1',
      code: 'DOCKER_UNREACHABLE',
      message: 'engine is down',
    });
  });
});

describe('agent configuration', () => {
  it('reports every bad field at once', () => {
    const err = assertCode(
      () =>
        loadAgentConfig({
          env: { IMAGETRUST_RESYNC: 'soon', IMAGETRUST_LISTEN: 'nowhere' },
          flags: {
            signer: ['zz'],
            peer: ['ftp://x'],
            verifier: 'magic',
            token: 'short',
            logLevel: 'loud',
            node: 'bad name',
          },
        }),
      'CONFIG_INVALID',
    );
    for (const field of ['resync', 'listen', 'signer', 'peer', 'verifier', 'token', 'logLevel', 'node']) {
      assert.match(err.message, new RegExp(`${field}:`), field);
    }
  });

  it('flags win over the environment, which wins over the file; secrets are redacted', (t) => {
    const file = join(tempDir(t), 'agent.yaml');
    writeFileSync(
      file,
      'node: from-file\nresync: 30\ncacheTtl: 5\nverifierCommand: ["imagetrust", "verify", "-o", "json", "{ref}"]\n',
    );
    const config = loadAgentConfig({
      env: {
        IMAGETRUST_CONFIG: file,
        IMAGETRUST_RESYNC: '20',
        IMAGETRUST_NODE: 'from-env',
        IMAGETRUST_HOME: '/tmp/x',
      },
      flags: { node: 'from-flag', token: 'a-long-enough-token' },
    });
    assert.equal(config.node, 'from-flag');
    assert.equal(config.resyncSeconds, 20);
    assert.equal(config.cacheTtlSeconds, 5);
    assert.deepEqual(config.verifierCommand, ['imagetrust', 'verify', '-o', 'json', '{ref}']);
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 9581 });
    assert.ok(Object.isFrozen(config));
    assert.equal(redactedConfig(config).token, '[redacted]');
    writeFileSync(file, 'colour: blue\n');
    assertCode(() => loadAgentConfig({ env: { IMAGETRUST_CONFIG: file } }), 'CONFIG_INVALID');
  });
});

describe('own container', () => {
  it('is found from the mounts Docker makes, or the short id hostname', () => {
    const id = 'f'.repeat(64);
    const mounts = `1 2 0:1 /var/lib/docker/containers/${id}/hostname /etc/hostname rw - ext4 /dev/vda rw`;
    assert.equal(ownContainerMatcher({ mountinfo: () => mounts, hostname: () => 'x' })(id), true);
    assert.equal(
      ownContainerMatcher({ mountinfo: () => mounts, hostname: () => 'x' })('e'.repeat(64)),
      false,
    );
    assert.equal(
      ownContainerMatcher({ mountinfo: () => undefined, hostname: () => id.slice(0, 12) })(id),
      true,
    );
    assert.equal(ownContainerMatcher({ mountinfo: () => undefined, hostname: () => 'laptop' })(id), false);
  });
});
