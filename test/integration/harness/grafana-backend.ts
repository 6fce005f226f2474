// What Grafana does with a backend plugin, without Grafana (none can run here, REFERENCE §1):
// spawn the executable with the environment Grafana and hashicorp go-plugin give it, read the
// handshake line from stdout (with a timeout), poll grpc.health.v1 Check("plugin") until
// SERVING, then call Data.QueryData, Diagnostics.CheckHealth and Resource.CallResource with
// PluginContexts built from provisioned-style data source settings. Frames are decoded with
// apache-arrow; `toGrafanaJson` turns them into the JSON data frames Grafana's /api/ds/query
// answers with, for a browser stand-in. `stop` sends SIGTERM and measures the exit.
//
// Stable API (other tests build on it): startBackend, backendExecutable, pluginContext,
// BackendProcess (queryData, queryDataRaw, checkHealth, callResource, collectMetrics,
// healthCheck, stop), toGrafanaJson, decodeFrame.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  decodeFrame,
  toJsonDataFrame,
  type DecodedFrame,
  type JsonDataFrame,
} from '../../../pkg/grafana/arrow';
import {
  loadProtocol,
  type CallResourceResponse,
  type CheckHealthResponse,
  type DataQuery,
  type PluginContext,
  type QueryDataRequest,
  type QueryDataResponse,
  type ServingStatus,
} from '../../../pkg/grafana/protocol';
import { REPO } from './cli';

export { decodeFrame, toJsonDataFrame, type DecodedFrame, type JsonDataFrame };

export const PLUGIN_ID = 'imagetrust-fleet-datasource';
export const GRAFANA_VERSION = '13.1.1';
const HANDSHAKE = /^1\|2\|tcp\|127\.0\.0\.1:(\d{1,5})\|grpc$/;

/** dist/datasource/gpx_imagetrust_<os>_<arch>, as Grafana names the file it runs. */
export function backendExecutable(platform: string = process.platform, arch: string = process.arch): string {
  const goArch = arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch;
  const ext = platform === 'win32' ? '.exe' : '';
  const os = platform === 'win32' ? 'windows' : platform;
  return join(REPO, 'dist', 'datasource', `gpx_imagetrust_${os}_${goArch}${ext}`);
}

/** A data source as provisioning/datasources/imagetrust.yaml declares one. */
export interface DataSourceSettings {
  uid: string;
  name?: string;
  id?: number;
  /** jsonData.url (the agent). Omitted: settings without a URL. */
  url?: string;
  /** secureJsonData.token, as Grafana decrypts it for the plugin. */
  token?: string;
  /** Replaces the jsonData built from `url` (e.g. malformed settings). */
  jsonData?: Record<string, unknown> | Buffer;
  lastUpdatedMS?: number;
}

export function pluginContext(ds: DataSourceSettings, orgId = 1): PluginContext {
  const jsonData =
    ds.jsonData instanceof Buffer
      ? ds.jsonData
      : Buffer.from(JSON.stringify(ds.jsonData ?? (ds.url === undefined ? {} : { url: ds.url })));
  return {
    orgId,
    pluginId: PLUGIN_ID,
    user: { login: 'admin', name: 'admin', email: 'admin@localhost', role: 'Admin' },
    dataSourceInstanceSettings: {
      id: ds.id ?? 1,
      name: ds.name ?? ds.uid,
      url: '',
      user: '',
      database: '',
      basicAuthEnabled: false,
      basicAuthUser: '',
      jsonData,
      decryptedSecureJsonData: ds.token === undefined ? {} : { token: ds.token },
      lastUpdatedMS: ds.lastUpdatedMS ?? 1,
      uid: ds.uid,
    },
  };
}

/** A query as a panel or an alert rule sends it. `json` is the query model (or raw bytes). */
export interface QueryInput {
  refId: string;
  queryType?: string;
  json?: Record<string, unknown> | Buffer;
  from?: number;
  to?: number;
  intervalMs?: number;
  maxDataPoints?: number;
}

export interface QueryResult {
  refId: string;
  status: number;
  error: string;
  errorSource: string;
  frames: DecodedFrame[];
  /** The Arrow bytes as received. */
  raw: Uint8Array[];
}

export interface ResourceAnswer {
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
  /** Messages the stream carried (1 + body chunks). */
  messages: number;
  json(): any;
}

