// `imagetrust sign|untrust|unsupport docker://REF`: append a signed statement to the ledger.

import type { Command } from 'commander';
import { statementMetadata } from '../docker/resolve';
import { signStatement, type StatementStatus } from '../ledger/statement';
import type { CliContext } from './context';
import { withGlobalOptions, type CommandRunner } from './options';
import { resolveTarget } from './target';

interface NotarizeOptions {
  hash?: string;
}

async function notarize(
  ctx: CliContext,
  status: StatementStatus,
  ref: string | undefined,
  opts: NotarizeOptions,
): Promise<number> {
  const json = ctx.json;
  const target = await resolveTarget(ctx, ref, opts.hash);
  const key = ctx.signerKey();
  const signed = signStatement(
    {
      kind: 'docker',
      digest: target.digest,
      name: target.name,
      status,
      signer: key.keyId,
      time: new Date(ctx.io.now()).toISOString(),
      metadata: target.image ? statementMetadata(target.image) : {},
    },
    key.privateKey,
  );
  const client = await ctx.ledgerClient();
  try {
    const { indexes, checkpoint } = await client.append([signed]);
    const index = indexes[0] as number;
    if (json) {
      ctx.io.stdout(
        `${JSON.stringify({ index, name: target.name, digest: target.digest, status, signer: key.keyId, checkpoint: checkpoint.note }, null, 2)}\n`,
      );
    } else {
      ctx.io.stdout(
        `${target.name} (${target.digest}) is now ${status.toUpperCase()} by signer ${key.keyId}\n` +
          `entry #${index}, checkpoint:\n${checkpoint.note}`,
      );
    }
    return 0;
  } finally {
    await client.close();
  }
}

export function registerNotarize(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const verbs: [string, string[], StatementStatus, string][] = [
    ['sign', ['notarize', 'n', 's'], 'trusted', 'notarize an image as trusted'],
    ['untrust', ['ut'], 'untrusted', 'mark an image as untrusted'],
    ['unsupport', ['us'], 'unsupported', 'mark an image as unsupported'],
  ];
  for (const [name, aliases, status, description] of verbs) {
    withGlobalOptions(program.command(`${name} [ref]`))
      .aliases(aliases)
      .description(`${description} (docker://REF, or --hash)`)
      .option('--hash <digest>', 'the sha256 digest to notarize, without a local image')
      .action(
        run((ctx, ref, opts) => notarize(ctx, status, ref as string | undefined, opts as NotarizeOptions)),
      );
  }
}
