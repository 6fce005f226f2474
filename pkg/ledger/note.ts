// C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys.
//
// A note is its text (ending in a newline), a blank line, and signature lines
// `— <key name> <base64(4-byte key id || signature)>`. Opening a note verifies the signature
// *before* anything looks at the text; signatures by unknown keys are ignored.
// Pure code: no I/O.

import type { KeyObject } from 'node:crypto';
import { ImagetrustError } from '../errors';
import { ed25519Sign, ed25519Verify, publicKeyFromRaw, rawPublicKey } from './ed25519';
import { sha256 } from './merkle';

const ALG_ED25519 = 0x01;
const MAX_NOTE_BYTES = 1 << 20;
const SIG_PREFIX = '\u2014 ';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Buffer;
  /** The verifier key in C2SP vkey form: `<name>+<hex key id>+<base64(alg || public key)>`. */
  readonly vkey: string;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyId: Buffer;
  sign(message: Uint8Array): Buffer;
}

function malformed(message: string): ImagetrustError {
  return new ImagetrustError('NOTE_MALFORMED', message);
}

export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !/[\p{Cc}]/u.test(name);
}

/** A signed-note key id: SHA-256(name ‖ 0x0A ‖ key type ‖ public key)[0:4]. */
export function keyIdFor(name: string, type: number, rawPublicKeyBytes: Uint8Array): Buffer {
  return sha256(Buffer.from(name, 'utf8'), Buffer.from([0x0a, type]), rawPublicKeyBytes).subarray(0, 4);
}

export function noteKeyId(name: string, rawPublicKeyBytes: Uint8Array): Buffer {
  return keyIdFor(name, ALG_ED25519, rawPublicKeyBytes);
}

/** A vkey: `<name>+<hex key id>+<base64(key type ‖ public key)>`. */
export function vkeyOf(name: string, type: number, rawPublicKeyBytes: Uint8Array): string {
  const id = keyIdFor(name, type, rawPublicKeyBytes).toString('hex');
  const key = Buffer.concat([Buffer.from([type]), rawPublicKeyBytes]).toString('base64');
  return `${name}+${id}+${key}`;
}

export function vkeyFor(name: string, rawPublicKeyBytes: Uint8Array): string {
  return vkeyOf(name, ALG_ED25519, rawPublicKeyBytes);
}

export function noteSigner(name: string, privateKey: KeyObject): NoteSigner {
  if (!isValidKeyName(name))
    throw new ImagetrustError('KEY_INVALID', `invalid note key name ${JSON.stringify(name)}`);
  const keyId = noteKeyId(name, rawPublicKey(privateKey));
  return { name, keyId, sign: (message) => ed25519Sign(privateKey, message) };
}

export interface ParsedVkey {
  readonly name: string;
  readonly keyId: Buffer;
  readonly vkey: string;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * Parses a vkey of one key type (0x01 note signatures, 0x04 timestamped cosignatures); every
 * malformed part is a KEY_INVALID error that names `what`.
 */
export function parseVkey(vkey: string, type: number, what = 'verifier key'): ParsedVkey {
  // The key data is base64 and may itself hold '+': split at the first two only.
  const text = vkey.trim();
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new ImagetrustError('KEY_INVALID', `a ${what} has the form name+keyid+key`);
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const keyB64 = text.slice(second + 1);
  if (!isValidKeyName(name)) throw new ImagetrustError('KEY_INVALID', `${what} has an invalid name`);
  if (!/^[0-9a-f]{8}$/.test(idHex))
    throw new ImagetrustError('KEY_INVALID', `${what} id is not 8 hex digits`);
  if (!BASE64.test(keyB64)) throw new ImagetrustError('KEY_INVALID', `${what} is not base64`);
  const key = Buffer.from(keyB64, 'base64');
  if (key.length !== 33 || key[0] !== type) {
    throw new ImagetrustError('KEY_INVALID', `${what} is not an Ed25519 key of type 0x0${type}`);
  }
  const raw = key.subarray(1);
  const keyId = keyIdFor(name, type, raw);
  if (keyId.toString('hex') !== idHex)
    throw new ImagetrustError('KEY_INVALID', `${what} id does not match its key`);
  const publicKey = publicKeyFromRaw(raw);
  return {
    name,
    keyId,
    vkey: `${name}+${idHex}+${keyB64}`,
    verify: (message, signature) => ed25519Verify(publicKey, message, signature),
  };
}

/** Parses a note verifier key (type 0x01); every malformed part is a KEY_INVALID error. */
export function noteVerifier(vkey: string): NoteVerifier {
  return parseVkey(vkey, ALG_ED25519);
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw malformed('note text does not end with a newline');
  // Newline is the only control character a note may hold.
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(text)) throw malformed('note text holds control characters');
}

export function signNote(text: string, signers: NoteSigner[]): string {
  checkText(text);
  if (text.includes('\n\n')) throw malformed('note text holds a blank line');
  const message = Buffer.from(text, 'utf8');
  const lines = signers.map((s) => {
    const sig = Buffer.concat([s.keyId, s.sign(message)]).toString('base64');
    return `${SIG_PREFIX}${s.name} ${sig}\n`;
  });
  return `${text}\n${lines.join('')}`;
}

export interface OpenedNote {
  text: string;
  /** Names of the known keys whose signatures verified. */
  verifiedBy: string[];
}

/** Verifies a note with the given keys and only then returns its text. */
export function openNote(note: string, verifiers: NoteVerifier[]): OpenedNote {
  if (typeof note !== 'string') throw malformed('note is not text');
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) throw malformed('note is too large');
  if (note.includes('\uFFFD')) throw malformed('note is not valid UTF-8');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note has no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  checkText(text);
  if (!block.endsWith('\n')) throw malformed('note signature block does not end with a newline');
  const message = Buffer.from(text, 'utf8');
  const verifiedBy: string[] = [];
  for (const line of block.slice(0, -1).split('\n')) {
    if (!line.startsWith(SIG_PREFIX)) throw malformed('note signature line does not start with an em dash');
    const fields = line.slice(SIG_PREFIX.length).split(' ');
    if (fields.length !== 2) throw malformed('note signature line is not "name signature"');
    const [name, sigB64] = fields as [string, string];
    if (!isValidKeyName(name)) throw malformed('note signature has an invalid key name');
    if (!BASE64.test(sigB64) || sigB64.length % 4 !== 0) throw malformed('note signature is not base64');
    const sig = Buffer.from(sigB64, 'base64');
    if (sig.length < 5) throw malformed('note signature is too short');
    const keyId = sig.subarray(0, 4);
    const verifier = verifiers.find((v) => v.name === name && v.keyId.equals(keyId));
    if (!verifier) continue;
    // Unused low bits in the last base64 digit would give one signature several spellings.
    if (sig.toString('base64') !== sigB64)
      throw malformed(`note signature by ${name} is not canonical base64`);
    if (!verifier.verify(message, sig.subarray(4))) {
      throw new ImagetrustError('NOTE_UNVERIFIED', `note signature by ${name} does not verify`);
    }
    verifiedBy.push(name);
  }
  if (verifiedBy.length === 0) {
    throw new ImagetrustError('NOTE_UNVERIFIED', 'note is not signed by any trusted key');
  }
  return { text, verifiedBy };
}
