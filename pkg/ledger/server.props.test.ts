// Generated hostile requests to `ledger serve` (server.ts through inject(), on a temp SQLite
// ledger): random paths, query strings and bodies get a 4xx with the error shape, never a 5xx;
// a refused append leaves the tree as it was; only a signer's valid next word is appended.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { ERROR_CODES } from '../errors';
import type { Ledger } from './log';
import { openLocalLedger } from './open';
import { buildLedgerServer } from './server';
import { digestOf, generateSignerKey, Words } from '../testing/fixtures';
import { checkAsyncProperty, hostileText, reportPropertyTotals } from '../testing/property';

after(() => reportPropertyTotals('pkg/ledger/server.props.test.ts'));

const alice = generateSignerKey();
const mallory = generateSignerKey();
const app = digestOf('app');
const words = new Words();
const malloryWords = new Words();
let dir: string;
let ledger: Ledger;
let server: FastifyInstance;
let sent = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagetrust-props-ledger-'));
  ledger = await openLocalLedger(join(dir, 'ledger.db'));
  await ledger.append([
    words.next(alice, app, 'trusted').envelope,
    words.next(alice, digestOf('b'), 'trusted').envelope,
  ]);
  server = buildLedgerServer({ ledger, allowedSigners: new Set([alice.keyId]), maxPerRequest: 5 });
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ROUTES = [
  '/api/v1/ledger',
  '/api/v1/checkpoint',
  '/api/v1/checkpoints',
  '/api/v1/entries',
  '/api/v1/search',
  '/api/v1/proof/consistency',
  '/api/v1/statements',
  '/healthz',
];
const PARAMS = [
  'size',
  'time',
  'from',
  'limit',
  'start',
  'since',
  'offset',
  'attr',
  'hash',
  'first',
  'second',
  'x',
];
const paramValue = fc.oneof(
  hostileText(20),
  fc.constantFrom(
    '0',
    '1',
    '2',
    '-1',
    '01',
    '1e3',
    '9007199254740993',
    '99999999999999999',
    '2026-01-01T00:00:00Z',
    '2026-13-99T',
    'ci.job=1',
    '=',
    app,
    'sha256:',
    alice.keyId,
  ),
  fc.nat().map(String),
);
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...PARAMS), hostileText(8)), paramValue), { maxLength: 4 })
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
const lookupPath = fc
  .tuple(fc.oneof(fc.constant(app), hostileText(70)), fc.oneof(fc.constant(alice.keyId), hostileText(34)))
  .map(([d, s]) => `/api/v1/lookup/${encodeURIComponent(d)}/${encodeURIComponent(s)}`);
const path = fc.oneof(
  fc.constantFrom(...ROUTES),
  lookupPath,
  hostileText(30).map((p) => `/api/v1/${encodeURIComponent(p)}`),
);

/** Envelopes a hostile client could send: garbage, a valid one with a bit flipped, a replay, an outsider's. */
const envelope = fc.oneof(
  hostileText(60),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')),
  fc.tuple(fc.nat(), fc.nat(7)).map(([at, bit]) => {
    const e = Buffer.from(words.next(alice, digestOf(`m${at}`), 'trusted').envelope);
    e[at % e.length] = (e[at % e.length] as number) ^ (1 << bit);
    return e.toString('base64');
  }),
  fc.constant('replay').map(() => words.next(alice, app, 'untrusted').envelope.toString('base64')),
  fc.nat().map((n) => malloryWords.next(mallory, digestOf(`x${n}`), 'trusted').envelope.toString('base64')),
);
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({ statements: fc.array(envelope, { maxLength: 7 }) }),
  fc.record({ statements: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }) }),
);

describe('ledger serve (generated hostile requests)', () => {
  it('answers any request with 2xx or a typed 4xx, never 5xx, and a refused append changes nothing', async () => {
    // Statements signed in the generators may be words a later one supersedes; a refused or
    // replayed word is never appended.
    await checkAsyncProperty(
      'ledger serve: hostile paths, queries and bodies',
      fc.asyncProperty(
        fc.oneof(
          fc.record({ method: fc.constant('GET' as const), path, query, body: fc.constant(undefined) }),
          fc.record({
            method: fc.constant('POST' as const),
            path: fc.constant('/api/v1/statements'),
            query,
            body,
          }),
          fc.record({
            method: fc.constantFrom('POST' as const, 'PUT' as const, 'DELETE' as const),
            path,
            query,
            body,
          }),
        ),
        fc.boolean(),
        async (req, rawText) => {
          const before = await ledger.latestCheckpoint();
          sent += 1;
          const res = await server.inject({
            // Each request from its own address: per-client rate limits are not under test here.
            remoteAddress: `127.${(sent >> 16) & 255}.${(sent >> 8) & 255}.${sent & 255}`,
            method: req.method,
            url: `${req.path}${req.query ? `?${req.query}` : ''}`,
            ...(req.body === undefined
              ? {}
              : rawText
                ? {
                    payload: JSON.stringify(req.body).slice(0, -1),
                    headers: { 'content-type': 'application/json' },
                  }
                : { payload: JSON.stringify(req.body), headers: { 'content-type': 'application/json' } }),
          });
          assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 300)}`);
          const after = await ledger.latestCheckpoint();
          if (res.statusCode >= 400) {
            const known = res.json() as { error?: { code?: string; message?: string }; statusCode?: number };
            // Fastify's own 404 for a route that does not exist has its own shape.
            if (known.error === undefined || typeof known.error === 'string')
              assert.equal(res.statusCode, 404);
            else {
              assert.ok(typeof known.error.code === 'string' && known.error.code in ERROR_CODES, res.body);
              assert.equal(typeof known.error.message, 'string');
            }
            assert.equal(after.size, before.size, 'a refused request changed the tree');
            assert.equal(after.note, before.note, 'a refused request signed a new checkpoint');
          } else if (req.method !== 'POST' || req.path !== '/api/v1/statements') {
            assert.equal(after.size, before.size);
          } else {
            const answer = res.json() as { firstIndex: number };
            assert.equal(answer.firstIndex, before.size);
            assert.ok(after.size > before.size);
          }
        },
      ),
      { runs: 800 },
    );
  });
});
