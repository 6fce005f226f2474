// Ledger benchmark: imagetrust 0.2 (format 2: statement index in every checkpoint) against
// imagetrust 0.1 (its code checked out from git at the 0.1 release commit) in the same run, on
// the same machine, with the same harness. Prints tables; asserts nothing.
//
//   per size n (10^3, 10^4, 10^5; 10^6 with BENCH_MAX=1000000):
//     durable appends/s batched (index update included) and one per transaction,
//     cold verified lookups/s (signature + inclusion + index proof per statement), sequential
//     and 32 at a time, as statements/s and as a share of the Ed25519 verify floor (one thread)
//     measured next to them (the median over slices of 250 lookups, each after its own run of
//     the floor: the load of a shared machine moves from one second to the next),
//     warm lookups/s, log proof length against ⌈log2 n⌉, index proof length against
//     ⌈log2 #keys⌉, database bytes per entry;
//   then one digest flooded by BENCH_FLOOD (10^5) statements from other keys: the time and the
//   size of a lookup of the allowed signer's two statements.
//
//   npm run bench:ledger
//   BENCH_MAX=1000000 BENCH_FLOOD=100000 npm run bench:ledger
//   BENCH_V01=0 npm run bench:ledger          # skip the 0.1 comparison

import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalBackend } from '../pkg/ledger/backend';
import { LedgerClient } from '../pkg/ledger/client';
import { ed25519Sign, ed25519Verify, ed25519VerifyAsync } from '../pkg/ledger/ed25519';
import { signerKeyFrom, type SignerKey } from '../pkg/ledger/keys';
import { openLocalLedger } from '../pkg/ledger/open';
import { policyForSigners, type TrustPolicy } from '../pkg/ledger/policy';
import { MemoryStateStore } from '../pkg/ledger/state';
import { signStatement, type ImageDigest } from '../pkg/ledger/statement';
import { encodeKeyLookup } from '../pkg/ledger/wire';

const MAX = Number(process.env.BENCH_MAX ?? 100_000);
const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,100000,1000000')
  .split(',')
  .map(Number)
  .filter((n) => n <= MAX);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 5_000);
const FLOOD = Number(process.env.BENCH_FLOOD ?? 100_000);
const SYNC = (process.env.BENCH_SYNC ?? 'FULL') as 'FULL' | 'NORMAL';
const V01_COMMIT = process.env.BENCH_V01_COMMIT ?? 'a692858';
const WITH_V01 = process.env.BENCH_V01 !== '0';
const REPO = resolve(__dirname, '..');

const digestOf = (i: number): ImageDigest =>
  `sha256:${createHash('sha256').update(`image ${i}`).digest('hex')}`;
const rate = (count: number, ms: number): number => (count / ms) * 1000;
const fmtRate = (r: number): string => `${Math.round(r).toLocaleString('en-US')}/s`;

/** What the harness needs from one implementation of the ledger. */
interface Impl {
  name: string;
  /** The statement of signer `key` numbered i among `digests` digests (i-th overall). */
  sign(key: SignerKey, i: number, digests: number): Buffer;
  open(path: string): Promise<OpenedLedger>;
  client(ledger: OpenedLedger): Verifier;
  /** The bytes `ledger serve` would send for the allowed signer's lookup of `digest`. */
  answerBytes(ledger: OpenedLedger, signer: string, digest: ImageDigest, size: number): Promise<number>;
}

/** Either version's Ledger object, with the few calls the harness makes. */
interface LedgerLike {
  append(envelopes: Buffer[]): Promise<unknown>;
  latestCheckpoint(): Promise<{ size: number }>;
  store: { sizeOnDisk(): Promise<number> };
  close(): Promise<void>;
}

interface OpenedLedger {
  ledger: LedgerLike;
  append(envelopes: Buffer[]): Promise<unknown>;
  sizeOnDisk(): Promise<number>;
  size(): Promise<number>;
  close(): Promise<void>;
}

function wrap(ledger: LedgerLike): OpenedLedger {
  return {
    ledger,
    append: (e) => ledger.append(e),
    sizeOnDisk: () => ledger.store.sizeOnDisk(),
    size: async () => (await ledger.latestCheckpoint()).size,
    close: () => ledger.close(),
  };
}

