// Witnesses end to end with real processes: three `imagetrust witness serve`, a `ledger serve`
// collecting their cosignatures, and `imagetrust verify --witness-policy` refusing what no
// quorum cosigned, a frozen view, and a fork shown to one client.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cliFor, type Cli } from './harness/cli';
import { startHostileLedger } from './harness/hostile-ledger';
import { startAgentProcess } from './harness/agent';
import { cosignatureVerifier, verifyCosignatures, withSignatures } from '../../pkg/ledger/cosignature';
import { freePort, startBackground, waitFor, type Background } from './harness/process';

const TRUSTED = 0;
const UNTRUSTED = 1;
const COMPROMISED = 10;
const NO_ENGINE = 'unix:///nonexistent/docker.sock';
const image = `sha256:${'a'.repeat(64)}`;

let work: string;
let ledgerUrl: string;
let ledgerHome: string;
let ledgerVkey: string;
let ledger: Background;
let signer: Cli;
let signerId: string;
let policyFile: string;
const witnesses: { name: string; url: string; port: number; key: string; vkey: string; proc: Background }[] =
  [];

const env = (home: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: home,
  IMAGETRUST_HOME: home,
});
const dir = (name: string): string => mkdtempSync(join(work, `${name}-`));
const healthy = (url: string) =>
  waitFor(url, async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined));

/** `ledger serve` of the ledger in `home`, asking every witness to cosign each second. */
function serveLedger(home: string, port: number): Background {
  return startBackground(
    process.execPath,
    [
      BIN,
      'ledger',
      'serve',
      '--open',
      '--port',
      String(port),
      '--cosign-interval',
      '1',
      ...witnesses.flatMap((w) => ['--witness', w.url]),
    ],
    join(home, 'serve.log'),
    env(home),
  );
}

function startWitness(w: { name: string; port: number; key: string }): Background {
  return startBackground(
    process.execPath,
    [BIN, 'witness', 'serve', '--key', w.key, '--log', ledgerVkey, '--port', String(w.port)],
    `${w.key}.log`,
    env(work),
  );
}

async function cosignedBy(n: number): Promise<string> {
  return waitFor(
    `a checkpoint with ${n} cosignatures`,
    async () => {
      const note = await (await fetch(`${ledgerUrl}/api/v1/checkpoint`)).text();
      const size = Number(note.split('\n')[1]);
      const lines = note.split('\n').filter((l) => l.startsWith('\u2014 witness'));
      return lines.length >= n && size > 0 ? note : undefined;
    },
    20_000,
  );
}

function reader(name: string, extra: NodeJS.ProcessEnv = {}): Cli {
  return cliFor(dir(name), NO_ENGINE, {
    IMAGETRUST_LEDGER: ledgerUrl,
    IMAGETRUST_WITNESS_POLICY: policyFile,
    ...extra,
  });
}

before(async () => {
  work = mkdtempSync('/tmp/itd-witness-');
  ledgerHome = dir('ledger');
  const ledgerPort = await freePort();
  ledgerUrl = `http://127.0.0.1:${ledgerPort}`;
  // The ledger key exists before the witnesses start: `ledger init` creates the ledger.
  const admin = cliFor(ledgerHome, NO_ENGINE);
  const info = await admin.json(['ledger', 'init']);
  assert.equal(info.code, 0, info.stderr);
  ledgerVkey = info.doc.key as string;
  for (const i of [1, 2, 3]) {
    const key = join(work, `w${i}.key`);
    const k = await cliFor(work, NO_ENGINE)(['witness', 'keygen', `witness${i}.example`, '--key', key]);
    assert.equal(k.code, 0, k.stderr);
    const port = await freePort();
    const w = { name: `w${i}`, url: `http://127.0.0.1:${port}`, port, key, vkey: k.stdout.trim() };
    witnesses.push({ ...w, proc: startWitness(w) });
  }
  await Promise.all(witnesses.map((w) => healthy(w.url)));
  ledger = serveLedger(ledgerHome, ledgerPort);
  await healthy(ledgerUrl);
  policyFile = join(work, 'witnesses.txt');
  writeFileSync(
    policyFile,
    [
      `log ${ledgerVkey}`,
      ...witnesses.map((w) => `witness ${w.name} ${w.vkey} ${w.url}`),
      'group companies 2 w1 w2 w3',
      'quorum companies',
      '',
    ].join('\n'),
  );
  signer = cliFor(dir('signer'), NO_ENGINE, { IMAGETRUST_LEDGER: ledgerUrl });
  signerId = (await signer(['keygen'])).stdout.trim();
  assert.equal((await signer(['sign', '--hash', image])).code, 0);
});

