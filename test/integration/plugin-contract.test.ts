// The Grafana plugin's contracts, checked on the built dist/ and on the provisioning files:
// plugin.json fields and ids, nested plugins that resolve, data-proxy routes that refer to real
// settings, AMD modules that leave Grafana's shared packages external, provisioning that refers
// only to what exists, a docker-compose.yml that docker-compose accepts, and the wire types
// (pkg/api/types.ts) held to the answers of real agents on a real engine.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { REPO, cliFor } from './harness/cli';
import { run, waitFor } from './harness/process';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { startAgentProcess, type AgentProcess } from './harness/agent';
import type { Decision } from '../../pkg/authz/admission';
import {
  ADMISSION_REFUSAL_SCHEMA,
  API_VERSION,
  CHANGE_EVENT_SCHEMA,
  CONTAINER_RESULT_SCHEMA,
  HISTORY_POINT_SCHEMA,
  IMAGE_SUMMARY_SCHEMA,
  LEDGER_STATEMENT_SCHEMA,
  NODE_STATE_SCHEMA,
  STATEMENTS_ANSWER_SCHEMA,
  STATUS_COUNTS_SCHEMA,
  SUMMARY_NODE_SCHEMA,
  UNVERIFIED_NODE_SCHEMA,
  fieldProblems,
  isTrustStatus,
  type Schema,
} from '../../pkg/api/types';

const DIST = join(REPO, 'dist');
const ID_RULE = /^[0-9a-z]+-([0-9a-z]+-)?(app|panel|datasource)$/;
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

function pluginJsons(): { dir: string; meta: any }[] {
  const found: { dir: string; meta: any }[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name === 'plugin.json') found.push({ dir, meta: json(join(dir, entry.name)) });
    }
  };
  walk(DIST);
  return found;
}

