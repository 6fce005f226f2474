// CheckHealth ("Save & test"): asks the agent for today's verdicts (/api/v1 for the API version,
// /api/v1/summary for the counts) and says them in one line, or says clearly why it cannot.

import { API_VERSION, type FleetSummary } from '../api/types';
import { asImagetrustError } from '../errors';
import type { AgentClient } from './client';
import type { CallLimits } from './data';
import type { CheckHealthResponse } from './protocol';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "3 nodes, 120 containers: 2 untrusted, 1 unknown" (+ which nodes are unreachable). */
export function verdictLine(summary: FleetSummary): string {
  const t = summary.total;
  const bad = (['untrusted', 'unknown', 'unsupported'] as const)
    .filter((s) => t[s] > 0)
    .map((s) => `${t[s]} ${s}`);
  const down = summary.nodes.filter((n) => n.status !== 'up').map((n) => n.node);
  return (
    `${plural(summary.nodes.length, 'node')}, ${plural(t.total, 'container')}: ` +
    (bad.length > 0 ? bad.join(', ') : 'all trusted') +
    (down.length > 0 ? `; unreachable: ${down.join(', ')}` : '')
  );
}

function failure(message: string, details: Record<string, unknown>): CheckHealthResponse {
  return { status: 'ERROR', message, jsonDetails: Buffer.from(JSON.stringify(details)) };
}

export async function checkHealth(
  client: () => AgentClient,
  limits: CallLimits,
): Promise<CheckHealthResponse> {
  let agent: AgentClient;
  try {
    agent = client();
  } catch (err) {
    const e = asImagetrustError(err);
    return failure(e.message, { code: e.code });
  }
  try {
    const info = await agent.json<{ api?: string; node?: string; fleet?: boolean }>({
      method: 'GET',
      path: '',
      ...limits,
    });
    if (info.api !== API_VERSION) {
      return failure(
        `${agent.baseUrl} speaks API ${info.api ?? 'unknown'}; this plugin needs ${API_VERSION}`,
        {
          code: 'PEER_INVALID',
        },
      );
    }
    const summary = await agent.json<FleetSummary>({ method: 'GET', path: '/summary', ...limits });
    const where = info.fleet ? 'the fleet server' : `the agent on ${info.node ?? 'its node'}`;
    return {
      status: 'OK',
      message: `Connected to ${where}: ${verdictLine(summary)}.`,
      jsonDetails: Buffer.from(JSON.stringify({ total: summary.total, nodes: summary.nodes.length })),
    };
  } catch (err) {
    const e = asImagetrustError(err);
    if (e.code === 'UNAUTHORIZED') {
      return failure('The agent refused the token: check the API token in the data source settings.', {
        code: e.code,
      });
    }
    if (e.code === 'NOT_FOUND') {
      return failure(`${agent.baseUrl} answers, but not as an imagetrust agent (no /api/${API_VERSION}).`, {
        code: e.code,
      });
    }
    if (e.code === 'PEER_UNREACHABLE') {
      return failure(`Cannot reach the agent: ${e.message}.`, { code: e.code });
    }
    return failure(`The agent at ${agent.baseUrl} failed: ${e.message}`, { code: e.code });
  }
}
