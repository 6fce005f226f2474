// The `imagetrust` command line. Each command returns its exit code; operational failures
// map mechanically from the error's code (errors.ts), never colliding with the vcn statuses.

import { Command, CommanderError } from 'commander';
import { ImagetrustError, asImagetrustError } from '../errors';
import { CliContext, type CliIo, type GlobalOptions } from './context';
import { registerAgent } from './agent';
import { registerFleet } from './fleet';
import { registerAuthz } from './authz';
import { registerSearch } from './search';
import { registerKeygen } from './keygen';
import { registerLedgerCommands } from './ledger';
import { registerNotarize } from './notarize';
import { registerVerify } from './verify';
import { registerWitness } from './witness';
import type { CommandRunner } from './options';
import { VERSION } from '../version';

export const EXIT_HELP = `
Exit codes:
  0  trusted            1  untrusted          2  unknown (never notarized by an allowed signer)
  3  unsupported
  10 ledger compromised (bad signature, failed proof, fork, rollback or tampered storage)
  64 usage or bad input (malformed image reference, digest or option)
  65 invalid statement  66 image or ledger not found   69 Docker engine or ledger unreachable
  70 internal error     73 key file exists    74 I/O error
  75 ledger conflict (duplicate, replay, out of order), a ledger or request limit reached
  76 a ledger, witness or peer answered garbage or too much
  77 key missing, invalid, readable by others or wrong passphrase; signer not allowed; token refused
  78 invalid configuration (a policy, TLS or secret file; DOCKER_HOST)
  79 an imagetrust 0.1 ledger file: run "imagetrust ledger upgrade"

Environment:
  IMAGETRUST_LEDGER      ledger file or http(s) URL (default: $IMAGETRUST_HOME/ledger.db)
  IMAGETRUST_KEY         signer key file (default: $IMAGETRUST_HOME/signer.key)
  IMAGETRUST_PASSPHRASE  passphrase of the signer key
  IMAGETRUST_LEDGER_KEY  pin the ledger's checkpoint key (name+id+key)
  IMAGETRUST_ALLOW_SIGNER  ledger serve: signers allowed to append (comma-separated)
  IMAGETRUST_HOME        data directory (default: $XDG_DATA_HOME/imagetrust or ~/.local/share/imagetrust)
  DOCKER_HOST            Docker engine (default: unix:///var/run/docker.sock)
`;

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('imagetrust')
    .description('Notarize Docker images into a tamper-evident ledger and verify them')
    .version(VERSION)
    .showHelpAfterError()
    .addHelpText('after', EXIT_HELP)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();

  const run =
    (fn: CommandRunner) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const opts = cmd.optsWithGlobals();
      const ctx = new CliContext(opts as GlobalOptions, io);
      setExit(await fn(ctx, ...args.slice(0, -2), opts));
    };

  registerNotarize(program, run);
  registerVerify(program, run);
  registerSearch(program, run);
  registerKeygen(program, run);
  registerLedgerCommands(program, run);
  registerAgent(program, run);
  registerFleet(program, run);
  registerAuthz(program, run);
  registerWitness(program, run);
  return program;
}

export function reportError(err: unknown, io: CliIo, json: boolean): number {
  const e = asImagetrustError(err);
  const prefix = e.compromised ? 'ledger compromised: ' : '';
  io.stderr(`imagetrust: ${prefix}${e.message} [${e.code}]\n`);
  if (json) {
    io.stdout(
      `${JSON.stringify({ error: e.message, code: e.code, ...(e.details ? { details: e.details } : {}) }, null, 2)}\n`,
    );
  }
  return e.exitCode;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  const wantsJson = argv.some(
    (a, i) => /^(-o|--output)=?json$/.test(a) || ((a === '-o' || a === '--output') && argv[i + 1] === 'json'),
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return 0;
      return new ImagetrustError('USAGE', err.message).exitCode;
    }
    return reportError(err, io, wantsJson);
  }
}

export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    isTTY: Boolean(process.stderr.isTTY),
    now: Date.now,
  };
}

export async function main(): Promise<void> {
  const code = await runCli(process.argv.slice(2), processIo());
  process.exitCode = code;
}
