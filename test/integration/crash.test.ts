// Crash consistency: `kill -9` during `imagetrust sign` (a real CLI process appending to a
// file or PostgreSQL ledger) and during a `ledger serve` append batch (a real server taking
// concurrent appends over HTTP), IMAGETRUST_CRASH_ITERATIONS times each (default 100). After
// every kill `imagetrust ledger audit` must pass and every acknowledged statement (the CLI
// printed success and exited 0; the server answered 2xx) must still be in the ledger: each
// one's entry is compared after every kill, the new ones are also found by verified lookups
// (inclusion and index proofs, consistency with every checkpoint seen before the kill).
//
// Aim: most kills are timed inside the append transaction. A first few runs measure when the
// writer holds the ledger's write lock and for how long; an aimed kill waits until the lock
// is taken, then a random part of that duration. The others land at a random moment of the
// whole process life (opening, lookups, after the commit, after the answer). Each kill first
// freezes the process (SIGSTOP), asks whether it is inside a write (its POSIX locks on the
// SQLite file in /proc/locks; its PostgreSQL backend holding the append lock), then sends
// SIGKILL: the process runs no instruction between the two, so this is a kill -9 at that
// moment, and the report can say how many kills landed mid-write.
//
// The ledger is reused across iterations; the SQLite and PostgreSQL loops run side by side.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { LocalBackend } from '../../pkg/ledger/backend';
import { LedgerClient } from '../../pkg/ledger/client';
import { generateSignerKey, type SignerKey } from '../../pkg/ledger/keys';
import { Ledger } from '../../pkg/ledger/log';
import { openLocalLedger } from '../../pkg/ledger/open';
import { policyForSigners } from '../../pkg/ledger/policy';
import { RemoteBackend } from '../../pkg/ledger/remote';
import { MemoryStateStore } from '../../pkg/ledger/state';
import { openStatement, type ImageDigest } from '../../pkg/ledger/statement';
import { SqliteStore } from '../../pkg/ledger/store/sqlite';
import { statementFor } from '../../pkg/testing/fixtures';
import { BIN } from './harness/cli';
import { freePort, run, startBackground, waitFor, type Background } from './harness/process';
import { startPostgres, type Postgres } from './harness/postgres';

const ITERATIONS = positiveEnv('IMAGETRUST_CRASH_ITERATIONS', 100);
const SEED = positiveEnv('IMAGETRUST_CRASH_SEED', Math.floor(Math.random() * 2 ** 31));
/** Share of kills timed inside the append transaction; the rest land anywhere in the process's life. */
const AIMED = 0.65;
/** Concurrent HTTP clients of `ledger serve`, and the most statements one posts per request. */
const CLIENTS = 4;
const MAX_BATCH = 4;
/** Bounds what one iteration adds (the audit reads the whole ledger after every kill). */
const MAX_REQUESTS_PER_CLIENT = 5;
/** New acknowledged statements also checked by verified lookups per iteration. */
const LOOKUPS_PER_ITERATION = 3;

function positiveEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^[0-9]{1,9}$/.test(v)) throw new Error(`${name}=${v}: expected a non-negative integer`);
  return Number(v);
}

/** mulberry32: the kill plans are reproducible from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const randomDigest = (): ImageDigest => `sha256:${randomBytes(32).toString('hex')}`;

/**
 * Which write a process is inside: the append transaction, or (SQLite) folding the WAL back
 * into the database file (a checkpoint, at close or when the WAL grew), or recovery.
 */
type Write = 'transaction' | 'checkpoint';

interface WriteProbe {
  writing(pid: number): Promise<Write | undefined>;
  /** Whether the process has the ledger open yet (looked up without stopping it). */
  opened(pid: number): boolean;
  close(): Promise<void>;
}

