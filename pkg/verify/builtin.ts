// The built-in verifier: the ledger client (local file or `ledger serve` URL), proof-checked
// and checkpoint-tracked, with the agent's trust policy.

import { asImagetrustError } from '../errors';
import type { LedgerClient } from '../ledger/client';
import type { TrustPolicy } from '../ledger/policy';
import type { ImageDigest } from '../ledger/statement';
import { unknown, type Epoch, type Verification, type Verifier, type VerifyTarget } from './verifier';

export interface LedgerStatements {
  digest: string;
  treeSize: number;
  origin: string;
  statements: {
    index: number;
    sequence: number;
    status: string;
    signer: string;
    time: string;
    name: string;
    allowed: boolean;
    /** Evidence signed into the statement (CI job, commit, pipeline …). */
    attributes: Record<string, string>;
  }[];
}

export class BuiltinVerifier implements Verifier {
  readonly kind = 'builtin' as const;

  constructor(
    private readonly client: LedgerClient,
    private readonly policy: TrustPolicy,
  ) {}

  /** Asks the ledger for its newest checkpoint; lookups until the next epoch use that one. */
  async epoch(): Promise<Epoch> {
    const cp = await this.client.latest({ refresh: true });
    return {
      key: `${cp.origin} ${cp.size} ${cp.rootHash.toString('base64')}`,
      treeSize: cp.size,
      note: cp.note,
    };
  }

  /** Gossip: is a peer's newest checkpoint of the same history as ours? */
  crossCheck(note: string): Promise<unknown> {
    return this.client.crossCheck(note);
  }

  async verify(target: VerifyTarget): Promise<Verification> {
    try {
      const { verdict, checkpoint } = await this.client.verify(target.digest, this.policy);
      const d = verdict.decidedBy;
      if (!d)
        return {
          ...unknown('never notarized by an allowed signer', false),
          proof: { index: -1, treeSize: checkpoint.size },
        };
      return {
        status: verdict.status,
        statusCode: verdict.statusCode,
        level: verdict.level,
        signer: d.statement.signer,
        ...(verdict.signer?.name ? { signerName: verdict.signer.name } : {}),
        signedAt: d.statement.time,
        proof: { index: d.index, treeSize: checkpoint.size },
      };
    } catch (err) {
      const e = asImagetrustError(err);
      return {
        ...unknown(`${e.compromised ? 'ledger compromised: ' : ''}${e.message} [${e.code}]`),
        ...(e.compromised ? { compromised: true } : {}),
      };
    }
  }

  /** Every statement of the allowed signers about a digest, proven complete against the latest checkpoint. */
  async statements(digest: ImageDigest): Promise<LedgerStatements> {
    const found = await this.client.lookup(
      digest,
      this.policy.signers.map((s) => s.keyId),
    );
    const allowed = new Set(this.policy.signers.map((s) => s.keyId));
    return {
      digest,
      treeSize: found.checkpoint.size,
      origin: found.checkpoint.origin,
      statements: found.statements.map((s) => ({
        index: s.index,
        sequence: s.statement.sequence,
        status: s.statement.status,
        signer: s.statement.signer,
        time: s.statement.time,
        name: s.statement.name,
        allowed: allowed.has(s.statement.signer),
        attributes: s.statement.attributes,
      })),
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
