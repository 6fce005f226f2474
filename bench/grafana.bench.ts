// The data source backend (dist/datasource/gpx_imagetrust_linux_amd64), driven over gRPC as
// Grafana drives it, in front of a real `imagetrust fleet serve` on a real PostgreSQL server
// holding BENCH_NODES (20) nodes × BENCH_CONTAINERS (50) containers = 1,000 containers,
// published through the real fleet-store publisher (a real agent with 1,000 real containers
// takes minutes to start here; the fleet server answers the same /api/v1). Prints:
//  - handshake time from exec (median of BENCH_STARTS runs) and time to health SERVING;
//  - QueryData p50/p99 for a `containers` query (all 1,000 rows) and for the `counts` alert
//    query, each with BENCH_CLIENTS (50) concurrent gRPC clients (own connections) for
//    BENCH_SECONDS (10) s; target p99 < 50 ms for the alert query;
//  - the backend's CPU time per query (user + system, from /proc), which tells the backend's
//    cost from the bench's own (its 50 clients share one Node thread with it on small machines);
//  - the backend's RSS after the load (and its peak), target < 80 MB; the executable's size.
// BENCH_SOURCE=1 runs pkg/grafana/entry.ts with tsx instead of the executable, BENCH_EXECUTABLE
// runs another command (e.g. a script that execs `node --cpu-prof --import tsx …/entry.ts`, as
// NODE_OPTIONS refuses --cpu-prof), BENCH_NODE_OPTIONS goes to the backend as NODE_OPTIONS,
// BENCH_REUSE_MS as GF_PLUGIN_ANSWER_REUSE_MS (answer reuse; 0 turns it off).
// Asserts nothing.
//
//   npm run bench:grafana
//   BENCH_CLIENTS=10 BENCH_SECONDS=5 node --import tsx bench/grafana.bench.ts

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import type { NodeUpdate } from '../pkg/agent/publish';
import { countStatuses, type ContainerResult, type NodeState, type TrustStatus } from '../pkg/api/types';
import { FleetPublisher } from '../pkg/fleet/publisher';
import { FLEET_MIGRATIONS, FLEET_SCHEMA } from '../pkg/fleet/schema';
import { loadProtocol, type QueryDataResponse } from '../pkg/grafana/protocol';
import { Database } from '../pkg/postgres/database';
import { BIN } from '../test/integration/harness/cli';
import { backendExecutable, pluginContext, startBackend } from '../test/integration/harness/grafana-backend';
import { startPostgres } from '../test/integration/harness/postgres';
import { freePort, startBackground, waitFor } from '../test/integration/harness/process';

const NODES = Number(process.env.BENCH_NODES ?? 20);
const PER_NODE = Number(process.env.BENCH_CONTAINERS ?? 50);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const STARTS = Number(process.env.BENCH_STARTS ?? 5);
const SOURCE = process.env.BENCH_SOURCE === '1';
const BACKEND_ENV: Record<string, string> = {
  ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
  ...(process.env.BENCH_REUSE_MS !== undefined
    ? { GF_PLUGIN_ANSWER_REUSE_MS: process.env.BENCH_REUSE_MS }
    : {}),
};
const STATUSES: TrustStatus[] = ['trusted', 'trusted', 'trusted', 'untrusted', 'unsupported', 'unknown'];

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const ms = (v: number): string => `${v.toFixed(1)} ms`;

function container(node: string, i: number): ContainerResult {
  const status = STATUSES[i % STATUSES.length] as TrustStatus;
  return {
    node,
    id: createHash('sha256').update(`${node}/${i}`).digest('hex'),
    name: `app-${i}`,
    image: `registry.example/app-${i % 20}:1`,
    digest: `sha256:${createHash('sha256')
      .update(`image ${i % 20}`)
      .digest('hex')}`,
    status,
    statusCode: { trusted: 0, untrusted: 1, unknown: 2, unsupported: 3 }[status],
    level: 0,
    signer: 'bench-signer',
    signedAt: new Date(Date.now() - 86_400_000).toISOString(),
    verifiedAt: new Date().toISOString(),
    drift: false,
    state: 'running',
    labels: { 'com.example.team': `team-${i % 7}` },
  };
}

