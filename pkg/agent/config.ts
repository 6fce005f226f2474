// Agent configuration, loaded once: defaults < config file (YAML or JSON) < IMAGETRUST_*
// environment < command-line flags. Every bad field is reported at once; the result is frozen
// and can be logged without its secrets.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ImagetrustError } from '../errors';
import { DEFAULT_MAX_CHECKPOINT_AGE_S, parseDuration } from '../ledger/policy-file';
import { isSignerKeyId } from '../ledger/statement';
import { defaultPaths } from '../paths';
import { DEFAULT_VERIFIER_COMMAND } from '../verify/command';
import type { InfluxTarget } from './influx';
import { isPostgresLocation, redactUrl } from '../postgres/url';
import { checkPeerSpecs } from './fleet';
import { secretFrom } from '../net/files';
import { parseRateLimit } from '../net/server';

export interface AgentConfig {
  node: string;
  listen: { host: string; port: number };
  ledger: string;
  ledgerKey?: string;
  witnessPolicy?: string;
  maxCheckpointAgeSeconds: number;
  witnessKey?: string;
  signers: string[];
  policy?: string;
  key?: string;
  token?: string;
  /** HTTPS for the API (pkg/net/server.ts); with clientCa, client certificates are required. */
  tls?: { cert: string; key: string; clientCa?: string };
  /** TLS of this agent's clients (peers, a remote ledger): an extra CA, a client certificate. */
  clientTls?: { ca?: string; cert?: string; key?: string };
  /** API requests a second per client address (0: no limit). */
  rateLimit: number;
  /** `URL` or `NAME=URL` each (pkg/agent/fleet.ts parsePeerSpec). */
  peers: string[];
  /** The credential sent to peers and accepted from them (read-only scope); never the API token. */
  peerTokenFile?: string;
  peerTimeoutSeconds: number;
  resyncSeconds: number;
  dockerTimeoutSeconds: number;
  cacheTtlSeconds: number;
  verifier: 'builtin' | 'command';
  verifierCommand: string[];
  verifierTimeoutSeconds: number;
  history: string;
  historyRetentionDays: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  influx?: InfluxTarget;
  /** The PostgreSQL fleet store this agent publishes to (postgres://…). */
  fleetDb?: string;
  fleetHeartbeatSeconds: number;
  /** The audit log of this host's `imagetrust authz` plugin, for recent refusals. */
  admissionLog?: string;
}

/** Raw values as each source gives them (strings from env and flags, anything from a file). */
export type RawConfig = Partial<Record<keyof typeof FIELDS, unknown>>;

const FIELDS = {
  node: 'IMAGETRUST_NODE',
  listen: 'IMAGETRUST_LISTEN',
  ledger: 'IMAGETRUST_LEDGER',
  ledgerKey: 'IMAGETRUST_LEDGER_KEY',
  witnessPolicy: 'IMAGETRUST_WITNESS_POLICY',
  maxCheckpointAge: 'IMAGETRUST_MAX_CHECKPOINT_AGE',
  witnessKey: 'IMAGETRUST_WITNESS_KEY',
  signer: 'IMAGETRUST_SIGNER',
  policy: 'IMAGETRUST_POLICY',
  key: 'IMAGETRUST_KEY',
  token: 'IMAGETRUST_TOKEN',
  tokenFile: 'IMAGETRUST_TOKEN_FILE',
  tlsCert: 'IMAGETRUST_TLS_CERT',
  tlsKey: 'IMAGETRUST_TLS_KEY',
  tlsClientCa: 'IMAGETRUST_TLS_CLIENT_CA',
  tlsCa: 'IMAGETRUST_TLS_CA',
  tlsClientCert: 'IMAGETRUST_TLS_CLIENT_CERT',
  tlsClientKey: 'IMAGETRUST_TLS_CLIENT_KEY',
  rateLimit: 'IMAGETRUST_RATE_LIMIT',
  influxTokenFile: 'IMAGETRUST_INFLUX_TOKEN_FILE',
  influxPasswordFile: 'IMAGETRUST_INFLUX_PASSWORD_FILE',
  peer: 'IMAGETRUST_PEER',
  peerTokenFile: 'IMAGETRUST_PEER_TOKEN_FILE',
  peerTimeout: 'IMAGETRUST_PEER_TIMEOUT',
  resync: 'IMAGETRUST_RESYNC',
  dockerTimeout: 'IMAGETRUST_DOCKER_TIMEOUT',
  cacheTtl: 'IMAGETRUST_CACHE_TTL',
  verifier: 'IMAGETRUST_VERIFIER',
  verifierCommand: 'IMAGETRUST_VERIFIER_COMMAND',
  verifierTimeout: 'IMAGETRUST_VERIFIER_TIMEOUT',
  history: 'IMAGETRUST_HISTORY',
  historyRetention: 'IMAGETRUST_HISTORY_RETENTION',
  logLevel: 'IMAGETRUST_LOG_LEVEL',
  fleetDb: 'IMAGETRUST_FLEET_DB',
  admissionLog: 'IMAGETRUST_ADMISSION_LOG',
  fleetHeartbeat: 'IMAGETRUST_FLEET_HEARTBEAT',
  influxUrl: 'IMAGETRUST_INFLUX_URL',
  influxDb: 'IMAGETRUST_INFLUX_DB',
  influxUser: 'IMAGETRUST_INFLUX_USER',
  influxPassword: 'IMAGETRUST_INFLUX_PASSWORD',
  influxOrg: 'IMAGETRUST_INFLUX_ORG',
  influxBucket: 'IMAGETRUST_INFLUX_BUCKET',
  influxToken: 'IMAGETRUST_INFLUX_TOKEN',
} as const;

