// Wires an agent from its configuration: the read-only Docker client, the verifier, the
// history, the monitor, the peers and the HTTP API; and takes it down again on SIGTERM.

import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { ImagetrustError } from '../errors';
import { ReadOnlyDocker } from '../docker/engine';
import { LedgerClient } from '../ledger/client';
import { openBackend } from '../ledger/open';
import { policyForSigners, type TrustPolicy } from '../ledger/policy';
import { FileStateStore } from '../ledger/state';
import { readPublicKeyId } from '../ledger/keys';
import { parsePolicyFile, parseWitnessPolicyFile } from '../ledger/policy-file';
import { defaultPaths } from '../paths';
import { BuiltinVerifier } from '../verify/builtin';
import { CommandVerifier } from '../verify/command';
import type { Verifier } from '../verify/verifier';
import { Agent } from './agent';
import { buildAgentApi } from './api';
import { redactedConfig, type AgentConfig } from './config';
import { Fleet, readPeerToken, registerPeerMetrics } from './fleet';
import { History } from './history';
import { InfluxForwarder } from './influx';
import { AgentMetrics } from './metrics';
import { NodeMonitor } from './monitor';
import { historyPublisher, influxPublisher, metricsPublisher } from './publish';
import { ownContainerMatcher } from './self';
import { Gossip } from './gossip';
import type { LedgerBackend } from '../ledger/backend';
import { readWitnessKey } from '../witness/keys';
import { FileWitnessState } from '../witness/state';
import { Witness } from '../witness/witness';
import { VERSION } from '../version';
import { recentRefusals } from '../authz/audit-log';
import { hostname } from 'node:os';
import { clientFetch, loadClientTls, type FetchFunction } from '../net/client';
import { loadServerTls } from '../net/server';
import { isRemoteLocation } from '../ledger/open';
import { RemoteBackend } from '../ledger/remote';
import { WITNESS_BODY_LIMIT } from '../witness/server';

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

interface Built {
  verifier: Verifier;
  /** For a witnessing agent: the ledger's entries and the pinned ledger key. */
  ledger?: { backend: LedgerBackend; pinned?: string };
}

async function makeVerifier(
  config: AgentConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  fetchFn: FetchFunction,
): Promise<Built> {
  if (config.verifier === 'command') {
    return {
      verifier: new CommandVerifier({
        command: config.verifierCommand,
        timeoutMs: config.verifierTimeoutSeconds * 1000,
        env,
      }),
    };
  }
  const policy = trustPolicy(config, env);
  // A ledger server is asked with this agent's client TLS (--tls-ca, a client certificate).
  const backend = isRemoteLocation(config.ledger)
    ? new RemoteBackend(config.ledger, { fetch: fetchFn })
    : await openBackend(config.ledger, {
        onCreated: (vkey) => logger.info({ ledger: config.ledger, vkey }, 'created a new ledger'),
      });
  const witnessPolicy = config.witnessPolicy ? parseWitnessPolicyFile(config.witnessPolicy) : undefined;
  const pinned = config.ledgerKey ?? policy.ledgerKey ?? witnessPolicy?.logKeys[0];
  const client = new LedgerClient(backend, {
    state: new FileStateStore(defaultPaths(env).stateDir),
    ...(pinned ? { ledgerKey: pinned } : {}),
    ...(witnessPolicy
      ? { witnesses: { policy: witnessPolicy, maxAgeMs: config.maxCheckpointAgeSeconds * 1000 } }
      : {}),
    // Each pass refreshes the checkpoint (BuiltinVerifier.epoch); lookups in between reuse it.
    checkpointMaxAge: 3_600_000,
  });
  return {
    verifier: new BuiltinVerifier(client, policy),
    ledger: { backend, ...(pinned ? { pinned } : {}) },
  };
}

/** The agent as a witness of its ledger: it replays the entries and recomputes the index. */
function makeWitness(config: AgentConfig, env: NodeJS.ProcessEnv, built: Built): Witness | undefined {
  if (!config.witnessKey) return undefined;
  if (!built.ledger)
    throw new ImagetrustError(
      'CONFIG_INVALID',
      'witnessKey: the agent witnesses only with the builtin verifier',
    );
  if (!built.ledger.pinned) {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      'witnessKey: a witness must know the ledger key beforehand: pin it (ledgerKey, a policy ledgerKey or a witness policy log line)',
    );
  }
  const { backend } = built.ledger;
  return new Witness({
    cosigner: readWitnessKey(config.witnessKey),
    logs: [built.ledger.pinned],
    state: new FileWitnessState(join(defaultPaths(env).home, 'witness-state.json')),
    entries: (_origin, start, limit) => backend.entries(start, limit),
  });
}

