// Notarization statements: what a signer says about one image digest, signed with the
// signer's Ed25519 key in a DSSE envelope (https://github.com/secure-systems-lab/dsse).
//
// The ledger stores the envelope bytes exactly as the signer produced them; those bytes are
// the Merkle leaf, so no canonical JSON is needed: the signature covers the payload bytes.
// Pure code: no I/O.

import type { KeyObject } from 'node:crypto';
import { ImagetrustError } from '../errors';
import { ed25519Sign, ed25519Verify, ed25519VerifyAsync, publicKeyFromRaw, rawPublicKey } from './ed25519';
import { sha256 } from './merkle';

export const PAYLOAD_TYPE = 'application/vnd.imagetrust.statement.v1+json';
export const MAX_ENVELOPE_BYTES = 64 * 1024;

export const STATEMENT_STATUSES = ['trusted', 'untrusted', 'unsupported'] as const;
export type StatementStatus = (typeof STATEMENT_STATUSES)[number];

/** `sha256:` followed by 64 lower-case hex digits. */
export type ImageDigest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const KEY_ID_RE = /^[0-9a-f]{32}$/;

export function isImageDigest(value: unknown): value is ImageDigest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

export function parseImageDigest(value: string): ImageDigest {
  const v = value.trim();
  const withAlg = /^[0-9a-f]{64}$/.test(v) ? `sha256:${v}` : v;
  if (!isImageDigest(withAlg)) {
    throw new ImagetrustError('BAD_DIGEST', `not a sha256 digest: ${JSON.stringify(value.slice(0, 100))}`);
  }
  return withAlg;
}

export interface StatementMetadata {
  architecture?: string;
  os?: string;
  platform?: string;
  size?: number;
  repoTags?: string[];
  repoDigests?: string[];
  labels?: Record<string, string>;
}

export interface Statement {
  kind: 'docker';
  digest: ImageDigest;
  /** The reference the image was signed under, e.g. `docker://parity/parity:ztc`. */
  name: string;
  status: StatementStatus;
  /** Key id of the signer (see signerKeyId). */
  signer: string;
  /** When the signer signed, RFC 3339 UTC. */
  time: string;
  metadata: StatementMetadata;
}

export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; publicKey: string; sig: string }[];
}

/** A statement together with the exact bytes that were logged. */
export interface SignedStatement {
  statement: Statement;
  envelope: Buffer;
}

/** A signer's key id: the first 16 bytes of SHA-256 of the raw public key, in hex. */
export function signerKeyId(rawPublic: Uint8Array): string {
  return sha256(rawPublic).subarray(0, 16).toString('hex');
}

export function isSignerKeyId(value: string): boolean {
  return KEY_ID_RE.test(value);
}

/** DSSE pre-authentication encoding. */
function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

function invalid(message: string): ImagetrustError {
  return new ImagetrustError('STATEMENT_INVALID', message);
}

export function signStatement(statement: Statement, privateKey: KeyObject): SignedStatement {
  const raw = rawPublicKey(privateKey);
  const keyid = signerKeyId(raw);
  if (statement.signer !== keyid) throw invalid('statement names another signer than the key that signs it');
  validateStatement(statement);
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const sig = ed25519Sign(privateKey, pae(PAYLOAD_TYPE, payload));
  const envelope: Envelope = {
    payloadType: PAYLOAD_TYPE,
    payload: payload.toString('base64'),
    signatures: [{ keyid, publicKey: raw.toString('base64'), sig: sig.toString('base64') }],
  };
  const bytes = Buffer.from(JSON.stringify(envelope), 'utf8');
  if (bytes.length > MAX_ENVELOPE_BYTES) throw invalid('statement is larger than 64 KiB');
  return { statement, envelope: bytes };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(meta: Record<string, unknown>, key: string): void {
  if (meta[key] !== undefined && typeof meta[key] !== 'string')
    throw invalid(`metadata.${key} is not a string`);
}

function optionalStringArray(meta: Record<string, unknown>, key: string): void {
  const v = meta[key];
  if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) {
    throw invalid(`metadata.${key} is not a list of strings`);
  }
}

