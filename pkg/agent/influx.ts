// InfluxDB forwarder: every pass's results as line protocol, to InfluxDB 1.x (`/write?db=`)
// or 2.x (`/api/v2/write?org=&bucket=`).
//
// Two measurements: the original setup's `vcn_verification` (tags hostname, container_name,
// container_id, status, level; float fields failed, status, level, exactly as vcn-watchdog's
// verify.influx wrote them, so its dashboards keep working), and the richer
// `imagetrust_container`. Points carry their own timestamps, so a retried batch rewrites the
// same points rather than adding new ones. The buffer is bounded: while InfluxDB is down,
// points wait (in order) and are retried with backoff; past the bound the oldest are dropped,
// counted and logged.

import type { Logger } from 'pino';
import { ImagetrustError } from '../errors';
import { readBoundedText } from '../net/bounded';
import type { ContainerResult } from './types';

// Line protocol escaping, as InfluxDB 1.x parses it (checked against influxd 1.6): in
// measurements, keys and tag values a backslash escapes only `,`, `=` and space, and any other
// backslash is kept literally, so backslashes are not doubled. A backslash that would sit
// before one of those characters or at the very end cannot be written faithfully and becomes
// U+29F5 (⧵). Newlines cannot be written at all: control characters become spaces. (Docker
// container names, image references and node names never hold either.)
const controls = (s: string): string => s.replace(/[\u0000-\u001f\u007f]/g, ' ');
const ambiguousBackslash = (s: string, specials: RegExp): string =>
  s.replace(/\\+(?=$|[,= ])/g, (m) => '\u29f5'.repeat(m.length)).replace(specials, (c) => `\\${c}`);
export const escapeMeasurement = (s: string): string => ambiguousBackslash(controls(s), /[, ]/g);
export const escapeKey = (s: string): string => ambiguousBackslash(controls(s), /[,= ]/g);
/** An empty tag value is not allowed in line protocol. */
export const escapeTagValue = (s: string): string => (s === '' ? '-' : escapeKey(s));
export const fieldString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export type FieldValue = { float: number } | { int: number } | { str: string } | { bool: boolean };

export function formatLine(
  measurement: string,
  tags: Record<string, string>,
  fields: Record<string, FieldValue>,
  timeMs: number,
): string {
  const tagText = Object.keys(tags)
    .sort()
    .map((k) => `,${escapeKey(k)}=${escapeTagValue(tags[k] as string)}`)
    .join('');
  const fieldText = Object.entries(fields)
    .map(([k, v]) => {
      const value =
        'float' in v
          ? String(v.float)
          : 'int' in v
            ? `${Math.trunc(v.int)}i`
            : 'bool' in v
              ? String(v.bool)
              : fieldString(v.str);
      return `${escapeKey(k)}=${value}`;
    })
    .join(',');
  if (fieldText === '') throw new ImagetrustError('INTERNAL', 'a line needs at least one field');
  return `${escapeMeasurement(measurement)}${tagText} ${fieldText} ${Math.trunc(timeMs)}`;
}

/** The original setup's line: `vcn_verification,hostname=…,container_name=…,container_id=…,status=…,level=… failed=…,status=…,level=…`. */
export function vcnVerificationLine(c: ContainerResult, timeMs: number): string {
  return formatLine(
    'vcn_verification',
    {
      hostname: c.node,
      container_name: c.name,
      container_id: c.id,
      status: String(c.statusCode),
      level: String(c.level),
    },
    {
      failed: { float: c.status === 'trusted' ? 0 : 1 },
      status: { float: c.statusCode },
      level: { float: c.level },
    },
    timeMs,
  );
}

export function imagetrustContainerLine(c: ContainerResult, timeMs: number): string {
  return formatLine(
    'imagetrust_container',
    { node: c.node, container_name: c.name, image: c.image, status: c.status, drift: String(c.drift) },
    {
      trusted: { int: c.status === 'trusted' ? 1 : 0 },
      status_code: { int: c.statusCode },
      level: { int: c.level },
      digest: { str: c.digest },
      signer: { str: c.signer ?? '' },
      container_id: { str: c.id },
      reason: { str: c.reason ?? '' },
    },
    timeMs,
  );
}

