// `imagetrust witness keygen|serve`: a C2SP witness for one or more ledgers.

import type { Command } from 'commander';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { ImagetrustError } from '../errors';
import { cosigner } from '../ledger/cosignature';
import { writeKeyFile } from '../ledger/keys';
import { readWitnessKey } from '../witness/keys';
import { RemoteBackend } from '../ledger/remote';
import { buildWitnessServer } from '../witness/server';
import { FileWitnessState } from '../witness/state';
import { Witness } from '../witness/witness';
import type { CliContext } from './context';
import { clientFetch, loadClientTls } from '../net/client';
import { DEFAULT_RATE_LIMIT } from '../net/server';
import {
  listenRateLimit,
  listenTls,
  untilStopped,
  withListenOptions,
  type CommandRunner,
  type ListenFlags,
} from './options';

async function keygen(ctx: CliContext, name: string, opts: { key?: string }): Promise<number> {
  if (!opts.key) throw new ImagetrustError('USAGE', 'witness keygen needs --key FILE');
  const key = generateKeyPairSync('ed25519').privateKey;
  const c = cosigner(name, key);
  writeKeyFile(opts.key, key);
  writeFileSync(`${opts.key}.vkey`, `${c.vkey}\n`, { mode: 0o644 });
  ctx.io.stdout(`${c.vkey}\n`);
  return 0;
}

interface ServeOptions extends ListenFlags {
  tlsCa?: string;
  key?: string;
  log?: string[];
  host: string;
  port: string;
  state?: string;
  verifyIndex?: string;
}

async function serve(ctx: CliContext, opts: ServeOptions): Promise<number> {
  if (!opts.key) throw new ImagetrustError('USAGE', 'witness serve needs --key FILE');
  if (!opts.log?.length)
    throw new ImagetrustError('USAGE', 'witness serve needs --log VKEY (repeatable): the ledgers it follows');
  const port = Number(opts.port);
  if (!/^\d{1,5}$/.test(opts.port) || port > 65535)
    throw new ImagetrustError('USAGE', `--port ${opts.port} is not a port`);
  const signer = readWitnessKey(opts.key);
  const tls = listenTls(opts, ctx.io.env);
  const rateLimit = listenRateLimit(opts, ctx.io.env, DEFAULT_RATE_LIMIT);
  const statePath = opts.state ?? `${opts.key}.state.json`;
  const caFile = opts.tlsCa ?? (ctx.io.env.IMAGETRUST_TLS_CA || undefined);
  const ledgers = opts.verifyIndex
    ? new RemoteBackend(opts.verifyIndex, {
        fetch: clientFetch(loadClientTls({ ca: caFile }, ctx.io.env)),
      })
    : undefined;
  const witness = new Witness({
    cosigner: signer,
    logs: opts.log,
    state: new FileWitnessState(statePath),
    ...(ledgers
      ? { entries: (_origin: string, start: number, limit: number) => ledgers.entries(start, limit) }
      : {}),
    clock: ctx.io.now,
  });
  const app = buildWitnessServer({
    witness,
    logs: opts.log,
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
  ctx.io.stderr(
    `witness ${signer.name} listening on ${address}, state in ${statePath}\nwitness key: ${signer.vkey}\n` +
      (ledgers
        ? `this key also vouches for the statement index, recomputed from ${opts.verifyIndex}: use it for nothing else\n`
        : ''),
  );
  await untilStopped();
  await app.close();
  return 0;
}

export function registerWitness(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  const witness = program.command('witness').description('cosign ledger checkpoints as a C2SP witness');
  witness
    .command('keygen <name>')
    .description('write a witness key (0600) and its vkey (<file>.vkey); prints the vkey')
    .option('--key <file>', 'where to write the key')
    .action(run((ctx, name, opts) => keygen(ctx, name as string, opts as { key?: string })));
  withListenOptions(witness.command('serve'), DEFAULT_RATE_LIMIT)
    .description('serve POST /add-checkpoint (C2SP tlog-witness)')
    .option('--key <file>', 'the witness key')
    .option('--log <vkey>', 'a ledger to follow, by its checkpoint key (repeatable)', collect)
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '9582')
    .option('--state <file>', 'where the witness keeps what it cosigned (default <key>.state.json)')
    .option(
      '--tls-ca <file>',
      'also trust this CA for an https:// --verify-index ledger (env IMAGETRUST_TLS_CA)',
    )
    .option(
      '--verify-index <url>',
      "also recompute the statement index from this ledger's entries before cosigning",
    )
    .action(run((ctx, opts) => serve(ctx, opts as ServeOptions)));
}