interface Verifier {
  latest(): Promise<unknown>;
  verify(
    d: ImageDigest,
    policy: TrustPolicy,
  ): Promise<{
    statements: unknown[];
    proofs: Map<number, Buffer[]>;
    indexProofs?: Map<string, { steps: unknown[] }>;
  }>;
  close(): Promise<void>;
}

function metadata(i: number) {
  return { os: 'linux', architecture: 'amd64', repoTags: [`app:${i}`], repoDigests: [], labels: {} };
}

function currentImpl(): Impl {
  const last = new Map<string, string>();
  return {
    name: '0.2',
    sign(key, i, digests) {
      const d = i % digests;
      const k = `${key.keyId}/${d}`;
      const supersedes = last.get(k);
      const signed = signStatement(
        {
          digest: digestOf(d),
          name: `docker://registry.example/app-${d}:v${i}`,
          status: i % 7 === 0 ? 'untrusted' : 'trusted',
          signer: key.keyId,
          time: new Date(1_700_000_000_000 + i * 1000).toISOString(),
          metadata: metadata(i),
          sequence: supersedes ? Number(supersedes.split(' ')[1]) + 1 : 1,
          ...(supersedes ? { supersedes: supersedes.split(' ')[0] } : {}),
        },
        key.privateKey,
      );
      last.set(k, `${signed.id} ${signed.statement.sequence}`);
      return signed.envelope;
    },
    async open(path) {
      last.clear(); // every ledger starts each signer's order afresh
      const ledger = await openLocalLedger(path, { synchronous: SYNC });
      return wrap(ledger);
    },
    client(ledger) {
      return new LedgerClient(new LocalBackend(ledger.ledger as never), {
        state: new MemoryStateStore(),
        checkpointMaxAge: 3_600_000,
      });
    },
    async answerBytes(ledger, signer, digest, size) {
      const l = ledger.ledger as unknown as Awaited<ReturnType<typeof openLocalLedger>>;
      return JSON.stringify(encodeKeyLookup(signer, digest, await l.lookup(signer, digest, size))).length;
    },
  };
}

/** imagetrust 0.1's ledger, from git, driven through its own API (dynamic imports of its sources). */
async function legacyImpl(): Promise<Impl | undefined> {
  const root = join(REPO, 'bench', '.v0.1');
  try {
    if (!existsSync(join(root, 'pkg', 'ledger', 'open.ts'))) {
      mkdirSync(root, { recursive: true });
      const tar = execFileSync('git', ['-C', REPO, 'archive', V01_COMMIT, 'pkg'], {
        maxBuffer: 64 * 1024 * 1024,
      });
      execFileSync('tar', ['-x', '-C', root], { input: tar });
    }
  } catch (err) {
    process.stderr.write(
      `  imagetrust 0.1 (${V01_COMMIT}) is not in this clone's history: ${(err as Error).message}\n`,
    );
    return undefined;
  }
  const mod = async (p: string) => import(join(root, 'pkg', p));
  const [open, backend, client, state, statement] = await Promise.all([
    mod('ledger/open.ts'),
    mod('ledger/backend.ts'),
    mod('ledger/client.ts'),
    mod('ledger/state.ts'),
    mod('ledger/statement.ts'),
  ]);
  return {
    name: '0.1',
    sign(key, i, digests) {
      const d = i % digests;
      return statement.signStatement(
        {
          kind: 'docker',
          digest: digestOf(d),
          name: `docker://registry.example/app-${d}:v${i}`,
          status: i % 7 === 0 ? 'untrusted' : 'trusted',
          signer: key.keyId,
          time: new Date(1_700_000_000_000 + i * 1000).toISOString(),
          metadata: metadata(i),
        },
        key.privateKey,
      ).envelope;
    },
    async open(path) {
      return wrap(await open.openLocalLedger(path, { synchronous: SYNC }));
    },
    client(ledger) {
      return new client.LedgerClient(new backend.LocalBackend(ledger.ledger), {
        state: new state.MemoryStateStore(),
        checkpointMaxAge: 3_600_000,
      });
    },
    async answerBytes(ledger, _signer, digest, size) {
      const entries = (await (
        ledger.ledger as unknown as {
          lookup(d: string, s: number): Promise<{ index: number; leaf: Buffer; proof: Buffer[] }[]>;
        }
      ).lookup(digest, size)) as { index: number; leaf: Buffer; proof: Buffer[] }[];
      return JSON.stringify({
        size,
        entries: entries.map((e) => ({
          index: e.index,
          leaf: e.leaf.toString('base64'),
          proof: e.proof.map((p) => p.toString('base64')),
        })),
      }).length;
    },
  };
}

