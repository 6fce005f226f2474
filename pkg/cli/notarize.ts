// `imagetrust sign|untrust|unsupport docker://REF`: append a signed statement to the ledger,
// as the signer's next word about that digest (its sequence and the statement it supersedes
// come from the signer's own history, proven complete by the ledger's index).

import type { Command } from 'commander';
import { ImagetrustError, isImagetrustError } from '../errors';
import { statementMetadata } from '../docker/resolve';
import { signStatement, validateAttributes, type StatementStatus } from '../ledger/statement';
import type { CliContext } from './context';
import { withGlobalOptions, type CommandRunner } from './options';
import { resolveTarget } from './target';
import { ciAttributes } from './ci-context';

interface NotarizeOptions {
  hash?: string;
  attr?: string[];
  /** commander's --no-ci */
  ci?: boolean;
}

/** Another process may sign for the same key and digest at the same moment: try again. */
const ATTEMPTS = 3;

export function parseAttributes(pairs: string[] = []): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new ImagetrustError('USAGE', `--attr ${JSON.stringify(pair.slice(0, 100))}: expected NAME=VALUE`);
    attributes[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  try {
    validateAttributes(attributes);
  } catch (err) {
    throw new ImagetrustError('USAGE', `--attr: ${(err as Error).message}`, { cause: err });
  }
  return attributes;
}

async function notarize(
  ctx: CliContext,
  status: StatementStatus,
  ref: string | undefined,
  opts: NotarizeOptions,
): Promise<number> {
  const json = ctx.json;
  // The CI job's context is evidence too; what --attr says wins.
  const attributes = parseAttributes(opts.attr);
  if (opts.ci !== false) {
    const ci = ciAttributes(ctx.io.env);
    for (const [k, v] of Object.entries(ci)) if (!(k in attributes)) attributes[k] = v;
    validateAttributes(attributes);
  }
  const target = await resolveTarget(ctx, ref, opts.hash);
  const key = ctx.signerKey();
  const client = await ctx.ledgerClient();
  try {
    for (let attempt = 1; ; attempt++) {
      const { sequence, supersedes } = await client.nextWord(key.keyId, target.digest);
      const signed = signStatement(
        {
          digest: target.digest,
          name: target.name,
          status,
          signer: key.keyId,
          time: new Date(ctx.io.now()).toISOString(),
          metadata: target.image ? statementMetadata(target.image) : {},
          attributes,
          sequence,
          ...(supersedes ? { supersedes } : {}),
        },
        key.privateKey,
      );
      let result;
      try {
        result = await client.append([signed]);
      } catch (err) {
        if (isImagetrustError(err, 'LEDGER_CONFLICT') && attempt < ATTEMPTS) continue;
        throw err;
      }
      const index = result.indexes[0] as number;
      const { checkpoint } = result;
      if (json) {
        ctx.io.stdout(
          `${JSON.stringify({ index, id: signed.id, sequence, name: target.name, digest: target.digest, status, signer: key.keyId, attributes, checkpoint: checkpoint.note }, null, 2)}\n`,
        );
      } else {
        ctx.io.stdout(
          `${target.name} (${target.digest}) is now ${status.toUpperCase()} by signer ${key.keyId}\n` +
            `entry #${index}, the signer's statement ${sequence} about this digest, checkpoint:\n${checkpoint.note}`,
        );
      }
      return 0;
    }
  } finally {
    await client.close();
  }
}

export function registerNotarize(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
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
      .option('--attr <name=value>', 'evidence attribute, e.g. ci.job=4242 (repeatable)', collect)
      .option('--no-ci', 'do not record the CI job (GitHub Actions, GitLab CI, Jenkins) as attributes')
      .action(
        run((ctx, ref, opts) => notarize(ctx, status, ref as string | undefined, opts as NotarizeOptions)),
      );
  }
}
