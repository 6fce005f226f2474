// `imagetrust ledger serve`: the ledger over HTTP (fastify). The app factory is separate
// from listen() so that routes are tested with inject(). The server holds the ledger's
// checkpoint key only. It accepts a statement only if the signer's signature verifies, the
// signer is one it was told to accept (unless it runs open), the signer's budget allows it,
// and the statement is that signer's next word about its digest. Every answer is bounded:
// lookups are one signer's entries about one digest, a page at a time.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { createListener, type ServerTls } from '../net/server';
import { ImagetrustError, asImagetrustError } from '../errors';
import { LOOKUP_PAGE, MAX_BATCH, type Ledger } from './log';
import type { CheckpointCosigning } from './cosigning';
import type { SignerRateLimiter } from './rate-limit';
import { isSignerKeyId, parseImageDigest } from './statement';
import { LEDGER_API, encodeKeyLookup } from './wire';
import { encodeSearchPage, parseAttributeQuery } from './search';

export { LEDGER_API };

export interface LedgerServerOptions {
  ledger: Ledger;
  /** Signer key ids allowed to append; undefined only when the server was started --open. */
  allowedSigners: ReadonlySet<string> | undefined;
  /** Per-signer append budget. */
  rateLimiter?: SignerRateLimiter;
  /** Most statements one signer may have about one digest. */
  maxPerKey?: number;
  /** Most statements in one request. */
  maxPerRequest?: number;
  /** Witness cosignatures: the latest checkpoint is served with them. */
  cosigning?: CheckpointCosigning;
  logger?: boolean | object;
  /** HTTPS (pkg/net/server.ts); plain HTTP when undefined. */
  tls?: ServerTls;
  /** Requests a second per client address (0: none). */
  rateLimit?: number;
  onTlsReload?: (err: Error | undefined) => void;
}

export const DEFAULT_MAX_PER_REQUEST = 1000;

function intParam(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(value)) {
    throw new ImagetrustError('BAD_REQUEST', `${name}: expected a non-negative integer`);
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new ImagetrustError('BAD_REQUEST', `${name}: too large`);
  return n;
}

function timeParam(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const t = typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new ImagetrustError('BAD_REQUEST', `${name}: expected an RFC 3339 time`);
  return t;
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asImagetrustError(err);
  return reply.code(e.httpStatus).send({ error: { code: e.code, message: e.message } });
}