/** Checks every field; throws STATEMENT_INVALID naming the first bad one. */
export function validateStatement(s: unknown): asserts s is Statement {
  if (!isPlainObject(s)) throw invalid('statement is not an object');
  if (s.kind !== 'docker') throw invalid('statement kind is not "docker"');
  if (!isImageDigest(s.digest)) throw invalid('statement digest is not sha256:<64 hex>');
  if (typeof s.name !== 'string' || s.name.length === 0 || s.name.length > 1024)
    throw invalid('statement name is invalid');
  if (!STATEMENT_STATUSES.includes(s.status as StatementStatus)) throw invalid('statement status is invalid');
  if (typeof s.signer !== 'string' || !isSignerKeyId(s.signer))
    throw invalid('statement signer is not a key id');
  if (
    typeof s.time !== 'string' ||
    !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s.time) ||
    Number.isNaN(Date.parse(s.time))
  ) {
    throw invalid('statement time is not an RFC 3339 UTC time');
  }
  if (!isPlainObject(s.metadata)) throw invalid('statement metadata is not an object');
  const meta = s.metadata;
  for (const k of ['architecture', 'os', 'platform']) optionalString(meta, k);
  for (const k of ['repoTags', 'repoDigests']) optionalStringArray(meta, k);
  if (
    meta.size !== undefined &&
    !(typeof meta.size === 'number' && Number.isSafeInteger(meta.size) && meta.size >= 0)
  ) {
    throw invalid('metadata.size is not a byte count');
  }
  if (
    meta.labels !== undefined &&
    !(isPlainObject(meta.labels) && Object.values(meta.labels).every((v) => typeof v === 'string'))
  ) {
    throw invalid('metadata.labels is not a map of strings');
  }
}

interface ParsedEnvelope {
  raw: Buffer;
  keyid: string;
  payload: Buffer;
  sig: Buffer;
}

function parseEnvelope(envelopeBytes: Uint8Array): ParsedEnvelope {
  if (envelopeBytes.length > MAX_ENVELOPE_BYTES) throw invalid('statement is larger than 64 KiB');
  let env: unknown;
  try {
    env = JSON.parse(Buffer.from(envelopeBytes).toString('utf8'));
  } catch (err) {
    throw new ImagetrustError('STATEMENT_INVALID', 'statement envelope is not JSON', { cause: err });
  }
  if (!isPlainObject(env)) throw invalid('statement envelope is not an object');
  if (env.payloadType !== PAYLOAD_TYPE) throw invalid('statement envelope has an unknown payload type');
  if (typeof env.payload !== 'string' || !Array.isArray(env.signatures) || env.signatures.length !== 1) {
    throw invalid('statement envelope must carry a payload and exactly one signature');
  }
  const sigEntry: unknown = env.signatures[0];
  if (
    !isPlainObject(sigEntry) ||
    typeof sigEntry.keyid !== 'string' ||
    typeof sigEntry.publicKey !== 'string' ||
    typeof sigEntry.sig !== 'string'
  ) {
    throw invalid('statement signature is malformed');
  }
  const raw = Buffer.from(sigEntry.publicKey, 'base64');
  if (raw.length !== 32) throw invalid('statement public key is not an Ed25519 key');
  if (signerKeyId(raw) !== sigEntry.keyid) throw invalid('statement key id does not match its public key');
  const payload = Buffer.from(env.payload, 'base64');
  if (payload.toString('base64') !== env.payload) throw invalid('statement payload is not canonical base64');
  return { raw, keyid: sigEntry.keyid, payload, sig: Buffer.from(sigEntry.sig, 'base64') };
}

function parsePayload(parsed: ParsedEnvelope, envelopeBytes: Uint8Array): SignedStatement {
  let statement: unknown;
  try {
    statement = JSON.parse(parsed.payload.toString('utf8'));
  } catch (err) {
    throw new ImagetrustError('STATEMENT_INVALID', 'statement payload is not JSON', { cause: err });
  }
  validateStatement(statement);
  if (statement.signer !== parsed.keyid)
    throw invalid('statement names another signer than the key that signed it');
  return { statement, envelope: Buffer.from(envelopeBytes) };
}

/**
 * Parses logged bytes into a statement whose signature verified with the key the envelope
 * carries, and whose signer field is that key's id. Anything else is STATEMENT_INVALID.
 * Whether that signer is *allowed* is policy, decided elsewhere.
 */
export function openStatement(envelopeBytes: Uint8Array): SignedStatement {
  const parsed = parseEnvelope(envelopeBytes);
  if (!ed25519Verify(publicKeyFromRaw(parsed.raw), pae(PAYLOAD_TYPE, parsed.payload), parsed.sig)) {
    throw invalid('statement signature does not verify');
  }
  return parsePayload(parsed, envelopeBytes);
}

/** openStatement with the signature checked on libuv's thread pool, so a batch uses every core. */
export async function openStatementAsync(envelopeBytes: Uint8Array): Promise<SignedStatement> {
  const parsed = parseEnvelope(envelopeBytes);
  const ok = await ed25519VerifyAsync(
    publicKeyFromRaw(parsed.raw),
    pae(PAYLOAD_TYPE, parsed.payload),
    parsed.sig,
  );
  if (!ok) throw invalid('statement signature does not verify');
  return parsePayload(parsed, envelopeBytes);
}
