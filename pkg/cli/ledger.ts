// `imagetrust ledger serve|audit|upgrade|info`.

import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { ImagetrustError, isImagetrustError } from '../errors';
import { audit as runAudit, localAuditSource, remoteAuditSource, type AuditReport } from '../ledger/audit';
import { isRemoteLocation, openLocalLedger } from '../ledger/open';
import { copyLedger } from '../ledger/copy';
import { isPostgresLocation, redactUrl } from '../postgres/url';
import { parsePolicyFile } from '../ledger/policy-file';
import { policyForSigners } from '../ledger/policy';
import { SignerRateLimiter } from '../ledger/rate-limit';
import { RemoteBackend } from '../ledger/remote';
import { buildLedgerServer } from '../ledger/server';
import { CheckpointCosigning } from '../ledger/cosigning';
import pino from 'pino';
import { upgradeLedger } from '../ledger/upgrade';
import { sqliteFileProblems } from '../ledger/store/sqlite';
import type { CliContext } from './context';
import { DEFAULT_LEDGER_RATE_LIMIT } from '../net/server';
import {
  listenRateLimit,
  listenTls,
  untilStopped,
  withGlobalOptions,
  withListenOptions,
  type CommandRunner,
  type ListenFlags,
} from './options';

function localLocation(ctx: CliContext, what: string): string {
  const location = ctx.ledgerLocation;
  if (isRemoteLocation(location))
    throw new ImagetrustError('USAGE', `${what} needs a local ledger file, not ${location}`);
  return location;
}

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[1-9][0-9]{0,9}$/.test(value))
    throw new ImagetrustError('USAGE', `${flag} ${value}: expected a positive integer`);
  return Number(value);
}

interface ServeOptions extends ListenFlags {
  host: string;
  port: string;
  allowSigner?: string[];
  policy?: string;
  open?: boolean;
  maxPerKey?: string;
  maxPerRequest?: string;
  signerRate?: string;
  signerBurst?: string;
  witness?: string[];
  cosignInterval?: string;
}

