import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertCode, assertRejectsCode } from '../testing/assert-code';
import { Fleet, checkPeerSpecs, parsePeerSpec, readPeerToken } from './fleet';
import { parsePeerView } from './peer-schema';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../testing/fixtures';
import { buildAgentApi } from './api';
import { loadAgentConfig } from './config';
import type { ApiSource, VerifyTarget } from './source';
import type { ContainerResult } from './types';
import type { LocalView } from './views';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A peer on a loopback port answering whatever the test says. */
async function peer(t: TestContext, handler: Handler): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A URL nothing listens on (a port just given back). */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const view = {
  node: {
    node: 'peer-1',
    status: 'up',
    counts: { trusted: 0, untrusted: 0, unsupported: 0, unknown: 0, total: 0 },
  },
  containers: [],
};

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
}

describe('peers', () => {
  it("a peer's answer that is not a node view is PEER_INVALID, not the client's BAD_REQUEST", () => {
    for (const doc of [
      null,
      'x',
      [],
      { node: {} },
      { node: { node: 'n' } },
      { node: { node: 7 }, containers: [] },
    ])
      assertCode(() => parsePeerView(doc), 'PEER_INVALID');
  });

  it('a peer answering non-2xx, garbage, a non-view or too much is unreachable with the reason', async (t) => {
    const bad: Record<string, Handler> = {
      status: (_req, res) => send(res, 500, JSON.stringify({ error: { code: 'INTERNAL', message: 'boom' } })),
      garbage: (_req, res) => send(res, 200, '{"node": '),
      notView: (_req, res) => send(res, 200, JSON.stringify({ hello: 'world' })),
      large: (_req, res) => send(res, 200, JSON.stringify({ ...view, pad: 'x'.repeat(5000) })),
    };
    const urls = Object.fromEntries(
      await Promise.all(Object.entries(bad).map(async ([k, h]) => [k, await peer(t, h)] as const)),
    );
    const fleet = new Fleet({ peers: Object.values(urls), timeoutMs: 2000, maxResponseBytes: 4096 });
    const views = await fleet.views();
    const reason = new Map(views.map((v) => [v.node.url, v.node]));
    for (const url of Object.values(urls)) assert.equal(reason.get(url)?.status, 'unreachable', url);
    assert.match(reason.get(urls.status)?.reason ?? '', /HTTP 500: boom/);
    assert.match(reason.get(urls.garbage)?.reason ?? '', /not JSON/);
    assert.match(reason.get(urls.notView)?.reason ?? '', /bad node view/);
    assert.match(reason.get(urls.large)?.reason ?? '', /too large/);
  });

  it('re-verifying on a peer: a bad answer is PEER_INVALID (HTTP 502), no answer PEER_UNREACHABLE', async (t) => {
    let verify: Handler = (_req, res) =>
      send(res, 500, JSON.stringify({ error: { code: 'INTERNAL', message: 'x' } }));
    const url = await peer(t, (req, res) =>
      req.url === '/api/v1/local' ? send(res, 200, JSON.stringify(view)) : verify(req, res),
    );
    const fleet = new Fleet({ peers: [url], timeoutMs: 2000 });
    await fleet.views();
    const refused = await assertRejectsCode(() => fleet.verifyOn('peer-1'), 'PEER_INVALID');
    assert.equal(refused.httpStatus, 502);
    assert.equal(refused.details?.peerCode, 'INTERNAL');
    verify = (_req, res) => send(res, 200, 'not json');
    await assertRejectsCode(() => fleet.verifyOn('peer-1'), 'PEER_INVALID');
    verify = (_req, res) => send(res, 200, JSON.stringify({ results: [] }));
    await assertRejectsCode(() => fleet.verifyOn('peer-1'), 'PEER_INVALID');
    verify = (_req, res) => send(res, 200, JSON.stringify({ containers: [] }));
    assert.deepEqual(await fleet.verifyOn('peer-1'), []);

    const gone = new Fleet({ peers: [await closedPort()], timeoutMs: 2000 });
    const [all] = await gone.verifyAll();
    assert.equal(all?.error?.code, 'PEER_UNREACHABLE');
  });
});

/** A container of `node` as an agent reports it. */
function container(node: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    node,
    id: 'c'.repeat(64),
    name: 'web',
    image: 'local/app:1',
    digest: `sha256:${'a'.repeat(64)}`,
    status: 'trusted',
    statusCode: 0,
    level: 0,
    verifiedAt: '2026-01-01T00:00:00.000Z',
    drift: false,
    state: 'running',
    labels: {},
    ...extra,
  };
}

