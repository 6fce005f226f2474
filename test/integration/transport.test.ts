// Transport hardening against the real commands (issue 13 items 1–3): every listener over TLS
// with certificates made by openssl in the test's folder; plain HTTP on a TLS port gets no
// data; the fleet store over TLS to a real PostgreSQL started with ssl=on, its password from
// a file; tokens from files, never in `ps` or any log; private keys and secrets read bounded
// and refused when others can read them; a slowloris does not starve /healthz; idle
// connections are closed in seconds and shutdown does not wait for clients.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { BIN } from './harness/cli';
import { freePort, run, runOk, startBackground, waitFor, type Background } from './harness/process';
import { postgresBin } from './harness/postgres';
import { clientFetch, loadClientTls, type FetchFunction } from '../../pkg/net/client';
import { makeTestPki, type TestPki } from '../../pkg/net/test-pki';

const SIGNER = '0123456789abcdef0123456789abcdef';
const TOKEN = 'tok-3f9c2a71e8b54d06a1c7e9f2b4d8a6c0';
const PG_PASSWORD = 'pw-7d1e5b9c3a2f4e6d8c0b1a3f5e7d9c2b';

interface Server {
  url: string;
  port: number;
  proc: Background;
}

function secretFile(path: string, text: string): string {
  writeFileSync(path, `${text}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** Everything a raw TCP client gets back for `request` (until the server closes, or 2 s). */
function plainAnswer(port: number, request: string): Promise<string> {
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

function cmdline(pid: number | undefined): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
}

describe('transport: TLS on every listener, secrets from files, bounded servers', () => {
  let dir: string;
  let pki: TestPki;
  let tlsFetch: FetchFunction;
  let env: NodeJS.ProcessEnv;
  let ledger: Server;
  let witness: Server;
  let agent: Server;
  let ledgerVkey: string;
  const started: Background[] = [];

  async function serve(name: string, args: string[], port: number, probe?: FetchFunction): Promise<Server> {
    const proc = startBackground(process.execPath, [BIN, ...args], join(dir, `${name}.log`), env);
    started.push(proc);
    const url = `https://127.0.0.1:${port}`;
    await waitFor(`${name} on ${url} (log ${dir}/${name}.log)`, async () => {
      if (proc.child.exitCode !== null) throw new Error(`${name} exited ${proc.child.exitCode}`);
      return (await (probe ?? tlsFetch)(`${url}/healthz`)).status > 0 ? true : undefined;
    });
    return { url, port, proc };
  }

  const tls = (): string[] => ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey];

  before(async () => {
    dir = mkdtempSync('/tmp/itd-transport-');
    pki = makeTestPki(dir);
    tlsFetch = clientFetch(loadClientTls({ ca: pki.ca }, {}));
    env = {
      PATH: process.env.PATH,
      HOME: dir,
      IMAGETRUST_HOME: join(dir, 'home'),
      DOCKER_HOST: `unix://${dir}/no-docker.sock`,
    };
    const ledgerPort = await freePort();
    ledger = await serve(
      'ledger',
      [
        'ledger',
        'serve',
        '--ledger',
        join(dir, 'ledger.db'),
        '--port',
        String(ledgerPort),
        '--open',
        ...tls(),
      ],
      ledgerPort,
    );
    const vkey = ((await (await tlsFetch(`${ledger.url}/api/v1/ledger`)).json()) as { vkey: string }).vkey;
    ledgerVkey = vkey;
    await runOk(process.execPath, [BIN, 'witness', 'keygen', 'w1.test', '--key', join(dir, 'w1.key')], {
      env,
    });
    const witnessPort = await freePort();
    witness = await serve(
      'witness',
      [
        'witness',
        'serve',
        '--key',
        join(dir, 'w1.key'),
        '--log',
        vkey,
        '--port',
        String(witnessPort),
        '--rate-limit',
        '1',
        ...tls(),
      ],
      witnessPort,
    );
    const agentPort = await freePort();
    agent = await serve(
      'agent',
      ['agent', '--node', 'tls-node', '--listen', `127.0.0.1:${agentPort}`, '--signer', SIGNER]
        .concat(['--ledger', ledger.url, '--tls-ca', pki.ca, '--log-level', 'trace'])
        .concat([
          '--token-file',
          secretFile(join(dir, 'token'), TOKEN),
          '--history',
          join(dir, 'history.db'),
          ...tls(),
        ]),
      agentPort,
    );
  });

  after(async () => {
    for (const p of started) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ledger, witness and agent answer over TLS; plain HTTP on their ports gets no data; an unknown CA is refused', async () => {
    for (const s of [ledger, witness, agent]) {
      assert.equal((await tlsFetch(`${s.url}/healthz`)).headers.get('content-type')?.includes('json'), true);
      assert.equal(
        await plainAnswer(s.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
        '',
        `${s.url} answered plain HTTP`,
      );
      await assert.rejects(
        fetch(`${s.url}/healthz`),
        `${s.url}: the system store does not trust the test CA`,
      );
    }
    // The agent reaches the ledger over TLS with --tls-ca: a lookup through it is answered.
    const statements = await tlsFetch(
      `${agent.url}/api/v1/ledger/statements?digest=sha256:${'a'.repeat(64)}`,
      {
        headers: { authorization: `Bearer ${TOKEN}` },
      },
    );
    assert.equal(statements.status, 200, await statements.clone().text());
    // The CLI reaches it with --tls-ca too, and not without.
    const info = await run(
      process.execPath,
      [BIN, 'ledger', 'info', '--ledger', ledger.url, '--tls-ca', pki.ca, '-o', 'json'],
      { env },
    );
    assert.equal(info.code, 0, info.stderr);
    const refused = await run(
      process.execPath,
      [BIN, 'ledger', 'info', '--ledger', ledger.url, '-o', 'json'],
      { env },
    );
    assert.equal(refused.code, 69, refused.stderr);
    assert.match(refused.stderr, /LEDGER_UNREACHABLE/);
    const viaEnv = await run(process.execPath, [BIN, 'ledger', 'info', '--ledger', ledger.url], {
      env: { ...env, NODE_EXTRA_CA_CERTS: pki.ca },
    });
    assert.equal(viaEnv.code, 0, `NODE_EXTRA_CA_CERTS: ${viaEnv.stderr}`);
  });

  test('the token: required, from a file, never on a command line, never in a log', async () => {
    assert.equal((await tlsFetch(`${agent.url}/api/v1/nodes`)).status, 401);
    assert.equal(
      (
        await tlsFetch(`${agent.url}/api/v1/nodes`, {
          headers: { authorization: 'Bearer wrong-token-0000000000' },
        })
      ).status,
      401,
    );
    assert.equal(
      (await tlsFetch(`${agent.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      200,
    );
    for (const s of [ledger, witness, agent]) assert.ok(!cmdline(s.proc.child.pid).includes(TOKEN));
    const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
    assert.ok(!ps.includes(TOKEN), 'no process shows the token');
    await new Promise((r) => setTimeout(r, 300));
    for (const name of ['ledger', 'witness', 'agent']) {
      const log = readFileSync(join(dir, `${name}.log`), 'utf8');
      assert.ok(!log.includes(TOKEN), `${name}.log holds the token`);
    }
    assert.match(
      readFileSync(join(dir, 'agent.log'), 'utf8'),
      /"token":"\[redacted\]"/,
      'the trace log did log the configuration',
    );
  });

  test('secrets and keys that others can read, or that never end, are refused at once', async () => {
    const open = join(dir, 'open-token');
    writeFileSync(open, `${TOKEN}\n`, { mode: 0o644 });
    chmodSync(open, 0o644);
    const agentRun = await run(process.execPath, [BIN, 'agent', '--signer', SIGNER, '--token-file', open], {
      env,
      timeoutMs: 20_000,
    });
    assert.equal(agentRun.code, 78, agentRun.stderr);
    assert.ok(
      agentRun.stderr.includes(open) && agentRun.stderr.includes(`chmod 600 ${open}`),
      agentRun.stderr,
    );
    const fleet = await run(
      process.execPath,
      [BIN, 'fleet', 'serve', '--fleet-db', 'postgres://x@127.0.0.1:1/x', '--token-file', open],
      { env },
    );
    assert.equal(fleet.code, 78, fleet.stderr);
    const t0 = Date.now();
    const zero = await run(process.execPath, [BIN, 'witness', 'serve', '--key', '/dev/zero', '--log', 'x'], {
      env,
      timeoutMs: 20_000,
    });
    assert.equal(zero.code, 77);
    assert.match(zero.stderr, /\/dev\/zero is not a regular file/);
    assert.ok(Date.now() - t0 < 10_000);
    const key = join(dir, 'readable.key');
    copyFileSync(join(dir, 'w1.key'), key);
    copyFileSync(join(dir, 'w1.key.vkey'), `${key}.vkey`);
    chmodSync(key, 0o644);
    const readable = await run(process.execPath, [BIN, 'witness', 'serve', '--key', key, '--log', 'x'], {
      env,
    });
    assert.equal(readable.code, 77);
    assert.ok(readable.stderr.includes(`chmod 600 ${key}`), readable.stderr);
    const warned = await run(process.execPath, [BIN, 'agent', '--signer', SIGNER, '--token', 'short'], {
      env,
      timeoutMs: 20_000,
    });
    assert.match(warned.stderr, /--token on the command line can be read by every local user/);
  });

  test('bounds on a real server: 414, 431, 413 in the JSON shape; the rate limit answers 429, health stays open', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const long = await tlsFetch(`${agent.url}/api/v1/nodes?x=${'a'.repeat(9000)}`, { headers: auth });
    assert.equal(long.status, 414);
    assert.equal(((await long.json()) as { error: { code: string } }).error.code, 'LIMIT_EXCEEDED');
    const big = await tlsFetch(`${agent.url}/api/v1/nodes`, {
      headers: { ...auth, 'x-big': 'b'.repeat(17_000) },
    });
    assert.equal(big.status, 431);
    const body = await tlsFetch(`${agent.url}/api/v1/verify`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ container: 'x'.repeat(5000) }),
    });
    assert.equal(body.status, 413);
    assert.equal(((await body.json()) as { error: { code: string } }).error.code, 'LIMIT_EXCEEDED');
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push((await tlsFetch(`${witness.url}/`)).status);
    assert.deepEqual(codes.slice(0, 10), new Array(10).fill(200));
    assert.equal(codes.at(-1), 429);
    for (let i = 0; i < 20; i++) assert.equal((await tlsFetch(`${witness.url}/healthz`)).status, 200);
  });

  test('a slowloris of 300 trickling connections does not starve /healthz; idle connections close in seconds', async (t) => {
    const sockets: TLSSocket[] = [];
    const times: number[] = [];
    const ca = readFileSync(pki.ca);
    try {
      await Promise.all(
        Array.from(
          { length: 300 },
          () =>
            new Promise<void>((resolve) => {
              const s = tlsConnect({ host: '127.0.0.1', port: agent.port, ca }, () => {
                s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
                resolve();
              });
              s.on('error', () => resolve());
              sockets.push(s);
            }),
        ),
      );
      const trickle = setInterval(() => sockets.forEach((s) => s.writable && s.write('X-Slow: 1\r\n')), 200);
      try {
        for (let i = 0; i < 5; i++) {
          const t0 = Date.now();
          const res = await tlsFetch(`${agent.url}/healthz`, { signal: AbortSignal.timeout(5000) });
          await res.text();
          assert.ok(Date.now() - t0 < 1000, `healthz took ${Date.now() - t0} ms under a slowloris`);
          times.push(Date.now() - t0);
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        clearInterval(trickle);
      }
    } finally {
      sockets.forEach((s) => s.destroy());
    }
    // An idle keep-alive connection is closed by the server after about 5 s, not 60–73 s.
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: agent.port, ca }, () =>
        s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n'),
      );
      let answered = 0;
      s.once('data', () => (answered = Date.now()));
      s.on('close', () => resolve(Date.now() - answered));
      s.on('error', reject);
      setTimeout(() => reject(new Error('the idle connection stayed open 15 s')), 15_000).unref();
    });
    assert.ok(closedAfter >= 4000 && closedAfter < 8000, `idle connection closed after ${closedAfter} ms`);
    t.diagnostic(
      `healthz under 300 slowloris connections: ${times.join(', ')} ms; an idle connection closed after ${closedAfter} ms`,
    );
  });

  test('agents ask each other over mutual TLS: a peer with --tls-client-ca answers only agents with a client certificate', async () => {
    const portB = await freePort();
    const mutual = clientFetch(loadClientTls({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, {}));
    const b = await serve(
      'agent-b',
      [
        'agent',
        '--node',
        'tls-node-b',
        '--listen',
        `127.0.0.1:${portB}`,
        '--signer',
        SIGNER,
        '--ledger',
        ledger.url,
      ].concat([
        '--tls-ca',
        pki.ca,
        '--history',
        join(dir, 'history-b.db'),
        ...tls(),
        '--tls-client-ca',
        pki.ca,
      ]),
      portB,
      mutual,
    );
    await assert.rejects(
      tlsFetch(`${b.url}/api/v1/local`),
      'no client certificate: refused in the handshake',
    );
    assert.equal((await mutual(`${b.url}/api/v1/local`)).status, 200);
    const portA = await freePort();
    const a = await serve(
      'agent-a',
      [
        'agent',
        '--node',
        'tls-node-a',
        '--listen',
        `127.0.0.1:${portA}`,
        '--signer',
        SIGNER,
        '--ledger',
        ledger.url,
      ]
        .concat(['--tls-ca', pki.ca, '--history', join(dir, 'history-a.db'), ...tls(), '--peer', b.url])
        .concat(['--tls-client-cert', pki.clientCert, '--tls-client-key', pki.clientKey]),
      portA,
    );
    type Nodes = { nodes: { node: string; reason?: string; url?: string }[] };
    const nodes = (await (await tlsFetch(`${a.url}/api/v1/nodes`)).json()) as Nodes;
    const peer = nodes.nodes.find((n) => n.node === 'tls-node-b');
    // B answered A with its own view (its own engine is absent here): the mutual TLS worked.
    assert.ok(peer, JSON.stringify(nodes));
    assert.equal(peer.url, b.url);
    assert.match(peer.reason ?? '', /Docker engine is unreachable/, JSON.stringify(peer));
    await a.proc.stop();
    await b.proc.stop();
  });

  test('authz serves its metrics over TLS', async () => {
    const port = await freePort();
    const authz = await serve(
      'authz',
      [
        'authz',
        '--name',
        `itd-transport-${process.pid}`,
        '--socket-dir',
        join(dir, 'plugins'),
        '--signer',
        SIGNER,
      ].concat([
        '--ledger',
        ledger.url,
        '--tls-ca',
        pki.ca,
        '--metrics-listen',
        `127.0.0.1:${port}`,
        ...tls(),
      ]),
      port,
    );
    assert.equal((await tlsFetch(`${authz.url}/metrics`)).status, 200);
    assert.equal(await plainAnswer(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'), '');
    await authz.proc.stop();
  });

  test('shutdown with idle and trickling clients connected takes moments, not the clients’ time', async (t) => {
    const port = await freePort();
    const w = await serve(
      'witness-2',
      [
        'witness',
        'serve',
        '--key',
        join(dir, 'w1.key'),
        '--log',
        ledgerVkey,
        '--port',
        String(port),
        '--state',
        join(dir, 'w2.json'),
        ...tls(),
      ],
      port,
    );
    const ca = readFileSync(pki.ca);
    const sockets = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          new Promise<TLSSocket>((resolve) => {
            const s = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
              s.write(
                i % 2 ? 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' : 'GET /healthz HTTP/1.1\r\nHost: x\r\n',
              );
              resolve(s);
            });
            s.on('error', () => undefined);
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await w.proc.stop();
    const took = Date.now() - t0;
    sockets.forEach((s) => s.destroy());
    assert.ok(took < 3000, `shutdown took ${took} ms`);
    t.diagnostic(`SIGTERM to exit with 25 idle and 25 trickling clients: ${took} ms`);
  });
});

describe('transport: the fleet store over TLS to PostgreSQL with ssl=on', () => {
  let dir: string;
  let pki: TestPki;
  let port: number;
  const bin = postgresBin();
  const asPostgres = (cmd: string, args: string[]) =>
    runOk('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { timeoutMs: 120_000 });
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());

  before(async () => {
    dir = mkdtempSync('/tmp/itd-pgtls-');
    pki = makeTestPki(dir);
    const data = join(dir, 'data');
    const ssl = join(dir, 'ssl');
    mkdirSync(ssl);
    copyFileSync(pki.serverCert, join(ssl, 'server.pem'));
    copyFileSync(pki.serverKey, join(ssl, 'server.key'));
    chmodSync(join(ssl, 'server.key'), 0o600);
    for (const p of [dir, ssl, join(ssl, 'server.pem'), join(ssl, 'server.key')])
      chownSync(p, id('-u'), id('-g'));
    port = await freePort();
    await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'imagetrust', '--no-sync']);
    // TCP only with TLS and a password; the socket for the test's own setup.
    writeFileSync(
      join(data, 'pg_hba.conf'),
      'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n',
    );
    chownSync(join(data, 'pg_hba.conf'), id('-u'), id('-g'));
    await asPostgres('pg_ctl', [
      '-D',
      data,
      '-w',
      '-t',
      '60',
      '-l',
      join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_cert_file=${ssl}/server.pem -c ssl_key_file=${ssl}/server.key`,
      'start',
    ]);
    const admin = new pg.Client({ host: dir, port, user: 'imagetrust', database: 'postgres' });
    await admin.connect();
    await admin.query(`ALTER ROLE imagetrust PASSWORD '${PG_PASSWORD}'`);
    await admin.end();
  });

  after(async () => {
    await run('runuser', [
      '-u',
      'postgres',
      '--',
      join(bin, 'pg_ctl'),
      '-D',
      join(dir, 'data'),
      '-m',
      'immediate',
      'stop',
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('fleet serve connects with sslmode=verify-full and the password from IMAGETRUST_PG_PASSWORD_FILE; TLS from end to end', async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, IMAGETRUST_HOME: join(dir, 'home') };
    const url = `postgres://imagetrust@127.0.0.1:${port}/postgres`;
    const passwordFile = secretFile(join(dir, 'pgpass'), PG_PASSWORD);
    const tokenFile = secretFile(join(dir, 'token'), TOKEN);
    const listen = await freePort();
    const fleet = startBackground(
      process.execPath,
      [
        BIN,
        'fleet',
        'serve',
        '--fleet-db',
        `${url}?sslmode=verify-full&sslrootcert=${pki.ca}`,
        '--listen',
        `127.0.0.1:${listen}`,
      ].concat(['--token-file', tokenFile, '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey]),
      join(dir, 'fleet.log'),
      { ...env, IMAGETRUST_PG_PASSWORD_FILE: passwordFile },
    );
    try {
      const f = clientFetch(loadClientTls({ ca: pki.ca }, {}));
      await waitFor(`fleet serve (${dir}/fleet.log)`, async () => {
        if (fleet.child.exitCode !== null)
          throw new Error(
            `fleet serve exited ${fleet.child.exitCode}: ${readFileSync(join(dir, 'fleet.log'), 'utf8')}`,
          );
        return (await f(`https://127.0.0.1:${listen}/healthz`)).ok ? true : undefined;
      });
      const nodes = await f(`https://127.0.0.1:${listen}/api/v1/nodes`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(nodes.status, 200);
      const admin = new pg.Client({ host: dir, port, user: 'imagetrust', database: 'postgres' });
      await admin.connect();
      const ssl = await admin.query(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'imagetrust%'",
      );
      await admin.end();
      assert.ok(
        ssl.rows.length > 0 && ssl.rows.every((r: { ssl: boolean }) => r.ssl),
        'every connection of fleet serve is TLS',
      );
      for (const text of [cmdline(fleet.child.pid), readFileSync(join(dir, 'fleet.log'), 'utf8')]) {
        assert.ok(!text.includes(PG_PASSWORD) && !text.includes(TOKEN));
      }
    } finally {
      await fleet.stop();
    }
    // Without the CA the server's certificate is not believed; without TLS the server refuses.
    const noCa = await run(
      process.execPath,
      [BIN, 'fleet', 'serve', '--fleet-db', `${url}?sslmode=verify-full`, '--listen', '127.0.0.1:0'],
      {
        env: { ...env, IMAGETRUST_PG_PASSWORD_FILE: passwordFile },
        timeoutMs: 30_000,
      },
    );
    assert.notEqual(noCa.code, 0);
    assert.match(noCa.stderr, /certificate/i);
    const noTls = await run(
      process.execPath,
      [BIN, 'fleet', 'serve', '--fleet-db', `${url}?sslmode=disable`, '--listen', '127.0.0.1:0'],
      {
        env: { ...env, IMAGETRUST_PG_PASSWORD_FILE: passwordFile },
        timeoutMs: 30_000,
      },
    );
    assert.notEqual(noTls.code, 0);
    // PostgreSQL refuses a connection without TLS (hostssl only): SQLSTATE 28000, UNAUTHORIZED here.
    assert.match(noTls.stderr, /UNAUTHORIZED/);
    chmodSync(passwordFile, 0o640);
    const open = await run(
      process.execPath,
      [BIN, 'fleet', 'serve', '--fleet-db', url, '--listen', '127.0.0.1:0'],
      {
        env: { ...env, IMAGETRUST_PG_PASSWORD_FILE: passwordFile },
        timeoutMs: 30_000,
      },
    );
    assert.notEqual(open.code, 0);
    assert.ok(open.stderr.includes(`chmod 600 ${passwordFile}`), open.stderr);
  });
});
