// Wires an agent from its configuration: the read-only Docker client, the verifier, the
// history, the monitor, the peers and the HTTP API; and takes it down again on SIGTERM.

import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { ImagetrustError } from '../errors';
import { ReadOnlyDocker } from '../docker/engine';
import { LedgerClient } from '../ledger/client';
import { openBackend } from '../ledger/open';
import { policyForSigners, type TrustPolicy } from '../ledger/policy';
import { FileStateStore } from '../ledger/state';
import { readPublicKeyId } from '../ledger/keys';
import { parsePolicyFile } from '../ledger/policy-file';
import { defaultPaths } from '../paths';
import { BuiltinVerifier } from '../verify/builtin';
import { CommandVerifier } from '../verify/command';
import type { Verifier } from '../verify/verifier';
import { Agent } from './agent';
import { buildAgentApi } from './api';
import { redactedConfig, type AgentConfig } from './config';
import { Fleet } from './fleet';
import { History } from './history';
import { InfluxForwarder } from './influx';
import { AgentMetrics } from './metrics';
import { NodeMonitor, type PassInfo } from './monitor';
import { ownContainerMatcher } from './self';
import { VERSION } from '../version';

export interface RunningAgent {
  agent: Agent;
  app: FastifyInstance;
  address: string;
  close(): Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

function trustPolicy(config: AgentConfig, env: NodeJS.ProcessEnv): TrustPolicy {
  if (config.policy) return parsePolicyFile(config.policy);
  if (config.signers.length > 0) return policyForSigners(config.signers);
  const key = config.key ?? defaultPaths(env).signerKey;
  try {
    return policyForSigners([readPublicKeyId(`${key}.pub`)]);
  } catch (err) {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `no signers configured: give --signer KEYID or --policy FILE (${(err as Error).message})`,
      { cause: err },
    );
  }
}

async function makeVerifier(config: AgentConfig, env: NodeJS.ProcessEnv, logger: Logger): Promise<Verifier> {
  if (config.verifier === 'command') {
    return new CommandVerifier({
      command: config.verifierCommand,
      timeoutMs: config.verifierTimeoutSeconds * 1000,
      env,
    });
  }
  const policy = trustPolicy(config, env);
  const backend = await openBackend(config.ledger, {
    onCreated: (vkey) => logger.info({ ledger: config.ledger, vkey }, 'created a new ledger'),
  });
  const pinned = config.ledgerKey ?? policy.ledgerKey;
  const client = new LedgerClient(backend, {
    state: new FileStateStore(defaultPaths(env).stateDir),
    ...(pinned ? { ledgerKey: pinned } : {}),
    // Each pass refreshes the checkpoint (BuiltinVerifier.epoch); lookups in between reuse it.
    checkpointMaxAge: 3_600_000,
  });
  return new BuiltinVerifier(client, policy);
}

export async function startAgent(config: AgentConfig, options: StartOptions = {}): Promise<RunningAgent> {
  const env = options.env ?? process.env;
  const logger =
    options.logger ?? pino({ level: config.logLevel, base: { node: config.node } }, pino.destination(2));
  logger.info({ config: redactedConfig(config) }, 'starting agent');
  const docker = new ReadOnlyDocker({ env, timeoutMs: config.dockerTimeoutSeconds * 1000 });
  const verifier = await makeVerifier(config, env, logger);
  const history = new History(config.history, config.historyRetentionDays * 86_400_000);
  history.prune(Date.now());
  const prune = setInterval(() => history.prune(Date.now()), 3_600_000);
  prune.unref();
  const passListeners: ((info: PassInfo) => void)[] = [];
  const monitor = new NodeMonitor({
    onPass: (info) => passListeners.forEach((l) => l(info)),
    node: config.node,
    docker,
    verifier,
    history,
    logger,
    resyncMs: config.resyncSeconds * 1000,
    cacheTtlMs: config.cacheTtlSeconds * 1000,
    isSelf: ownContainerMatcher(),
  });
  const fleet =
    config.peers.length > 0
      ? new Fleet({
          peers: config.peers,
          timeoutMs: config.peerTimeoutSeconds * 1000,
          ...(config.token ? { token: config.token } : {}),
        })
      : undefined;
  const agent = new Agent(
    monitor,
    fleet,
    history,
    verifier instanceof BuiltinVerifier ? verifier : undefined,
  );
  const metrics = new AgentMetrics(agent, VERSION);
  const influx = config.influx ? new InfluxForwarder({ target: config.influx, logger }) : undefined;
  if (influx) metrics.attachInflux(() => influx.stats());
  passListeners.push((info) => {
    metrics.observePass(info);
    if (info.ok) influx?.push(info.results, info.time);
  });
  const app = buildAgentApi({
    agent,
    ...(config.token ? { token: config.token } : {}),
    extend: (a) => {
      a.get('/metrics', async (_req, reply) =>
        reply.type(metrics.contentType()).send(await metrics.render()),
      );
    },
  });
  influx?.start();
  monitor.start();
  let address: string;
  try {
    address = await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (err) {
    await monitor.stop();
    throw new ImagetrustError(
      'IO',
      `cannot listen on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  logger.info({ address, docker: docker.address, verifier: verifier.kind }, 'agent listening');
  let closed = false;
  return {
    agent,
    app,
    address,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(prune);
      await app.close();
      await monitor.stop();
      await influx?.stop();
      await verifier.close();
      history.close();
      logger.info('agent stopped');
      logger.flush?.();
    },
  };
}