function viewOf(node: string, containers: unknown[], extra: Record<string, unknown> = {}): unknown {
  return {
    node: {
      node,
      status: 'up',
      local: true,
      counts: {
        trusted: containers.length,
        untrusted: 0,
        unsupported: 0,
        unknown: 0,
        total: containers.length,
      },
      ...extra,
    },
    containers,
  };
}

/** An ApiSource answering for one node with fixed containers: a peer's real API, in process. */
function peerSource(node: string, containers: ContainerResult[]): ApiSource & { verified: VerifyTarget[] } {
  const view = viewOf(node, containers) as LocalView;
  const verified: VerifyTarget[] = [];
  return {
    verified,
    generation: '1',
    health: async () => ({ ok: true, status: 'up' }),
    describe: () => ({ node }),
    local: () => view,
    nodes: async () => [view.node],
    containers: async () => view.containers,
    images: async () => [],
    summary: async () => ({ nodes: [], total: view.node.counts }),
    series: async () => [],
    events: async () => [],
    statements: async () => {
      throw new Error('not here');
    },
    verifyNow: async (target) => {
      verified.push(target);
      return view.containers;
    },
    verifyAll: async () => ({ containers: view.containers, unreachable: [] }),
  };
}

describe('peer answers are checked by schema', () => {
  it('accepts an agent view, drops unknown fields and recomputes the counts', () => {
    const v = parsePeerView({
      ...(viewOf('n2', [container('n2', { status: 'untrusted', statusCode: 1 })]) as object),
      extra: 'ignored',
    });
    assert.equal(v.node.node, 'n2');
    assert.equal(v.node.local, false);
    assert.deepEqual(v.node.counts, { trusted: 0, untrusted: 1, unsupported: 0, unknown: 0, total: 1 });
    assert.equal((v as unknown as Record<string, unknown>).extra, undefined);
    const labelled = parsePeerView(
      JSON.parse(
        JSON.stringify(viewOf('n2', [container('n2')])).replace('"labels":{}', '"labels":{"__proto__":"x"}'),
      ),
    );
    const labels = labelled.containers[0]?.labels as Record<string, string>;
    assert.equal(Object.getPrototypeOf(labels), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(labels, '__proto__')?.value, 'x');
  });

  it('refuses wrong types, unbounded strings, unknown statuses, negative counts and other nodes', () => {
    const bad: unknown[] = [
      viewOf('n2', [container(7)]),
      viewOf('n2', [container('n3')]),
      viewOf('n2', [container('n2', { status: 'TRUSTED' })]),
      viewOf('n2', [container('n2', { name: 'x'.repeat(100_000) })]),
      viewOf('n2', [container('n2', { statusCode: -1 })]),
      viewOf('n2', [container('n2', { level: 1.5 })]),
      viewOf('n2', [container('n2', { labels: { a: 1 } })]),
      viewOf('n2', [container('n2', { drift: 'no' })]),
      viewOf('n2', [container('n2', { verifiedAt: 'soon' })]),
      viewOf('n2', [container('n2', { proof: { index: -2, treeSize: 1 } })]),
      viewOf('n2', [], { counts: { trusted: -1, untrusted: 0, unsupported: 0, unknown: 0, total: 0 } }),
      viewOf('n2', [], { status: 'fine' }),
      viewOf('n2', [], { ledger: { note: 'x'.repeat(20_000) } }),
      viewOf('bad name', []),
      viewOf(
        'n2',
        Array.from({ length: 10_001 }, () => container('n2')),
      ),
    ];
    for (const doc of bad) assertCode(() => parsePeerView(doc), 'PEER_INVALID');
  });
});

describe('peer specs and the peer credential', () => {
  it('NAME=URL binds a name; a bare URL does not; the set is checked as a whole', () => {
    assert.deepEqual(parsePeerSpec('node-b=http://127.0.0.1:9581/'), {
      url: 'http://127.0.0.1:9581',
      node: 'node-b',
    });
    assert.deepEqual(parsePeerSpec('http://127.0.0.1:9581/?a=b'), { url: 'http://127.0.0.1:9581/?a=b' });
    for (const bad of ['ftp://x', 'not a url', 'bad name=http://x', '=http://x'])
      assertCode(() => parsePeerSpec(bad), 'CONFIG_INVALID');
    const { problems } = checkPeerSpecs(
      ['a=http://h1', 'a=http://h2', 'http://h1', 'me=http://h3', 'nope://x'],
      'me',
    );
    assert.equal(problems.length, 4, problems.join('\n'));
  });

  it('reads the peer token from a file only its owner can read', (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'peer.token');
    writeFileSync(file, 'p'.repeat(32) + '\n', { mode: 0o600 });
    assert.equal(readPeerToken(file), 'p'.repeat(32));
    chmodSync(file, 0o644);
    assertCode(() => readPeerToken(file), 'CONFIG_INVALID');
    writeFileSync(join(dir, 'short'), 'abc', { mode: 0o600 });
    assertCode(() => readPeerToken(join(dir, 'short')), 'CONFIG_INVALID');
    assertCode(() => readPeerToken(join(dir, 'absent')), 'CONFIG_INVALID');
  });
});

