// CallResource: the app pages and the data source's frontend reach the agent API through
// Grafana (`/api/datasources/uid/<uid>/resources/<path>`), which calls this backend; the
// backend adds the token, so the browser never holds it. Only the paths below are proxied,
// each with its methods and query parameters; anything else is 404/405/400 without a request
// to the agent. Bodies are bounded (64 KiB, JSON objects only); answers are streamed back with
// their status and content type only, and bounded like query answers.
//
// | resource path        | method | agent route                    | query parameters / body          |
// |----------------------|--------|--------------------------------|----------------------------------|
// | `api`                | GET    | /api/v1                        | —                                |
// | `nodes`              | GET    | /api/v1/nodes                  | —                                |
// | `summary`            | GET    | /api/v1/summary                | —                                |
// | `containers`         | GET    | /api/v1/containers             | node, status, scope              |
// | `images`             | GET    | /api/v1/images                 | node, status                     |
// | `history`            | GET    | /api/v1/history                | from, to, node, step             |
// | `events`             | GET    | /api/v1/events                 | from, to, node, limit            |
// | `ledger/statements`  | GET    | /api/v1/ledger/statements      | digest                           |
// | `admission/refusals` | GET    | /api/v1/admission/refusals     | —                                |
// | `verify`             | POST   | /api/v1/verify                 | body {node?, container?, all?}   |

import { asImagetrustError, ImagetrustError } from '../errors';
import type { AgentClient } from './client';
import type { CallLimits } from './data';
import type { CallResourceRequest, CallResourceResponse } from './protocol';

interface Route {
  method: 'GET' | 'POST';
  agentPath: string;
  params: readonly string[];
}

export const RESOURCE_ROUTES: Readonly<Record<string, Route>> = Object.freeze({
  api: { method: 'GET', agentPath: '', params: [] },
  nodes: { method: 'GET', agentPath: '/nodes', params: [] },
  summary: { method: 'GET', agentPath: '/summary', params: [] },
  containers: { method: 'GET', agentPath: '/containers', params: ['node', 'status', 'scope'] },
  images: { method: 'GET', agentPath: '/images', params: ['node', 'status'] },
  history: { method: 'GET', agentPath: '/history', params: ['from', 'to', 'node', 'step'] },
  events: { method: 'GET', agentPath: '/events', params: ['from', 'to', 'node', 'limit'] },
  'ledger/statements': { method: 'GET', agentPath: '/ledger/statements', params: ['digest'] },
  'admission/refusals': { method: 'GET', agentPath: '/admission/refusals', params: [] },
  verify: { method: 'POST', agentPath: '/verify', params: [] },
});

export const MAX_RESOURCE_BODY_BYTES = 64 * 1024;
const MAX_PARAM_CHARS = 512;
const VERIFY_FIELDS = ['node', 'container', 'all'];

function answer(code: number, body: unknown): CallResourceResponse {
  return {
    code,
    headers: { 'content-type': { values: ['application/json; charset=utf-8'] } },
    body: Buffer.from(JSON.stringify(body)),
  };
}

export function errorAnswer(err: ImagetrustError): CallResourceResponse {
  const status = typeof err.details?.status === 'number' ? err.details.status : err.httpStatus;
  const field = typeof err.details?.field === 'string' ? { field: err.details.field } : {};
  return answer(status, { error: { code: err.code, message: err.message, ...field } });
}

function bad(message: string, field?: string): ImagetrustError {
  return new ImagetrustError('BAD_REQUEST', message, field ? { details: { field } } : {});
}

/** The route and agent query of a request, or a typed error (status in details). */
export function resolveResource(req: Pick<CallResourceRequest, 'path' | 'method' | 'url' | 'body'>): {
  route: Route;
  query: Record<string, string>;
  body?: Buffer;
} {
  const path = (req.path ?? '').replace(/^\/+|\/+$/g, '');
  const route = Object.prototype.hasOwnProperty.call(RESOURCE_ROUTES, path)
    ? RESOURCE_ROUTES[path]
    : undefined;
  if (!route) {
    throw new ImagetrustError(
      'NOT_FOUND',
      `no resource ${JSON.stringify(path)}; one of ${Object.keys(RESOURCE_ROUTES).join(', ')}`,
    );
  }
  const method = (req.method || 'GET').toUpperCase();
  if (method !== route.method) {
    throw new ImagetrustError('BAD_REQUEST', `${path} takes ${route.method}, not ${method}`, {
      details: { status: 405 },
    });
  }
  const query: Record<string, string> = {};
  const qIndex = (req.url ?? '').indexOf('?');
  if (qIndex >= 0) {
    const params = new URLSearchParams(req.url.slice(qIndex + 1));
    for (const [k, v] of params) {
      if (!route.params.includes(k)) throw bad(`${k}: unknown parameter`, k);
      if (v.length > MAX_PARAM_CHARS) throw bad(`${k}: longer than ${MAX_PARAM_CHARS} characters`, k);
      query[k] = v;
    }
  }
  if (route.method === 'GET') {
    if (req.body && req.body.length > 0) throw bad(`${path} takes no body`);
    return { route, query };
  }
  const body = req.body ?? Buffer.alloc(0);
  if (body.length > MAX_RESOURCE_BODY_BYTES) {
    throw new ImagetrustError('LIMIT_EXCEEDED', `the body is larger than ${MAX_RESOURCE_BODY_BYTES} bytes`, {
      details: { status: 413 },
    });
  }
  let parsed: unknown = {};
  if (body.length > 0) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw bad('the body is not JSON', 'body');
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw bad('expected a JSON object', 'body');
  for (const k of Object.keys(parsed)) if (!VERIFY_FIELDS.includes(k)) throw bad(`${k}: unknown field`, k);
  return { route, query, body: Buffer.from(JSON.stringify(parsed)) };
}

/** The answer as a stream of messages: status and content type first, then body chunks. */
export async function* callResource(
  req: CallResourceRequest,
  client: () => AgentClient,
  limits: CallLimits,
): AsyncGenerator<CallResourceResponse> {
  let resolved: ReturnType<typeof resolveResource>;
  let agent: AgentClient;
  try {
    resolved = resolveResource(req);
    agent = client();
  } catch (err) {
    yield errorAnswer(asImagetrustError(err));
    return;
  }
  let raw;
  try {
    raw = await agent.raw({
      method: resolved.route.method,
      path: resolved.route.agentPath,
      query: resolved.query,
      ...(resolved.body ? { body: resolved.body } : {}),
      ...limits,
    });
  } catch (err) {
    yield errorAnswer(asImagetrustError(err));
    return;
  }
  const headers: CallResourceResponse['headers'] = raw.contentType
    ? { 'content-type': { values: [raw.contentType] } }
    : {};
  let first = true;
  for await (const chunk of raw.body) {
    yield first ? { code: raw.status, headers, body: chunk } : { code: 0, headers: {}, body: chunk };
    first = false;
  }
  if (first) yield { code: raw.status, headers, body: Buffer.alloc(0) };
}
