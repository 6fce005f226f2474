// Shared requests and answer reuse (client.ts, data.ts) against a small in-process fake agent
// (node:http on 127.0.0.1): concurrent identical GETs cost one request and one parsed answer,
// a reused answer lives no longer than reuseMs, errors are never reused, a cancelled caller
// leaves the others their answer, and different tokens or instances never share.

import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertRejectsCode } from '../testing/assert-code';
import { encodeFrame } from './arrow';
import { AgentClient } from './client';
import { answerQuery } from './data';
import type { FrameSpec } from './frame';
import { InstanceCache } from './instances';
import { answerReuseMs } from './main';
import { loadProtocol, type DataQuery, type QueryDataResponse } from './protocol';
import { querySerializer } from './server';

let server: Server;
let base: string;
let hits: Record<string, number> = {};
let tokens: string[] = [];
let closedEarly = 0;
let failNext = 0;

const summary = {
  nodes: [{ node: 'n1', status: 'up', trusted: 1, untrusted: 2, unsupported: 0, unknown: 0, total: 3 }],
  total: { trusted: 1, untrusted: 2, unsupported: 0, unknown: 0, total: 3 },
};

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const key = `${url.pathname}${url.search}`;
  hits[key] = (hits[key] ?? 0) + 1;
  tokens.push(req.headers.authorization ?? '');
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  res.on('close', () => {
    if (!res.writableEnded) closedEarly += 1;
  });
  switch (url.pathname) {
    case '/api/v1/summary':
      // Slow enough for concurrent callers to overlap.
      return void setTimeout(() => {
        if (failNext > 0) {
          failNext -= 1;
          send(503, { error: { code: 'PEER_UNREACHABLE', message: 'the fleet store did not answer' } });
        } else send(200, summary);
      }, 40);
    case '/api/v1/slow':
      return void setTimeout(() => send(200, { ok: true }), 400).unref();
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
beforeEach(() => {
  hits = {};
  tokens = [];
  closedEarly = 0;
  failNext = 0;
});

const soon = (ms = 2000) => ({ deadline: Date.now() + ms });
const get = (c: AgentClient, path = '/summary', extra: object = {}) =>
  c.json<typeof summary>({ method: 'GET', path, ...soon(), ...extra });

describe('shared requests', () => {
  it('answers concurrent identical GETs with one request and one parsed answer', async () => {
    const c = new AgentClient({ baseUrl: base, token: 't' });
    const answers = await Promise.all(Array.from({ length: 30 }, () => get(c)));
    assert.equal(hits['/api/v1/summary'], 1);
    assert.equal(c.sent, 1);
    assert.deepEqual(answers[0], summary);
    assert.ok(answers.every((a) => a === answers[0]));
    // Different query strings are different requests.
    await Promise.all([
      c.json({ method: 'GET', path: '/summary', query: { node: 'a' }, ...soon() }),
      c.json({ method: 'GET', path: '/summary', query: { node: 'b' }, ...soon() }),
    ]);
    assert.equal(hits['/api/v1/summary?node=a'], 1);
    assert.equal(hits['/api/v1/summary?node=b'], 1);
    // Without reuse (the client's default) the next call asks again.
    await get(c);
    assert.equal(hits['/api/v1/summary'], 2);
    c.close();
  });

  it('reuses an answer for reuseMs and no longer', async () => {
    let now = Date.now();
    const c = new AgentClient({ baseUrl: base, token: 't', reuseMs: 500, clock: () => now });
    const first = await get(c, '/summary', { deadline: now + 2000 });
    now += 499;
    assert.equal(await get(c, '/summary', { deadline: now + 2000 }), first);
    assert.equal(hits['/api/v1/summary'], 1);
    now += 1;
    const fresh = await get(c, '/summary', { deadline: now + 2000 });
    assert.notEqual(fresh, first);
    assert.equal(hits['/api/v1/summary'], 2);
    c.close();
  });

  it('lets reused answers go once they expire, with no further calls', async () => {
    const c = new AgentClient({ baseUrl: base, token: 't', reuseMs: 100 });
    await get(c);
    assert.equal(c.reusedCount, 1);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(c.reusedCount, 0);
    c.close();
  });

  it('clamps reuse to at most a second', async () => {
    let now = Date.now();
    const c = new AgentClient({ baseUrl: base, token: 't', reuseMs: 60_000, clock: () => now });
    await get(c, '/summary', { deadline: now + 2000 });
    now += 1000;
    await get(c, '/summary', { deadline: now + 2000 });
    assert.equal(hits['/api/v1/summary'], 2);
    c.close();
  });

  it('never reuses an error: the next call asks again', async () => {
    const c = new AgentClient({ baseUrl: base, token: 't', reuseMs: 1000 });
    failNext = 1;
    const failed = await Promise.allSettled(Array.from({ length: 5 }, () => get(c)));
    // The callers in flight together share the one failed answer…
    assert.equal(hits['/api/v1/summary'], 1);
    for (const r of failed) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.code, 'PEER_UNREACHABLE');
    }
    // … but it is not kept: the next call is a new request, and succeeds.
    assert.equal(c.reusedCount, 0);
    assert.deepEqual(await get(c), summary);
    assert.equal(hits['/api/v1/summary'], 2);
    c.close();
  });

  it('never shares between tokens or instances', async () => {
    const a = new AgentClient({ baseUrl: base, token: 'token-a', reuseMs: 1000 });
    const b = new AgentClient({ baseUrl: base, token: 'token-b', reuseMs: 1000 });
    await Promise.all([get(a), get(b), get(a), get(b)]);
    assert.equal(hits['/api/v1/summary'], 2);
    assert.deepEqual(tokens.sort(), ['Bearer token-a', 'Bearer token-b']);
    a.close();
    b.close();

    const cache = new InstanceCache(4, { reuseMs: 1000 });
    const settings = { name: 'ds', url: base, token: 'same', lastUpdatedMS: 1 };
    const one = cache.clientFor({ ...settings, uid: 'one' });
    const two = cache.clientFor({ ...settings, uid: 'two' });
    hits = {};
    await Promise.all([get(one), get(two)]);
    assert.equal(hits['/api/v1/summary'], 2);
    // A token change rebuilds the client: nothing reused from the old one.
    const rebuilt = cache.clientFor({ ...settings, uid: 'one', token: 'changed' });
    assert.notEqual(rebuilt, one);
    await get(rebuilt);
    assert.equal(hits['/api/v1/summary'], 3);
    assert.equal(tokens.at(-1), 'Bearer changed');
    cache.close();
  });

  it('lets a cancelled caller go without failing the others, and abandons a request nobody waits for', async () => {
    const c = new AgentClient({ baseUrl: base, token: 't' });
    const quitter = new AbortController();
    const first = c.json({ method: 'GET', path: '/slow', ...soon(), signal: quitter.signal });
    const stayer = c.json<{ ok: boolean }>({ method: 'GET', path: '/slow', ...soon() });
    setTimeout(() => quitter.abort(), 50);
    const cancelled = await assertRejectsCode(() => first, 'PEER_UNREACHABLE');
    assert.equal(cancelled.details?.status, 499);
    assert.deepEqual(await stayer, { ok: true });
    assert.equal(hits['/api/v1/slow'], 1);

    // Everyone gone: the request is dropped, and a later caller starts a new one.
    const x = new AbortController();
    const y = new AbortController();
    const both = [x, y].map((s) => c.json({ method: 'GET', path: '/slow', ...soon(), signal: s.signal }));
    setTimeout(() => {
      x.abort();
      y.abort();
    }, 50);
    for (const p of both) await assertRejectsCode(() => p, 'PEER_UNREACHABLE');
    assert.deepEqual(await c.json({ method: 'GET', path: '/slow', ...soon() }), { ok: true });
    assert.equal(hits['/api/v1/slow'], 3);
    assert.ok(closedEarly >= 1, 'the abandoned request was closed');
    c.close();
  });

  it('keeps each caller to its own shorter deadline', async () => {
    const c = new AgentClient({ baseUrl: base, token: 't' });
    const long = c.json({ method: 'GET', path: '/slow', ...soon(2000) });
    const started = Date.now();
    const short = await assertRejectsCode(
      () => c.json({ method: 'GET', path: '/slow', deadline: Date.now() + 100 }),
      'PEER_UNREACHABLE',
    );
    assert.equal(short.details?.status, 504);
    assert.ok(Date.now() - started < 350);
    assert.deepEqual(await long, { ok: true });
    assert.equal(hits['/api/v1/slow'], 1);
    c.close();
  });
});

