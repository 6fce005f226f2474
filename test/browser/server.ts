// A stand-in for the parts of a Grafana server that a plugin meets in the browser: it serves
// the built `dist/` where Grafana serves plugins (/public/plugins/<id>/, ignoring ?_cache=),
// a page with an AMD loader that answers each external by name from the host bundle, and the
// data proxy, which applies the data source's plugin.json route exactly as Grafana's does:
// `{{ .JsonData.x }}` and `{{ .SecureJsonData.x }}` filled in on the server side, so the
// browser never sees the token.

import { build } from 'esbuild';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { parse } from 'yaml';

export const APP_ID = 'imagetrust-fleet-app';

export interface DataSourceSettings {
  uid: string;
  type: string;
  jsonData: Record<string, string>;
  secureJsonData: Record<string, string>;
}

interface Route {
  path: string;
  url: string;
  headers?: { name: string; content: string }[];
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.md': 'text/plain',
  '.html': 'text/html',
};

export function fillTemplate(template: string, ds: DataSourceSettings): string {
  return template.replace(
    /\{\{\s*\.(JsonData|SecureJsonData)\.(\w+)\s*\}\}/g,
    (_m, where: string, key: string) =>
      (where === 'JsonData' ? ds.jsonData[key] : ds.secureJsonData[key]) ?? '',
  );
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
  requests: { path: string; authorization?: string }[];
  close(): Promise<void>;
}

export async function startHarness(options: {
  repo: string;
  datasource: DataSourceSettings;
}): Promise<HarnessServer> {
  const dist = join(options.repo, 'dist');
  const host = await buildHost(options.repo);
  const routes = (JSON.parse(readFileSync(join(dist, 'datasource', 'plugin.json'), 'utf8')).routes ??
    []) as Route[];
  const proxyPrefix = `/api/datasources/proxy/uid/${options.datasource.uid}/`;
  const requests: HarnessServer['requests'] = [];

  const proxy = async (req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> => {
    const route = routes.find(
      (r) => rest === r.path || rest.startsWith(`${r.path}/`) || rest.startsWith(`${r.path}?`),
    );
    if (!route) {
      res.writeHead(404).end('no such route');
      return;
    }
    const target = `${fillTemplate(route.url, options.datasource).replace(/\/+$/, '')}${rest.slice(route.path.length)}`;
    const headers: Record<string, string> = {};
    for (const h of route.headers ?? []) headers[h.name] = fillTemplate(h.content, options.datasource);
    if (req.headers['content-type']) headers['content-type'] = req.headers['content-type'];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    requests.push({
      path: rest,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    try {
      const answer = await fetch(target, {
        method: req.method,
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(Buffer.from(await answer.arrayBuffer()));
    } catch (err) {
      res
        .writeHead(502, { 'content-type': 'application/json' })
        .end(JSON.stringify({ message: `data proxy: ${(err as Error).message}` }));
    }
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
    if (url.pathname.startsWith(proxyPrefix)) {
      void proxy(req, res, `${url.pathname.slice(proxyPrefix.length)}${url.search}`);
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
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
