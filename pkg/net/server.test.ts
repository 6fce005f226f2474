import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { assertCode } from '../testing/assert-code';
import { ImagetrustError } from '../errors';
import { clientFetch, loadClientTls } from './client';
import {
  createListener,
  loadServerTls,
  parseRateLimit,
  serverTlsFrom,
  SERVER_LIMITS,
  type ServerTls,
} from './server';
import { makeTestPki, type TestPki } from './test-pki';

function tempPki(t: { after: (fn: () => void) => void }): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'itd-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return makeTestPki(dir);
}

function app(options: { tls?: ServerTls; rateLimit?: number } = {}): FastifyInstance {
  const a = createListener({ bodyLimit: 100, ...options });
  a.get('/healthz', async () => ({ ok: true }));
  a.get('/metrics', async () => 'm 1\n');
  a.get('/api', async () => ({ api: true }));
  a.post('/small', async () => ({ ok: true }));
  a.post('/large', { bodyLimit: 10_000 }, async () => ({ ok: true }));
  a.get('/boom', async () => {
    throw new ImagetrustError('NOT_FOUND', 'nothing here');
  });
  return a;
}

/** What a raw socket gets back for `request` (everything until the server closes or 2 s pass). */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let data = '';
    const done = (): void => {
      s.destroy();
      resolve(data);
    };
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('close', done);
    s.on('error', done);
    setTimeout(done, 2000).unref();
    s.write(request);
  });
}

test('bounds: body per route (413), URL (414), headers (431), all in the JSON error shape', async (t) => {
  const a = app();
  t.after(() => a.close());
  const small = await a.inject({ method: 'POST', url: '/small', payload: { x: 'y'.repeat(200) } });
  assert.equal(small.statusCode, 413);
  assert.equal(small.json().error.code, 'LIMIT_EXCEEDED');
  const large = await a.inject({ method: 'POST', url: '/large', payload: { x: 'y'.repeat(200) } });
  assert.equal(large.statusCode, 200);
  const long = await a.inject({ url: `/api?x=${'a'.repeat(SERVER_LIMITS.maxUrlBytes)}` });
  assert.equal(long.statusCode, 414);
  assert.equal(long.json().error.code, 'LIMIT_EXCEEDED');
  const boom = await a.inject({ url: '/boom' });
  assert.equal(boom.statusCode, 404);
  assert.deepEqual(boom.json(), { error: { code: 'NOT_FOUND', message: 'nothing here' } });
  const unknown = await a.inject({ url: '/no/such/route?x=1' });
  assert.equal(unknown.statusCode, 404);
  assert.deepEqual(unknown.json(), { error: { code: 'NOT_FOUND', message: 'no route GET /no/such/route' } });

  await a.listen({ host: '127.0.0.1', port: 0 });
  const port = (a.server.address() as { port: number }).port;
  const big = await raw(
    port,
    `GET /api HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(SERVER_LIMITS.maxHeaderBytes)}\r\n\r\n`,
  );
  assert.match(big, /^HTTP\/1\.1 431 /);
  assert.equal(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4)).error.code, 'LIMIT_EXCEEDED');
  const garbage = await raw(port, 'NOT HTTP AT ALL\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 /);
  assert.equal(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)).error.code, 'BAD_REQUEST');
});