/** Who may append: the signers named, or anyone with --open; never everyone by accident. */
function appendAllowList(opts: ServeOptions, env: NodeJS.ProcessEnv): ReadonlySet<string> | undefined {
  const fromEnv = (env.IMAGETRUST_ALLOW_SIGNER ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const named = [
    ...(opts.allowSigner?.length ? opts.allowSigner : fromEnv),
    ...(opts.policy ? parsePolicyFile(opts.policy).signers.map((s) => s.keyId) : []),
  ];
  if (opts.open && named.length > 0)
    throw new ImagetrustError(
      'USAGE',
      '--open accepts every signer: do not combine it with --allow-signer or --policy',
    );
  if (opts.open) return undefined;
  if (named.length === 0) {
    throw new ImagetrustError(
      'USAGE',
      'say who may append: --allow-signer KEYID (repeatable), --policy FILE, or --open to accept any correctly signed statement',
    );
  }
  return new Set(policyForSigners(named).signers.map((s) => s.keyId));
}

async function serve(ctx: CliContext, opts: ServeOptions): Promise<number> {
  const port = Number(opts.port);
  if (!/^\d{1,5}$/.test(opts.port) || port > 65535)
    throw new ImagetrustError('USAGE', `--port ${opts.port} is not a port`);
  const allowedSigners = appendAllowList(opts, ctx.io.env);
  const tls = listenTls(opts, ctx.io.env);
  const rateLimit = listenRateLimit(opts, ctx.io.env, DEFAULT_LEDGER_RATE_LIMIT);
  const perSecond = positiveInt(opts.signerRate, '--signer-rate', 50);
  const rateLimiter = new SignerRateLimiter({
    perSecond,
    burst: positiveInt(opts.signerBurst, '--signer-burst', Math.max(1000, perSecond)),
  });
  const location = localLocation(ctx, 'ledger serve');
  if (isPostgresLocation(location) && !ctx.checkpointKeyPath) {
    throw new ImagetrustError(
      'USAGE',
      'ledger serve of a PostgreSQL ledger needs its checkpoint key: --checkpoint-key FILE (env IMAGETRUST_CHECKPOINT_KEY), the same file for every server of that ledger',
    );
  }
  const ledger = await openLocalLedger(location, ctx.localOpenOptions());
  const cosigning = opts.witness?.length
    ? new CheckpointCosigning(ledger, {
        witnesses: opts.witness,
        intervalMs: positiveInt(opts.cosignInterval, '--cosign-interval', 300) * 1000,
        logger: pino({ level: 'info' }, pino.destination(2)),
      })
    : undefined;
  const app = buildLedgerServer({
    ledger,
    allowedSigners,
    ...(cosigning ? { cosigning } : {}),
    rateLimiter,
    maxPerKey: positiveInt(opts.maxPerKey, '--max-per-key', 10_000),
    maxPerRequest: positiveInt(opts.maxPerRequest, '--max-per-request', 1000),
    ...(tls ? { tls } : {}),
    rateLimit,
    onTlsReload: (err) =>
      ctx.io.stderr(
        err
          ? `TLS certificate reload failed, the old one stays in use: ${err.message}\n`
          : 'TLS certificate reloaded\n',
      ),
  });
  const address = await app.listen({ host: opts.host, port });
  cosigning?.start();
  const who = allowedSigners
    ? `${allowedSigners.size} signer(s) may append`
    : 'open: any correctly signed statement is accepted';
  ctx.io.stderr(
    `ledger ${ledger.info.origin} (${redactUrl(location)}) listening on ${address}; ${who}\nledger key: ${ledger.info.vkey}\n`,
  );
  await untilStopped();
  cosigning?.stop();
  await app.close();
  await ledger.close();
  return 0;
}

function progressBar(
  ctx: CliContext,
  label: string,
): { update: (done: number, total: number) => void; stop: () => void } {
  const bar =
    ctx.io.isTTY && !ctx.json
      ? new SingleBar({ format: `${label} [{bar}] {value}/{total} entries`, hideCursor: true })
      : undefined;
  let started = false;
  return {
    update: (done, total) => {
      if (!bar) return;
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    stop: () => bar?.stop(),
  };
}

function printReport(ctx: CliContext, report: AuditReport): void {
  if (ctx.json) {
    ctx.io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const verdict = report.problems.length === 0 ? 'OK' : `${report.problems.length} problem(s)`;
  ctx.io.stdout(
    `${report.location}: ${report.entries} entries, ${report.checkpoints} checkpoints, ${report.indexKeys} index keys, tree size ${report.treeSize}: ${verdict}\n`,
  );
  for (const p of report.problems) ctx.io.stdout(`  ${p}\n`);
}

/** The report on a local ledger that could not even be opened as one (wiped, not a database, damaged). */
function unopenedReport(location: string, err: ImagetrustError): AuditReport {
  const problems = [err.message];
  if (!isPostgresLocation(location))
    for (const p of sqliteFileProblems(location)) problems.push(`SQLite: ${p}`);
  return { location, entries: 0, checkpoints: 0, treeSize: 0, indexKeys: 0, problems };
}

async function audit(ctx: CliContext): Promise<number> {
  const location = ctx.ledgerLocation;
  const bar = progressBar(ctx, 'auditing');
  const options = {
    ...(ctx.opts.ledgerKey ? { ledgerKey: ctx.opts.ledgerKey } : {}),
    onProgress: bar.update,
  };
  try {
    let report: AuditReport;
    if (isRemoteLocation(location)) {
      const backend = new RemoteBackend(location, ctx.remoteOptions());
      report = await runAudit(await remoteAuditSource(backend), options);
    } else {
      // Read-only: an audit never creates, repairs or migrates what it audits.
      const ledger = await openLocalLedger(location, { readonly: true }).catch((err: unknown) => {
        if (!isImagetrustError(err, 'LEDGER_TAMPERED')) throw err;
        return err;
      });
      if (ledger instanceof ImagetrustError) report = unopenedReport(location, ledger);
      else {
        try {
          report = await runAudit(localAuditSource(ledger), options);
        } finally {
          await ledger.close();
        }
      }
    }
    bar.stop();
    printReport(ctx, report);
    return report.problems.length === 0 ? 0 : new ImagetrustError('LEDGER_TAMPERED', 'audit failed').exitCode;
  } finally {
    bar.stop();
  }
}

interface CopyOptions {
  from: string;
  to: string;
}

async function copy(ctx: CliContext, opts: CopyOptions): Promise<number> {
  const bar = progressBar(ctx, 'copying');
  try {
    const result = await copyLedger(opts.from, opts.to, {
      ...(ctx.checkpointKeyPath ? { keyPath: ctx.checkpointKeyPath } : {}),
      onProgress: bar.update,
    });
    bar.stop();
    if (ctx.json) ctx.io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    else {
      ctx.io.stdout(
        `copied ${opts.from} to ${redactUrl(opts.to)}: ${result.entries} entries, ${result.checkpoints} checkpoints, every one identical to the original; the audit of the copy found no problem\nserve it with: imagetrust ledger serve --ledger ${redactUrl(opts.to)} --checkpoint-key ${result.keyPath}\n`,
      );
    }
    return 0;
  } finally {
    bar.stop();
  }
}

async function upgrade(ctx: CliContext): Promise<number> {
  const location = localLocation(ctx, 'ledger upgrade');
  const bar = progressBar(ctx, 'upgrading');
  try {
    const result = await upgradeLedger(location, { onProgress: bar.update });
    bar.stop();
    if (ctx.json) ctx.io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    else {
      ctx.io.stdout(
        `upgraded ${location} to format 2: ${result.entries} entries, ${result.checkpoints} checkpoints signed again with their index roots; the audit found no problem\nthe format 1 file is kept as ${result.backup}\n`,
      );
    }
    return 0;
  } finally {
    bar.stop();
  }
}

/** `ledger info`, read-only; `ledger init` opens the ledger as a writer, so a missing one is created. */
async function info(ctx: CliContext, create = false): Promise<number> {
  const client = await ctx.ledgerClient({ readonly: !create });
  try {
    const latest = await client.latest();
    const doc = {
      location: client.backend.location,
      origin: latest.origin,
      key: client.ledgerKey,
      size: latest.size,
      indexRoot: latest.indexRoot?.toString('base64') ?? null,
      checkpoint: latest.note,
    };
    if (ctx.json) ctx.io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
    else
      ctx.io.stdout(
        `ledger ${doc.origin} at ${doc.location}\nkey: ${doc.key}\ntree size: ${doc.size}\n${latest.note}`,
      );
    return 0;
  } finally {
    await client.close();
  }
}

export function registerLedgerCommands(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const ledger = program.command('ledger').description('run, audit, upgrade or describe a ledger');
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  withListenOptions(withGlobalOptions(ledger.command('serve')), DEFAULT_LEDGER_RATE_LIMIT)
    .description('serve a local ledger over HTTP for a fleet')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '9580')
    .option(
      '--allow-signer <keyid>',
      'accept statements from this signer (repeatable; env IMAGETRUST_ALLOW_SIGNER, comma-separated)',
      collect,
    )
    .option('--policy <file>', 'accept statements from the signers of this policy file')
    .option('--open', 'accept any correctly signed statement (per-key limits still apply)')
    .option('--max-per-key <n>', 'most statements one signer may have about one digest', '10000')
    .option('--max-per-request <n>', 'most statements in one request', '1000')
    .option('--signer-rate <n>', 'statements a second one signer may append', '50')
    .option('--signer-burst <n>', "a signer's burst allowance", '1000')
    .option('--witness <url>', 'collect cosignatures from this witness (repeatable)', collect)
    .option('--cosign-interval <seconds>', 'ask witnesses to cosign again this often, appends or not', '300')
    .action(run((ctx, opts) => serve(ctx, opts as ServeOptions)));
  withGlobalOptions(ledger.command('audit'))
    .description('recompute the log and the statement index and check every checkpoint (a file or a URL)')
    .action(run((ctx) => audit(ctx)));
  withGlobalOptions(ledger.command('copy'))
    .description(
      'copy a ledger (a file) into an empty one (a postgres:// URL) with the same key and checkpoints, then audit the copy',
    )
    .requiredOption('--from <file>', 'the ledger to copy (it is only read)')
    .requiredOption('--to <url>', 'the empty ledger to fill (postgres://…)')
    .action(run((ctx, opts) => copy(ctx, opts as CopyOptions)));
  withGlobalOptions(ledger.command('upgrade'))
    .description(
      'rebuild an imagetrust 0.1 ledger file into format 2 (with its statement index), then audit it',
    )
    .action(run((ctx) => upgrade(ctx)));
  withGlobalOptions(ledger.command('info'))
    .description("print the ledger's origin, key and latest proven checkpoint")
    .action(run((ctx) => info(ctx)));
  withGlobalOptions(ledger.command('init'))
    .description(
      'create the ledger and its checkpoint key where they do not exist yet, then print what `ledger info` prints',
    )
    .action(run((ctx) => info(ctx, true)));
}
