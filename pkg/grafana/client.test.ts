// The backend's HTTP side against a small in-process fake agent (node:http on 127.0.0.1): the
// token, deadlines, answer bounds, typed errors, shared in-flight GETs, instance rebuilds,
// per-query errors in QueryData and the resource proxy's allow-list and streaming.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertCode, assertRejectsCode } from '../testing/assert-code';
import { decodeFrame } from './arrow';
import { ImagetrustError } from '../errors';
import { AgentClient } from './client';
import { answerQuery } from './data';
import { checkHealth } from './health';
import { InstanceCache } from './instances';
import type { CallResourceRequest, DataQuery } from './protocol';
import { callResource, resolveResource } from './resources';

const TOKEN = 'secret-token';
let server: Server;
let base: string;
let hits: Record<string, number> = {};
let lastBody = '';

const summary = {
  nodes: [{ node: 'n1', status: 'up', trusted: 1, untrusted: 2, unsupported: 0, unknown: 0, total: 3 }],
  total: { trusted: 1, untrusted: 2, unsupported: 0, unknown: 0, total: 3 },
};

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  hits[url.pathname] = (hits[url.pathname] ?? 0) + 1;
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    send(401, { error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } });
    return;
  }
  switch (url.pathname) {
    case '/api/v1':
      return send(200, { api: 'v1', node: 'n1' });
    case '/api/v1/summary':
      // Slow enough for concurrent callers to overlap.
      setTimeout(() => send(200, summary), 30);
      return;
    case '/api/v1/slow':
    case '/api/v1/events':
      return void setTimeout(() => send(200, { events: [] }), 5000).unref();
    case '/api/v1/nodes':
      return send(200, { nodes: [] });
    case '/api/v1/huge': {
      // Chunked, no content-length: the bound is checked while it streams.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const more = () => {
        while (sent < 200 && res.write(chunk)) sent += 1;
        if (sent < 200) res.once('drain', more);
        else res.end();
      };
      return more();
    }
    case '/api/v1/declared':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) });
      return void res.end();
    case '/api/v1/text':
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html>');
    case '/api/v1/containers':
      if (url.searchParams.get('status') === 'bogus')
        return send(400, {
          error: { code: 'BAD_REQUEST', message: 'status: expected one of …', field: 'status' },
        });
      return send(200, { containers: [] });
    case '/api/v1/ledger/statements':
      return send(503, { error: { code: 'LEDGER_UNREACHABLE', message: 'the ledger did not answer' } });
    case '/api/v1/verify': {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        lastBody = body;
        send(200, { containers: [] });
      });
      return;
    }
    default:
      return send(404, { error: { code: 'NOT_FOUND', message: 'no such route' } });
  }
}

