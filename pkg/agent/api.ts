// The /api/v1 HTTP API (fastify), JSON, of an agent or of `fleet serve` (the same routes over
// an ApiSource). The app factory is separate from listen(); a bearer token is required when
// configured (compared in constant time); bad query parameters get a 400 that names the field.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ImagetrustError, asImagetrustError } from '../errors';
import { createListener, type ServerTls } from '../net/server';
import { isImageDigest } from '../ledger/statement';
import { MAX_POINTS } from './series';
import type { ApiSource } from './source';
import type { LocalView } from './views';
import { CONTAINER_STATUSES } from './types';

export const API_VERSION = 'v1';
const API = `/api/${API_VERSION}`;
/** How much serialized answer text is kept for reuse (characters, about bytes). */
const ANSWER_CACHE_BYTES = 8 * 1024 * 1024;

export interface ApiOptions {
  /** What the API answers from: an Agent, or the fleet store. */
  source: ApiSource;
  token?: string;
  /**
   * The peer credential: accepted besides the token with a read-only scope, what peers ask
   * each other (GET /api/v1/local, POST /api/v1/verify of this node alone), nothing else.
   */
  peerToken?: string;
  logger?: boolean | object;
  clock?: () => number;
  /** Extra routes (metrics) registered on the same app. */
  extend?: (app: FastifyInstance) => void;
  /** HTTPS (pkg/net/server.ts); plain HTTP when undefined. */
  tls?: ServerTls;
  /** Requests a second per client address (0 or undefined: none; the agent command passes its --rate-limit). */
  rateLimit?: number;
  /** Told of each certificate reload on SIGHUP (undefined: it worked). */
  onTlsReload?: (err: ImagetrustError | undefined) => void;
}

/** Bodies: the verify request is small; the witness endpoint (extend) takes a checkpoint. */
export const API_BODY_LIMIT = 16 * 1024;

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
  const { source } = options;
  const clock = options.clock ?? Date.now;
  const expected = options.token ? digestOfToken(options.token) : undefined;
  const peerExpected = options.peerToken ? digestOfToken(options.peerToken) : undefined;
  const peerScoped = new WeakSet<FastifyRequest>();
  const app = createListener({
    logger: options.logger ?? false,
    bodyLimit: API_BODY_LIMIT,
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
    const e = asImagetrustError(err);
    return reply.code(e.httpStatus).send({
      error: { code: e.code, message: e.message, ...(e.details?.field ? { field: e.details.field } : {}) },
    });
  });

  app.addHook('onRequest', async (req, reply) => {
    // Routes marked public (health; the witness endpoint, as a ledger server has no agent token).
    if (!expected || (req.routeOptions.config as { public?: boolean } | undefined)?.public) return;
    if (bearerMatches(req.headers.authorization, expected)) return;
    if (peerExpected && bearerMatches(req.headers.authorization, peerExpected)) {
      const route = `${req.method} ${req.routeOptions.url ?? ''}`;
      if (route === `GET ${API}/local` || route === `POST ${API}/verify`) return void peerScoped.add(req);
      await reply
        .code(403)
        .send({ error: { code: 'FORBIDDEN', message: 'the peer credential may only read this node' } });
      return;
    }
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } });
  });

  app.get('/healthz', { config: { public: true } }, async (_req, reply) => {
    const health = await source.health();
    return reply.code(health.ok ? 200 : 503).send({ ...health, ...source.describe() });
  });

  app.get(API, async () => ({ api: API_VERSION, ...source.describe() }));

  const local = (): LocalView => {
    if (!source.local)
      throw new ImagetrustError('NOT_FOUND', 'this server answers for a fleet, not for one node');
    return source.local();
  };
  app.get(`${API}/local`, async () => local());

  // Answers computed from the agent's view are reused, serialized, until the view changes:
  // 50 dashboard panels asking at once cost one computation. At most ANSWER_CACHE_BYTES of
  // them are kept: every spelling of a query is its own key (`?node=%62`), and a
  // 1,000-container answer is half a megabyte.
  const answers = new Map<string, string>();
  let answersOf = '';
  let answerBytes = 0;
  const cached = async (
    req: FastifyRequest,
    reply: FastifyReply,
    compute: () => Promise<unknown>,
  ): Promise<FastifyReply> => {
    const generation = source.generation;
    if (generation !== answersOf) {
      answers.clear();
      answerBytes = 0;
      answersOf = generation;
    }
    const key = req.url;
    let body = answers.get(key);
    if (body === undefined) {
      body = JSON.stringify(await compute());
      // Not kept if the view changed meanwhile, or if there is no room left.
      if (answersOf === generation && answerBytes + body.length <= ANSWER_CACHE_BYTES) {
        answers.set(key, body);
        answerBytes += body.length;
      }
    }
    return reply.type('application/json; charset=utf-8').send(body);
  };

  app.get(`${API}/nodes`, async () => ({ nodes: await source.nodes() }));

  app.get(`${API}/containers`, async (req, reply) => {
    const q = rejectUnknown(req, 'containers');
    const filter = { node: parseNode(q.node), status: parseStatus(q.status) };
    if (q.scope !== undefined && q.scope !== 'local' && q.scope !== 'fleet')
      throw fieldError('scope', 'expected local or fleet');
    return cached(req, reply, async () => ({
      containers:
        q.scope === 'local'
          ? local().containers.filter((c) => !filter.status || c.status === filter.status)
          : await source.containers(filter),
    }));
  });

  app.get(`${API}/images`, async (req) => {
    const q = rejectUnknown(req, 'images');
    return { images: await source.images({ node: parseNode(q.node), status: parseStatus(q.status) }) };
  });

  app.get(`${API}/summary`, async (req, reply) => cached(req, reply, () => source.summary()));

  app.get(`${API}/history`, async (req) => {
    const q = rejectUnknown(req, 'history');
    const now = clock();
    const to = parseTime(q.to, 'to', now);
    const from = parseTime(q.from, 'from', to - 3_600_000);
    if (from > to) throw fieldError('from', 'must not be after to');
    const step = parseStep(q.step);
    const points = Math.floor((to - from) / step) + 1;
    if (points > MAX_POINTS) throw fieldError('step', `${points} points asked for, at most ${MAX_POINTS}`);
    return { from, to, step: step / 1000, points: await source.series(from, to, step, parseNode(q.node)) };
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
    return { events: await source.events(from, to, parseNode(q.node), limit) };
  });

  app.get(`${API}/ledger/statements`, async (req) => {
    const q = (req.query ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(q)) if (k !== 'digest') throw fieldError(k, 'unknown parameter');
    if (typeof q.digest !== 'string' || !isImageDigest(q.digest))
      throw fieldError('digest', 'expected sha256:<64 hex>');
    return source.statements(q.digest);
  });

  app.post(`${API}/verify`, { bodyLimit: 4096 }, async (req) => {
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
    // A peer re-verifies this node only: never the fleet, never a hop to another peer.
    if (peerScoped.has(req) && (body.all === true || (node !== undefined && node !== local().node.node)))
      throw new ImagetrustError('FORBIDDEN', 'the peer credential may only re-verify this node');
    // Every node; the ones that could not be reached are listed in `unreachable`.
    if (body.all === true && node === undefined) return source.verifyAll();
    const target = {
      ...(node === undefined ? {} : { node }),
      ...(typeof body.container === 'string' ? { container: body.container } : {}),
    };
    return { containers: await source.verifyNow(target) };
  });

  options.extend?.(app);
  return app;
}