describe('hostile peers', () => {
  const answering =
    (doc: unknown): Handler =>
    (_req, res) =>
      send(res, 200, JSON.stringify(doc));

  it('a peer with a container whose node is a number is invalid alone; the other peers are unaffected', async (t) => {
    const good = await peer(t, answering(viewOf('n2', [container('n2')])));
    const bad = await peer(t, answering(viewOf('n3', [container(7)])));
    const fleet = new Fleet({ peers: [good, `n3=${bad}`], timeoutMs: 2000, localNode: 'n1' });
    const views = await fleet.views();
    const byUrl = new Map(views.map((v) => [v.node.url, v]));
    assert.equal(byUrl.get(good)?.node.status, 'up');
    assert.equal(byUrl.get(good)?.containers[0]?.status, 'trusted');
    assert.equal(byUrl.get(bad)?.node.status, 'unreachable');
    assert.equal(byUrl.get(bad)?.node.node, 'n3');
    assert.match(byUrl.get(bad)?.node.reason ?? '', /containers\[0\]\.node/);
    assert.deepEqual(
      fleet.refusals().map((r) => [r.invalid, r.nameClaims]),
      [
        [0, 0],
        [1, 0],
      ],
    );
  });

  it("a peer that claims another node's name is refused and counted; its node keeps its last good view", async (t) => {
    let claim = 'n2';
    const learned = await peer(t, (req, res) => answering(viewOf(claim, [container(claim)]))(req, res));
    const bound = await peer(
      t,
      answering(viewOf('n3', [container('n3', { status: 'untrusted', statusCode: 1 })])),
    );
    const fleet = new Fleet({
      peers: [learned, `n3=${bound}`],
      timeoutMs: 2000,
      localNode: 'n1',
      cacheMs: 0,
    });
    const first = await fleet.views();
    assert.deepEqual(
      first.map((v) => `${v.node.node}:${v.node.status}`),
      ['n2:up', 'n3:up'],
    );
    for (const other of ['n3', 'n1', 'n9']) {
      claim = other;
      const views = await fleet.views();
      const liar = views.find((v) => v.node.url === learned);
      assert.equal(liar?.node.node, 'n2', other);
      assert.equal(liar?.node.status, 'unreachable', other);
      assert.equal(liar?.containers[0]?.status, 'unknown', other);
      assert.match(liar?.node.reason ?? '', /speaks for node n2 only/);
      // The node it claimed is untouched.
      const n3 = views.find((v) => v.node.url === bound);
      assert.deepEqual(
        [n3?.node.node, n3?.node.status, n3?.containers[0]?.status],
        ['n3', 'up', 'untrusted'],
      );
      assert.equal(views.filter((v) => v.node.node === 'n3').length, 1);
    }
    assert.equal(fleet.refusals()[0]?.nameClaims, 3);
    await assertRejectsCode(() => fleet.verifyOn('n9'), 'NOT_FOUND');
  });

  it("a bare URL may not learn this agent's own name or a name another peer is bound to", async (t) => {
    const me = await peer(t, answering(viewOf('n1', [])));
    const thief = await peer(t, answering(viewOf('n3', [])));
    const owner = await closedPort();
    const fleet = new Fleet({ peers: [me, thief, `n3=${owner}`], timeoutMs: 2000, localNode: 'n1' });
    const views = await fleet.views();
    assert.deepEqual(
      views.map((v) => `${v.node.node}:${v.node.status}`),
      [`${me}:unreachable`, `${thief}:unreachable`, 'n3:unreachable'],
    );
    assert.match(views[0]?.node.reason ?? '', /own node/);
    assert.match(views[1]?.node.reason ?? '', /is http/);
    assert.deepEqual(
      fleet.refusals().map((r) => r.nameClaims),
      [1, 1, 0],
    );
  });

  it('an endless answer is cut off at the bound while it streams in, and its connection closed', async (t) => {
    let closed = false;
    let sent = 0;
    const url = await peer(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && sent < 1024 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.on('close', () => (closed = true));
      res.write('{"pad":"');
      pump();
    });
    const fleet = new Fleet({ peers: [url], timeoutMs: 10_000, maxResponseBytes: 1024 * 1024 });
    const started = Date.now();
    const [v] = await fleet.views();
    assert.equal(v?.node.status, 'unreachable');
    assert.match(v?.node.reason ?? '', /more than 1048576 bytes/);
    assert.ok(Date.now() - started < 5000);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(closed, 'the connection was closed');
    assert.ok(sent < 64 * 1024 * 1024, `${sent} bytes sent`);
  });

  it('a declared Content-Length over the bound is refused before the body is read', async (t) => {
    const url = await peer(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(600 * 1024 * 1024) });
      res.write('{');
    });
    const [v] = await new Fleet({ peers: [url], timeoutMs: 2000, maxResponseBytes: 4096 }).views();
    assert.match(v?.node.reason ?? '', /more than 4096 bytes/);
  });
});