test('rate limit per client: 429 LIMIT_EXCEEDED past the budget; health and metrics exempt; 0 is none', async (t) => {
  const a = app({ rateLimit: 2 });
  t.after(() => a.close());
  const codes: number[] = [];
  for (let i = 0; i < 25; i++) codes.push((await a.inject({ url: '/api' })).statusCode);
  assert.deepEqual(codes.slice(0, 20), new Array(20).fill(200));
  assert.deepEqual(codes.slice(20), new Array(5).fill(429));
  const refused = await a.inject({ url: '/api' });
  assert.equal(refused.json().error.code, 'LIMIT_EXCEEDED');
  assert.ok(refused.headers['retry-after']);
  // Another client address has its own budget.
  assert.equal((await a.inject({ url: '/api', remoteAddress: '10.0.0.9' })).statusCode, 200);
  for (let i = 0; i < 50; i++) {
    assert.equal((await a.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await a.inject({ url: '/metrics' })).statusCode, 200);
  }
  const none = app({ rateLimit: 0 });
  t.after(() => none.close());
  for (let i = 0; i < 100; i++) assert.equal((await none.inject({ url: '/api' })).statusCode, 200);
  assert.equal(parseRateLimit(undefined, 7), 7);
  assert.equal(parseRateLimit('0'), 0);
  assertCode(() => parseRateLimit('-1'), 'CONFIG_INVALID');
  assertCode(() => parseRateLimit('1e3'), 'CONFIG_INVALID');
});

