// How every imagetrust listener is built (agent API, `ledger serve`, `witness serve`,
// `fleet serve`, authz's TCP metrics): fastify with HTTPS from certificate files when given
// (reloaded on SIGHUP through server.setSecureContext; optionally requiring client
// certificates), and bounds that keep one client from holding the server: header, URL and
// body limits, request, header and idle timeouts, idle connections closed at shutdown, and
// a per-client rate limit (health and metrics exempt). Errors keep the project's JSON shape
// `{"error": {"code", "message"}}`.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { ImagetrustError } from '../errors';
import { MAX_PEM_BYTES, readBoundedFile } from './files';

/** Certificate files of a TLS listener, as given with --tls-cert, --tls-key, --tls-client-ca. */
export interface ServerTlsFiles {
  cert: string;
  key: string;
  /** Require a client certificate issued by one of these CAs (mutual TLS). */
  clientCa?: string;
}

/** The loaded, checked TLS material of a listener and the files it came from. */
export interface ServerTls {
  files: ServerTlsFiles;
  context: { cert: Buffer; key: Buffer; ca?: Buffer };
}

/** Bounds every listener has; each can be changed, none can be switched off but the rate limit. */
export const SERVER_LIMITS = {
  /** Request line and headers together (Node's default too): more is 431. */
  maxHeaderBytes: 16 * 1024,
  /** The request target alone: more is 414. */
  maxUrlBytes: 8 * 1024,
  /** The whole request head must arrive within this, or the connection is closed (408). */
  headersTimeoutMs: 10_000,
  /** The whole request, body included. */
  requestTimeoutMs: 30_000,
  /** A connection on which nothing moves for this long is closed. */
  connectionTimeoutMs: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** At shutdown, requests still running get this long before their connections are cut. */
  closeGraceMs: 2_000,
} as const;

/**
 * The commands' default for requests a second one client address may make, averaged over
 * RATE_WINDOW_MS (a burst of ten times this passes). App factories default to no limit, so that
 * in-process tests are not limited; the commands pass `--rate-limit` or this.
 */
export const DEFAULT_RATE_LIMIT = 100;
/** `ledger serve`'s default: an agent's cold pass asks for one lookup per image. */
export const DEFAULT_LEDGER_RATE_LIMIT = 1000;
/** `fleet serve`'s default: one Grafana server asks for every dashboard viewer of the fleet. */
export const DEFAULT_FLEET_RATE_LIMIT = 1000;
const RATE_WINDOW_MS = 10_000;

