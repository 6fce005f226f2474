// The agent's HTTP API (fastify), versioned under /api/v1, JSON. The app factory is separate
// from listen(); a bearer token is required when configured (compared in constant time);
// bad query parameters get a 400 that names the field.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ImagetrustError, asImagetrustError } from '../errors';
import type { Agent } from './agent';
import { isImageDigest } from '../ledger/statement';
import { MAX_POINTS } from './history';
import { CONTAINER_STATUSES } from './types';

export const API_VERSION = 'v1';
const API = `/api/${API_VERSION}`;

export interface ApiOptions {
  agent: Agent;
  token?: string;
  logger?: boolean | object;
  clock?: () => number;
  /** Extra routes (metrics) registered on the same app. */
  extend?: (app: FastifyInstance) => void;
}

function fieldError(field: string, message: string): ImagetrustError {
  return new ImagetrustError('BAD_REQUEST', `${field}: ${message}`, { details: { field } });
}

function digestOfToken(t: string): Buffer {
  return createHash('sha256').update(t, 'utf8').digest();
}

export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer (.+)$/i.exec(header ?? '');
  // Hash both sides so the comparison is constant-time whatever the lengths.
  return m !== null && timingSafeEqual(digestOfToken((m[1] as string).trim()), expected);
}

function parseTime(value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string') throw fieldError(field, 'expected a time');
  if (/^\d{1,16}$/.test(value)) return Number(value);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw fieldError(field, 'expected RFC 3339 or milliseconds since the epoch');
  return t;
}

/** A step in seconds (`60`) or with a unit (`30s`, `5m`, `1h`). */
function parseStep(value: unknown): number {
  if (value === undefined || value === '') return 60_000;
  const m = typeof value === 'string' ? /^(\d{1,9})(ms|s|m|h|d)?$/.exec(value) : null;
  if (!m) throw fieldError('step', 'expected seconds or a duration like 30s, 5m, 1h');
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    (m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  const ms = Number(m[1]) * unit;
  if (ms < 1000) throw fieldError('step', 'at least one second');
  return ms;
}

function parseNode(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > 253) throw fieldError('node', 'expected a node name');
  return value;
}

function parseStatus(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !(CONTAINER_STATUSES as readonly string[]).includes(value)) {
    throw fieldError('status', `expected one of ${CONTAINER_STATUSES.join(', ')}`);
  }
  return value;
}

const KNOWN_QUERY: Record<string, string[]> = {
  containers: ['node', 'status', 'scope'],
  images: ['node', 'status'],
  history: ['from', 'to', 'node', 'step'],
  events: ['from', 'to', 'node', 'limit'],
};

function rejectUnknown(req: FastifyRequest, route: keyof typeof KNOWN_QUERY): Record<string, unknown> {
  const q = (req.query ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(q))
    if (!KNOWN_QUERY[route]?.includes(k)) throw fieldError(k, 'unknown parameter');
  return q;
}

