// The schema a peer agent's answer must meet before anything of it reaches this agent's API,
// metrics or history: the node view of GET /api/v1/local and the containers of
// POST /api/v1/verify (the wire types of pkg/api/types.ts). Strings are bounded, enumerations
// checked, counts and indexes non-negative integers, every container must belong to the node
// the view is for. The value returned is built afresh from the checked fields only (unknown
// fields of a newer peer are dropped; nothing of the peer's JSON object is kept). Anything
// else is PEER_INVALID naming the first field that is wrong.

import { ImagetrustError } from '../errors';
import { CONTAINER_STATUSES, countStatuses, type ContainerResult, type NodeState } from './types';
import type { LocalView } from './views';

/** The most containers one peer may report (the agent is sized for about 1,000 a node). */
export const MAX_PEER_CONTAINERS = 10_000;
const MAX_LABELS = 512;
/** A node name, as the agent's `node` setting allows it. */
export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

type Doc = Record<string, unknown>;

class Checker {
  constructor(private readonly where: string) {}

  fail(field: string, why: string): never {
    throw new ImagetrustError('PEER_INVALID', `${this.where}: ${field}: ${why}`, { details: { field } });
  }

  object(v: unknown, field: string): Doc {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'expected an object');
    return v as Doc;
  }

  string(v: unknown, field: string, max: number, min = 0): string {
    if (typeof v !== 'string') this.fail(field, 'expected a string');
    if (v.length < min || v.length > max) this.fail(field, `expected ${min} to ${max} characters`);
    return v;
  }

  optString(o: Doc, key: string, field: string, max: number): string | undefined {
    return o[key] === undefined ? undefined : this.string(o[key], field, max);
  }

  int(v: unknown, field: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      this.fail(field, `expected an integer from ${min} to ${max}`);
    return v;
  }

  bool(v: unknown, field: string): boolean {
    if (typeof v !== 'boolean') this.fail(field, 'expected true or false');
    return v;
  }

  oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
      this.fail(field, `expected one of ${allowed.join(', ')}`);
    return v as T;
  }

  time(v: unknown, field: string): string {
    const s = this.string(v, field, 64, 1);
    if (Number.isNaN(Date.parse(s))) this.fail(field, 'expected an RFC 3339 time');
    return s;
  }
}

function put<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function labelsOf(c: Checker, v: unknown, field: string): Record<string, string> {
  const o = c.object(v, field);
  const entries = Object.entries(o);
  if (entries.length > MAX_LABELS) c.fail(field, `more than ${MAX_LABELS} labels`);
  // fromEntries defines own properties: a "__proto__" label stays a label.
  return Object.fromEntries(
    entries.map(([k, value]) => {
      if (k.length === 0 || k.length > 512) c.fail(`${field} key`, 'expected 1 to 512 characters');
      return [k, c.string(value, `${field}.${k.slice(0, 40)}`, 8192)];
    }),
  );
}

function containerOf(c: Checker, v: unknown, field: string, node: string): ContainerResult {
  const o = c.object(v, field);
  const f = (k: string): string => `${field}.${k}`;
  const owner = c.string(o.node, f('node'), 253, 1);
  if (owner !== node)
    c.fail(f('node'), `a container of node ${JSON.stringify(owner.slice(0, 64))}, not of ${node}`);
  const out: ContainerResult = {
    node,
    id: c.string(o.id, f('id'), 128, 1),
    name: c.string(o.name, f('name'), 256, 1),
    image: c.string(o.image, f('image'), 1024),
    digest: c.string(o.digest, f('digest'), 256),
    status: c.oneOf(o.status, f('status'), CONTAINER_STATUSES),
    statusCode: c.int(o.statusCode, f('statusCode'), 0, 4),
    level: c.int(o.level, f('level'), -1, 99),
    verifiedAt: c.time(o.verifiedAt, f('verifiedAt')),
    drift: c.bool(o.drift, f('drift')),
    state: c.string(o.state, f('state'), 64),
    labels: labelsOf(c, o.labels, f('labels')),
  };
  put(out, 'signer', c.optString(o, 'signer', f('signer'), 256));
  put(out, 'signerName', c.optString(o, 'signerName', f('signerName'), 256));
  put(out, 'signedAt', c.optString(o, 'signedAt', f('signedAt'), 64));
  put(out, 'reason', c.optString(o, 'reason', f('reason'), 2048));
  put(out, 'driftDigest', c.optString(o, 'driftDigest', f('driftDigest'), 256));
  if (o.self !== undefined) out.self = c.bool(o.self, f('self'));
  if (o.lastKnownStatus !== undefined)
    out.lastKnownStatus = c.oneOf(o.lastKnownStatus, f('lastKnownStatus'), CONTAINER_STATUSES);
  if (o.proof !== undefined) {
    const p = c.object(o.proof, f('proof'));
    out.proof = {
      // -1: no statement, proven absent at treeSize (pkg/verify/builtin.ts).
      index: c.int(p.index, f('proof.index'), -1, Number.MAX_SAFE_INTEGER),
      treeSize: c.int(p.treeSize, f('proof.treeSize'), 0, Number.MAX_SAFE_INTEGER),
    };
  }
  return out;
}

