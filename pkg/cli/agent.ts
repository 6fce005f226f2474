// `imagetrust agent`: the node agent. Every flag can also be set in --config FILE (YAML/JSON)
// and by an IMAGETRUST_* variable; flags win over the environment, which wins over the file.

import type { Command } from 'commander';
import { loadAgentConfig, type RawConfig } from '../agent/config';
import { startAgent } from '../agent/run';
import type { CliContext } from './context';
import { DEFAULT_RATE_LIMIT } from '../net/server';
import {
  untilStopped,
  warnSecretFlag,
  withGlobalOptions,
  withListenOptions,
  type CommandRunner,
} from './options';

interface AgentFlags {
  config?: string;
  node?: string;
  listen?: string;
  ledger?: string;
  ledgerKey?: string;
  witnessPolicy?: string;
  maxCheckpointAge?: string;
  witnessKey?: string;
  key?: string;
  signer?: string[];
  policy?: string;
  token?: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  tlsCa?: string;
  tlsClientCert?: string;
  tlsClientKey?: string;
  rateLimit?: string;
  influxTokenFile?: string;
  influxPasswordFile?: string;
  peer?: string[];
  peerTokenFile?: string;
  peerTimeout?: string;
  resync?: string;
  dockerTimeout?: string;
  cacheTtl?: string;
  verifier?: string;
  verifierCommand?: string;
  verifierTimeout?: string;
  history?: string;
  historyRetention?: string;
  logLevel?: string;
  influxUrl?: string;
  influxDb?: string;
  influxUser?: string;
  influxPassword?: string;
  influxOrg?: string;
  influxBucket?: string;
  influxToken?: string;
  fleetDb?: string;
  fleetHeartbeat?: string;
  admissionLog?: string;
}

async function agent(ctx: CliContext, flags: AgentFlags): Promise<number> {
  const { config: configFile, ...rest } = flags;
  const raw: RawConfig & { config?: string } = {
    ...(configFile ? { config: configFile } : {}),
    node: rest.node,
    listen: rest.listen,
    ledger: rest.ledger,
    ledgerKey: rest.ledgerKey,
    witnessPolicy: rest.witnessPolicy,
    maxCheckpointAge: rest.maxCheckpointAge,
    witnessKey: rest.witnessKey,
    key: rest.key,
    signer: rest.signer,
    policy: rest.policy,
    token: rest.token,
    tokenFile: rest.tokenFile,
    tlsCert: rest.tlsCert,
    tlsKey: rest.tlsKey,
    tlsClientCa: rest.tlsClientCa,
    tlsCa: rest.tlsCa,
    tlsClientCert: rest.tlsClientCert,
    tlsClientKey: rest.tlsClientKey,
    rateLimit: rest.rateLimit,
    influxTokenFile: rest.influxTokenFile,
    influxPasswordFile: rest.influxPasswordFile,
    peer: rest.peer,
    peerTokenFile: rest.peerTokenFile,
    peerTimeout: rest.peerTimeout,
    resync: rest.resync,
    dockerTimeout: rest.dockerTimeout,
    cacheTtl: rest.cacheTtl,
    verifier: rest.verifier,
    verifierCommand: rest.verifierCommand,
    verifierTimeout: rest.verifierTimeout,
    history: rest.history,
    historyRetention: rest.historyRetention,
    logLevel: rest.logLevel,
    influxUrl: rest.influxUrl,
    influxDb: rest.influxDb,
    influxUser: rest.influxUser,
    influxPassword: rest.influxPassword,
    influxOrg: rest.influxOrg,
    influxBucket: rest.influxBucket,
    influxToken: rest.influxToken,
    fleetDb: rest.fleetDb,
    fleetHeartbeat: rest.fleetHeartbeat,
    admissionLog: rest.admissionLog,
  };
  warnSecretFlag(rest.token, '--token', '--token-file FILE (or IMAGETRUST_TOKEN_FILE)', ctx.io);
  warnSecretFlag(rest.influxToken, '--influx-token', '--influx-token-file FILE', ctx.io);
  warnSecretFlag(rest.influxPassword, '--influx-password', '--influx-password-file FILE', ctx.io);
  const config = loadAgentConfig({ flags: raw, env: ctx.io.env });
  const running = await startAgent(config, { env: ctx.io.env });
  ctx.io.stderr(`imagetrust agent for node ${config.node} listening on ${running.address}\n`);
  await untilStopped();
  await running.close();
  return 0;
}

