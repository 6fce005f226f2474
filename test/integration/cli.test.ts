// The imagetrust CLI end to end against a real Docker engine, a real registry and a real
// `imagetrust ledger serve` process.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { importImage, startEngine, type Engine } from './harness/docker';
import { BIN, cliFor, type Cli } from './harness/cli';
import { freePort, run, startBackground, waitFor, type Background } from './harness/process';
import { startRegistry, type Registry } from './harness/registry';

const TRUSTED = 0;
const UNTRUSTED = 1;
const UNKNOWN = 2;
const UNSUPPORTED = 3;
const COMPROMISED = 10;
const USAGE = 64;
const NOT_FOUND = 66;

let engine: Engine;
let registry: Registry;
let work: string;
let imageA: string;
let imageB: string;
let imageC: string;

function home(name: string): string {
  return mkdtempSync(join(work, `${name}-`));
}

async function keygen(cli: Cli, extra: string[] = []): Promise<string> {
  const r = await cli(['keygen', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  work = mkdtempSync('/tmp/itd-cli-');
  [engine, registry] = await Promise.all([startEngine('cli'), startRegistry()]);
  imageA = await importImage(engine, 'local/app:1', 'A');
  imageB = await importImage(engine, 'local/app-b:1', 'B');
  imageC = await importImage(engine, 'local/tool:1', 'C');
  assert.notEqual(imageA, imageB);
});

after(async () => {
  await Promise.allSettled([engine?.stop(), registry?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('sign, verify, untrust, unsupport against a real engine', () => {
  it('follows the image a tag points to, not the tag', async () => {
    const alice = cliFor(home('alice'), engine.host);
    const keyId = await keygen(alice);
    assert.match(keyId, /^[0-9a-f]{32}$/);
    const key = join(alice.env.IMAGETRUST_HOME as string, 'signer.key');
    assert.equal(statSync(key).mode & 0o777, 0o600);

    // Before the first sign there is no ledger: verify says so and creates none.
    const none = await alice(['verify', 'docker://local/app:1']);
    assert.equal(none.code, NOT_FOUND, none.stderr);
    assert.equal(existsSync(join(alice.env.IMAGETRUST_HOME as string, 'ledger.db')), false);
    const signed = await alice(['sign', 'docker://local/app:1']);
    assert.equal(signed.code, TRUSTED, signed.stderr);
    assert.match(signed.stdout, /entry #0/);
    assert.match(signed.stdout, /\n1\n/);

    const trusted = await alice.json(['verify', 'docker://local/app:1']);
    assert.equal(trusted.code, TRUSTED);
    const v = trusted.doc.verification as Record<string, unknown>;
    assert.deepEqual([v.status, v.level, v.owner], [0, 0, keyId]);
    assert.equal(trusted.doc.hash, imageA.replace('sha256:', ''));
    assert.equal(trusted.doc.kind, 'docker');
    assert.equal((trusted.doc.artifact as Record<string, unknown>).publisher, keyId);
    const proof = (trusted.doc.imagetrust as { proof: { leafIndex: number; treeSize: number } }).proof;
    assert.deepEqual([proof.leafIndex, proof.treeSize], [0, 1]);

    // The tag moves to another image: the verdict follows the image.
    await engine.docker(['tag', 'local/app-b:1', 'local/app:1']);
    assert.equal((await alice(['verify', 'docker://local/app:1'])).code, UNKNOWN);
    assert.equal((await alice(['untrust', 'docker://local/app:1'])).code, 0);
    assert.equal((await alice(['v', 'docker://local/app:1'])).code, UNTRUSTED);
    await engine.docker(['tag', imageA, 'local/app:1']);
    assert.equal((await alice(['authenticate', 'docker://local/app:1'])).code, TRUSTED);
    assert.equal((await alice(['unsupport', 'docker://local/app:1'])).code, 0);
    assert.equal((await alice(['a', 'docker://local/app:1'])).code, UNSUPPORTED);
    assert.equal((await alice(['verify', '--hash', imageB])).code, UNTRUSTED);

    const history = await alice.json(['inspect', 'docker://local/app:1']);
    const statuses = (history.doc.history as { status: string; index: number }[]).map(
      (h) => `${h.index}:${h.status}`,
    );
    assert.deepEqual(statuses, ['0:trusted', '2:unsupported']);

    // Time travel: before the unsupport statement (tree size 2), and by time.
    assert.equal((await alice(['verify', '--at', '2', 'docker://local/app:1'])).code, TRUSTED);
    assert.equal((await alice(['verify', '--at', '0', 'docker://local/app:1'])).code, UNKNOWN);
    assert.equal(
      (await alice(['verify', '--at', new Date().toISOString(), 'docker://local/app:1'])).code,
      UNSUPPORTED,
    );
    assert.equal((await alice(['verify', '--at', 'yesterday-ish', 'docker://local/app:1'])).code, USAGE);

    const audit = await alice(['ledger', 'audit']);
    assert.equal(audit.code, 0, audit.stdout);
    assert.match(audit.stdout, /3 entries, 4 checkpoints, 2 index keys, tree size 3: OK/);
  });

  it('records repo digests from a real registry', async () => {
    const cli = cliFor(home('registry'), engine.host);
    await keygen(cli);
    const remoteTag = `${registry.address}/tool:1`;
    await engine.docker(['tag', 'local/tool:1', remoteTag]);
    await engine.docker(['push', remoteTag]);
    assert.equal((await cli(['sign', `docker://${remoteTag}`])).code, 0);
    const { doc } = await cli.json(['inspect', `docker://${remoteTag}`]);
    const meta = (doc.history as { metadata: { repoDigests: string[]; repoTags: string[] } }[])[0]!.metadata;
    assert.ok(
      meta.repoDigests.some((d) => d.startsWith(`${registry.address}/tool@sha256:`)),
      JSON.stringify(meta),
    );
    assert.ok(meta.repoTags.includes(remoteTag));
    assert.equal(doc.digest, imageC);
    const byDigest = await cli(['verify', `docker://${meta.repoDigests[0]}`]);
    assert.equal(byDigest.code, TRUSTED, byDigest.stderr);
  });

  it('counts any of several signers, and a policy file sets their levels', async () => {
    const dir = home('team');
    const alice = cliFor(dir, engine.host);
    const bobKey = join(dir, 'bob.key');
    const aliceId = await keygen(alice);
    const bobId = await keygen(alice, ['--key', bobKey]);
    assert.equal((await alice(['sign', '--key', bobKey, 'docker://local/tool:1'])).code, 0);
    assert.equal((await alice(['verify', 'docker://local/tool:1'])).code, UNKNOWN);
    assert.equal((await alice(['verify', '--signer', aliceId, 'docker://local/tool:1'])).code, UNKNOWN);
    assert.equal(
      (await alice(['verify', '--signer', aliceId, '--signer', bobId, 'docker://local/tool:1'])).code,
      TRUSTED,
    );
    assert.equal((await alice(['verify', '--signerID', bobId, 'docker://local/tool:1'])).code, TRUSTED);
    const policy = join(dir, 'policy.json');
    writeFileSync(
      policy,
      JSON.stringify({
        signers: [
          { keyId: aliceId, level: 1 },
          { keyId: bobId, name: 'bob', level: 3 },
        ],
      }),
    );
    const withPolicy = await alice.json(['verify', '--policy', policy, 'docker://local/tool:1']);
    assert.equal(withPolicy.code, TRUSTED);
    assert.equal((withPolicy.doc.verification as { level: number }).level, 3);
    assert.equal(withPolicy.doc.signer, 'bob');
    writeFileSync(policy, JSON.stringify({ signers: [{ keyId: 'nope', level: 7 }], extra: 1 }));
    const bad = await alice(['verify', '--policy', policy, 'docker://local/tool:1']);
    assert.equal(bad.code, 78);
    assert.match(bad.stderr, /signers\[0\]\.keyId.*signers\[0\]\.level.*extra/);
  });
});

describe('bad input changes nothing', () => {
  it('rejects hostile references, wrong keys and a dead engine with clear errors', async () => {
    const dir = home('bad');
    const cli = cliFor(dir, engine.host, { IMAGETRUST_PASSPHRASE: 'correct horse' });
    await keygen(cli);
    assert.equal((await cli(['sign', 'docker://local/app-b:1'])).code, 0);
    const ledger = join(dir, 'ledger.db');
    const size = async () => (await cli.json(['ledger', 'info'])).doc.size as number;
    assert.equal(await size(), 1);

    for (const ref of [
      'docker://$(touch /tmp/pwned)',
      "docker://a'b",
      'docker://UP',
      'docker://x\ny',
      'http://x',
      'docker://',
    ]) {
      const r = await cli(['sign', ref]);
      assert.equal(r.code, USAGE, `${ref}: ${r.stderr}`);
      assert.match(r.stderr, /BAD_IMAGE_REF/);
    }
    assert.equal(existsSync('/tmp/pwned'), false);
    const missing = await cli.json(['sign', 'docker://local/none:1']);
    assert.equal(missing.code, 66);
    assert.equal(missing.doc.code, 'IMAGE_NOT_FOUND');
    assert.equal((await cli(['sign', 'docker://local/app:1'], { IMAGETRUST_PASSPHRASE: 'wrong' })).code, 77);
    assert.equal((await cli(['sign', 'docker://local/app:1'], { IMAGETRUST_PASSPHRASE: '' })).code, 77);
    assert.equal((await cli(['sign', '--key', join(dir, 'absent.key'), 'docker://local/app:1'])).code, 77);
    writeFileSync(join(dir, 'garbage.key'), 'not a key');
    assert.equal((await cli(['sign', '--key', join(dir, 'garbage.key'), 'docker://local/app:1'])).code, 77);
    const dead = await cli(['sign', 'docker://local/app:1'], { DOCKER_HOST: `unix://${dir}/no.sock` });
    assert.equal(dead.code, 69);
    assert.match(dead.stderr, /DOCKER_UNREACHABLE/);
    assert.equal((await cli(['verify', '--hash', 'sha256:1234'])).code, USAGE);
    assert.equal((await cli(['keygen'])).code, 73);
    assert.equal(await size(), 1);
    assert.ok(existsSync(ledger));
  });
});

describe('ledger serve with a second client', () => {
  let server: Background;
  let url: string;
  let serverHome: string;

  before(async () => {
    serverHome = home('server');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const admin = cliFor(serverHome, engine.host);
    server = startBackground(
      process.execPath,
      [BIN, 'ledger', 'serve', '--open', '--port', String(port)],
      join(serverHome, 'serve.log'),
      admin.env,
    );
    await waitFor('ledger serve', async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined));
  });

  after(async () => server?.stop());

  it('signs on one node and verifies on another, then fails closed when the ledger is gone', async () => {
    const signer = cliFor(home('signer'), engine.host, { IMAGETRUST_LEDGER: url });
    const keyId = await keygen(signer);
    const signed = await signer(['sign', 'docker://local/tool:1']);
    assert.equal(signed.code, 0, signed.stderr);
    const reader = cliFor(home('reader'), engine.host, { IMAGETRUST_LEDGER: url });
    const r = await reader.json(['verify', '--signer', keyId, 'docker://local/tool:1']);
    assert.equal(r.code, TRUSTED);
    assert.equal((r.doc.imagetrust as { ledger: { location: string } }).ledger.location, url);
    assert.equal((await signer(['untrust', 'docker://local/tool:1'])).code, 0);
    assert.equal((await reader(['verify', '--signer', keyId, 'docker://local/tool:1'])).code, UNTRUSTED);
    assert.equal(
      (await reader(['verify', '--signer', keyId, '--at', '1', 'docker://local/tool:1'])).code,
      TRUSTED,
    );

    await server.stop();
    const down = await reader(['verify', '--signer', keyId, 'docker://local/tool:1']);
    assert.equal(down.code, 69);
    assert.match(down.stderr, /LEDGER_UNREACHABLE/);
  });

  it('refuses a server that rewrote its history at the same address', async () => {
    const port = await freePort();
    const sameUrl = `http://127.0.0.1:${port}`;
    const serveAt = (dir: string): Background =>
      startBackground(
        process.execPath,
        [BIN, 'ledger', 'serve', '--open', '--port', String(port)],
        join(dir, 'serve.log'),
        cliFor(dir, engine.host).env,
      );
    const healthy = () =>
      waitFor('ledger serve', async () => ((await fetch(`${sameUrl}/healthz`)).ok ? true : undefined));

    // The operator keeps an older copy of the ledger (tree size 1) with its key...
    const forkHome = home('fork');
    copyFileSync(join(serverHome, 'ledger.db.key'), join(forkHome, 'ledger.db.key'));
    const old = new Database(join(serverHome, 'ledger.db'), { readonly: true });
    await old.backup(join(forkHome, 'ledger.db'));
    old.close();
    const db = new Database(join(forkHome, 'ledger.db'));
    db.prepare('DELETE FROM entries WHERE idx >= 1').run();
    db.prepare('DELETE FROM nodes WHERE NOT (level = 0 AND idx = 0)').run();
    db.prepare('DELETE FROM checkpoints WHERE size > 1').run();
    db.prepare('DELETE FROM index_heads WHERE size > 1').run();
    db.prepare('DELETE FROM index_nodes WHERE version > 1').run();
    db.prepare('DELETE FROM index_leaves WHERE version > 1').run();
    db.close();

    // ...while a client verifies against the real ledger (tree size 2) and keeps its checkpoint.
    const real = serveAt(serverHome);
    const victim = cliFor(home('victim'), engine.host, { IMAGETRUST_LEDGER: sameUrl });
    const rogue = cliFor(home('rogue'), engine.host, { IMAGETRUST_LEDGER: sameUrl });
    const rogueId = await keygen(rogue);
    try {
      await healthy();
      assert.equal((await victim(['verify', '--signer', rogueId, '--hash', imageC])).code, UNKNOWN);
    } finally {
      await real.stop();
    }
    // Then the old copy is served at the same address and grows a different history.
    const fork = serveAt(forkHome);
    try {
      await healthy();
      assert.equal((await rogue(['sign', '--hash', imageC])).code, 0);
      assert.equal((await rogue(['sign', '--hash', imageB])).code, 0);
      const r = await victim.json(['verify', '--signer', rogueId, '--hash', imageC]);
      assert.equal(r.code, COMPROMISED, JSON.stringify(r.doc));
      assert.equal(r.doc.code, 'LEDGER_INCONSISTENT');
      const details = r.doc.details as { trusted: string; presented: string };
      assert.match(details.trusted, /\n2\n/);
      assert.match(details.presented, /\n3\n/);
    } finally {
      await fork.stop();
    }
  });
});

describe('a ledger file edited by hand makes verify exit 10, never 0', () => {
  async function notarizedCopy(name: string): Promise<{ cli: Cli; db: Database.Database }> {
    const dir = home(name);
    const cli = cliFor(dir, engine.host);
    await keygen(cli);
    assert.equal((await cli(['sign', 'docker://local/app-b:1'])).code, 0);
    assert.equal((await cli(['sign', 'docker://local/tool:1'])).code, 0);
    assert.equal((await cli(['untrust', 'docker://local/tool:1'])).code, 0);
    assert.equal((await cli(['sign', '--hash', `sha256:${'e'.repeat(64)}`])).code, 0);
    assert.equal((await cli(['verify', 'docker://local/tool:1'])).code, UNTRUSTED);
    return { cli, db: new Database(join(dir, 'ledger.db')) };
  }

  async function assertCompromised(cli: Cli): Promise<void> {
    const r = await cli.json(['verify', 'docker://local/tool:1']);
    assert.equal(r.code, COMPROMISED, `${JSON.stringify(r.doc)} ${r.stderr}`);
    assert.match(r.stderr, /ledger compromised/);
  }

  const cases: [string, (db: Database.Database) => void][] = [
    [
      'a status flipped',
      (db) => {
        const row = db.prepare('SELECT leaf FROM entries WHERE idx = 2').get() as { leaf: Buffer };
        const env = JSON.parse(row.leaf.toString()) as { payload: string };
        const payload = Buffer.from(env.payload, 'base64').toString().replace('"untrusted"', '"trusted"');
        db.prepare('UPDATE entries SET leaf = ? WHERE idx = 2').run(
          Buffer.from(JSON.stringify({ ...env, payload: Buffer.from(payload).toString('base64') })),
        );
      },
    ],
    ['a row deleted', (db) => void db.prepare('DELETE FROM entries WHERE idx = 2').run()],
    [
      'rows reordered',
      (db) => {
        const a = db.prepare('SELECT leaf, digest FROM entries WHERE idx = 1').get() as {
          leaf: Buffer;
          digest: string;
        };
        const b = db.prepare('SELECT leaf, digest FROM entries WHERE idx = 2').get() as {
          leaf: Buffer;
          digest: string;
        };
        db.prepare('UPDATE entries SET leaf = ?, digest = ? WHERE idx = 1').run(b.leaf, b.digest);
        db.prepare('UPDATE entries SET leaf = ?, digest = ? WHERE idx = 2').run(a.leaf, a.digest);
      },
    ],
    ['the last rows truncated', (db) => void db.prepare('DELETE FROM entries WHERE idx >= 2').run()],
    [
      'a checkpoint replaced',
      (db) => {
        const old = db.prepare('SELECT note FROM checkpoints WHERE size = 2').get() as { note: string };
        db.prepare('UPDATE checkpoints SET note = ? WHERE size = 4').run(old.note);
      },
    ],
    [
      'a checkpoint forged',
      (db) => {
        const row = db.prepare('SELECT note FROM checkpoints WHERE size = 4').get() as { note: string };
        db.prepare('UPDATE checkpoints SET note = ? WHERE size = 4').run(row.note.replace(/\n4\n/, '\n5\n'));
      },
    ],
  ];

  for (const [name, tamper] of cases) {
    it(name, async () => {
      const { cli, db } = await notarizedCopy(name.replace(/\W+/g, '-'));
      tamper(db);
      db.close();
      await assertCompromised(cli);
      const audit = await cli(['ledger', 'audit']);
      assert.notEqual(audit.code, 0, audit.stdout);
    });
  }

  // The edits that hid the untrust from imagetrust 0.1's lookups: now verify still sees it (or
  // refuses the ledger) and the audit names the edited column.
  const indexEdits: [string, string, RegExp][] = [
    [
      'the digest column of the untrust',
      `UPDATE entries SET digest = 'sha256:${'0'.repeat(64)}' WHERE idx = 2`,
      /digest column/,
    ],
    [
      'the index key column of the untrust',
      'UPDATE entries SET ikey = zeroblob(32) WHERE idx = 2',
      /index key column/,
    ],
    ['an index leaf', 'UPDATE index_leaves SET count = 1 WHERE count = 2', /index node/],
  ];
  for (const [name, sql, problem] of indexEdits) {
    it(`${name} edited`, async () => {
      const { cli, db } = await notarizedCopy(name.replace(/\W+/g, '-'));
      db.prepare(sql).run();
      db.close();
      const r = await cli(['verify', 'docker://local/tool:1']);
      assert.ok(
        r.code === UNTRUSTED || r.code === COMPROMISED,
        `verify exited ${r.code}: ${r.stdout}${r.stderr}`,
      );
      const audit = await cli(['ledger', 'audit']);
      assert.equal(audit.code, COMPROMISED, audit.stdout);
      assert.match(audit.stdout, problem);
    });
  }
});

describe('evidence: the CI job that signed', () => {
  it('records a simulated GitHub Actions and GitLab CI job; --attr wins; --no-ci records none', async () => {
    const cli = cliFor(home('evidence'), engine.host);
    await keygen(cli);
    const github = {
      GITHUB_ACTIONS: 'true',
      GITHUB_JOB: 'image',
      GITHUB_RUN_ID: '4242',
      GITHUB_REPOSITORY: 'consortium/node',
      GITHUB_SHA: 'a'.repeat(40),
      GITHUB_REF: 'refs/heads/main',
    };
    const gh = await cli(['sign', 'docker://local/app:1', '--attr', 'ci.job=override'], github);
    assert.equal(gh.code, 0, gh.stderr);
    const gitlab = {
      GITLAB_CI: 'true',
      CI_JOB_ID: '777',
      CI_COMMIT_SHA: 'b'.repeat(40),
      CI_PROJECT_PATH: 'g/p',
    };
    assert.equal((await cli(['sign', 'docker://local/app-b:1'], gitlab)).code, 0);
    assert.equal((await cli(['sign', 'docker://local/tool:1', '--no-ci'], github)).code, 0);
    const attrsOf = async (ref: string) => {
      const r = await cli.json(['verify', ref]);
      assert.equal(r.code, TRUSTED, r.stderr);
      return (r.doc.imagetrust as { attributes: Record<string, string> }).attributes;
    };
    const a = await attrsOf('docker://local/app:1');
    assert.equal(a['ci.system'], 'github-actions');
    assert.equal(a['ci.job'], 'override');
    assert.equal(a['ci.url'], 'https://github.com/consortium/node/actions/runs/4242');
    assert.equal(a['vcs.commit'], 'a'.repeat(40));
    const b = await attrsOf('docker://local/app-b:1');
    assert.deepEqual([b['ci.system'], b['ci.job'], b['vcs.repository']], ['gitlab-ci', '777', 'g/p']);
    assert.deepEqual(await attrsOf('docker://local/tool:1'), {});
    const inspect = await cli.json(['inspect', 'docker://local/app:1']);
    const history = inspect.doc.history as { attributes: Record<string, string> }[];
    assert.equal(history[0]?.attributes['ci.run'], '4242');

    // Found again by job id and by checksum, each match proven.
    const byJob = await cli.json(['search', '--attr', 'ci.job=777']);
    assert.equal(byJob.code, 0, byJob.stderr);
    const matches = byJob.doc.matches as {
      digest: string;
      attributes: Record<string, string>;
      inclusionPath: string[];
    }[];
    assert.deepEqual(
      matches.map((m) => m.digest),
      [imageB],
    );
    assert.equal(matches[0]?.attributes['vcs.commit'], 'b'.repeat(40));
    const byHash = await cli(['search', '--hash', imageA]);
    assert.equal(byHash.code, 0, byHash.stderr);
    assert.match(byHash.stdout, /TRUSTED .* ci\.job="override"/);
    assert.equal((await cli(['search', '--attr', 'ci.job=nothing'])).code, 1);
  });

  it('stores hostile attribute values exactly or refuses them clearly', async () => {
    const cli = cliFor(home('hostile-attrs'), engine.host);
    await keygen(cli);
    const odd = 'Zürich ☃ "quoted"\nsecond line\ttab';
    const signed = await cli([
      'sign',
      '--hash',
      `sha256:${'e'.repeat(64)}`,
      '--attr',
      `note=${odd}`,
      '--no-ci',
    ]);
    assert.equal(signed.code, 0, signed.stderr);
    const found = await cli.json(['search', '--attr', `note=${odd}`]);
    assert.equal(found.code, 0, found.stderr);
    assert.equal((found.doc.matches as { attributes: Record<string, string> }[])[0]?.attributes.note, odd);
    const long = await cli([
      'sign',
      '--hash',
      `sha256:${'f'.repeat(64)}`,
      '--attr',
      `big=${'x'.repeat(10_000)}`,
    ]);
    assert.equal(long.code, USAGE);
    assert.match(long.stderr, /longer than 4096/);
    const badKey = await cli(['sign', '--hash', `sha256:${'f'.repeat(64)}`, '--attr', 'ci job=1']);
    assert.equal(badKey.code, USAGE);
    assert.match(badKey.stderr, /attribute name "ci job" is invalid/);
    assert.equal((await cli(['search', '--hash', `sha256:${'f'.repeat(64)}`])).code, 1, 'nothing was stored');
  });
});

describe('readers open the ledger read-only: verify, inspect, search, ledger info and audit', () => {
  const H = `sha256:${'d'.repeat(64)}`;

  /** A home with a key and a ledger of two statements (made by sign, the only writer here). */
  async function signed(name: string): Promise<{ cli: Cli; dir: string; ledger: string }> {
    const dir = home(name);
    const cli = cliFor(dir, engine.host);
    await keygen(cli);
    assert.equal((await cli(['sign', '--hash', H, '--no-ci'])).code, TRUSTED);
    assert.equal((await cli(['sign', 'docker://local/tool:1', '--no-ci'])).code, TRUSTED);
    return { cli, dir, ledger: join(dir, 'ledger.db') };
  }

  const digestOf = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

  it('a missing ledger (or a mistyped path) is a clear error, and no ledger is created', async () => {
    const dir = home('missing');
    const cli = cliFor(dir, engine.host);
    await keygen(cli);
    const typo = join(dir, 'ledgr.db');
    for (const args of [
      ['verify', '--hash', H],
      ['verify', '--ledger', typo, '--hash', H],
      ['inspect', '--ledger', typo, '--hash', H],
      ['search', '--ledger', typo, '--hash', H],
      ['ledger', 'info', '--ledger', typo],
      ['ledger', 'audit', '--ledger', typo],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, NOT_FOUND, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /there is no ledger at/, args.join(' '));
    }
    assert.equal(existsSync(join(dir, 'ledger.db')), false);
    assert.equal(existsSync(typo), false);
    assert.equal(existsSync(`${typo}.key`), false);
  });

  it('a ledger file the user cannot write is verified, inspected, searched and audited unchanged', async (t) => {
    const { ledger } = await signed('readonly');
    // Another user's ledger: owned by root, mode 0444, read by `nobody` from a folder where
    // SQLite may keep its -shm file (a WAL ledger needs one), with nobody's own home.
    const shared = mkdtempSync('/tmp/itd-cli-ro-');
    t.after(() => rmSync(shared, { recursive: true, force: true }));
    chmodSync(shared, 0o755);
    const folder = join(shared, 'ledger');
    const own = join(shared, 'home');
    for (const d of [folder, own]) {
      execFileSync('mkdir', [d]);
      chownSync(d, 65534, 65534);
    }
    const file = join(folder, 'ledger.db');
    const db = new Database(ledger, { readonly: true });
    await db.backup(file);
    db.close();
    chmodSync(file, 0o444);
    copyFileSync(`${join(ledger, '..', 'signer.key.pub')}`, join(own, 'signer.key.pub'));
    chownSync(join(own, 'signer.key.pub'), 65534, 65534);
    const before = digestOf(file);
    const asNobody = (args: string[]) =>
      run(
        'runuser',
        [
          '-u',
          'nobody',
          '--',
          'env',
          `HOME=${own}`,
          `IMAGETRUST_HOME=${own}`,
          process.execPath,
          BIN,
          ...args,
          '--ledger',
          file,
        ],
        { timeoutMs: 60_000 },
      );
    const verified = await asNobody(['verify', '--hash', H]);
    assert.equal(verified.code, TRUSTED, verified.stderr);
    assert.equal((await asNobody(['inspect', '--hash', H])).code, 0);
    assert.equal((await asNobody(['search', '--hash', H])).code, 0);
    assert.equal((await asNobody(['ledger', 'info'])).code, 0);
    const audit = await asNobody(['ledger', 'audit']);
    assert.equal(audit.code, 0, `${audit.stdout}${audit.stderr}`);
    assert.match(audit.stdout, /2 entries, 3 checkpoints, 2 index keys, tree size 2: OK/);
    assert.equal(digestOf(file), before);
    assert.equal(statSync(file).mode & 0o777, 0o444);
  });

  it('a wiped ledger file is reported as such: verify and audit exit 10, nothing is re-created', async () => {
    const { cli, ledger } = await signed('wiped');
    for (const suffix of ['-wal', '-shm']) rmSync(`${ledger}${suffix}`, { force: true });
    truncateSync(ledger, 0);
    const v = await cli(['verify', '--hash', H]);
    assert.equal(v.code, COMPROMISED, v.stderr);
    assert.match(v.stderr, /empty file \(0 bytes\).*LEDGER_TAMPERED/);
    assert.equal((await cli(['search', '--hash', H])).code, COMPROMISED);
    const audit = await cli(['ledger', 'audit']);
    assert.equal(audit.code, COMPROMISED, audit.stdout);
    assert.match(audit.stdout, /1 problem\(s\)\n  ledger .* is an empty file/);
    assert.doesNotMatch(audit.stdout, /: OK/);
    const json = await cli.json(['ledger', 'audit']);
    assert.equal(json.code, COMPROMISED);
    assert.equal((json.doc.problems as string[]).length, 1);
    assert.equal(statSync(ledger).size, 0, 'nothing was written to it');
  });

  it('a ledger whose rows were wiped (the file still a database) is refused, never OK', async () => {
    const { cli, ledger } = await signed('rows-wiped');
    const db = new Database(ledger);
    for (const table of ['meta', 'checkpoints']) db.prepare(`DELETE FROM ${table}`).run();
    db.close();
    const v = await cli(['verify', '--hash', H]);
    assert.equal(v.code, COMPROMISED, v.stderr);
    assert.match(v.stderr, /lost its key or its checkpoints/);
    const audit = await cli(['ledger', 'audit']);
    assert.equal(audit.code, COMPROMISED, audit.stdout);
    assert.match(audit.stdout, /lost its key or its checkpoints/);
  });

  it('a corrupted SQLite file exits 10 (not 70 or 74), and the audit reports what SQLite found', async () => {
    const { cli, ledger } = await signed('corrupt');
    const original = readFileSync(ledger);
    for (const suffix of ['-wal', '-shm']) rmSync(`${ledger}${suffix}`, { force: true });
    writeFileSync(ledger, randomBytes(original.length));
    const garbage = await cli(['verify', '--hash', H]);
    assert.equal(garbage.code, COMPROMISED, garbage.stderr);
    assert.match(garbage.stderr, /damaged \(file is not a database\).*LEDGER_TAMPERED/);
    const audited = await cli(['ledger', 'audit']);
    assert.equal(audited.code, COMPROMISED, audited.stdout + audited.stderr);
    assert.match(audited.stdout, /problem\(s\)/);
    assert.match(audited.stdout, /not a database/);
    // Every page after the first two overwritten in turn: never a crash, never OK.
    const pages = original.length / 4096;
    for (let page = 2; page < pages; page += 3) {
      const damaged = Buffer.from(original);
      randomBytes(4096).copy(damaged, page * 4096);
      writeFileSync(ledger, damaged);
      const v = await cli(['verify', '--hash', H]);
      assert.ok(
        v.code === COMPROMISED || v.code === TRUSTED,
        `page ${page}: verify exited ${v.code} ${v.stderr}`,
      );
      if (v.code === COMPROMISED) assert.match(v.stderr, /LEDGER_TAMPERED|ledger compromised/);
      const a = await cli(['ledger', 'audit']);
      assert.ok(a.code === COMPROMISED || a.code === 0, `page ${page}: audit exited ${a.code} ${a.stderr}`);
      if (a.code === COMPROMISED) assert.match(a.stdout, /problem\(s\)/, `page ${page}: ${a.stderr}`);
    }
  });

  it('--at and --max are strict: negatives, garbage, trailing junk and impossible dates are usage errors', async () => {
    const { cli } = await signed('strict');
    for (const at of [
      '-1',
      '1e1',
      '0x1',
      '2 ',
      '2026-02-30T00:00:00Z',
      '2026-11-30',
      'now',
      '2026-11-30T12:00:00Zx',
    ]) {
      const r = await cli(['verify', '--at', at, '--hash', H]);
      assert.equal(r.code, USAGE, `--at ${at}: ${r.stderr}`);
      assert.match(r.stderr, /--at/);
    }
    assert.equal((await cli(['verify', '--at', '1', '--hash', H])).code, TRUSTED);
    assert.equal((await cli(['verify', '--at', '0', '--hash', H])).code, UNKNOWN);
    for (const max of ['0', '-1', '1e3', ' 5', '0x10', '100001', ''])
      assert.equal((await cli(['search', '--hash', H, '--max', max])).code, USAGE, `--max ${max}`);
  });
});
