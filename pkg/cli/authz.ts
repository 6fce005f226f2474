// `imagetrust authz`: refuse `docker run` of an image that is not trusted, as a Docker
// authorization plugin (see README "Admission"). Runs beside dockerd, as root.

import type { Command } from 'commander';
import { join } from 'node:path';
import pino from 'pino';
import { Admission, parseRules } from '../authz/admission';
import { startAuthzServer } from '../authz/server';
import { ImagetrustError } from '../errors';
import { parseHostPort } from '../agent/config';
import { BuiltinVerifier } from '../verify/builtin';
import type { CliContext } from './context';
import { createListener, DEFAULT_RATE_LIMIT } from '../net/server';
import {
  listenRateLimit,
  listenTls,
  untilStopped,
  withGlobalOptions,
  withListenOptions,
  type CommandRunner,
  type ListenFlags,
} from './options';

interface AuthzOptions extends ListenFlags {
  name: string;
  socketDir: string;
  auditLog?: string;
  rule?: string[];
  dryRun?: boolean;
  failOpen?: boolean;
  maxStaleness: string;
  metricsListen?: string;
}

async function authz(ctx: CliContext, opts: AuthzOptions): Promise<number> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(opts.name))
    throw new ImagetrustError('USAGE', `--name ${opts.name}: letters, digits, dot, dash, underscore`);
  if (opts.dryRun && opts.failOpen)
    throw new ImagetrustError('USAGE', '--dry-run already allows everything: do not add --fail-open');
  let rules;
  try {
    rules = parseRules(opts.rule ?? []);
  } catch (err) {
    throw new ImagetrustError('USAGE', (err as Error).message);
  }
  // Digits only: Number() would take '', '1e3' and '0x10'.
  const staleness = /^\d{1,4}$/.test(String(opts.maxStaleness)) ? Number(opts.maxStaleness) : NaN;
  if (!Number.isInteger(staleness) || staleness > 3600)
    throw new ImagetrustError('USAGE', '--max-staleness: seconds from 0 to 3600');
  const logger = pino({ level: 'info', base: { plugin: opts.name } }, pino.destination(2));
  const policy = ctx.policy();
  const client = await ctx.ledgerClient({ checkpointMaxAge: staleness * 1000 });
  const verifier = new BuiltinVerifier(client, policy);
  const admission = new Admission({
    docker: ctx.docker(),
    verifier,
    logger,
    rules,
    ...(opts.dryRun ? { dryRun: true } : {}),
    ...(opts.failOpen ? { failOpen: true } : {}),
  });
  const socketPath = join(opts.socketDir, `${opts.name}.sock`);
  const auditLog = opts.auditLog ?? join(ctx.paths.home, `authz-${opts.name}.jsonl`);
  const server = await startAuthzServer({ admission, socketPath, auditLog, logger });
  let metrics: { close(): Promise<void> } | undefined;
  if (!opts.metricsListen && (opts.tlsCert || opts.tlsKey || opts.tlsClientCa))
    throw new ImagetrustError('USAGE', '--tls-cert and --tls-key are for --metrics-listen HOST:PORT');
  if (opts.metricsListen) {
    const address = parseHostPort(opts.metricsListen);
    if (!address)
      throw new ImagetrustError('USAGE', `--metrics-listen ${opts.metricsListen}: expected HOST:PORT`);
    const tls = listenTls(opts, ctx.io.env);
    const app = createListener({
      bodyLimit: 1024,
      ...(tls ? { tls } : {}),
      rateLimit: listenRateLimit(opts, ctx.io.env, DEFAULT_RATE_LIMIT),
      onReload: (err) =>
        err
          ? logger.error({ err: err.message }, 'TLS certificate reload failed: the old one stays in use')
          : logger.info('TLS certificate reloaded'),
    });
    app.get('/metrics', async (_req, reply) =>
      reply.type(server.registry.contentType).send(await server.registry.metrics()),
    );
    app.get('/api/v1/admission/refusals', async () => ({ refusals: server.recent() }));
    await app.listen(address);
    metrics = app;
  }
  if (opts.failOpen)
    logger.error('FAIL-OPEN: requests imagetrust cannot decide will be ALLOWED (break glass)');
  if (opts.dryRun) logger.warn('DRY RUN: nothing is refused; what would be is logged and counted');
  ctx.io.stderr(`imagetrust authz plugin ${opts.name} on ${socketPath}; audit log ${auditLog}\n`);
  await untilStopped();
  await metrics?.close();
  await server.close();
  await verifier.close();
  return 0;
}

export function registerAuthz(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  withListenOptions(withGlobalOptions(program.command('authz')), DEFAULT_RATE_LIMIT)
    .description(
      "refuse to create or start containers of images that are not trusted (dockerd's authorization plugin)",
    )
    .option('--name <name>', 'plugin name (dockerd --authorization-plugin NAME)', 'imagetrust')
    .option('--signer <keyid>', 'a signer whose trust counts (repeatable)', collect)
    .option('--policy <file>', 'trust policy file (signers and their names)')
    .option('--socket-dir <dir>', 'where dockerd looks for plugin sockets', '/run/docker/plugins')
    .option('--audit-log <file>', 'append every decision here (JSON lines)')
    .option('--rule <action=allow|deny|check>', 'change the default for an action (repeatable)', collect)
    .option('--dry-run', 'refuse nothing: log and count what would be refused (rollout)')
    .option(
      '--fail-open',
      'BREAK GLASS: allow what cannot be decided (ledger down), with a loud log line each time',
    )
    .option(
      '--max-staleness <seconds>',
      'reuse a proven ledger checkpoint this long before asking again',
      '10',
    )
    .option('--metrics-listen <host:port>', 'serve /metrics and /api/v1/admission/refusals on TCP')
    .action(run((ctx, opts) => authz(ctx, opts as AuthzOptions)));
}
