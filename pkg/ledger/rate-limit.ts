// Per-signer append budgets for `ledger serve`: a token bucket per signer key, refilled at
// `perSecond` up to `burst`. Charged after the signatures verified, so nobody can spend
// another key's budget. Buckets idle long enough to be full again are forgotten, so a flood of
// throwaway keys costs memory only while it lasts. The clock is injected.

import { ImagetrustError } from '../errors';

export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  clock?: () => number;
  /** Most buckets kept at once; a new key beyond that is refused. */
  maxKeys?: number;
}

export class SignerRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly clock: () => number;
  private readonly maxKeys: number;

  constructor(private readonly options: RateLimitOptions) {
    this.clock = options.clock ?? Date.now;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /** Takes `n` statements from each signer's budget, all or none; LIMIT_EXCEEDED otherwise. */
  charge(signers: string[]): void {
    const now = this.clock();
    const wanted = new Map<string, number>();
    for (const s of signers) wanted.set(s, (wanted.get(s) ?? 0) + 1);
    if (this.buckets.size + wanted.size > this.maxKeys) this.sweep(now);
    const next = new Map<string, { tokens: number; at: number }>();
    for (const [signer, n] of wanted) {
      const b = this.buckets.get(signer);
      if (!b && this.buckets.size + next.size >= this.maxKeys) {
        throw new ImagetrustError(
          'LIMIT_EXCEEDED',
          'too many signers are appending at once; try again later',
        );
      }
      const tokens = Math.min(
        this.options.burst,
        (b?.tokens ?? this.options.burst) + ((now - (b?.at ?? now)) / 1000) * this.options.perSecond,
      );
      if (tokens < n) {
        throw new ImagetrustError(
          'LIMIT_EXCEEDED',
          `signer ${signer} may append ${this.options.perSecond} statements a second (burst ${this.options.burst}); try again later`,
        );
      }
      next.set(signer, { tokens: tokens - n, at: now });
    }
    for (const [signer, b] of next) this.buckets.set(signer, b);
  }

  private sweep(now: number): void {
    const refill = (this.options.burst / this.options.perSecond) * 1000;
    for (const [signer, b] of this.buckets) if (now - b.at >= refill) this.buckets.delete(signer);
  }
}
