// The backend's HTTP client for one data source instance: calls the agent's (or fleet
// server's) /api/v1 with the instance's bearer token over its own keep-alive connection pool.
// Every request has a deadline (the gRPC call's, or the default) and every answer a size
// bound checked while it streams in. Failures are typed: PEER_UNREACHABLE (no connection, or
// no answer in time: details.status 504), UNAUTHORIZED (401), the agent's own error code for
// its 4xx/5xx answers, PEER_INVALID (not JSON), LIMIT_EXCEEDED (answer too large).
// Identical GETs in flight at the same time share one request and one parsed answer (50 alert
// evaluations of one query cost the agent one answer); the key is the full URL (path and
// query), and a client belongs to one data source instance with one token, so different
// instances or tokens never share. A caller that gives up (cancelled, or its own deadline)
// leaves the shared request to the others; the request is abandoned when no caller is left.
// A successful answer may also be reused for `reuseMs` (at most MAX_REUSE_MS, default 0 here;
// the backend sets DEFAULT_REUSE_MS): safe because the agent itself answers from the result of
// its last verification pass, which changes once per pass (seconds at the least), so a
// sub-second reuse returns what the agent would have returned. Errors are never reused.
// Reused answers are shared objects: callers must not change them.

import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { ERROR_CODES, ImagetrustError, type ErrorCode } from '../errors';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
/** The backend's answer reuse: well below any agent pass interval. */
export const DEFAULT_REUSE_MS = 1000;
export const MAX_REUSE_MS = 1000;
/** Reused answers kept, by the size of their JSON text. */
export const MAX_REUSE_BYTES = 8 * 1024 * 1024;
const MAX_REUSE_ENTRIES = 64;

export interface AgentRequest {
  method: 'GET' | 'POST';
  /** Below /api/v1, starting with `/` (e.g. `/containers`); `''` for /api/v1 itself. */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** A JSON body (POST). */
  body?: Buffer;
  /** Milliseconds since the epoch after which the request is abandoned. */
  deadline?: number;
  signal?: AbortSignal;
}

export interface RawAnswer {
  status: number;
  contentType: string | undefined;
  /** The body, streamed; ends early with LIMIT_EXCEEDED when it grows past the bound. */
  body: AsyncIterable<Buffer>;
}

export interface AgentClientOptions {
  baseUrl: string;
  token?: string;
  maxAnswerBytes?: number;
  defaultTimeoutMs?: number;
  clock?: () => number;
  /** Connections kept open to the agent. */
  maxSockets?: number;
  /** Milliseconds a successful GET answer is reused (0..MAX_REUSE_MS; default 0). */
  reuseMs?: number;
  /** Bound on the reused answers' JSON text (default MAX_REUSE_BYTES). */
  maxReuseBytes?: number;
}

interface SharedRequest {
  promise: Promise<Parsed>;
  controller: AbortController;
  deadline: number;
  waiters: number;
}

interface Parsed {
  value: unknown;
  /** The answer's size as JSON text. */
  bytes: number;
}

interface Reused {
  value: unknown;
  bytes: number;
  until: number;
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

export class AgentClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly maxAnswerBytes: number;
  private readonly defaultTimeoutMs: number;
  private readonly clock: () => number;
  private readonly agent: http.Agent;
  private readonly inFlight = new Map<string, SharedRequest>();
  private readonly reused = new Map<string, Reused>();
  private reusedBytes = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly reuseMs: number;
  private readonly maxReuseBytes: number;
  /** Requests actually sent (tests and the bench read it). */
  sent = 0;

