import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519Sign } from './ed25519';
import {
  beginOpenStatement,
  IN_TOTO_STATEMENT,
  openStatement,
  openStatementAsync,
  PAYLOAD_TYPE,
  PREDICATE_TYPE,
  signStatement,
  validateAttributes,
} from './statement';
import { assertCode, assertRejectsCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, statementFor } from '../testing/fixtures';
import { v1Statement } from '../testing/legacy';

const alice = generateSignerKey();
const bob = generateSignerKey();
const app = digestOf('app');

function envelopeOf(bytes: Buffer): {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; publicKey: string; sig: string }[];
} {
  return JSON.parse(bytes.toString('utf8'));
}

const urlSafe = (b64: string): string => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

describe('statements v2 (in-toto Statement v1 in DSSE)', () => {
  it('writes an in-toto statement whose subject is the image digest', () => {
    const s = statementFor(alice, app, 'trusted', { attributes: { 'ci.job': '4242' } });
    const env = envelopeOf(s.envelope);
    assert.equal(env.payloadType, PAYLOAD_TYPE);
    const doc = JSON.parse(Buffer.from(env.payload, 'base64').toString());
    assert.equal(doc._type, IN_TOTO_STATEMENT);
    assert.equal(doc.predicateType, PREDICATE_TYPE);
    assert.deepEqual(doc.subject, [{ name: 'docker://example/app:1', digest: { sha256: app.slice(7) } }]);
    assert.equal(doc.predicate.sequence, 1);
    assert.deepEqual(doc.predicate.attributes, { 'ci.job': '4242' });
    const opened = openStatement(s.envelope);
    assert.deepEqual(opened.statement, s.statement);
    assert.equal(opened.id, s.id);
    assert.match(s.id, /^sha256:[0-9a-f]{64}$/);
  });

  it('gives every re-encoding of one signed statement the same id', async () => {
    const s = statementFor(alice, app, 'trusted');
    const env = envelopeOf(s.envelope);
    const spaced = Buffer.from(
      JSON.stringify(
        { signatures: env.signatures, payload: env.payload, payloadType: env.payloadType },
        null,
        2,
      ),
    );
    const safe = Buffer.from(
      JSON.stringify({
        ...env,
        payload: urlSafe(env.payload),
        signatures: env.signatures.map((x) => ({
          ...x,
          sig: urlSafe(x.sig),
          publicKey: urlSafe(x.publicKey),
        })),
      }),
    );
    for (const bytes of [spaced, safe]) {
      assert.notDeepEqual(bytes, s.envelope);
      assert.equal(openStatement(bytes).id, s.id);
      assert.equal((await openStatementAsync(bytes)).id, s.id);
    }
  });

  it('still reads imagetrust 0.1 statements, as format 1 without a sequence', () => {
    const opened = openStatement(v1Statement(alice, app, 'untrusted', '2026-01-02T00:00:00Z'));
    assert.equal(opened.statement.format, 1);
    assert.equal(opened.statement.sequence, 0);
    assert.equal(opened.statement.status, 'untrusted');
    assert.deepEqual(opened.statement.attributes, {});
  });

  it('refuses malformed statements with STATEMENT_INVALID', () => {
    assertCode(() => statementFor(alice, app, 'trusted', { sequence: 2 }), 'STATEMENT_INVALID');
    assertCode(() => statementFor(alice, app, 'trusted', { sequence: 0 }), 'STATEMENT_INVALID');
    assertCode(() => statementFor(alice, app, 'trusted', { supersedes: 'nope' }), 'STATEMENT_INVALID');
    assertCode(
      () => statementFor(alice, app, 'trusted', { attributes: { 'bad name': 'x' } }),
      'STATEMENT_INVALID',
    );
    const env = envelopeOf(statementFor(alice, app, 'trusted').envelope);
    const withPayload = (doc: unknown) =>
      Buffer.from(JSON.stringify({ ...env, payload: Buffer.from(JSON.stringify(doc)).toString('base64') }));
    const doc = JSON.parse(Buffer.from(env.payload, 'base64').toString());
    // Each of these also breaks the signature; the shape is checked either way.
    for (const broken of [
      { ...doc, subject: [] },
      { ...doc, predicateType: 'https://slsa.dev/verification_summary/v1' },
      { ...doc, subject: [{ name: 'x', digest: { sha256: app.slice(7), sha512: 'ab' } }] },
    ]) {
      assertCode(() => openStatement(withPayload(broken)), 'STATEMENT_INVALID');
    }
    assertCode(
      () => openStatement(Buffer.from(JSON.stringify({ ...env, payload: `${env.payload}!` }))),
      'STATEMENT_INVALID',
    );
    assertCode(() => openStatement(Buffer.from('[1]')), 'STATEMENT_INVALID');
  });

  it('names each malformed field of an envelope and a statement', () => {
    const base = {
      digest: app,
      name: 'x',
      status: 'trusted' as const,
      signer: alice.keyId,
      time: '2026-01-01T00:00:00Z',
      metadata: {},
      sequence: 1,
    };
    for (const metadata of [{ repoTags: [1] }, { size: -1 }, { labels: { a: 1 } }, { os: 5 }]) {
      assertCode(
        () => signStatement({ ...base, metadata: metadata as never }, alice.privateKey),
        'STATEMENT_INVALID',
      );
    }
    assertCode(() => signStatement({ ...base, time: 'yesterday' }, alice.privateKey), 'STATEMENT_INVALID');
    const env = envelopeOf(statementFor(alice, app, 'trusted').envelope);
    const bytes = (doc: unknown) => Buffer.from(JSON.stringify(doc));
    assertCode(() => openStatement(bytes({ ...env, signatures: [] })), 'STATEMENT_INVALID');
    assertCode(() => openStatement(bytes({ ...env, signatures: [{ keyid: 5 }] })), 'STATEMENT_INVALID');
    assertCode(
      () => openStatement(bytes({ ...env, payload: Buffer.from('not json').toString('base64') })),
      'STATEMENT_INVALID',
    );
  });

  it('opening on the thread pool names a bad signature before a bad payload, and a bad key id at once', async () => {
    const env = envelopeOf(statementFor(alice, app, 'trusted').envelope);
    const [signature] = env.signatures as [{ keyid: string; publicKey: string; sig: string }];
    const payload = Buffer.from('not json');
    const unsigned = Buffer.from(JSON.stringify({ ...env, payload: payload.toString('base64') }));
    const err = await assertRejectsCode(() => openStatementAsync(unsigned), 'STATEMENT_INVALID');
    assert.match(err.message, /signature does not verify/);
    // The DSSE pre-authentication encoding, written out by hand.
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${PAYLOAD_TYPE.length} ${PAYLOAD_TYPE} ${payload.length} `),
      payload,
    ]);
    const sig = ed25519Sign(alice.privateKey, pae).toString('base64');
    const signed = Buffer.from(
      JSON.stringify({ ...env, payload: payload.toString('base64'), signatures: [{ ...signature, sig }] }),
    );
    const junk = await assertRejectsCode(() => beginOpenStatement(signed).opened(), 'STATEMENT_INVALID');
    assert.match(junk.message, /payload is not JSON/);
    // A public key seen before does not vouch for another key id.
    const wrongId = Buffer.from(JSON.stringify({ ...env, signatures: [{ ...signature, keyid: bob.keyId }] }));
    assertCode(() => beginOpenStatement(wrongId), 'STATEMENT_INVALID');
    assertCode(() => openStatement(wrongId), 'STATEMENT_INVALID');
  });

  it('checks evidence attributes', () => {
    validateAttributes({ 'ci.job': '1', 'git/commit': 'abc' });
    assertCode(() => validateAttributes({ x: 5 }), 'STATEMENT_INVALID');
    assertCode(
      () => validateAttributes(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))),
      'STATEMENT_INVALID',
    );
    assertCode(() => validateAttributes({ k: 'x'.repeat(4097) }), 'STATEMENT_INVALID');
  });
});
