// `imagetrust witness serve`: a Witness (witness.ts) over HTTP (fastify), app factory apart
// from listen() so routes are tested with inject(). POST <prefix>/add-checkpoint is the
// C2SP tlog-witness endpoint; GET / says which logs it follows and what its key vouches for.

import type { FastifyInstance } from 'fastify';
import { createListener, type ServerTls } from '../net/server';
import type { Witness } from './witness';

export interface WitnessServerOptions {
  witness: Witness;
  logs: string[];
  prefix?: string;
  logger?: boolean | object;
  /** HTTPS (pkg/net/server.ts); plain HTTP when undefined. */
  tls?: ServerTls;
  /** Requests a second per client address (0: none). */
  rateLimit?: number;
  onTlsReload?: (err: Error | undefined) => void;
}

/** One request carries a checkpoint (at most 1 MiB as a note) and at most 63 proof lines. */
export const WITNESS_BODY_LIMIT = 1024 * 1024 + 64 * 64;

export function buildWitnessServer(options: WitnessServerOptions): FastifyInstance {
  const { witness } = options;
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  const app = createListener({
    logger: options.logger ?? false,
    bodyLimit: WITNESS_BODY_LIMIT,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
    ...(options.onTlsReload ? { onReload: options.onTlsReload } : {}),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.get('/healthz', async () => ({ ok: true }));
  app.get(`${prefix}/`, async () => ({
    witness: witness.vkey,
    logs: options.logs,
    vouchesFor: witness.recomputesIndex
      ? 'consistency with every checkpoint it cosigned, and the imagetrust-index/v1 line, recomputed from the entries'
      : 'consistency with every checkpoint it cosigned (the first three lines of a checkpoint)',
  }));
  app.post(`${prefix}/add-checkpoint`, async (req, reply) => {
    const body = typeof req.body === 'string' ? req.body : '';
    const result = await witness.addCheckpoint(body);
    return reply.code(result.status).type(result.contentType).send(result.body);
  });
  return app;
}