  constructor(options: AgentClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.maxAnswerBytes = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.clock = options.clock ?? Date.now;
    const reuse = options.reuseMs ?? 0;
    this.reuseMs = Number.isFinite(reuse) ? Math.min(MAX_REUSE_MS, Math.max(0, reuse)) : 0;
    this.maxReuseBytes = options.maxReuseBytes ?? MAX_REUSE_BYTES;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16 };
    this.agent = this.baseUrl.startsWith('https:')
      ? new https.Agent(agentOptions)
      : new http.Agent(agentOptions);
  }

  urlOf(req: Pick<AgentRequest, 'path' | 'query'>): string {
    const url = new URL(`${this.baseUrl}/api/v1${req.path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  /** GET or POST, JSON in and out; concurrent identical GETs share one request. */
  async json<T>(req: AgentRequest): Promise<T> {
    if (req.method !== 'GET') return (await this.fetchJson(req)).value as T;
    const key = this.urlOf(req);
    if (this.reuseMs > 0) {
      const hit = this.reused.get(key);
      if (hit && hit.until > this.clock()) return hit.value as T;
      if (hit) this.forget(key, hit);
    }
    let shared = this.inFlight.get(key);
    if (!shared) {
      const controller = new AbortController();
      const deadline = req.deadline ?? this.clock() + this.defaultTimeoutMs;
      const entry: SharedRequest = {
        controller,
        deadline,
        waiters: 0,
        promise: this.fetchJson({ ...req, deadline, signal: controller.signal }).then((parsed) => {
          if (this.inFlight.get(key) === entry) this.remember(key, parsed);
          return parsed;
        }),
      };
      entry.promise
        .finally(() => {
          if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
        })
        .catch(() => undefined);
      this.inFlight.set(key, entry);
      shared = entry;
    }
    return (await this.wait(key, shared, req)).value as T;
  }

  /** The shared answer, or this caller's own cancellation or deadline, whichever comes first. */
  private wait(key: string, shared: SharedRequest, req: AgentRequest): Promise<Parsed> {
    const signal = req.signal;
    const ownDeadline =
      req.deadline !== undefined && req.deadline < shared.deadline ? req.deadline : undefined;
    if (signal?.aborted) return Promise.reject(cancelled());
    shared.waiters += 1;
    if (!signal && ownDeadline === undefined) return shared.promise;
    return new Promise<Parsed>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const leave = (err: ImagetrustError) => {
        finish();
        shared.waiters -= 1;
        if (shared.waiters === 0) {
          // Nobody is left waiting: abandon the request, and let the next caller start afresh.
          if (this.inFlight.get(key) === shared) this.inFlight.delete(key);
          shared.controller.abort();
        }
        reject(err);
      };
      const onAbort = () => leave(cancelled());
      const finish = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (ownDeadline !== undefined) {
        timer = setTimeout(
          () => leave(timeoutError(req.path, Math.max(1, ownDeadline - this.clock()))),
          Math.max(1, ownDeadline - this.clock()),
        );
      }
      shared.promise.then(
        (v) => {
          finish();
          resolve(v);
        },
        (err: unknown) => {
          finish();
          reject(err);
        },
      );
    });
  }

  private remember(key: string, parsed: Parsed): void {
    if (this.reuseMs <= 0 || parsed.bytes > this.maxReuseBytes / 4) return;
    const old = this.reused.get(key);
    if (old) this.forget(key, old);
    const now = this.clock();
    this.reused.set(key, { value: parsed.value, bytes: parsed.bytes, until: now + this.reuseMs });
    this.reusedBytes += parsed.bytes;
    this.prune(now);
    this.scheduleSweep();
  }

  /** Drops expired answers, oldest first, then as many as the bounds need. */
  private prune(now: number): void {
    for (const [k, r] of this.reused) {
      if (r.until > now && this.reusedBytes <= this.maxReuseBytes && this.reused.size <= MAX_REUSE_ENTRIES)
        break;
      this.forget(k, r);
    }
  }

  /** Big answers go when they expire, not when the next one comes (a quiet backend stays small). */
  private scheduleSweep(): void {
    if (this.sweeper || this.reused.size === 0) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = undefined;
      this.prune(this.clock());
      this.scheduleSweep();
    }, this.reuseMs);
    this.sweeper.unref();
  }

  private forget(key: string, entry: Reused): void {
    this.reused.delete(key);
    this.reusedBytes -= entry.bytes;
  }

  /** Answers kept for reuse (tests). */
  get reusedCount(): number {
    return this.reused.size;
  }

  private async fetchJson(req: AgentRequest): Promise<Parsed> {
    this.sent += 1;
    const answer = await this.raw(req);
    const text = await this.readAll(answer.body);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      if (answer.status >= 400) throw this.statusError(answer.status, undefined);
      throw new ImagetrustError(
        'PEER_INVALID',
        `the agent answered ${req.path || '/'} with something not JSON`,
        {
          cause: err,
          details: { status: 502 },
        },
      );
    }
    if (answer.status >= 400) throw this.statusError(answer.status, body);
    return { value: body, bytes: text.length };
  }

  private statusError(status: number, body: unknown): ImagetrustError {
    if (status === 401 || status === 403) {
      return new ImagetrustError(
        'UNAUTHORIZED',
        'the agent refused the API token (check the data source token)',
        {
          details: { status: 401 },
        },
      );
    }
    const error = (body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)
      ?.error;
    const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
    const code: ErrorCode = isErrorCode(error?.code)
      ? error.code
      : status === 404
        ? 'NOT_FOUND'
        : status < 500
          ? 'BAD_REQUEST'
          : 'PEER_INVALID';
    return new ImagetrustError(code, `the agent answered ${status}: ${message}`, {
      details: { status, ...(typeof error?.field === 'string' ? { field: error.field } : {}) },
    });
  }

  private async readAll(body: AsyncIterable<Buffer>): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Sends the request; resolves once the status and headers are in. */
  raw(req: AgentRequest): Promise<RawAnswer> {
    const deadline = req.deadline ?? this.clock() + this.defaultTimeoutMs;
    const timeoutMs = Math.max(1, deadline - this.clock());
    const url = this.urlOf(req);
    const max = this.maxAnswerBytes;
    const module = url.startsWith('https:') ? https : http;
    return new Promise<RawAnswer>((resolve, reject) => {
      let settled = false;
      const fail = (err: ImagetrustError) => {
        if (!settled) {
          settled = true;
          reject(err);
        }
        request.destroy(err);
      };
      const timedOut = () => timeoutError(req.path, timeoutMs);
      const timer = setTimeout(() => fail(timedOut()), timeoutMs);
      const onAbort = () => fail(cancelled());
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
      };
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      if (req.body) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(req.body.length);
      }
      const request = module.request(
        url,
        { method: req.method, headers, agent: this.agent },
        (res: IncomingMessage) => {
          const declared = Number(res.headers['content-length'] ?? 0);
          if (declared > max) {
            cleanup();
            fail(tooLarge(max));
            return;
          }
          settled = true;
          resolve({
            status: res.statusCode ?? 502,
            contentType: res.headers['content-type'],
            body: boundedBody(res, max, cleanup, () => request.destroy(), timedOut),
          });
        },
      );
      request.on('error', (err) => {
        cleanup();
        fail(
          err instanceof ImagetrustError
            ? err
            : new ImagetrustError(
                'PEER_UNREACHABLE',
                `cannot reach the agent at ${this.baseUrl}: ${err.message}`,
                {
                  cause: err,
                  details: { status: 502 },
                },
              ),
        );
      });
      request.end(req.body);
    });
  }

  close(): void {
    if (this.sweeper) clearTimeout(this.sweeper);
    this.sweeper = undefined;
    this.reused.clear();
    this.reusedBytes = 0;
    this.agent.destroy();
  }
}

function timeoutError(path: string, timeoutMs: number): ImagetrustError {
  return new ImagetrustError(
    'PEER_UNREACHABLE',
    `the agent did not answer ${path || '/'} within ${timeoutMs} ms`,
    {
      details: { status: 504, timeout: true },
    },
  );
}

function cancelled(): ImagetrustError {
  return new ImagetrustError('PEER_UNREACHABLE', 'the call was cancelled', { details: { status: 499 } });
}

function tooLarge(max: number): ImagetrustError {
  return new ImagetrustError('LIMIT_EXCEEDED', `the agent's answer is larger than ${max} bytes`, {
    details: { status: 502, limit: max },
  });
}

/** The response body, counted as it arrives; stops with LIMIT_EXCEEDED past `max` bytes. */
async function* boundedBody(
  res: IncomingMessage,
  max: number,
  done: () => void,
  abort: () => void,
  timeoutError: () => ImagetrustError,
): AsyncGenerator<Buffer> {
  let total = 0;
  let failure: ImagetrustError | undefined;
  res.on('aborted', () => (failure ??= timeoutError()));
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > max) throw tooLarge(max);
      yield chunk;
    }
    if (failure) throw failure;
  } catch (err) {
    if (err instanceof ImagetrustError) throw err;
    throw failure ?? timeoutError();
  } finally {
    done();
    if (!res.complete) abort();
  }
}
