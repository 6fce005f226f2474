// Agent benchmark on one real Docker engine (started here, as the tests do):
//  - time from `docker run` of an untrusted image to the agent's API reporting it (p50/p99),
//  - cold and warm full verification passes, agent RSS,
//  - and, over the same containers, the original vcn-watchdog shell loop (`docker ps -q`,
//    then `docker inspect` + `jq` per container), with the ratio.
// Prints a table; asserts nothing.
//
//   npm run bench:agent                      # 100 and 500 containers
//   BENCH_CONTAINERS=100,500,1000 npm run bench:agent

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { NodeMonitor } from '../pkg/agent/monitor';
import { ReadOnlyDocker } from '../pkg/docker/engine';
import { LocalBackend } from '../pkg/ledger/backend';
import { LedgerClient } from '../pkg/ledger/client';
import { openLocalLedger } from '../pkg/ledger/open';
import { policyForSigners } from '../pkg/ledger/policy';
import { MemoryStateStore } from '../pkg/ledger/state';
import { BuiltinVerifier } from '../pkg/verify/builtin';
import { importImage, runContainer, startEngine, type Engine } from '../test/integration/harness/docker';
import { cliFor } from '../test/integration/harness/cli';
import { startAgentProcess } from '../test/integration/harness/agent';
import { run } from '../test/integration/harness/process';

const COUNTS = (process.env.BENCH_CONTAINERS ?? '100,500').split(',').map(Number);
const IMAGES = 20;
const STARTS = Number(process.env.BENCH_STARTS ?? 25);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function startContainers(engine: Engine, from: number, to: number, images: string[]): Promise<void> {
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      await runContainer(engine, `bench-${i}`, images[i % images.length] as string);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}

async function shellLoop(engine: Engine): Promise<number> {
  // The original vcn-watchdog pass, without any verification: list, then inspect + jq per container.
  const script = `docker ps -q | while read id; do docker inspect "$id" | jq -r '.[0].Config.Image' > /dev/null; done`;
  const t0 = performance.now();
  const r = await run('bash', ['-c', script], {
    env: { ...process.env, DOCKER_HOST: engine.host },
    timeoutMs: 1_200_000,
  });
  if (r.code !== 0) throw new Error(`shell loop failed: ${r.stderr}`);
  return performance.now() - t0;
}

/**
 * The query API under 50 concurrent clients: with wrk (a separate process, `apt-get install
 * wrk`) when it is installed, the p99 of /api/v1/containers over 10 s; otherwise 50 clients in
 * this process, 40 requests each, which also counts this process's own client work.
 */
async function apiLoad(url: string): Promise<{ p99: number; how: string }> {
  const wrk = await run('wrk', ['-t2', '-c50', '-d10s', '--latency', `${url}/api/v1/containers`], {
    timeoutMs: 60_000,
  }).catch(() => undefined);
  const p99 = wrk?.code === 0 ? /^\s+99%\s+([\d.]+)(us|ms|s)$/m.exec(wrk.stdout) : null;
  if (p99) {
    const scale = { us: 0.001, ms: 1, s: 1000 }[p99[2] as 'us' | 'ms' | 's'];
    return { p99: Number(p99[1]) * scale, how: 'wrk' };
  }
  return { p99: await inProcessLoad(url), how: 'in-process' };
}

async function inProcessLoad(url: string): Promise<number> {
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: 50 }, async (_, c) => {
      for (let i = 0; i < 40; i++) {
        const path = (c + i) % 2 === 0 ? '/api/v1/containers' : '/api/v1/summary';
        const t = performance.now();
        const res = await fetch(`${url}${path}`);
        await res.arrayBuffer();
        times.push(performance.now() - t);
      }
    }),
  );
  return percentile(times, 99);
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

