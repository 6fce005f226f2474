// Trust policy: which signers count and the vcn level each one carries, and how their
// statements about one digest combine into a verdict. Pure code: no I/O.
//
// Each allowed signer's newest statement, in the signer's own order (ordering.ts: its
// sequence numbers, never the log position), is that signer's word. Any-of, as vcn's repeated
// --signerID: the digest is trusted if at least one allowed signer's word is `trusted`;
// otherwise the most recently signed word decides; with no word from an allowed signer the
// digest is unknown.

import { ImagetrustError } from '../errors';
import { newestWord } from './ordering';
import { isSignerKeyId, type Statement } from './statement';

/** vcn's status codes (pkg/meta/constants.go). */
export const VCN_STATUS = { trusted: 0, untrusted: 1, unknown: 2, unsupported: 3 } as const;
export type TrustStatus = keyof typeof VCN_STATUS;

/** vcn's levels (pkg/meta/constants.go). */
export const VCN_LEVEL = {
  DISABLED: -1,
  UNKNOWN: 0,
  EMAIL_VERIFIED: 1,
  SOCIAL_VERIFIED: 2,
  ID_VERIFIED: 3,
  LOCATION_VERIFIED: 4,
  VCHAIN: 99,
} as const;

const VALID_LEVELS: ReadonlySet<number> = new Set(Object.values(VCN_LEVEL));

export interface AllowedSigner {
  keyId: string;
  name?: string;
  level: number;
}

export interface TrustPolicy {
  signers: AllowedSigner[];
  /** Pins the ledger's checkpoint key (C2SP vkey); otherwise the first one seen is kept. */
  ledgerKey?: string;
}

export interface VerifiedStatement {
  index: number;
  leafHash: Buffer;
  /** The statement id (SHA-256 of the signed bytes). */
  id: string;
  statement: Statement;
}

export interface Verdict {
  status: TrustStatus;
  statusCode: number;
  level: number;
  /** The statement that decided, absent when unknown. */
  decidedBy?: VerifiedStatement;
  signer?: AllowedSigner;
  /** Allowed signers that signed two different statements with the same sequence number. */
  equivocated?: string[];
}

/** Parses a policy document (already JSON-decoded), naming every bad field at once. */
export function parsePolicy(doc: unknown, source = 'policy'): TrustPolicy {
  const problems: string[] = [];
  const signers: AllowedSigner[] = [];
  let ledgerKey: string | undefined;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ImagetrustError('CONFIG_INVALID', `${source}: expected an object with "signers"`);
  }
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.signers) || d.signers.length === 0)
    problems.push('signers: expected a non-empty list');
  else {
    d.signers.forEach((s: unknown, i) => {
      const o = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
      if (typeof o.keyId !== 'string' || !isSignerKeyId(o.keyId))
        problems.push(`signers[${i}].keyId: expected 32 hex digits`);
      const level = o.level ?? VCN_LEVEL.UNKNOWN;
      if (typeof level !== 'number' || !VALID_LEVELS.has(level))
        problems.push(`signers[${i}].level: not a vcn level`);
      if (o.name !== undefined && typeof o.name !== 'string')
        problems.push(`signers[${i}].name: expected text`);
      // Not String()/Number(): a bad field is reported above, and {"toString": 1} would throw here.
      signers.push({
        keyId: typeof o.keyId === 'string' ? o.keyId : '',
        level: typeof level === 'number' ? level : VCN_LEVEL.UNKNOWN,
        ...(typeof o.name === 'string' ? { name: o.name } : {}),
      });
    });
  }
  if (d.ledgerKey !== undefined) {
    if (typeof d.ledgerKey !== 'string') problems.push('ledgerKey: expected a verifier key');
    else ledgerKey = d.ledgerKey;
  }
  for (const key of Object.keys(d))
    if (!['signers', 'ledgerKey'].includes(key)) problems.push(`${key}: unknown field`);
  if (problems.length > 0) throw new ImagetrustError('CONFIG_INVALID', `${source}: ${problems.join('; ')}`);
  return ledgerKey === undefined ? { signers } : { signers, ledgerKey };
}

export function policyForSigners(keyIds: string[], level: number = VCN_LEVEL.UNKNOWN): TrustPolicy {
  const bad = keyIds.filter((k) => !isSignerKeyId(k));
  if (bad.length > 0)
    throw new ImagetrustError('USAGE', `not a signer key id: ${bad.join(', ')} (expected 32 hex digits)`);
  return { signers: [...new Set(keyIds)].map((keyId) => ({ keyId, level })) };
}

export function decide(statements: VerifiedStatement[], policy: TrustPolicy): Verdict {
  const allowed = new Map(policy.signers.map((s) => [s.keyId, s]));
  const bySigner = new Map<string, VerifiedStatement[]>();
  for (const s of statements) {
    if (!allowed.has(s.statement.signer)) continue;
    const list = bySigner.get(s.statement.signer) ?? [];
    list.push(s);
    bySigner.set(s.statement.signer, list);
  }
  const words: VerifiedStatement[] = [];
  const equivocated: string[] = [];
  for (const [signer, list] of bySigner) {
    const found = newestWord(list);
    if (!found) continue;
    words.push(found.word);
    if (found.equivocated) equivocated.push(signer);
  }
  if (words.length === 0)
    return { status: 'unknown', statusCode: VCN_STATUS.unknown, level: VCN_LEVEL.UNKNOWN };
  const trusted = words.filter((w) => w.statement.status === 'trusted');
  const signedAt = (s: VerifiedStatement): number => Date.parse(s.statement.time);
  const pick = (
    candidates: VerifiedStatement[],
    prefer: (a: VerifiedStatement, b: VerifiedStatement) => number,
  ) => [...candidates].sort(prefer)[0] as VerifiedStatement;
  const decidedBy =
    trusted.length > 0
      ? pick(trusted, (a, b) => levelOf(b) - levelOf(a) || signedAt(b) - signedAt(a) || b.index - a.index)
      : pick(words, (a, b) => signedAt(b) - signedAt(a) || b.index - a.index);
  const signer = allowed.get(decidedBy.statement.signer) as AllowedSigner;
  const status = decidedBy.statement.status;
  return {
    status,
    statusCode: VCN_STATUS[status],
    level: signer.level,
    decidedBy,
    signer,
    ...(equivocated.length > 0 ? { equivocated } : {}),
  };

  function levelOf(s: VerifiedStatement): number {
    return allowed.get(s.statement.signer)?.level ?? VCN_LEVEL.UNKNOWN;
  }
}