/** The shared packages Grafana supplies, as the scaffold's .config/bundler/externals.ts lists them. */
function allowedExternals(): (string | RegExp)[] {
  const text = readFileSync(join(REPO, '.config', 'bundler', 'externals.ts'), 'utf8');
  const names = [...text.matchAll(/^\s+'([^']+)',$/gm)].map((m) => m[1] as string);
  const patterns = [...text.matchAll(/^\s+\/(\^.+)\/i,$/gm)].map(
    (m) => new RegExp((m[1] as string).replace(/\\\//g, '/'), 'i'),
  );
  return ['module', ...names, ...patterns];
}

describe('plugin.json', () => {
  const plugins = pluginJsons();

  it('dist holds the app and its nested data source and panel', () => {
    assert.deepEqual(plugins.map((p) => p.meta.id).sort(), [
      'imagetrust-fleet-app',
      'imagetrust-fleet-datasource',
      'imagetrust-trustmap-panel',
    ]);
  });

  for (const { dir, meta } of pluginJsons()) {
    it(`${meta.id}: valid id, type, info and dependencies; module.js and logos present`, () => {
      assert.match(meta.id, ID_RULE);
      assert.equal(meta.id.split('-').pop(), meta.type);
      assert.ok(meta.name);
      assert.match(meta.info.version, /^\d+\.\d+\.\d+/);
      assert.match(meta.info.updated, /^\d{4}-\d{2}-\d{2}$/);
      assert.match(meta.dependencies.grafanaDependency, /^>=\d+\.\d+\.\d+$/);
      for (const logo of [meta.info.logos.small, meta.info.logos.large])
        assert.ok(existsSync(join(dir, logo)), `${meta.id}: ${logo} missing`);
      assert.ok(existsSync(join(dir, 'module.js')), `${meta.id}: module.js missing`);
    });
  }

  it("the app's includes resolve to nested plugins of the right type", () => {
    const app = json(join(DIST, 'plugin.json'));
    const nested = app.includes.filter(
      (i: { type: string }) => i.type === 'datasource' || i.type === 'panel',
    );
    assert.equal(nested.length, 2);
    for (const inc of nested) {
      const meta = json(join(DIST, inc.path));
      assert.equal(meta.type, inc.type);
      assert.ok(existsSync(join(DIST, dirname(inc.path), 'module.js')));
    }
    for (const page of app.includes.filter((i: { type: string }) => i.type === 'page'))
      assert.match(page.path, /^\/(a|plugins)\//);
  });

  it('the data source is answered by its backend, from the settings the config editor stores', () => {
    const ds = json(join(DIST, 'datasource', 'plugin.json'));
    assert.equal(ds.backend, true);
    assert.equal(ds.alerting, true);
    assert.equal(ds.executable, 'gpx_imagetrust');
    // The backend holds the token: no data-proxy route would add it in the browser's name.
    assert.equal(ds.routes, undefined);
    const types = readFileSync(join(REPO, 'src', 'datasource', 'types.ts'), 'utf8');
    const keysOf = (iface: string) => {
      const body = new RegExp(`interface ${iface}[^{]*\\{([^}]*)\\}`).exec(types)?.[1] ?? '';
      return new Set([...body.matchAll(/^\s+(\w+)\??:/gm)].map((m) => m[1]));
    };
    const editor = readFileSync(join(REPO, 'src', 'datasource', 'components', 'ConfigEditor.tsx'), 'utf8');
    // What the backend reads from the PluginContext (pkg/grafana/settings.ts; the browser test
    // proves it end to end): jsonData.url and secureJsonData.token.
    for (const [where, key, iface] of [
      ['jsonData', 'url', 'ImagetrustOptions'],
      ['secureJsonData', 'token', 'ImagetrustSecureOptions'],
    ] as const) {
      assert.ok(keysOf(iface).has(key), `${iface} does not declare ${key}`);
      assert.match(
        editor,
        new RegExp(`${where}: \\{[^}]*\\b${key}\\b`),
        `the config editor never sets ${key}`,
      );
    }
  });
});

describe('dist modules', () => {
  const modules = ['module.js', 'datasource/module.js', 'panel/module.js'];
  const allowed = allowedExternals();

  for (const file of modules) {
    it(`${file} is AMD and leaves Grafana's shared packages external`, () => {
      const text = readFileSync(join(DIST, file), 'utf8');
      const m = /define\((\[[^\]]*\])/.exec(text);
      assert.ok(m, `${file} is not an AMD module`);
      const deps = JSON.parse((m[1] as string).replace(/'/g, '"')) as string[];
      for (const dep of deps) {
        assert.ok(
          allowed.some((a) => (typeof a === 'string' ? a === dep : a.test(dep))),
          `${file} asks for ${dep}, which Grafana does not supply`,
        );
      }
      for (const shared of ['react', '@grafana/data'])
        assert.ok(deps.includes(shared), `${file} bundles ${shared} instead of importing it`);
      // Fingerprints of packages that must never be bundled.
      for (const marker of [
        '__SECRET_INTERNALS_DO_NOT_USE_OR_YOU_WILL_BE_FIRED',
        'object unsubscribed',
        'lodash.templateSettings',
      ]) {
        assert.ok(!text.includes(marker), `${file} contains ${marker}`);
      }
      assert.ok(text.length < 400_000, `${file} is ${text.length} bytes`);
    });
  }
});

describe('provisioning', () => {
  const PROV = join(REPO, 'provisioning');
  const datasources = parse(readFileSync(join(PROV, 'datasources', 'imagetrust.yaml'), 'utf8'))
    .datasources as { uid: string; type: string }[];
  const uids = new Map(datasources.map((d) => [d.uid, d.type]));

  it('provisions the app and a data source of the nested type', () => {
    const apps = parse(readFileSync(join(PROV, 'plugins', 'imagetrust.yaml'), 'utf8')).apps;
    assert.equal(apps[0].type, 'imagetrust-fleet-app');
    assert.equal(uids.get('imagetrust'), 'imagetrust-fleet-datasource');
  });

  it('dashboards parse and use only provisioned data sources and known panels', () => {
    const providers = parse(readFileSync(join(PROV, 'dashboards', 'dashboards.yaml'), 'utf8')).providers;
    assert.ok(providers.length > 0);
    const dir = join(PROV, 'dashboards', 'imagetrust');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 2);
    const builtin = new Set([
      'table',
      'stat',
      'state-timeline',
      'timeseries',
      'row',
      'text',
      'bargauge',
      'gauge',
      'piechart',
    ]);
    const seenUids = new Set<string>();
    for (const f of files) {
      const dash = json(join(dir, f));
      assert.ok(dash.uid && !seenUids.has(dash.uid), `${f}: missing or duplicate uid`);
      seenUids.add(dash.uid);
      const refs: { uid?: string; type?: string }[] = [];
      const collect = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(collect);
        else if (v && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          if (o.datasource && typeof o.datasource === 'object')
            refs.push(o.datasource as { uid?: string; type?: string });
          Object.values(o).forEach(collect);
        }
      };
      collect(dash);
      for (const r of refs) {
        if (r.uid === '-- Grafana --' || r.type === 'datasource') continue;
        assert.ok(r.uid && uids.has(r.uid), `${f}: data source ${JSON.stringify(r)} is not provisioned`);
        if (r.type) assert.equal(r.type, uids.get(r.uid!), `${f}: ${r.uid} has type ${uids.get(r.uid!)}`);
      }
      const panels = (dash.panels as { type: string; id: number }[]).flatMap((p: any) => [
        p,
        ...(p.panels ?? []),
      ]);
      const ids = panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${f}: duplicate panel ids`);
      for (const p of panels)
        assert.ok(
          builtin.has(p.type) || p.type === 'imagetrust-trustmap-panel',
          `${f}: unknown panel type ${p.type}`,
        );
    }
  });

  it('docker-compose config accepts docker-compose.yml', async () => {
    const r = await run('docker-compose', ['config', '--quiet'], {
      cwd: REPO,
      env: {
        ...process.env,
        IMAGETRUST_TOKEN: 'compose-check-token-0123',
        IMAGETRUST_SIGNER: '0'.repeat(32),
        IMAGETRUST_PG_PASSWORD: 'compose-check-password',
      },
    });
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('the agent API answers what pkg/api/types.ts declares', () => {
  const TOKEN = 'contract-token-0123456789';
  let work: string;
  let engine: Engine;
  let agent: AgentProcess;
  let peer: AgentProcess;
  let trustedDigest: string;

  /** Every item fits the schema: no undeclared field, no required field missing, kinds right. */
  function fits<T>(items: unknown[], schema: Schema<T>, where: string): void {
    assert.ok(items.length > 0, `${where}: nothing to check`);
    const problems = items.flatMap((item, i) => fieldProblems(item, schema, `${where}[${i}]`));
    assert.deepEqual(problems, []);
  }

  async function get(path: string): Promise<any> {
    const res = await agent.get(`/api/${API_VERSION}${path}`, TOKEN);
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  }

  before(async () => {
    work = mkdtempSync('/tmp/itd-contract-');
    engine = await startEngine('contract');
    const home = mkdtempSync(join(work, 'home-'));
    const cli = cliFor(home, engine.host);
    const keyId = (await cli(['keygen'])).stdout.trim();
    for (const [tag, verb] of [
      ['local/signed:1', 'sign'],
      ['local/bad:1', 'untrust'],
      ['local/adhoc:1', ''],
    ] as const) {
      const id = await importImage(engine, tag, tag);
      if (tag === 'local/signed:1') trustedDigest = id;
      if (verb) assert.equal((await cli([verb, `docker://${tag}`, '--attr', 'ci.job=7'])).code, 0);
    }
    for (const [name, tag] of [
      ['signed', 'local/signed:1'],
      ['bad', 'local/bad:1'],
      ['adhoc', 'local/adhoc:1'],
    ] as const)
      await runContainer(engine, name, tag);
    // A refusal as `imagetrust authz` writes it to its audit log, typed by the writer's own Decision.
    const refusal: Decision = {
      time: new Date().toISOString(),
      user: 'ci',
      method: 'POST',
      uri: '/v1.41/containers/create',
      action: 'container-create',
      image: 'local/bad:1',
      status: 'untrusted',
      verdict: 'refused',
      allow: false,
      message: 'local/bad:1 is untrusted',
      durationMs: 1.5,
    };
    const audit = join(work, 'audit.log');
    writeFileSync(audit, `${JSON.stringify(refusal)}\n`);
    // Peers ask each other with their own read-only credential, never the API token.
    const peerToken = join(work, 'peer.token');
    writeFileSync(peerToken, 'contract-peer-credential-0123456789\n', { mode: 0o600 });
    const common = ['--signer', keyId, '--token', TOKEN, '--peer-token-file', peerToken];
    // The peer runs on the same engine under another node name, then stops: its containers
    // then read `unknown` with their last known status, and its node `unreachable`.
    peer = await startAgentProcess({
      work,
      dockerHost: engine.host,
      home,
      args: ['--node', 'peer', ...common],
    });
    agent = await startAgentProcess({
      work,
      dockerHost: engine.host,
      home,
      args: [
        '--node',
        'local',
        '--peer',
        peer.url,
        '--peer-timeout',
        '1',
        '--admission-log',
        audit,
        ...common,
      ],
    });
    await waitFor('both nodes answer with every container', async () => {
      const down = (await get('/nodes')).nodes.find((n: { status: string }) => n.status !== 'up');
      // Thrown, so that a timeout says why the peer is not believed.
      if (down) throw new Error(`${down.node} is ${down.status}: ${down.reason}`);
      const { containers } = await get('/containers');
      const trusted = containers.filter((c: { status: string }) => c.status === 'trusted');
      return containers.length === 6 && trusted.length === 2 ? true : undefined;
    });
  });

  after(async () => {
    await agent?.stop();
    await peer?.stop();
    await engine?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('/containers and /nodes, with a peer up and after it stopped', async () => {
    const up = await get('/containers');
    fits(up.containers, CONTAINER_RESULT_SCHEMA, 'containers');
    assert.ok(up.containers.every((c: { status: unknown }) => isTrustStatus(c.status)));
    assert.deepEqual([...new Set(up.containers.map((c: { status: string }) => c.status))].sort(), [
      'trusted',
      'unknown',
      'untrusted',
    ]);
    const proven = up.containers.find((c: { proof?: unknown }) => c.proof !== undefined);
    assert.ok(proven, 'no container carries a proof');
    assert.deepEqual(Object.keys(proven.proof).sort(), ['index', 'treeSize']);
    const nodes = (await get('/nodes')).nodes;
    fits(nodes, NODE_STATE_SCHEMA, 'nodes');
    fits(
      nodes.map((n: { counts: unknown }) => n.counts),
      STATUS_COUNTS_SCHEMA,
      'nodes.counts',
    );

    await peer.stop();
    const gone = await waitFor('the peer to read unreachable', async () => {
      const { nodes } = await get('/nodes');
      return nodes.some((n: { status: string }) => n.status === 'unreachable') ? nodes : undefined;
    });
    fits(gone, NODE_STATE_SCHEMA, 'nodes (peer down)');
    const down = (await get('/containers')).containers;
    fits(down, CONTAINER_RESULT_SCHEMA, 'containers (peer down)');
    const remembered = down.filter((c: { lastKnownStatus?: unknown }) => c.lastKnownStatus !== undefined);
    assert.equal(remembered.length, 3);
    assert.ok(remembered.every((c: { lastKnownStatus: unknown }) => isTrustStatus(c.lastKnownStatus)));
  });

  it('/images, /summary, /history and /events', async () => {
    fits((await get('/images')).images, IMAGE_SUMMARY_SCHEMA, 'images');
    const summary = await get('/summary');
    assert.deepEqual(Object.keys(summary).sort(), ['nodes', 'total']);
    fits(summary.nodes, SUMMARY_NODE_SCHEMA, 'summary.nodes');
    fits([summary.total], STATUS_COUNTS_SCHEMA, 'summary.total');
    const history = await get('/history?step=10s');
    assert.deepEqual(Object.keys(history).sort(), ['from', 'points', 'step', 'to']);
    fits(history.points, HISTORY_POINT_SCHEMA, 'history.points');
    fits((await get('/events')).events, CHANGE_EVENT_SCHEMA, 'events');
  });

  it('/ledger/statements, /admission/refusals and POST /verify', async () => {
    const answer = await get(`/ledger/statements?digest=${trustedDigest}`);
    fits([answer], STATEMENTS_ANSWER_SCHEMA, 'statements answer');
    fits(answer.statements, LEDGER_STATEMENT_SCHEMA, 'statements');
    assert.equal(answer.statements[0].attributes['ci.job'], '7');
    const refusals = await get('/admission/refusals');
    assert.deepEqual(Object.keys(refusals).sort(), ['node', 'refusals']);
    fits(refusals.refusals, ADMISSION_REFUSAL_SCHEMA, 'refusals');
    const verified = await agent.post(`/api/${API_VERSION}/verify`, { all: true }, TOKEN);
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.deepEqual(Object.keys(verified.body).sort(), ['containers', 'unreachable']);
    fits(verified.body.containers, CONTAINER_RESULT_SCHEMA, 'verify.containers');
    fits(verified.body.unreachable, UNVERIFIED_NODE_SCHEMA, 'verify.unreachable');
  });
});