function containersOf(c: Checker, v: unknown, node: string): ContainerResult[] {
  if (!Array.isArray(v)) c.fail('containers', 'expected a list');
  if (v.length > MAX_PEER_CONTAINERS) c.fail('containers', `more than ${MAX_PEER_CONTAINERS}`);
  return v.map((x, i) => containerOf(c, x, `containers[${i}]`, node));
}

function nodeOf(c: Checker, v: unknown): NodeState {
  const o = c.object(v, 'node');
  const name = c.string(o.node, 'node.node', 253, 1);
  if (!NODE_NAME.test(name)) c.fail('node.node', 'letters, digits, dot, dash and underscore');
  const counts = c.object(o.counts, 'node.counts');
  for (const k of [...CONTAINER_STATUSES, 'total'])
    c.int(counts[k], `node.counts.${k}`, 0, Number.MAX_SAFE_INTEGER);
  const out: NodeState = {
    node: name,
    status: c.oneOf(o.status, 'node.status', ['up', 'unreachable'] as const),
    counts: countStatuses([]),
    local: false,
  };
  if (o.local !== undefined) c.bool(o.local, 'node.local');
  put(out, 'reason', c.optString(o, 'reason', 'node.reason', 2048));
  if (o.lastScan !== undefined) out.lastScan = c.time(o.lastScan, 'node.lastScan');
  if (o.ageSeconds !== undefined) {
    const age = o.ageSeconds;
    if (typeof age !== 'number' || !Number.isFinite(age) || age < 0)
      c.fail('node.ageSeconds', 'expected a non-negative number');
    out.ageSeconds = age;
  }
  if (o.engine !== undefined) {
    const e = c.object(o.engine, 'node.engine');
    out.engine = {
      version: c.string(e.version, 'node.engine.version', 64),
      apiVersion: c.string(e.apiVersion, 'node.engine.apiVersion', 16),
    };
  }
  if (o.ledger !== undefined) {
    const l = c.object(o.ledger, 'node.ledger');
    const ledger: NonNullable<NodeState['ledger']> = {};
    put(ledger, 'checkpoint', c.optString(l, 'checkpoint', 'node.ledger.checkpoint', 512));
    if (l.treeSize !== undefined)
      ledger.treeSize = c.int(l.treeSize, 'node.ledger.treeSize', 0, Number.MAX_SAFE_INTEGER);
    // A signed note with its cosignatures: a few hundred bytes, a few KiB with many witnesses.
    put(ledger, 'note', c.optString(l, 'note', 'node.ledger.note', 16_384));
    put(ledger, 'error', c.optString(l, 'error', 'node.ledger.error', 2048));
    out.ledger = ledger;
  }
  return out;
}

/**
 * A peer's GET /api/v1/local answer as a node view, or PEER_INVALID. The counts are
 * recomputed from the containers (a peer cannot report other totals than it lists).
 */
export function parsePeerView(doc: unknown, who = 'peer'): LocalView {
  const c = new Checker(`${who} answered a bad node view`);
  const o = c.object(doc, 'answer');
  const node = nodeOf(c, o.node);
  const containers = containersOf(c, o.containers, node.node);
  node.counts = countStatuses(containers);
  return { node, containers };
}

/** The containers of a peer's POST /api/v1/verify answer, all of them of `node`, or PEER_INVALID. */
export function parsePeerVerification(doc: unknown, node: string, who = 'peer'): ContainerResult[] {
  const c = new Checker(`${who} answered a bad verification`);
  const o = c.object(doc, 'answer');
  return containersOf(c, o.containers, node);
}
