// C2SP tlog-cosignature v1.0.1 (https://c2sp.org/tlog-cosignature): a witness's timestamped
// Ed25519 signature on a checkpoint, carried as one more signature line of the checkpoint's
// signed note.
//
//   signed bytes:   "cosignature/v1\n" "time <unix seconds>\n" <checkpoint text, extension lines included>
//   signature line: — <witness name> base64(key id (4) ‖ u64be(time) ‖ Ed25519 signature (64))
//   key id:         SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[0:4]; vkey name+hexid+base64(0x04 ‖ key)
//
// Pure code: no I/O. A cosignature by a key the caller does not know is ignored; one by a
// known key that does not verify is an error (a forgery, not noise).

import type { KeyObject } from 'node:crypto';
import { ImagetrustError } from '../errors';
import { ed25519Sign, rawPublicKey } from './ed25519';
import { isValidKeyName, keyIdFor, parseVkey, vkeyOf } from './note';

export const ALG_COSIGNATURE = 0x04;
const SIG_PREFIX = '\u2014 ';
const COSIG_BYTES = 4 + 8 + 64;

export interface Cosigner {
  readonly name: string;
  readonly keyId: Buffer;
  readonly vkey: string;
  sign(checkpointText: string, time: number): string;
}

export interface CosignatureVerifier {
  readonly name: string;
  readonly keyId: Buffer;
  readonly vkey: string;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

function keyInvalid(message: string): ImagetrustError {
  return new ImagetrustError('KEY_INVALID', message);
}

export function cosignerKeyId(name: string, raw: Uint8Array): Buffer {
  return keyIdFor(name, ALG_COSIGNATURE, raw);
}

export function cosignerVkey(name: string, raw: Uint8Array): string {
  return vkeyOf(name, ALG_COSIGNATURE, raw);
}

/** The bytes a witness signs for `checkpointText` (the note text: body and extension lines). */
export function cosignedMessage(checkpointText: string, time: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${checkpointText}`, 'utf8');
}

export function cosigner(name: string, privateKey: KeyObject): Cosigner {
  if (!isValidKeyName(name)) throw keyInvalid(`invalid witness name ${JSON.stringify(name)}`);
  const raw = rawPublicKey(privateKey);
  const keyId = cosignerKeyId(name, raw);
  return {
    name,
    keyId,
    vkey: cosignerVkey(name, raw),
    sign(checkpointText, time) {
      if (!Number.isSafeInteger(time) || time < 0) throw keyInvalid('cosignature time must be unix seconds');
      const t = Buffer.alloc(8);
      t.writeBigUInt64BE(BigInt(time));
      const sig = ed25519Sign(privateKey, cosignedMessage(checkpointText, time));
      return `${SIG_PREFIX}${name} ${Buffer.concat([keyId, t, sig]).toString('base64')}\n`;
    },
  };
}

/** Parses a witness vkey (type 0x04); every malformed part is KEY_INVALID. */
export function cosignatureVerifier(vkey: string): CosignatureVerifier {
  return parseVkey(vkey, ALG_COSIGNATURE, 'witness key');
}

/** The note's text and its signature lines, unverified: what cosignature checking starts from. */
export function splitNote(note: string): { text: string; lines: string[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new ImagetrustError('NOTE_MALFORMED', 'note has no signature block');
  const block = note.slice(split + 2);
  return { text: note.slice(0, split + 1), lines: block.split('\n').filter((l) => l.length > 0) };
}

/** Whether a line has the shape of a cosignature line (a name and 76 bytes of base64). */
export function isCosignatureLine(line: string): boolean {
  if (!line.startsWith(SIG_PREFIX)) return false;
  const fields = line.slice(SIG_PREFIX.length).split(' ');
  if (fields.length !== 2 || !isValidKeyName(fields[0] as string)) return false;
  const sig = fields[1] as string;
  return (
    /^[A-Za-z0-9+/]+={0,2}$/.test(sig) &&
    sig.length % 4 === 0 &&
    Buffer.from(sig, 'base64').length === COSIG_BYTES
  );
}

/** Adds signature lines to a note, once each. */
export function withSignatures(note: string, lines: string[]): string {
  const { text, lines: existing } = splitNote(note);
  const all = [...existing];
  for (const l of lines.map((x) => x.replace(/\n$/, ''))) if (!all.includes(l)) all.push(l);
  return `${text}\n${all.map((l) => `${l}\n`).join('')}`;
}

/**
 * The verified cosignatures on a checkpoint note by the given witnesses: witness vkey → the
 * newest time it cosigned. Lines of other keys are ignored; a known key's bad signature throws.
 */
export function verifyCosignatures(note: string, witnesses: CosignatureVerifier[]): Map<string, number> {
  const { text, lines } = splitNote(note);
  const out = new Map<string, number>();
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) continue;
    const [name, sigB64, extra] = line.slice(SIG_PREFIX.length).split(' ');
    if (name === undefined || sigB64 === undefined || extra !== undefined) continue;
    // Only canonical base64 is a signature: unused low bits would give one cosignature several spellings.
    const decoded = Buffer.from(sigB64, 'base64');
    const sig = decoded.toString('base64') === sigB64 ? decoded : Buffer.alloc(0);
    if (sig.length < 4) continue;
    const witness = witnesses.find((w) => w.name === name && w.keyId.equals(sig.subarray(0, 4)));
    if (!witness) continue;
    if (sig.length !== COSIG_BYTES)
      throw new ImagetrustError('WITNESS_INVALID', `cosignature by ${name} is not ${COSIG_BYTES} bytes`);
    const time = Number(sig.readBigUInt64BE(4));
    if (!Number.isSafeInteger(time) || !witness.verify(cosignedMessage(text, time), sig.subarray(12))) {
      throw new ImagetrustError('WITNESS_INVALID', `cosignature by witness ${name} does not verify`);
    }
    out.set(witness.vkey, Math.max(out.get(witness.vkey) ?? 0, time));
  }
  return out;
}