function dq(queryType: string, json: Record<string, unknown> = {}, refId = 'A'): DataQuery {
  return {
    refId,
    maxDataPoints: 100,
    intervalMS: 1000,
    timeRange: { fromEpochMS: Date.now() - 60_000, toEpochMS: Date.now() },
    json: Buffer.from(JSON.stringify({ queryType, ...json })),
    queryType,
  };
}

describe('frames per answer', () => {
  it('encodes once for concurrent identical queries, apart for different ones', async () => {
    const c = new AgentClient({ baseUrl: base, token: 't' });
    let encoded = 0;
    const encode = (f: FrameSpec) => {
      encoded += 1;
      return encodeFrame(f);
    };
    const q = dq('counts', { status: 'untrusted' });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => answerQuery(q, () => c, soon(), Date.now(), encode)),
    );
    assert.equal(hits['/api/v1/summary'], 1);
    assert.ok(answers.every((a) => a.error === '' && a.frames.length > 0));
    assert.equal(encoded, answers[0]!.frames.length);
    assert.ok(answers.every((a) => a.frames[0] === answers[0]!.frames[0]));

    // Same answer, other refId, status or query type: frames of their own.
    encoded = 0;
    const [other, all, up] = await Promise.all([
      answerQuery(dq('counts', { status: 'untrusted' }, 'B'), () => c, soon(), Date.now(), encode),
      answerQuery(dq('counts'), () => c, soon(), Date.now(), encode),
      answerQuery(dq('nodeUp'), () => c, soon(), Date.now(), encode),
    ]);
    assert.equal(hits['/api/v1/summary'], 2);
    assert.ok(encoded >= other!.frames.length + all!.frames.length + up!.frames.length);
    assert.notEqual(other!.frames[0], answers[0]!.frames[0]);
    c.close();
  });
});