export interface StopResult {
  exitMs: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BackendProcess {
  child: ChildProcess;
  port: number;
  address: string;
  /** From spawn to the handshake line. */
  handshakeMs: number;
  /** From spawn to health SERVING. */
  servingMs: number;
  /** Whatever reached stdout after the handshake line (must stay empty). */
  stdoutAfterHandshake(): string;
  stderr(): string;
  healthCheck(service?: string, timeoutMs?: number): Promise<ServingStatus>;
  queryData(
    ds: DataSourceSettings,
    queries: QueryInput[],
    options?: CallOptions,
  ): Promise<Record<string, QueryResult>>;
  queryDataRaw(request: Partial<QueryDataRequest>, options?: CallOptions): Promise<QueryDataResponse>;
  checkHealth(
    ds: DataSourceSettings,
    options?: CallOptions,
  ): Promise<{ status: string; message: string; details: unknown }>;
  callResource(
    ds: DataSourceSettings,
    request: { path: string; method?: string; query?: Record<string, string>; body?: unknown },
    options?: CallOptions,
  ): Promise<ResourceAnswer>;
  collectMetrics(options?: CallOptions): Promise<string>;
  /** Still running? */
  alive(): boolean;
  stop(signal?: NodeJS.Signals): Promise<StopResult>;
}

export interface CallOptions {
  /** The gRPC deadline Grafana gives the call. */
  timeoutMs?: number;
}

export interface StartOptions {
  /** Defaults to the built executable; `source: true` runs pkg/grafana/entry.ts with tsx instead. */
  executable?: string;
  source?: boolean;
  /** Added to (or, with undefined values, removed from) Grafana's environment. */
  env?: Record<string, string | undefined>;
  handshakeTimeoutMs?: number;
}

/** The environment Grafana 13 starts a data source backend with (go-plugin adds the first four). */
export function grafanaEnvironment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    grafana_plugin_type: 'datasource',
    PLUGIN_PROTOCOL_VERSIONS: '2',
    PLUGIN_MIN_PORT: '10000',
    PLUGIN_MAX_PORT: '25000',
    GF_VERSION: GRAFANA_VERSION,
    GF_EDITION: 'oss',
    GF_PLUGIN_APP_URL: 'http://127.0.0.1:3000/',
    GF_PLUGIN_VERSION: '0.2.0',
    GF_INSTANCE_FEATURE_TOGGLES_ENABLE: '',
    GF_PLUGIN_GRPC_MAX_RECEIVE_MSG_SIZE: '16',
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
}

type UnaryMethod = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res: unknown) => void,
) => void;
type StreamMethod = (request: unknown, options: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

function unary<Req, Res>(client: grpc.Client, method: string, request: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod;
    fn.call(client, request, { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res as Res),
    );
  });
}

function dataQuery(q: QueryInput): DataQuery {
  const to = q.to ?? Date.now();
  const json =
    q.json instanceof Buffer
      ? q.json
      : Buffer.from(
          JSON.stringify({ refId: q.refId, ...(q.queryType ? { queryType: q.queryType } : {}), ...q.json }),
        );
  return {
    refId: q.refId,
    maxDataPoints: q.maxDataPoints ?? 1000,
    intervalMS: q.intervalMs ?? 15_000,
    timeRange: { fromEpochMS: q.from ?? to - 3_600_000, toEpochMS: to },
    json,
    queryType: q.queryType ?? '',
  };
}

