// `imagetrust search --attr NAME=VALUE | --hash sha256:…`: the statements that carry an
// evidence attribute (the CI job, commit or pipeline that produced an image) or are about a
// digest, each proven included in the ledger's proven checkpoint and its signature checked.

import type { Command } from 'commander';
import { ImagetrustError } from '../errors';
import { parseAttributeQuery, verifiedSearch } from '../ledger/search';
import { parseImageDigest } from '../ledger/statement';
import type { CliContext } from './context';
import { withGlobalOptions, type CommandRunner } from './options';

interface SearchOptions {
  attr?: string;
  hash?: string;
  max?: string;
}

async function search(ctx: CliContext, opts: SearchOptions): Promise<number> {
  if (!opts.attr && !opts.hash)
    throw new ImagetrustError('USAGE', 'search needs --attr NAME=VALUE, --hash sha256:… or both');
  const asUsage = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new ImagetrustError('USAGE', (err as Error).message, { cause: err });
    }
  };
  const attribute = opts.attr ? asUsage(() => parseAttributeQuery(opts.attr as string, '--attr')) : undefined;
  const digest = opts.hash ? asUsage(() => parseImageDigest(opts.hash as string)) : undefined;
  // Digits only: Number() would also take " 5", "1e3", "0x10" and "".
  const max = opts.max === undefined ? 1000 : /^[1-9][0-9]{0,5}$/.test(opts.max) ? Number(opts.max) : NaN;
  if (!(max >= 1 && max <= 100_000))
    throw new ImagetrustError(
      'USAGE',
      `--max ${JSON.stringify(String(opts.max).slice(0, 40))}: a whole number from 1 to 100000`,
    );
  const client = await ctx.ledgerClient({ readonly: true });
  try {
    const result = await verifiedSearch(
      client,
      { ...(attribute ? { attribute } : {}), ...(digest ? { digest } : {}) },
      { max },
    );
    if (ctx.json) {
      const doc = {
        query: { ...(attribute ? { attr: attribute } : {}), ...(digest ? { hash: digest } : {}) },
        checkpoint: result.checkpoint.note,
        treeSize: result.checkpoint.size,
        matches: result.found.map((f) => ({
          index: f.index,
          id: f.id,
          digest: f.statement.digest,
          name: f.statement.name,
          status: f.statement.status,
          signer: f.statement.signer,
          time: f.statement.time,
          sequence: f.statement.sequence,
          attributes: f.statement.attributes,
          leafHash: f.leafHash.toString('base64'),
          inclusionPath: f.proof.map((p) => p.toString('base64')),
        })),
      };
      ctx.io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      for (const f of result.found) {
        const s = f.statement;
        const attrs = Object.entries(s.attributes)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(' ');
        ctx.io.stdout(
          `#${f.index} ${s.time} ${s.status.toUpperCase()} ${s.digest} ${s.name} by ${s.signer}${attrs ? ` ${attrs}` : ''}\n`,
        );
      }
      ctx.io.stderr(
        `${result.found.length} statement(s), each proven included at tree size ${result.checkpoint.size}${result.found.length >= max ? ` (the first ${max}; --max for more)` : ''}\n`,
      );
    }
    return result.found.length > 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}

export function registerSearch(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  withGlobalOptions(program.command('search'))
    .description('find statements by evidence attribute or digest, each proven included (exit 1: none)')
    .option('--attr <name=value>', 'an evidence attribute, e.g. ci.job=4242')
    .option('--hash <digest>', 'statements about this sha256 digest, by any signer')
    .option('--max <n>', 'at most this many statements', '1000')
    .action(run((ctx, opts) => search(ctx, opts as SearchOptions)));
}
