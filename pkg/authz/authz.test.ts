import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pino from 'pino';
import { ImagetrustError } from '../errors';
import type { Verification, Verifier } from '../verify/verifier';
import { Admission, parseRules } from './admission';
import { readRequest } from './request';
import { checkAsyncProperty, reportPropertyTotals } from '../testing/property';
import { recentRefusals } from './audit-log';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TRUSTED = `sha256:${'a'.repeat(64)}`;
const UNTRUSTED = `sha256:${'b'.repeat(64)}`;
const logger = pino({ level: 'silent' });
const b64 = (doc: unknown) => Buffer.from(JSON.stringify(doc)).toString('base64');

/** Images by reference; verdicts by digest. */
function admission(options: { dryRun?: boolean; failOpen?: boolean; down?: boolean } = {}): Admission {
  const images: Record<string, string> = { 'app:trusted': TRUSTED, 'app:untrusted': UNTRUSTED };
  const verifier: Verifier = {
    kind: 'builtin',
    epoch: async () => ({ key: 'k' }),
    verify: async ({ digest }): Promise<Verification> => {
      if (options.down)
        return { status: 'unknown', statusCode: 2, level: 0, reason: 'ledger unreachable', transient: true };
      if (digest === TRUSTED)
        return {
          status: 'trusted',
          statusCode: 0,
          level: 0,
          signer: 's',
          signerName: 'ops',
          signedAt: '2026-11-30T10:00:00Z',
        };
      if (digest === UNTRUSTED)
        return {
          status: 'untrusted',
          statusCode: 1,
          level: 0,
          signer: 's',
          signerName: 'ops',
          signedAt: '2026-11-30T10:00:00Z',
        };
      return { status: 'unknown', statusCode: 2, level: 0, reason: 'never notarized by an allowed signer' };
    },
    close: async () => undefined,
  };
  return new Admission({
    docker: {
      inspectImage: async (ref) => {
        const id = images[ref];
        if (!id) throw new ImagetrustError('IMAGE_NOT_FOUND', `no image ${ref}`);
        return { Id: id } as never;
      },
      containerImageId: async (id) =>
        id === 'c-trusted' ? TRUSTED : id === 'c-untrusted' ? UNTRUSTED : undefined,
    },
    verifier,
    logger,
    ...options,
  });
}

const create = (image: unknown) => ({
  User: 'alice',
  RequestMethod: 'POST',
  RequestUri: '/v1.41/containers/create?name=x',
  RequestBody: b64({ Image: image }),
});

after(() => reportPropertyTotals('pkg/authz/authz.test.ts'));