export function buildAgentApi(options: ApiOptions): FastifyInstance {
  const { agent } = options;
  const clock = options.clock ?? Date.now;
  const expected = options.token ? digestOfToken(options.token) : undefined;
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 64 * 1024 });

  app.setErrorHandler((err: unknown, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof ImagetrustError) && status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: { code: 'BAD_REQUEST', message: (err as Error).message } });
    }
    const e = asImagetrustError(err);
    return reply.code(e.httpStatus).send({
      error: { code: e.code, message: e.message, ...(e.details?.field ? { field: e.details.field } : {}) },
    });
  });

  app.addHook('onRequest', async (req, reply) => {
    // Routes marked public (health; the witness endpoint, as a ledger server has no agent token).
    if (!expected || (req.routeOptions.config as { public?: boolean } | undefined)?.public) return;
    if (!bearerMatches(req.headers.authorization, expected)) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } });
    }
  });

  app.get('/healthz', { config: { public: true } }, async () => ({
    ok: true,
    node: agent.nodeName,
    status: agent.monitor.state().status,
  }));

  app.get(API, async () => ({
    api: API_VERSION,
    node: agent.nodeName,
    peers: agent.fleet?.peers.length ?? 0,
  }));

  app.get(`${API}/local`, async () => agent.local());

  // Answers computed from the agent's view are reused, serialized, until the view changes:
  // 50 dashboard panels asking at once cost one computation.
  const answers = new Map<string, string>();
  let answersOf = '';
  const cached = async (
    req: FastifyRequest,
    reply: FastifyReply,
    compute: () => Promise<unknown>,
  ): Promise<FastifyReply> => {
    const generation = `${agent.monitor.generation}/${agent.fleet?.generation ?? 0}`;
    if (generation !== answersOf) {
      answers.clear();
      answersOf = generation;
    }
    const key = req.url;
    let body = answers.get(key);
    if (body === undefined) {
      body = JSON.stringify(await compute());
      if (answers.size < 256) answers.set(key, body);
    }
    return reply.type('application/json; charset=utf-8').send(body);
  };

  app.get(`${API}/nodes`, async () => ({ nodes: await agent.nodes() }));

  app.get(`${API}/containers`, async (req, reply) => {
    const q = rejectUnknown(req, 'containers');
    const filter = { node: parseNode(q.node), status: parseStatus(q.status) };
    if (q.scope !== undefined && q.scope !== 'local' && q.scope !== 'fleet')
      throw fieldError('scope', 'expected local or fleet');
    return cached(req, reply, async () => ({
      containers:
        q.scope === 'local'
          ? agent.local().containers.filter((c) => !filter.status || c.status === filter.status)
          : await agent.containers(filter),
    }));
  });

  app.get(`${API}/images`, async (req) => {
    const q = rejectUnknown(req, 'images');
    return { images: await agent.images({ node: parseNode(q.node), status: parseStatus(q.status) }) };
  });

  app.get(`${API}/summary`, async (req, reply) => cached(req, reply, () => agent.summary()));

  app.get(`${API}/history`, async (req) => {
    const q = rejectUnknown(req, 'history');
    const now = clock();
    const to = parseTime(q.to, 'to', now);
    const from = parseTime(q.from, 'from', to - 3_600_000);
    if (from > to) throw fieldError('from', 'must not be after to');
    const step = parseStep(q.step);
    const points = Math.floor((to - from) / step) + 1;
    if (points > MAX_POINTS) throw fieldError('step', `${points} points asked for, at most ${MAX_POINTS}`);
    if (!agent.history) return { from, to, step: step / 1000, points: [] };
    return { from, to, step: step / 1000, points: agent.history.series(from, to, step, parseNode(q.node)) };
  });

  app.get(`${API}/events`, async (req) => {
    const q = rejectUnknown(req, 'events');
    const now = clock();
    const to = parseTime(q.to, 'to', now);
    const from = parseTime(q.from, 'from', to - 86_400_000);
    if (from > to) throw fieldError('from', 'must not be after to');
    const limit = q.limit === undefined ? 1000 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw fieldError('limit', 'expected 1 to 10000');
    return { events: agent.history ? agent.history.events(from, to, parseNode(q.node), limit) : [] };
  });

  app.get(`${API}/ledger/statements`, async (req) => {
    const q = (req.query ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(q)) if (k !== 'digest') throw fieldError(k, 'unknown parameter');
    if (typeof q.digest !== 'string' || !isImageDigest(q.digest))
      throw fieldError('digest', 'expected sha256:<64 hex>');
    if (!agent.ledger)
      throw new ImagetrustError('NOT_FOUND', 'this agent verifies with a command, not a ledger');
    return agent.ledger.statements(q.digest);
  });

  app.post(`${API}/verify`, async (req) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw fieldError('body', 'expected an object');
    for (const k of Object.keys(body))
      if (!['node', 'container', 'all'].includes(k)) throw fieldError(k, 'unknown field');
    const node = parseNode(body.node);
    if (
      body.container !== undefined &&
      (typeof body.container !== 'string' || body.container.length === 0 || body.container.length > 256)
    ) {
      throw fieldError('container', 'expected a container id or name');
    }
    if (body.all !== undefined && typeof body.all !== 'boolean')
      throw fieldError('all', 'expected true or false');
    if (body.all === true && node === undefined) {
      const nodes = [
        agent.nodeName,
        ...(agent.fleet ? (await agent.nodes()).filter((n) => !n.local).map((n) => n.node) : []),
      ];
      const settled = await Promise.allSettled(nodes.map((n) => agent.verifyNow({ node: n })));
      return { containers: settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : [])) };
    }
    const target = {
      ...(node === undefined ? {} : { node }),
      ...(typeof body.container === 'string' ? { container: body.container } : {}),
    };
    return { containers: await agent.verifyNow(target) };
  });

  options.extend?.(app);
  return app;
}
