// A real InfluxDB 1.x (Debian's influxd) on free loopback ports, with its own data directory.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runOk, startBackground, waitFor, type Background } from './process';

export interface Influx {
  url: string;
  query(q: string, db?: string): Promise<any>;
  stop(): Promise<void>;
  /** Stops the server, keeping its data, and starts it again on the same port. */
  halt(): Promise<void>;
  resume(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startInflux(): Promise<Influx> {
  const dir = mkdtempSync(join('/tmp', 'itd-influx-'));
  const [http, rpc, ifql] = [await freePort(), await freePort(), await freePort()];
  const defaults = await runOk('influxd', ['config']);
  let section = '';
  const config = defaults
    .split('\n')
    .map((line) => {
      const header = /^\s*\[+([^\]]+)\]+/.exec(line);
      if (header) section = header[1] as string;
      if (/^\s*bind-address\s*=/.test(line)) {
        if (section === '') return `bind-address = "127.0.0.1:${rpc}"`;
        if (section === 'http') return `  bind-address = "127.0.0.1:${http}"`;
        if (section === 'ifql') return `  bind-address = "127.0.0.1:${ifql}"`;
      }
      if (section === 'meta' && /^\s*dir\s*=/.test(line)) return `  dir = "${dir}/meta"`;
      if (section === 'data' && /^\s*dir\s*=/.test(line)) return `  dir = "${dir}/data"`;
      if (section === 'data' && /^\s*wal-dir\s*=/.test(line)) return `  wal-dir = "${dir}/wal"`;
      if (/^\s*reporting-enabled\s*=/.test(line)) return 'reporting-enabled = false';
      return line;
    })
    .join('\n');
  const file = join(dir, 'influxdb.conf');
  writeFileSync(file, config);
  const url = `http://127.0.0.1:${http}`;
  let server: Background | undefined;
  const start = async (): Promise<void> => {
    server = startBackground('influxd', ['-config', file], join(dir, 'influxd.log'));
    await waitFor(`influxd (log ${dir}/influxd.log)`, async () =>
      (await fetch(`${url}/ping`)).status === 204 ? true : undefined,
    );
  };
  await start();
  const query = async (q: string, db?: string): Promise<any> => {
    const params = new URLSearchParams({ q, epoch: 'ms', ...(db ? { db } : {}) });
    const res = await fetch(`${url}/query`, { method: 'POST', body: params });
    if (!res.ok) throw new Error(`influx query failed: ${res.status} ${await res.text()}`);
    return res.json();
  };
  return {
    url,
    query,
    halt: async () => server?.stop(),
    resume: start,
    async stop() {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    destroy: async () => server?.stop('SIGKILL'),
  };
}
