// The alert rules as shipped: promtool checks and unit-tests the Prometheus rules; the
// Grafana-provisioned rules parse and refer only to data sources that provisioning defines; the
// rules on imagetrust's own data source are A → B → C over alertable queries of the data
// source's model, and evaluated the way Grafana does: query A through the real backend
// executable (harness/grafana-backend.ts) against a real agent on real engines, then B (reduce
// last) and C (threshold) applied here, which shows which nodes fire.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import type { NodeState } from '../../pkg/api/types';
import { parseQuery } from '../../pkg/grafana/query';
import { startAgentProcess, startLedgerServer, type AgentProcess } from './harness/agent';
import { REPO, cliFor } from './harness/cli';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { startBackend, type BackendProcess, type DecodedFrame } from './harness/grafana-backend';
import { freePort, run, waitFor } from './harness/process';

const PROVISIONING = join(REPO, 'provisioning');
const rulesDir = join(PROVISIONING, 'prometheus');

function yamlFiles(dir: string): any[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => parse(readFileSync(join(dir, f), 'utf8')));
}

describe('Prometheus rules', () => {
  it('pass promtool check rules', async () => {
    const r = await run('promtool', ['check', 'rules', 'imagetrust-rules.yml'], { cwd: rulesDir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 8 rules found/);
  });

  it('pass their promtool unit tests', async () => {
    const r = await run('promtool', ['test', 'rules', 'imagetrust-rules.test.yml'], { cwd: rulesDir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('cover the conditions the README lists', () => {
    const doc = parse(readFileSync(join(rulesDir, 'imagetrust-rules.yml'), 'utf8'));
    const names = doc.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    for (const n of names) assert.ok(readme.includes(n), `README does not list ${n}`);
  });
});

describe('Grafana provisioning', () => {
  const datasources = yamlFiles(join(PROVISIONING, 'datasources')).flatMap((d) => d.datasources ?? []);
  const uids = new Set(datasources.map((d: { uid: string }) => d.uid));

  it('defines the imagetrust, Prometheus and InfluxDB data sources', () => {
    assert.deepEqual([...uids].sort(), ['imagetrust', 'imagetrust-influxdb', 'imagetrust-prometheus']);
    for (const d of datasources) assert.ok(d.name && d.type && d.access === 'proxy', JSON.stringify(d));
  });

  it('alert rules query only provisioned data sources, reduce and threshold them', () => {
    const alerting = yamlFiles(join(PROVISIONING, 'alerting'));
    const rules = alerting.flatMap((a) => (a.groups ?? []).flatMap((g: { rules: unknown[] }) => g.rules));
    assert.ok(rules.length >= 6);
    const used = new Set<string>();
    for (const rule of rules as {
      uid: string;
      condition: string;
      data: { refId: string; datasourceUid: string; model: { type?: string } }[];
    }[]) {
      assert.match(rule.uid, /^[a-zA-Z0-9-_]{1,40}$/);
      const refs = rule.data.map((d) => d.refId);
      assert.ok(
        refs.includes(rule.condition),
        `${rule.uid}: condition ${rule.condition} is not one of its queries`,
      );
      for (const d of rule.data) {
        if (d.datasourceUid === '__expr__')
          assert.ok(['reduce', 'threshold', 'math'].includes(d.model.type ?? ''), rule.uid);
        else {
          assert.ok(
            uids.has(d.datasourceUid),
            `${rule.uid} uses data source ${d.datasourceUid}, which provisioning does not define`,
          );
          used.add(d.datasourceUid);
        }
      }
    }
    assert.ok(used.has('imagetrust-prometheus') && used.has('imagetrust-influxdb'));
    const contactPoints = alerting.flatMap((a) => a.contactPoints ?? []);
    assert.ok(contactPoints.length > 0 && contactPoints[0].receivers.length > 0);
  });
});

// ---- Grafana-managed rules on imagetrust's own data source ----

interface RuleQuery {
  refId: string;
  queryType?: string;
  datasourceUid: string;
  relativeTimeRange?: { from: number; to: number };
  model: Record<string, any>;
}
interface ProvisionedRule {
  uid: string;
  title: string;
  condition: string;
  for: string;
  noDataState: string;
  execErrState: string;
  data: RuleQuery[];
}

const IMAGETRUST_UID = 'imagetrust';

function imagetrustRules(): ProvisionedRule[] {
  const doc = parse(readFileSync(join(PROVISIONING, 'alerting', 'imagetrust.yaml'), 'utf8'));
  return (doc.groups as { rules: ProvisionedRule[] }[])
    .flatMap((g) => g.rules)
    .filter((r) => r.data.some((d) => d.datasourceUid === IMAGETRUST_UID));
}

function step(rule: ProvisionedRule, refId: string): RuleQuery {
  const q = rule.data.find((d) => d.refId === refId);
  assert.ok(q, `${rule.uid} has no ${refId}`);
  return q;
}

/** The data source's query model (src/datasource/types.ts), loaded at run time. */
async function dataSourceModel(): Promise<{
  QUERY_TYPES: string[];
  ALERTABLE_QUERY_TYPES: string[];
  QUERY_VERSION: number;
}> {
  return import(pathToFileURL(join(REPO, 'src', 'datasource', 'types.ts')).href);
}

describe("Grafana-managed rules on imagetrust's data source", () => {
  const rules = imagetrustRules();

  it('are the three provisioned: untrusted at once, unknown for 2m, unreachable for 1m', () => {
    assert.deepEqual(
      rules.map((r) => [r.uid, r.for, r.noDataState, r.execErrState]),
      [
        ['imagetrust-ds-untrusted', '0s', 'OK', 'Alerting'],
        ['imagetrust-ds-unknown', '2m', 'OK', 'Alerting'],
        ['imagetrust-ds-node-unreachable', '1m', 'Alerting', 'Alerting'],
      ],
    );
  });

  it('are A (the data source), B (reduce last of A, __expr__), C (threshold on B, __expr__) with C the condition', () => {
    for (const rule of rules) {
      assert.deepEqual(
        rule.data.map((d) => [d.refId, d.datasourceUid, d.model.refId]),
        [
          ['A', IMAGETRUST_UID, 'A'],
          ['B', '__expr__', 'B'],
          ['C', '__expr__', 'C'],
        ],
        rule.uid,
      );
      assert.equal(rule.condition, 'C', rule.uid);
      const b = step(rule, 'B').model;
      assert.deepEqual([b.type, b.expression, b.reducer], ['reduce', 'A', 'last'], rule.uid);
      const c = step(rule, 'C').model;
      assert.deepEqual([c.type, c.expression], ['threshold', 'B'], rule.uid);
      assert.equal(c.conditions.length, 1, rule.uid);
      assert.ok(['gt', 'lt'].includes(c.conditions[0].evaluator.type), rule.uid);
    }
  });

  it("query A is the data source's model: an alertable query type of its union, which the backend parses", async () => {
    const model = await dataSourceModel();
    for (const rule of rules) {
      const a = step(rule, 'A');
      assert.ok(model.QUERY_TYPES.includes(a.model.queryType), `${rule.uid}: ${a.model.queryType}`);
      assert.ok(model.ALERTABLE_QUERY_TYPES.includes(a.model.queryType), `${rule.uid}: not alertable`);
      assert.equal(a.queryType, a.model.queryType, rule.uid);
      assert.equal(a.model.version, model.QUERY_VERSION, rule.uid);
      const keys = Object.keys(a.model).filter((k) => !['refId', 'queryType', 'version'].includes(k));
      assert.ok(
        keys.every((k) => ['status'].includes(k)),
        `${rule.uid}: ${keys.join(', ')}`,
      );
      const parsed = parseQuery(
        {
          refId: 'A',
          maxDataPoints: 43_200,
          intervalMS: 1000,
          timeRange: { fromEpochMS: 1, toEpochMS: 2 },
          json: Buffer.from(JSON.stringify(a.model)),
          queryType: a.queryType ?? '',
        },
        2,
      );
      assert.equal(parsed.queryType, a.model.queryType, rule.uid);
      assert.equal(parsed.status, a.model.status, rule.uid);
    }
  });
});

/** One number per series, as Grafana's reduce gives for numeric data-plane frames. */
interface Series {
  labels: Record<string, string>;
  value: number;
}

/** B: reduce (last) — every number field of every frame becomes one series with its labels. */
function reduceLast(frames: DecodedFrame[]): Series[] {
  const series: Series[] = [];
  for (const frame of frames) {
    // Long frames fail in Grafana-managed alerting: only data-plane numeric shapes are reduced.
    assert.ok(
      String(frame.meta?.type ?? '').startsWith('numeric-'),
      `frame type ${String(frame.meta?.type)}`,
    );
    for (const field of frame.fields.filter((f) => f.type === 'number')) {
      if (field.values.length === 0) continue;
      const last = field.values[field.values.length - 1];
      series.push({ labels: field.labels ?? {}, value: typeof last === 'number' ? last : Number.NaN });
    }
  }
  const keys = series.map((s) => JSON.stringify(Object.entries(s.labels).sort()));
  assert.equal(new Set(keys).size, keys.length, `duplicate label sets: ${keys.join(' ')}`);
  return series;
}

/** C: threshold on B. */
function fires(condition: { evaluator: { type: string; params: number[] } }, value: number): boolean {
  const [limit] = condition.evaluator.params;
  assert.equal(typeof limit, 'number');
  if (condition.evaluator.type === 'gt') return value > limit!;
  if (condition.evaluator.type === 'lt') return value < limit!;
  throw new Error(`evaluator ${condition.evaluator.type} is not evaluated here`);
}

describe("imagetrust's own rules evaluated through the real backend", () => {
  const TOKEN = 'alert-rules-token-0123456789';
  let work: string;
  let engineA: Engine;
  let engineB: Engine;
  let ledger: { url: string; stop(): Promise<void> };
  let agentA: AgentProcess;
  let agentB: AgentProcess;
  let backend: BackendProcess;

  before(async () => {
    work = mkdtempSync('/tmp/itd-alert-rules-');
    const ledgerHome = mkdtempSync(join(work, 'ledger-'));
    [engineA, engineB] = await Promise.all([startEngine('alert-a'), startEngine('alert-b')]);
    ledger = await startLedgerServer(ledgerHome);
    const keygen = await cliFor(ledgerHome, engineA.host)(['keygen']);
    assert.equal(keygen.code, 0, keygen.stderr);
    const signerId = keygen.stdout.trim();
    // node-a runs a trusted, an untrusted and an unsigned (unknown) image; node-b a trusted one.
    const images: [Engine, string, string, 'sign' | 'untrust' | undefined][] = [
      [engineA, 'local/trusted:1', 'alert-a-trusted', 'sign'],
      [engineA, 'local/untrusted:1', 'alert-a-untrusted', 'untrust'],
      [engineA, 'local/unsigned:1', 'alert-a-unsigned', undefined],
      [engineB, 'local/trusted:1', 'alert-b-trusted', 'sign'],
    ];
    for (const [engine, tag, variant, verb] of images) {
      await importImage(engine, tag, variant);
      if (verb) {
        const r = await cliFor(ledgerHome, engine.host, { IMAGETRUST_LEDGER: ledger.url })([
          verb,
          `docker://${tag}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
      }
      await runContainer(engine, variant, tag);
    }
    // Agents ask each other with the read-only peer credential, never the API token.
    const peerToken = join(work, 'peer-token');
    writeFileSync(peerToken, 'alert-rules-peer-token-0123456789\n', { mode: 0o600 });
    const common = [
      '--ledger',
      ledger.url,
      '--signer',
      signerId,
      '--token',
      TOKEN,
      '--peer-token-file',
      peerToken,
      '--resync',
      '2',
    ];
    agentB = await startAgentProcess({
      work,
      dockerHost: engineB.host,
      args: ['--node', 'node-b', ...common],
    });
    // node-c: a peer nobody answers for, so the agent reports it unreachable.
    const nobody = await freePort();
    agentA = await startAgentProcess({
      work,
      dockerHost: engineA.host,
      args: [
        '--node',
        'node-a',
        '--peer',
        `node-b=${agentB.url}`,
        '--peer',
        `node-c=http://127.0.0.1:${nobody}`,
        '--peer-timeout',
        '1',
        ...common,
      ],
    });
    backend = await startBackend();
  });

  after(async () => {
    await Promise.allSettled([backend?.stop(), agentA?.stop(), agentB?.stop(), ledger?.stop()]);
    await Promise.allSettled([engineA?.stop(), engineB?.stop()]);
    if (work && !process.env.IMAGETRUST_TEST_KEEP) rmSync(work, { recursive: true, force: true });
  });

  /** The agent's own view, once every container is judged and node-c is known unreachable. */
  async function settledNodes(): Promise<Map<string, NodeState>> {
    let seen: unknown;
    try {
      return await waitFor(
        'node-a: 1 trusted, 1 untrusted, 1 unknown; node-b: 1 trusted; node-c unreachable',
        async () => {
          const res = await agentA.get('/api/v1/nodes', TOKEN);
          seen = res.body;
          const nodes = new Map((res.body.nodes as NodeState[]).map((n) => [n.node, n]));
          const a = nodes.get('node-a');
          const b = nodes.get('node-b');
          const settled =
            a?.status === 'up' &&
            a.counts.trusted === 1 &&
            a.counts.untrusted === 1 &&
            a.counts.unknown === 1 &&
            b?.status === 'up' &&
            b.counts.trusted === 1 &&
            nodes.get('node-c')?.status === 'unreachable';
          return settled ? nodes : undefined;
        },
        60_000,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; the agent answered ${JSON.stringify(seen)}`);
    }
  }

  /** What Grafana's scheduler does for one rule: query A over its relative range, then B and C. */
  async function evaluate(
    rule: ProvisionedRule,
    token = TOKEN,
  ): Promise<{ series: Series[]; firing: string[] }> {
    const a = step(rule, 'A');
    const now = Date.now();
    const range = a.relativeTimeRange ?? { from: 600, to: 0 };
    const results = await backend.queryData({ uid: IMAGETRUST_UID, url: agentA.url, token }, [
      {
        refId: 'A',
        queryType: a.queryType ?? a.model.queryType,
        json: a.model,
        from: now - range.from * 1000,
        to: now - range.to * 1000,
        intervalMs: 1000,
        maxDataPoints: 43_200,
      },
    ]);
    const result = results.A;
    assert.ok(result, `${rule.uid}: no answer for A`);
    if (result.error) throw new Error(`${rule.uid}: A failed (${result.status}): ${result.error}`);
    const series = reduceLast(result.frames);
    const condition = step(rule, 'C').model.conditions[0];
    const firing = series
      .filter((s) => fires(condition, s.value))
      .map((s) => s.labels.node ?? '?')
      .sort();
    return { series, firing };
  }

  it('untrusted > 0 fires for node-a only, with the count the agent reports', async () => {
    const nodes = await settledNodes();
    const rule = imagetrustRules().find((r) => r.uid === 'imagetrust-ds-untrusted')!;
    const { series, firing } = await evaluate(rule);
    assert.deepEqual(series.map((s) => s.labels.node).sort(), ['node-a', 'node-b', 'node-c']);
    for (const s of series) {
      assert.equal(s.labels.status, 'untrusted');
      assert.equal(s.value, nodes.get(s.labels.node!)!.counts.untrusted, s.labels.node);
    }
    assert.deepEqual(firing, ['node-a']);
  });

  it('unknown > 0 fires for node-a only (node-c never reported containers)', async () => {
    const nodes = await settledNodes();
    const rule = imagetrustRules().find((r) => r.uid === 'imagetrust-ds-unknown')!;
    const { series, firing } = await evaluate(rule);
    for (const s of series) assert.equal(s.value, nodes.get(s.labels.node!)!.counts.unknown, s.labels.node);
    assert.deepEqual(firing, ['node-a']);
  });

  it('node up < 1 fires for the unreachable node-c only', async () => {
    await settledNodes();
    const rule = imagetrustRules().find((r) => r.uid === 'imagetrust-ds-node-unreachable')!;
    const { series, firing } = await evaluate(rule);
    assert.deepEqual(series.map((s) => [s.labels.node, s.value]).sort(), [
      ['node-a', 1],
      ['node-b', 1],
      ['node-c', 0],
    ]);
    assert.deepEqual(firing, ['node-c']);
  });

  it('a query the backend cannot answer is an error for A (execErrState Alerting), never a quiet OK', async () => {
    const rule = imagetrustRules().find((r) => r.uid === 'imagetrust-ds-untrusted')!;
    assert.equal(rule.execErrState, 'Alerting');
    await assert.rejects(evaluate(rule, 'wrong-token-0123456789'), /A failed/);
    assert.ok(backend.alive(), 'the backend survives the failed query');
  });
});