export interface ListenerOptions {
  /** HTTPS with these certificates; plain HTTP when undefined. */
  tls?: ServerTls;
  /** The default body limit (bytes); routes that take more say so themselves (`bodyLimit`). */
  bodyLimit: number;
  /** Requests a second per client address (0 or undefined: none). */
  rateLimit?: number;
  /** Routes never rate-limited (health, metrics: probes and scrapers ask often). */
  unlimited?: readonly string[];
  logger?: boolean | object;
  /** Told of every certificate reload on SIGHUP: undefined when it worked, else why not. */
  onReload?: (err: ImagetrustError | undefined) => void;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;

function pemFile(path: string, what: string, secret: boolean): Buffer {
  const pem = readBoundedFile(path, { what, maxBytes: MAX_PEM_BYTES, secret });
  if (!/-----BEGIN [A-Z ]+-----/.test(pem.toString('latin1')))
    throw new ImagetrustError('CONFIG_INVALID', `${what} ${path} is not a PEM file`);
  return pem;
}

/**
 * Reads and checks a listener's certificate, key and client CA: every problem is
 * CONFIG_INVALID naming the file (missing, too large, key readable by others, not PEM, key
 * and certificate that do not belong together).
 */
export function loadServerTls(files: ServerTlsFiles): ServerTls {
  const cert = pemFile(files.cert, 'TLS certificate', false);
  if (!PEM_CERT.test(cert.toString('latin1')))
    throw new ImagetrustError('CONFIG_INVALID', `TLS certificate ${files.cert} holds no certificate`);
  const key = pemFile(files.key, 'TLS key', true);
  const ca = files.clientCa ? pemFile(files.clientCa, 'TLS client CA', false) : undefined;
  const context = { cert, key, ...(ca ? { ca } : {}) };
  try {
    createSecureContext(context);
  } catch (err) {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `TLS certificate ${files.cert} and key ${files.key} cannot be used together${ca ? ` with client CA ${files.clientCa}` : ''}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { files, context };
}

/** TLS files from flags: both of --tls-cert and --tls-key, or neither. */
export function serverTlsFrom(flags: {
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsClientCa?: string | undefined;
}): ServerTls | undefined {
  const { tlsCert, tlsKey, tlsClientCa } = flags;
  if (!tlsCert && !tlsKey) {
    if (tlsClientCa)
      throw new ImagetrustError('CONFIG_INVALID', '--tls-client-ca needs --tls-cert and --tls-key');
    return undefined;
  }
  if (!tlsCert || !tlsKey)
    throw new ImagetrustError('CONFIG_INVALID', 'give both --tls-cert FILE and --tls-key FILE');
  return loadServerTls({ cert: tlsCert, key: tlsKey, ...(tlsClientCa ? { clientCa: tlsClientCa } : {}) });
}

/** `--rate-limit N`: requests a second per client address, 0 for none. */
export function parseRateLimit(
  text: string | number | undefined,
  fallback = DEFAULT_RATE_LIMIT,
  flag = '--rate-limit',
): number {
  if (text === undefined || text === '') return fallback;
  const n = typeof text === 'number' ? text : /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 0)
    throw new ImagetrustError('CONFIG_INVALID', `${flag} ${text}: requests a second, 0 for no limit`);
  return n;
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/**
 * Answers what Node's parser refuses before fastify sees a request (header too large,
 * request head too slow, malformed), in the project's error shape, and closes the connection.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body =
    status === 431
      ? errorBody(
          'LIMIT_EXCEEDED',
          `request line and headers are larger than ${SERVER_LIMITS.maxHeaderBytes} bytes`,
        )
      : status === 408
        ? errorBody(
            'BAD_REQUEST',
            `the request did not arrive within ${SERVER_LIMITS.requestTimeoutMs / 1000} s`,
          )
        : errorBody('BAD_REQUEST', 'malformed HTTP request');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.destroySoon();
}

/** Fastify's options for a listener (exported for tests; use createListener). */
export function listenerServerOptions(
  options: ListenerOptions,
): FastifyServerOptions & Record<string, unknown> {
  const node = {
    maxHeaderSize: SERVER_LIMITS.maxHeaderBytes,
    headersTimeout: SERVER_LIMITS.headersTimeoutMs,
    // How often Node checks for requests past headersTimeout / requestTimeout (30 s by default).
    connectionsCheckingInterval: 1_000,
  };
  const tls = options.tls
    ? {
        https: {
          ...node,
          ...options.tls.context,
          ...(options.tls.context.ca ? { requestCert: true, rejectUnauthorized: true } : {}),
        },
      }
    : { http: node };
  return {
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit,
    connectionTimeout: SERVER_LIMITS.connectionTimeoutMs,
    keepAliveTimeout: SERVER_LIMITS.keepAliveTimeoutMs,
    requestTimeout: SERVER_LIMITS.requestTimeoutMs,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    clientErrorHandler,
    ...tls,
  };
}

/**
 * What an error thrown in a route becomes: an ImagetrustError keeps its code and status;
 * fastify's own client errors keep their status (413 body too large is LIMIT_EXCEEDED, the
 * rest BAD_REQUEST); anything else is INTERNAL, without its message.
 */
export function httpError(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof ImagetrustError) return { status: err.httpStatus, code: err.code, message: err.message };
  const status = (err as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500)
    return {
      status,
      code: status === 413 || status === 429 ? 'LIMIT_EXCEEDED' : 'BAD_REQUEST',
      message: (err as Error).message,
    };
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}

/** Reloads the certificate files on SIGHUP; the old ones stay in use when the new ones are bad. */
function reloadOnHangup(app: FastifyInstance, options: ListenerOptions): void {
  const tls = options.tls;
  if (!tls) return;
  const reload = (): void => {
    try {
      const fresh = loadServerTls(tls.files);
      (app.server as unknown as TlsServer).setSecureContext(fresh.context as SecureContextOptions);
      options.onReload?.(undefined);
    } catch (err) {
      options.onReload?.(
        err instanceof ImagetrustError
          ? err
          : new ImagetrustError('CONFIG_INVALID', `TLS reload failed: ${(err as Error).message}`),
      );
    }
  };
  process.on('SIGHUP', reload);
  app.addHook('onClose', async () => void process.off('SIGHUP', reload));
}

/**
 * Shutdown does not wait for clients: idle keep-alive connections are closed at once, and
 * connections that never got a whole request in (a slowloris) as soon as the requests still
 * running have answered, or after closeGraceMs at the latest.
 */
function closePromptly(app: FastifyInstance): void {
  let running = 0;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  const cutAll = (): void => app.server.closeAllConnections();
  app.addHook('onRequest', async () => void (running += 1));
  app.addHook('onResponse', async () => {
    running -= 1;
    if (closing && running <= 0) setImmediate(cutAll);
  });
  app.addHook('preClose', async () => {
    closing = true;
    app.server.closeIdleConnections();
    if (running === 0) setImmediate(cutAll);
    timer = setTimeout(cutAll, SERVER_LIMITS.closeGraceMs);
    timer.unref();
  });
  app.addHook('onClose', async () => clearTimeout(timer));
}

/**
 * A fastify app for one listener, with the bounds above. Register routes on it as usual;
 * routes that accept larger bodies set `bodyLimit` on the route.
 */
export function createListener(options: ListenerOptions): FastifyInstance {
  const app = Fastify(listenerServerOptions(options) as FastifyServerOptions);
  // Servers with routes of their own errors replace this (setErrorHandler); the shape is the same.
  app.setErrorHandler((err: unknown, _req, reply) => {
    const e = httpError(err);
    return reply.code(e.status).send({ error: { code: e.code, message: e.message } });
  });
  // Unknown routes answer in the same shape as every other error (not fastify's own).
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}` },
    }),
  );
  // First, so that its count of running requests sees every request.
  closePromptly(app);
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.length > SERVER_LIMITS.maxUrlBytes) {
      await reply
        .code(414)
        .type('application/json; charset=utf-8')
        .send(errorBody('LIMIT_EXCEEDED', `the URL is longer than ${SERVER_LIMITS.maxUrlBytes} bytes`));
    }
  });
  const perSecond = options.rateLimit ?? 0;
  if (perSecond > 0) {
    const unlimited = new Set(options.unlimited ?? ['/healthz', '/metrics']);
    // Applied by a hook of this app's own rather than the plugin's `global`, which only reaches
    // routes registered after the plugin has loaded (routes here are added synchronously).
    let limiter: ((req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) | undefined;
    void app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_req, ctx) =>
        new ImagetrustError(
          'LIMIT_EXCEEDED',
          `more than ${ctx.max} requests in ${RATE_WINDOW_MS / 1000} s from this address: retry in ${ctx.after}`,
        ),
    });
    app.after(() => {
      limiter = app.rateLimit({ max: perSecond * (RATE_WINDOW_MS / 1000), timeWindow: RATE_WINDOW_MS });
    });
    app.addHook('onRequest', async (req, reply) => {
      if (limiter && !unlimited.has(req.routeOptions.url ?? '')) await limiter(req, reply);
    });
  }
  reloadOnHangup(app, options);
  return app;
}

/** The scheme a listener speaks, for the address it prints. */
export function listenerScheme(tls: ServerTls | undefined): 'http' | 'https' {
  return tls ? 'https' : 'http';
}