function updateOf(name: string, containers: ContainerResult[]): NodeUpdate {
  const now = Date.now();
  const node: NodeState = {
    node: name,
    status: 'up',
    lastScan: new Date(now).toISOString(),
    engine: { version: '20.10.24', apiVersion: '1.41' },
    ledger: { checkpoint: 'bench', treeSize: 1 },
    counts: countStatuses(containers),
    local: true,
  };
  const pass = {
    durationMs: 1,
    ok: true,
    compromised: false,
    results: containers,
    time: now,
    verified: [],
    cacheHits: 0,
    cacheMisses: 0,
  };
  return { time: now, node, containers, changes: [], pass } as unknown as NodeUpdate;
}

/** CLIENTS gRPC clients, each on its own connection, asking one query back to back. */
async function load(
  address: string,
  url: string,
  query: { queryType: string; json: Record<string, unknown> },
): Promise<{ latencies: number[]; errors: number; frames: number }> {
  const { Data } = loadProtocol();
  const clients = Array.from(
    { length: CLIENTS },
    () => new Data(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
  );
  const context = pluginContext({ uid: 'bench', url });
  const request = {
    pluginContext: context,
    headers: {},
    queries: [
      {
        refId: 'A',
        queryType: query.queryType,
        json: Buffer.from(JSON.stringify({ refId: 'A', queryType: query.queryType, ...query.json })),
        intervalMS: 15_000,
        maxDataPoints: 1000,
        timeRange: { fromEpochMS: Date.now() - 3_600_000, toEpochMS: Date.now() },
      },
    ],
  };
  const call = (c: grpc.Client) =>
    new Promise<QueryDataResponse>((resolve, reject) =>
      (
        c as unknown as {
          QueryData(
            r: unknown,
            o: grpc.CallOptions,
            cb: (err: Error | null, res: QueryDataResponse) => void,
          ): void;
        }
      ).QueryData(request, { deadline: Date.now() + 10_000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  // Warm up: connections and the agent's answer cache.
  await Promise.all(clients.map(call));
  const latencies: number[] = [];
  let errors = 0;
  let frames = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          const res = await call(c);
          const r = res.responses.A;
          if (!r || r.error) errors += 1;
          else frames = r.frames.length;
        } catch {
          errors += 1;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  for (const c of clients) c.close();
  return { latencies, errors, frames };
}

/** User + system CPU milliseconds the process has used. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name), in ticks.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** RSS (VmRSS), its peak, and its anonymous part (the rest is the executable's own pages). */
function rssOf(pid: number): { rss: number; peak: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024 };
}

async function main(): Promise<void> {
  const exe = backendExecutable();
  const dir = mkdtempSync('/tmp/itd-bench-grafana-');
  const pg = await startPostgres();
  const logger = pino({ level: 'warn' }, pino.destination(2));
  let server: ReturnType<typeof startBackground> | undefined;
  try {
    const url = await pg.database('grafana_bench');
    const shared = await Database.open({
      url,
      defaultSchema: FLEET_SCHEMA,
      product: 'fleet store',
      migrations: FLEET_MIGRATIONS,
      max: 10,
    });
    process.stderr.write(`publishing ${NODES} nodes × ${PER_NODE} containers…\n`);
    const publishers: FleetPublisher[] = [];
    for (let n = 0; n < NODES; n++) {
      const name = `node-${String(n).padStart(3, '0')}`;
      const p = new FleetPublisher({
        url,
        node: name,
        agent: 'bench',
        logger,
        heartbeatMs: 60_000,
        database: shared,
      });
      publishers.push(p);
      p.publish(
        updateOf(
          name,
          Array.from({ length: PER_NODE }, (_, i) => container(name, i)),
        ),
      );
      await p.settled();
    }
    const port = await freePort();
    server = startBackground(
      process.execPath,
      // No per-client rate limit: the bench's clients share one address.
      [BIN, 'fleet', 'serve', '--fleet-db', url, '--listen', `127.0.0.1:${port}`, '--rate-limit', '0'],
      join(dir, 'fleet-serve.log'),
      { PATH: process.env.PATH, HOME: dir, IMAGETRUST_HOME: dir },
    );
    const fleetUrl = `http://127.0.0.1:${port}`;
    await waitFor(`fleet serve (${server.logFile})`, async () =>
      (await fetch(`${fleetUrl}/api/v1/summary`)).ok ? true : undefined,
    );

    const handshakes: number[] = [];
    const serving: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      const b = await startBackend();
      handshakes.push(b.handshakeMs);
      serving.push(b.servingMs);
      await b.stop();
    }

    const backend = await startBackend({
      source: SOURCE,
      env: BACKEND_ENV,
      ...(process.env.BENCH_EXECUTABLE ? { executable: process.env.BENCH_EXECUTABLE } : {}),
    });
    const pid = backend.child.pid!;
    const idle = rssOf(pid);
    process.stderr.write(`containers query, ${CLIENTS} clients, ${SECONDS} s…\n`);
    const cpu0 = cpuMsOf(pid);
    const own0 = process.cpuUsage();
    const containers = await load(backend.address, fleetUrl, { queryType: 'containers', json: {} });
    const cpu1 = cpuMsOf(pid);
    const ownContainers = process.cpuUsage(own0);
    const own1 = process.cpuUsage();
    process.stderr.write(`counts query, ${CLIENTS} clients, ${SECONDS} s…\n`);
    const counts = await load(backend.address, fleetUrl, {
      queryType: 'counts',
      json: { status: 'untrusted' },
    });
    const cpu2 = cpuMsOf(pid);
    const own2 = process.cpuUsage(own1);
    const ownShare = (u: NodeJS.CpuUsage) => `${((u.user + u.system) / 10_000 / SECONDS).toFixed(0)}%`;
    const after = rssOf(pid);
    // The heap's make-up after the load, from the backend's own metrics (prom-client defaults).
    const metrics = await backend.collectMetrics();
    const metric = (name: string, label = '') =>
      Number(
        new RegExp(`^imagetrust_grafana_backend_${name}${label}\\s+(\\S+)`, 'm').exec(metrics)?.[1] ?? NaN,
      ) /
      1024 /
      1024;
    const heap = `heap ${metric('nodejs_heap_size_used_bytes').toFixed(0)} used of ${metric('nodejs_heap_size_total_bytes').toFixed(0)}, new space ${metric('nodejs_heap_space_size_total_bytes', '\\{space="new"\\}').toFixed(0)}, external ${metric('nodejs_external_memory_bytes').toFixed(0)} MB`;
    // Warm-up calls included: one per client per run.
    const perQuery = (cpu: number, n: number) => `${(cpu / (n + CLIENTS)).toFixed(2)} ms`;
    const stopped = await backend.stop();

    const rows: [string, string, string][] = [
      [
        'handshake from exec (median)',
        ms(percentile(handshakes, 50)),
        `${STARTS} starts, max ${ms(Math.max(...handshakes))}`,
      ],
      ['health SERVING from exec (median)', ms(percentile(serving, 50)), ''],
      [
        `QueryData containers (${NODES * PER_NODE} rows) p50 / p99`,
        `${ms(percentile(containers.latencies, 50))} / ${ms(percentile(containers.latencies, 99))}`,
        `${CLIENTS} clients, ${containers.latencies.length} queries, ${containers.errors} errors`,
      ],
      [
        'QueryData counts (alert) p50 / p99',
        `${ms(percentile(counts.latencies, 50))} / ${ms(percentile(counts.latencies, 99))}`,
        `target p99 < 50 ms; ${CLIENTS} clients, ${counts.latencies.length} queries, ${counts.errors} errors, ${counts.frames} frames`,
      ],
      [
        'backend CPU per query containers / counts',
        `${perQuery(cpu1 - cpu0, containers.latencies.length)} / ${perQuery(cpu2 - cpu1, counts.latencies.length)}`,
        `the bench's own process: ${ownShare(ownContainers)} / ${ownShare(own2)} of a core (100%: the figures above are the bench's limit, not the backend's)`,
      ],
      [
        'backend RSS idle / after load / peak',
        `${idle.rss.toFixed(0)} / ${after.rss.toFixed(0)} / ${after.peak.toFixed(0)} MB`,
        'target < 80 MB',
      ],
      [
        'backend anonymous RSS idle / after load',
        `${idle.anon.toFixed(0)} / ${after.anon.toFixed(0)} MB`,
        `without the executable's own file pages; after load: ${heap}`,
      ],
      ['exit after SIGTERM', ms(stopped.exitMs), 'Grafana kills after ~2 s'],
      ['executable size', `${(statSync(exe).size / 1024 / 1024).toFixed(1)} MB`, exe],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    const v = Math.max(...rows.map((r) => r[1].length));
    console.log(`\nGrafana backend (fleet serve on PostgreSQL, ${NODES} nodes × ${PER_NODE} containers)`);
    for (const [what, value, note] of rows) console.log(`  ${what.padEnd(w)}  ${value.padStart(v)}  ${note}`);
    await Promise.all(publishers.map((p) => p.close()));
    await shared.close();
  } finally {
    await server?.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
