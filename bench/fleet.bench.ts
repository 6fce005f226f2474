// Fleet benchmark on a real PostgreSQL server (started here, as the tests do):
//  - a simulator drives BENCH_NODES (1,000) nodes × BENCH_CONTAINERS (50) containers through the
//    real fleet-store publisher (pkg/fleet/publisher.ts) at a realistic churn (BENCH_CHURN, 1 % of
//    containers change a minute) plus a heartbeat per node every 10 s, while BENCH_CLIENTS (50)
//    clients query a real `imagetrust fleet serve` process: /summary and /containers?node= p99;
//  - publish lag: a container's status changed on a node → visible in the fleet API (p50/p99);
//  - the database's rows and bytes;
//  - durable ledger appends/s, batched, on PostgreSQL and on SQLite in the same run.
// Prints tables; asserts nothing.
//
//   npm run bench:fleet
//   BENCH_NODES=200 BENCH_SECONDS=20 npm run bench:fleet

import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { FleetPublisher } from '../pkg/fleet/publisher';
import { FLEET_MIGRATIONS, FLEET_SCHEMA } from '../pkg/fleet/schema';
import { FleetStore } from '../pkg/fleet/store';
import { Database } from '../pkg/postgres/database';
import type { NodeUpdate } from '../pkg/agent/publish';
import { countStatuses, type ContainerResult, type NodeState } from '../pkg/agent/types';
import { openLocalLedger } from '../pkg/ledger/open';
import { generateSignerKey } from '../pkg/ledger/keys';
import { signStatement, type ImageDigest } from '../pkg/ledger/statement';
import { BIN } from '../test/integration/harness/cli';
import { freePort, startBackground, waitFor } from '../test/integration/harness/process';
import { startPostgres } from '../test/integration/harness/postgres';

