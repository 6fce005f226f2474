// `imagetrust verify docker://REF` (exit code = vcn status) and `imagetrust inspect docker://REF`.

import type { Command } from 'commander';
import { ImagetrustError } from '../errors';
import type { CheckpointQuery } from '../ledger/backend';
import type { CliContext } from './context';
import { withGlobalOptions, type CommandRunner } from './options';
import { resolveTarget } from './target';
import { vcnResult } from './vcn-output';

interface VerifyOptions {
  hash?: string;
  at?: string;
  signer?: string[];
  policy?: string;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 time (with its offset) as milliseconds since the epoch, or undefined. Strict:
 * every field in range (no 31 February, no hour 24), nothing before or after it, and years
 * from 1970: `Date.parse` alone reads "-1" as the year 2001.
 */
export function parseRfc3339(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[];
  const days = new Date(Date.UTC(year as number, month as number, 0)).getUTCDate();
  if (
    (year as number) < 1970 ||
    (month as number) < 1 ||
    (month as number) > 12 ||
    (day as number) < 1 ||
    (day as number) > days ||
    (hour as number) > 23 ||
    (minute as number) > 59 ||
    (second as number) > 59 ||
    Number(m[9] ?? 0) > 23 ||
    Number(m[10] ?? 0) > 59
  )
    return undefined;
  const t = Date.parse(value.replace(' ', 'T'));
  return Number.isNaN(t) ? undefined : t;
}

/** `--at`: a tree size (a non-negative integer, no sign, no exponent) or an RFC 3339 time. */
export function parseAt(value: string | undefined, flag = '--at'): CheckpointQuery | undefined {
  if (value === undefined) return undefined;
  if (/^(0|[1-9][0-9]*)$/.test(value)) {
    const size = Number(value);
    if (!Number.isSafeInteger(size))
      throw new ImagetrustError('USAGE', `${flag} ${value}: tree size too large`);
    return { size };
  }
  const time = parseRfc3339(value);
  if (time === undefined)
    throw new ImagetrustError(
      'USAGE',
      `${flag} ${JSON.stringify(value.slice(0, 80))}: expected a tree size (0, 1, 2 …) or an RFC 3339 time such as 2026-11-30T12:00:00Z`,
    );
  return { time };
}

async function verify(ctx: CliContext, ref: string | undefined, opts: VerifyOptions): Promise<number> {
  const json = ctx.json;
  const at = parseAt(opts.at);
  const policy = ctx.policy();
  const target = await resolveTarget(ctx, ref, opts.hash);
  const client = await ctx.ledgerClient({ readonly: true });
  try {
    const answer = await client.verify(target.digest, policy, at);
    const info = await client.backend.info();
    if (json) {
      const doc = vcnResult({
        name: target.name,
        digest: target.digest,
        ...(target.image ? { image: target.image } : {}),
        ...(target.tag ? { tag: target.tag } : {}),
        answer,
        ledger: {
          location: client.backend.location,
          origin: answer.checkpoint.origin,
          key: client.ledgerKey ?? info.vkey,
        },
      });
      ctx.io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      const { verdict } = answer;
      const d = verdict.decidedBy;
      const lines = [
        target.name,
        `  digest:  ${target.digest}`,
        `  status:  ${verdict.status.toUpperCase()} (${verdict.statusCode})`,
      ];
      if (d) {
        const who = verdict.signer?.name
          ? `${d.statement.signer} (${verdict.signer.name})`
          : d.statement.signer;
        lines.push(`  signer:  ${who}, level ${verdict.level}`);
        const order =
          d.statement.sequence > 0 ? `, the signer's statement #${d.statement.sequence} about it` : '';
        lines.push(`  signed:  ${d.statement.time} as ${d.statement.name}${order}`);
        lines.push(
          `  proof:   entry #${d.index} is in the checkpoint of tree size ${answer.checkpoint.size} (${answer.checkpoint.origin})`,
        );
      } else {
        lines.push(
          `  no allowed signer notarized this digest in the ${answer.checkpoint.size} entries of ${answer.checkpoint.origin}`,
        );
      }
      for (const signer of verdict.equivocated ?? []) {
        lines.push(
          `  warning: signer ${signer} signed two different statements with one sequence; the stricter counts`,
        );
      }
      lines.push(
        `  complete: proven by the ledger's index for each of the ${answer.signers.length} allowed signer(s)`,
      );
      if (answer.checkpoint.size !== answer.latest.size) {
        lines.push(
          `  as of:   tree size ${answer.checkpoint.size} (the ledger now holds ${answer.latest.size})`,
        );
      }
      ctx.io.stdout(`${lines.join('\n')}\n`);
    }
    return answer.verdict.statusCode;
  } finally {
    await client.close();
  }
}

async function inspect(ctx: CliContext, ref: string | undefined, opts: VerifyOptions): Promise<number> {
  const json = ctx.json;
  const at = parseAt(opts.at);
  const policy = ctx.policy();
  const target = await resolveTarget(ctx, ref, opts.hash);
  const client = await ctx.ledgerClient({ readonly: true });
  try {
    const found = await client.lookup(
      target.digest,
      policy.signers.map((s) => s.keyId),
      at,
    );
    const history = found.statements.map((s) => ({
      index: s.index,
      id: s.id,
      time: s.statement.time,
      status: s.statement.status,
      signer: s.statement.signer,
      sequence: s.statement.sequence,
      ...(s.statement.supersedes ? { supersedes: s.statement.supersedes } : {}),
      name: s.statement.name,
      metadata: s.statement.metadata,
      attributes: s.statement.attributes,
    }));
    if (json) {
      ctx.io.stdout(
        `${JSON.stringify({ name: target.name, digest: target.digest, signers: found.signers, treeSize: found.checkpoint.size, checkpoint: found.checkpoint.note, history }, null, 2)}\n`,
      );
    } else {
      const lines = [
        `${target.name} (${target.digest}), ${history.length} statement(s) of ${found.signers.length} signer(s) in tree size ${found.checkpoint.size}, proven complete:`,
      ];
      for (const h of history) {
        const seq = h.sequence === 0 ? 'v0.1' : `#${h.sequence}`;
        const attrs = Object.entries(h.attributes)
          .map(([k, v]) => ` ${k}=${v}`)
          .join('');
        lines.push(
          `  entry ${h.index}  ${h.time}  ${h.status.padEnd(11)}  signer ${h.signer} ${seq}  as ${h.name}${attrs}`,
        );
      }
      ctx.io.stdout(`${lines.join('\n')}\n`);
    }
    return 0;
  } finally {
    await client.close();
  }
}

export function registerVerify(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  withGlobalOptions(program.command('verify [ref]'))
    .aliases(['authenticate', 'a', 'v'])
    .description('verify an image (docker://REF or --hash) against the ledger; exit code = status')
    .option('--hash <digest>', 'verify a sha256 digest instead of a local image')
    .option('--signer <keyid>', 'allowed signer key id (repeatable: any of them)', collect)
    .option('--signerID <keyid>', 'alias of --signer, as vcn had it', collect)
    .option('--policy <file>', 'trust policy file naming allowed signers and their levels')
    .option('--at <time|size>', 'status at a past time (RFC 3339) or tree size')
    .action(
      run((ctx, ref, opts) => {
        const o = opts as VerifyOptions & { signerID?: string[] };
        ctx.opts.signer = [...(o.signer ?? []), ...(o.signerID ?? [])];
        return verify(ctx, ref as string | undefined, o);
      }),
    );
  withGlobalOptions(program.command('inspect [ref]'))
    .alias('i')
    .description('show the statement history of an image digest (of the allowed signers, proven complete)')
    .option('--hash <digest>', 'inspect a sha256 digest instead of a local image')
    .option('--signer <keyid>', 'signer whose statements to show (repeatable)', collect)
    .option('--policy <file>', 'trust policy file naming the signers')
    .option('--at <time|size>', 'history up to a past time (RFC 3339) or tree size')
    .action(
      run((ctx, ref, opts) => {
        const o = opts as VerifyOptions;
        ctx.opts.signer = o.signer ?? [];
        return inspect(ctx, ref as string | undefined, o);
      }),
    );
}