export function buildLedgerServer(options: LedgerServerOptions): FastifyInstance {
  const { ledger } = options;
  const maxPerRequest = Math.min(options.maxPerRequest ?? DEFAULT_MAX_PER_REQUEST, MAX_BATCH);
  // A base64 envelope is at most 4/3 of 64 KiB; the body limit follows the request limit.
  const bodyLimit = Math.min(16 * 1024 * 1024, maxPerRequest * 90 * 1024);
  // Only appends carry a body: every other route keeps the small default.
  const app = createListener({
    logger: options.logger ?? false,
    bodyLimit: 16 * 1024,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
    ...(options.onTlsReload ? { onReload: options.onTlsReload } : {}),
  });

  app.setErrorHandler((err: unknown, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof ImagetrustError) && status !== undefined && status >= 400 && status < 500) {
      const code = status === 413 ? 'LIMIT_EXCEEDED' : 'BAD_REQUEST';
      return reply.code(status).send({ error: { code, message: (err as Error).message } });
    }
    return sendError(reply, err);
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get(`${LEDGER_API}/ledger`, async () => {
    const latest = await ledger.latestCheckpoint();
    return {
      origin: ledger.info.origin,
      vkey: ledger.info.vkey,
      size: latest.size,
      format: 2,
      open: options.allowedSigners === undefined,
    };
  });

  app.get(`${LEDGER_API}/checkpoint`, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const size = intParam(q.size, 'size');
    const time = timeParam(q.time, 'time');
    const cp =
      size !== undefined
        ? await ledger.checkpointAtSize(size)
        : time !== undefined
          ? await ledger.checkpointAtTime(time)
          : await ledger.latestCheckpoint();
    if (!cp) throw new ImagetrustError('NOT_FOUND', 'no checkpoint at or before that point');
    const note = options.cosigning ? options.cosigning.cosignedNote(cp) : cp.note;
    return reply.type('text/plain; charset=utf-8').send(note);
  });

  app.get(`${LEDGER_API}/checkpoints`, async (req) => {
    const q = req.query as Record<string, unknown>;
    const from = intParam(q.from, 'from') ?? 0;
    const limit = intParam(q.limit, 'limit') ?? LOOKUP_PAGE;
    const list = await ledger.checkpoints(from, limit);
    return { checkpoints: list.map((c) => ({ size: c.size, note: c.note })) };
  });

  app.get(`${LEDGER_API}/entries`, async (req) => {
    const q = req.query as Record<string, unknown>;
    const start = intParam(q.start, 'start') ?? 0;
    const limit = intParam(q.limit, 'limit') ?? LOOKUP_PAGE;
    const list = await ledger.entries(start, limit);
    return { start, entries: list.map((e) => ({ index: e.index, leaf: e.leaf.toString('base64') })) };
  });

  app.get(`${LEDGER_API}/lookup/:digest/:signer`, async (req) => {
    const params = req.params as { digest: string; signer: string };
    const digest = parseImageDigest(params.digest);
    if (!isSignerKeyId(params.signer))
      throw new ImagetrustError('BAD_REQUEST', 'signer: expected 32 hex digits');
    const q = req.query as Record<string, unknown>;
    const size = intParam(q.size, 'size') ?? (await ledger.latestCheckpoint()).size;
    const since = intParam(q.since, 'since');
    const offset = intParam(q.offset, 'offset') ?? 0;
    const limit = intParam(q.limit, 'limit') ?? LOOKUP_PAGE;
    const found = await ledger.lookup(params.signer, digest, size, {
      offset,
      limit,
      ...(since !== undefined ? { since } : {}),
    });
    return encodeKeyLookup(params.signer, digest, found);
  });

  app.get(`${LEDGER_API}/search`, async (req) => {
    const q = req.query as Record<string, unknown>;
    for (const k of Object.keys(q))
      if (!['attr', 'hash', 'size', 'offset', 'limit'].includes(k))
        throw new ImagetrustError('BAD_REQUEST', `${k}: unknown parameter`);
    const attribute = typeof q.attr === 'string' ? parseAttributeQuery(q.attr, 'attr') : undefined;
    if (q.attr !== undefined && typeof q.attr !== 'string')
      throw new ImagetrustError('BAD_REQUEST', 'attr: once');
    const digest = q.hash === undefined ? undefined : parseImageDigest(q.hash as string);
    if (!attribute && !digest)
      throw new ImagetrustError('BAD_REQUEST', 'give attr=NAME=VALUE, hash=sha256:… or both');
    const size = intParam(q.size, 'size') ?? (await ledger.latestCheckpoint()).size;
    const page = await ledger.search(
      { ...(attribute ? { attribute } : {}), ...(digest ? { digest } : {}) },
      size,
      { offset: intParam(q.offset, 'offset') ?? 0, limit: intParam(q.limit, 'limit') ?? LOOKUP_PAGE },
    );
    return encodeSearchPage(page);
  });

  app.get(`${LEDGER_API}/proof/consistency`, async (req) => {
    const q = req.query as Record<string, unknown>;
    const first = intParam(q.first, 'first');
    const second = intParam(q.second, 'second');
    if (first === undefined || second === undefined)
      throw new ImagetrustError('BAD_REQUEST', 'first and second are required');
    const proof = await ledger.consistencyProof(first, second);
    return { first, second, proof: proof.map((p) => p.toString('base64')) };
  });

  app.post(`${LEDGER_API}/statements`, { bodyLimit }, async (req) => {
    const body = req.body as { statements?: unknown } | undefined;
    if (!body || !Array.isArray(body.statements) || !body.statements.every((s) => typeof s === 'string')) {
      throw new ImagetrustError('BAD_REQUEST', 'statements: expected a list of base64 envelopes');
    }
    if (body.statements.length > maxPerRequest) {
      throw new ImagetrustError('LIMIT_EXCEEDED', `at most ${maxPerRequest} statements per request`);
    }
    const envelopes = body.statements.map((s) => Buffer.from(s as string, 'base64'));
    const { firstIndex, checkpoint } = await ledger.append(envelopes, {
      ...(options.allowedSigners ? { allowedSigners: options.allowedSigners } : {}),
      ...(options.maxPerKey !== undefined ? { maxPerKey: options.maxPerKey } : {}),
      ...(options.rateLimiter ? { admit: (signers: string[]) => options.rateLimiter?.charge(signers) } : {}),
    });
    void options.cosigning?.round();
    return { firstIndex, checkpoint: checkpoint.note };
  });

  return app;
}
