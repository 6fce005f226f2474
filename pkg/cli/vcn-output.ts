// vcn-compatible verification output (`-o json`), from a verified answer.
//
// The root carries the artifact fields as vcn v0.7+ printed them (kind, name, hash, size,
// contentType, metadata, signer, … and `verification: {level, owner, status, timestamp}`);
// `artifact` repeats them with `publisher` for scripts written against vcn before v0.7
// (vcn-watchdog reads `.artifact.publisher`); `imagetrust` holds the proof. Pure code.

import { encodeIndexProof } from '../ledger/wire';
import type { ImageInfo } from '../docker/resolve';
import type { VerifiedAnswer } from '../ledger/client';
import type { ImageDigest } from '../ledger/statement';

export interface VcnInput {
  name: string;
  digest: ImageDigest;
  image?: ImageInfo;
  tag?: string;
  answer: VerifiedAnswer;
  ledger: { location: string; origin: string; key?: string };
}

/** RFC 3339 in UTC without fractions, as vcn's Go `time.RFC3339` printed it. */
function rfc3339(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function vcnResult(input: VcnInput): Record<string, unknown> {
  const { answer, image } = input;
  const { verdict } = answer;
  const decided = verdict.decidedBy;
  const hash = input.digest.slice('sha256:'.length);
  const signerLabel = decided ? (verdict.signer?.name ?? decided.statement.signer) : '';
  const metadata: Record<string, unknown> = {};
  const arch = image?.architecture ?? decided?.statement.metadata.architecture;
  const os = image?.os ?? decided?.statement.metadata.os;
  if (arch) metadata.architecture = arch;
  if (os) metadata.platform = os;
  if (input.tag && input.tag !== 'latest') metadata.version = input.tag;
  if (image) metadata.docker = image.inspect;
  const size = image?.size ?? decided?.statement.metadata.size ?? 0;
  const signers = new Set(answer.statements.map((s) => s.statement.signer));
  const artifact = {
    kind: 'docker',
    name: input.name,
    hash,
    size,
    contentType: '',
    url: '',
    metadata,
    visibility: 'PRIVATE',
    createdAt: decided ? rfc3339(decided.statement.time) : '',
    verificationCount: 0,
    signerCount: signers.size,
    signer: signerLabel,
    company: '',
    website: '',
  };
  const proof = decided
    ? {
        leafIndex: decided.index,
        treeSize: answer.checkpoint.size,
        leafHash: decided.leafHash.toString('base64'),
        inclusionPath: (answer.proofs.get(decided.index) ?? []).map((h) => h.toString('base64')),
        checkpoint: answer.checkpoint.note,
      }
    : null;
  // The index proofs that make the answer complete: one per allowed signer (absence included).
  const indexProofs = Object.fromEntries(
    [...answer.indexProofs].map(([signer, p]) => [signer, encodeIndexProof(p)]),
  );
  return {
    ...artifact,
    verification: {
      level: verdict.level,
      owner: decided ? decided.statement.signer : '',
      status: verdict.statusCode,
      timestamp: decided ? rfc3339(decided.statement.time) : '',
    },
    artifact: { ...artifact, publisher: signerLabel, status: verdict.statusCode, level: verdict.level },
    imagetrust: {
      digest: input.digest,
      status: verdict.status,
      ledger: { location: input.ledger.location, origin: input.ledger.origin, key: input.ledger.key ?? '' },
      checkpoint: answer.checkpoint.note,
      latestCheckpoint: answer.latest.note,
      proof,
      indexProofs,
      statement: decided ? { index: decided.index, id: decided.id, ...decided.statement } : null,
      // The deciding statement's evidence (CI job, commit, pipeline), as signed.
      attributes: decided ? decided.statement.attributes : {},
      ...(verdict.equivocated ? { equivocated: verdict.equivocated } : {}),
    },
  };
}
