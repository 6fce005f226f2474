// Dashboards and alert rules as code: the files in provisioning/ are exactly what the code
// generates, they refer only to provisioned data sources, the imagetrust queries match the data
// source's query model, and shapes Grafana would not load do not compile.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as alerting from '@grafana/grafana-foundation-sdk/alerting';
import ts from 'typescript';
import { parse } from 'yaml';
import { ImagetrustError } from '../../errors';
import {
  ALERT_FOLDER,
  alertingProvisioning,
  duration,
  toFileProvisioning,
  type FileQuery,
  type FileRule,
} from './alert-rules';
import { EXPRESSION_UID, GRAFANA, IMAGETRUST, INFLUXDB, PROMETHEUS } from './datasources';
import {
  ALERTABLE_QUERY_TYPES,
  IMAGETRUST_QUERY_TYPES,
  QUERY_PARAMETERS,
  QUERY_VERSION,
  type ImagetrustQueryType,
} from './imagetrust-query';
import { ALERTING_FILE, DASHBOARDS, DASHBOARDS_DIR, renderProvisioning } from './render';
import { TrustmapPanelBuilder } from './trustmap-panel';

const REPO = resolve(__dirname, '..', '..', '..');
const HERE = __dirname;
const SDK_DASHBOARD = join(REPO, 'node_modules', '@grafana', 'grafana-foundation-sdk', 'dist', 'dashboard');

type Json = Record<string, unknown>;

function readYaml(path: string): Json {
  return parse(readFileSync(join(REPO, path), 'utf8')) as Json;
}

const provisionedDataSources = (readYaml('provisioning/datasources/imagetrust.yaml').datasources ?? []) as {
  uid: string;
  type: string;
}[];
const provisionedTypes = new Map(provisionedDataSources.map((d) => [d.uid, d.type]));

/** Every object under `value` that has a `datasource` reference, with where it was found. */
function dataSourceRefs(value: unknown, path = ''): { path: string; ref: { uid?: string; type?: string } }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => dataSourceRefs(v, `${path}[${i}]`));
  if (!value || typeof value !== 'object') return [];
  const found: { path: string; ref: { uid?: string; type?: string } }[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (key === 'datasource' && child && typeof child === 'object') found.push({ path, ref: child });
    found.push(...dataSourceRefs(child, `${path}.${key}`));
  }
  return found;
}

/** Every query of imagetrust's data source in a dashboard: panel targets and annotation targets. */
function imagetrustQueries(dash: Json): Json[] {
  const panels = (dash.panels ?? []) as { datasource?: { uid?: string }; targets?: Json[] }[];
  const annotations = ((dash.annotations as { list?: Json[] }).list ?? []) as { target?: Json }[];
  return [
    ...panels.flatMap((p) => p.targets ?? []),
    ...annotations.flatMap((a) => (a.target ? [a.target] : [])),
  ].filter((q) => (q.datasource as { uid?: string } | undefined)?.uid === IMAGETRUST.uid);
}

/** The data source's own model (src/datasource/types.ts), loaded at run time. */
async function dataSourceModel(): Promise<{
  QUERY_TYPES: string[];
  QUERY_VERSION: number;
  ALERTABLE_QUERY_TYPES: string[];
  STATUS_QUERY_TYPES: string[];
  DIGEST_QUERY_TYPES: string[];
}> {
  const url = pathToFileURL(join(REPO, 'src', 'datasource', 'types.ts')).href;
  return (await import(url)) as Awaited<ReturnType<typeof dataSourceModel>>;
}

