// Publishers: where what a pass produced goes (the history, /metrics, InfluxDB, the PostgreSQL
// fleet store …), all behind one interface. The monitor hands every update to every publisher
// once the pass's view is published; a publisher that throws (or whose promise rejects) is
// logged, and neither the pass nor the other publishers notice.

import type { Logger } from 'pino';
import type { ChangeEvent, History } from './history';
import type { InfluxForwarder } from './influx';
import type { AgentMetrics } from './metrics';
import type { PassInfo } from './monitor';
import type { ContainerResult, NodeState } from './types';

/** What one pass (or an unreachable engine) produced for this node. */
export interface NodeUpdate {
  time: number;
  /** The node's state after the pass (what monitor.state() returns). */
  node: NodeState;
  containers: ContainerResult[];
  /** The history events of this pass (may be empty). */
  changes: ChangeEvent[];
  pass: PassInfo;
}

export interface Publisher {
  readonly name: string;
  /** Called after every pass, also failed ones; must not throw and must not hold up the pass. */
  publish(update: NodeUpdate): void;
  close?(): Promise<void>;
}

/** Hands the update to every publisher; one that fails is logged and the others still get it. */
export function publishAll(publishers: readonly Publisher[], update: NodeUpdate, logger: Logger): void {
  for (const p of publishers) {
    try {
      // A publisher written as async must not become an unhandled rejection.
      const pending = p.publish(update) as unknown;
      if (pending instanceof Promise) pending.catch((err: unknown) => failed(logger, p, err));
    } catch (err) {
      failed(logger, p, err);
    }
  }
}

/** Closes every publisher that can be closed; never throws. */
export async function closeAll(publishers: readonly Publisher[], logger: Logger): Promise<void> {
  await Promise.all(
    publishers.map(async (p) => {
      try {
        await p.close?.();
      } catch (err) {
        logger.error({ publisher: p.name, err }, 'publisher failed to close');
      }
    }),
  );
}

function failed(logger: Logger, p: Publisher, err: unknown): void {
  logger.error({ publisher: p.name, err }, 'publisher failed');
}

/** The history: every change, and the node's counts whenever they change. (Its owner closes it.) */
export function historyPublisher(history: Pick<History, 'record' | 'snapshot'>): Publisher {
  return {
    name: 'history',
    publish(update) {
      history.record(update.changes);
      history.snapshot(update.time, update.node.node, update.node.counts);
    },
  };
}

/** Prometheus: pass durations, verifications, cache hits and ledger failures. */
export function metricsPublisher(metrics: Pick<AgentMetrics, 'observePass'>): Publisher {
  return { name: 'metrics', publish: (update) => metrics.observePass(update.pass) };
}

/** InfluxDB: the results of every pass that listed the engine; closing flushes what is buffered. */
export function influxPublisher(forwarder: Pick<InfluxForwarder, 'push' | 'stop'>): Publisher {
  return {
    name: 'influx',
    publish(update) {
      if (update.pass.ok) forwarder.push(update.containers, update.time);
    },
    close: () => forwarder.stop(),
  };
}
