// Notarization statements: what a signer says about one image digest, signed with the
// signer's Ed25519 key in a DSSE envelope (https://github.com/secure-systems-lab/dsse).
//
// Written as an in-toto Statement v1 (payloadType application/vnd.in-toto+json) whose subject
// is the image digest and whose predicate (imagetrust's own type, PREDICATE_TYPE) carries the
// status, name, signer, time, metadata, evidence attributes and the signer's own ordering: a
// per-(signer, digest) `sequence` and the id of the statement it `supersedes`. Statements
// written by imagetrust 0.1 (payloadType application/vnd.imagetrust.statement.v1+json) are
// still read; they carry no sequence (0 here) and are ordered by their signed time.
//
// The ledger stores the envelope bytes exactly as the signer produced them; those bytes are
// the Merkle leaf. A statement's *id* is SHA-256 of the bytes its signature covers (the DSSE
// pre-authentication encoding), so a replay is recognised whatever JSON or base64 it is
// re-wrapped in. Pure code: no I/O.

import type { KeyObject } from 'node:crypto';
import { ImagetrustError } from '../errors';
import { ed25519Sign, ed25519Verify, ed25519VerifyAsync, publicKeyFromRaw, rawPublicKey } from './ed25519';
import { sha256 } from './merkle';

export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const PAYLOAD_TYPE_V1 = 'application/vnd.imagetrust.statement.v1+json';
export const IN_TOTO_STATEMENT = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://imagetrust.dev/notarization/v2';
export const MAX_ENVELOPE_BYTES = 64 * 1024;
export const MAX_ATTRIBUTES = 64;

export const STATEMENT_STATUSES = ['trusted', 'untrusted', 'unsupported'] as const;
export type StatementStatus = (typeof STATEMENT_STATUSES)[number];

/** `sha256:` followed by 64 lower-case hex digits. */
export type ImageDigest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const KEY_ID_RE = /^[0-9a-f]{32}$/;
const ATTRIBUTE_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const TIME_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

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

/** What a signer says; `format` 1 is imagetrust 0.1's statement, 2 the in-toto one. */
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
  /** Evidence: CI job, commit, pipeline URL … (`ci.job` → `4242`). */
  attributes: Record<string, string>;
  /** The signer's own order of its words about this digest: 1, 2, 3 …; 0 for format 1. */
  sequence: number;
  /** The id of the statement this one replaces (required from sequence 2 on). */
  supersedes?: string;
  format: 1 | 2;
}

/** What a caller fills in to sign a statement; the format is always 2. */
export type StatementInput = Omit<Statement, 'format' | 'attributes' | 'kind'> & {
  kind?: 'docker';
  attributes?: Record<string, string>;
};

/** A statement together with the exact bytes that were logged and its id. */
export interface SignedStatement {
  statement: Statement;
  envelope: Buffer;
  /** SHA-256 of the signed bytes (hex with `sha256:`): the same for every re-encoding. */
  id: string;
}

/** A signer's key id: the first 16 bytes of SHA-256 of the raw public key, in hex. */
export function signerKeyId(rawPublic: Uint8Array): string {
  return sha256(rawPublic).subarray(0, 16).toString('hex');
}

export function isSignerKeyId(value: string): boolean {
  return KEY_ID_RE.test(value);
}

export function isStatementId(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** DSSE pre-authentication encoding. */
function pae(payloadType: string, payload: Buffer): Buffer {
  const head = `DSSEv1 ${Buffer.byteLength(payloadType, 'utf8')} ${payloadType} ${payload.length} `;
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + payload.length);
  out.write(head, 0, 'utf8');
  payload.copy(out, headLength);
  return out;
}

function statementId(signedBytes: Buffer): string {
  return `sha256:${sha256(signedBytes).toString('hex')}`;
}

function invalid(message: string): ImagetrustError {
  return new ImagetrustError('STATEMENT_INVALID', message);
}

function inTotoPayload(s: Statement): Record<string, unknown> {
  return {
    _type: IN_TOTO_STATEMENT,
    subject: [{ name: s.name, digest: { sha256: s.digest.slice('sha256:'.length) } }],
    predicateType: PREDICATE_TYPE,
    predicate: {
      status: s.status,
      name: s.name,
      signer: s.signer,
      time: s.time,
      sequence: s.sequence,
      ...(s.supersedes ? { supersedes: s.supersedes } : {}),
      metadata: s.metadata,
      attributes: s.attributes,
    },
  };
}

