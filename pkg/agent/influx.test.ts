import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import {
  InfluxForwarder,
  escapeKey,
  escapeTagValue,
  fieldString,
  formatLine,
  vcnVerificationLine,
} from './influx';
import type { ContainerResult } from './types';

describe('line protocol', () => {
  it("writes the original setup's vcn_verification line", () => {
    const c = {
      node: 'node-1',
      id: 'abc',
      name: 'web',
      status: 'untrusted',
      statusCode: 1,
      level: 3,
    } as ContainerResult;
    assert.equal(
      vcnVerificationLine(c, 1700000000123),
      'vcn_verification,container_id=abc,container_name=web,hostname=node-1,level=3,status=1 failed=1,status=1,level=3 1700000000123',
    );
  });

  it('escapes tags and fields as InfluxDB 1.x parses them', () => {
    assert.equal(escapeKey('a b,c=d'), 'a\\ b\\,c\\=d');
    assert.equal(escapeKey('back\\slash'), 'back\\slash');
    assert.equal(escapeKey('end\\'), 'end\u29f5');
    assert.equal(escapeKey('x\\ y'), 'x\u29f5\\ y');
    assert.equal(escapeKey('line\nbreak\r'), 'line\\ break\\ ');
    assert.equal(escapeTagValue(''), '-');
    assert.equal(fieldString('say "hi" \\ now\n'), '"say \\"hi\\" \\\\ now\n"');
    assert.equal(
      formatLine(
        'm',
        { z: '1', a: '2' },
        { s: { str: 'x' }, i: { int: 4.7 }, f: { float: 0.5 }, b: { bool: true } },
        5,
      ),
      'm,a=2,z=1 s="x",i=4i,f=0.5,b=true 5',
    );
    assert.throws(() => formatLine('m', {}, {}, 1));
  });
});

describe('InfluxForwarder endpoints', () => {
  async function capture(fn: (url: string) => Promise<void>) {
    const { createServer } = await import('node:http');
    const seen: { url: string; auth?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({
          url: req.url ?? '',
          ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
          body,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    } finally {
      server.close();
    }
    return seen;
  }
  const logger = pino({ level: 'silent' });
  const c = {
    node: 'n',
    id: 'i',
    name: 'c',
    image: 'x',
    digest: 'sha256:a',
    status: 'trusted',
    statusCode: 0,
    level: 0,
    drift: false,
  } as ContainerResult;

  it('writes 1.x with basic auth and 2.x with a token, in millisecond precision', async () => {
    const v1 = await capture(async (url) => {
      const fw = new InfluxForwarder({
        target: { version: 1, url, db: 'my db', user: 'u', password: 'p' },
        logger,
      });
      fw.push([c], 1000);
      await fw.flush();
    });
    assert.equal(v1[0]?.url, '/write?db=my+db&precision=ms');
    assert.equal(v1[0]?.auth, `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.match(
      v1[0]?.body ?? '',
      /^vcn_verification,.* failed=0,status=0,level=0 1000\nimagetrust_container,/,
    );
    const v2 = await capture(async (url) => {
      const fw = new InfluxForwarder({
        target: { version: 2, url: `${url}/`, org: 'ops', bucket: 'trust', token: 't0k' },
        logger,
      });
      fw.push([c], 2000);
      await fw.flush();
    });
    assert.equal(v2[0]?.url, '/api/v2/write?org=ops&bucket=trust&precision=ms');
    assert.equal(v2[0]?.auth, 'Token t0k');
  });
});