const floorKey = generateKeyPairSync('ed25519');
const floorMessage = randomBytes(300);
const floorSignature = ed25519Sign(floorKey.privateKey, floorMessage);

/**
 * Ed25519 verifications per second on one thread: the best of `runs` runs of `n`, since a
 * floor is what the machine can do and noise from elsewhere only ever lowers a run.
 */
function verifyFloor(n = 2000, runs = 3): number {
  let best = 0;
  for (let run = 0; run < runs; run++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) ed25519Verify(floorKey.publicKey, floorMessage, floorSignature);
    best = Math.max(best, rate(n, performance.now() - t));
  }
  return best;
}

function ed25519Floor(): { sign: number; verify: number; verifyPool: Promise<number> } {
  const key = floorKey;
  const msg = floorMessage;
  const sig = floorSignature;
  const pub = key.publicKey;
  const N = 5000;
  const t = performance.now();
  for (let i = 0; i < N; i++) ed25519Sign(key.privateKey, msg);
  const sign = rate(N, performance.now() - t);
  const verify = verifyFloor();
  const verifyPool = (async () => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, () => ed25519VerifyAsync(pub, msg, sig)));
    return rate(N, performance.now() - t0);
  })();
  return { sign, verify, verifyPool };
}

const SLICE = 250;

/**
 * Cold lookups of `picks`, `concurrency` at a time, in slices of SLICE lookups, each after a
 * short run of the verify floor: the machine's load changes from one second to the next, so
 * each slice is compared with the floor measured next to it, and the median share is kept.
 */
