// Key files: a signer's Ed25519 key (PKCS#8 PEM, optionally passphrase-encrypted by
// node:crypto's PBES2) and the ledger's own checkpoint key. Files are written 0600 and never
// overwritten; they are read bounded (a key is a few hundred bytes: `--key /dev/zero` fails at
// once) and refused when group or others may read them.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ImagetrustError } from '../errors';
import { privateKeyFromPem, rawPublicKey } from './ed25519';
import { isSignerKeyId, signerKeyId } from './statement';
import { readBoundedFile } from '../net/files';

/** The largest key file read: an encrypted PKCS#8 PEM Ed25519 key is about 300 bytes. */
const MAX_KEY_FILE_BYTES = 16 * 1024;

export interface SignerKey {
  keyId: string;
  publicKey: Buffer;
  privateKey: KeyObject;
}

export function signerKeyFrom(privateKey: KeyObject): SignerKey {
  const publicKey = rawPublicKey(privateKey);
  return { keyId: signerKeyId(publicKey), publicKey, privateKey };
}

export function generateSignerKey(): SignerKey {
  return signerKeyFrom(generateKeyPairSync('ed25519').privateKey);
}

export function encodePrivateKey(key: KeyObject, passphrase?: string): string {
  if (passphrase === undefined || passphrase === '') {
    return key.export({ format: 'pem', type: 'pkcs8' }).toString();
  }
  return key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }).toString();
}

/** Writes a new key file with mode 0600; refuses to replace an existing file. */
export function writeKeyFile(path: string, key: KeyObject, passphrase?: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, encodePrivateKey(key, passphrase), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ImagetrustError('KEY_EXISTS', `${path} already exists; not replacing a key`, { cause: err });
    }
    throw new ImagetrustError('IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a key file; every failure is a typed KEY_* error that names the file. */
export function readKeyFile(path: string, passphrase?: string): KeyObject {
  const pem = readBoundedFile(path, {
    what: 'private key',
    maxBytes: MAX_KEY_FILE_BYTES,
    secret: true,
    code: 'KEY_INVALID',
    missingCode: 'KEY_NOT_FOUND',
    missingMessage: `no key at ${path} (create one with "imagetrust keygen")`,
  });
  const encrypted = pem.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && (passphrase === undefined || passphrase === '')) {
    throw new ImagetrustError(
      'KEY_BAD_PASSPHRASE',
      `${path} is encrypted: give its passphrase (IMAGETRUST_PASSPHRASE or --passphrase-file)`,
    );
  }
  try {
    return privateKeyFromPem(pem, encrypted ? passphrase : undefined);
  } catch (err) {
    if (err instanceof ImagetrustError) throw err;
    if (encrypted)
      throw new ImagetrustError('KEY_BAD_PASSPHRASE', `wrong passphrase for ${path}`, { cause: err });
    throw new ImagetrustError('KEY_INVALID', `${path} is not an Ed25519 private key`, { cause: err });
  }
}

export function readSignerKey(path: string, passphrase?: string): SignerKey {
  return signerKeyFrom(readKeyFile(path, passphrase));
}

// The public half of a signer key, beside it as `<key>.pub`: read without the passphrase.
export interface PublicKeyFile {
  keyId: string;
  publicKey: string;
}

export function writePublicKeyFile(path: string, key: SignerKey): void {
  const doc: PublicKeyFile = { keyId: key.keyId, publicKey: key.publicKey.toString('base64') };
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o644 });
}

export function readPublicKeyId(path: string): string {
  const text = readBoundedFile(path, {
    what: 'public key file',
    maxBytes: MAX_KEY_FILE_BYTES,
    code: 'KEY_INVALID',
    missingCode: 'KEY_NOT_FOUND',
    missingMessage: `no signer given and no local key (${path}): use --signer KEYID, --policy FILE or "imagetrust keygen"`,
  }).toString('utf8');
  let doc: Partial<PublicKeyFile>;
  try {
    doc = JSON.parse(text) as Partial<PublicKeyFile>;
  } catch (err) {
    throw new ImagetrustError('KEY_INVALID', `${path} is not a public key file`, { cause: err });
  }
  if (typeof doc.keyId !== 'string' || !isSignerKeyId(doc.keyId))
    throw new ImagetrustError('KEY_INVALID', `${path} holds no key id`);
  return doc.keyId;
}