describe('generated provisioning', () => {
  const files = renderProvisioning();

  it('is what provisioning/ holds, byte for byte (run `npm run provisioning` after a change)', () => {
    assert.ok(files.length >= 3);
    for (const file of files) {
      const target = join(REPO, file.path);
      assert.ok(existsSync(target), `${file.path} is missing: run npm run provisioning`);
      assert.equal(readFileSync(target, 'utf8'), file.contents, `${file.path} differs from the code`);
    }
  });

  it('leaves no dashboard in provisioning/ that the code does not generate', () => {
    const generated = new Set(files.map((f) => f.path));
    for (const name of readdirSync(join(REPO, DASHBOARDS_DIR)))
      assert.ok(generated.has(`${DASHBOARDS_DIR}/${name}`), `${DASHBOARDS_DIR}/${name} is not generated`);
  });

  it('renders the same bytes every time (stable key order, two-space JSON, trailing newline)', () => {
    assert.deepEqual(renderProvisioning(), files);
    for (const file of files) {
      assert.ok(file.contents.endsWith('\n') && !file.contents.endsWith('\n\n'), file.path);
      if (file.path.endsWith('.json'))
        assert.equal(file.contents, `${JSON.stringify(JSON.parse(file.contents), null, 2)}\n`);
    }
  });
});

describe('dashboards', () => {
  const dashboards = Object.entries(DASHBOARDS).map(([name, build]) => ({
    name,
    dash: JSON.parse(JSON.stringify(build())) as Json,
  }));

  it('the data source constants are the ones provisioning/datasources defines', () => {
    for (const ds of [IMAGETRUST, PROMETHEUS, INFLUXDB])
      assert.equal(provisionedTypes.get(ds.uid), ds.type, `${ds.uid} is not provisioned as ${ds.type}`);
  });

  it('reference provisioned data source uids only, with their provisioned types', () => {
    for (const { name, dash } of dashboards) {
      const refs = dataSourceRefs(dash);
      assert.ok(refs.length > 10, `${name}: only ${refs.length} data source references`);
      for (const { path, ref } of refs) {
        if (ref.uid === GRAFANA.uid && ref.type === GRAFANA.type) continue;
        assert.ok(
          ref.uid && provisionedTypes.has(ref.uid),
          `${name}${path}: ${JSON.stringify(ref)} is not provisioned`,
        );
        assert.equal(ref.type, provisionedTypes.get(ref.uid), `${name}${path}: type of ${ref.uid}`);
      }
      for (const panel of dash.panels as { id: number; datasource?: { uid?: string }; targets?: Json[] }[]) {
        assert.ok(panel.datasource?.uid, `${name}: panel ${panel.id} names no data source`);
        for (const target of panel.targets ?? [])
          assert.deepEqual(
            target.datasource,
            panel.datasource,
            `${name}: panel ${panel.id} mixes data sources`,
          );
      }
    }
  });

  it('have unique uids, unique panel ids and panels inside the 24-column grid without overlaps', () => {
    assert.equal(new Set(dashboards.map((d) => d.dash.uid)).size, dashboards.length);
    for (const { name, dash } of dashboards) {
      const panels = dash.panels as { id: number; gridPos: { x: number; y: number; w: number; h: number } }[];
      assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, `${name}: duplicate panel ids`);
      for (const [i, a] of panels.entries()) {
        assert.ok(
          a.gridPos.x >= 0 && a.gridPos.x + a.gridPos.w <= 24,
          `${name}: panel ${a.id} leaves the grid`,
        );
        for (const b of panels.slice(i + 1)) {
          const apart =
            a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
            b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
            a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
            b.gridPos.y + b.gridPos.h <= a.gridPos.y;
          assert.ok(apart, `${name}: panels ${a.id} and ${b.id} overlap`);
        }
      }
    }
  });

  it('link to each other by uid', () => {
    const uids = new Set(dashboards.map((d) => String(d.dash.uid)));
    for (const { name, dash } of dashboards) {
      const links = dash.links as { url: string; placement?: string }[];
      assert.ok(links.length > 0, name);
      for (const link of links) {
        const target = /^\/d\/([\w-]+)/.exec(link.url)?.[1];
        assert.ok(target && uids.has(target), `${name}: link ${link.url} leads to no generated dashboard`);
        assert.equal(link.placement, undefined, `${name}: link ${link.url} is moved out of the top bar`);
      }
    }
  });

  it("imagetrust queries are the data source's model: known query type, its parameters only, the current version", async () => {
    const model = await dataSourceModel();
    for (const { name, dash } of dashboards) {
      const queries = imagetrustQueries(dash);
      assert.ok(queries.length >= 4, name);
      for (const q of queries) {
        const queryType = q.queryType as ImagetrustQueryType;
        assert.ok(model.QUERY_TYPES.includes(queryType), `${name}: unknown query type ${queryType}`);
        assert.equal(q.version, model.QUERY_VERSION, name);
        const allowed = new Set<string>([
          'refId',
          'datasource',
          'queryType',
          'version',
          ...QUERY_PARAMETERS[queryType],
        ]);
        for (const key of Object.keys(q))
          assert.ok(allowed.has(key), `${name}: ${queryType} query carries ${key}`);
      }
    }
  });

  it('the trust map refuses a tile width its editor would not accept', () => {
    for (const bad of [79, 601, 100.5, Number.NaN])
      assert.throws(
        () => new TrustmapPanelBuilder().minTileWidth(bad),
        (err: unknown) => err instanceof ImagetrustError && err.code === 'CONFIG_INVALID',
      );
    assert.deepEqual(new TrustmapPanelBuilder().minTileWidth(80).build().options, {
      tileBy: 'node',
      showCounts: true,
      minTileWidth: 80,
    });
  });
});

