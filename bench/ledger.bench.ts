// Ledger benchmark: durable appends/s, verified lookups/s (cold and warm), proof length and
// database bytes per entry at 10^3, 10^4 and 10^5 entries (10^6 with BENCH_MAX=1000000).
// Prints a table; asserts nothing.
//
//   npm run bench:ledger                 # 10^3 .. 10^5
//   BENCH_MAX=1000000 npm run bench:ledger

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { LocalBackend } from '../pkg/ledger/backend';
import { LedgerClient } from '../pkg/ledger/client';
import { generateSignerKey } from '../pkg/ledger/keys';
import { openLocalLedger } from '../pkg/ledger/open';
import { policyForSigners } from '../pkg/ledger/policy';
import { MemoryStateStore } from '../pkg/ledger/state';
import { signStatement, type ImageDigest } from '../pkg/ledger/statement';

const MAX = Number(process.env.BENCH_MAX ?? 100_000);
const SIZES = [1_000, 10_000, 100_000, 1_000_000].filter((n) => n <= MAX);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 5_000);
const SYNC = (process.env.BENCH_SYNC ?? 'FULL') as 'FULL' | 'NORMAL';

const key = generateSignerKey();
const policy = policyForSigners([key.keyId]);
const digestOf = (i: number): ImageDigest =>
  `sha256:${createHash('sha256').update(`image ${i}`).digest('hex')}`;

function statement(i: number, digests: number) {
  return signStatement(
    {
      kind: 'docker',
      digest: digestOf(i % digests),
      name: `docker://registry.example/app-${i % digests}:v${i}`,
      status: i % 7 === 0 ? 'untrusted' : 'trusted',
      signer: key.keyId,
      time: new Date(1_700_000_000_000 + i * 1000).toISOString(),
      metadata: { os: 'linux', architecture: 'amd64', repoTags: [`app:${i}`], repoDigests: [], labels: {} },
    },
    key.privateKey,
  ).envelope;
}

function rate(count: number, ms: number): string {
  return `${Math.round((count / ms) * 1000).toLocaleString('en-US')}/s`;
}

interface Row {
  entries: number;
  appendRate: string;
  singleAppendRate: string;
  cold: string;
  coldConcurrent: string;
  statementsCold: string;
  warm: string;
  proofMax: number;
  proofMean: string;
  log2: number;
  bytesPerEntry: number;
}

async function benchSize(n: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'imagetrust-bench-'));
  try {
    const ledger = await openLocalLedger(join(dir, 'ledger.db'), { synchronous: SYNC });
    const digests = Math.max(1, Math.floor(n / 2)); // every digest gets about two statements
    process.stderr.write(`  n=${n}: signing ${n} statements…\n`);
    const envelopes = Array.from({ length: n }, (_, i) => statement(i, digests));

    process.stderr.write(`  n=${n}: appending in batches of ${BATCH}…\n`);
    const t0 = performance.now();
    for (let i = 0; i < n; i += BATCH) await ledger.append(envelopes.slice(i, i + BATCH));
    const appendMs = performance.now() - t0;

    // One statement per transaction and checkpoint, for comparison (200 more entries).
    const singles = Array.from({ length: 200 }, (_, i) => statement(n + i, digests));
    const t1 = performance.now();
    for (const e of singles) await ledger.append([e]);
    const singleMs = performance.now() - t1;

    const size = (await ledger.latestCheckpoint()).size;
    const client = new LedgerClient(new LocalBackend(ledger), {
      state: new MemoryStateStore(),
      checkpointMaxAge: 3_600_000,
    });
    await client.latest();
    const picks = Array.from({ length: Math.min(LOOKUPS, digests) }, (_, i) =>
      digestOf((i * 7919) % digests),
    );
    let proofMax = 0;
    let proofSum = 0;
    let proofs = 0;
    const t2 = performance.now();
    for (const d of picks) {
      const answer = await client.verify(d, policy);
      for (const p of answer.proofs.values()) {
        proofMax = Math.max(proofMax, p.length);
        proofSum += p.length;
        proofs += 1;
      }
    }
    const coldMs = performance.now() - t2;
    let statementsChecked = 0;
    const fresh = new LedgerClient(new LocalBackend(ledger), {
      state: new MemoryStateStore(),
      checkpointMaxAge: 3_600_000,
    });
    await fresh.latest();
    const t2c = performance.now();
    const CONCURRENCY = 32;
    for (let i = 0; i < picks.length; i += CONCURRENCY) {
      const answers = await Promise.all(picks.slice(i, i + CONCURRENCY).map((d) => fresh.verify(d, policy)));
      for (const a of answers) statementsChecked += a.statements.length;
    }
    const coldConcurrentMs = performance.now() - t2c;
    const warmRounds = 20;
    const t3 = performance.now();
    for (let r = 0; r < warmRounds; r++) for (const d of picks) await client.verify(d, policy);
    const warmMs = performance.now() - t3;
    const bytes = await ledger.store.sizeOnDisk();
    await client.close();
    return {
      entries: size,
      appendRate: rate(n, appendMs),
      singleAppendRate: rate(singles.length, singleMs),
      cold: rate(picks.length, coldMs),
      coldConcurrent: rate(picks.length, coldConcurrentMs),
      statementsCold: rate(statementsChecked, coldConcurrentMs),
      warm: rate(picks.length * warmRounds, warmMs),
      proofMax,
      proofMean: (proofSum / Math.max(1, proofs)).toFixed(1),
      log2: Math.ceil(Math.log2(size)),
      bytesPerEntry: Math.round(bytes / size),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(
    `imagetrust ledger benchmark — SQLite WAL, synchronous=${SYNC}, batches of ${BATCH}, Node ${process.version}`,
  );
  console.log(
    'targets: durable appends >= 5,000/s; verified lookups >= 5,000/s cold, >= 100,000/s warm; proof <= ceil(log2 n)',
  );
  console.log(
    'a lookup returns every statement about a digest (about two here), each with its signature and inclusion proof checked;',
  );
  console.log(
    '"cold x32" runs 32 lookups at a time on a fresh client; "warm" repeats them on a client that already proved them.\n',
  );
  const rows: Row[] = [];
  for (const n of SIZES) rows.push(await benchSize(n));
  const header = [
    'entries',
    'appends (batched)',
    'appends (1/txn)',
    'lookups cold',
    'cold x32',
    'stmts verified cold',
    'lookups warm',
    'proof max',
    'proof mean',
    'ceil(log2 n)',
    'bytes/entry',
  ];
  const lines = rows.map((r) => [
    r.entries.toLocaleString('en-US'),
    r.appendRate,
    r.singleAppendRate,
    r.cold,
    r.coldConcurrent,
    r.statementsCold,
    r.warm,
    String(r.proofMax),
    r.proofMean,
    String(r.log2),
    String(r.bytesPerEntry),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i] as number)).join(' | ')} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(fmt(l));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