export async function startAgent(config: AgentConfig, options: StartOptions = {}): Promise<RunningAgent> {
  const env = options.env ?? process.env;
  const logger =
    options.logger ?? pino({ level: config.logLevel, base: { node: config.node } }, pino.destination(2));
  logger.info({ config: redactedConfig(config) }, 'starting agent');
  // Certificates first: a bad file stops the agent before it starts anything.
  const tls = config.tls ? loadServerTls(config.tls) : undefined;
  const fetchFn = clientFetch(config.clientTls ? loadClientTls(config.clientTls, env) : undefined);
  const docker = new ReadOnlyDocker({ env, timeoutMs: config.dockerTimeoutSeconds * 1000 });
  const built = await makeVerifier(config, env, logger, fetchFn);
  const { verifier } = built;
  const witness = makeWitness(config, env, built);
  if (witness)
    logger.info(
      { witness: witness.vkey },
      'witnessing the ledger (recomputing its index): POST /add-checkpoint',
    );
  const history = new History(config.history, config.historyRetentionDays * 86_400_000);
  history.prune(Date.now());
  const prune = setInterval(() => history.prune(Date.now()), 3_600_000);
  prune.unref();
  // The metrics are made once the agent exists (they read its view); passes reach them through this.
  const metricsRef: { current?: AgentMetrics } = {};
  const influx = config.influx ? new InfluxForwarder({ target: config.influx, logger }) : undefined;
  // The fleet store answers verify-now requests through the agent, made after the monitor.
  const agentRef: { current?: Agent } = {};
  const monitorRef: { current?: NodeMonitor } = {};
  // The fleet store (and pg with it) is loaded only when the agent publishes to one.
  const fleetStore = config.fleetDb
    ? new (await import('../fleet/publisher.js')).FleetPublisher({
        url: config.fleetDb,
        node: config.node,
        agent: `${hostname()}/${process.pid} imagetrust ${VERSION}`,
        logger,
        heartbeatMs: config.fleetHeartbeatSeconds * 1000,
        imageFacts: (digest) => monitorRef.current?.imageInfo(digest),
        verifyNow: async (container) => {
          if (!agentRef.current) throw new ImagetrustError('INTERNAL', 'agent not started yet');
          return agentRef.current.verifyNow(container === undefined ? {} : { container });
        },
      })
    : undefined;
  const monitor = new NodeMonitor({
    node: config.node,
    docker,
    verifier,
    publishers: [
      historyPublisher(history),
      metricsPublisher({ observePass: (pass) => metricsRef.current?.observePass(pass) }),
      ...(influx ? [influxPublisher(influx)] : []),
      ...(fleetStore ? [fleetStore] : []),
    ],
    logger,
    resyncMs: config.resyncSeconds * 1000,
    cacheTtlMs: config.cacheTtlSeconds * 1000,
    isSelf: ownContainerMatcher(),
  });
  const gossip =
    verifier instanceof BuiltinVerifier && config.peers.length > 0
      ? new Gossip(
          (note) => verifier.crossCheck(note),
          logger,
          () => metricsRef.current?.observeSplitView(),
        )
      : undefined;
  // Peers get the peer credential, never this agent's API token.
  const peerToken = config.peerTokenFile ? readPeerToken(config.peerTokenFile) : undefined;
  if (config.peers.length > 0 && config.token && !peerToken)
    logger.warn(
      'no --peer-token-file: peers are asked without a credential (the API token is never sent to them)',
    );
  const fleet =
    config.peers.length > 0
      ? new Fleet({
          peers: config.peers,
          localNode: config.node,
          timeoutMs: config.peerTimeoutSeconds * 1000,
          logger,
          ...(peerToken ? { token: peerToken } : {}),
          fetch: fetchFn,
          ...(gossip ? { onView: (url, view) => void gossip.heard(url, view.node.ledger?.note) } : {}),
        })
      : undefined;
  // Peers are asked at least once per resync even when nobody reads the API: gossip needs it.
  const askPeers = fleet
    ? setInterval(() => void fleet.views().catch(() => undefined), config.resyncSeconds * 1000)
    : undefined;
  askPeers?.unref();
  const agent = new Agent(
    monitor,
    fleet,
    history,
    verifier instanceof BuiltinVerifier ? verifier : undefined,
  );
  agentRef.current = agent;
  monitorRef.current = monitor;
  const agentMetrics = new AgentMetrics(agent, VERSION);
  metricsRef.current = agentMetrics;
  if (influx) agentMetrics.attachInflux(() => influx.stats());
  if (fleet) registerPeerMetrics(agentMetrics.registry, fleet);
  const app = buildAgentApi({
    source: agent,
    ...(config.token ? { token: config.token } : {}),
    ...(peerToken ? { peerToken } : {}),
    ...(tls ? { tls } : {}),
    rateLimit: config.rateLimit,
    onTlsReload: (err) =>
      err
        ? logger.error(
            { err: err.message },
            'TLS certificate reload failed: the old certificate stays in use',
          )
        : logger.info('TLS certificate reloaded'),
    extend: (a) => {
      a.get('/metrics', async (_req, reply) =>
        reply.type(agentMetrics.contentType()).send(await agentMetrics.render()),
      );
      a.get('/api/v1/admission/refusals', async () => {
        if (!config.admissionLog)
          throw new ImagetrustError(
            'NOT_FOUND',
            'no admission log configured (--admission-log FILE of imagetrust authz)',
          );
        return { node: config.node, refusals: recentRefusals(config.admissionLog) };
      });
      a.get('/api/v1/ledger/split-views', async () => ({
        total: gossip?.splitViewsTotal ?? 0,
        splitViews: gossip?.splitViews ?? [],
      }));
      if (witness) {
        a.post(
          '/add-checkpoint',
          { config: { public: true }, bodyLimit: WITNESS_BODY_LIMIT },
          async (req, reply) => {
            const result = await witness.addCheckpoint(typeof req.body === 'string' ? req.body : '');
            return reply.code(result.status).type(result.contentType).send(result.body);
          },
        );
      }
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
      if (askPeers) clearInterval(askPeers);
      await app.close();
      // Also closes the publishers: the InfluxDB forwarder flushes what it holds.
      await monitor.stop();
      await verifier.close();
      history.close();
      logger.info('agent stopped');
      logger.flush?.();
    },
  };
}
