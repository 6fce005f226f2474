// `imagetrust fleet serve`: the whole fleet's API from the PostgreSQL fleet store the agents
// publish to (`imagetrust agent --fleet-db`). Grafana's data source and Prometheus talk to it.

import type { Command } from 'commander';
import { ImagetrustError } from '../errors';
import { parseHostPort } from '../agent/config';
import { parseDuration } from '../ledger/policy-file';
import { isPostgresLocation, redactUrl } from '../postgres/url';
import type { CliContext } from './context';
import { DEFAULT_FLEET_RATE_LIMIT } from '../net/server';
import {
  apiToken,
  listenRateLimit,
  listenTls,
  untilStopped,
  withListenOptions,
  type CommandRunner,
  type ListenFlags,
} from './options';

interface FleetServeOptions extends ListenFlags {
  fleetDb?: string;
  listen: string;
  token?: string;
  tokenFile?: string;
  staleAfter: string;
  retention: string;
}

function listenAddress(text: string): { host: string; port: number } {
  const parsed = parseHostPort(text);
  if (!parsed) throw new ImagetrustError('USAGE', `--listen ${text}: expected HOST:PORT`);
  return parsed;
}

async function serve(ctx: CliContext, opts: FleetServeOptions): Promise<number> {
  const url = opts.fleetDb ?? ctx.io.env.IMAGETRUST_FLEET_DB;
  if (!url || !isPostgresLocation(url))
    throw new ImagetrustError('USAGE', 'fleet serve needs --fleet-db postgres://… (env IMAGETRUST_FLEET_DB)');
  const token = apiToken(opts, ctx.io);
  if (token !== undefined && token.length < 16)
    throw new ImagetrustError('USAGE', '--token: use at least 16 characters');
  const listen = listenAddress(opts.listen);
  const tls = listenTls(opts, ctx.io.env);
  const rateLimit = listenRateLimit(opts, ctx.io.env, DEFAULT_FLEET_RATE_LIMIT);
  const staleMs = parseDuration(opts.staleAfter, '--stale-after') * 1000;
  const retentionMs = parseDuration(opts.retention, '--retention') * 1000;
  // Loaded here, so that other commands never load pg.
  const { FleetStore } = await import('../fleet/store.js');
  const { buildFleetServer } = await import('../fleet/server.js');
  const store = await FleetStore.open({ url, staleMs });
  const server = buildFleetServer({
    store,
    retentionMs,
    ...(token ? { token } : {}),
    ...(tls ? { tls } : {}),
    rateLimit,
    onTlsReload: (err) =>
      ctx.io.stderr(
        err
          ? `TLS certificate reload failed, the old one stays in use: ${err.message}\n`
          : 'TLS certificate reloaded\n',
      ),
  });
  let address: string;
  try {
    address = await server.app.listen(listen);
  } catch (err) {
    await server.close();
    throw new ImagetrustError('IO', `cannot listen on ${opts.listen}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  ctx.io.stderr(
    `fleet store ${redactUrl(url)} served on ${address}${token ? '' : ' (no token: open to anyone who can connect)'}\n`,
  );
  await untilStopped();
  await server.close();
  return 0;
}

export function registerFleet(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const fleet = program.command('fleet').description('the fleet API over the PostgreSQL fleet store');
  withListenOptions(fleet.command('serve'), DEFAULT_FLEET_RATE_LIMIT)
    .description(
      'answer /api/v1 (nodes, containers, images, summary, history, events, verify, metrics) for the whole fleet',
    )
    .option(
      '--fleet-db <url>',
      'the fleet store (env IMAGETRUST_FLEET_DB; password from IMAGETRUST_PG_PASSWORD_FILE or PGPASSWORD; TLS with ?sslmode=verify-full&sslrootcert=FILE)',
    )
    .option('--listen <host:port>', 'address to bind', '127.0.0.1:9583')
    .option(
      '--token-file <file>',
      'require the bearer token in this file, mode 0600 (env IMAGETRUST_TOKEN_FILE)',
    )
    .option('--token <token>', 'deprecated, visible in ps: use --token-file (env IMAGETRUST_TOKEN)')
    .option('--stale-after <duration>', 'a node without a heartbeat for this long is unreachable', '30s')
    .option('--retention <duration>', 'how long history is kept', '30d')
    .action(run((ctx, opts) => serve(ctx, opts as FleetServeOptions)));
}