async function sharesOfFloor(
  picks: ImageDigest[],
  concurrency: number,
  lookup: (d: ImageDigest) => Promise<number>,
): Promise<{ ms: number; statements: number; share: number; floor: number }> {
  let ms = 0;
  let statements = 0;
  const shares: number[] = [];
  const floors: number[] = [];
  for (let s = 0; s < picks.length; s += SLICE) {
    const floor = verifyFloor(300, 1);
    const slice = picks.slice(s, s + SLICE);
    let found = 0;
    const t = performance.now();
    for (let i = 0; i < slice.length; i += concurrency) {
      for (const n of await Promise.all(slice.slice(i, i + concurrency).map(lookup))) found += n;
    }
    const sliceMs = performance.now() - t;
    ms += sliceMs;
    statements += found;
    shares.push(rate(found, sliceMs) / floor);
    floors.push(floor);
  }
  return { ms, statements, share: median(shares), floor: median(floors) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

interface Row {
  impl: string;
  entries: number;
  append: number;
  single: number;
  cold: number;
  coldConcurrent: number;
  statementsCold: number;
  statementsColdSeq: number;
  /** Median share of the floor over slices of the cold lookups, sequential and 32 at a time. */
  shareSeq: number;
  shareX32: number;
  /** The median of the floor measured before each slice of the sequential cold lookups. */
  floor: number;
  warm: number;
  logProofMax: number;
  log2: number;
  indexProofMean: number;
  indexProofMax: number;
  log2Keys: number;
  bytesPerEntry: number;
}

async function benchSize(impl: Impl, n: number, key: SignerKey): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'imagetrust-bench-'));
  try {
    const ledger = await impl.open(join(dir, 'ledger.db'));
    const digests = Math.max(1, Math.floor(n / 2)); // every digest gets about two statements
    process.stderr.write(`  ${impl.name} n=${n}: signing…\n`);
    const envelopes = Array.from({ length: n }, (_, i) => impl.sign(key, i, digests));
    process.stderr.write(`  ${impl.name} n=${n}: appending in batches of ${BATCH}…\n`);
    const t0 = performance.now();
    for (let i = 0; i < n; i += BATCH) await ledger.append(envelopes.slice(i, i + BATCH));
    const appendMs = performance.now() - t0;
    const singles = Array.from({ length: 200 }, (_, i) => impl.sign(key, n + i, digests));
    const t1 = performance.now();
    for (const e of singles) await ledger.append([e]);
    const singleMs = performance.now() - t1;
    const size = await ledger.size();
    const policy = policyForSigners([key.keyId]);
    const picks = Array.from({ length: Math.min(LOOKUPS, digests) }, (_, i) =>
      digestOf((i * 7919) % digests),
    );

    process.stderr.write(`  ${impl.name} n=${n}: lookups…\n`);
    const client = impl.client(ledger);
    await client.latest();
    let logProofMax = 0;
    let indexSteps = 0;
    let indexProofs = 0;
    let indexProofMax = 0;
    const seq = await sharesOfFloor(picks, 1, async (d) => {
      const answer = await client.verify(d, policy);
      for (const p of answer.proofs.values()) logProofMax = Math.max(logProofMax, p.length);
      for (const p of answer.indexProofs?.values() ?? []) {
        indexSteps += p.steps.length;
        indexProofs += 1;
        indexProofMax = Math.max(indexProofMax, p.steps.length);
      }
      return answer.statements.length;
    });
    const fresh = impl.client(ledger);
    await fresh.latest();
    const x32 = await sharesOfFloor(
      picks,
      32,
      async (d) => (await fresh.verify(d, policy)).statements.length,
    );
    const rounds = 20;
    const t4 = performance.now();
    for (let r = 0; r < rounds; r++) for (const d of picks) await client.verify(d, policy);
    const warmMs = performance.now() - t4;
    const bytes = await ledger.sizeOnDisk();
    await client.close();
    await fresh.close().catch(() => undefined);
    return {
      impl: impl.name,
      entries: size,
      append: rate(n, appendMs),
      single: rate(singles.length, singleMs),
      cold: rate(picks.length, seq.ms),
      coldConcurrent: rate(picks.length, x32.ms),
      statementsCold: rate(x32.statements, x32.ms),
      statementsColdSeq: rate(seq.statements, seq.ms),
      shareSeq: seq.share,
      shareX32: x32.share,
      floor: seq.floor,
      warm: rate(picks.length * rounds, warmMs),
      logProofMax,
      log2: Math.ceil(Math.log2(size)),
      indexProofMean: indexProofs ? indexSteps / indexProofs : NaN,
      indexProofMax,
      log2Keys: Math.ceil(Math.log2(digests)),
      bytesPerEntry: Math.round(bytes / size),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface FloodRow {
  impl: string;
  statements: number;
  lookupMs: number;
  answerBytes: number;
  verdict: string;
}

/** One digest: two statements of the allowed signer, then `count` from throwaway keys. */
async function benchFlood(impl: Impl, count: number, key: SignerKey): Promise<FloodRow> {
  const dir = mkdtempSync(join(tmpdir(), 'imagetrust-flood-'));
  try {
    const ledger = await impl.open(join(dir, 'ledger.db'));
    await ledger.append([impl.sign(key, 0, 1)]);
    await ledger.append([impl.sign(key, 7, 1)]); // 7 % 7 === 0: the untrust
    process.stderr.write(`  ${impl.name} flood: ${count} statements from other keys…\n`);
    const keys = Array.from({ length: 1000 }, () => signerKeyFrom(generateKeyPairSync('ed25519').privateKey));
    for (let i = 0; i < count; i += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, count - i) }, (_, j) =>
        impl.sign(keys[(i + j) % keys.length] as SignerKey, 1 + i + j, 1),
      );
      await ledger.append(batch);
    }
    const size = await ledger.size();
    const client = impl.client(ledger);
    await client.latest();
    const t = performance.now();
    const answer = (await client.verify(digestOf(0), policyForSigners([key.keyId]))) as {
      verdict?: { status: string };
    };
    const lookupMs = performance.now() - t;
    const answerBytes = await impl.answerBytes(ledger, key.keyId, digestOf(0), size);
    await client.close();
    return {
      impl: impl.name,
      statements: count + 2,
      lookupMs,
      answerBytes,
      verdict: answer.verdict?.status ?? '?',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(header: string[], lines: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i] as number)).join(' | ')} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(fmt(l));
}

