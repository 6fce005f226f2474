// `imagetrust authz`: a Docker authorization plugin on a unix socket
// (/run/docker/plugins/NAME.sock). dockerd asks it about every API call (AuthZReq) and every
// answer (AuthZRes); it decides on requests and allows every response. Every decision other
// than a plain read goes to an append-only audit log (JSON lines) and to the metrics. A
// request it cannot even parse is refused.

import Fastify, { type FastifyInstance } from 'fastify';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Admission, Decision } from './admission';
import { MAX_BODY, readRequest } from './request';

export interface AuthzServerOptions {
  admission: Admission;
  socketPath: string;
  auditLog: string;
  logger: Logger;
}

export interface AuthzServer {
  app: FastifyInstance;
  registry: Registry;
  /** The newest refused (or would-be refused) decisions, newest last. */
  recent(): Decision[];
  close(): Promise<void>;
}

const RECENT = 200;

export function auditLine(d: Decision): string {
  return `${JSON.stringify(d)}\n`;
}

export async function startAuthzServer(options: AuthzServerOptions): Promise<AuthzServer> {
  const { admission, logger } = options;
  mkdirSync(dirname(options.auditLog), { recursive: true, mode: 0o700 });
  const audit = openSync(options.auditLog, 'a', 0o600);
  const registry = new Registry();
  const decisions = new Counter({
    name: 'imagetrust_admission_decisions_total',
    help: 'Admission decisions by action and verdict (allowed, refused, would-refuse, allowed-fail-open)',
    labelNames: ['action', 'verdict'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'imagetrust_admission_decision_seconds',
    help: 'Time to decide one request that names an image',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const recent: Decision[] = [];
  // The engine's body limit, with room for the JSON around it (base64 grows it by a third).
  const app = Fastify({ logger: false, bodyLimit: Math.ceil(MAX_BODY * 1.5) + 64 * 1024 });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(null, {});
    }
  });
  app.setErrorHandler((err, _req, reply) => {
    // A body too large or unreadable is still an answer: refused.
    logger.warn({ err: (err as Error).message }, 'authz request could not be read: refused');
    return reply.code(200).send({ Allow: false, Msg: 'imagetrust: the request could not be read', Err: '' });
  });
  app.post('/Plugin.Activate', async () => ({ Implements: ['authz'] }));
  app.post('/AuthZPlugin.AuthZReq', async (req) => {
    const request = readRequest(req.body);
    let decision: Decision;
    try {
      decision = await admission.decide(request);
    } catch (err) {
      // Never reached by design (decide fails closed itself); if it is, refuse.
      logger.error({ err }, 'admission failed: refused');
      return { Allow: false, Msg: 'imagetrust: admission failed', Err: '' };
    }
    decisions.inc({ action: decision.action, verdict: decision.verdict });
    if (decision.action !== 'read') {
      if (request.image !== undefined || request.container !== undefined)
        duration.observe(decision.durationMs / 1000);
      try {
        writeSync(audit, auditLine(decision));
      } catch (err) {
        logger.error({ err }, 'cannot write the admission audit log');
      }
      if (decision.verdict !== 'allowed') {
        recent.push(decision);
        if (recent.length > RECENT) recent.shift();
        logger.warn({ decision }, decision.allow ? 'would refuse (dry run)' : 'refused');
      }
    }
    return {
      Allow: decision.allow,
      ...(decision.allow ? {} : { Msg: decision.message ?? 'imagetrust: refused' }),
    };
  });
  app.post('/AuthZPlugin.AuthZRes', async () => ({ Allow: true }));
  mkdirSync(dirname(options.socketPath), { recursive: true });
  rmSync(options.socketPath, { force: true });
  await app.listen({ path: options.socketPath });
  return {
    app,
    registry,
    recent: () => recent.slice(),
    async close() {
      await app.close();
      rmSync(options.socketPath, { force: true });
      closeSync(audit);
    },
  };
}