export function signStatement(input: StatementInput, privateKey: KeyObject): SignedStatement {
  const raw = rawPublicKey(privateKey);
  const keyid = signerKeyId(raw);
  const statement: Statement = { ...input, kind: 'docker', attributes: input.attributes ?? {}, format: 2 };
  if (statement.signer !== keyid) throw invalid('statement names another signer than the key that signs it');
  validateStatement(statement);
  const payload = Buffer.from(JSON.stringify(inTotoPayload(statement)), 'utf8');
  const signed = pae(PAYLOAD_TYPE, payload);
  const sig = ed25519Sign(privateKey, signed);
  const envelope = {
    payloadType: PAYLOAD_TYPE,
    payload: payload.toString('base64'),
    signatures: [{ keyid, publicKey: raw.toString('base64'), sig: sig.toString('base64') }],
  };
  const bytes = Buffer.from(JSON.stringify(envelope), 'utf8');
  if (bytes.length > MAX_ENVELOPE_BYTES) throw invalid('statement is larger than 64 KiB');
  return { statement, envelope: bytes, id: statementId(signed) };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringMap(v: unknown): v is Record<string, string> {
  return isPlainObject(v) && Object.values(v).every((x) => typeof x === 'string');
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

function validateMetadata(meta: unknown): void {
  if (!isPlainObject(meta)) throw invalid('statement metadata is not an object');
  for (const k of ['architecture', 'os', 'platform']) optionalString(meta, k);
  for (const k of ['repoTags', 'repoDigests']) optionalStringArray(meta, k);
  if (
    meta.size !== undefined &&
    !(typeof meta.size === 'number' && Number.isSafeInteger(meta.size) && meta.size >= 0)
  ) {
    throw invalid('metadata.size is not a byte count');
  }
  if (meta.labels !== undefined && !isStringMap(meta.labels))
    throw invalid('metadata.labels is not a map of strings');
}

/** Checks an evidence attribute map; the CLI uses it for `--attr`. */
export function validateAttributes(attributes: unknown): asserts attributes is Record<string, string> {
  if (!isStringMap(attributes)) throw invalid('statement attributes are not a map of strings');
  const keys = Object.keys(attributes);
  if (keys.length > MAX_ATTRIBUTES) throw invalid(`a statement carries at most ${MAX_ATTRIBUTES} attributes`);
  for (const k of keys) {
    if (!ATTRIBUTE_KEY_RE.test(k))
      throw invalid(`attribute name ${JSON.stringify(k.slice(0, 140))} is invalid`);
    if ((attributes[k] as string).length > 4096)
      throw invalid(`attribute ${k} is longer than 4096 characters`);
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
  if (typeof s.time !== 'string' || !TIME_RE.test(s.time) || Number.isNaN(Date.parse(s.time))) {
    throw invalid('statement time is not an RFC 3339 UTC time');
  }
  validateMetadata(s.metadata);
  validateAttributes(s.attributes);
  if (s.format === 1) {
    if (s.sequence !== 0 || s.supersedes !== undefined) throw invalid('a format 1 statement has no sequence');
    return;
  }
  if (s.format !== 2) throw invalid('statement format is unknown');
  if (typeof s.sequence !== 'number' || !Number.isSafeInteger(s.sequence) || s.sequence < 1)
    throw invalid('statement sequence is not a positive integer');
  if (s.supersedes !== undefined && !isStatementId(s.supersedes))
    throw invalid('statement supersedes is not a statement id (sha256:<64 hex>)');
  if (s.sequence > 1 && s.supersedes === undefined)
    throw invalid('a statement after the first must name the statement it supersedes');
}

interface ParsedEnvelope {
  signer: SignerKey;
  payloadType: string;
  payload: Buffer;
  sig: Buffer;
}

/** A public key as envelopes carry it (base64), with its key id; imported when first verified with. */
interface SignerKey {
  raw: Buffer;
  keyid: string;
  key?: KeyObject;
}

// Signers are few and sign many statements: what each one's base64 public key decodes and
// hashes to is kept (bounded), keyed by the exact text, so that a statement costs no key work.
const signerKeys = new Map<string, SignerKey>();
const MAX_SIGNER_KEYS = 4096;

function signerKeyOf(publicKey: string): SignerKey {
  let known = signerKeys.get(publicKey);
  if (!known) {
    const decoded = decodeBase64(publicKey, 'statement public key');
    if (decoded.length !== 32) throw invalid('statement public key is not an Ed25519 key');
    // Its own copy: the decoded bytes may be a view of a larger pooled buffer.
    const raw = Buffer.alloc(32);
    decoded.copy(raw);
    known = { raw, keyid: signerKeyId(raw) };
    if (signerKeys.size >= MAX_SIGNER_KEYS) signerKeys.clear();
    signerKeys.set(publicKey, known);
  }
  return known;
}

function publicKeyOf(signer: SignerKey): KeyObject {
  signer.key ??= publicKeyFromRaw(signer.raw);
  return signer.key;
}

/**
 * Base64 in the standard or URL-safe alphabet (DSSE allows both), padding optional. A
 * statement's identity is the decoded bytes its signature covers, so other encodings of the
 * same bytes are the same statement, not a way around the replay checks.
 */
function decodeBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  // Canonical standard base64 (what signStatement writes) is recognised by encoding it back,
  // several times faster than the pattern, which still decides for any other text.
  if (bytes.toString('base64') !== text && !BASE64.test(text)) throw invalid(`${what} is not base64`);
  return bytes;
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
  if (env.payloadType !== PAYLOAD_TYPE && env.payloadType !== PAYLOAD_TYPE_V1)
    throw invalid('statement envelope has an unknown payload type');
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
  const signer = signerKeyOf(sigEntry.publicKey);
  if (signer.keyid !== sigEntry.keyid) throw invalid('statement key id does not match its public key');
  return {
    signer,
    payloadType: env.payloadType,
    payload: decodeBase64(env.payload, 'statement payload'),
    sig: decodeBase64(sigEntry.sig, 'statement signature'),
  };
}

function parseV1(doc: Record<string, unknown>): Statement {
  const statement = { ...doc, attributes: {}, sequence: 0, format: 1 };
  validateStatement(statement);
  return statement;
}

function parseV2(doc: Record<string, unknown>): Statement {
  if (doc._type !== IN_TOTO_STATEMENT) throw invalid('statement is not an in-toto Statement v1');
  if (doc.predicateType !== PREDICATE_TYPE)
    throw invalid('statement predicate type is not imagetrust notarization');
  const subject = doc.subject;
  if (!Array.isArray(subject) || subject.length !== 1 || !isPlainObject(subject[0]))
    throw invalid('statement must have exactly one subject');
  const digest = subject[0].digest;
  if (!isPlainObject(digest) || typeof digest.sha256 !== 'string' || Object.keys(digest).length !== 1)
    throw invalid('statement subject digest must be exactly one sha256');
  if (typeof subject[0].name !== 'string') throw invalid('statement subject has no name');
  const p = doc.predicate;
  if (!isPlainObject(p)) throw invalid('statement predicate is not an object');
  const statement = {
    kind: 'docker',
    digest: `sha256:${digest.sha256}`,
    name: p.name,
    status: p.status,
    signer: p.signer,
    time: p.time,
    metadata: p.metadata,
    attributes: p.attributes,
    sequence: p.sequence,
    ...(p.supersedes !== undefined ? { supersedes: p.supersedes } : {}),
    format: 2,
  };
  validateStatement(statement);
  return statement;
}

function parsePayload(parsed: ParsedEnvelope, envelopeBytes: Uint8Array, signed: Buffer): SignedStatement {
  let doc: unknown;
  try {
    doc = JSON.parse(parsed.payload.toString('utf8'));
  } catch (err) {
    throw new ImagetrustError('STATEMENT_INVALID', 'statement payload is not JSON', { cause: err });
  }
  if (!isPlainObject(doc)) throw invalid('statement payload is not an object');
  const statement = parsed.payloadType === PAYLOAD_TYPE ? parseV2(doc) : parseV1(doc);
  if (statement.signer !== parsed.signer.keyid)
    throw invalid('statement names another signer than the key that signed it');
  return { statement, envelope: Buffer.from(envelopeBytes), id: statementId(signed) };
}

/**
 * Parses logged bytes into a statement whose signature verified with the key the envelope
 * carries, and whose signer field is that key's id. Anything else is STATEMENT_INVALID.
 * Whether that signer is *allowed* is policy, decided elsewhere.
 */
export function openStatement(envelopeBytes: Uint8Array): SignedStatement {
  const parsed = parseEnvelope(envelopeBytes);
  const signed = pae(parsed.payloadType, parsed.payload);
  if (!ed25519Verify(publicKeyOf(parsed.signer), signed, parsed.sig)) {
    throw invalid('statement signature does not verify');
  }
  return parsePayload(parsed, envelopeBytes, signed);
}

/** A statement whose signature is being checked on libuv's thread pool. */
export interface PendingStatement {
  /** Reads the payload while the check runs; resolves once the signature verified. */
  opened(): Promise<SignedStatement>;
}

/**
 * Starts openStatement with the signature checked on the thread pool: the envelope is read and
 * the check handed off at once (throwing STATEMENT_INVALID for a bad envelope), so that a batch
 * started together keeps every core busy. Nothing is returned before the signature verified; a
 * bad signature is reported before anything wrong in the payload.
 */
export function beginOpenStatement(envelopeBytes: Uint8Array): PendingStatement {
  const parsed = parseEnvelope(envelopeBytes);
  const signed = pae(parsed.payloadType, parsed.payload);
  const verified = ed25519VerifyAsync(publicKeyOf(parsed.signer), signed, parsed.sig);
  return {
    async opened() {
      let statement: SignedStatement | undefined;
      let error: unknown;
      try {
        statement = parsePayload(parsed, envelopeBytes, signed);
      } catch (err) {
        error = err;
      }
      if (!(await verified)) throw invalid('statement signature does not verify');
      if (statement === undefined) throw error;
      return statement;
    },
  };
}

/** openStatement with the signature checked on libuv's thread pool, so a batch uses every core. */
export async function openStatementAsync(envelopeBytes: Uint8Array): Promise<SignedStatement> {
  return beginOpenStatement(envelopeBytes).opened();
}
