// The Grafana plugin's contracts, checked on the built dist/ and on the provisioning files:
// plugin.json fields and ids, nested plugins that resolve, data-proxy routes that refer to real
// settings, AMD modules that leave Grafana's shared packages external, provisioning that refers
// only to what exists, and a docker-compose.yml that docker-compose accepts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from './harness/cli';
import { run } from './harness/process';

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

  it('data-proxy routes refer only to settings the config editor stores', () => {
    const ds = json(join(DIST, 'datasource', 'plugin.json'));
    const types = readFileSync(join(REPO, 'src', 'datasource', 'types.ts'), 'utf8');
    const keysOf = (iface: string) => {
      const body = new RegExp(`interface ${iface}[^{]*\\{([^}]*)\\}`).exec(types)?.[1] ?? '';
      return new Set([...body.matchAll(/^\s+(\w+)\??:/gm)].map((m) => m[1]));
    };
    const jsonKeys = keysOf('ImagetrustOptions');
    const secureKeys = keysOf('ImagetrustSecureOptions');
    const editor = readFileSync(join(REPO, 'src', 'datasource', 'components', 'ConfigEditor.tsx'), 'utf8');
    assert.ok(ds.routes.length > 0);
    for (const route of ds.routes) {
      const templates = [route.url, ...(route.headers ?? []).map((h: { content: string }) => h.content)].join(
        ' ',
      );
      for (const [, where, key] of templates.matchAll(/\{\{\s*\.(JsonData|SecureJsonData)\.(\w+)\s*\}\}/g)) {
        const known = where === 'JsonData' ? jsonKeys : secureKeys;
        assert.ok(
          known.has(key),
          `${route.path} uses ${where}.${key}, which ${where === 'JsonData' ? 'ImagetrustOptions' : 'ImagetrustSecureOptions'} does not declare`,
        );
        assert.match(
          editor,
          new RegExp(`${where === 'JsonData' ? 'jsonData' : 'secureJsonData'}: \\{[^}]*\\b${key}\\b`),
          `the config editor never sets ${key}`,
        );
      }
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