function openFiles(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const targets: string[] = [];
  for (const fd of fds) {
    try {
      targets.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return targets;
}

const LOCK_LINE =
  /^\d+:\s+POSIX\s+\S+\s+(READ|WRITE)\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s+(\d+)\s+(\d+|EOF)$/;
/** SQLite's WAL write lock: byte 120 of the -shm file (WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK). */
const WAL_WRITE_LOCK = 120;

/**
 * SQLite (WAL) holds a POSIX write lock on byte 120 of the -shm file for a write
 * transaction; other write locks on the -shm (checkpoint, recovery) or on the database file
 * (folding the WAL back at close) are writes too.
 */
function sqliteProbe(file: string): WriteProbe {
  return {
    async writing(pid) {
      const shm = statSync(`${file}-shm`, { throwIfNoEntry: false })?.ino;
      const inodes = new Set(
        [file, `${file}-wal`]
          .map((p) => statSync(p, { throwIfNoEntry: false })?.ino)
          .filter((i): i is number => i !== undefined),
      );
      let found: Write | undefined;
      for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
        const m = LOCK_LINE.exec(line.trim());
        if (!m || m[1] !== 'WRITE' || Number(m[2]) !== pid) continue;
        const inode = Number(m[3]);
        if (inode === shm && Number(m[4]) === WAL_WRITE_LOCK) return 'transaction';
        if (inode === shm || inodes.has(inode)) found = 'checkpoint';
      }
      return found;
    },
    opened: (pid) => openFiles(pid).includes(file),
    async close() {},
  };
}

/** The inodes of a process's sockets. */
function socketInodes(pid: number): string[] {
  return openFiles(pid)
    .flatMap((target) => /^socket:\[(\d+)\]$/.exec(target)?.[1] ?? [])
    .sort();
}

/** The local ports of the TCP connections with these socket inodes to `remotePort`. */
function tcpPorts(inodes: string[], remotePort: number): number[] {
  const wanted = new Set(inodes);
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1]?.split(':')[1];
      const remote = cols[2]?.split(':')[1];
      if (local && remote && parseInt(remote, 16) === remotePort && wanted.has(cols[9] ?? ''))
        ports.push(parseInt(local, 16));
    }
  }
  return ports;
}

/** PostgreSQL: the process's backend holds the ledger's append lock (an advisory lock). */
async function postgresProbe(server: Postgres, database: string): Promise<WriteProbe> {
  const client = new pg.Client({
    connectionString: `postgres://imagetrust@127.0.0.1:${server.port}/${database}`,
  });
  client.on('error', () => undefined); // the server stopping at the end of the file
  await client.connect();
  // The socket table is read again only when the process's sockets change.
  let seen = { pid: 0, inodes: '', ports: [] as number[] };
  const portsOf = (pid: number): number[] => {
    const inodes = socketInodes(pid);
    if (seen.pid !== pid || seen.inodes !== inodes.join(','))
      seen = { pid, inodes: inodes.join(','), ports: tcpPorts(inodes, server.port) };
    return seen.ports;
  };
  return {
    opened: (pid) => portsOf(pid).length > 0,
    async writing(pid) {
      if (portsOf(pid).length === 0) return undefined;
      const r = await client.query(
        `SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
          WHERE a.client_port = ANY($1::int[]) AND l.locktype = 'advisory' AND l.granted LIMIT 1`,
        [seen.ports],
      );
      return r.rows.length > 0 ? 'transaction' : undefined;
    },
    close: () => client.end(),
  };
}

interface Spawned {
  child: ChildProcess;
  started: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv): Spawned {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, started, exited };
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

type KillOutcome = 'exited' | 'mid-write' | 'elsewhere';

/** kill -9 now; first frozen, so that the probe sees exactly where it dies. */
async function killNow(child: ChildProcess, probe: WriteProbe): Promise<KillOutcome> {
  const pid = child.pid;
  if (pid === undefined || !running(child)) return 'exited';
  process.kill(pid, 'SIGSTOP');
  let mid: Write | undefined;
  try {
    mid = await probe.writing(pid);
  } finally {
    // Node reaps (and flags) a child only in a callback: still unflagged means still ours.
    if (running(child)) process.kill(pid, 'SIGKILL');
  }
  return mid ? 'mid-write' : 'elsewhere';
}

const writingNow = (child: ChildProcess, probe: WriteProbe): Promise<Write | undefined> =>
  probe.writing(child.pid as number).catch(() => undefined);

/**
 * An aimed kill -9: freezes the process every millisecond or so and looks where it is; once
 * it is inside a write of `kind`, lets it go on for `steps` more looks (a random point of the
 * write), then kills it while frozen there, or right after the write if it ended first.
 * Frozen looks cannot miss a short write the way polling from outside does. `giveUp`
 * (the load ended) kills it wherever it is.
 */
