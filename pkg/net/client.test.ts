import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientFetch, loadClientTls } from './client';
import { createListener, loadServerTls } from './server';
import { makeTestPki } from './test-pki';

test('clientFetch speaks fetch over TLS: bodies, headers, statuses, no redirects, timeouts that cover the body', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'itd-client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = makeTestPki(dir);
  const app = createListener({
    bodyLimit: 1024,
    tls: loadServerTls({ cert: pki.serverCert, key: pki.serverKey }),
  });
  app.post('/echo', async (req) => ({ body: req.body, auth: req.headers.authorization ?? null }));
  app.get('/empty', async (_req, reply) => reply.code(204).send());
  app.get('/moved', async (_req, reply) => reply.redirect('https://127.0.0.1:1/elsewhere'));
  app.get('/trickle', async (_req, reply) => {
    reply.raw.writeHead(200, { 'content-type': 'text/plain' });
    reply.raw.write('start');
    // Never ends: the client's signal must break the read.
    return reply;
  });
  t.after(() => app.close());
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const f = clientFetch(loadClientTls({ ca: pki.ca }, {}));

  const echo = await f(`${address}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer abc' },
    body: JSON.stringify({ a: 1 }),
  });
  assert.equal(echo.status, 200);
  assert.match(echo.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(await echo.json(), { body: { a: 1 }, auth: 'Bearer abc' });
  const bytes = await f(`${address}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new TextEncoder().encode('{"b":2}'),
  });
  assert.deepEqual(((await bytes.json()) as { body: unknown }).body, { b: 2 });
  assert.equal((await f(`${address}/empty`)).status, 204);
  const moved = await f(`${address}/moved`);
  assert.equal(moved.status, 302, 'a redirect is answered as it is');
  const trickle = await f(`${address}/trickle`, { signal: AbortSignal.timeout(300) });
  const started = Date.now();
  await assert.rejects(trickle.text());
  assert.ok(Date.now() - started < 2000);
  await assert.rejects(f(`${address}/empty`, { signal: AbortSignal.abort() }));
  // http: URLs and no TLS go to the global fetch.
  const plain = createListener({ bodyLimit: 1024 });
  plain.get('/x', async () => ({ x: 1 }));
  t.after(() => plain.close());
  const plainAddress = await plain.listen({ host: '127.0.0.1', port: 0 });
  assert.deepEqual(await (await f(`${plainAddress}/x`)).json(), { x: 1 });
  assert.deepEqual(await (await clientFetch(undefined)(`${plainAddress}/x`)).json(), { x: 1 });
  assert.equal(loadClientTls({}, {}), undefined);
});
