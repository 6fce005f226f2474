// The backend's gRPC server: Grafana's Data, Diagnostics and Resource services, gRPC health
// (`plugin` SERVING, as hashicorp go-plugin polls it) and go-plugin's GRPCController.Shutdown.
// A factory separate from listening; every handler answers or fails its own call, never the
// process. The call's deadline bounds every request to the agent.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { asImagetrustError } from '../errors';
import { DEFAULT_REUSE_MS, DEFAULT_TIMEOUT_MS } from './client';
import { answerQuery, type CallLimits } from './data';
import { checkHealth } from './health';
import { FrameCache } from './frame-cache';
import { InstanceCache } from './instances';
import { QUERY_TYPES } from './query';
import {
  loadProtocol,
  type CallResourceRequest,
  type CallResourceResponse,
  type CheckHealthRequest,
  type CheckHealthResponse,
  type CollectMetricsResponse,
  type PluginContext,
  type QueryDataRequest,
  type QueryDataResponse,
  type ServingStatus,
} from './protocol';
import { callResource, errorAnswer } from './resources';
import { instanceSettingsOf } from './settings';

export interface BackendOptions {
  logger: Logger;
  clock?: () => number;
  /** Used when a call carries no deadline. */
  defaultTimeoutMs?: number;
  maxAnswerBytes?: number;
  /**
   * Milliseconds an agent answer is reused by identical queries (client.ts: 0..1000, default
   * DEFAULT_REUSE_MS; 0 turns reuse off). Concurrent identical queries share one request anyway.
   */
  answerReuseMs?: number;
  /** go-plugin asked to stop (GRPCController.Shutdown). */
  onShutdownRequest?: () => void;
}

export interface Backend {
  server: grpc.Server;
  instances: InstanceCache;
  /** Binds 127.0.0.1:<port> (0: a free one) and resolves with the port. */
  listen(port?: number): Promise<number>;
  /** Stops accepting calls, lets running ones finish for up to `graceMs`, then ends them. */
  stop(graceMs?: number): Promise<void>;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function deadlineOf(call: AnyCall, now: number, fallbackMs: number): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : typeof d === 'number' && Number.isFinite(d) ? d : Infinity;
  if (ms === Infinity) return now + fallbackMs;
  // Stop asking the agent a little before Grafana gives up on the call, so the answer (with
  // its per-query errors) still reaches Grafana instead of a bare DEADLINE_EXCEEDED.
  const margin = Math.min(500, Math.max(50, (ms - now) / 10));
  return Math.min(ms - margin, now + fallbackMs);
}

/** The call's limits, and `settle` to call once it is answered (a late cancel is ignored). */
function limitsOf(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  now: number,
  fallbackMs: number,
): CallLimits & { settle(): void } {
  const controller = new AbortController();
  let settled = false;
  // grpc-js also reports 'cancelled' for calls already answered (the client closed its
  // stream): aborting then would only build a DOMException nobody reads.
  call.on('cancelled', () => {
    if (!settled) controller.abort();
  });
  return {
    deadline: deadlineOf(call, now, fallbackMs),
    signal: controller.signal,
    settle: () => {
      settled = true;
    },
  };
}

/**
 * QueryData answers serialized per response: a protobuf map is a repeated field of entries, so
 * the concatenation of one-entry QueryDataResponse messages is the many-entry message. The
 * bytes of an entry are kept by its frames array, which data.ts shares between the calls
 * answered from one agent answer: a 1,000-row frame is copied into a protobuf message once per
 * answer, not once per call.
 */
