// Real `imagetrust agent` and `imagetrust ledger serve` processes on free loopback ports.

import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './cli';
import { freePort, startBackground, waitFor, type Background } from './process';

export interface AgentProcess {
  url: string;
  port: number;
  home: string;
  process: Background;
  get(path: string, token?: string): Promise<{ status: number; body: any }>;
  post(path: string, body: unknown, token?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

async function call(url: string, init: RequestInit, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    ...init,
    headers: { ...(init.headers ?? {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: returned as text.
  }
  return { status: res.status, body };
}

export async function startAgentProcess(options: {
  work: string;
  dockerHost: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  port?: number;
  home?: string;
}): Promise<AgentProcess> {
  const home = options.home ?? mkdtempSync(join(options.work, 'agent-'));
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    IMAGETRUST_HOME: home,
    DOCKER_HOST: options.dockerHost,
    ...options.env,
  };
  // As deployed (scripts/run.sh, Dockerfile): a small young generation keeps the agent's RSS down.
  const proc = startBackground(
    process.execPath,
    [
      '--max-semi-space-size=1',
      BIN,
      'agent',
      '--listen',
      `127.0.0.1:${port}`,
      '--log-level',
      'debug',
      ...options.args,
    ],
    join(home, 'agent.log'),
    env,
  );
  await waitFor(`agent on ${url} (log: ${home}/agent.log)`, async () => {
    if (proc.child.exitCode !== null)
      throw new Error(`agent exited ${proc.child.exitCode}; see ${home}/agent.log`);
    const res = await fetch(`${url}/healthz`);
    return res.ok ? true : undefined;
  });
  return {
    url,
    port,
    home,
    process: proc,
    get: (path, token) => call(`${url}${path}`, {}, token),
    post: (path, body, token) =>
      call(
        `${url}${path}`,
        { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
        token,
      ),
    stop: () => proc.stop(),
  };
}

export async function startLedgerServer(
  home: string,
  port?: number,
): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const p = port ?? (await freePort());
  const url = `http://127.0.0.1:${p}`;
  const env = { PATH: process.env.PATH, HOME: home, IMAGETRUST_HOME: home };
  const proc = startBackground(
    process.execPath,
    [BIN, 'ledger', 'serve', '--open', '--port', String(p)],
    join(home, 'serve.log'),
    env,
  );
  await waitFor(`ledger serve on ${url}`, async () =>
    (await fetch(`${url}/healthz`)).ok ? true : undefined,
  );
  return { url, port: p, stop: () => proc.stop() };
}
