// `imagetrust fleet serve`: the whole fleet's API from the PostgreSQL fleet store the agents
// publish to (`imagetrust agent --fleet-db`). Grafana's data source and Prometheus talk to it.

import type { Command } from 'commander';
import { ImagetrustError } from '../errors';
import { parseHostPort } from '../agent/config';
import { parseDuration } from '../ledger/policy-file';
import { isPostgresLocation, redactUrl } from '../postgres/url';
import type { CliContext } from './context';
import { untilStopped, type CommandRunner } from './options';

interface FleetServeOptions {
  fleetDb?: string;
  listen: string;
  token?: string;
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
  const token = opts.token ?? (ctx.io.env.IMAGETRUST_TOKEN || undefined);
  if (token !== undefined && token.length < 16)
    throw new ImagetrustError('USAGE', '--token: use at least 16 characters');
  const listen = listenAddress(opts.listen);
  const staleMs = parseDuration(opts.staleAfter, '--stale-after') * 1000;
  const retentionMs = parseDuration(opts.retention, '--retention') * 1000;
  // Loaded here, so that other commands never load pg.
  const { FleetStore } = await import('../fleet/store.js');
  const { buildFleetServer } = await import('../fleet/server.js');
  const store = await FleetStore.open({ url, staleMs });
  const server = buildFleetServer({ store, retentionMs, ...(token ? { token } : {}) });
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
  fleet
    .command('serve')
    .description(
      'answer /api/v1 (nodes, containers, images, summary, history, events, verify, metrics) for the whole fleet',
    )
    .option('--fleet-db <url>', 'the fleet store (env IMAGETRUST_FLEET_DB; password from PGPASSWORD)')
    .option('--listen <host:port>', 'address to bind', '127.0.0.1:9583')
    .option('--token <token>', 'require this bearer token (env IMAGETRUST_TOKEN)')
    .option('--stale-after <duration>', 'a node without a heartbeat for this long is unreachable', '30s')
    .option('--retention <duration>', 'how long history is kept', '30d')
    .action(run((ctx, opts) => serve(ctx, opts as FleetServeOptions)));
}
