import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { assertCode } from '../testing/assert-code';
import { readBoundedFile, readSecretFile, secretFrom, MAX_SECRET_BYTES } from './files';
import { readKeyFile, writeKeyFile } from '../ledger/keys';
import { readWitnessKey } from '../witness/keys';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'itd-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function secret(dir: string, name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

test('a secret file: one trailing newline dropped, private to its owner', (t) => {
  const dir = tempDir(t);
  assert.equal(readSecretFile(secret(dir, 'a', 'tok-en value\n')), 'tok-en value');
  assert.equal(readSecretFile(secret(dir, 'b', 'x\r\n')), 'x');
  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602]) {
    const path = secret(dir, `m${mode.toString(8)}`, 'value', mode);
    const err = assertCode(() => readSecretFile(path, 'token file'), 'CONFIG_INVALID');
    assert.ok(err.message.includes(path), err.message);
    assert.ok(err.message.includes(`chmod 600 ${path}`), err.message);
    assert.ok(!err.message.includes('value'), 'the message never carries the content');
  }
  assertCode(() => readSecretFile(secret(dir, 'empty', '')), 'CONFIG_INVALID');
  assertCode(() => readSecretFile(secret(dir, 'two', 'a\nb\n')), 'CONFIG_INVALID');
  assertCode(() => readSecretFile(join(dir, 'absent')), 'CONFIG_INVALID');
});

test('reads are bounded: /dev/zero, a FIFO, a folder and a large file fail at once', (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const started = Date.now();
  for (const path of ['/dev/zero', '/dev/urandom', fifo, dir]) {
    const err = assertCode(() => readBoundedFile(path, { what: 'key', maxBytes: 1024 }), 'CONFIG_INVALID');
    assert.match(err.message, /not a regular file/);
  }
  const big = secret(dir, 'big', 'x'.repeat(MAX_SECRET_BYTES + 1));
  assert.match(assertCode(() => readSecretFile(big), 'CONFIG_INVALID').message, /larger than/);
  assert.equal(
    readBoundedFile(big, { what: 'f', maxBytes: MAX_SECRET_BYTES + 1 }).length,
    MAX_SECRET_BYTES + 1,
  );
  assert.ok(Date.now() - started < 2000, 'no read waits');
  // /proc files say size 0 and are read up to the bound.
  assert.ok(readBoundedFile('/proc/self/stat', { what: 'f', maxBytes: 4096 }).length > 0);
  assertCode(() => readBoundedFile('/proc/self/maps', { what: 'f', maxBytes: 16 }), 'CONFIG_INVALID');
  assertCode(
    () =>
      readBoundedFile(join(dir, 'absent'), {
        what: 'k',
        maxBytes: 1,
        code: 'KEY_INVALID',
        missingCode: 'KEY_NOT_FOUND',
      }),
    'KEY_NOT_FOUND',
  );
});

test('secretFrom: the value, the file, never both', (t) => {
  const dir = tempDir(t);
  const file = secret(dir, 't', 'from-file\n');
  const names = { value: '--token', file: '--token-file' };
  assert.equal(secretFrom('v', undefined, names), 'v');
  assert.equal(secretFrom(undefined, file, names), 'from-file');
  assert.equal(secretFrom(undefined, undefined, names), undefined);
  assertCode(() => secretFrom('v', file, names), 'CONFIG_INVALID');
});

test('private keys: bounded, refused when others may read them, every failure names the file', (t) => {
  const dir = tempDir(t);
  const key = join(dir, 'signer.key');
  writeKeyFile(key, generateKeyPairSync('ed25519').privateKey);
  assert.equal(readKeyFile(key).asymmetricKeyType, 'ed25519');
  chmodSync(key, 0o644);
  const open = assertCode(() => readKeyFile(key), 'KEY_INVALID');
  assert.ok(open.message.includes(key) && open.message.includes('chmod 600'), open.message);
  chmodSync(key, 0o600);
  const started = Date.now();
  assert.match(
    assertCode(() => readKeyFile('/dev/zero'), 'KEY_INVALID').message,
    /\/dev\/zero is not a regular file/,
  );
  assert.ok(Date.now() - started < 1000);
  const huge = secret(dir, 'huge.key', `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(1 << 20)}\n`);
  assert.match(assertCode(() => readKeyFile(huge), 'KEY_INVALID').message, /larger than/);
  assertCode(() => readKeyFile(join(dir, 'absent.key')), 'KEY_NOT_FOUND');
  assertCode(() => readKeyFile(secret(dir, 'garbage.key', 'not a key')), 'KEY_INVALID');
});

test('witness keys: the key private, its vkey bounded', (t) => {
  const dir = tempDir(t);
  const key = join(dir, 'w.key');
  writeKeyFile(key, generateKeyPairSync('ed25519').privateKey);
  assertCode(() => readWitnessKey(key), 'KEY_NOT_FOUND');
  writeFileSync(`${key}.vkey`, 'x'.repeat(10_000));
  assert.match(assertCode(() => readWitnessKey(key), 'KEY_INVALID').message, /larger than/);
  chmodSync(key, 0o640);
  assertCode(() => readWitnessKey(key), 'KEY_INVALID');
});
