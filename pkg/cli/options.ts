// Options every command takes, and the shape of a command's implementation.

import { Option, type Command } from 'commander';
import type { CliContext, CliIo } from './context';
import { ImagetrustError } from '../errors';
import { secretFrom } from '../net/files';
import { parseRateLimit, serverTlsFrom, type ServerTls } from '../net/server';

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
    .option(
      '--tls-ca <file>',
      'also trust this CA (PEM) for https:// servers, besides the system store and NODE_EXTRA_CA_CERTS (env IMAGETRUST_TLS_CA)',
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

/** The flags of a command that listens: TLS, and the per-client rate limit. */
export interface ListenFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  rateLimit?: string;
}

/**
 * Adds --tls-cert, --tls-key, --tls-client-ca and --rate-limit to a command that listens
 * (each also from IMAGETRUST_TLS_CERT, IMAGETRUST_TLS_KEY, IMAGETRUST_TLS_CLIENT_CA,
 * IMAGETRUST_RATE_LIMIT).
 */
export function withListenOptions(cmd: Command, defaultRate: number): Command {
  return cmd
    .option(
      '--tls-cert <file>',
      'serve HTTPS with this certificate (PEM; reloaded on SIGHUP; env IMAGETRUST_TLS_CERT)',
    )
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM, mode 0600; env IMAGETRUST_TLS_KEY)')
    .option(
      '--tls-client-ca <file>',
      'require client certificates issued by this CA (mutual TLS; env IMAGETRUST_TLS_CLIENT_CA)',
    )
    .option(
      '--rate-limit <n>',
      `requests a second one client address may make, bursts of 10x; 0 for none (env IMAGETRUST_RATE_LIMIT; default ${defaultRate})`,
    );
}

/** The TLS of a listener from its flags or the environment; undefined for plain HTTP. */
export function listenTls(flags: ListenFlags, env: NodeJS.ProcessEnv): ServerTls | undefined {
  return serverTlsFrom({
    tlsCert: flags.tlsCert ?? (env.IMAGETRUST_TLS_CERT || undefined),
    tlsKey: flags.tlsKey ?? (env.IMAGETRUST_TLS_KEY || undefined),
    tlsClientCa: flags.tlsClientCa ?? (env.IMAGETRUST_TLS_CLIENT_CA || undefined),
  });
}

/** The listener's rate limit from --rate-limit or IMAGETRUST_RATE_LIMIT. */
export function listenRateLimit(flags: ListenFlags, env: NodeJS.ProcessEnv, fallback: number): number {
  try {
    return parseRateLimit(flags.rateLimit ?? (env.IMAGETRUST_RATE_LIMIT || undefined), fallback);
  } catch (err) {
    throw new ImagetrustError('USAGE', (err as Error).message);
  }
}

/**
 * The API token: --token-file FILE or IMAGETRUST_TOKEN_FILE (a file only its owner can read),
 * else IMAGETRUST_TOKEN, else --token (which every local user can read with `ps`: warned).
 */
export function apiToken(
  flags: { token?: string; tokenFile?: string },
  io: Pick<CliIo, 'env' | 'stderr'>,
): string | undefined {
  warnSecretFlag(flags.token, '--token', '--token-file FILE or IMAGETRUST_TOKEN', io);
  const file = flags.tokenFile ?? (io.env.IMAGETRUST_TOKEN_FILE || undefined);
  const value = flags.token ?? (file ? undefined : io.env.IMAGETRUST_TOKEN || undefined);
  return secretFrom(value, file, { value: '--token', file: '--token-file', what: 'token file' });
}

/** Warns, on stderr, that a secret given on the command line is visible in `ps`. */
export function warnSecretFlag(
  value: string | undefined,
  flag: string,
  instead: string,
  io: Pick<CliIo, 'stderr'>,
): void {
  if (value === undefined) return;
  io.stderr(
    `warning: ${flag} on the command line can be read by every local user (ps, /proc); use ${instead} instead (${flag} is deprecated)\n`,
  );
}
