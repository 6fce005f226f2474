// `imagetrust ledger serve`: the ledger over HTTP (fastify). The app factory is separate
// from listen() so that routes are tested with inject(). The server holds the ledger's
// checkpoint key only; it accepts a statement only if the signer's signature verifies (and,
// when an allow-list is given, only from those signers).

import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { ImagetrustError, asImagetrustError } from '../errors';
import type { Ledger } from './log';
import { parseImageDigest } from './statement';

export interface LedgerServerOptions {
  ledger: Ledger;
  /** Signer key ids allowed to append; all correctly signed statements when absent. */
  allowedSigners?: ReadonlySet<string>;
  logger?: boolean | object;
}

export const LEDGER_API = '/api/v1';

function intParam(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(value)) {
    throw new ImagetrustError('BAD_REQUEST', `${name}: expected a non-negative integer`);
  }
  return Number(value);
}

function timeParam(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const t = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new ImagetrustError('BAD_REQUEST', `${name}: expected an RFC 3339 time`);
  return t;
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asImagetrustError(err);
  return reply.code(e.httpStatus).send({ error: { code: e.code, message: e.message } });
}

export function buildLedgerServer(options: LedgerServerOptions): FastifyInstance {
  const { ledger } = options;
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 16 * 1024 * 1024 });

  app.setErrorHandler((err: unknown, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof ImagetrustError) && status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: { code: 'BAD_REQUEST', message: (err as Error).message } });
    }
    return sendError(reply, err);
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get(`${LEDGER_API}/ledger`, async () => {
    const latest = await ledger.latestCheckpoint();
    return { origin: ledger.info.origin, vkey: ledger.info.vkey, size: latest.size };
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
    return reply.type('text/plain; charset=utf-8').send(cp.note);
  });

  app.get(`${LEDGER_API}/statements/:digest`, async (req) => {
    const digest = parseImageDigest((req.params as { digest: string }).digest);
    const q = req.query as Record<string, unknown>;
    const size = intParam(q.size, 'size') ?? (await ledger.latestCheckpoint()).size;
    const entries = await ledger.lookup(digest, size);
    return {
      size,
      entries: entries.map((e) => ({
        index: e.index,
        leaf: e.leaf.toString('base64'),
        proof: e.proof.map((p) => p.toString('base64')),
      })),
    };
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

  app.post(`${LEDGER_API}/statements`, async (req) => {
    const body = req.body as { statements?: unknown } | undefined;
    if (!body || !Array.isArray(body.statements) || !body.statements.every((s) => typeof s === 'string')) {
      throw new ImagetrustError('BAD_REQUEST', 'statements: expected a list of base64 envelopes');
    }
    const envelopes = body.statements.map((s) => Buffer.from(s as string, 'base64'));
    const { firstIndex, checkpoint } = await ledger.append(envelopes, options.allowedSigners);
    return { firstIndex, checkpoint: checkpoint.note };
  });

  return app;
}