export type ConfigField = keyof typeof FIELDS;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

function readConfigFile(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ImagetrustError('CONFIG_INVALID', `cannot read config ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `config ${path} is not YAML or JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ImagetrustError('CONFIG_INVALID', `config ${path} is not a mapping`);
  return doc as RawConfig;
}

function fromEnv(env: NodeJS.ProcessEnv): RawConfig {
  const out: RawConfig = {};
  for (const [field, name] of Object.entries(FIELDS) as [ConfigField, string][]) {
    const v = env[name];
    if (v !== undefined && v !== '') out[field] = v;
  }
  return out;
}

/** A list from a file (array), an env var (comma-separated) or repeated flags (array). */
function list(v: unknown): unknown[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (typeof v === 'string')
    return v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return [v];
}

/** A list item as text: String() throws for a mapping such as `{toString: 1}` from a file. */
const listText = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));

/** `HOST:PORT` (an IPv6 host in brackets), as every --listen takes it; undefined when it is not one. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) return undefined;
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export interface LoadOptions {
  flags?: RawConfig & { config?: string };
  env?: NodeJS.ProcessEnv;
}

export function loadAgentConfig(options: LoadOptions = {}): Readonly<AgentConfig> {
  const env = options.env ?? process.env;
  const flags = Object.fromEntries(
    Object.entries(options.flags ?? {}).filter(
      ([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0),
    ),
  );
  const configPath = (flags.config as string | undefined) ?? env.IMAGETRUST_CONFIG;
  delete flags.config;
  const file = configPath ? readConfigFile(configPath) : {};
  const raw: Record<string, unknown> = { ...file, ...fromEnv(env), ...flags };
  const problems: string[] = [];
  const bad = (field: string, why: string): void => void problems.push(`${field}: ${why}`);
  const paths = defaultPaths(env);

  // Own keys only: `constructor` or `toString` in a file is an unknown field, not Object's.
  for (const k of Object.keys(file)) if (!Object.hasOwn(FIELDS, k)) bad(k, 'unknown field');

  const str = (field: ConfigField, fallback?: string): string | undefined => {
    const v = raw[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v.length === 0) {
      bad(field, 'expected text');
      return fallback;
    }
    return v;
  };
  const num = (field: ConfigField, fallback: number, min: number, max: number): number => {
    const v = raw[field];
    if (v === undefined) return fallback;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      bad(field, `expected a number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };

  const node = str('node', hostname()) as string;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(node))
    bad('node', 'letters, digits, dot, dash and underscore, at most 253');

  let listen = { host: '127.0.0.1', port: 9581 };
  const listenText = str('listen');
  if (listenText !== undefined) {
    const parsed = parseHostPort(listenText);
    if (!parsed) bad('listen', 'expected HOST:PORT');
    else listen = parsed;
  }

  const signers = list(raw.signer).map(listText);
  for (const s of signers)
    if (!isSignerKeyId(s)) bad('signer', `${JSON.stringify(s.slice(0, 40))} is not a key id (32 hex digits)`);

  const peers = list(raw.peer).map(listText);
  for (const problem of checkPeerSpecs(peers, node).problems) bad('peer', problem);

  const verifier = str('verifier', 'builtin') as string as AgentConfig['verifier'];
  if (verifier !== 'builtin' && verifier !== 'command') bad('verifier', 'expected builtin or command');

  let verifierCommand = DEFAULT_VERIFIER_COMMAND;
  const vc = raw.verifierCommand;
  if (vc !== undefined) {
    if (Array.isArray(vc) && vc.length > 0 && vc.every((a) => typeof a === 'string'))
      verifierCommand = vc as string[];
    else if (typeof vc === 'string' && vc.trim().startsWith('[')) {
      try {
        const parsed = JSON.parse(vc) as unknown;
        if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((a) => typeof a === 'string'))
          verifierCommand = parsed as string[];
        else bad('verifierCommand', 'expected a JSON list of strings');
      } catch {
        bad('verifierCommand', 'expected a JSON list of strings');
      }
    } else if (typeof vc === 'string' && vc.trim() !== '') verifierCommand = vc.trim().split(/\s+/);
    else bad('verifierCommand', 'expected a command and its arguments');
  }

  const logLevel = str('logLevel', 'info') as string as AgentConfig['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) bad('logLevel', `expected one of ${LOG_LEVELS.join(', ')}`);

  // A secret as a value (`token`) or from a private file (`tokenFile`): never both.
  const secret = (value: ConfigField, file: ConfigField): string | undefined => {
    try {
      return secretFrom(str(value), str(file), { value, file, what: 'file' });
    } catch (err) {
      bad(file, (err as Error).message);
      return undefined;
    }
  };
  const token = secret('token', 'tokenFile');
  if (token !== undefined && token.length < 16) bad('token', 'use at least 16 characters');

  let influx: InfluxTarget | undefined;
  const influxUrl = str('influxUrl');
  const v2 = ['influxOrg', 'influxBucket', 'influxToken'] as const;
  const v1 = ['influxDb', 'influxUser', 'influxPassword'] as const;
  if (influxUrl !== undefined) {
    try {
      const u = new URL(influxUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') bad('influxUrl', 'expected an http(s) URL');
    } catch {
      bad('influxUrl', 'expected an http(s) URL');
    }
    const [org, bucket] = [str('influxOrg'), str('influxBucket')];
    const token = secret('influxToken', 'influxTokenFile');
    const [db, user] = [str('influxDb'), str('influxUser')];
    const password = secret('influxPassword', 'influxPasswordFile');
    if (db !== undefined && (org ?? bucket ?? token) !== undefined)
      bad('influxDb', 'give either influxDb (1.x) or influxOrg, influxBucket and influxToken (2.x)');
    else if (db !== undefined)
      influx = {
        version: 1,
        url: influxUrl,
        db,
        ...(user ? { user } : {}),
        ...(password ? { password } : {}),
      };
    else if (org && bucket && token) influx = { version: 2, url: influxUrl, org, bucket, token };
    else bad('influxUrl', 'needs influxDb (1.x) or influxOrg, influxBucket and influxToken (2.x)');
  } else {
    for (const k of [...v1, ...v2, 'influxTokenFile', 'influxPasswordFile'] as const)
      if (raw[k] !== undefined) bad(k, 'needs influxUrl');
  }

  const config: AgentConfig = {
    node,
    listen,
    ledger: str('ledger', paths.ledger) as string,
    signers,
    peers,
    peerTimeoutSeconds: num('peerTimeout', 2, 0.1, 60),
    resyncSeconds: num('resync', 60, 1, 86_400),
    dockerTimeoutSeconds: num('dockerTimeout', 15, 0.1, 600),
    cacheTtlSeconds: num('cacheTtl', 300, 0, 86_400),
    verifier,
    verifierCommand,
    verifierTimeoutSeconds: num('verifierTimeout', 10, 0.1, 600),
    history: str('history', join(paths.home, 'history.db')) as string,
    historyRetentionDays: num('historyRetention', 30, 0.001, 3650),
    logLevel,
    maxCheckpointAgeSeconds: DEFAULT_MAX_CHECKPOINT_AGE_S,
    fleetHeartbeatSeconds: num('fleetHeartbeat', 10, 1, 3600),
    rateLimit: rateLimitOf(raw.rateLimit, bad),
  };
  const admissionLog = str('admissionLog');
  if (admissionLog) config.admissionLog = admissionLog;
  const fleetDb = str('fleetDb');
  if (fleetDb !== undefined) {
    if (isPostgresLocation(fleetDb)) config.fleetDb = fleetDb;
    else bad('fleetDb', 'expected a postgres:// URL');
  }
  const age = str('maxCheckpointAge');
  if (age !== undefined) {
    try {
      config.maxCheckpointAgeSeconds = parseDuration(age, 'maxCheckpointAge');
    } catch (err) {
      bad('maxCheckpointAge', (err as Error).message);
    }
  }
  const witnessPolicy = str('witnessPolicy');
  if (witnessPolicy) config.witnessPolicy = witnessPolicy;
  const witnessKey = str('witnessKey');
  if (witnessKey) config.witnessKey = witnessKey;
  const peerTokenFile = str('peerTokenFile');
  if (peerTokenFile) config.peerTokenFile = peerTokenFile;
  const ledgerKey = str('ledgerKey');
  if (ledgerKey) config.ledgerKey = ledgerKey;
  const policy = str('policy');
  if (policy) config.policy = policy;
  const key = str('key');
  if (key) config.key = key;
  if (token) config.token = token;
  const [tlsCert, tlsKey, tlsClientCa] = [str('tlsCert'), str('tlsKey'), str('tlsClientCa')];
  if (tlsCert && tlsKey)
    config.tls = { cert: tlsCert, key: tlsKey, ...(tlsClientCa ? { clientCa: tlsClientCa } : {}) };
  else if (tlsCert || tlsKey) bad(tlsCert ? 'tlsKey' : 'tlsCert', 'give both tlsCert and tlsKey');
  else if (tlsClientCa) bad('tlsClientCa', 'needs tlsCert and tlsKey');
  const [tlsCa, tlsClientCert, tlsClientKey] = [str('tlsCa'), str('tlsClientCert'), str('tlsClientKey')];
  if (!tlsClientCert !== !tlsClientKey)
    bad(tlsClientCert ? 'tlsClientKey' : 'tlsClientCert', 'give both tlsClientCert and tlsClientKey');
  if (tlsCa || tlsClientCert || tlsClientKey)
    config.clientTls = {
      ...(tlsCa ? { ca: tlsCa } : {}),
      ...(tlsClientCert ? { cert: tlsClientCert } : {}),
      ...(tlsClientKey ? { key: tlsClientKey } : {}),
    };
  if (influx) config.influx = influx;
  if (problems.length > 0)
    throw new ImagetrustError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  return Object.freeze(config);
}

/** The configuration with its secrets replaced, for logs. */
export function redactedConfig(config: AgentConfig): Record<string, unknown> {
  const influx =
    config.influx === undefined
      ? undefined
      : config.influx.version === 1
        ? { ...config.influx, ...(config.influx.password ? { password: '[redacted]' } : {}) }
        : { ...config.influx, token: '[redacted]' };
  return {
    ...config,
    ...(config.token ? { token: '[redacted]' } : {}),
    ...(influx ? { influx } : {}),
    ...(config.fleetDb ? { fleetDb: redactUrl(config.fleetDb) } : {}),
  };
}

function rateLimitOf(v: unknown, bad: (field: string, why: string) => void): number {
  try {
    return parseRateLimit(
      typeof v === 'number' || typeof v === 'string' ? v : v === undefined ? undefined : '?',
    );
  } catch {
    bad('rateLimit', 'requests a second per client address, 0 for no limit');
    return parseRateLimit(undefined);
  }
}
