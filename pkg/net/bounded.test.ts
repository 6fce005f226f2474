import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertRejectsCode } from '../testing/assert-code';
import { RemoteBackend } from '../ledger/remote';
import { readBounded } from './bounded';

async function server(
  t: TestContext,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  const s = createServer(handler);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    s.closeAllConnections();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  });
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** Streams spaces until the client hangs up; reports how much it sent and whether it was cut off. */
function endless(stats: { sent: number; closed: boolean }) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.on('close', () => (stats.closed = true));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = (): void => {
      while (!res.destroyed && stats.sent < 1024 * 1024 * 1024) {
        stats.sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    pump();
  };
}

const options = { tooLarge: 'LEDGER_BAD_RESPONSE', broken: 'LEDGER_UNREACHABLE', who: 'test' } as const;

describe('bounded answers', () => {
  it('reads an answer within the bound whole', async (t) => {
    const url = await server(t, (_req, res) => res.end('x'.repeat(1000)));
    assert.equal((await readBounded(await fetch(url), { ...options, maxBytes: 1000 })).length, 1000);
  });

  it('stops reading an endless answer at the bound and hangs up', async (t) => {
    const stats = { sent: 0, closed: false };
    const url = await server(t, endless(stats));
    const err = await assertRejectsCode(
      async () => readBounded(await fetch(url), { ...options, maxBytes: 256 * 1024 }),
      'LEDGER_BAD_RESPONSE',
    );
    assert.match(err.message, /too large/);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(stats.closed, 'the connection was closed');
    assert.ok(stats.sent < 32 * 1024 * 1024, `${stats.sent} bytes sent`);
  });

  it('refuses a declared Content-Length over the bound before reading', async (t) => {
    const url = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(600 * 1024 * 1024) });
      res.write('{');
    });
    await assertRejectsCode(
      async () => readBounded(await fetch(url), { ...options, maxBytes: 1024 }),
      'LEDGER_BAD_RESPONSE',
    );
  });

  it('an answer that breaks off is the "broken" code', async (t) => {
    const url = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"a":');
      setTimeout(() => res.destroy(), 50);
    });
    await assertRejectsCode(
      async () => readBounded(await fetch(url), { ...options, maxBytes: 1024 }),
      'LEDGER_UNREACHABLE',
    );
  });

  it('a remote ledger answering without end is a bad response, cut off at its bound', async (t) => {
    const stats = { sent: 0, closed: false };
    const url = await server(t, endless(stats));
    const ledger = new RemoteBackend(url, { maxResponseBytes: 1024 * 1024, timeoutMs: 10_000 });
    await assertRejectsCode(() => ledger.info(), 'LEDGER_BAD_RESPONSE');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(stats.closed);
    assert.ok(stats.sent < 64 * 1024 * 1024, `${stats.sent} bytes sent`);
  });
});
