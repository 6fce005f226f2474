import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandVerifier, expandArgs, parseVcnOutput } from './command';
import { tempDir } from '../testing/fixtures';

const digest = `sha256:${'ab'.repeat(32)}` as const;

describe('parseVcnOutput', () => {
  it('reads vcn v0.7+ JSON', () => {
    const doc = {
      kind: 'docker',
      signer: 'ops',
      verification: { level: 2, owner: '0xabc', status: 0, timestamp: '2019-05-01T14:00:35Z' },
    };
    assert.deepEqual(parseVcnOutput(JSON.stringify(doc), 0), {
      status: 'trusted',
      statusCode: 0,
      level: 2,
      signer: '0xabc',
      signedAt: '2019-05-01T14:00:35Z',
    });
  });

  it('reads the pre-v0.7 shape and its publisher', () => {
    const doc = {
      artifact: { publisher: 'someone@example.com' },
      verification: { level: 1, owner: '', status: 1, timestamp: '' },
    };
    const v = parseVcnOutput(JSON.stringify(doc), 1);
    assert.equal(v.status, 'untrusted');
    assert.equal(v.signer, 'someone@example.com');
  });

  it('an unknown artifact is a definitive unknown', () => {
    const v = parseVcnOutput(
      '{"artifact":null,"verification":{"level":0,"owner":"","status":2,"timestamp":""}}',
      1,
    );
    assert.equal(v.status, 'unknown');
    assert.equal(v.transient, undefined);
    assert.equal(parseVcnOutput('{"verification":{"status":3}}', 3).status, 'unsupported');
  });

  it('never says trusted unless the exit code agrees', () => {
    const v = parseVcnOutput('{"verification":{"status":0,"level":0}}', 1);
    assert.equal(v.status, 'unknown');
    assert.equal(v.transient, true);
  });

  it('garbage, errors and odd statuses are transient unknowns with a reason', () => {
    for (const [out, code] of [
      ['', 0],
      ['not json', 0],
      ['[1,2]', 0],
      ['{"error":"no such image"}', 1],
      ['{"verification":{"status":"0"}}', 0],
      ['{"verification":{"status":7}}', 0],
      ['{"kind":"docker"}', 0],
    ] as const) {
      const v = parseVcnOutput(out, code);
      assert.equal(v.status, 'unknown', out);
      assert.equal(v.transient, true, out);
      assert.ok(v.reason, out);
    }
  });
});

describe('expandArgs', () => {
  it('fills in the running digest, never a tag', () => {
    assert.deepEqual(
      expandArgs(['verify', '{ref}', '--hash', '{digest}', 'h={hash}'], { digest, ref: 'app:latest' }),
      ['verify', `docker://${digest}`, '--hash', digest, `h=${'ab'.repeat(32)}`],
    );
  });
});

describe('CommandVerifier runs real processes', () => {
  const script = (t: Parameters<typeof tempDir>[0], body: string): string => {
    const file = join(tempDir(t), 'verifier.js');
    writeFileSync(file, body);
    return file;
  };

  it('passes the digest as one argument and parses the answer', async (t) => {
    const file = script(
      t,
      `const arg = process.argv[2]; console.log(JSON.stringify({ verification: { status: arg === 'docker://${digest}' ? 0 : 1, level: 3, owner: 'k', timestamp: '' } })); process.exit(arg === 'docker://${digest}' ? 0 : 1);`,
    );
    const v = await new CommandVerifier({ command: [process.execPath, file, '{ref}'] }).verify({ digest });
    assert.equal(v.status, 'trusted');
    assert.equal(v.level, 3);
  });

  it('a hang is a timeout, a crash and a missing binary are unknown', async (t) => {
    const hang = script(t, 'setInterval(() => {}, 1000);');
    const timedOut = await new CommandVerifier({ command: [process.execPath, hang], timeoutMs: 300 }).verify({
      digest,
    });
    assert.equal(timedOut.status, 'unknown');
    assert.match(timedOut.reason ?? '', /timed out/);
    const crash = script(t, 'process.kill(process.pid, "SIGSEGV");');
    const crashed = await new CommandVerifier({ command: [process.execPath, crash] }).verify({ digest });
    assert.equal(crashed.status, 'unknown');
    assert.match(crashed.reason ?? '', /SIGSEGV/);
    const missing = await new CommandVerifier({ command: ['/nonexistent/vcn', 'verify'] }).verify({ digest });
    assert.equal(missing.status, 'unknown');
    assert.match(missing.reason ?? '', /could not run/);
  });

  it('a child that writes without end on stdout or stderr is stopped at the bound, not at the timeout', async (t) => {
    for (const stream of ['stdout', 'stderr']) {
      const endless = script(
        t,
        `const b = Buffer.alloc(65536, 120); const w = () => { while (process.${stream}.write(b)); process.${stream}.once('drain', w); }; w();`,
      );
      const started = Date.now();
      const v = await new CommandVerifier({
        command: [process.execPath, endless],
        maxOutputBytes: 64 * 1024,
        timeoutMs: 20_000,
      }).verify({ digest });
      assert.equal(v.status, 'unknown', stream);
      assert.match(v.reason ?? '', /more than 65536 bytes/, stream);
      assert.ok(Date.now() - started < 10_000, `${stream}: stopped after ${Date.now() - started} ms`);
    }
  });

  it('too much output is cut off as unknown', async (t) => {
    const loud = script(t, 'process.stdout.write("x".repeat(5 * 1024 * 1024));');
    const v = await new CommandVerifier({ command: [process.execPath, loud], maxOutputBytes: 1024 }).verify({
      digest,
    });
    assert.equal(v.status, 'unknown');
    assert.match(v.reason ?? '', /more than 1024 bytes/);
  });
});
