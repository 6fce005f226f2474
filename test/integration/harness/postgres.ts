// A real PostgreSQL server (Debian's postgresql 15) of its own: a fresh cluster in a temp
// folder, owned by the postgres user, on a free loopback port and a private socket folder,
// trust authentication for the `imagetrust` superuser. Stopped (and its folder removed) at the end.

import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, run, runOk } from './process';

export interface Postgres {
  port: number;
  /** The superuser's URL of database `postgres`. */
  url: string;
  /** A fresh database for one test; its URL. */
  database(name: string): Promise<string>;
  query(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult>;
  /** Stops the server, keeping its data, and starts it again on the same port. */
  restart(): Promise<void>;
  halt(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort() : [];
  const version = versions.at(-1);
  if (!version) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  return join(root, version, 'bin');
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join('/tmp', 'itd-pg-'));
  chownSync(dir, uidOf('postgres'), gidOf('postgres'));
  const port = await freePort();
  const asPostgres = (cmd: string, args: string[]) =>
    runOk('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { timeoutMs: 120_000 });
  await asPostgres('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'imagetrust', '--no-sync']);
  // The test superuser connects without a password; every other role needs its own.
  const hba = join(dir, 'data', 'pg_hba.conf');
  writeFileSync(
    hba,
    'local all all trust\nhost all imagetrust 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n',
  );
  chownSync(hba, uidOf('postgres'), gidOf('postgres'));
  const ctl = (action: string, extra: string[] = []) =>
    asPostgres('pg_ctl', ['-D', join(dir, 'data'), '-w', '-t', '60', ...extra, action]);
  const start = () =>
    ctl('start', [
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`,
      '-l',
      join(dir, 'log'),
    ]);
  await start();
  const url = `postgres://imagetrust@127.0.0.1:${port}/postgres`;
  const query = async (sql: string, params: unknown[] = [], database = 'postgres') => {
    const client = new pg.Client({ connectionString: `postgres://imagetrust@127.0.0.1:${port}/${database}` });
    await client.connect();
    try {
      return await client.query(sql, params);
    } finally {
      await client.end();
    }
  };
  let stopped = false;
  return {
    port,
    url,
    query,
    async database(name) {
      await query(`CREATE DATABASE ${name}`);
      return `postgres://imagetrust@127.0.0.1:${port}/${name}`;
    },
    async restart() {
      await ctl('stop', ['-m', 'fast']);
      await start();
    },
    halt: async () => {
      await ctl('stop', ['-m', 'immediate']);
    },
    resume: async () => {
      await start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await run('runuser', [
        '-u',
        'postgres',
        '--',
        join(bin, 'pg_ctl'),
        '-D',
        join(dir, 'data'),
        '-m',
        'immediate',
        'stop',
      ]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function idOf(flag: '-u' | '-g', user: string): number {
  return Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
}

const uidOf = (user: string) => idOf('-u', user);
const gidOf = (user: string) => idOf('-g', user);