export async function startBackend(options: StartOptions = {}): Promise<BackendProcess> {
  const [command, args] = options.source
    ? [process.execPath, ['--import', 'tsx', join(REPO, 'pkg', 'grafana', 'entry.ts')]]
    : [options.executable ?? backendExecutable(), []];
  if (!options.source && !existsSync(command)) {
    throw new Error(`${command} does not exist: run npm run build:backend`);
  }
  const started = performance.now();
  const child = spawn(command, args, {
    env: grafanaEnvironment(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: REPO,
  });
  let stdout = '';
  let afterHandshake = '';
  let stderr = '';
  let handshake: string | undefined;
  const exited = new Promise<StopResult & { at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ exitMs: 0, code, signal, at: performance.now() })),
  );
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no handshake within ${options.handshakeTimeoutMs ?? 20_000} ms; stderr:\n${stderr}`));
    }, options.handshakeTimeoutMs ?? 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (handshake !== undefined) {
        afterHandshake += d.toString();
        return;
      }
      stdout += d.toString();
      const nl = stdout.indexOf('\n');
      if (nl >= 0) {
        handshake = stdout.slice(0, nl);
        afterHandshake = stdout.slice(nl + 1);
        clearTimeout(timer);
        resolve(handshake);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`backend exited (${code ?? signal}) before its handshake; stderr:\n${stderr}`));
    });
  });
  const handshakeMs = performance.now() - started;
  const m = HANDSHAKE.exec(line);
  if (!m) {
    child.kill('SIGKILL');
    throw new Error(`not a go-plugin handshake line: ${JSON.stringify(line)}`);
  }
  const port = Number(m[1]);
  const address = `127.0.0.1:${port}`;
  const protocol = loadProtocol();
  const credentials = grpc.credentials.createInsecure();
  // Grafana's plugin client accepts messages of up to 16 MiB (grpc-js's default is 4 MiB).
  const channel = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
  const clients = {
    data: new protocol.Data(address, credentials, channel),
    diagnostics: new protocol.Diagnostics(address, credentials, channel),
    resource: new protocol.Resource(address, credentials, channel),
    health: new protocol.Health(address, credentials, channel),
  };
  const closeClients = () => Object.values(clients).forEach((c) => c.close());

  const healthCheck = async (service = 'plugin', timeoutMs = 2000): Promise<ServingStatus> =>
    (
      await unary<{ service: string }, { status: ServingStatus }>(
        clients.health,
        'Check',
        { service },
        timeoutMs,
      )
    ).status;

  // go-plugin polls health until the plugin serves.
  const servingBy = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await healthCheck('plugin', 1000)) === 'SERVING') break;
    } catch (err) {
      if (Date.now() > servingBy) {
        child.kill('SIGKILL');
        closeClients();
        throw new Error(`health never SERVING: ${String(err)}`);
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const servingMs = performance.now() - started;

  const queryDataRaw = (request: Partial<QueryDataRequest>, options: CallOptions = {}) =>
    unary<Partial<QueryDataRequest>, QueryDataResponse>(
      clients.data,
      'QueryData',
      request,
      options.timeoutMs ?? 30_000,
    );

  return {
    child,
    port,
    address,
    handshakeMs,
    servingMs,
    stdoutAfterHandshake: () => afterHandshake,
    stderr: () => stderr,
    healthCheck,
    queryDataRaw,
    async queryData(ds, queries, options = {}) {
      const res = await queryDataRaw(
        { pluginContext: pluginContext(ds), headers: {}, queries: queries.map(dataQuery) },
        options,
      );
      const out: Record<string, QueryResult> = {};
      for (const [refId, r] of Object.entries(res.responses)) {
        out[refId] = {
          refId,
          status: r.status,
          error: r.error,
          errorSource: r.errorSource,
          frames: r.frames.map((f) => decodeFrame(f)),
          raw: r.frames,
        };
      }
      return out;
    },
    async checkHealth(ds, options = {}) {
      const res = await unary<unknown, CheckHealthResponse>(
        clients.diagnostics,
        'CheckHealth',
        { pluginContext: pluginContext(ds), headers: {} },
        options.timeoutMs ?? 30_000,
      );
      const text = Buffer.from(res.jsonDetails ?? []).toString('utf8');
      return { status: res.status, message: res.message, details: text ? JSON.parse(text) : undefined };
    },
    callResource(ds, request, options = {}) {
      const query = new URLSearchParams(request.query ?? {}).toString();
      const path = request.path.replace(/^\/+/, '');
      const body =
        request.body === undefined
          ? Buffer.alloc(0)
          : request.body instanceof Buffer
            ? request.body
            : Buffer.from(JSON.stringify(request.body));
      return (async (): Promise<ResourceAnswer> => {
        // Server streaming through the generated method (the one Grafana's Go client uses).
        const call = (clients.resource as unknown as { CallResource: StreamMethod }).CallResource.call(
          clients.resource,
          {
            pluginContext: pluginContext(ds),
            path,
            method: request.method ?? 'GET',
            url: `${path}${query ? `?${query}` : ''}`,
            headers: body.length > 0 ? { 'Content-Type': { values: ['application/json'] } } : {},
            body,
          },
          { deadline: Date.now() + (options.timeoutMs ?? 30_000) },
        ) as grpc.ClientReadableStream<CallResourceResponse>;
        let status = 0;
        let headers: Record<string, string[]> = {};
        const chunks: Buffer[] = [];
        let messages = 0;
        for await (const message of call as AsyncIterable<CallResourceResponse>) {
          if (messages === 0) {
            status = message.code;
            headers = Object.fromEntries(
              Object.entries(message.headers ?? {}).map(([k, v]) => [k, v.values]),
            );
          }
          messages += 1;
          chunks.push(Buffer.from(message.body ?? []));
        }
        const all = Buffer.concat(chunks);
        return { status, headers, body: all, messages, json: () => JSON.parse(all.toString('utf8')) };
      })();
    },
    async collectMetrics(options = {}) {
      const res = await unary<unknown, { metrics: { prometheus: Buffer } }>(
        clients.diagnostics,
        'CollectMetrics',
        { pluginContext: null },
        options.timeoutMs ?? 10_000,
      );
      return Buffer.from(res.metrics.prometheus).toString('utf8');
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      closeClients();
      if (child.exitCode !== null || child.signalCode !== null) {
        const r = await exited;
        return { exitMs: 0, code: r.code, signal: r.signal };
      }
      const sent = performance.now();
      child.kill(signal);
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(kill);
      return { exitMs: r.at - sent, code: r.code, signal: r.signal };
    },
  };
}

/** Grafana's /api/ds/query answer for one QueryData response: {results: {refId: {frames}}}. */
export function toGrafanaJson(results: Record<string, QueryResult>): {
  results: Record<string, { status: number; frames: JsonDataFrame[]; error?: string; errorSource?: string }>;
} {
  return {
    results: Object.fromEntries(
      Object.entries(results).map(([refId, r]) => [
        refId,
        {
          status: r.status,
          frames: r.frames.map(toJsonDataFrame),
          ...(r.error ? { error: r.error, errorSource: r.errorSource } : {}),
        },
      ]),
    ),
  };
}