async function main(): Promise<void> {
  const work = mkdtempSync('/tmp/itd-bench-');
  const engine = await startEngine('bench');
  try {
    console.log(
      `imagetrust agent benchmark — Docker ${(await new ReadOnlyDocker({ dockerHost: engine.host }).version()).Version}, Node ${process.version}, ${IMAGES} images`,
    );
    console.log(
      'targets: new untrusted container reported p99 < 1 s (original loop >= 60 s); 1,000-container pass < 1 s cold, < 100 ms warm, >= 50x the loop; RSS < 100 MB\n',
    );
    const home = mkdtempSync(join(work, 'home-'));
    const cli = cliFor(home, engine.host);
    const keygen = await cli(['keygen']);
    const signer = keygen.stdout.trim();
    process.stderr.write('importing and notarizing images…\n');
    const images: string[] = [];
    for (let i = 0; i < IMAGES; i++) {
      const tag = `bench/img${i}:1`;
      await importImage(engine, tag, `bench-${i}`);
      if (i % 4 !== 3) await cli([i % 4 === 2 ? 'untrust' : 'sign', `docker://${tag}`]);
      images.push(tag);
    }
    await importImage(engine, 'bench/late:1', 'late');
    await cli(['untrust', 'docker://bench/late:1']);

    const ledger = await openLocalLedger(join(home, 'ledger.db'));
    const verifier = new BuiltinVerifier(
      new LedgerClient(new LocalBackend(ledger), {
        state: new MemoryStateStore(),
        checkpointMaxAge: 3_600_000,
      }),
      policyForSigners([signer]),
    );
    const docker = new ReadOnlyDocker({ dockerHost: engine.host });
    const agent = await startAgentProcess({
      work,
      dockerHost: engine.host,
      home,
      // No per-client rate limit: the bench's clients share one address.
      args: ['--node', 'bench', '--signer', signer, '--log-level', 'warn', '--rate-limit', '0'],
    });

    const rows: string[][] = [];
    let running = 0;
    for (const count of COUNTS) {
      process.stderr.write(`starting containers up to ${count}…\n`);
      await startContainers(engine, running, count, images);
      running = count;

      // Full passes in-process: cold (empty cache, fresh monitor), then warm.
      const monitor = new NodeMonitor({
        node: 'bench',
        docker,
        verifier,
        logger: pino({ level: 'silent' }),
        resyncMs: 3_600_000,
        cacheTtlMs: 3_600_000,
      });
      let t0 = performance.now();
      await monitor.pass();
      const cold = performance.now() - t0;
      const warmRuns: number[] = [];
      for (let i = 0; i < 5; i++) {
        t0 = performance.now();
        await monitor.pass();
        warmRuns.push(performance.now() - t0);
      }
      const warm = percentile(warmRuns, 50);
      if (monitor.containers().length !== count)
        throw new Error(`pass saw ${monitor.containers().length} of ${count} containers`);

      // Latency: docker run of an untrusted image until the agent's API reports it untrusted.
      process.stderr.write(`measuring ${STARTS} starts…\n`);
      const latencies: number[] = [];
      for (let i = 0; i < STARTS; i++) {
        const name = `late-${count}-${i}`;
        const t = performance.now();
        await runContainer(engine, name, 'bench/late:1');
        for (;;) {
          const res = await fetch(`${agent.url}/api/v1/containers?status=untrusted&scope=local`);
          const body = (await res.json()) as { containers: { name: string }[] };
          if (body.containers.some((c) => c.name === name)) break;
          await new Promise((r) => setTimeout(r, 5));
        }
        latencies.push(performance.now() - t);
        await engine.docker(['rm', '-f', name]);
      }
      const apiP99 = await apiLoad(agent.url);
      const rss = rssMb(agent.process.child.pid as number);
      process.stderr.write('running the vcn-watchdog shell loop…\n');
      const loop = await shellLoop(engine);
      rows.push([
        String(count),
        `${Math.round(percentile(latencies, 50))} ms`,
        `${Math.round(percentile(latencies, 99))} ms`,
        `${Math.round(cold)} ms`,
        `${Math.round(warm)} ms`,
        `${(loop / 1000).toFixed(1)} s`,
        `${Math.round(loop / cold)}x`,
        `${Math.round(loop / warm)}x`,
        `${rss} MB`,
        `${apiP99.p99.toFixed(1)} ms (${apiP99.how})`,
      ]);
    }
    await agent.stop();
    await verifier.close();
    const header = [
      'containers',
      'run→API p50',
      'run→API p99',
      'pass cold',
      'pass warm',
      'shell loop',
      'loop/cold',
      'loop/warm',
      'agent RSS',
      'API p99 (50 clients)',
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
    const fmt = (cells: string[]) =>
      `| ${cells.map((c, i) => c.padStart(widths[i] as number)).join(' | ')} |`;
    console.log(fmt(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(fmt(r));
    console.log(
      '\n"run→API" includes `docker run` itself; passes list every container once and verify each digest (cold: empty cache).',
    );
  } finally {
    process.stderr.write('removing containers and the engine…\n');
    await engine.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
