import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint';
import { noteSigner, noteVerifier, openNote, signNote, vkeyFor } from './note';
import { rawPublicKey } from './ed25519';
import { sha256 } from './merkle';
import { assertCode } from '../testing/assert-code';

function keyPair(name: string) {
  const { privateKey } = generateKeyPairSync('ed25519');
  const signer = noteSigner(name, privateKey);
  const verifier = noteVerifier(vkeyFor(name, rawPublicKey(privateKey)));
  return { signer, verifier };
}

const origin = 'imagetrust.test/log';
const root = sha256(Buffer.from('root'));

describe('signed note', () => {
  const { signer, verifier } = keyPair('log.example');

  it('round-trips and names the verifying key', () => {
    const note = signNote('hello\nworld\n', [signer]);
    assert.match(note, /^hello\nworld\n\n\u2014 log\.example [A-Za-z0-9+/=]+\n$/);
    assert.deepEqual(openNote(note, [verifier]), { text: 'hello\nworld\n', verifiedBy: ['log.example'] });
  });

  it('key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key)', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const raw = rawPublicKey(privateKey);
    const expected = sha256(Buffer.from('k\n\x01', 'latin1'), raw).subarray(0, 4).toString('hex');
    assert.equal(vkeyFor('k', raw).split('+')[1], expected);
  });

  it('ignores unknown keys but requires one known signature', () => {
    const other = keyPair('other.example');
    const note = signNote('text\n', [other.signer, signer]);
    assert.deepEqual(openNote(note, [verifier]).verifiedBy, ['log.example']);
    assertCode(() => openNote(signNote('text\n', [other.signer]), [verifier]), 'NOTE_UNVERIFIED');
  });

  it('rejects a same-named key with another key id, and a changed text', () => {
    const impostor = keyPair('log.example');
    assertCode(() => openNote(signNote('text\n', [impostor.signer]), [verifier]), 'NOTE_UNVERIFIED');
    const note = signNote('text\n', [signer]);
    assertCode(() => openNote(note.replace('text', 'tExt'), [verifier]), 'NOTE_UNVERIFIED');
  });

  it('rejects malformed notes', () => {
    const note = signNote('text\n', [signer]);
    const sig = note.split(' ')[2]!.trim();
    for (const bad of [
      'text\n',
      'text\n\n',
      note.slice(0, -1),
      note.replace('\u2014', '-'),
      `text\n\n\u2014 log.example !!!notbase64\n`,
      `text\n\n\u2014 log.example ${sig.slice(0, 4)}\n`,
      `text\n\n\u2014 log.example\n`,
      `te\u0001xt\n\n\u2014 log.example ${sig}\n`,
      `text\n\n\u2014 log.example ${sig} extra\n`,
      `text\n\n\u2014 log.example AAAA\n`,
    ]) {
      assertCode(() => openNote(bad, [verifier]), 'NOTE_MALFORMED');
    }
  });

  it('rejects malformed verifier keys', () => {
    for (const bad of [
      '',
      'a+b',
      'name+0000zz00+AAAA',
      `log.example+00000000+${verifier.vkey.split('+')[2]}`,
      'x y+00000000+AA==',
    ]) {
      assertCode(() => noteVerifier(bad), 'KEY_INVALID');
    }
  });
});

describe('checkpoint', () => {
  const { signer, verifier } = keyPair('log.example');

  it('formats the C2SP body', () => {
    assert.equal(
      formatCheckpoint({ origin, size: 7, rootHash: root }),
      `${origin}\n7\n${root.toString('base64')}\n`,
    );
  });

  it('signs, verifies, then parses', () => {
    const cp = signCheckpoint({ origin, size: 7, rootHash: root }, signer);
    const opened = openCheckpoint(cp.note, verifier, origin);
    assert.equal(opened.size, 7);
    assert.deepEqual(opened.rootHash, root);
  });

  it('checks the signature before parsing: a forged malformed body is a signature error', () => {
    const forged = signNote('not a checkpoint\n', [keyPair('log.example').signer]);
    assertCode(() => openCheckpoint(forged, verifier, origin), 'NOTE_UNVERIFIED');
  });

  it('rejects a wrong origin and an empty expected origin', () => {
    const cp = signCheckpoint({ origin: 'somewhere.else', size: 1, rootHash: root }, signer);
    assertCode(() => openCheckpoint(cp.note, verifier, origin), 'CHECKPOINT_ORIGIN');
    assertCode(() => openCheckpoint(cp.note, verifier, ''), 'CHECKPOINT_ORIGIN');
  });

  it('rejects a signed but malformed body', () => {
    const b64 = root.toString('base64');
    for (const body of [
      `\n1\n${b64}\n`,
      `${origin}\n01\n${b64}\n`,
      `${origin}\n-1\n${b64}\n`,
      `${origin}\n99999999999999999999\n${b64}\n`,
      `${origin}\n1\n${b64.slice(1)}\n`,
      `${origin}\n1\n!${b64.slice(1)}\n`,
      `${origin}\n1\n`,
    ]) {
      const note = signNote(body === `\n1\n${b64}\n` ? `x\n1\n${b64}\n` : body, [signer]);
      const tampered = body.startsWith('\n') ? `\n${note.slice(1)}` : note;
      assert.throws(() => openCheckpoint(tampered, verifier, origin));
    }
    assertCode(() => parseCheckpoint(`\n1\n${b64}\n`), 'CHECKPOINT_MALFORMED');
    assertCode(() => parseCheckpoint(`${origin}\n01\n${b64}\n`), 'CHECKPOINT_MALFORMED');
    assertCode(() => parseCheckpoint(`${origin}\n1\nAAAA\n`), 'CHECKPOINT_MALFORMED');
    assertCode(() => parseCheckpoint(`${origin}\n1\n${b64}`), 'CHECKPOINT_MALFORMED');
    assertCode(
      () => openCheckpoint(signNote(`${origin}\nseven\n${b64}\n`, [signer]), verifier, origin),
      'CHECKPOINT_MALFORMED',
    );
    assert.deepEqual(parseCheckpoint(`${origin}\n1\n${b64}\next one\n`).extensions, ['ext one']);
  });
});