before(async () => {
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const client = (options: { token?: string; max?: number } = {}) =>
  new AgentClient({
    baseUrl: base,
    token: options.token ?? TOKEN,
    maxAnswerBytes: options.max ?? 1024 * 1024,
  });
const soon = (ms = 2000) => ({ deadline: Date.now() + ms });

describe('AgentClient', () => {
  it('sends the token and parses JSON', async () => {
    const c = client();
    assert.deepEqual(await c.json({ method: 'GET', path: '', ...soon() }), { api: 'v1', node: 'n1' });
    c.close();
  });

  it('types every failure', async () => {
    const c = client();
    const wrong = client({ token: 'wrong' });
    assert.equal(
      (await assertRejectsCode(() => wrong.json({ method: 'GET', path: '', ...soon() }), 'UNAUTHORIZED'))
        .details?.status,
      401,
    );
    await assertRejectsCode(() => c.json({ method: 'GET', path: '/nope', ...soon() }), 'NOT_FOUND');
    await assertRejectsCode(() => c.json({ method: 'GET', path: '/text', ...soon() }), 'PEER_INVALID');
    // The agent's own code and status travel on.
    const ledger = await assertRejectsCode(
      () => c.json({ method: 'GET', path: '/ledger/statements', ...soon() }),
      'LEDGER_UNREACHABLE',
    );
    assert.equal(ledger.details?.status, 503);
    const field = await assertRejectsCode(
      () => c.json({ method: 'GET', path: '/containers', query: { status: 'bogus' }, ...soon() }),
      'BAD_REQUEST',
    );
    assert.equal(field.details?.field, 'status');
    const gone = new AgentClient({ baseUrl: 'http://127.0.0.1:1', token: TOKEN });
    assert.equal(
      (await assertRejectsCode(() => gone.json({ method: 'GET', path: '', ...soon() }), 'PEER_UNREACHABLE'))
        .details?.status,
      502,
    );
    for (const x of [c, wrong, gone]) x.close();
  });

  it('gives up at the deadline', async () => {
    const c = client();
    const started = Date.now();
    const err = await assertRejectsCode(
      () => c.json({ method: 'GET', path: '/slow', deadline: Date.now() + 300 }),
      'PEER_UNREACHABLE',
    );
    const took = Date.now() - started;
    assert.equal(err.details?.status, 504);
    assert.ok(took >= 250 && took < 1500, `took ${took} ms`);
    c.close();
  });

  it('refuses an answer past the bound, declared or streamed', async () => {
    const c = client({ max: 1024 * 1024 });
    await assertRejectsCode(() => c.json({ method: 'GET', path: '/declared', ...soon() }), 'LIMIT_EXCEEDED');
    await assertRejectsCode(() => c.json({ method: 'GET', path: '/huge', ...soon(5000) }), 'LIMIT_EXCEEDED');
    // Still usable afterwards.
    assert.equal((await c.json<{ api: string }>({ method: 'GET', path: '', ...soon() })).api, 'v1');
    c.close();
  });

  it('shares one request between concurrent identical GETs', async () => {
    const c = client();
    hits = {};
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => c.json({ method: 'GET', path: '/summary', ...soon() })),
    );
    assert.equal(hits['/api/v1/summary'], 1);
    assert.ok(answers.every((a) => JSON.stringify(a) === JSON.stringify(summary)));
    await c.json({ method: 'GET', path: '/summary', ...soon() });
    assert.equal(hits['/api/v1/summary'], 2);
    c.close();
  });
});

describe('InstanceCache', () => {
  const settings = { uid: 'u1', name: 'ds', url: base, token: TOKEN, lastUpdatedMS: 1 };
  it('keeps one client per uid and rebuilds it when the settings change', () => {
    const cache = new InstanceCache(2);
    const a = cache.clientFor({ ...settings, url: base });
    assert.equal(cache.clientFor({ ...settings, url: base }), a);
    const b = cache.clientFor({ ...settings, url: base, lastUpdatedMS: 2 });
    assert.notEqual(b, a);
    assert.notEqual(cache.clientFor({ ...settings, url: base, lastUpdatedMS: 2, token: 'other' }), b);
    cache.clientFor({ ...settings, url: base, uid: 'u2' });
    cache.clientFor({ ...settings, url: base, uid: 'u3' });
    assert.equal(cache.size, 2);
    assert.equal(cache.built, 5);
    cache.close();
  });
});

function dq(queryType: string, json: Record<string, unknown> = {}): DataQuery {
  return {
    refId: 'A',
    maxDataPoints: 100,
    intervalMS: 1000,
    timeRange: { fromEpochMS: Date.now() - 60_000, toEpochMS: Date.now() },
    json: Buffer.from(JSON.stringify({ queryType, ...json })),
    queryType,
  };
}