async function stalk(
  child: ChildProcess,
  probe: WriteProbe,
  kind: Write,
  steps: number,
  giveUp: () => boolean = () => false,
): Promise<KillOutcome> {
  let inside = false;
  const deadline = performance.now() + 60_000;
  while (running(child) && performance.now() < deadline && !giveUp()) {
    const pid = child.pid as number;
    try {
      process.kill(pid, 'SIGSTOP');
    } catch {
      break; // exited meanwhile
    }
    const now = await probe.writing(pid).catch(() => undefined);
    if (now === kind) inside = true;
    const kill = (now === kind && steps-- <= 0) || (inside && now !== kind);
    if (kill && running(child)) {
      process.kill(pid, 'SIGKILL');
      return now ? 'mid-write' : 'elsewhere';
    }
    if (running(child)) process.kill(pid, 'SIGCONT');
    await sleep(1);
  }
  return running(child) ? killNow(child, probe) : 'exited';
}

interface Hold {
  kind: Write;
  /** ms after t0. */
  at: number;
  duration: number;
}

/** Watches a process until it exits (or `untilMs`, or `done()`), noting each write it was inside. */
async function observe(
  child: ChildProcess,
  probe: WriteProbe,
  t0: number,
  untilMs: number,
  done: () => boolean = () => false,
): Promise<Hold[]> {
  const holds: Hold[] = [];
  let open: { kind: Write; at: number } | undefined;
  while (running(child) && performance.now() - t0 < untilMs && !done()) {
    const now = performance.now() - t0;
    const kind = await writingNow(child, probe);
    if (open && open.kind !== kind) {
      holds.push({ kind: open.kind, at: open.at, duration: now - open.at });
      open = undefined;
    }
    if (kind && !open) open = { kind, at: now };
    await sleep(1);
  }
  return holds;
}

interface Report {
  loop: string;
  iterations: number;
  killed: number;
  midWrite: number;
  finished: number;
  /** Killed after it had printed its answer (acknowledged). */
  answeredThenKilled: number;
  audits: number;
  acknowledged: number;
  checks: number;
  lookups: number;
  seconds: number;
  /** Time spent per phase, summed over the iterations (ms). */
  phases: { kill: number; audit: number; check: number };
}

function perIteration(r: Report): string {
  const ms = (v: number) => `${Math.round(v / Math.max(1, r.iterations))} ms`;
  return `${ms(r.phases.kill)} to the kill, ${ms(r.phases.audit)} audit, ${ms(r.phases.check)} checks`;
}

function printReport(r: Report, extra: string): void {
  console.log(
    `# crash ${r.loop}: ${r.iterations} iterations, ${r.killed} kills landed (${r.midWrite} mid-write, ` +
      `${r.killed - r.midWrite} elsewhere, ${r.answeredThenKilled} after answering), ${r.finished} finished before the kill, ${r.audits} audits passed, ` +
      `${r.acknowledged} acknowledged statements, ${r.checks} entry checks + ${r.lookups} verified lookups, ` +
      `${r.seconds.toFixed(1)} s; per iteration ${perIteration(r)} (${extra}; seed ${SEED})`,
  );
}

let pgServer: Postgres;
let work: string;

before(async () => {
  work = mkdtempSync('/tmp/itd-crash-');
  pgServer = await startPostgres();
});

