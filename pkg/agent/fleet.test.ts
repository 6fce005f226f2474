import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertCode, assertRejectsCode } from '../testing/assert-code';
import { Fleet, parseLocalView } from './fleet';

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
      assertCode(() => parseLocalView(doc), 'PEER_INVALID');
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
    assert.match(reason.get(urls.notView)?.reason ?? '', /not a node view/);
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