describe('answerQuery', () => {
  it('answers with frames, or an error with its status and source', async () => {
    const c = client();
    const ok = await answerQuery(dq('counts', { status: 'untrusted' }), () => c, soon(), Date.now());
    assert.equal(ok.status, 200);
    assert.equal(ok.error, '');
    assert.deepEqual(decodeFrame(ok.frames[0]!).fields[0]!.values, [2]);

    const unknown = await answerQuery(dq('nope'), () => c, soon(), Date.now());
    assert.deepEqual([unknown.status, unknown.errorSource], [400, 'plugin']);
    assert.match(unknown.error, /^BAD_REQUEST: queryType/);

    const noUrl = await answerQuery(
      dq('counts'),
      () => {
        throw new ImagetrustError('CONFIG_INVALID', 'no url');
      },
      soon(),
      Date.now(),
    );
    assert.deepEqual([noUrl.status, noUrl.errorSource], [500, 'plugin']);

    const wrong = client({ token: 'wrong' });
    const denied = await answerQuery(dq('summary'), () => wrong, soon(), Date.now());
    assert.deepEqual([denied.status, denied.errorSource], [401, 'downstream']);

    const ledger = await answerQuery(
      dq('statements', { digest: `sha256:${'c'.repeat(64)}` }),
      () => c,
      soon(),
      Date.now(),
    );
    assert.deepEqual([ledger.status, ledger.errorSource], [503, 'downstream']);
    assert.match(ledger.error, /^LEDGER_UNREACHABLE/);

    const started = Date.now();
    const slow = await answerQuery(dq('events'), () => c, { deadline: Date.now() + 200 }, Date.now());
    assert.deepEqual([slow.status, slow.errorSource], [504, 'downstream']);
    assert.ok(Date.now() - started < 1500);
    c.close();
    wrong.close();
  });

  it('CheckHealth says the verdicts, or why not', async () => {
    const c = client();
    const ok = await checkHealth(() => c, soon());
    assert.equal(ok.status, 'OK');
    assert.match(ok.message, /1 node, 3 containers: 2 untrusted/);
    const wrong = client({ token: 'wrong' });
    const denied = await checkHealth(() => wrong, soon());
    assert.equal(denied.status, 'ERROR');
    assert.match(denied.message, /token/);
    c.close();
    wrong.close();
  });
});

function resource(path: string, extra: Partial<CallResourceRequest> = {}): CallResourceRequest {
  return {
    pluginContext: null,
    path,
    method: 'GET',
    url: path,
    headers: {},
    body: Buffer.alloc(0),
    ...extra,
  };
}

describe('resources', () => {
  it('allows only the listed paths, methods, parameters and bodies', () => {
    assert.equal(resolveResource(resource('nodes')).route.agentPath, '/nodes');
    assert.deepEqual(
      resolveResource(resource('ledger/statements', { url: 'ledger/statements?digest=sha256:1' })).query,
      {
        digest: 'sha256:1',
      },
    );
    assertCode(() => resolveResource(resource('../../etc/passwd')), 'NOT_FOUND');
    assertCode(() => resolveResource(resource('nodes/x')), 'NOT_FOUND');
    assertCode(() => resolveResource(resource('constructor')), 'NOT_FOUND');
    assert.equal(
      assertCode(() => resolveResource(resource('nodes', { method: 'DELETE' })), 'BAD_REQUEST').details
        ?.status,
      405,
    );
    assert.equal(
      assertCode(() => resolveResource(resource('verify', { method: 'GET' })), 'BAD_REQUEST').details?.status,
      405,
    );
    assertCode(() => resolveResource(resource('containers', { url: 'containers?token=x' })), 'BAD_REQUEST');
    assertCode(
      () => resolveResource(resource('verify', { method: 'POST', body: Buffer.from('[1]') })),
      'BAD_REQUEST',
    );
    assertCode(
      () => resolveResource(resource('verify', { method: 'POST', body: Buffer.from('{"rm":1}') })),
      'BAD_REQUEST',
    );
    assertCode(
      () => resolveResource(resource('verify', { method: 'POST', body: Buffer.from('{') })),
      'BAD_REQUEST',
    );
    assert.equal(
      assertCode(
        () => resolveResource(resource('verify', { method: 'POST', body: Buffer.alloc(70_000, 0x20) })),
        'LIMIT_EXCEEDED',
      ).details?.status,
      413,
    );
  });

  it('proxies with the token and streams the answer back', async () => {
    const c = client();
    const messages = [];
    for await (const m of callResource(
      resource('verify', { method: 'POST', body: Buffer.from('{"node":"n1"}') }),
      () => c,
      soon(),
    ))
      messages.push(m);
    assert.equal(messages[0]!.code, 200);
    assert.deepEqual(messages[0]!.headers['content-type']!.values, ['application/json']);
    assert.deepEqual(JSON.parse(Buffer.concat(messages.map((m) => Buffer.from(m.body))).toString()), {
      containers: [],
    });
    assert.equal(lastBody, '{"node":"n1"}');
    const refused = [];
    for await (const m of callResource(resource('nodes', { method: 'PUT' }), () => c, soon()))
      refused.push(m);
    assert.equal(refused[0]!.code, 405);
    c.close();
  });
});
