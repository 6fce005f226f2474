// Admission and evidence benchmark, on a real dockerd with the `imagetrust authz` plugin and a
// real `ledger serve` (started here, as the tests do):
//  - admission decision time through the plugin's socket (AuthZReq for a container start):
//    cold (a digest the plugin has not judged) and warm, p50/p99;
//  - `docker run` on the same engine with and without the plugin configured, and the ratio;
//  - `search --attr` in a ledger of BENCH_STATEMENTS (10^5) statements.
// Prints tables; asserts nothing.
//
//   npm run bench:admission
//   BENCH_STATEMENTS=10000 BENCH_RUNS=5 npm run bench:admission

import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { LocalBackend } from '../pkg/ledger/backend';
import { LedgerClient } from '../pkg/ledger/client';
import { generateSignerKey } from '../pkg/ledger/keys';
import { openLocalLedger } from '../pkg/ledger/open';
import { verifiedSearch } from '../pkg/ledger/search';
import { MemoryStateStore } from '../pkg/ledger/state';
import { signStatement, type ImageDigest } from '../pkg/ledger/statement';
import { importImage, startEngine, type Engine } from '../test/integration/harness/docker';
import { BIN, cliFor } from '../test/integration/harness/cli';
import { startLedgerServer } from '../test/integration/harness/agent';
import { freePort, run, startBackground, waitFor } from '../test/integration/harness/process';

const STATEMENTS = Number(process.env.BENCH_STATEMENTS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 500);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const ms = (v: number): string => `${v.toFixed(2)} ms`;

function authzReq(socket: string, uri: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ socketPath: socket, path: '/AuthZPlugin.AuthZReq', method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t0));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ User: 'bench', RequestMethod: 'POST', RequestUri: uri }));
  });
}

async function dockerRuns(engine: Engine, image: string, prefix: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const t0 = performance.now();
    const r = await run(
      'docker',
      ['run', '-d', '--network', 'none', '--name', `${prefix}-${i}`, image, 'sleep', '600'],
      {
        env: { ...process.env, DOCKER_HOST: engine.host },
      },
    );
    if (r.code !== 0) throw new Error(`docker run failed: ${r.stderr}`);
    times.push(performance.now() - t0);
  }
  return times;
}

async function searchTime(dir: string): Promise<{ ms: number; found: number }> {
  const ledger = await openLocalLedger(join(dir, 'search.sqlite'), { synchronous: 'NORMAL' });
  const key = generateSignerKey();
  const digest = (i: number): ImageDigest => `sha256:${createHash('sha256').update(`s ${i}`).digest('hex')}`;
  for (let i = 0; i < STATEMENTS; i += 1000) {
    const batch = Array.from(
      { length: Math.min(1000, STATEMENTS - i) },
      (_, j) =>
        signStatement(
          {
            digest: digest(i + j),
            name: 'docker://bench/app',
            status: 'trusted',
            signer: key.keyId,
            time: '2026-12-01T00:00:00Z',
            metadata: {},
            attributes: { 'ci.job': String((i + j) % 5000), 'vcs.commit': String(i + j) },
            sequence: 1,
          },
          key.privateKey,
        ).envelope,
    );
    await ledger.append(batch);
  }
  const client = new LedgerClient(new LocalBackend(ledger), { state: new MemoryStateStore() });
  await client.latest();
  const t0 = performance.now();
  const result = await verifiedSearch(client, { attribute: { key: 'ci.job', value: '4242' } });
  const elapsed = performance.now() - t0;
  await client.close();
  return { ms: elapsed, found: result.found.length };
}

