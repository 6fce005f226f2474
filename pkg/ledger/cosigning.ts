// Collecting witness cosignatures for `ledger serve --witness URL`: after every append, and
// every `intervalMs` even when nothing was appended (so that clients can tell a live ledger
// from a frozen one), the server sends its latest checkpoint to each witness with the
// consistency proof that witness needs (C2SP tlog-witness), learning the witness's size from
// a 409. Each witness is asked on its own with a timeout: one that is down or answers
// garbage delays nobody and is asked again next round. The served checkpoint carries the
// newest cosignature of each witness that cosigned exactly that checkpoint.

import type { Logger } from 'pino';
import { readBoundedText } from '../net/bounded';
import { isCosignatureLine, withSignatures } from './cosignature';
import type { Ledger } from './log';
import type { StoredCheckpoint } from './store/store';

export interface CosigningOptions {
  witnesses: string[];
  intervalMs?: number;
  timeoutMs?: number;
  logger?: Pick<Logger, 'warn' | 'info' | 'debug'>;
}

interface Cosigned {
  size: number;
  note: string;
  lines: string[];
}

const MAX_ANSWER = 64 * 1024;

export class CheckpointCosigning {
  private readonly known = new Map<string, number>();
  private readonly cosigned = new Map<string, Cosigned>();
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly options: CosigningOptions,
  ) {}

  start(): void {
    void this.round();
    this.timer = setInterval(() => void this.round(), this.options.intervalMs ?? 300_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Asks for cosignatures of the latest checkpoint now; rounds never overlap. */
  round(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        const latest = await this.ledger.latestCheckpoint();
        await Promise.all(this.options.witnesses.map((w) => this.ask(w, latest)));
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The checkpoint note with the cosignatures collected for exactly that checkpoint. */
  cosignedNote(cp: StoredCheckpoint): string {
    const lines: string[] = [];
    for (const c of this.cosigned.values())
      if (c.size === cp.size && c.note === cp.note) lines.push(...c.lines);
    return lines.length === 0 ? cp.note : withSignatures(cp.note, lines);
  }

  private async ask(url: string, cp: StoredCheckpoint): Promise<void> {
    const endpoint = `${url.replace(/\/+$/, '')}/add-checkpoint`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const old = this.known.get(url) ?? 0;
      if (old > cp.size) {
        this.options.logger?.warn(
          { witness: url, witnessSize: old, size: cp.size },
          'witness has cosigned a larger tree than this ledger holds',
        );
        return;
      }
      try {
        const proof = old === 0 || old === cp.size ? [] : await this.ledger.consistencyProof(old, cp.size);
        const body = `old ${old}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${cp.note}`;
        const res = await fetch(endpoint, {
          method: 'POST',
          body,
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000),
        });
        // Bounded while it streams in: a witness answering gigabytes costs at most MAX_ANSWER.
        const text = await readBoundedText(res, {
          maxBytes: MAX_ANSWER,
          tooLarge: 'LEDGER_BAD_RESPONSE',
          broken: 'LEDGER_UNREACHABLE',
          who: `witness ${url}`,
        });
        if (res.status === 409 && /^(0|[1-9][0-9]{0,15})\n?$/.test(text)) {
          this.known.set(url, Number(text.trim()));
          continue;
        }
        if (res.status !== 200) {
          this.options.logger?.warn(
            { witness: url, status: res.status, answer: text.slice(0, 200) },
            'witness refused the checkpoint',
          );
          return;
        }
        // Only well-formed cosignature lines go into the served checkpoint: a witness that
        // answers garbage must not break the note for every client.
        const lines = text.split('\n').filter(isCosignatureLine);
        if (lines.length === 0) {
          this.options.logger?.warn(
            { witness: url, answer: text.slice(0, 200) },
            'witness answered no cosignature',
          );
          return;
        }
        this.known.set(url, cp.size);
        this.cosigned.set(url, { size: cp.size, note: cp.note, lines });
        this.options.logger?.debug({ witness: url, size: cp.size }, 'cosigned');
        return;
      } catch (err) {
        this.options.logger?.warn(
          { witness: url, err: (err as Error).message },
          'witness unreachable; asking again next round',
        );
        return;
      }
    }
  }
}
