// `imagetrust fleet serve`: the whole fleet's /api/v1 (the agent's API, same routes and shapes)
// answered from the PostgreSQL fleet store, with /metrics for every node, so Grafana and
// Prometheus talk to one place while agents only connect out. History older than the
// retention is pruned hourly in small batches.

import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { ImagetrustError } from '../errors';
import type { ImageDigest } from '../ledger/statement';
import type { LedgerStatements } from '../verify/builtin';
import { buildAgentApi } from '../agent/api';
import type { ChangeEvent } from '../agent/history';
import { registerNodeLedgerGauges, registerViewGauges } from '../agent/metrics';
import type { CountPoint } from '../agent/series';
import type { ApiSource, UnverifiedNode, VerifyTarget } from '../agent/source';
import type { ContainerResult, NodeState } from '../agent/types';
import type { ContainerFilter, FleetSummary, ImageSummary } from '../agent/views';
import { FleetStore } from './store';
import type { ServerTls } from '../net/server';

export class FleetApiSource implements ApiSource {
  constructor(private readonly store: FleetStore) {}

  get generation(): string {
    return this.store.generation;
  }

  async health(): Promise<{ ok: boolean; status: string }> {
    const ok = await this.store.ping();
    return { ok, status: ok ? 'up' : 'unreachable' };
  }

  describe(): Record<string, unknown> {
    return { fleet: true, store: this.store.location };
  }

  nodes(): Promise<NodeState[]> {
    return this.store.nodes();
  }

  containers(filter: ContainerFilter): Promise<ContainerResult[]> {
    return this.store.containers(filter);
  }

  images(filter: ContainerFilter): Promise<ImageSummary[]> {
    return this.store.images(filter);
  }

  summary(): Promise<FleetSummary> {
    return this.store.summary();
  }

  series(from: number, to: number, stepMs: number, node?: string): Promise<CountPoint[]> {
    return this.store.series(from, to, stepMs, node);
  }

  events(from: number, to: number, node: string | undefined, limit: number): Promise<ChangeEvent[]> {
    return this.store.events(from, to, node, limit);
  }

  async statements(_digest: ImageDigest): Promise<LedgerStatements> {
    throw new ImagetrustError(
      'NOT_FOUND',
      'fleet serve holds no ledger: ask the ledger server, or an agent, for statements',
    );
  }

  async verifyNow(target: VerifyTarget): Promise<ContainerResult[]> {
    if (target.node === undefined)
      throw new ImagetrustError('BAD_REQUEST', 'node: which node should verify (or {"all": true})', {
        details: { field: 'node' },
      });
    return this.store.verifyNow(target.node, target.container);
  }

  async verifyAll(): Promise<{ containers: ContainerResult[]; unreachable: UnverifiedNode[] }> {
    return (await this.store.verifyAll()) as { containers: ContainerResult[]; unreachable: UnverifiedNode[] };
  }
}

export interface FleetServerOptions {
  store: FleetStore;
  token?: string;
  retentionMs: number;
  logger?: boolean | object;
  /** HTTPS (pkg/net/server.ts); plain HTTP when undefined. */
  tls?: ServerTls;
  /** Requests a second per client address (0: none). */
  rateLimit?: number;
  onTlsReload?: (err: ImagetrustError | undefined) => void;
}

export interface FleetServer {
  app: FastifyInstance;
  close(): Promise<void>;
}

export function buildFleetServer(options: FleetServerOptions): FleetServer {
  const { store } = options;
  const registry = new Registry();
  const views = async () => (await store.views()).views;
  registerViewGauges(registry, views);
  registerNodeLedgerGauges(registry, views);
  const app = buildAgentApi({
    source: new FleetApiSource(store),
    ...(options.token ? { token: options.token } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
    ...(options.onTlsReload ? { onTlsReload: options.onTlsReload } : {}),
    extend: (a) => {
      a.get('/metrics', async (_req, reply) =>
        reply.type(registry.contentType).send(await registry.metrics()),
      );
    },
  });
  const prune = (): void => {
    store.prune(Date.now() - options.retentionMs).catch(() => undefined);
  };
  prune();
  const timer = setInterval(prune, 3_600_000);
  timer.unref();
  return {
    app,
    async close() {
      clearInterval(timer);
      await app.close();
      await store.close();
    },
  };
}
