// Prometheus exposition for the agent (prom-client, one Registry per agent, no globals).
// Names follow Prometheus conventions: one `imagetrust_` prefix, base units, `_total`
// counters, `_info` metadata, `_timestamp_seconds`. Container ids stay out of the labels
// (they churn); containers are named by node, container name, image and digest.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Agent } from './agent';
import type { LocalView } from './views';
import type { PassInfo } from './monitor';
import { CONTAINER_STATUSES } from './types';

export const METRICS = {
  containerTrust: 'imagetrust_container_trust',
  containerDrift: 'imagetrust_container_drift',
  containers: 'imagetrust_containers',
  nodeUp: 'imagetrust_node_up',
  lastScan: 'imagetrust_last_scan_timestamp_seconds',
  verifications: 'imagetrust_verifications_total',
  verificationDuration: 'imagetrust_verification_duration_seconds',
  passDuration: 'imagetrust_pass_duration_seconds',
  cacheHits: 'imagetrust_cache_hits_total',
  cacheMisses: 'imagetrust_cache_misses_total',
  ledgerTreeSize: 'imagetrust_ledger_tree_size',
  ledgerConsistencyFailures: 'imagetrust_ledger_consistency_failures_total',
  ledgerSplitViews: 'imagetrust_ledger_split_view_total',
  ledgerUp: 'imagetrust_ledger_up',
  buildInfo: 'imagetrust_build_info',
  influxPointsWritten: 'imagetrust_influx_points_written_total',
  influxPointsDropped: 'imagetrust_influx_points_dropped_total',
  influxBuffered: 'imagetrust_influx_buffered_points',
  influxWriteFailures: 'imagetrust_influx_write_failures_total',
} as const;

export interface InfluxStats {
  written: number;
  dropped: number;
  buffered: number;
  failures: number;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly verifications: Counter<'result'>;
  private readonly verificationDuration: Histogram<'result'>;
  private readonly passDuration: Histogram<'result'>;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly consistencyFailures: Counter<'node'>;
  private readonly splitViews: Counter<'node'>;
  private influx: (() => InfluxStats) | undefined;

