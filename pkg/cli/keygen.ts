// `imagetrust keygen`: a new Ed25519 signer key (0600, optionally passphrase-protected)
// and its public half beside it (`<key>.pub`, which verify reads without the passphrase).

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { ImagetrustError } from '../errors';
import { generateSignerKey, writeKeyFile, writePublicKeyFile } from '../ledger/keys';
import type { CliContext } from './context';
import { withGlobalOptions, type CommandRunner } from './options';

async function keygen(ctx: CliContext): Promise<number> {
  const path = ctx.keyPath;
  if (existsSync(path))
    throw new ImagetrustError('KEY_EXISTS', `${path} already exists; not replacing a key`);
  const key = generateSignerKey();
  writeKeyFile(path, key.privateKey, ctx.passphrase());
  writePublicKeyFile(`${path}.pub`, key);
  if (ctx.json) {
    ctx.io.stdout(
      `${JSON.stringify({ keyId: key.keyId, publicKey: key.publicKey.toString('base64'), path }, null, 2)}\n`,
    );
  } else {
    ctx.io.stderr(
      `wrote ${path} (mode 0600)${ctx.passphrase() ? ', encrypted with your passphrase' : ''} and ${path}.pub\n`,
    );
    ctx.io.stdout(`${key.keyId}\n`);
  }
  return 0;
}

export function registerKeygen(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  withGlobalOptions(program.command('keygen'))
    .description(
      'create an Ed25519 signer key and print its key id (passphrase from --passphrase-file or IMAGETRUST_PASSPHRASE)',
    )
    .action(run((ctx) => keygen(ctx)));
}