export type InfluxTarget =
  | { version: 1; url: string; db: string; user?: string; password?: string }
  | { version: 2; url: string; org: string; bucket: string; token: string };

export interface InfluxForwarderOptions {
  target: InfluxTarget;
  logger: Logger;
  batchSize?: number;
  flushIntervalMs?: number;
  maxBufferedPoints?: number;
  timeoutMs?: number;
}

const MAX_BACKOFF_MS = 30_000;

export class InfluxForwarder {
  private buffer: string[] = [];
  private written = 0;
  private dropped = 0;
  private failures = 0;
  private backoffMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private readonly flushIntervalMs: number;
  private readonly timeoutMs: number;
  private readonly endpoint: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: InfluxForwarderOptions) {
    this.batchSize = options.batchSize ?? 5000;
    this.maxBuffered = options.maxBufferedPoints ?? 100_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const t = options.target;
    const base = t.url.replace(/\/+$/, '');
    this.headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (t.version === 1) {
      this.endpoint = `${base}/write?${new URLSearchParams({ db: t.db, precision: 'ms' })}`;
      if (t.user !== undefined)
        this.headers.authorization = `Basic ${Buffer.from(`${t.user}:${t.password ?? ''}`).toString('base64')}`;
    } else {
      this.endpoint = `${base}/api/v2/write?${new URLSearchParams({ org: t.org, bucket: t.bucket, precision: 'ms' })}`;
      this.headers.authorization = `Token ${t.token}`;
    }
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.flushIntervalMs);
  }

  /** Flushes what it can and stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.flushing;
    if (this.buffer.length > 0) await this.flush().catch(() => undefined);
  }

  /** Adds the points of one pass. */
  push(results: ContainerResult[], timeMs: number): void {
    for (const c of results)
      this.buffer.push(vcnVerificationLine(c, timeMs), imagetrustContainerLine(c, timeMs));
    const over = this.buffer.length - this.maxBuffered;
    if (over > 0) {
      this.buffer.splice(0, over);
      this.dropped += over;
      this.options.logger.warn(
        { dropped: over, totalDropped: this.dropped },
        'InfluxDB buffer full: dropped the oldest points',
      );
    }
  }

  stats(): { written: number; dropped: number; buffered: number; failures: number } {
    return {
      written: this.written,
      dropped: this.dropped,
      buffered: this.buffer.length,
      failures: this.failures,
    };
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.flushing = this.flush()
        .then(() => {
          this.backoffMs = 0;
        })
        .catch((err: unknown) => {
          this.failures += 1;
          this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs === 0 ? 500 : this.backoffMs * 2);
          this.options.logger.warn(
            { err: (err as Error).message, retryInMs: this.backoffMs, buffered: this.buffer.length },
            'InfluxDB write failed',
          );
        })
        .finally(() => {
          this.flushing = undefined;
          this.schedule(this.backoffMs || this.flushIntervalMs);
        });
    }, ms);
    this.timer.unref();
  }

  /** Sends the buffer in order, one batch at a time; a batch leaves the buffer only once InfluxDB took it. */
  async flush(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.batchSize);
      let res: Response;
      try {
        res = await fetch(this.endpoint, {
          method: 'POST',
          headers: this.headers,
          body: `${batch.join('\n')}\n`,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        throw new ImagetrustError(
          'IO',
          `InfluxDB at ${this.options.target.url} is unreachable: ${(err as Error).message}`,
          { cause: err },
        );
      }
      // Only the start of InfluxDB's answer is ever logged: read no more than that.
      const text = await readBoundedText(res, {
        maxBytes: 64 * 1024,
        tooLarge: 'IO',
        broken: 'IO',
        who: `InfluxDB at ${this.options.target.url}`,
      }).catch(() => '');
      if (res.status === 400) {
        // InfluxDB rejected the data itself: retrying cannot help, so the batch is dropped and counted.
        this.buffer.splice(0, batch.length);
        this.dropped += batch.length;
        this.options.logger.error(
          { status: res.status, body: text.slice(0, 500), dropped: batch.length },
          'InfluxDB rejected points',
        );
        continue;
      }
      if (!res.ok)
        throw new ImagetrustError('IO', `InfluxDB answered HTTP ${res.status}: ${text.slice(0, 200)}`);
      this.buffer.splice(0, batch.length);
      this.written += batch.length;
    }
  }
}
