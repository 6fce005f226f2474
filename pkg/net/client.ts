// TLS for imagetrust's HTTP clients (agent → peers, agent and CLI → a remote ledger,
// `witness serve --verify-index` → the ledger). Servers are trusted if their certificate
// chains to Node's built-in CA store, to the CAs in NODE_EXTRA_CA_CERTS, or to the CA file
// given with --tls-ca; a client certificate (--tls-client-cert/--tls-client-key) is
// presented to servers that ask for one (mutual TLS between agents).
//
// How to use it in a client (the peers, the remote ledger):
//
//   const tls = loadClientTls({ ca: config.tlsCa, cert: config.tlsClientCert, key: config.tlsClientKey }, env);
//   const fetchFn = clientFetch(tls);       // typeof fetch; the global fetch when tls is undefined
//   const res = await fetchFn(url, { headers, signal: AbortSignal.timeout(ms) });
//
// clientFetch answers a standard Response whose body streams in (read it bounded). It does
// not follow redirects (a redirect is answered as it is, status 3xx): none of imagetrust's
// servers redirects, and a client that follows one can be sent anywhere.

import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { ImagetrustError } from '../errors';
import { MAX_PEM_BYTES, readBoundedFile } from './files';

/** The files a client's TLS is configured with. */
export interface ClientTlsFiles {
  /** Extra CAs (PEM) to trust besides the built-in store and NODE_EXTRA_CA_CERTS. */
  ca?: string | undefined;
  /** A client certificate (PEM) for servers that require one, with its key. */
  cert?: string | undefined;
  key?: string | undefined;
}

/** Loaded TLS material for clients. */
export interface ClientTls {
  /** Every CA trusted: built-in store + NODE_EXTRA_CA_CERTS + the --tls-ca file. */
  ca: string[];
  cert?: Buffer;
  key?: Buffer;
}

export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Reads the client TLS files; undefined when none is given (the global fetch already trusts
 * the built-in store and NODE_EXTRA_CA_CERTS). Errors are CONFIG_INVALID naming the file; a
 * client key readable by group or others is refused.
 */
export function loadClientTls(
  files: ClientTlsFiles,
  env: NodeJS.ProcessEnv = process.env,
): ClientTls | undefined {
  if (!files.ca && !files.cert && !files.key) return undefined;
  if (!files.cert !== !files.key)
    throw new ImagetrustError('CONFIG_INVALID', 'give both --tls-client-cert FILE and --tls-client-key FILE');
  const ca = [...rootCertificates, ...extraCaCertificates(env)];
  if (files.ca) ca.push(...pemCertificates(readPem(files.ca, 'TLS CA', false), files.ca));
  return {
    ca,
    ...(files.cert ? { cert: readPem(files.cert, 'TLS client certificate', false) } : {}),
    ...(files.key ? { key: readPem(files.key, 'TLS client key', true) } : {}),
  };
}

function readPem(path: string, what: string, secret: boolean): Buffer {
  const pem = readBoundedFile(path, { what, maxBytes: MAX_PEM_BYTES, secret });
  if (!/-----BEGIN [A-Z ]+-----/.test(pem.toString('latin1')))
    throw new ImagetrustError('CONFIG_INVALID', `${what} ${path} is not a PEM file`);
  return pem;
}

function pemCertificates(pem: Buffer, path: string): string[] {
  const certs = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  if (!certs) throw new ImagetrustError('CONFIG_INVALID', `TLS CA ${path} holds no certificate`);
  return certs;
}

/**
 * NODE_EXTRA_CA_CERTS, which Node adds to its default store at startup: giving `ca` to an
 * agent replaces that store, so it is added back here. A missing file is ignored, as Node does.
 */
function extraCaCertificates(env: NodeJS.ProcessEnv): string[] {
  const path = env.NODE_EXTRA_CA_CERTS;
  if (!path) return [];
  try {
    const text = readFileSync(path, 'latin1').slice(0, 16 * MAX_PEM_BYTES);
    return text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  } catch {
    return [];
  }
}

function headerRecord(headers: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(headers ?? {}).forEach((value, name) => (out[name] = value));
  return out;
}

function bodyBytes(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new ImagetrustError('INTERNAL', 'clientFetch sends string or byte bodies only');
}

const NULL_BODY = new Set([101, 204, 205, 304]);

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const status = res.statusCode ?? 502;
  const hasBody = !NULL_BODY.has(status);
  if (!hasBody) res.resume();
  return new Response(hasBody ? (Readable.toWeb(res) as ReadableStream<Uint8Array>) : null, {
    status: status < 200 || status > 599 ? 502 : status,
    statusText: res.statusMessage ?? '',
    headers,
  });
}

/**
 * A fetch that uses `tls` for https: URLs (http: URLs and an undefined `tls` go to the global
 * fetch). One keep-alive agent per call of clientFetch: make it once per client.
 */
export function clientFetch(tls: ClientTls | undefined): FetchFunction {
  if (!tls) return (input, init) => fetch(input, init);
  const agent = new HttpsAgent({
    keepAlive: true,
    ca: tls.ca,
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
  });
  return (input, init = {}) => {
    const url = new URL(String(input));
    if (url.protocol !== 'https:') return fetch(input, init);
    return new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const body = bodyBytes(init.body);
      const req = httpsRequest(url, {
        agent,
        method: init.method ?? 'GET',
        headers: {
          ...headerRecord(init.headers),
          ...(body ? { 'content-length': String(body.length) } : {}),
        },
      });
      const onAbort = (): void => {
        req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      });
      req.on('response', (res) => {
        // The signal keeps covering the body: an abort while it streams in breaks the read.
        res.on('close', () => signal?.removeEventListener('abort', onAbort));
        try {
          resolve(toResponse(res));
        } catch (err) {
          res.destroy();
          reject(err);
        }
      });
      req.end(body);
    });
  };
}
