// A real Docker engine for integration tests. Uses IMAGETRUST_TEST_DOCKER_HOST when given;
// otherwise starts its own dockerd (own socket, data and exec roots; no bridge, no iptables)
// and stops it afterwards. Test images are built from a busybox rootfs with `docker import`
// (no image can be pulled here); a marker file makes each variant a distinct image ID.
// Everything an engine starts is found through its own folder: dockerd's --pidfile, the pid
// files of the containerds it supervised (their shims run in containerd's session) and each
// container's init.pid under the exec root. stop() kills what is still running there by
// those pids, and scripts/test.sh does the same for an interrupted run.

import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  copyFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadOnlyDocker } from '../../../pkg/docker/engine';
import { killPidFile, markRun, run, runOk, startBackground, waitFor, type Background } from './process';

export interface Engine {
  host: string;
  dir: string;
  /** Runs the docker CLI against this engine. */
  docker(args: string[], input?: Buffer | string): Promise<string>;
  stop(): Promise<void>;
  /** Stops a harness-started engine, keeping its data, and starts it again (outage tests). */
  halt?(): Promise<void>;
  resume?(): Promise<void>;
  /** Freezes the engine (SIGSTOP): it stops answering while its containers keep running. */
  freeze?(): Promise<void>;
  thaw?(): Promise<void>;
}

/**
 * Kills what an engine's folder records and still runs: dockerd, its containerd with the
 * shims in containerd's session, and the containers' init processes. Returns how many.
 */
export function killEngineLeftovers(dir: string): number {
  const files = [
    join(dir, 'docker.pid'),
    join(dir, 'exec', 'containerd', 'containerd.pid'),
    ...readdirSync(dir)
      .filter((f) => /^containerd-\d+\.pid$/.test(f))
      .map((f) => join(dir, f)),
  ];
  const tasks = join(dir, 'exec', 'containerd');
  if (existsSync(tasks)) {
    for (const f of readdirSync(tasks, { recursive: true, encoding: 'utf8' }))
      if (f.endsWith('/init.pid')) files.push(join(tasks, f));
  }
  return files.reduce((killed, f) => killed + killPidFile(f), 0);
}

/** Unmounts whatever dockerd left mounted below `dir` (network namespaces, overlays), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
}

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

async function reachable(host: string): Promise<boolean> {
  try {
    await new ReadOnlyDocker({ dockerHost: host, timeoutMs: 3000 }).ping();
    return true;
  } catch {
    return false;
  }
}

function cli(host: string) {
  return (args: string[], input?: Buffer | string) =>
    runOk('docker', args, {
      env: { ...process.env, DOCKER_HOST: host },
      ...(input === undefined ? {} : { input }),
      timeoutMs: 120_000,
    });
}

export async function startEngine(name = 'node', options: { extraArgs?: string[] } = {}): Promise<Engine> {
  const given = process.env.IMAGETRUST_TEST_DOCKER_HOST;
  if (given) {
    if (!(await reachable(given))) throw new Error(`IMAGETRUST_TEST_DOCKER_HOST=${given} is not reachable`);
    return { host: given, dir: tmpdir(), docker: cli(given), stop: async () => undefined };
  }
  // Short path: a unix socket path must stay under 108 bytes.
  const dir = mkdtempSync(join('/tmp', `itd-${name}-`));
  markRun(dir);
  const host = `unix://${dir}/docker.sock`;
  let daemon: Background | undefined;
  const start = async (): Promise<void> => {
    daemon = startBackground(
      'dockerd',
      [
        '--host',
        host,
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        join(dir, 'docker.pid'),
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        ...(options.extraArgs ?? []),
      ],
      join(dir, 'dockerd.log'),
    );
    await waitFor(
      `dockerd ${name} (log: ${dir}/dockerd.log)`,
      async () => ((await reachable(host)) ? true : undefined),
      60_000,
      200,
    );
    // Each start may come with a new containerd (a restart with --live-restore leaves the
    // old one's shims running in its session): keep every containerd pid, not just the last.
    const current = join(dir, 'exec', 'containerd', 'containerd.pid');
    if (existsSync(current)) copyFileSync(current, join(dir, `containerd-${starts++}.pid`));
  };
  let starts = 0;
  await start();
  const stopDaemon = async (): Promise<void> => {
    await daemon?.stop('SIGTERM');
  };
  return {
    host,
    dir,
    docker: cli(host),
    async stop() {
      // Remove the containers first: a daemon stopped with hundreds of them running can be
      // killed before it has stopped them, leaving their shims and processes behind.
      await removeAllContainers(host);
      await stopDaemon();
      // A daemon that had to be killed leaves containerd, shims and containers running.
      const left = killEngineLeftovers(dir);
      if (left > 0) console.error(`# killed ${left} process(es) dockerd ${name} left running`);
      await unmountUnder(dir);
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch (err) {
        console.error(`# could not remove ${dir}: ${(err as Error).message}`);
      }
    },
    halt: stopDaemon,
    resume: start,
    async freeze() {
      daemon?.child.kill('SIGSTOP');
    },
    async thaw() {
      daemon?.child.kill('SIGCONT');
    },
  };
}

async function removeAllContainers(host: string): Promise<void> {
  const docker = cli(host);
  try {
    const ids = (await docker(['ps', '-aq'])).split('\n').filter(Boolean);
    for (let i = 0; i < ids.length; i += 100) await docker(['rm', '-f', ...ids.slice(i, i + 100)]);
  } catch (err) {
    console.error(`# could not remove the containers of ${host}: ${(err as Error).message}`);
  }
}

/** `docker run -d --network none` of a test container (stopped within a second when asked). */
export async function runContainer(
  engine: Engine,
  name: string,
  image: string,
  extra: string[] = [],
): Promise<string> {
  const id = await engine.docker([
    'run',
    '-d',
    '--network',
    'none',
    '--stop-timeout',
    '1',
    ...extra,
    '--name',
    name,
    image,
  ]);
  return id.trim();
}

/** Imports a busybox image whose content differs by `variant`; returns its image ID. */
export async function importImage(engine: Engine, tag: string, variant: string): Promise<string> {
  if (!BUSYBOX) throw new Error('busybox is not installed (apt-get install busybox-static)');
  const root = mkdtempSync(join(tmpdir(), 'itd-rootfs-'));
  try {
    mkdirSync(join(root, 'bin'));
    copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const tool of ['sh', 'sleep', 'true', 'cat']) symlinkSync('busybox', join(root, 'bin', tool));
    writeFileSync(join(root, 'variant'), `${variant}\n`);
    const tar = await runTar(root);
    const out = await engine.docker(['import', '-c', 'CMD ["/bin/sleep","3600"]', '-', tag], tar);
    return out.trim();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function runTar(root: string): Promise<Buffer> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`tar exited ${code}`)),
    );
  });
}
