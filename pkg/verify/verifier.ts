// The verifier boundary: given the digest a container runs, say what the trust material says.
// Two implementations: the built-in ledger client (builtin.ts) and any vcn-compatible command
// (command.ts). A verifier never throws for an answer it cannot give: it returns `unknown`
// with the reason, so a broken ledger or command can never read as trusted.

import type { TrustStatus } from '../ledger/policy';
import type { ImageDigest } from '../ledger/statement';

export type ContainerStatus = TrustStatus;

export interface VerifyTarget {
  digest: ImageDigest;
  /** The reference the container was started with, if it parsed as one. */
  ref?: string;
}

export interface Verification {
  status: ContainerStatus;
  /** vcn's status code: 0 trusted, 1 untrusted, 2 unknown, 3 unsupported. */
  statusCode: number;
  level: number;
  signer?: string;
  signerName?: string;
  signedAt?: string;
  /** Why the status is what it is, when that is not obvious (always set for unknown). */
  reason?: string;
  /** Ledger entry index and tree size that proved it, for the builtin verifier. */
  proof?: { index: number; treeSize: number };
  /** An unknown caused by a failure (unreachable, garbage, timeout): never cached. */
  transient?: boolean;
  /** The trust material answered but could not be believed (a failed proof, a tampered ledger). */
  compromised?: boolean;
}

/** What cached results depend on: a cache key, and for a ledger the proven tree size. */
export interface Epoch {
  key: string;
  treeSize?: number;
  /** The ledger's signed checkpoint (what agents gossip). */
  note?: string;
}

export interface Verifier {
  readonly kind: 'builtin' | 'command';
  /**
   * What cached results depend on: the ledger's proven checkpoint for the builtin verifier.
   * Throws when the trust material cannot be reached or believed.
   */
  epoch(): Promise<Epoch>;
  verify(target: VerifyTarget): Promise<Verification>;
  close(): Promise<void>;
}

/** An unknown verdict; `transient` unless the trust material positively knows nothing of the image. */
export function unknown(reason: string, transient = true): Verification {
  return { status: 'unknown', statusCode: 2, level: 0, reason, ...(transient ? { transient: true } : {}) };
}