async function main(): Promise<void> {
  const floor = ed25519Floor();
  const pool = await floor.verifyPool;
  console.log(
    `imagetrust ledger benchmark — SQLite WAL, synchronous=${SYNC}, batches of ${BATCH}, Node ${process.version}`,
  );
  console.log(
    `Ed25519 floor here: sign ${fmtRate(floor.sign)}, verify ${fmtRate(floor.verify)} on one thread, ${fmtRate(pool)} on the thread pool`,
  );
  console.log(
    'targets: durable appends (index included) >= 5,000/s; cold verified lookups >= 65 % of the Ed25519 floor per statement;',
  );
  console.log('         warm >= 100,000/s; log proof <= ceil(log2 n); index proof <= ceil(log2 #keys) + 2');
  console.log(
    'a lookup here: one allowed signer, about two statements per digest, all proven (0.1: inclusion only).\n',
  );
  const key = signerKeyFrom(generateKeyPairSync('ed25519').privateKey);
  const impls = [currentImpl(), ...(WITH_V01 ? [await legacyImpl()] : [])].filter(
    (i): i is Impl => i !== undefined,
  );
  const rows: Row[] = [];
  for (const n of SIZES) for (const impl of impls) rows.push(await benchSize(impl, n, key));
  table(
    [
      'impl',
      'entries',
      'appends batched',
      'appends 1/txn',
      'lookups cold',
      'cold x32',
      'stmts/s cold',
      'share of floor',
      'stmts/s x32',
      'share x32',
      'floor then',
      'lookups warm',
      'log proof max',
      'ceil log2 n',
      'index proof mean/max',
      'ceil log2 keys',
      'bytes/entry',
    ],
    rows.map((r) => [
      r.impl,
      r.entries.toLocaleString('en-US'),
      fmtRate(r.append),
      fmtRate(r.single),
      fmtRate(r.cold),
      fmtRate(r.coldConcurrent),
      fmtRate(r.statementsColdSeq),
      `${Math.round(r.shareSeq * 100)} %`,
      fmtRate(r.statementsCold),
      `${Math.round(r.shareX32 * 100)} %`,
      fmtRate(r.floor),
      fmtRate(r.warm),
      String(r.logProofMax),
      String(r.log2),
      Number.isNaN(r.indexProofMean) ? '-' : `${r.indexProofMean.toFixed(1)} / ${r.indexProofMax}`,
      String(r.log2Keys),
      String(r.bytesPerEntry),
    ]),
  );
  const ratios = SIZES.map((n) => {
    const a = rows.find((r) => r.impl === '0.2' && r.entries >= n && r.entries < n * 1.5);
    const b = rows.find((r) => r.impl === '0.1' && r.entries >= n && r.entries < n * 1.5);
    return a && b
      ? `n=${n}: appends ${(a.append / b.append).toFixed(2)}x, cold ${(a.cold / b.cold).toFixed(2)}x, warm ${(a.warm / b.warm).toFixed(2)}x, bytes/entry ${(a.bytesPerEntry / b.bytesPerEntry).toFixed(2)}x`
      : undefined;
  }).filter(Boolean);
  if (ratios.length) console.log(`\n0.2 against 0.1: ${ratios.join('; ')}`);

  if (FLOOD > 0) {
    console.log(
      `\none digest, the allowed signer's trust + untrust, then ${FLOOD.toLocaleString('en-US')} statements from 1,000 other keys:`,
    );
    const flood: FloodRow[] = [];
    for (const impl of impls) flood.push(await benchFlood(impl, FLOOD, key));
    table(
      ['impl', 'statements about the digest', 'verify (cold)', 'lookup answer', 'verdict'],
      flood.map((f) => [
        f.impl,
        f.statements.toLocaleString('en-US'),
        `${f.lookupMs.toFixed(1)} ms`,
        `${(f.answerBytes / 1024).toFixed(1)} KiB`,
        f.verdict,
      ]),
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
