// Gossip between agents: every peer's answer carries the newest checkpoint that peer proved;
// this agent demands that the ledger prove it and its own newest checkpoint are one history.
// A ledger that shows nodes different histories (a split view) is found this way even when
// every node's own view is consistent. Each split view is counted, logged with both
// checkpoints as evidence, and kept (the newest few) for the API.

import type { Logger } from 'pino';
import { asImagetrustError } from '../errors';

export interface SplitView {
  time: string;
  peer: string;
  message: string;
  ours?: string;
  theirs?: string;
}

const KEPT = 20;

export class Gossip {
  private readonly checked = new Map<string, string>();
  private readonly found: SplitView[] = [];
  private total = 0;

  constructor(
    private readonly crossCheck: (note: string) => Promise<unknown>,
    private readonly logger: Pick<Logger, 'warn' | 'error' | 'debug'>,
    private readonly onSplitView: (view: SplitView) => void = () => undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Checks a peer's checkpoint once per distinct note; never throws. */
  async heard(peer: string, note: string | undefined): Promise<void> {
    if (!note || this.checked.get(peer) === note) return;
    try {
      await this.crossCheck(note);
      this.checked.set(peer, note);
    } catch (err) {
      const e = asImagetrustError(err);
      if (e.code !== 'LEDGER_INCONSISTENT') {
        // Not evidence of two histories (the ledger is down, the peer uses another ledger …).
        this.logger.debug({ peer, reason: e.message }, 'could not compare checkpoints with a peer');
        return;
      }
      this.checked.set(peer, note);
      this.total += 1;
      const details = (e.details ?? {}) as { ours?: string; theirs?: string };
      const view: SplitView = {
        time: new Date(this.clock()).toISOString(),
        peer,
        message: e.message,
        ...(details.ours ? { ours: details.ours } : {}),
        ...(details.theirs ? { theirs: details.theirs } : {}),
      };
      this.found.unshift(view);
      this.found.length = Math.min(this.found.length, KEPT);
      this.logger.error({ splitView: view }, 'the ledger shows this node and a peer two different histories');
      this.onSplitView(view);
    }
  }

  get splitViewsTotal(): number {
    return this.total;
  }

  get splitViews(): SplitView[] {
    return [...this.found];
  }
}
