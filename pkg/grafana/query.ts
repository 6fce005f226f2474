// One DataQuery of a QueryData call, parsed into a typed query or a BAD_REQUEST that names the
// field. The JSON is the frontend's ImagetrustQuery (src/datasource/types.ts) with template
// variables already interpolated, or a saved query of an alert rule (no frontend involved);
// version 1 queries (`type`, `nodeFilter`, `statusFilter`) are read as migrate.ts reads them.

import { isTrustStatus, type TrustStatus } from '../api/types';
import { ImagetrustError } from '../errors';
import type { DataQuery } from './protocol';

/** Every query type: the frontend's, plus the alertable ones answered in data-plane shapes. */
export const QUERY_TYPES = [
  'containers',
  'summary',
  'history',
  'images',
  'statements',
  'evidence',
  'events',
  'counts',
  'nodeUp',
] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

/** The query types Grafana-managed alert rules can use (numeric data-plane frames). */
export const ALERTABLE_QUERY_TYPES: readonly QueryType[] = ['counts', 'nodeUp', 'history'];

const V1_TYPES: Record<string, QueryType> = {
  nodeSummary: 'summary',
  timeline: 'history',
  list: 'containers',
};

export interface ParsedQuery {
  refId: string;
  queryType: QueryType;
  node?: string;
  status?: TrustStatus;
  digest?: string;
  /** History step in milliseconds. */
  stepMs?: number;
  from: number;
  to: number;
  intervalMs: number;
}

function bad(field: string, message: string): ImagetrustError {
  return new ImagetrustError('BAD_REQUEST', `${field}: ${message}`, { details: { field } });
}

/** A template variable's "all" spellings mean no filter; an uninterpolated `$var` is refused. */
function optionalText(raw: unknown, field: string, max: number): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string') throw bad(field, 'expected a string');
  const value = raw.trim();
  if (value === '' || value === '$__all' || value === 'All' || value === '*') return undefined;
  if (value.startsWith('$')) throw bad(field, `template variable ${value} was not interpolated`);
  if (value.length > max) throw bad(field, `longer than ${max} characters`);
  return value;
}

const STEP_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseStep(raw: unknown): number | undefined {
  const text = optionalText(raw, 'step', 16);
  if (text === undefined) return undefined;
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw bad('step', 'expected seconds or a duration like 30s, 5m, 1h');
  const ms = Number(m[1]) * (STEP_UNITS[m[2] ?? 's'] as number);
  if (ms < 1000) throw bad('step', 'at least one second');
  return ms;
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw bad('query', 'the query JSON is malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad('query', 'the query JSON is not an object');
  return value as Record<string, unknown>;
}

export function parseQuery(q: DataQuery, now: number): ParsedQuery {
  const json = parseJsonObject(q.json ?? Buffer.alloc(0));
  const legacy = typeof json.type === 'string' ? (V1_TYPES[json.type] ?? json.type) : undefined;
  const rawType =
    q.queryType || (typeof json.queryType === 'string' ? json.queryType : '') || legacy || 'containers';
  if (!(QUERY_TYPES as readonly string[]).includes(rawType)) {
    throw bad('queryType', `unknown query type ${JSON.stringify(rawType)}; one of ${QUERY_TYPES.join(', ')}`);
  }
  const queryType = rawType as QueryType;
  const node = optionalText(json.node ?? json.nodeFilter, 'node', 253);
  const statusText = optionalText(json.status ?? json.statusFilter, 'status', 16);
  if (statusText !== undefined && !isTrustStatus(statusText))
    throw bad('status', 'expected trusted, untrusted, unsupported or unknown');
  const digest = optionalText(json.digest, 'digest', 80);
  if ((queryType === 'statements' || queryType === 'evidence') && digest === undefined)
    throw bad('digest', `a ${queryType} query needs an image digest`);
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest))
    throw bad('digest', 'expected sha256:<64 hex>');
  const to = q.timeRange?.toEpochMS || now;
  const from = q.timeRange?.fromEpochMS || to - 3_600_000;
  if (from > to) throw bad('timeRange', 'from is after to');
  const stepMs = parseStep(json.step);
  return {
    refId: q.refId,
    queryType,
    ...(node === undefined ? {} : { node }),
    ...(statusText === undefined ? {} : { status: statusText as TrustStatus }),
    ...(digest === undefined ? {} : { digest }),
    ...(stepMs === undefined ? {} : { stepMs }),
    from,
    to,
    intervalMs: q.intervalMS > 0 ? q.intervalMS : 60_000,
  };
}