const NODES = Number(process.env.BENCH_NODES ?? 1000);
const PER_NODE = Number(process.env.BENCH_CONTAINERS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const CHURN_PER_MINUTE = Number(process.env.BENCH_CHURN ?? 0.01);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const HEARTBEAT_MS = 10_000;
const APPENDS = Number(process.env.BENCH_APPENDS ?? 20_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const STATUSES = ['trusted', 'untrusted', 'unsupported', 'unknown'] as const;

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const ms = (v: number): string => `${v.toFixed(1)} ms`;
const digestOf = (i: number): ImageDigest =>
  `sha256:${createHash('sha256').update(`image ${i}`).digest('hex')}`;

interface SimNode {
  name: string;
  containers: ContainerResult[];
  publisher: FleetPublisher;
}

function container(node: string, i: number): ContainerResult {
  return {
    node,
    id: createHash('sha256').update(`${node}/${i}`).digest('hex'),
    name: `app-${i}`,
    image: `registry.example/app-${i % 20}:1`,
    digest: digestOf(i % 20),
    status: 'trusted',
    statusCode: 0,
    level: 0,
    verifiedAt: new Date().toISOString(),
    drift: false,
    state: 'running',
    labels: { 'com.example.team': `team-${i % 7}` },
  };
}

function updateOf(n: SimNode): NodeUpdate {
  const now = Date.now();
  const node: NodeState = {
    node: n.name,
    status: 'up',
    lastScan: new Date(now).toISOString(),
    engine: { version: '20.10.24', apiVersion: '1.41' },
    ledger: { checkpoint: 'bench', treeSize: 1 },
    counts: countStatuses(n.containers),
    local: true,
  };
  return {
    time: now,
    node,
    containers: n.containers.slice(),
    changes: [],
    pass: {
      durationMs: 1,
      ok: true,
      compromised: false,
      results: n.containers,
      time: now,
      verified: [],
      cacheHits: 0,
      cacheMisses: 0,
    },
  } as unknown as NodeUpdate;
}

async function ledgerAppends(pgUrl: string, dir: string): Promise<{ store: string; rate: number }[]> {
  const key = generateSignerKey();
  const envelopes = Array.from(
    { length: APPENDS },
    (_, i) =>
      signStatement(
        {
          digest: digestOf(i),
          name: `docker://bench/app:${i}`,
          status: 'trusted',
          signer: key.keyId,
          time: '2026-12-01T00:00:00Z',
          metadata: {},
          attributes: {},
          sequence: 1,
        },
        key.privateKey,
      ).envelope,
  );
  const out: { store: string; rate: number }[] = [];
  for (const [store, location, options] of [
    ['SQLite (synchronous=FULL)', join(dir, 'ledger.sqlite'), {}],
    ['PostgreSQL', pgUrl, { keyPath: join(dir, 'pg.key') }],
  ] as const) {
    const ledger = await openLocalLedger(location, options);
    const t0 = performance.now();
    for (let i = 0; i < envelopes.length; i += BATCH) await ledger.append(envelopes.slice(i, i + BATCH));
    out.push({ store, rate: (envelopes.length / (performance.now() - t0)) * 1000 });
    await ledger.close();
  }
  return out;
}

/** CLIENTS closed-loop clients for `ms`: half ask /summary, half /containers?node= of a random node. */
function queryLoad(api: string, names: string[], ms: number): Promise<{ summary: number[]; node: number[] }> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { performance } = require('node:perf_hooks');
    const { api, names, ms, clients } = workerData;
    const out = { summary: [], node: [] };
    const end = performance.now() + ms;
    const one = async (k) => {
      while (performance.now() < end) {
        const summary = k % 2 === 0;
        const path = summary ? '/summary' : '/containers?node=' + names[Math.floor(Math.random() * names.length)];
        const t = performance.now();
        const res = await fetch(api + path);
        await res.arrayBuffer();
        (summary ? out.summary : out.node).push(performance.now() - t);
      }
    };
    Promise.all(Array.from({ length: clients }, (_, k) => one(k))).then(() => parentPort.postMessage(out));
  `;
  const worker = new Worker(code, { eval: true, workerData: { api, names, ms, clients: CLIENTS } });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { summary: number[]; node: number[] }) => {
      void worker.terminate();
      resolve(m);
    });
    worker.once('error', reject);
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync('/tmp/itd-bench-fleet-');
  const pg = await startPostgres();
  const logger = pino({ level: 'warn' }, pino.destination(2));
  try {
    process.stderr.write('ledger appends (PostgreSQL and SQLite)…\n');
    const appends = await ledgerAppends(await pg.database('ledger_bench'), dir);

    const url = await pg.database('fleet_bench');
    const shared = await Database.open({
      url,
      defaultSchema: FLEET_SCHEMA,
      product: 'fleet store',
      migrations: FLEET_MIGRATIONS,
      max: 20,
    });
    process.stderr.write(`publishing ${NODES} nodes × ${PER_NODE} containers…\n`);
    const nodes: SimNode[] = Array.from({ length: NODES }, (_, n) => {
      const name = `node-${String(n).padStart(4, '0')}`;
      return {
        name,
        containers: Array.from({ length: PER_NODE }, (_, i) => container(name, i)),
        publisher: new FleetPublisher({
          url,
          node: name,
          agent: 'bench',
          logger,
          heartbeatMs: HEARTBEAT_MS,
          database: shared,
        }),
      };
    });
    const t0 = performance.now();
    for (let i = 0; i < nodes.length; i += 50) {
      const group = nodes.slice(i, i + 50);
      for (const n of group) n.publisher.publish(updateOf(n));
      await Promise.all(group.map((n) => n.publisher.settled()));
    }
    const initialMs = performance.now() - t0;

    const port = await freePort();
    const server = startBackground(
      process.execPath,
      // No per-client rate limit: the bench's clients share one address.
      [BIN, 'fleet', 'serve', '--fleet-db', url, '--listen', `127.0.0.1:${port}`, '--rate-limit', '0'],
      join(dir, 'fleet-serve.log'),
      { PATH: process.env.PATH, HOME: dir, IMAGETRUST_HOME: dir },
    );
    const api = `http://127.0.0.1:${port}/api/v1`;
    await waitFor(`fleet serve (${server.logFile})`, async () =>
      (await fetch(`${api}/summary`)).ok ? true : undefined,
    );

    // Churn: changes spread over the run; a lag probe is one of them, watched through the API.
    const changesPerSecond = (NODES * PER_NODE * CHURN_PER_MINUTE) / 60;
    const lags: number[] = [];
    const latency = { summary: [] as number[], node: [] as number[] };
    let stop = false;
    let changes = 0;
    const churn = (async () => {
      let carry = 0;
      while (!stop) {
        await new Promise((r) => setTimeout(r, 100));
        carry += changesPerSecond / 10;
        for (; carry >= 1; carry -= 1) {
          const n = nodes[Math.floor(Math.random() * nodes.length)] as SimNode;
          const c = n.containers[Math.floor(Math.random() * n.containers.length)] as ContainerResult;
          c.status = STATUSES[
            (STATUSES.indexOf(c.status) + 1) % STATUSES.length
          ] as ContainerResult['status'];
          n.publisher.publish(updateOf(n));
          changes += 1;
        }
      }
    })();
    const probes = (async () => {
      while (!stop) {
        const n = nodes[Math.floor(Math.random() * nodes.length)] as SimNode;
        const c = n.containers[0] as ContainerResult;
        c.status = c.status === 'untrusted' ? 'trusted' : 'untrusted';
        const want = c.status;
        const start = performance.now();
        n.publisher.publish(updateOf(n));
        changes += 1;
        for (;;) {
          const r = (await (await fetch(`${api}/containers?node=${n.name}`)).json()) as {
            containers: ContainerResult[];
          };
          if (r.containers.find((x) => x.id === c.id)?.status === want) break;
          if (performance.now() - start > 30_000) break;
          await new Promise((res) => setTimeout(res, 20));
        }
        lags.push(performance.now() - start);
        await new Promise((res) => setTimeout(res, 250));
      }
    })();
    // The clients run on a thread of their own, so that the simulated nodes' work in this one
    // does not delay their clocks.
    const clients = queryLoad(
      api,
      nodes.map((n) => n.name),
      SECONDS * 1000,
    );
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const measured = await clients;
    latency.summary = measured.summary;
    latency.node = measured.node;
    stop = true;
    await Promise.all([churn, probes]);
    await Promise.all(nodes.map((n) => n.publisher.settled()));

    const store = await FleetStore.open({ url, staleMs: 60_000 });
    const size = await store.size();
    await store.close();
    await Promise.all(nodes.map((n) => n.publisher.close()));
    await shared.close();
    await server.stop();

    const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
    const out = [
      `## Fleet store: ${NODES} nodes × ${PER_NODE} containers, ${SECONDS} s, ${changes} changes (${(CHURN_PER_MINUTE * 100).toFixed(1)} %/min + probes), heartbeat every ${HEARTBEAT_MS / 1000} s, ${CLIENTS} concurrent clients`,
      '',
      line(['what', 'p50', 'p99', 'samples', 'target']),
      line(['---', '---', '---', '---', '---']),
      line([
        'publish lag (change → visible in /containers?node=)',
        ms(percentile(lags, 50)),
        ms(percentile(lags, 99)),
        String(lags.length),
        'p99 < 2 s',
      ]),
      line([
        'GET /summary',
        ms(percentile(latency.summary, 50)),
        ms(percentile(latency.summary, 99)),
        String(latency.summary.length),
        'p99 < 100 ms',
      ]),
      line([
        'GET /containers?node=',
        ms(percentile(latency.node, 50)),
        ms(percentile(latency.node, 99)),
        String(latency.node.length),
        'p99 < 100 ms',
      ]),
      '',
      `initial publish of every node: ${(initialMs / 1000).toFixed(1)} s; database: ${Object.entries(
        size.rows,
      )
        .map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`)
        .join(', ')} rows, ${(size.bytes / 1024 / 1024).toFixed(1)} MiB`,
      '',
      `## Ledger appends, batched (${APPENDS.toLocaleString('en-US')} statements in batches of ${BATCH}, index and checkpoint included)`,
      '',
      line(['store', 'appends/s', 'target']),
      line(['---', '---', '---']),
      ...appends.map((a) =>
        line([
          a.store,
          `${Math.round(a.rate).toLocaleString('en-US')}/s`,
          a.store.startsWith('PostgreSQL') ? '≥ 3,000/s' : '≥ 5,000/s',
        ]),
      ),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
