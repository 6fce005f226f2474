// `imagetrust ledger serve|audit|info`.

import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { ImagetrustError } from '../errors';
import { auditLedger } from '../ledger/audit';
import { isRemoteLocation, openLocalLedger } from '../ledger/open';
import { buildLedgerServer } from '../ledger/server';
import type { CliContext } from './context';
import { withGlobalOptions, type CommandRunner } from './options';

function localLocation(ctx: CliContext, what: string): string {
  const location = ctx.ledgerLocation;
  if (isRemoteLocation(location))
    throw new ImagetrustError('USAGE', `${what} needs a local ledger file, not ${location}`);
  return location;
}

interface ServeOptions {
  host: string;
  port: string;
  allowSigner?: string[];
}

async function serve(ctx: CliContext, opts: ServeOptions): Promise<number> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ImagetrustError('USAGE', `--port ${opts.port} is not a port`);
  const location = localLocation(ctx, 'ledger serve');
  const ledger = await openLocalLedger(location, {
    onCreated: () => ctx.io.stderr(`created a new ledger at ${location}\n`),
    clock: ctx.io.now,
  });
  const app = buildLedgerServer({
    ledger,
    ...(opts.allowSigner?.length ? { allowedSigners: new Set(opts.allowSigner) } : {}),
  });
  const address = await app.listen({ host: opts.host, port });
  ctx.io.stderr(
    `ledger ${ledger.info.origin} (${location}) listening on ${address}\nledger key: ${ledger.info.vkey}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await app.close();
  await ledger.close();
  return 0;
}

async function audit(ctx: CliContext): Promise<number> {
  const location = localLocation(ctx, 'ledger audit');
  const ledger = await openLocalLedger(location, { readonly: false });
  const bar =
    ctx.io.isTTY && !ctx.json
      ? new SingleBar({ format: 'auditing [{bar}] {value}/{total} entries', hideCursor: true })
      : undefined;
  try {
    let started = false;
    const report = await auditLedger(ledger, {
      ...(ctx.opts.ledgerKey ? { ledgerKey: ctx.opts.ledgerKey } : {}),
      onProgress: (done, total) => {
        if (!bar) return;
        if (!started) bar.start(total, 0);
        started = true;
        bar.update(done);
      },
    });
    bar?.stop();
    if (ctx.json) ctx.io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else {
      ctx.io.stdout(
        `${report.entries} entries, ${report.checkpoints} checkpoints, tree size ${report.treeSize}: ${report.problems.length === 0 ? 'OK' : `${report.problems.length} problem(s)`}\n`,
      );
      for (const p of report.problems) ctx.io.stdout(`  ${p}\n`);
    }
    return report.problems.length === 0 ? 0 : new ImagetrustError('LEDGER_TAMPERED', 'audit failed').exitCode;
  } finally {
    bar?.stop();
    await ledger.close();
  }
}

async function info(ctx: CliContext): Promise<number> {
  const client = await ctx.ledgerClient();
  try {
    const latest = await client.latest();
    const doc = {
      location: client.backend.location,
      origin: latest.origin,
      key: client.ledgerKey,
      size: latest.size,
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
  const ledger = program.command('ledger').description('run, audit or describe a ledger');
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  withGlobalOptions(ledger.command('serve'))
    .description('serve a local ledger over HTTP for a fleet')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '9580')
    .option('--allow-signer <keyid>', 'only accept statements from these signers (repeatable)', collect)
    .action(run((ctx, opts) => serve(ctx, opts as ServeOptions)));
  withGlobalOptions(ledger.command('audit'))
    .description('recompute the tree from storage and check every stored checkpoint')
    .action(run((ctx) => audit(ctx)));
  withGlobalOptions(ledger.command('info'))
    .description("print the ledger's origin, key and latest proven checkpoint")
    .action(run((ctx) => info(ctx)));
}
