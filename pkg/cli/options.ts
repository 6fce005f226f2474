// Options every command takes, and the shape of a command's implementation.

import { Option, type Command } from 'commander';
import type { CliContext } from './context';

export type CommandRunner = (ctx: CliContext, ...args: unknown[]) => Promise<number>;

/** Adds the options every command understands. */
export function withGlobalOptions(cmd: Command): Command {
  return cmd
    .option(
      '--ledger <path|url>',
      'ledger file, postgres:// URL, or URL of `imagetrust ledger serve` (env IMAGETRUST_LEDGER)',
    )
    .option(
      '--checkpoint-key <file>',
      "the ledger's own checkpoint key, for a ledger in PostgreSQL this process writes to (env IMAGETRUST_CHECKPOINT_KEY)",
    )
    .option('--ledger-key <vkey>', 'pin the ledger checkpoint key (env IMAGETRUST_LEDGER_KEY)')
    .option(
      '--witness-policy <file>',
      'witnesses whose quorum must cosign the ledger (env IMAGETRUST_WITNESS_POLICY)',
    )
    .option(
      '--max-checkpoint-age <duration>',
      'refuse a witnessed view older than this (env IMAGETRUST_MAX_CHECKPOINT_AGE; default 1h)',
    )
    .option('--key <file>', 'signer key file (env IMAGETRUST_KEY)')
    .option(
      '--passphrase-file <file>',
      'file holding the signer key passphrase (or env IMAGETRUST_PASSPHRASE)',
    )
    .addOption(new Option('-o, --output <format>', 'output format: json or text').default(''));
}

/** Resolves on the first SIGTERM or SIGINT: how every long-running command waits to stop. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}
