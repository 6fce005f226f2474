// Child processes for integration tests: run to completion with a timeout, or start a
// server in the background with its output sent to a log file (never to the test's pipe).
// What the harness starts is recorded under its own temp folder, so that whatever an
// interrupted run leaves behind can be stopped by pid, never by name (scripts/test.sh):
// `<log>.pid` holds a background server's pid, and `.imagetrust-test-run` names the run
// (IMAGETRUST_TEST_RUN, set by scripts/test.sh) that owns the folder.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** The marker file naming the test run that owns a harness folder. */
export const RUN_MARKER = '.imagetrust-test-run';

/** Marks `dir` as this run's (when scripts/test.sh names the run). */
export function markRun(dir: string): void {
  const run = process.env.IMAGETRUST_TEST_RUN;
  if (run && !existsSync(join(dir, RUN_MARKER))) writeFileSync(join(dir, RUN_MARKER), `${run}\n`);
}

let clockTicks: number | undefined;
let bootSeconds: number | undefined;

/** Fields of /proc/PID/stat after the command name: [0] state, [2] pgid, [3] session, [19] start time. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** When a process started (ms since the epoch, to the second), if it runs. */
export function processStartMs(pid: number): number | undefined {
  const fields = procStat(pid);
  if (!fields || fields[0] === 'Z') return undefined;
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  bootSeconds ??= Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0);
  return (bootSeconds + Number(fields[19]) / clockTicks) * 1000;
}

/**
 * The live process a pid file names, if it is still the one that file was written for: it
 * started before the file was last written (a recycled pid belongs to a later process).
 */
export function recordedPid(pidFile: string): number | undefined {
  let pid: number;
  let written: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]?.trim());
    written = statSync(pidFile).mtimeMs;
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
  const started = processStartMs(pid);
  // /proc/stat's boot time is whole seconds: allow one.
  return started !== undefined && started <= written + 1000 ? pid : undefined;
}

/** Pids of the processes in the session `leader` leads (itself included). */
export function sessionMembers(leader: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (procStat(Number(name))?.[3] === String(leader)) pids.push(Number(name));
  }
  return pids;
}

/**
 * Kills what a pid file records: the process (when it is still the one recorded) with its
 * group and session; when it is gone, the members its session or group still has (the
 * kernel hands out no pid that is still a session or group id, so they are its). Returns
 * how many processes were signalled.
 */
export function killPidFile(pidFile: string): number {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]?.trim());
  } catch {
    return 0;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) return 0;
  const state = procStat(pid)?.[0];
  if (state === undefined || state === 'Z') {
    const orphans = groupOrSessionMembers(pid);
    for (const p of orphans) signal(p);
    return orphans.length;
  }
  if (recordedPid(pidFile) === undefined) return 0;
  killRecorded(pid);
  return 1;
}

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

function groupOrSessionMembers(id: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = procStat(Number(name));
    if (f?.[2] === String(id) || f?.[3] === String(id)) pids.push(Number(name));
  }
  return pids;
}

/** SIGKILL to a pid, its process group when it leads one, and its session when it leads one. */
export function killRecorded(pid: number): void {
  const fields = procStat(pid);
  const victims = new Set<number>([pid]);
  if (fields?.[3] === String(pid)) for (const p of sessionMembers(pid)) victims.add(p);
  if (fields?.[2] === String(pid)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // no such group
    }
  }
  for (const p of victims) signal(p);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input);
  });
}

export async function runOk(
  command: string,
  args: string[],
  options: Parameters<typeof run>[2] = {},
): Promise<string> {
  const r = await run(command, args, options);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return r.stdout;
}

export interface Background {
  child: ChildProcess;
  logFile: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startBackground(
  command: string,
  args: string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): Background {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, {
    env: env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  child.on('error', (err) => log.write(`spawn error: ${err.message}\n`));
  if (child.pid !== undefined) {
    markRun(dirname(logFile));
    writeFileSync(`${logFile}.pid`, `${child.pid}\n`);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    logFile,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
