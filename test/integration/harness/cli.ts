// Runs the built `imagetrust` command (bin/imagetrust.js → build/) as a user would.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run, type RunResult } from './process';

export const REPO = resolve(__dirname, '..', '..', '..');
export const BIN = join(REPO, 'bin', 'imagetrust.js');

if (!existsSync(join(REPO, 'build', 'pkg', 'cli', 'main.js'))) {
  throw new Error('build/ is missing: run `npm run build` before the integration tests');
}

export interface Cli {
  env: NodeJS.ProcessEnv;
  (args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<RunResult>;
  json(
    args: string[],
    extraEnv?: NodeJS.ProcessEnv,
  ): Promise<{ code: number; doc: Record<string, unknown>; stderr: string }>;
}

/** A CLI bound to one user's data directory and one Docker engine. */
export function cliFor(home: string, dockerHost: string, env: NodeJS.ProcessEnv = {}): Cli {
  const base: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    IMAGETRUST_HOME: home,
    DOCKER_HOST: dockerHost,
    ...env,
  };
  const call = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, [BIN, ...args], { env: { ...base, ...extraEnv }, timeoutMs: 60_000 });
  const fn = call as Cli;
  fn.env = base;
  fn.json = async (args, extraEnv) => {
    const r = await call([...args, '-o', 'json'], extraEnv);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, doc, stderr: r.stderr };
  };
  return fn;
}
