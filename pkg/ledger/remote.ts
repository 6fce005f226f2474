// A LedgerBackend that talks to `imagetrust ledger serve`. Every response is size-limited,
// time-limited and shape-checked; anything unexpected is LEDGER_BAD_RESPONSE, a refused or
// timed-out connection LEDGER_UNREACHABLE. Nothing here is trusted: LedgerClient verifies.

import { ERROR_CODES, ImagetrustError, type ErrorCode } from '../errors';
import { readBoundedText } from '../net/bounded';
import type { CheckpointQuery, LedgerBackend } from './backend';
import { LOOKUP_PAGE, type KeyLookup, type LedgerInfo, type LookupOptions } from './log';
import type { ImageDigest } from './statement';
import { decodeSearchPage, searchParams, type SearchPage } from './search';
import type { SearchQuery } from './store/store';
import { LEDGER_API, decodeCheckpointPage, decodeHashes, decodeKeyLookup, decodeLeafPage } from './wire';
import type { FetchFunction } from '../net/client';

export interface RemoteBackendOptions {
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** How the server is asked (pkg/net/client.ts clientFetch for --tls-ca); the global fetch by default. */
  fetch?: FetchFunction;
}

/** Error codes a ledger server may hand back as they are; anything else is a bad response. */
const PASSED_THROUGH: ReadonlySet<string> = new Set<ErrorCode>([
  'BAD_REQUEST',
  'BAD_DIGEST',
  'STATEMENT_INVALID',
  'NOT_FOUND',
  'LEDGER_TAMPERED',
  'LEDGER_CONFLICT',
  'LIMIT_EXCEEDED',
  'SIGNER_NOT_ALLOWED',
]);

function bad(message: string): ImagetrustError {
  return new ImagetrustError('LEDGER_BAD_RESPONSE', message);
}

export class RemoteBackend implements LedgerBackend {
  readonly location: string;
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly fetch: FetchFunction;

  constructor(url: string, options: RemoteBackendOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      throw new ImagetrustError('USAGE', `not a ledger URL: ${url}`, { cause: err });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new ImagetrustError('USAGE', `not a ledger URL: ${url}`);
    this.base = parsed.toString().replace(/\/+$/, '');
    this.location = this.base;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
    // A page of LOOKUP_PAGE entries of at most 64 KiB each, base64 and proofs included.
    this.maxBytes = options.maxResponseBytes ?? 128 * 1024 * 1024;
  }

  private async request(
    path: string,
    init: { method?: string; body?: unknown; notFoundOk?: boolean } = {},
  ): Promise<{ status: number; text: string }> {
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${path}`, {
        method: init.method ?? 'GET',
        headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ImagetrustError(
        'LEDGER_UNREACHABLE',
        `ledger ${this.base} is unreachable: ${(err as Error).message}`,
        { cause: err },
      );
    }
    // Bounded while it streams in: a ledger answering without end costs at most maxBytes.
    const text = await readBoundedText(res, {
      maxBytes: this.maxBytes,
      tooLarge: 'LEDGER_BAD_RESPONSE',
      broken: 'LEDGER_UNREACHABLE',
      who: `ledger ${this.base}`,
    });
    if (res.status === 404 && init.notFoundOk) return { status: 404, text };
    if (res.status >= 400) {
      let code: string | undefined;
      let message = text.slice(0, 200);
      try {
        const doc = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
        if (typeof doc.error?.code === 'string') code = doc.error.code;
        if (typeof doc.error?.message === 'string') message = doc.error.message.slice(0, 500);
      } catch {
        // Not JSON: reported below as a bad response with the start of the body.
      }
      if (code !== undefined && PASSED_THROUGH.has(code) && code in ERROR_CODES) {
        throw new ImagetrustError(code as ErrorCode, `ledger: ${message}`);
      }
      throw bad(`ledger answered HTTP ${res.status}: ${message}`);
    }
    return { status: res.status, text };
  }

  private async json(
    path: string,
    init: { method?: string; body?: unknown } = {},
  ): Promise<Record<string, unknown>> {
    const { text } = await this.request(path, init);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new ImagetrustError('LEDGER_BAD_RESPONSE', 'ledger answered something that is not JSON', {
        cause: err,
      });
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
      throw bad('ledger answered JSON that is not an object');
    return doc as Record<string, unknown>;
  }

  async info(): Promise<LedgerInfo> {
    const doc = await this.json(`${LEDGER_API}/ledger`);
    if (typeof doc.origin !== 'string' || typeof doc.vkey !== 'string')
      throw bad('ledger info lacks origin or key');
    return { origin: doc.origin, vkey: doc.vkey };
  }

  async latestCheckpoint(): Promise<string> {
    return (await this.request(`${LEDGER_API}/checkpoint`)).text;
  }

  async checkpoint(query: CheckpointQuery): Promise<string | undefined> {
    const q =
      'size' in query
        ? `size=${query.size}`
        : `time=${encodeURIComponent(new Date(query.time).toISOString())}`;
    const res = await this.request(`${LEDGER_API}/checkpoint?${q}`, { notFoundOk: true });
    return res.status === 404 ? undefined : res.text;
  }

  async lookup(
    signer: string,
    digest: ImageDigest,
    size: number,
    options: LookupOptions = {},
  ): Promise<KeyLookup> {
    const q = new URLSearchParams({ size: String(size), offset: String(options.offset ?? 0) });
    if (options.since !== undefined) q.set('since', String(options.since));
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    const doc = await this.json(`${LEDGER_API}/lookup/${digest}/${signer}?${q}`);
    return decodeKeyLookup(doc, LOOKUP_PAGE);
  }

  async entries(start: number, limit: number): Promise<{ index: number; leaf: Buffer }[]> {
    return decodeLeafPage(
      await this.json(`${LEDGER_API}/entries?start=${start}&limit=${limit}`),
      LOOKUP_PAGE,
    );
  }

  async checkpoints(fromSize: number, limit: number): Promise<{ size: number; note: string }[]> {
    const doc = await this.json(`${LEDGER_API}/checkpoints?from=${fromSize}&limit=${limit}`);
    return decodeCheckpointPage(doc, LOOKUP_PAGE);
  }

  async consistencyProof(first: number, second: number): Promise<Buffer[]> {
    const doc = await this.json(`${LEDGER_API}/proof/consistency?first=${first}&second=${second}`);
    return decodeHashes(doc.proof, 'consistency proof');
  }

  async append(envelopes: Buffer[]): Promise<{ firstIndex: number; checkpoint: string }> {
    const doc = await this.json(`${LEDGER_API}/statements`, {
      method: 'POST',
      body: { statements: envelopes.map((e) => e.toString('base64')) },
    });
    if (typeof doc.firstIndex !== 'number' || typeof doc.checkpoint !== 'string')
      throw bad('ledger append answer is malformed');
    return { firstIndex: doc.firstIndex, checkpoint: doc.checkpoint };
  }

  async search(
    query: SearchQuery,
    options: { size: number; offset: number; limit: number },
  ): Promise<SearchPage> {
    const params = new URLSearchParams({
      ...searchParams(query),
      size: String(options.size),
      offset: String(options.offset),
      limit: String(options.limit),
    });
    return decodeSearchPage(await this.json(`${LEDGER_API}/search?${params.toString()}`), LOOKUP_PAGE);
  }

  async close(): Promise<void> {
    // Nothing held open: fetch keeps no per-client connection state we own.
  }
}
