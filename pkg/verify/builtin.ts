// The built-in verifier: the ledger client (local file or `ledger serve` URL), proof-checked
// and checkpoint-tracked, with the agent's trust policy.

import { asImagetrustError } from '../errors';
import type { LedgerClient } from '../ledger/client';
import type { TrustPolicy } from '../ledger/policy';
import { unknown, type Verification, type Verifier, type VerifyTarget } from './verifier';

export class BuiltinVerifier implements Verifier {
  readonly kind = 'builtin' as const;

  constructor(
    private readonly client: LedgerClient,
    private readonly policy: TrustPolicy,
  ) {}

  /** Asks the ledger for its newest checkpoint; lookups until the next epoch use that one. */
  async epoch(): Promise<string> {
    const cp = await this.client.latest({ refresh: true });
    return `${cp.origin}/${cp.size}/${cp.rootHash.toString('base64')}`;
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
      return unknown(`${e.compromised ? 'ledger compromised: ' : ''}${e.message} [${e.code}]`);
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