describe('admission', () => {
  it('allows a trusted image and refuses an untrusted one, saying why', async () => {
    const a = admission();
    assert.equal((await a.decide(readRequest(create('app:trusted')))).allow, true);
    const refused = await a.decide(readRequest(create('app:untrusted')));
    assert.equal(refused.allow, false);
    assert.equal(refused.message, `imagetrust: ${UNTRUSTED} is untrusted by ops (2026-11-30)`);
    const missing = await a.decide(readRequest(create('app:missing')));
    assert.equal(missing.allow, false);
    assert.match(missing.message ?? '', /cannot tell which image/);
  });

  it('decides a start by the container’s fixed image ID', async () => {
    const a = admission();
    const start = (id: string) =>
      readRequest({ RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/start` });
    assert.equal((await a.decide(start('c-trusted'))).allow, true);
    assert.equal((await a.decide(start('c-untrusted'))).allow, false);
    assert.equal((await a.decide(start('c-gone'))).allow, false);
  });

  it('refuses a body-dependent call whose body the engine did not forward', async () => {
    const a = admission();
    for (const body of [undefined, '', '!!notbase64', b64([1]), b64({ Image: 7 })]) {
      const d = await a.decide(
        readRequest({
          RequestMethod: 'POST',
          RequestUri: '/containers/create',
          ...(body === undefined ? {} : { RequestBody: body }),
        }),
      );
      assert.equal(d.allow, false, String(body));
    }
  });

  it('dry run allows and records; fail-open allows only the undecidable', async () => {
    const dry = await admission({ dryRun: true }).decide(readRequest(create('app:untrusted')));
    assert.deepEqual([dry.allow, dry.verdict], [true, 'would-refuse']);
    const down = await admission({ failOpen: true, down: true }).decide(readRequest(create('app:trusted')));
    assert.deepEqual([down.allow, down.verdict], [true, 'allowed-fail-open']);
    const known = await admission({ failOpen: true }).decide(readRequest(create('app:untrusted')));
    assert.deepEqual([known.allow, known.verdict], [false, 'refused']);
    const closed = await admission({ down: true }).decide(readRequest(create('app:trusted')));
    assert.equal(closed.allow, false);
  });

  it('has documented defaults that can be changed', async () => {
    const pull = readRequest({ RequestMethod: 'POST', RequestUri: '/v1.41/plugins/pull?remote=x' });
    assert.equal((await admission().decide(pull)).allow, false);
    assert.equal(readRequest({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json' }).action, 'read');
    assert.equal(
      readRequest({ RequestMethod: 'POST', RequestUri: '/v1.41/exec/abc/start' }).action,
      'exec-start',
    );
    assert.deepEqual(parseRules(['exec-start=deny']), { 'exec-start': 'deny' });
    assert.throws(() => parseRules(['read=deny']));
    assert.throws(() => parseRules(['build=check']));
  });

  it('refuses the routes fuzzing found, kept as regression cases', async () => {
    const a = admission();
    for (const uri of [
      '/v1.41/containers/%20%2F%20/start',
      '/v1.41/containers//start',
      '/v1.41/containers/c-trusted%2F..%2Fc-untrusted/start',
      '/v1.41/containers/%2e%2e/start',
      '/v1.41/containers/a%00/start',
    ]) {
      const d = await a.decide(readRequest({ RequestMethod: 'POST', RequestUri: uri }));
      assert.equal(d.allow, false, uri);
    }
  });

  it('never allows a generated hostile create or start (fast-check)', async () => {
    const a = admission();
    const segment = fc.oneof(
      fc.string(),
      fc.constantFrom('create', 'start', '..', '%2e%2e', 'c-untrusted', '', '%00'),
    );
    const uri = fc.oneof(
      fc
        .tuple(fc.constantFrom('', '/v1.41', '/v9', '//'), segment)
        .map(([v, s]) => `${v}/containers/${s}/start`),
      fc.tuple(fc.constantFrom('', '/v1.41'), fc.string()).map(([v, q]) => `${v}/containers/create?${q}`),
      fc.string({ maxLength: 300 }),
    );
    const body = fc.oneof(
      fc.constant(undefined),
      fc.string(),
      fc.jsonValue().map((v) => b64(v)),
      fc
        .oneof(fc.string(), fc.constantFrom('app:untrusted', 'app:missing', ''))
        .map((image) => b64({ Image: image })),
    );
    await checkAsyncProperty(
      'authz: a hostile create or start is never allowed',
      fc.asyncProperty(fc.constantFrom('POST', 'post', 'PUT'), uri, body, async (method, u, bd) => {
        const request = readRequest({
          RequestMethod: method,
          RequestUri: u,
          ...(bd === undefined ? {} : { RequestBody: bd }),
        });
        const d = await a.decide(request);
        if (['container-create', 'container-start', 'service-create', 'malformed'].includes(request.action))
          assert.equal(d.allow, false, JSON.stringify({ u, bd, request }));
      }),
      { runs: 2000 },
    );
  });
});

describe('the admission audit log read back', () => {
  it('gives the newest refusals, skipping allowed decisions and lines that are not decisions', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'itd-audit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'audit.jsonl');
    const a = admission();
    const lines = [
      JSON.stringify(await a.decide(readRequest(create('app:trusted')))),
      JSON.stringify(await a.decide(readRequest(create('app:untrusted')))),
      '{"broken',
      'null',
      JSON.stringify(await admission({ dryRun: true }).decide(readRequest(create('app:untrusted')))),
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const recent = recentRefusals(file);
    assert.deepEqual(
      recent.map((d) => d.verdict),
      ['refused', 'would-refuse'],
    );
    assert.equal(recentRefusals(file, 1).length, 1);
    assert.deepEqual(recentRefusals(join(dir, 'missing.jsonl')), []);
  });
});