describe('answerReuseMs', () => {
  it('reads GF_PLUGIN_ANSWER_REUSE_MS, bounded to a second', () => {
    assert.equal(answerReuseMs({}), undefined);
    assert.equal(answerReuseMs({ GF_PLUGIN_ANSWER_REUSE_MS: '' }), undefined);
    assert.equal(answerReuseMs({ GF_PLUGIN_ANSWER_REUSE_MS: 'soon' }), undefined);
    assert.equal(answerReuseMs({ GF_PLUGIN_ANSWER_REUSE_MS: '-5' }), undefined);
    assert.equal(answerReuseMs({ GF_PLUGIN_ANSWER_REUSE_MS: '0' }), 0);
    assert.equal(answerReuseMs({ GF_PLUGIN_ANSWER_REUSE_MS: '250' }), 250);
    assert.equal(answerReuseMs({ GF_PLUGIN_ANSWER_REUSE_MS: '5000' }), 1000);
  });
});

describe('querySerializer', () => {
  it('serializes a many-entry answer as the plain serializer does, and each frames array once', () => {
    const method = loadProtocol().Data.service.QueryData as unknown as {
      responseSerialize(v: QueryDataResponse): Buffer;
      responseDeserialize(b: Buffer): QueryDataResponse;
    };
    let calls = 0;
    const serialize = querySerializer((v) => {
      calls += 1;
      return method.responseSerialize(v);
    });
    const frames = [Buffer.from('frame one'), Buffer.from('frame two')];
    const value: QueryDataResponse = {
      responses: {
        A: { frames, error: '', status: 200, errorSource: '' },
        B: { frames: [], error: 'NOT_FOUND: no such node', status: 404, errorSource: 'downstream' },
        C: { frames, error: '', status: 200, errorSource: '' },
      },
    };
    const decoded = method.responseDeserialize(serialize(value));
    assert.deepEqual(decoded, method.responseDeserialize(method.responseSerialize(value)));
    assert.deepEqual(Object.keys(decoded.responses).sort(), ['A', 'B', 'C']);
    assert.deepEqual(decoded.responses.A?.frames.map(String), ['frame one', 'frame two']);
    assert.equal(decoded.responses.B?.error, 'NOT_FOUND: no such node');
    assert.equal(calls, 3);
    // The same frames again: kept bytes for A and C, the error entry serialized anew.
    serialize(value);
    assert.equal(calls, 4);
    // A single entry is passed through as is.
    const one = { responses: { A: value.responses.A! } };
    assert.deepEqual(method.responseDeserialize(serialize(one)).responses.A?.frames.map(String), [
      'frame one',
      'frame two',
    ]);
  });
});