after(async () => {
  await pgServer?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Target {
  name: 'sqlite' | 'postgres';
  /** --ledger and, for PostgreSQL, --checkpoint-key. */
  ledgerArgs: string[];
  probe: WriteProbe;
  /** The ledger read directly by this test, read-only. */
  openReader(): Promise<Ledger>;
}

async function target(name: 'sqlite' | 'postgres', loop: string): Promise<Target> {
  const dir = mkdtempSync(join(work, `${loop}-${name}-`));
  if (name === 'sqlite') {
    const file = join(dir, 'ledger.db');
    return {
      name,
      ledgerArgs: ['--ledger', file],
      probe: sqliteProbe(file),
      openReader: async () => Ledger.open(new SqliteStore(file, { readonly: true }), {}),
    };
  }
  const database = `crash_${loop}`;
  const url = await pgServer.database(database);
  return {
    name,
    ledgerArgs: ['--ledger', url, '--checkpoint-key', join(dir, 'checkpoint.key')],
    probe: await postgresProbe(pgServer, database),
    openReader: () => openLocalLedger(url),
  };
}

async function auditOk(t: Target, env: NodeJS.ProcessEnv, iteration: number): Promise<void> {
  const r = await run(
    process.execPath,
    [BIN, 'ledger', 'audit', t.ledgerArgs[0] as string, t.ledgerArgs[1] as string],
    {
      env,
      timeoutMs: 120_000,
    },
  );
  assert.equal(r.code, 0, `iteration ${iteration}: ledger audit exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

describe('kill -9 during imagetrust sign', { concurrency: 2 }, () => {
  for (const name of ['sqlite', 'postgres'] as const) {
    it(`loses nothing acknowledged and audits clean on ${name}, ${ITERATIONS} kills`, async (test) => {
      const t = await target(name, 'sign');
      test.after(() => t.probe.close());
      const home = mkdtempSync(join(work, `sign-${name}-home-`));
      const env = { PATH: process.env.PATH, HOME: home, IMAGETRUST_HOME: home };
      const keygen = await run(process.execPath, [BIN, 'keygen'], { env });
      assert.equal(keygen.code, 0, keygen.stderr);
      const signer = keygen.stdout.trim();
      const policy = policyForSigners([signer]);
      const random = prng(SEED + (name === 'sqlite' ? 1 : 2));
      const state = new MemoryStateStore();
      let vkey: string | undefined;

      interface Acked {
        digest: ImageDigest;
        id: string;
        index: number;
      }
      const acked: Acked[] = [];
      /** Digests every word of which was acknowledged: their status is known exactly. */
      const settled = new Map<ImageDigest, 'trusted' | 'untrusted'>();
      const unsettled = new Set<ImageDigest>();
      const report: Report = {
        loop: `sign/${name}`,
        iterations: ITERATIONS,
        killed: 0,
        midWrite: 0,
        finished: 0,
        answeredThenKilled: 0,
        audits: 0,
        acknowledged: 0,
        checks: 0,
        lookups: 0,
        seconds: 0,
        phases: { kill: 0, audit: 0, check: 0 },
      };

      const sign = (
        iteration: number,
      ): { spawned: Spawned; digest: ImageDigest; verb: 'sign' | 'untrust' } => {
        const known = [...settled.keys()];
        const again = known.length > 0 && random() < 0.2;
        const digest = again ? (known[Math.floor(random() * known.length)] as ImageDigest) : randomDigest();
        const verb = again && settled.get(digest) === 'trusted' ? 'untrust' : 'sign';
        const spawned = spawnCli(
          [
            verb,
            '--hash',
            digest,
            ...t.ledgerArgs,
            '--no-ci',
            '--attr',
            `crash.iteration=${iteration}`,
            '-o',
            'json',
          ],
          env,
        );
        return { spawned, digest, verb };
      };

      /** The word a sign printed (it was acknowledged), if it printed one whole. */
      const printed = (stdout: string): { index: number; id: string; digest: string } | undefined => {
        try {
          return JSON.parse(stdout) as { index: number; id: string; digest: string };
        } catch {
          return undefined;
        }
      };
      const record = (
        digest: ImageDigest,
        verb: 'sign' | 'untrust',
        doc: ReturnType<typeof printed>,
      ): Acked => {
        assert.ok(doc);
        assert.equal(doc.digest, digest);
        const a = { digest, id: doc.id, index: doc.index };
        acked.push(a);
        if (!unsettled.has(digest)) settled.set(digest, verb === 'sign' ? 'trusted' : 'untrusted');
        return a;
      };
      const completed = (out: { code: number | null; stdout: string; stderr: string }) => {
        assert.equal(
          out.code,
          0,
          `a sign nobody killed failed (exit ${out.code}):\n${out.stdout}\n${out.stderr}`,
        );
        return printed(out.stdout);
      };

      // Calibration: a few signs run to the end while their writes are watched: the append
      // transaction, then (SQLite) the WAL folded back into the file when the ledger closes.
      const calibration: { tx?: Hold; checkpoint?: Hold; life: number }[] = [];
      for (let i = 0; i < 3; i += 1) {
        const { spawned, digest, verb } = sign(-1);
        const holds = await observe(spawned.child, t.probe, spawned.started, 60_000);
        const out = await spawned.exited;
        record(digest, verb, completed(out));
        calibration.push({
          tx: holds.find((h) => h.kind === 'transaction'),
          checkpoint: holds.find((h) => h.kind === 'checkpoint'),
          life: performance.now() - spawned.started,
        });
      }
      const txs = calibration.flatMap((c) => (c.tx ? [c.tx] : []));
      assert.ok(
        txs.length > 0,
        'the calibration runs never showed an append transaction: the probe sees nothing',
      );
      const writeAt = median(txs.map((h) => h.at));
      const writeFor = Math.max(1, median(txs.map((h) => h.duration)));
      const checkpoints = calibration.flatMap((c) => (c.checkpoint ? [c.checkpoint] : []));
      const checkpointFor = Math.max(1, median(checkpoints.map((h) => h.duration)));
      const life = median(calibration.map((c) => c.life));

      const started = performance.now();
      for (let iteration = 0; iteration < ITERATIONS; iteration += 1) {
        const { spawned, digest, verb } = sign(iteration);
        let phase = performance.now();
        const lap = (name: keyof Report['phases']) => {
          report.phases[name] += performance.now() - phase;
          phase = performance.now();
        };
        let outcome: KillOutcome;
        if (random() < AIMED) {
          // Mostly the append transaction; now and then the checkpoint at close (after the answer).
          const kind: Write = checkpoints.length > 0 && random() < 0.15 ? 'checkpoint' : 'transaction';
          // Looking costs CPU the signer needs: start once it has opened the ledger. The
          // process runs about a millisecond between looks: a random step of its write.
          while (running(spawned.child) && !t.probe.opened(spawned.child.pid as number)) await sleep(2);
          const steps = Math.floor(random() * (kind === 'transaction' ? writeFor : checkpointFor));
          outcome = await stalk(spawned.child, t.probe, kind, steps);
        } else {
          await sleep(random() * life * 1.15);
          outcome = await killNow(spawned.child, t.probe);
        }
        const out = await spawned.exited;
        let fresh: Acked | undefined;
        if (outcome === 'exited') {
          report.finished += 1;
          fresh = record(digest, verb, completed(out));
        } else {
          report.killed += 1;
          if (outcome === 'mid-write') report.midWrite += 1;
          const doc = printed(out.stdout);
          if (doc) {
            // It had answered before it died: that word is acknowledged.
            report.answeredThenKilled += 1;
            fresh = record(digest, verb, doc);
          } else {
            // Its word may or may not be in the ledger: this digest's status is no longer known.
            settled.delete(digest);
            unsettled.add(digest);
          }
        }

        lap('kill');
        await auditOk(t, env, iteration);
        report.audits += 1;
        lap('audit');

        // Every acknowledged statement is still at its place; the new one (and two others) are
        // found by verified lookups that also prove the ledger consistent with what was seen before.
        const ledger = await t.openReader();
        try {
          vkey ??= ledger.info.vkey;
          const size = (await ledger.latestCheckpoint()).size;
          const byIndex = new Map<number, Buffer>();
          for (let start = 0; start < size; start += 1000)
            for (const e of await ledger.store.entries(start, Math.min(size, start + 1000)))
              byIndex.set(e.index, e.leaf);
          for (const a of acked) {
            const leaf = byIndex.get(a.index);
            assert.ok(leaf, `iteration ${iteration}: acknowledged entry #${a.index} is gone (size ${size})`);
            assert.equal(openStatement(leaf).id, a.id, `iteration ${iteration}: entry #${a.index} changed`);
            report.checks += 1;
          }
          const client = new LedgerClient(new LocalBackend(ledger), { state, ledgerKey: vkey });
          const sample = [
            fresh,
            acked[Math.floor(random() * acked.length)],
            acked[Math.floor(random() * acked.length)],
          ];
          for (const a of sample) {
            if (!a) continue;
            const answer = await client.verify(a.digest, policy);
            assert.ok(
              answer.statements.some((s) => s.id === a.id),
              `iteration ${iteration}: a verified lookup of ${a.digest} misses acknowledged statement ${a.id}`,
            );
            report.lookups += 1;
          }
        } finally {
          await ledger.close();
        }
        lap('check');
      }
      report.seconds = (performance.now() - started) / 1000;
      report.acknowledged = acked.length;

      // The command a user runs agrees, for digests whose every word was acknowledged.
      const expectCode = { trusted: 0, untrusted: 1 } as const;
      for (const [digest, status] of [...settled].slice(-3)) {
        const r = await run(
          process.execPath,
          [BIN, 'verify', '--hash', digest, ...t.ledgerArgs.slice(0, 2)],
          { env },
        );
        assert.equal(r.code, expectCode[status], `imagetrust verify ${digest}: ${r.stdout}${r.stderr}`);
      }
      printReport(
        report,
        `the append transaction starts ${writeAt.toFixed(0)} ms after spawn and takes ${writeFor.toFixed(1)} ms; a sign lives ${life.toFixed(0)} ms`,
      );
      assert.ok(report.audits === ITERATIONS);
      if (ITERATIONS >= 20) assert.ok(report.midWrite > 0, 'no kill landed inside a write: the aim is off');
    });
  }
});