describe('the peer credential', () => {
  const apiToken = 'a'.repeat(32);
  const peerToken = 'p'.repeat(32);

  it('peers are sent the peer token, never the API token; it reads this node and nothing else', async (t) => {
    const source = peerSource('n2', [container('n2') as unknown as ContainerResult]);
    const seen: (string | undefined)[] = [];
    const app = buildAgentApi({
      source,
      token: apiToken,
      peerToken,
      extend: (a) => a.addHook('onRequest', async (req) => void seen.push(req.headers.authorization)),
    });
    t.after(() => app.close());
    const url = await app.listen({ host: '127.0.0.1', port: 0 });

    const fleet = new Fleet({ peers: [`n2=${url}`], timeoutMs: 2000, token: peerToken, localNode: 'n1' });
    const [v] = await fleet.views();
    assert.equal(v?.node.status, 'up', v?.node.reason);
    assert.equal((await fleet.verifyOn('n2')).length, 1);
    assert.deepEqual(source.verified, [{ node: 'n2' }]);
    assert.equal((await fleet.verifyAll())[0]?.containers?.length, 1);
    assert.deepEqual(new Set(seen), new Set([`Bearer ${peerToken}`]));

    const as = (token: string, method: 'GET' | 'POST', path: string, payload?: object) =>
      app.inject({
        method,
        url: path,
        headers: { authorization: `Bearer ${token}` },
        ...(payload ? { payload } : {}),
      });
    assert.equal((await as(peerToken, 'GET', '/api/v1/local')).statusCode, 200);
    for (const path of ['/api/v1/containers', '/api/v1/nodes', '/api/v1/summary', '/api/v1/images'])
      assert.equal((await as(peerToken, 'GET', path)).statusCode, 403, path);
    assert.equal((await as(peerToken, 'POST', '/api/v1/verify', { all: true })).statusCode, 403);
    assert.equal((await as(peerToken, 'POST', '/api/v1/verify', { node: 'n9' })).statusCode, 403);
    assert.equal((await as(apiToken, 'GET', '/api/v1/containers')).statusCode, 200);
    assert.equal((await as('x'.repeat(32), 'GET', '/api/v1/local')).statusCode, 401);
  });
});

describe('peer configuration', () => {
  it('--peer takes NAME=URL or URL, and refuses duplicates, its own node name and bad names at load', () => {
    const config = loadAgentConfig({
      flags: { node: 'n1', peer: ['n2=http://127.0.0.1:9582', 'http://127.0.0.1:9583'], peerTokenFile: '/x' },
      env: {},
    });
    assert.deepEqual(config.peers, ['n2=http://127.0.0.1:9582', 'http://127.0.0.1:9583']);
    assert.equal(config.peerTokenFile, '/x');
    assert.equal(loadAgentConfig({ env: { IMAGETRUST_PEER_TOKEN_FILE: '/y' } }).peerTokenFile, '/y');
    for (const peer of [
      ['n1=http://127.0.0.1:9582'],
      ['n2=http://a', 'n2=http://b'],
      ['http://a', 'http://a'],
      ['bad name=http://a'],
      ['ftp://a'],
    ])
      assertCode(() => loadAgentConfig({ flags: { node: 'n1', peer }, env: {} }), 'CONFIG_INVALID');
  });
});