describe('the query model in code', () => {
  it('matches src/datasource/types.ts: query types, version, alertable, status and digest parameters', async () => {
    const model = await dataSourceModel();
    assert.deepEqual([...IMAGETRUST_QUERY_TYPES], model.QUERY_TYPES);
    assert.equal(QUERY_VERSION, model.QUERY_VERSION);
    assert.deepEqual([...ALERTABLE_QUERY_TYPES], model.ALERTABLE_QUERY_TYPES);
    const taking = (parameter: string) =>
      IMAGETRUST_QUERY_TYPES.filter((q) => (QUERY_PARAMETERS[q] as readonly string[]).includes(parameter));
    assert.deepEqual(taking('status').sort(), [...model.STATUS_QUERY_TYPES].sort());
    assert.deepEqual(taking('digest').sort(), [...model.DIGEST_QUERY_TYPES].sort());
  });
});

describe('alert rules', () => {
  const doc = alertingProvisioning();
  const rules = doc.groups.flatMap((g) => g.rules);
  const byUid = new Map(rules.map((r) => [r.uid, r]));
  const query = (rule: FileRule, refId: string): FileQuery => {
    const q = rule.data.find((d) => d.refId === refId);
    assert.ok(q, `${rule.uid} has no ${refId}`);
    return q;
  };

  it('sit in the folder the dashboards provider creates, evaluated every minute', () => {
    const provider = (readYaml('provisioning/dashboards/dashboards.yaml').providers as Json[])[0]!;
    assert.equal(provider.folder, ALERT_FOLDER.title);
    assert.equal(provider.folderUid, ALERT_FOLDER.uid);
    assert.deepEqual(
      doc.groups.map((g) => [g.orgId, g.folder, g.interval]),
      [[1, 'imagetrust', '1m']],
    );
  });

  it('are A (query) → B (reduce last of A) → C (threshold on B, the condition), uids unique', () => {
    assert.equal(byUid.size, rules.length);
    for (const rule of rules) {
      assert.match(rule.uid, /^[a-zA-Z0-9_-]{1,40}$/);
      assert.deepEqual(
        rule.data.map((d) => d.refId),
        ['A', 'B', 'C'],
        rule.uid,
      );
      assert.equal(rule.condition, 'C');
      for (const d of rule.data) assert.equal(d.model.refId, d.refId, `${rule.uid} ${d.refId}`);
      const a = query(rule, 'A');
      assert.ok(provisionedTypes.has(a.datasourceUid), `${rule.uid}: ${a.datasourceUid} is not provisioned`);
      assert.ok(a.relativeTimeRange && a.relativeTimeRange.from > 0, rule.uid);
      const b = query(rule, 'B');
      assert.equal(b.datasourceUid, EXPRESSION_UID);
      assert.deepEqual(
        [b.model.type, b.model.expression, b.model.reducer],
        ['reduce', 'A', 'last'],
        rule.uid,
      );
      const c = query(rule, 'C');
      assert.equal(c.datasourceUid, EXPRESSION_UID);
      assert.deepEqual([c.model.type, c.model.expression], ['threshold', 'B'], rule.uid);
      assert.equal((c.model.conditions as unknown[]).length, 1, rule.uid);
    }
  });

  it('keep labels free of $ (Grafana expands environment variables in labels, not in annotations)', () => {
    for (const rule of rules)
      for (const v of Object.values(rule.labels ?? {})) assert.ok(!v.includes('$'), rule.uid);
  });

  it("on imagetrust's own data source: untrusted at once, unknown for 2m, unreachable for 1m", async () => {
    const model = await dataSourceModel();
    const own = rules.filter((r) => query(r, 'A').datasourceUid === IMAGETRUST.uid);
    const summary = own.map((r) => {
      const a = query(r, 'A').model;
      const c = query(r, 'C').model.conditions as { evaluator: { type: string; params: number[] } }[];
      return [a.queryType, a.status, c[0]!.evaluator.type, c[0]!.evaluator.params[0], r.for, r.execErrState];
    });
    assert.deepEqual(summary, [
      ['counts', 'untrusted', 'gt', 0, '0s', 'Alerting'],
      ['counts', 'unknown', 'gt', 0, '2m', 'Alerting'],
      ['nodeUp', undefined, 'lt', 1, '1m', 'Alerting'],
    ]);
    for (const r of own) {
      const a = query(r, 'A').model;
      assert.ok(
        model.ALERTABLE_QUERY_TYPES.includes(String(a.queryType)),
        `${r.uid}: ${a.queryType} is not alertable`,
      );
      assert.equal(a.version, model.QUERY_VERSION);
      assert.equal(query(r, 'A').queryType, a.queryType, `${r.uid}: DataQuery.queryType is the model's`);
      assert.equal(a.datasource, undefined, `${r.uid}: the rule's datasourceUid names the data source`);
    }
    assert.equal(byUid.get('imagetrust-ds-node-unreachable')?.noDataState, 'Alerting');
  });

  it('keep the Prometheus and InfluxDB rules', () => {
    const on = (uid: string) => rules.filter((r) => query(r, 'A').datasourceUid === uid).map((r) => r.uid);
    assert.equal(on(PROMETHEUS.uid).length, 6);
    assert.deepEqual(on(INFLUXDB.uid), ['imagetrust-influx-failed-verification']);
  });

  it('the conversion to the file format refuses rules that do not fit their group', () => {
    const group = (rule: alerting.RuleBuilder) =>
      new alerting.RuleGroupBuilder('g').folderUid('f').interval(60).rules([rule]).build();
    const rule = () =>
      new alerting.RuleBuilder('t').uid('u').orgID(1).folderUID('f').ruleGroup('g').condition('A');
    const convert = (g: alerting.RuleGroup) => () => toFileProvisioning([g], [], () => 'F');
    const refused = (err: unknown) => err instanceof ImagetrustError && err.code === 'CONFIG_INVALID';
    const a = new alerting.QueryBuilder('A')
      .datasourceUid('x')
      .model({ build: () => ({ _implementsDataqueryVariant() {} }) });
    assert.equal(convert(group(rule().queries([a])))().groups[0]!.rules[0]!.data[0]!.refId, 'A');
    assert.throws(convert(group(rule().condition('C').queries([a]))), refused);
    assert.throws(convert(group(rule().folderUID('other').queries([a]))), refused);
    assert.throws(
      convert(group(rule().queries([new alerting.QueryBuilder('A').datasourceUid('x')]))),
      refused,
    );
    assert.throws(
      convert(
        group(
          new alerting.RuleBuilder('no uid')
            .orgID(1)
            .folderUID('f')
            .ruleGroup('g')
            .condition('A')
            .queries([a]),
        ),
      ),
      refused,
    );
    assert.equal(duration(60), '1m');
    assert.equal(duration(90), '90s');
    for (const bad of [0, -60, 1.5]) assert.throws(() => duration(bad), refused);
  });

  it('the YAML file parses to exactly the rules built in code', () => {
    assert.deepEqual(readYaml(ALERTING_FILE), JSON.parse(JSON.stringify(doc)));
  });
});

