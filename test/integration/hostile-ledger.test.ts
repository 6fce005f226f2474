// The real CLI and agent against a hostile ledger server (harness/hostile-ledger.ts) in front
// of a real `imagetrust ledger serve`: each lie is refused with a typed error naming what was
// wrong, and never answered `trusted`.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cliFor, type Cli } from './harness/cli';
import { startHostileLedger, type HostileMode } from './harness/hostile-ledger';
import { freePort, startBackground, waitFor, type Background } from './harness/process';

const TRUSTED = 0;
const UNTRUSTED = 1;
const COMPROMISED = 10;
const NO_ENGINE = 'unix:///nonexistent/docker.sock';

const image = `sha256:${'c'.repeat(64)}`;
const other = `sha256:${'d'.repeat(64)}`;
let work: string;
let server: Background;
let url: string;
let signerId: string;
let signer: Cli;

function home(name: string): string {
  return mkdtempSync(join(work, `${name}-`));
}

before(async () => {
  work = mkdtempSync('/tmp/itd-hostile-');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const serverHome = home('server');
  server = startBackground(
    process.execPath,
    [BIN, 'ledger', 'serve', '--open', '--port', String(port)],
    join(serverHome, 'serve.log'),
    {
      PATH: process.env.PATH,
      HOME: serverHome,
      IMAGETRUST_HOME: serverHome,
    },
  );
  await waitFor('ledger serve', async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined));
  signer = cliFor(home('signer'), NO_ENGINE, { IMAGETRUST_LEDGER: url });
  const k = await signer(['keygen']);
  signerId = k.stdout.trim();
  for (const args of [
    ['sign', '--hash', image, '--attr', 'ci.job=4242'],
    ['sign', '--hash', other],
    ['untrust', '--hash', image],
  ]) {
    const r = await signer(args);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the honest ledger', () => {
  it('answers untrusted for the image, trusted for the other one', async () => {
    const reader = cliFor(home('reader'), NO_ENGINE, { IMAGETRUST_LEDGER: url });
    assert.equal((await reader(['verify', '--signer', signerId, '--hash', image])).code, UNTRUSTED);
    assert.equal((await reader(['verify', '--signer', signerId, '--hash', other])).code, TRUSTED);
    const inspect = await reader.json(['inspect', '--signer', signerId, '--hash', image]);
    const history = inspect.doc.history as { sequence: number; attributes: Record<string, string> }[];
    assert.deepEqual(
      history.map((h) => h.sequence),
      [1, 2],
    );
    assert.deepEqual(history[0]?.attributes, { 'ci.job': '4242' });
  });

  it('refuses a replay of the old trusted statement with 409 LEDGER_CONFLICT', async () => {
    const reader = cliFor(home('replayer'), NO_ENGINE, { IMAGETRUST_LEDGER: url });
    const lookup = (await (await fetch(`${url}/api/v1/lookup/${image}/${signerId}`)).json()) as {
      entries: { leaf: string }[];
    };
    const res = await fetch(`${url}/api/v1/statements`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ statements: [lookup.entries[0]?.leaf] }),
    });
    assert.equal(res.status, 409);
    assert.match(await res.text(), /LEDGER_CONFLICT/);
    assert.equal((await reader(['verify', '--signer', signerId, '--hash', image])).code, UNTRUSTED);
  });
});

const lies: [HostileMode, RegExp][] = [
  ['drop-newest', /PROOF_INVALID.*index commits to 2/],
  ['drop-digest', /PROOF_INVALID/],
  ['other-digest', /LEDGER_TAMPERED.*another digest|PROOF_INVALID/],
  ['index-mismatch', /PROOF_INVALID.*index root/],
  ['inclusion-proof-short', /PROOF_INVALID.*shorter/],
  ['inclusion-proof-long', /PROOF_INVALID.*longer/],
  ['index-proof-short', /PROOF_INVALID.*index/],
  ['index-proof-long', /PROOF_INVALID.*index/],
];

describe('a hostile ledger is never trusted: verify exits 10 naming the lie', () => {
  for (const [mode, message] of lies) {
    it(mode, async () => {
      const hostile = await startHostileLedger(url, mode, { otherDigest: other });
      try {
        for (const fresh of [true, false]) {
          const dir = home(`${mode}-${fresh ? 'fresh' : 'known'}`);
          if (!fresh) {
            const known = cliFor(dir, NO_ENGINE, { IMAGETRUST_LEDGER: url });
            assert.equal((await known(['verify', '--signer', signerId, '--hash', other])).code, TRUSTED);
          }
          const reader = cliFor(dir, NO_ENGINE, { IMAGETRUST_LEDGER: hostile.url });
          const r = await reader.json(['verify', '--signer', signerId, '--hash', image]);
          assert.equal(
            r.code,
            COMPROMISED,
            `${mode} (${fresh ? 'fresh' : 'known'} client): ${JSON.stringify(r.doc)}`,
          );
          assert.match(`${r.doc.code as string} ${r.doc.error as string}`, message);
        }
      } finally {
        await hostile.stop();
      }
    });
  }

  it('stale-checkpoint: a client that saw a newer checkpoint refuses the rollback', async () => {
    const hostile = await startHostileLedger(url, 'stale-checkpoint', { staleSize: 1 });
    try {
      const dir = home('stale');
      const known = cliFor(dir, NO_ENGINE, { IMAGETRUST_LEDGER: url });
      assert.equal((await known(['verify', '--signer', signerId, '--hash', image])).code, UNTRUSTED);
      const r = await cliFor(dir, NO_ENGINE, { IMAGETRUST_LEDGER: hostile.url }).json([
        'verify',
        '--signer',
        signerId,
        '--hash',
        image,
      ]);
      assert.equal(r.code, COMPROMISED, JSON.stringify(r.doc));
      assert.equal(r.doc.code, 'LEDGER_INCONSISTENT');
      assert.match(r.doc.error as string, /rolled back/);
    } finally {
      await hostile.stop();
    }
  });
});
