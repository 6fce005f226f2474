// Entry point of the data source's backend executable (gpx_imagetrust_<os>_<arch>), started by
// Grafana through hashicorp go-plugin: checks the magic cookie and protocol version in the
// environment, serves gRPC on 127.0.0.1, prints the handshake line as the only stdout output,
// logs JSON to stderr, and stops within 2 s on SIGTERM, SIGINT or GRPCController.Shutdown.

import { setFlagsFromString } from 'node:v8';
import pino from 'pino';
import { buildBackend, type Backend } from './server';

export const CORE_PROTOCOL_VERSION = 1;
export const APP_PROTOCOL_VERSION = 2;
const MAGIC_COOKIE_KEY = 'grafana_plugin_type';
const MAGIC_COOKIE_VALUE = 'datasource';
/** go-plugin kills a plugin ~2 s after asking it to stop: finish well before. */
const STOP_GRACE_MS = 1200;

export function handshakeLine(port: number): string {
  return `${CORE_PROTOCOL_VERSION}|${APP_PROTOCOL_VERSION}|tcp|127.0.0.1:${port}|grpc`;
}

/** Why this environment is not Grafana's, or undefined. */
export function environmentProblem(env: NodeJS.ProcessEnv): string | undefined {
  if (env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    return (
      'This is a Grafana plugin backend, started by Grafana: it does not run on its own. ' +
      `(${MAGIC_COOKIE_KEY}=${MAGIC_COOKIE_VALUE} is not set.)`
    );
  }
  const versions = env.PLUGIN_PROTOCOL_VERSIONS;
  if (
    versions &&
    !versions
      .split(',')
      .map((v) => v.trim())
      .includes(String(APP_PROTOCOL_VERSION))
  ) {
    return `Grafana offers plugin protocol versions ${versions}; this backend speaks ${APP_PROTOCOL_VERSION}.`;
  }
  return undefined;
}

/**
 * GF_PLUGIN_ANSWER_REUSE_MS (Grafana passes `[plugin.imagetrust-fleet-datasource] answer_reuse_ms`
 * as this variable): milliseconds identical queries reuse an agent answer, 0..1000; undefined
 * (the default) when unset or not a number.
 */
export function answerReuseMs(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.GF_PLUGIN_ANSWER_REUSE_MS;
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? Math.min(1000, n) : undefined;
}

/** go-plugin's PLUGIN_MIN_PORT..PLUGIN_MAX_PORT, when both are set and sane. */
export function portRange(env: NodeJS.ProcessEnv): [number, number] | undefined {
  const min = Number(env.PLUGIN_MIN_PORT);
  const max = Number(env.PLUGIN_MAX_PORT);
  const ok = (p: number) => Number.isInteger(p) && p > 0 && p < 65536;
  return ok(min) && ok(max) && min <= max ? [min, max] : undefined;
}

/** A port in go-plugin's range (a few random tries), else any free port. */
async function listenWithin(backend: Backend, range: [number, number] | undefined): Promise<number> {
  if (range) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1));
      try {
        return await backend.listen(port);
      } catch {
        // Taken: another try.
      }
    }
  }
  return backend.listen(0);
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const problem = environmentProblem(env);
  if (problem) {
    process.stderr.write(`${problem}\n`);
    process.exitCode = 1;
    return;
  }
  // Beside Grafana for months: favour memory over speed (as bin/imagetrust.js does for the agent).
  setFlagsFromString('--optimize-for-size');
  const logger = pino(
    { name: 'imagetrust-datasource', level: env.GF_PLUGIN_LOG_LEVEL || 'info', base: { pid: process.pid } },
    pino.destination({ fd: 2, sync: true }),
  );
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'stopping');
    const hard = setTimeout(() => process.exit(0), STOP_GRACE_MS + 500);
    hard.unref();
    void backend.stop(STOP_GRACE_MS).then(() => process.exit(0));
  };
  const reuse = answerReuseMs(env);
  const backend = buildBackend({
    logger,
    onShutdownRequest: () => stop('GRPCController.Shutdown'),
    ...(reuse === undefined ? {} : { answerReuseMs: reuse }),
  });
  const port = await listenWithin(backend, portRange(env));
  // A handler's bug fails its call, not every data source: logged, and the backend keeps serving.
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A broken stdout (Grafana gone) must not crash the backend: it is read once, for the handshake.
  process.stdout.on('error', () => undefined);
  process.stdout.write(`${handshakeLine(port)}\n`);
  logger.info({ port, grafana: env.GF_VERSION }, 'serving');
}
