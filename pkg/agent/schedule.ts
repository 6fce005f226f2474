// When the monitor's passes run: one at a time; a pass asked for while one runs becomes one more
// run right after it (fresh if any asker wanted fresh); a resync every resyncMs; and after a
// failure a retry soon (1 s, doubling up to the resync interval) rather than at the next resync.

import type { Logger } from 'pino';

export interface SchedulerOptions {
  resyncMs: number;
  logger: Logger;
}

export class PassScheduler {
  private running: Promise<void> | undefined;
  private again: { fresh: boolean } | undefined;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryDelay = 0;

  constructor(
    private readonly scan: (fresh: boolean) => Promise<void>,
    private readonly options: SchedulerOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.pass(), this.options.resyncMs);
    this.timer.unref();
    void this.pass();
  }

  /** Stops the timers and waits for the pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    await this.running?.catch(() => undefined);
  }

  /** Runs a pass now, or once more right after the one in progress; resolves when it is done. */
  pass(options: { fresh?: boolean } = {}): Promise<void> {
    if (this.running) {
      // The pass in progress runs once more before its promise settles.
      this.again = { fresh: Boolean(options.fresh) || Boolean(this.again?.fresh) };
      return this.running;
    }
    const run = async (fresh: boolean): Promise<void> => {
      try {
        await this.scan(fresh);
      } catch (err) {
        this.options.logger.error({ err }, 'pass failed');
      }
      const next = this.again;
      this.again = undefined;
      if (next && !this.stopped) await run(next.fresh);
    };
    this.running = run(Boolean(options.fresh)).finally(() => (this.running = undefined));
    return this.running;
  }

  /** Something failed: try again soon. */
  retrySoon(): void {
    if (this.stopped || this.retry) return;
    this.retryDelay = Math.min(this.options.resyncMs, this.retryDelay === 0 ? 1000 : this.retryDelay * 2);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.pass();
    }, this.retryDelay);
    this.retry.unref();
  }

  /** A pass succeeded: the next failure retries after 1 s again. */
  recovered(): void {
    this.retryDelay = 0;
  }
}