interface Posted {
  leaf: Buffer;
  digest: ImageDigest;
  signer: string;
  index: number;
  id: string;
}

function post(agent: Agent, port: number, envelopes: Buffer[]): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ statements: envelopes.map((e) => e.toString('base64')) });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/statements',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end(body);
  });
}

describe('kill -9 during a ledger serve append batch', { concurrency: 2 }, () => {
  for (const name of ['sqlite', 'postgres'] as const) {
    it(`loses nothing acknowledged and audits clean on ${name}, ${ITERATIONS} kills`, async (test) => {
      const t = await target(name, 'serve');
      test.after(() => t.probe.close());
      const home = mkdtempSync(join(work, `serve-${name}-home-`));
      const env = { PATH: process.env.PATH, HOME: home, IMAGETRUST_HOME: home };
      const signers: SignerKey[] = Array.from({ length: 3 }, () => generateSignerKey());
      const policy = policyForSigners(signers.map((s) => s.keyId));
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const random = prng(SEED + (name === 'sqlite' ? 3 : 4));
      let server: Background | undefined;
      const startServer = async (): Promise<Background> => {
        const s = startBackground(
          process.execPath,
          [
            BIN,
            'ledger',
            'serve',
            ...t.ledgerArgs,
            '--port',
            String(port),
            ...signers.flatMap((k) => ['--allow-signer', k.keyId]),
            '--signer-rate',
            '1000000',
            '--signer-burst',
            '1000000',
          ],
          join(home, 'serve.log'),
          env,
        );
        await waitFor(
          `ledger serve (${s.logFile})`,
          async () => {
            if (!running(s.child))
              throw new Error(`ledger serve exited: ${readFileSync(s.logFile, 'utf8').slice(-2000)}`);
            return (await fetch(`${base}/healthz`)).ok ? true : undefined;
          },
          60_000,
          20,
        );
        return s;
      };

      const acked: Posted[] = [];
      const state = new MemoryStateStore();
      const unexpected: string[] = [];
      const latencies: number[] = [];
      const report: Report = {
        loop: `serve/${name}`,
        iterations: ITERATIONS,
        killed: 0,
        midWrite: 0,
        finished: 0,
        answeredThenKilled: 0,
        audits: 0,
        acknowledged: 0,
        checks: 0,
        lookups: 0,
        seconds: 0,
        phases: { kill: 0, audit: 0, check: 0 },
      };

      /** CLIENTS concurrent signers posting batches until the server goes away or their budget ends. */
      const load = (iteration: number, firstAck: () => void): { done: Promise<Posted[]>; agent: Agent } => {
        const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
        const mine: Posted[] = [];
        const client = async (c: number): Promise<void> => {
          for (let r = 0; r < MAX_REQUESTS_PER_CLIENT; r += 1) {
            const key = signers[(c + r) % signers.length] as SignerKey;
            const batch = Array.from({ length: 1 + Math.floor(random() * MAX_BATCH) }, () =>
              statementFor(key, randomDigest(), 'trusted', {
                attributes: { 'crash.iteration': String(iteration) },
              }),
            );
            const t0 = performance.now();
            let res: { status: number; body: string };
            try {
              res = await post(
                agent,
                port,
                batch.map((b) => b.envelope),
              );
            } catch {
              return; // the server is gone: this batch's fate is unknown
            }
            if (res.status !== 200) {
              unexpected.push(`iteration ${iteration}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
              return;
            }
            latencies.push(performance.now() - t0);
            const { firstIndex } = JSON.parse(res.body) as { firstIndex: number };
            batch.forEach((b, i) =>
              mine.push({
                leaf: b.envelope,
                digest: b.statement.digest,
                signer: key.keyId,
                index: firstIndex + i,
                id: b.id,
              }),
            );
            firstAck();
          }
        };
        return {
          done: Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c))).then(() => mine),
          agent,
        };
      };

      try {
        server = await startServer();
        const vkey = ((await (await fetch(`${base}/api/v1/ledger`)).json()) as { vkey: string }).vkey;
        const remote = new LedgerClient(new RemoteBackend(base), { state, ledgerKey: vkey });

        // Calibration: a round of load, watched for how long each batch's transaction takes.
        const holds = await (async () => {
          const { done, agent } = load(-1, () => undefined);
          let finished = false;
          const round = done.then((posted) => {
            finished = true;
            return posted;
          });
          const seen = await observe(
            (server as Background).child,
            t.probe,
            performance.now(),
            120_000,
            () => finished,
          );
          acked.push(...(await round));
          agent.destroy();
          return seen.filter((h) => h.kind === 'transaction');
        })();
        assert.ok(holds.length > 0, 'the calibration load never showed a write lock: the probe sees nothing');
        const writeFor = Math.max(1, median(holds.map((h) => h.duration)));
        const batchMs = Math.max(1, median(latencies));

        const started = performance.now();
        for (let iteration = 0; iteration < ITERATIONS; iteration += 1) {
          let acknowledgedOne: () => void = () => undefined;
          const warm = new Promise<void>((resolve) => (acknowledgedOne = resolve));
          let phase = performance.now();
          const lap = (name: keyof Report['phases']) => {
            report.phases[name] += performance.now() - phase;
            phase = performance.now();
          };
          const { done, agent } = load(iteration, () => acknowledgedOne());
          let clientsDone = false;
          void done.then(() => (clientsDone = true));
          const live = server as Background;
          // The kill waits for the first answer of this round (the server is taking appends).
          await Promise.race([warm, done]);
          let outcome: KillOutcome;
          if (random() < AIMED) {
            outcome = await stalk(
              live.child,
              t.probe,
              'transaction',
              Math.floor(random() * writeFor),
              () => clientsDone,
            );
          } else {
            await sleep(random() * batchMs * 2);
            outcome = await killNow(live.child, t.probe);
          }
          if (outcome === 'exited')
            throw new Error(
              `ledger serve died by itself: ${readFileSync(live.logFile, 'utf8').slice(-2000)}`,
            );
          report.killed += 1;
          if (outcome === 'mid-write') report.midWrite += 1;
          await live.stop('SIGKILL');
          const posted = await done;
          agent.destroy();
          acked.push(...posted);
          assert.deepEqual(unexpected, []);

          // The audit reads while the server comes back up (no client appends meanwhile).
          lap('kill');
          const [restarted] = await Promise.all([startServer(), auditOk(t, env, iteration)]);
          server = restarted;
          report.audits += 1;
          lap('audit');

          const ledger = await t.openReader();
          try {
            const size = (await ledger.latestCheckpoint()).size;
            const byIndex = new Map<number, Buffer>();
            for (let start = 0; start < size; start += 1000)
              for (const e of await ledger.store.entries(start, Math.min(size, start + 1000)))
                byIndex.set(e.index, e.leaf);
            for (const a of acked) {
              const leaf = byIndex.get(a.index);
              assert.ok(
                leaf?.equals(a.leaf),
                `iteration ${iteration}: acknowledged entry #${a.index} is gone or changed (size ${size})`,
              );
              report.checks += 1;
            }
          } finally {
            await ledger.close();
          }
          // Through the restarted server: verified lookups, consistent with every checkpoint seen.
          const sample = [
            ...posted.slice(0, LOOKUPS_PER_ITERATION),
            acked[Math.floor(random() * acked.length)],
          ];
          for (const a of sample) {
            if (!a) continue;
            const answer = await remote.verify(a.digest, policy);
            assert.equal(answer.verdict.status, 'trusted', `iteration ${iteration}: ${a.digest}`);
            assert.ok(
              answer.statements.some((s) => s.id === a.id),
              `iteration ${iteration}: lookup misses ${a.id}`,
            );
            report.lookups += 1;
          }
          lap('check');
        }
        report.seconds = (performance.now() - started) / 1000;
        report.acknowledged = acked.length;
        await remote.close();
        printReport(
          report,
          `a batch's transaction takes ${writeFor.toFixed(1)} ms, a request ${batchMs.toFixed(1)} ms`,
        );
        assert.ok(report.audits === ITERATIONS);
        if (ITERATIONS >= 20) assert.ok(report.midWrite > 0, 'no kill landed inside a write: the aim is off');
      } finally {
        await server?.stop('SIGKILL');
      }
    });
  }
});