async function main(): Promise<void> {
  const work = mkdtempSync('/tmp/itd-bench-admission-');
  const name = `itd-bench-authz-${process.pid}`;
  const socket = `/run/docker/plugins/${name}.sock`;
  const ledgerHome = mkdtempSync(join(work, 'ledger-'));
  const ledger = await startLedgerServer(ledgerHome);
  const signerId = (await cliFor(ledgerHome, 'unix:///nonexistent')(['keygen'])).stdout.trim();
  const startPlugin = async (dockerHost: string) => {
    const port = await freePort();
    const p = startBackground(
      process.execPath,
      [
        BIN,
        'authz',
        '--name',
        name,
        '--ledger',
        ledger.url,
        '--signer',
        signerId,
        '--audit-log',
        join(work, 'audit.jsonl'),
        '--metrics-listen',
        `127.0.0.1:${port}`,
      ],
      join(work, 'authz.log'),
      { PATH: process.env.PATH, HOME: work, IMAGETRUST_HOME: work, DOCKER_HOST: dockerHost },
    );
    await waitFor('authz plugin', async () =>
      (await fetch(`http://127.0.0.1:${port}/metrics`)).ok ? true : undefined,
    );
    return p;
  };
  let plugin = await startPlugin('unix:///nonexistent/docker.sock');
  const guarded = await startEngine('bench-authz', { extraArgs: ['--authorization-plugin', name] });
  const plain = await startEngine('bench-plain');
  try {
    await plugin.stop();
    plugin = await startPlugin(guarded.host);
    for (const engine of [guarded, plain]) {
      const signer = cliFor(ledgerHome, engine.host, { IMAGETRUST_LEDGER: ledger.url });
      for (let i = 0; i < 20; i += 1) {
        await importImage(engine, `bench/app-${i}:1`, `bench-${i}`);
        await signer(['sign', `docker://bench/app-${i}:1`]);
      }
    }
    process.stderr.write('docker run with and without the plugin…\n');
    const withPlugin = await dockerRuns(guarded, 'bench/app-0:1', 'with');
    const without = await dockerRuns(plain, 'bench/app-0:1', 'without');
    // Decisions for starts of containers: cold = the first for its image, warm = repeats.
    const ids: string[] = [];
    for (let i = 1; i < 20; i += 1)
      ids.push(
        (await guarded.docker(['create', '--network', 'none', `bench/app-${i}:1`, 'sleep', '1'])).trim(),
      );
    const cold: number[] = [];
    for (const id of ids) cold.push(await authzReq(socket, `/v1.41/containers/${id}/start`));
    const warm: number[] = [];
    for (let i = 0; i < DECISIONS; i += 1)
      warm.push(await authzReq(socket, `/v1.41/containers/${ids[i % ids.length] as string}/start`));
    process.stderr.write(`search in a ledger of ${STATEMENTS} statements…\n`);
    const search = await searchTime(work);
    const median = (v: number[]) => percentile(v, 50);
    const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
    process.stdout.write(
      [
        `## Admission (imagetrust authz on dockerd ${(await guarded.docker(['version', '--format', '{{.Server.Version}}'])).trim()})`,
        '',
        line(['what', 'p50', 'p99', 'samples', 'target']),
        line(['---', '---', '---', '---', '---']),
        line([
          'decision, cold (first start of an image)',
          ms(median(cold)),
          ms(percentile(cold, 99)),
          String(cold.length),
          '',
        ]),
        line([
          'decision, warm',
          ms(median(warm)),
          ms(percentile(warm, 99)),
          String(warm.length),
          'p99 < 20 ms',
        ]),
        line([
          'docker run, with the plugin',
          ms(median(withPlugin)),
          ms(percentile(withPlugin, 99)),
          String(RUNS),
          '',
        ]),
        line(['docker run, without', ms(median(without)), ms(percentile(without, 99)), String(RUNS), '']),
        '',
        `docker run with the plugin / without (medians): ${(median(withPlugin) / median(without)).toFixed(2)}×`,
        '',
        `## Evidence search: search --attr ci.job=4242 in ${STATEMENTS.toLocaleString('en-US')} statements: ${ms(search.ms)} for ${search.found} matches, each proven included`,
        '',
      ].join('\n'),
    );
  } finally {
    await Promise.allSettled([guarded.stop(), plain.stop()]);
    await plugin.stop();
    await ledger.stop();
    rmSync(socket, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