describe('shapes Grafana would not load do not compile', () => {
  // One program over several small files importing the real modules: the control file must
  // compile cleanly, every other file must fail (each holds one mistake).
  const snippets: Record<string, string> = {
    control: `
      const q = imagetrust('containers', { node: '$node', status: 'untrusted' });
      new dashboard.DashboardBuilder('x').withPanel(new TrustmapPanelBuilder().tileBy('container').withTarget(q));
      new ImagetrustQueryBuilder('counts', { status: 'unknown' });
      new ImagetrustQueryBuilder('nodeUp', {});
      new ImagetrustQueryBuilder('statements', { digest: 'sha256:0' });
      imagetrustQuery('nodeUp', {});`,
    digestOnContainers: `imagetrust('containers', { digest: 'sha256:0' });`,
    variableInAlertStatus: `new ImagetrustQueryBuilder('counts', { status: '$status' });`,
    statusOnNodeUp: `new ImagetrustQueryBuilder('nodeUp', { status: 'unknown' });`,
    unknownStatus: `imagetrust('containers', { status: 'revoked' });`,
    unknownQueryType: `new ImagetrustQueryBuilder('metrics', {});`,
    statementsWithoutDigest: `new ImagetrustQueryBuilder('statements', {});`,
    unknownTileBy: `new TrustmapPanelBuilder().tileBy('image');`,
    queryAsPanel: `new dashboard.DashboardBuilder('x').withPanel(imagetrust('summary', {}));`,
    notAQuery: `new dashboard.PanelBuilder().withTarget({ build: () => ({ expr: 'up' }) });`,
    alertOnTable: `imagetrustQuery('containers', {});`,
  };

  /** What each mistake's compile error names. */
  const EXPECTED_ERROR: Record<string, string> = {
    digestOnContainers: "'digest' does not exist",
    variableInAlertStatus: '"$status"',
    statusOnNodeUp: "not assignable to type 'never'",
    unknownStatus: '"revoked"',
    unknownQueryType: '"metrics"',
    statementsWithoutDigest: "Property 'digest' is missing",
    unknownTileBy: '"image"',
    queryAsPanel: "Property 'type' is missing",
    notAQuery: "'_implementsDataqueryVariant' is missing",
    alertOnTable: '"containers"',
  };

  it('holds for each mistake, and only for them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagetrust-provisioning-'));
    try {
      const header = [
        // Module resolution starts from the importing file, outside the repository here.
        `import * as dashboard from ${JSON.stringify(SDK_DASHBOARD)};`,
        `import { ImagetrustQueryBuilder } from ${JSON.stringify(join(HERE, 'imagetrust-query'))};`,
        `import { imagetrust } from ${JSON.stringify(join(HERE, 'panels'))};`,
        `import { TrustmapPanelBuilder } from ${JSON.stringify(join(HERE, 'trustmap-panel'))};`,
        `import { imagetrustQuery } from ${JSON.stringify(join(HERE, 'alert-rules'))};`,
        `export {};`,
      ].join('\n');
      const paths = Object.fromEntries(
        Object.entries(snippets).map(([name, body]) => {
          const path = join(dir, `${name}.ts`);
          writeFileSync(path, `${header}\n${body}\n`);
          return [name, path];
        }),
      );
      const program = ts.createProgram(Object.values(paths), {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.Node16,
        moduleResolution: ts.ModuleResolutionKind.Node16,
        esModuleInterop: true,
      });
      for (const [name, path] of Object.entries(paths)) {
        const source = program.getSourceFile(path);
        assert.ok(source, name);
        const errors = [
          ...program.getSyntacticDiagnostics(source),
          ...program.getSemanticDiagnostics(source),
        ].map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
        if (name === 'control') assert.deepEqual(errors, [], 'the control snippet must compile');
        else
          assert.ok(
            errors.some((e) => e.includes(EXPECTED_ERROR[name]!)),
            `${name} should fail on ${EXPECTED_ERROR[name]}: ${JSON.stringify(errors)}`,
          );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