test('TLS: served with the certificate; plain HTTP on the port gets no data; untrusted clients refuse it', async (t) => {
  const pki = tempPki(t);
  const a = app({ tls: loadServerTls({ cert: pki.serverCert, key: pki.serverKey }) });
  t.after(() => a.close());
  const address = await a.listen({ host: '127.0.0.1', port: 0 });
  assert.match(address, /^https:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(new URL(address).port);
  const trusted = clientFetch(loadClientTls({ ca: pki.ca }, {}));
  assert.deepEqual(await (await trusted(`${address}/api`)).json(), { api: true });
  // NODE_EXTRA_CA_CERTS counts as trusted too.
  const viaEnv = clientFetch(loadClientTls({ ca: pki.otherCa }, { NODE_EXTRA_CA_CERTS: pki.ca }));
  assert.equal((await viaEnv(`${address}/healthz`)).status, 200);
  await assert.rejects(fetch(`${address}/healthz`), 'the global store does not know the test CA');
  await assert.rejects(clientFetch(loadClientTls({ ca: pki.otherCa }, {}))(`${address}/healthz`));
  assert.equal(await raw(port, 'GET /api HTTP/1.1\r\nHost: x\r\n\r\n'), '', 'plain HTTP gets no answer');
});

test('mutual TLS: with --tls-client-ca a client without a certificate of that CA is refused', async (t) => {
  const pki = tempPki(t);
  const tls = serverTlsFrom({ tlsCert: pki.serverCert, tlsKey: pki.serverKey, tlsClientCa: pki.ca });
  const a = app({ ...(tls ? { tls } : {}) });
  t.after(() => a.close());
  const address = await a.listen({ host: '127.0.0.1', port: 0 });
  const withCert = clientFetch(loadClientTls({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, {}));
  assert.equal((await withCert(`${address}/api`)).status, 200);
  await assert.rejects(clientFetch(loadClientTls({ ca: pki.ca }, {}))(`${address}/api`));
  const wrongIssuer = clientFetch(
    loadClientTls({ ca: pki.ca, cert: pki.otherServerCert, key: pki.otherServerKey }, {}),
  );
  await assert.rejects(wrongIssuer(`${address}/api`));
});

function servedCertificate(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(ca) }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

test('SIGHUP reloads the certificate files; bad new files keep the old certificate', async (t) => {
  const pki = tempPki(t);
  const cert = join(pki.dir, 'live.pem');
  const key = join(pki.dir, 'live.key');
  copyFileSync(pki.serverCert, cert);
  copyFileSync(pki.serverKey, key);
  chmodSync(key, 0o600);
  const reloads: (ImagetrustError | undefined)[] = [];
  const a = createListener({
    bodyLimit: 100,
    tls: loadServerTls({ cert, key }),
    onReload: (err) => reloads.push(err),
  });
  a.get('/healthz', async () => ({ ok: true }));
  t.after(() => a.close());
  await a.listen({ host: '127.0.0.1', port: 0 });
  const port = (a.server.address() as { port: number }).port;
  const first = new X509Certificate(readFileSync(pki.serverCert)).fingerprint256;
  const second = new X509Certificate(readFileSync(pki.otherServerCert)).fingerprint256;
  assert.equal(await servedCertificate(port, pki.ca), first);

  copyFileSync(pki.otherServerCert, cert);
  copyFileSync(pki.otherServerKey, key);
  process.emit('SIGHUP', 'SIGHUP');
  assert.equal(reloads.length, 1);
  assert.equal(reloads[0], undefined);
  assert.equal(await servedCertificate(port, pki.otherCa), second);

  // A key that does not match, then a key others can read: refused, the old pair stays.
  copyFileSync(pki.serverKey, key);
  process.emit('SIGHUP', 'SIGHUP');
  assert.equal(reloads[1]?.code, 'CONFIG_INVALID');
  copyFileSync(pki.otherServerKey, key);
  chmodSync(key, 0o644);
  process.emit('SIGHUP', 'SIGHUP');
  assert.match(reloads[2]?.message ?? '', /chmod 600/);
  assert.equal(await servedCertificate(port, pki.otherCa), second);
  await a.close();
  const listeners = process.listenerCount('SIGHUP');
  process.emit('SIGHUP', 'SIGHUP');
  assert.equal(reloads.length, 3, 'a closed server no longer listens for SIGHUP');
  assert.equal(process.listenerCount('SIGHUP'), listeners);
});

test('bad TLS files are CONFIG_INVALID naming the file', (t) => {
  const pki = tempPki(t);
  const e1 = assertCode(
    () => loadServerTls({ cert: join(pki.dir, 'nope.pem'), key: pki.serverKey }),
    'CONFIG_INVALID',
  );
  assert.ok(e1.message.includes('nope.pem'));
  assertCode(() => loadServerTls({ cert: pki.serverKey, key: pki.serverKey }), 'CONFIG_INVALID');
  const mismatch = assertCode(
    () => loadServerTls({ cert: pki.serverCert, key: pki.clientKey }),
    'CONFIG_INVALID',
  );
  assert.ok(mismatch.message.includes(pki.clientKey));
  chmodSync(pki.serverKey, 0o644);
  assert.match(
    assertCode(() => loadServerTls({ cert: pki.serverCert, key: pki.serverKey }), 'CONFIG_INVALID').message,
    /chmod 600/,
  );
  assertCode(() => loadServerTls({ cert: '/dev/zero', key: pki.serverKey }), 'CONFIG_INVALID');
  assertCode(() => serverTlsFrom({ tlsCert: pki.serverCert }), 'CONFIG_INVALID');
  assertCode(() => serverTlsFrom({ tlsClientCa: pki.ca }), 'CONFIG_INVALID');
  assert.equal(serverTlsFrom({}), undefined);
  chmodSync(pki.clientKey, 0o644);
  assertCode(() => loadClientTls({ cert: pki.clientCert, key: pki.clientKey }, {}), 'CONFIG_INVALID');
  assertCode(() => loadClientTls({ cert: pki.clientCert }, {}), 'CONFIG_INVALID');
  assertCode(() => loadClientTls({ ca: pki.serverKey }, {}), 'CONFIG_INVALID');
});

test('shutdown does not wait for idle or trickling clients', async (t) => {
  const a = app();
  await a.listen({ host: '127.0.0.1', port: 0 });
  const port = (a.server.address() as { port: number }).port;
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  const idle = netConnect(port, '127.0.0.1');
  sockets.push(idle);
  idle.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    idle.once('data', () => resolve());
    idle.write('GET /api HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  for (let i = 0; i < 20; i++) {
    const s = netConnect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write('GET /api HTTP/1.1\r\nHost: x\r\n');
    sockets.push(s);
  }
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  await a.close();
  assert.ok(Date.now() - started < 1000, `closed in ${Date.now() - started} ms`);
});