after(async () => {
  await Promise.allSettled([ledger?.stop(), ...witnesses.map((w) => w.proc.stop())]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a ledger cosigned by witnesses', () => {
  it('verify with a witness policy trusts the cosigned checkpoint', async () => {
    await cosignedBy(3);
    const r = await reader('trusting').json(['verify', '--signer', signerId, '--hash', image]);
    assert.equal(r.code, TRUSTED, JSON.stringify(r.doc));
  });

  it('a frozen view (an old checkpoint with its old cosignatures) is refused once older than the limit', async () => {
    const frozen = await cosignedBy(3);
    assert.equal((await signer(['untrust', '--hash', image])).code, 0);
    const hostile = await startHostileLedger(ledgerUrl, 'freeze', { frozenNote: frozen });
    try {
      await new Promise((r) => setTimeout(r, 3500));
      const fooled = cliFor(dir('frozen'), NO_ENGINE, {
        IMAGETRUST_LEDGER: hostile.url,
        IMAGETRUST_WITNESS_POLICY: policyFile,
      });
      const r = await fooled.json([
        'verify',
        '--max-checkpoint-age',
        '2s',
        '--signer',
        signerId,
        '--hash',
        image,
      ]);
      assert.equal(r.code, COMPROMISED, JSON.stringify(r.doc));
      assert.equal(r.doc.code, 'CHECKPOINT_STALE');
      // The live ledger is re-cosigned every second: fresh, and it says untrusted.
      await cosignedBy(3);
      const live = await reader('live').json([
        'verify',
        '--max-checkpoint-age',
        '5s',
        '--signer',
        signerId,
        '--hash',
        image,
      ]);
      assert.equal(live.code, UNTRUSTED, JSON.stringify(live.doc));
    } finally {
      await hostile.stop();
    }
  });

  it('cosignatures stripped from the checkpoint leave no quorum', async () => {
    const bare = (await (await fetch(`${ledgerUrl}/api/v1/checkpoint`)).text())
      .split('\n')
      .filter((l) => !l.startsWith('\u2014 witness'))
      .join('\n');
    const hostile = await startHostileLedger(ledgerUrl, 'freeze', { frozenNote: bare });
    try {
      const r = await cliFor(dir('stripped'), NO_ENGINE, {
        IMAGETRUST_LEDGER: hostile.url,
        IMAGETRUST_WITNESS_POLICY: policyFile,
      }).json(['verify', '--signer', signerId, '--hash', image]);
      assert.equal(r.code, COMPROMISED, JSON.stringify(r.doc));
      assert.equal(r.doc.code, 'WITNESS_QUORUM');
    } finally {
      await hostile.stop();
    }
  });

  it('a fork of the ledger (same key, another history) gets no cosignature: refused, never trusted', async () => {
    // The operator starts a second ledger with the same key: a history of its own from entry 0.
    const forkHome = dir('fork');
    copyFileSync(join(ledgerHome, 'ledger.db.key'), join(forkHome, 'ledger.db.key'));
    const port = await freePort();
    const forkUrl = `http://127.0.0.1:${port}`;
    const fork = serveLedger(forkHome, port);
    try {
      await healthy(forkUrl);
      // In the fork the image was signed and never untrusted; it grows past the real ledger.
      const forkSigner = cliFor(signer.env.IMAGETRUST_HOME as string, NO_ENGINE, {
        IMAGETRUST_LEDGER: forkUrl,
        IMAGETRUST_HOME: dir('fork-signer-state'),
      });
      for (const d of ['a', 'b', 'c', 'd', 'e']) {
        const r = await forkSigner([
          'sign',
          '--key',
          join(signer.env.IMAGETRUST_HOME as string, 'signer.key'),
          '--hash',
          `sha256:${d.repeat(64)}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
      }
      await new Promise((r) => setTimeout(r, 1500));
      const victim = cliFor(dir('victim'), NO_ENGINE, {
        IMAGETRUST_LEDGER: forkUrl,
        IMAGETRUST_WITNESS_POLICY: policyFile,
      });
      const r = await victim.json(['verify', '--signer', signerId, '--hash', image]);
      assert.equal(r.code, COMPROMISED, JSON.stringify(r.doc));
      assert.equal(r.doc.code, 'WITNESS_QUORUM');
    } finally {
      await fork.stop();
    }
  });

  it('an agent with --witness-key cosigns after recomputing the index from the entries', async () => {
    const key = join(work, 'agent-witness.key');
    const k = await cliFor(work, NO_ENGINE)(['witness', 'keygen', 'agent-a.example', '--key', key]);
    assert.equal(k.code, 0, k.stderr);
    const agent = await startAgentProcess({
      work,
      dockerHost: NO_ENGINE,
      args: [
        '--node',
        'wit',
        '--ledger',
        ledgerUrl,
        '--ledger-key',
        ledgerVkey,
        '--signer',
        signerId,
        '--witness-key',
        key,
        '--token',
        'witness-test-token-0123',
      ],
    });
    try {
      const note = await (await fetch(`${ledgerUrl}/api/v1/checkpoint`)).text();
      const res = await fetch(`${agent.url}/add-checkpoint`, {
        method: 'POST',
        body: `old 0\n\n${note}`,
        headers: { 'content-type': 'text/plain' },
      });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      const verified = verifyCosignatures(withSignatures(note, [body.trim()]), [
        cosignatureVerifier(k.stdout.trim()),
      ]);
      assert.equal(verified.size, 1);
      // Its API stays behind the token; only the witness endpoint is open.
      assert.equal((await agent.get('/api/v1/nodes')).status, 401);
    } finally {
      await agent.stop();
    }
  });

  it('a witness keeps its state across a restart; with two of three down there is no quorum', async () => {
    const w = witnesses[0]!;
    await w.proc.stop();
    w.proc = startWitness(w);
    await healthy(w.url);
    const note = (await (await fetch(`${ledgerUrl}/api/v1/checkpoint`)).text()).split('\n\n')[0] + '\n';
    const full = await (await fetch(`${ledgerUrl}/api/v1/checkpoint`)).text();
    const res = await fetch(`${w.url}/add-checkpoint`, { method: 'POST', body: `old 0\n\n${full}` });
    assert.equal(res.status, 409);
    assert.equal(await res.text(), `${note.split('\n')[1]}\n`);
    await Promise.all(witnesses.slice(1).map((x) => x.proc.stop()));
    assert.equal((await signer(['sign', '--hash', `sha256:${'d'.repeat(64)}`])).code, 0);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await reader('two-down').json(['verify', '--signer', signerId, '--hash', image]);
    assert.equal(r.code, COMPROMISED, JSON.stringify(r.doc));
    assert.equal(r.doc.code, 'WITNESS_QUORUM');
  });
});
