// Raw Ed25519 keys on top of node:crypto: conversions between the 32-byte public key that
// notes and statements carry and the KeyObjects node:crypto signs and verifies with.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ImagetrustError } from '../errors';

// DER SubjectPublicKeyInfo header for an Ed25519 key (RFC 8410 §4), followed by the 32 key bytes.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const ED25519_PUBLIC_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;

// Importing a key costs about as much as verifying a signature; signers are few, so their
// KeyObjects are kept (bounded, keyed by the raw key bytes).
const imported = new Map<string, KeyObject>();
const MAX_IMPORTED = 4096;

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== ED25519_PUBLIC_KEY_SIZE) {
    throw new ImagetrustError('KEY_INVALID', `an Ed25519 public key has 32 bytes, not ${raw.length}`);
  }
  const id = Buffer.from(raw).toString('base64');
  let key = imported.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    if (imported.size >= MAX_IMPORTED) imported.clear();
    imported.set(id, key);
  }
  return key;
}

export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') {
    throw new ImagetrustError('KEY_INVALID', `expected an Ed25519 key, got ${pub.asymmetricKeyType}`);
  }
  const der = pub.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - ED25519_PUBLIC_KEY_SIZE));
}

export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Buffer {
  return sign(null, message, privateKey);
}

/** False for a wrong signature or a signature of the wrong length; never throws on attacker input. */
export function ed25519Verify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_SIZE) return false;
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}

/** ed25519Verify on the thread pool (node:crypto's callback form). */
export function ed25519VerifyAsync(
  publicKey: KeyObject,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (signature.length !== ED25519_SIGNATURE_SIZE) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      verify(null, message, publicKey, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

export function privateKeyFromPem(pem: string | Buffer, passphrase?: string): KeyObject {
  const key = createPrivateKey(
    passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase },
  );
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ImagetrustError('KEY_INVALID', `expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  }
  return key;
}