export function registerAgent(
  program: Command,
  run: (fn: CommandRunner) => (...args: unknown[]) => Promise<void>,
): void {
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  withListenOptions(withGlobalOptions(program.command('agent')), DEFAULT_RATE_LIMIT)
    .description('verify every running container of this node continuously and serve the results')
    .option('--config <file>', 'YAML or JSON file with any of these settings (env IMAGETRUST_CONFIG)')
    .option('--node <name>', 'node name (IMAGETRUST_NODE; default: the host name)')
    .option('--listen <host:port>', 'API address (IMAGETRUST_LISTEN; default 127.0.0.1:9581)')
    .option('--signer <keyid>', 'allowed signer (repeatable; IMAGETRUST_SIGNER, comma-separated)', collect)
    .option('--policy <file>', 'trust policy file (IMAGETRUST_POLICY)')
    .option(
      '--witness-key <file>',
      'also act as a witness for the ledger with this key (IMAGETRUST_WITNESS_KEY)',
    )
    .option(
      '--token-file <file>',
      'require the bearer token in this file (mode 0600) on the API (IMAGETRUST_TOKEN_FILE)',
    )
    .option('--token <token>', 'deprecated, visible in ps: use --token-file (IMAGETRUST_TOKEN)')
    .option(
      '--tls-client-cert <file>',
      'present this client certificate (PEM) to peers and ledgers that require one (IMAGETRUST_TLS_CLIENT_CERT)',
    )
    .option('--tls-client-key <file>', 'the key of --tls-client-cert (mode 0600; IMAGETRUST_TLS_CLIENT_KEY)')
    .option(
      '--peer <name=url>',
      'another agent to answer for, bound to its node name (repeatable; a bare URL learns the name once; IMAGETRUST_PEER)',
      collect,
    )
    .option(
      '--peer-token-file <file>',
      'the credential sent to peers and accepted from them, read-only (IMAGETRUST_PEER_TOKEN_FILE; never the API token)',
    )
    .option('--peer-timeout <seconds>', 'per-peer answer timeout (default 2)')
    .option('--resync <seconds>', 'full resync interval (IMAGETRUST_RESYNC; default 60)')
    .option('--docker-timeout <seconds>', 'Docker API request timeout (default 15)')
    .option('--cache-ttl <seconds>', 'how long a verification is reused (default 300)')
    .option('--verifier <kind>', 'builtin (the ledger) or command (IMAGETRUST_VERIFIER)')
    .option(
      '--verifier-command <cmd>',
      'vcn-compatible command, JSON list or words; {ref} {digest} {hash} are filled in',
    )
    .option('--verifier-timeout <seconds>', 'verifier command timeout (default 10)')
    .option('--history <file>', 'history database (IMAGETRUST_HISTORY)')
    .option('--history-retention <days>', 'how long history is kept (default 30)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace')
    .option('--influx-url <url>', 'forward results to InfluxDB (IMAGETRUST_INFLUX_URL)')
    .option('--influx-db <db>', 'InfluxDB 1.x database (with --influx-user, --influx-password)')
    .option('--influx-user <user>', 'InfluxDB 1.x user')
    .option('--influx-password <password>', 'deprecated, visible in ps: use --influx-password-file')
    .option(
      '--influx-password-file <file>',
      'InfluxDB 1.x password in a file, mode 0600 (IMAGETRUST_INFLUX_PASSWORD_FILE)',
    )
    .option('--influx-org <org>', 'InfluxDB 2.x organisation (with --influx-bucket, --influx-token)')
    .option('--influx-bucket <bucket>', 'InfluxDB 2.x bucket')
    .option('--influx-token <token>', 'deprecated, visible in ps: use --influx-token-file')
    .option(
      '--influx-token-file <file>',
      'InfluxDB 2.x token in a file, mode 0600 (IMAGETRUST_INFLUX_TOKEN_FILE)',
    )
    .option(
      '--fleet-db <url>',
      'publish to the PostgreSQL fleet store, outbound only (IMAGETRUST_FLEET_DB; password from PGPASSWORD)',
    )
    .option('--fleet-heartbeat <seconds>', 'heartbeat to the fleet store this often (default 10)')
    .option(
      '--admission-log <file>',
      "this host's `imagetrust authz` audit log: serve its recent refusals (IMAGETRUST_ADMISSION_LOG)",
    )
    .action(run((ctx, opts) => agent(ctx, opts as AgentFlags)));
}
