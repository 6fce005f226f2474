// QueryData: every query of a call answered on its own — frames, or an error with a status and
// its source (`plugin`: the query or the settings; `downstream`: the agent) — so one bad query
// never fails its neighbours and nothing here can end the process.

import type {
  ChangeEvent,
  ContainersAnswer,
  EventsAnswer,
  FleetSummary,
  HistoryAnswer,
  ImagesAnswer,
  NodesAnswer,
  StatementsAnswer,
} from '../api/types';
import { asImagetrustError, type ErrorCode, type ImagetrustError } from '../errors';
import { encodeFrame } from './arrow';
import type { AgentClient } from './client';
import type { FrameSpec } from './frame';
import type { DataQuery, DataResponse, ErrorSource } from './protocol';
import { parseQuery, type ParsedQuery } from './query';
import {
  containersFrame,
  countsFrames,
  eventsFrame,
  evidenceFrame,
  historyFrames,
  imagesFrame,
  nodeUpFrames,
  statementsFrame,
  summaryFrame,
} from './query-frames';

export interface CallLimits {
  /** Milliseconds since the epoch: the gRPC call's deadline, or the default. */
  deadline: number;
  signal?: AbortSignal;
}

/** The history step the frontend would pick: the panel interval, at most 10,000 points. */
export function historyStepMs(q: ParsedQuery): number {
  if (q.stepMs !== undefined) return q.stepMs;
  // Rounded up to whole seconds (the frontend rounds to nearest, which can give 10,080 points).
  return Math.max(1, Math.ceil(Math.max(q.intervalMs, (q.to - q.from) / 10_000) / 1000)) * 1000;
}

/** What one query asks the agent, and how its answer becomes frames. */
interface Plan {
  path: string;
  query?: Record<string, string | number | undefined>;
  frames(answer: unknown): FrameSpec[];
}

function planOf(q: ParsedQuery): Plan {
  switch (q.queryType) {
    case 'containers':
      return {
        path: '/containers',
        query: { node: q.node, status: q.status },
        frames: (a) => [containersFrame((a as ContainersAnswer).containers, q.refId)],
      };
    case 'summary':
      return {
        path: '/nodes',
        frames: (a) => {
          const { nodes } = a as NodesAnswer;
          return [summaryFrame(q.node ? nodes.filter((n) => n.node === q.node) : nodes, q.refId)];
        },
      };
    case 'history':
      return {
        path: '/history',
        query: { from: q.from, to: q.to, node: q.node, step: `${Math.round(historyStepMs(q) / 1000)}s` },
        frames: (a) => historyFrames((a as HistoryAnswer).points, q.refId, q.status ? [q.status] : undefined),
      };
    case 'images':
      return {
        path: '/images',
        query: { node: q.node, status: q.status },
        frames: (a) => [imagesFrame((a as ImagesAnswer).images, q.refId)],
      };
    case 'statements':
      return {
        path: '/ledger/statements',
        query: { digest: q.digest },
        frames: (a) => [statementsFrame(a as StatementsAnswer, q.refId)],
      };
    case 'evidence':
      return {
        path: '/ledger/statements',
        query: { digest: q.digest },
        frames: (a) => [evidenceFrame(a as StatementsAnswer, q.refId)],
      };
    case 'events':
      return {
        path: '/events',
        query: { from: q.from, to: q.to, node: q.node },
        frames: (a) => {
          const kept = (a as EventsAnswer).events.filter(
            (e: ChangeEvent) => !q.status || e.status === q.status,
          );
          return [eventsFrame(kept, q.refId)];
        },
      };
    case 'counts':
      return {
        path: '/summary',
        frames: (a) => countsFrames(onlyNode(a as FleetSummary, q.node), q.refId, q.status),
      };
    case 'nodeUp':
      return {
        path: '/summary',
        frames: (a) => nodeUpFrames(onlyNode(a as FleetSummary, q.node), q.refId),
      };
  }
}

function fetchAnswer(plan: Plan, client: AgentClient, limits: CallLimits): Promise<unknown> {
  return client.json<unknown>({
    method: 'GET',
    path: plan.path,
    ...(plan.query ? { query: plan.query } : {}),
    ...limits,
  });
}

export async function framesFor(
  q: ParsedQuery,
  client: AgentClient,
  limits: CallLimits,
): Promise<FrameSpec[]> {
  const plan = planOf(q);
  return plan.frames(await fetchAnswer(plan, client, limits));
}

/**
 * Encoded frames by answer: concurrent and reused calls get the same parsed answer object
 * (client.ts), so the frames are built and encoded once per answer and query, not once per
 * call. Weak: the frames go when the answer does.
 */
const encodedByAnswer = new WeakMap<object, Map<string, Uint8Array[]>>();
const MAX_ENCODINGS_PER_ANSWER = 16;

/** What the frames depend on besides the answer (the URL already fixes the rest). */
function framesKey(q: ParsedQuery): string {
  return JSON.stringify([q.queryType, q.refId, q.node ?? '', q.status ?? '']);
}

async function encodedFramesFor(
  q: ParsedQuery,
  client: AgentClient,
  limits: CallLimits,
  encode: (frame: FrameSpec) => Uint8Array,
): Promise<Uint8Array[]> {
  const plan = planOf(q);
  const answer = await fetchAnswer(plan, client, limits);
  if (typeof answer !== 'object' || answer === null) return plan.frames(answer).map(encode);
  let byQuery = encodedByAnswer.get(answer);
  const key = framesKey(q);
  const known = byQuery?.get(key);
  if (known) return known;
  const encoded = plan.frames(answer).map(encode);
  if (!byQuery) {
    byQuery = new Map();
    encodedByAnswer.set(answer, byQuery);
  }
  if (byQuery.size < MAX_ENCODINGS_PER_ANSWER) byQuery.set(key, encoded);
  return encoded;
}

function onlyNode(summary: FleetSummary, node: string | undefined): FleetSummary {
  return node ? { ...summary, nodes: summary.nodes.filter((n) => n.node === node) } : summary;
}

/** Errors the query or the settings caused; everything else is the agent's (downstream). */
const PLUGIN_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CONFIG_INVALID', 'INTERNAL', 'USAGE']);

export function errorResponse(err: ImagetrustError, source?: ErrorSource): DataResponse {
  const status = typeof err.details?.status === 'number' ? err.details.status : err.httpStatus;
  const fromAgent = typeof err.details?.status === 'number' || !PLUGIN_CODES.has(err.code);
  return {
    frames: [],
    error: `${err.code}: ${err.message}`,
    status,
    errorSource: source ?? (fromAgent && err.code !== 'BAD_REQUEST' ? 'downstream' : 'plugin'),
  };
}

/** Answers one query; never throws. */
export async function answerQuery(
  raw: DataQuery,
  client: () => AgentClient,
  limits: CallLimits,
  now: number,
  encode: (frame: FrameSpec) => Uint8Array = encodeFrame,
): Promise<DataResponse> {
  let parsed: ParsedQuery;
  try {
    parsed = parseQuery(raw, now);
  } catch (err) {
    return errorResponse(asImagetrustError(err, 'BAD_REQUEST'), 'plugin');
  }
  try {
    const frames = await encodedFramesFor(parsed, client(), limits, encode);
    return { frames, error: '', status: 200, errorSource: '' };
  } catch (err) {
    return errorResponse(asImagetrustError(err));
  }
}
