// A stand-in for the parts of a Grafana server that a plugin meets in the browser: it serves
// the built `dist/` where Grafana serves plugins (/public/plugins/<id>/, ignoring ?_cache=),
// a page with an AMD loader that answers each external by name from the host bundle, and the
// three routes a backend data source's frontend calls, answered as Grafana answers them: by
// calling the backend executable over gRPC (test/integration/harness/grafana-backend.ts) with
// a PluginContext built from the provisioned settings (jsonData.url, the decrypted token):
//   POST /api/ds/query                                → Data.QueryData, frames as Grafana's JSON frames
//   GET  /api/datasources/uid/<uid>/health            → Diagnostics.CheckHealth
//   *    /api/datasources/uid/<uid>/resources/<path>  → Resource.CallResource
// The browser never sees the token: it stays in the PluginContext on this side.

import { build } from 'esbuild';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { parse } from 'yaml';
import {
  toGrafanaJson,
  type BackendProcess,
  type DataSourceSettings as BackendSettings,
  type QueryInput,
} from '../integration/harness/grafana-backend';

export const APP_ID = 'imagetrust-fleet-app';

export interface DataSourceSettings {
  uid: string;
  type: string;
  jsonData: Record<string, string>;
  secureJsonData: Record<string, string>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.md': 'text/plain',
  '.html': 'text/html',
};

/** What the backend gets for a data source: jsonData.url and the decrypted secureJsonData.token. */
export function backendSettings(ds: DataSourceSettings): BackendSettings {
  return {
    uid: ds.uid,
    name: ds.uid,
    jsonData: ds.jsonData,
    ...(ds.secureJsonData.token === undefined ? {} : { token: ds.secureJsonData.token }),
  };
}

/** The provisioned settings of a data source, with $VARS from the environment expanded as Grafana does. */
export function provisionedDataSource(
  repo: string,
  uid: string,
  env: Record<string, string>,
): DataSourceSettings {
  const doc = parse(readFileSync(join(repo, 'provisioning', 'datasources', 'imagetrust.yaml'), 'utf8'));
  const ds = (doc.datasources as (DataSourceSettings & { uid: string })[]).find((d) => d.uid === uid);
  if (!ds) throw new Error(`no provisioned data source ${uid}`);
  const expand = (o: Record<string, string> = {}) =>
    Object.fromEntries(
      Object.entries(o).map(([k, v]) => [
        k,
        String(v).replace(/\$(\w+)/g, (_m, name: string) => env[name] ?? ''),
      ]),
    );
  return { uid, type: ds.type, jsonData: expand(ds.jsonData), secureJsonData: expand(ds.secureJsonData) };
}

export async function buildHost(repo: string): Promise<string> {
  const result = await build({
    entryPoints: [join(repo, 'test', 'browser', 'host.tsx')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"', global: 'window' },
    // Grafana's own stylesheets and fonts are not needed to render the plugin's components.
    loader: {
      '.css': 'empty',
      '.ttf': 'empty',
      '.woff': 'empty',
      '.woff2': 'empty',
      '.svg': 'text',
      '.png': 'empty',
    },
    logLevel: 'silent',
    minify: true,
  });
  return result.outputFiles[0]!.text;
}

function page(): string {
  const bootData = {
    assets: { dark: '', light: '' },
    settings: {
      appSubUrl: '',
      buildInfo: { version: '13.1.1', edition: 'Open Source' },
      featureToggles: {},
      bootData: {},
    },
    user: {
      isSignedIn: true,
      orgId: 1,
      orgRole: 'Admin',
      login: 'admin',
      lightTheme: false,
      timezone: 'utc',
    },
    navTree: [],
  };
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>imagetrust plugin harness</title>
<script>window.grafanaBootData = ${JSON.stringify(bootData)};</script>
<script src="/host.js"></script>
<script>
  // An AMD loader as Grafana's SystemJS has it: 'module' is { uri }, every other dependency
  // is a shared package from the host, answered by name; anything else is an error.
  window.__amd = [];
  window.define = function (name, deps, factory) {
    if (typeof name !== 'string') { factory = deps; deps = name; }
    window.__amd.push({ deps: deps, factory: factory });
  };
  window.define.amd = true;
  window.missingExternals = [];
  window.loadPlugin = function (uri) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement('script');
      s.src = uri + '?_cache=1';
      s.onload = function () {
        var m = window.__amd.pop();
        if (!m) return reject(new Error(uri + ' is not an AMD module'));
        var deps = m.deps.map(function (d) {
          if (d === 'module') return { uri: uri };
          if (Object.prototype.hasOwnProperty.call(window.imagetrustHost.modules, d)) return window.imagetrustHost.modules[d];
          window.missingExternals.push(d);
          return undefined;
        });
        try { resolve(m.factory.apply(null, deps)); } catch (e) { reject(e); }
      };
      s.onerror = function () { reject(new Error('cannot load ' + uri)); };
      document.head.appendChild(s);
    });
  };