  constructor(
    private readonly agent: Agent,
    version: string,
  ) {
    const registry = this.registry;
    this.verifications = new Counter({
      name: METRICS.verifications,
      help: 'Verifications run (cache misses), by result',
      labelNames: ['result'],
      registers: [registry],
    });
    this.verificationDuration = new Histogram({
      name: METRICS.verificationDuration,
      help: 'Time one verification took',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.passDuration = new Histogram({
      name: METRICS.passDuration,
      help: 'Time one full pass over the node took',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.cacheHits = new Counter({
      name: METRICS.cacheHits,
      help: 'Verifications answered from the cache',
      registers: [registry],
    });
    this.cacheMisses = new Counter({
      name: METRICS.cacheMisses,
      help: 'Verifications that had to be run',
      registers: [registry],
    });
    this.consistencyFailures = new Counter({
      name: METRICS.ledgerConsistencyFailures,
      help: 'Passes in which the ledger could not be believed (bad signature, failed proof, fork, rollback)',
      labelNames: ['node'],
      registers: [registry],
    });
    this.splitViews = new Counter({
      name: METRICS.ledgerSplitViews,
      help: 'Peer checkpoints that the ledger could not prove to be of the same history as this node (gossip)',
      labelNames: ['node'],
      registers: [registry],
    });
    const build = new Gauge({
      name: METRICS.buildInfo,
      help: 'imagetrust build',
      labelNames: ['version', 'node', 'node_version'],
      registers: [registry],
    });
    build.set({ version, node: agent.nodeName, node_version: process.version }, 1);
    this.consistencyFailures.inc({ node: agent.nodeName }, 0);
    this.splitViews.inc({ node: agent.nodeName }, 0);

    // Gauges that describe the current state are computed at scrape time from the agent's view.
    registerViewGauges(registry, () => agent.views());
    new Gauge({
      name: METRICS.ledgerTreeSize,
      help: 'Tree size of the newest ledger checkpoint this agent proved',
      labelNames: ['node'],
      registers: [registry],
      collect() {
        this.reset();
        const size = agent.monitor.state().ledger?.treeSize;
        if (size !== undefined) this.set({ node: agent.nodeName }, size);
      },
    });
    new Gauge({
      name: METRICS.ledgerUp,
      help: '1 if the trust material (ledger or verifier) could be reached and believed in the last pass, else 0',
      labelNames: ['node'],
      registers: [registry],
      collect() {
        this.reset();
        this.set({ node: agent.nodeName }, agent.monitor.state().ledger?.error ? 0 : 1);
      },
    });
    const stats = () => this.influx?.();
    new Counter({
      name: METRICS.influxPointsWritten,
      help: 'Points the InfluxDB forwarder delivered',
      registers: [registry],
      collect() {
        const s = stats();
        if (!s) return;
        this.reset();
        this.inc(s.written);
      },
    });
    new Counter({
      name: METRICS.influxPointsDropped,
      help: 'Points the InfluxDB forwarder dropped because its buffer was full',
      registers: [registry],
      collect() {
        const s = stats();
        if (!s) return;
        this.reset();
        this.inc(s.dropped);
      },
    });
    new Counter({
      name: METRICS.influxWriteFailures,
      help: 'Failed InfluxDB write attempts (retried)',
      registers: [registry],
      collect() {
        const s = stats();
        if (!s) return;
        this.reset();
        this.inc(s.failures);
      },
    });
    new Gauge({
      name: METRICS.influxBuffered,
      help: 'Points waiting in the InfluxDB forwarder buffer',
      registers: [registry],
      collect() {
        this.set(stats()?.buffered ?? 0);
      },
    });
  }

  /** The monitor's per-pass hook. */
  observePass(info: PassInfo): void {
    this.passDuration.observe({ result: info.ok ? 'ok' : 'failed' }, info.durationMs / 1000);
    this.cacheHits.inc(info.cacheHits);
    this.cacheMisses.inc(info.cacheMisses);
    for (const v of info.verified) {
      this.verifications.inc({ result: v.result });
      this.verificationDuration.observe({ result: v.result }, v.durationMs / 1000);
    }
    if (info.compromised) this.consistencyFailures.inc({ node: this.agent.nodeName });
  }

  /** Gossip found a peer's checkpoint of another history. */
  observeSplitView(): void {
    this.splitViews.inc({ node: this.agent.nodeName });
  }

  attachInflux(stats: () => InfluxStats): void {
    this.influx = stats;
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The gauges that describe the fleet's current state, computed at scrape time from the views
 * (an agent's own node and peers, or `fleet serve`'s fleet store).
 */
export function registerViewGauges(registry: Registry, views: () => Promise<LocalView[]>): void {
  new Gauge({
    name: METRICS.containerTrust,
    help: '1 if the container runs an image notarized as trusted, else 0; the status label says which status it has',
    labelNames: ['node', 'container_name', 'image', 'digest', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const v of await views()) {
        for (const c of v.containers) {
          this.set(
            { node: c.node, container_name: c.name, image: c.image, digest: c.digest, status: c.status },
            c.status === 'trusted' ? 1 : 0,
          );
        }
      }
    },
  });
  new Gauge({
    name: METRICS.containerDrift,
    help: '1 if the reference a container was started with now resolves to another digest than the one it runs',
    labelNames: ['node', 'container_name', 'image', 'digest'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const v of await views())
        for (const c of v.containers)
          this.set(
            { node: c.node, container_name: c.name, image: c.image, digest: c.digest },
            c.drift ? 1 : 0,
          );
    },
  });
  new Gauge({
    name: METRICS.containers,
    help: 'Running containers by node and status',
    labelNames: ['node', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const v of await views()) {
        const counts = v.node.counts;
        for (const s of CONTAINER_STATUSES) this.set({ node: v.node.node, status: s }, counts[s]);
      }
    },
  });
  new Gauge({
    name: METRICS.nodeUp,
    help: "1 if the node's Docker engine (or peer agent) answered, else 0",
    labelNames: ['node'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const v of await views()) this.set({ node: v.node.node }, v.node.status === 'up' ? 1 : 0);
    },
  });
  new Gauge({
    name: METRICS.lastScan,
    help: "When the node's containers were last listed successfully",
    labelNames: ['node'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const v of await views())
        if (v.node.lastScan) this.set({ node: v.node.node }, Date.parse(v.node.lastScan) / 1000);
    },
  });
}

/** The ledger state every node reported (for `fleet serve`, which runs on no node). */
export function registerNodeLedgerGauges(registry: Registry, views: () => Promise<LocalView[]>): void {
  new Gauge({
    name: METRICS.ledgerTreeSize,
    help: 'Tree size of the newest ledger checkpoint each node proved',
    labelNames: ['node'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const v of await views())
        if (v.node.ledger?.treeSize !== undefined) this.set({ node: v.node.node }, v.node.ledger.treeSize);
    },
  });
  new Gauge({
    name: METRICS.ledgerUp,
    help: "1 if the node's trust material could be reached and believed in its last pass, else 0",
    labelNames: ['node'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const v of await views())
        if (v.node.ledger) this.set({ node: v.node.node }, v.node.ledger.error ? 0 : 1);
    },
  });
}