export function querySerializer(
  serializeOne: (value: QueryDataResponse) => Buffer,
): (value: QueryDataResponse) => Buffer {
  const byFrames = new WeakMap<readonly Uint8Array[], Map<string, Buffer>>();
  return (value) => {
    const parts: Buffer[] = [];
    for (const [refId, response] of Object.entries(value.responses)) {
      if (response.frames.length === 0) {
        parts.push(serializeOne({ responses: { [refId]: response } }));
        continue;
      }
      const key = JSON.stringify([refId, response.error, response.status, response.errorSource]);
      let entries = byFrames.get(response.frames);
      let bytes = entries?.get(key);
      if (!bytes) {
        bytes = serializeOne({ responses: { [refId]: response } });
        if (!entries) byFrames.set(response.frames, (entries = new Map()));
        if (entries.size < 8) entries.set(key, bytes);
      }
      parts.push(bytes);
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  };
}

export function buildBackend(options: BackendOptions): Backend {
  const log = options.logger;
  const clock = options.clock ?? Date.now;
  const fallbackMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const instances = new InstanceCache(64, {
    ...(options.maxAnswerBytes ? { maxAnswerBytes: options.maxAnswerBytes } : {}),
    reuseMs: options.answerReuseMs ?? DEFAULT_REUSE_MS,
  });
  const frameCache = new FrameCache();
  const encode = frameCache.encode.bind(frameCache);
  const protocol = loadProtocol();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'imagetrust_grafana_backend_' });
  const queries = new Counter({
    name: 'imagetrust_grafana_backend_queries_total',
    help: 'Queries answered, by query type and outcome',
    labelNames: ['query_type', 'outcome'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'imagetrust_grafana_backend_call_seconds',
    help: 'gRPC calls, by method',
    labelNames: ['method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });

  const clientOf = (context: PluginContext | null) => () => instances.clientFor(instanceSettingsOf(context));

  const dataService = protocol.Data.service;
  const queryData = dataService.QueryData as grpc.MethodDefinition<QueryDataRequest, QueryDataResponse>;
  server.addService(
    {
      ...dataService,
      QueryData: { ...queryData, responseSerialize: querySerializer(queryData.responseSerialize) },
    },
    {
      QueryData: (
        call: grpc.ServerUnaryCall<QueryDataRequest, QueryDataResponse>,
        callback: grpc.sendUnaryData<QueryDataResponse>,
      ) => {
        const started = clock();
        const limits = limitsOf(call, started, fallbackMs);
        const { pluginContext, queries: list } = call.request;
        const client = clientOf(pluginContext);
        Promise.all(
          list.map(async (q) => {
            const response = await answerQuery(q, client, limits, started, encode);
            // Bounded label values: the query type comes from the caller.
            const type = (QUERY_TYPES as readonly string[]).includes(q.queryType) ? q.queryType : 'other';
            queries.inc({ query_type: type, outcome: response.error ? 'error' : 'ok' });
            if (response.error)
              log.info({ refId: q.refId, queryType: q.queryType, error: response.error }, 'query failed');
            return [q.refId, response] as const;
          }),
        )
          .then((pairs) => {
            limits.settle();
            durations.observe({ method: 'QueryData' }, (clock() - started) / 1000);
            callback(null, { responses: Object.fromEntries(pairs) });
          })
          .catch((err: unknown) => {
            limits.settle();
            callback({ code: grpc.status.INTERNAL, details: asImagetrustError(err).message });
          });
      },
    },
  );

  server.addService(protocol.Diagnostics.service, {
    CheckHealth: (
      call: grpc.ServerUnaryCall<CheckHealthRequest, CheckHealthResponse>,
      callback: grpc.sendUnaryData<CheckHealthResponse>,
    ) => {
      const started = clock();
      checkHealth(clientOf(call.request.pluginContext), limitsOf(call, started, fallbackMs))
        .then((res) => {
          durations.observe({ method: 'CheckHealth' }, (clock() - started) / 1000);
          callback(null, res);
        })
        .catch((err: unknown) =>
          callback({ code: grpc.status.INTERNAL, details: asImagetrustError(err).message }),
        );
    },
    CollectMetrics: (
      _call: grpc.ServerUnaryCall<unknown, CollectMetricsResponse>,
      callback: grpc.sendUnaryData<CollectMetricsResponse>,
    ) => {
      registry
        .metrics()
        .then((text) => callback(null, { metrics: { prometheus: Buffer.from(text) } }))
        .catch((err: unknown) =>
          callback({ code: grpc.status.INTERNAL, details: asImagetrustError(err).message }),
        );
    },
  });

  server.addService(protocol.Resource.service, {
    CallResource: (call: grpc.ServerWritableStream<CallResourceRequest, CallResourceResponse>) => {
      const started = clock();
      const limits = limitsOf(call, started, fallbackMs);
      let written = 0;
      (async () => {
        try {
          for await (const message of callResource(
            call.request,
            clientOf(call.request.pluginContext),
            limits,
          )) {
            if (call.cancelled) return;
            call.write(message);
            written += 1;
          }
          call.end();
        } catch (err) {
          const e = asImagetrustError(err);
          log.info({ path: call.request.path, error: e.message }, 'resource call failed');
          if (written === 0) {
            call.write(errorAnswer(e));
            call.end();
          } else {
            // The status is already sent: end the stream with an error instead of a short body.
            call.destroy(Object.assign(new Error(e.message), { code: grpc.status.ABORTED }));
          }
        } finally {
          limits.settle();
          durations.observe({ method: 'CallResource' }, (clock() - started) / 1000);
        }
      })().catch(() => undefined);
    },
  });

  let serving: ServingStatus = 'SERVING';
  server.addService(protocol.Health.service, {
    Check: (
      call: grpc.ServerUnaryCall<{ service: string }, { status: ServingStatus }>,
      callback: grpc.sendUnaryData<{ status: ServingStatus }>,
    ) => {
      const service = call.request.service;
      if (service !== '' && service !== 'plugin') {
        callback(null, { status: 'SERVICE_UNKNOWN' });
        return;
      }
      callback(null, { status: serving });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: ServingStatus }>) => {
      call.write({ status: serving });
    },
  });

  server.addService(protocol.GRPCController.service, {
    Shutdown: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<object>) => {
      callback(null, {});
      options.onShutdownRequest?.();
    },
  });

  return {
    server,
    instances,
    listen: (port = 0) =>
      new Promise<number>((resolve, reject) => {
        server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
          err ? reject(err) : resolve(bound),
        );
      }),
    stop: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        serving = 'NOT_SERVING';
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }).finally(() => instances.close()),
  };
}