</script>
</head><body><div id="root" style="min-height: 100vh; padding: 16px;"></div></body></html>`;
}

export interface HarnessServer {
  url: string;
  /** What the browser asked this server (not the plugin files), with any Authorization it sent. */
  requests: { method: string; path: string; authorization?: string }[];
  /** Every resource call and the status the backend answered it with. */
  resourceLog: string[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A panel query as /api/ds/query carries it → the DataQuery Grafana builds for the backend. */
function queryInput(q: Record<string, unknown>, from: number, to: number): QueryInput {
  return {
    refId: String(q.refId ?? 'A'),
    ...(typeof q.queryType === 'string' ? { queryType: q.queryType } : {}),
    json: q,
    from,
    to,
    ...(typeof q.intervalMs === 'number' ? { intervalMs: q.intervalMs } : {}),
    ...(typeof q.maxDataPoints === 'number' ? { maxDataPoints: q.maxDataPoints } : {}),
  };
}

export async function startHarness(options: {
  repo: string;
  datasource: DataSourceSettings;
  backend: BackendProcess;
}): Promise<HarnessServer> {
  const dist = join(options.repo, 'dist');
  const host = await buildHost(options.repo);
  const { backend } = options;
  const settings = backendSettings(options.datasource);
  const dsPrefix = `/api/datasources/uid/${options.datasource.uid}/`;
  const requests: HarnessServer['requests'] = [];
  const resourceLog: string[] = [];

  const dsQuery = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as {
      queries?: Record<string, unknown>[];
      from?: string;
      to?: string;
    };
    const to = Number(body.to ?? Date.now());
    const from = Number(body.from ?? to - 3_600_000);
    const queries = body.queries ?? [];
    const foreign = queries.find(
      (q) => (q.datasource as { uid?: string } | undefined)?.uid !== options.datasource.uid,
    );
    if (foreign) {
      sendJson(res, 400, { message: `unknown data source ${JSON.stringify(foreign.datasource)}` });
      return;
    }
    const results = await backend.queryData(
      settings,
      queries.map((q) => queryInput(q, from, to)),
    );
    sendJson(res, 200, toGrafanaJson(results));
  };

  const dsHealth = async (res: ServerResponse): Promise<void> => {
    const health = await backend.checkHealth(settings);
    // Grafana answers 200 for OK and 400 with the same body otherwise.
    sendJson(res, health.status === 'OK' ? 200 : 400, {
      status: health.status,
      message: health.message,
      ...(health.details === undefined ? {} : { details: health.details }),
    });
  };

  const dsResource = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: string,
  ): Promise<void> => {
    const raw = await readBody(req);
    const answer = await backend.callResource(settings, {
      path,
      method: req.method ?? 'GET',
      query: Object.fromEntries(url.searchParams),
      ...(raw.length > 0 ? { body: JSON.parse(raw.toString('utf8')) } : {}),
    });
    resourceLog.push(`${path} ${answer.status}`);
    res.writeHead(answer.status, {
      'content-type': answer.headers['content-type']?.[0] ?? 'application/json',
    });
    res.end(answer.body);
  };

  const api = (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> | undefined => {
    if (url.pathname === '/api/ds/query' && req.method === 'POST') return dsQuery(req, res);
    if (url.pathname === `${dsPrefix}health`) return dsHealth(res);
    if (url.pathname.startsWith(`${dsPrefix}resources/`))
      return dsResource(req, res, url, url.pathname.slice(`${dsPrefix}resources/`.length));
    return undefined;
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://harness');
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page());
      return;
    }
    if (url.pathname === '/host.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(host);
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      requests.push({
        method: req.method ?? 'GET',
        path: `${url.pathname}${url.search}`,
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      const handled = api(req, res, url);
      if (!handled) {
        sendJson(res, 404, { message: 'Not found' });
        return;
      }
      handled.catch((err: unknown) => {
        // Grafana answers a plugin it cannot reach with 500 and a message.
        if (!res.headersSent)
          sendJson(res, 500, { message: `plugin unavailable: ${(err as Error).message}` });
      });
      return;
    }
    // Grafana serves @grafana/ui's icons from /public/build/img.
    if (url.pathname.startsWith('/public/build/img/')) {
      const icons = join(options.repo, 'node_modules', '@grafana', 'ui', 'dist', 'public', 'img');
      const file = normalize(join(icons, url.pathname.slice('/public/build/img/'.length)));
      if (file.startsWith(icons) && existsSync(file)) {
        res
          .writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
          .end(readFileSync(file));
      } else {
        res.writeHead(404).end();
      }
      return;
    }
    const pluginPrefix = `/public/plugins/${APP_ID}/`;
    if (url.pathname.startsWith(pluginPrefix)) {
      const file = normalize(join(dist, url.pathname.slice(pluginPrefix.length)));
      if (!file.startsWith(dist) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res
        .writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
        .end(readFileSync(file));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    resourceLog,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
