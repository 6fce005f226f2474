// The built plugin in a real browser, loaded the way Grafana loads it (AMD modules from
// /public/plugins/<id>/ with the shared packages supplied as externals), along the path
// Grafana takes: the page's /api/ds/query, health and resource calls are answered by a
// Grafana stand-in that calls the backend executable over gRPC with the provisioned settings,
// against a real agent with a real engine and containers behind it. Renders the panel and the
// app's pages in light and dark, and once more at fleet scale (1,000 nodes × 50 containers,
// from a generated fleet API: test/browser/generated-fleet.ts), and saves screenshots
// (IMAGETRUST_SCREENSHOTS names the folder; test-results/screenshots by default).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO, cliFor } from './harness/cli';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { startAgentProcess, type AgentProcess } from './harness/agent';
import { startBackend, type BackendProcess } from './harness/grafana-backend';
import { APP_ID, provisionedDataSource, startHarness, type HarnessServer } from '../browser/server';
import { startGeneratedFleet, type GeneratedFleet } from '../browser/generated-fleet';

const TOKEN = 'browser-test-token-0123456789';
const SHOTS = process.env.IMAGETRUST_SCREENSHOTS ?? join(REPO, 'test-results', 'screenshots');
const PLUGIN = `/public/plugins/${APP_ID}`;

let work: string;
let engine: Engine;
let agent: AgentProcess;
let harness: HarnessServer;
let backend: BackendProcess;
let fleet: GeneratedFleet;
let scale: HarnessServer;
let browser: Browser;
/** The data source the generated fleet stands behind (its own uid: its own backend instance). */
const SCALE_UID = 'imagetrust-scale';

before(async () => {
  work = mkdtempSync('/tmp/itd-browser-');
  mkdirSync(SHOTS, { recursive: true });
  engine = await startEngine('browser');
  const home = mkdtempSync(join(work, 'home-'));
  const cli = cliFor(home, engine.host);
  const keyId = (await cli(['keygen'])).stdout.trim();
  for (const [tag, verb] of [
    ['local/api:2', 'sign'],
    ['local/web:1', 'sign'],
    ['local/miner:1', 'untrust'],
    ['local/legacy:1', 'unsupport'],
    ['local/adhoc:1', ''],
  ] as const) {
    await importImage(engine, tag, tag);
    if (verb) assert.equal((await cli([verb, `docker://${tag}`])).code, 0);
  }
  for (const [name, tag] of [
    ['api', 'local/api:2'],
    ['web-1', 'local/web:1'],
    ['web-2', 'local/web:1'],
    ['miner', 'local/miner:1'],
    ['legacy', 'local/legacy:1'],
    ['adhoc', 'local/adhoc:1'],
  ]) {
    await runContainer(engine, name as string, tag as string);
  }
  agent = await startAgentProcess({
    work,
    dockerHost: engine.host,
    home,
    args: ['--node', 'node-a', '--signer', keyId, '--token', TOKEN],
  });
  const datasource = provisionedDataSource(REPO, 'imagetrust', { IMAGETRUST_TOKEN: TOKEN });
  datasource.jsonData.url = agent.url; // the provisioned http://agent:9581, as this machine reaches it
  backend = await startBackend();
  harness = await startHarness({ repo: REPO, datasource, backend });
  fleet = await startGeneratedFleet(1000, 50);
  scale = await startHarness({
    repo: REPO,
    datasource: { ...datasource, uid: SCALE_UID, jsonData: { url: fleet.url } },
    backend,
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
  await harness?.close();
  await scale?.close();
  await fleet?.close();
  await backend?.stop();
  await agent?.stop();
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function openPage(base: HarnessServer = harness): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // Grafana's own fonts (/public/fonts) belong to the Grafana server, not to the plugin.
  // An icon whose component unmounted before it arrived is aborted, not failed.
  page.on('requestfailed', (req) => {
    if (
      new URL(req.url()).pathname.startsWith('/public/fonts/') ||
      req.failure()?.errorText === 'net::ERR_ABORTED'
    )
      return;
    errors.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });
  await page.goto(`${base.url}/`);
  await page.evaluate(() => (window as any).imagetrustHost.boot());
  return { page, errors };
}

/**
 * Loads the data source module, checks its class and registers an instance as Grafana's
 * DataSourceSrv would (the browser gets the settings without secureJsonData).
 */
async function withDataSource(page: Page, uid = 'imagetrust'): Promise<void> {
  await page.evaluate(
    async ({ plugin, uid }) => {
      const w = window as any;
      const mod = await w.loadPlugin(`${plugin}/datasource/module.js`);
      const data = w.imagetrustHost.modules['@grafana/data'];
      const runtime = w.imagetrustHost.modules['@grafana/runtime'];
      if (!(mod.plugin instanceof data.DataSourcePlugin))
        throw new Error('datasource/module.js does not export a DataSourcePlugin');
      const ds = new mod.plugin.DataSourceClass({
        id: 1,
        uid,
        type: 'imagetrust-fleet-datasource',
        name: uid,
        access: 'proxy',
        jsonData: { url: 'http://agent:9581' },
        meta: { id: 'imagetrust-fleet-datasource', info: {}, backend: true, alerting: true },
        readOnly: false,
      });
      if (!(ds instanceof runtime.DataSourceWithBackend))
        throw new Error('the data source is not DataSourceWithBackend');
      w.imagetrustHost.registerDataSource(uid, ds);
      w.ds = ds;
      w.runQuery = (targets: unknown[], range: unknown) =>
        w.imagetrustHost.modules.rxjs.lastValueFrom(
          ds.query({
            targets,
            range,
            scopedVars: {},
            intervalMs: 60_000,
            maxDataPoints: 500,
            requestId: 'test',
          }),
        );
    },
    { plugin: PLUGIN, uid },
  );
}

/** Renders the app's root page at `path`, with the given app settings. */
function renderApp(page: Page, mode: 'light' | 'dark', path: string, datasourceUid = 'imagetrust') {
  return page.evaluate(
    async ({ plugin, mode, path, datasourceUid }) => {
      const w = window as any;
      const app = await w.loadPlugin(`${plugin}/module.js`);
      const Root = app.plugin.root;
      const meta = { id: 'imagetrust-fleet-app', jsonData: { datasourceUid }, enabled: true };
      w.appRoot?.unmount();
      w.appRoot = w.imagetrustHost.render(
        w.imagetrustHost.createElement(Root, {
          meta,
          basename: '/a/imagetrust-fleet-app',
          query: {},
          path,
          onNavChanged: w.imagetrustHost.noop,
        }),
        { mode, path, appBase: '/a/imagetrust-fleet-app' },
      );
    },
    { plugin: PLUGIN, mode, path, datasourceUid },
  );
}

const TILE = '[data-testid="data-testid imagetrust-tile"]';

describe('the built plugin in Chromium against a real agent', () => {
  it('loads every module.js as AMD with only Grafana-provided externals', async () => {
    const { page, errors } = await openPage();
    const kinds = await page.evaluate(async (plugin) => {
      const w = window as any;
      const data = w.imagetrustHost.modules['@grafana/data'];
      const app = await w.loadPlugin(`${plugin}/module.js`);
      const ds = await w.loadPlugin(`${plugin}/datasource/module.js`);
      const panel = await w.loadPlugin(`${plugin}/panel/module.js`);
      return {
        app: app.plugin instanceof data.AppPlugin,
        datasource:
          ds.plugin instanceof data.DataSourcePlugin &&
          typeof ds.plugin.components.QueryEditor === 'function',
        panel: panel.plugin instanceof data.PanelPlugin,
        missing: w.missingExternals,
      };
    }, PLUGIN);
    assert.deepEqual(kinds, { app: true, datasource: true, panel: true, missing: [] });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('tests the data source through CheckHealth and queries through /api/ds/query; the token stays server-side', async () => {
    const { page, errors } = await openPage();
    await withDataSource(page);
    const seen = harness.requests.length;
    const result = await page.evaluate(async () => {
      const w = window as any;
      const verdict = await w.ds.testDatasource();
      const now = Date.now();
      const res = await w.runQuery(
        [
          { refId: 'A', queryType: 'summary' },
          { refId: 'B', queryType: 'containers', status: 'untrusted' },
          { refId: 'C', queryType: 'counts' },
          { refId: 'D', queryType: 'nodeUp' },
        ],
        w.imagetrustHost.range(now - 3_600_000, now),
      );
      const frames = res.data.map((f: any) => ({
        refId: f.refId,
        name: f.name,
        length: f.length,
        type: f.meta?.type,
        fields: f.fields.map((x: any) => ({
          name: x.name,
          type: x.type,
          labels: x.labels,
          values: [...x.values],
        })),
      }));
      return {
        verdict,
        errors: res.errors ?? [],
        frames,
        pageSawToken: document.documentElement.innerHTML.includes('browser-test-token'),
      };
    });
    assert.equal(result.verdict.status, 'success', result.verdict.message);
    assert.deepEqual(result.errors, []);
    const byRef = (refId: string) => result.frames.filter((f: any) => f.refId === refId);
    assert.deepEqual(
      byRef('A').map((f: any) => [f.name, f.length]),
      [['summary', 1]],
    );
    assert.deepEqual(byRef('B')[0].fields.find((x: any) => x.name === 'name').values, ['miner']);
    // Alert-shaped: numeric frames with node (and status) labels, one number per series.
    const numbers = (refId: string) =>
      byRef(refId).flatMap((f: any) =>
        f.fields
          .filter((x: any) => x.type === 'number')
          .map((x: any) => ({ type: f.type, labels: x.labels, value: x.values[0] })),
      );
    const counts = numbers('C');
    assert.ok(counts.length > 0 && counts.every((n: any) => n.type === 'numeric-multi'));
    assert.equal(
      counts.find((n: any) => n.labels?.node === 'node-a' && n.labels?.status === 'untrusted')?.value,
      1,
    );
    assert.deepEqual(
      numbers('D').map((n: any) => [n.labels?.node, n.value]),
      [['node-a', 1]],
    );
    assert.equal(result.pageSawToken, false);
    const mine = harness.requests.slice(seen);
    assert.deepEqual([...new Set(mine.map((r) => `${r.method} ${r.path.split('?')[0]}`))].sort(), [
      'GET /api/datasources/uid/imagetrust/health',
      'POST /api/ds/query',
    ]);
    assert.ok(
      harness.requests.every((r) => r.authorization === undefined),
      'the browser sent an Authorization header',
    );
    assert.deepEqual(errors, []);
    await page.close();
  });

  for (const mode of ['light', 'dark'] as const) {
    it(`renders the trust-map panel with the backend's frames (${mode})`, async () => {
      const { page, errors } = await openPage();
      await withDataSource(page);
      await page.evaluate(
        async ({ plugin, mode }) => {
          const w = window as any;
          const panelModule = await w.loadPlugin(`${plugin}/panel/module.js`);
          const now = Date.now();
          const range = w.imagetrustHost.range(now - 3_600_000, now);
          const res = await w.runQuery([{ refId: 'A', queryType: 'containers' }], range);
          const Panel = panelModule.plugin.panel;
          const props = w.imagetrustHost.panelProps(
            res.data,
            range,
            {
              tileBy: 'container',
              showCounts: true,
              minTileWidth: 200,
              showToolbar: true,
              groupByNode: true,
            },
            { width: 1200, height: 360 },
          );
          w.imagetrustHost.render(w.imagetrustHost.createElement(Panel, props), { mode });
        },
        { plugin: PLUGIN, mode },
      );
      const tiles = page.locator(TILE);
      await tiles.first().waitFor();
      assert.equal(await tiles.count(), 6);
      assert.equal(await tiles.first().getAttribute('data-status'), 'untrusted');
      await page.screenshot({
        path: join(SHOTS, `panel-${mode}.png`),
        fullPage: false,
        clip: { x: 0, y: 0, width: 1280, height: 420 },
      });
      assert.deepEqual(errors, []);
      await page.close();
    });

    it(`renders the app's Fleet and Node pages through the backend's resources, and verifies now (${mode})`, async () => {
      const { page, errors } = await openPage();
      await withDataSource(page);
      await renderApp(page, mode, '/a/imagetrust-fleet-app/fleet');
      await page
        .locator('[data-testid="data-testid imagetrust-offenders"]')
        .getByText('miner', { exact: true })
        .waitFor();
      const fleetText = await page.locator('[data-testid="data-testid imagetrust-fleet"]').innerText();
      assert.match(fleetText, /node-a/);
      assert.match(fleetText, /miner/);
      await page.screenshot({ path: join(SHOTS, `fleet-${mode}.png`) });

      await renderApp(page, mode, '/a/imagetrust-fleet-app/node/node-a');
      await page.locator('text=legacy').first().waitFor();
      const verifies = () =>
        harness.requests.filter(
          (r) => r.method === 'POST' && r.path === '/api/datasources/uid/imagetrust/resources/verify',
        ).length;
      const before = verifies();
      await page.locator('[data-testid="data-testid imagetrust-verify-now"]').click();
      await page.locator('button:has-text("Verify now")').waitFor();
      assert.equal(verifies(), before + 1);
      const nodeText = await page.locator('[data-testid="data-testid imagetrust-node"]').innerText();
      for (const name of ['api', 'web-1', 'miner', 'legacy', 'adhoc'])
        assert.match(nodeText, new RegExp(name));
      assert.ok(
        harness.requests.some((r) =>
          r.path.startsWith('/api/datasources/uid/imagetrust/resources/containers?node=node-a'),
        ),
      );
      // An agent without --admission-log has no refusals to show: a 404 is no error on the page.
      assert.ok(harness.resourceLog.includes('admission/refusals 404'), harness.resourceLog.join(', '));
      assert.equal(await page.getByText('no admission log configured').count(), 0);
      await page.screenshot({ path: join(SHOTS, `node-${mode}.png`) });
      assert.deepEqual(errors, []);
      await page.close();
    });
  }

  it('says so when the data source the app settings name does not exist', async () => {
    const { page, errors } = await openPage();
    await withDataSource(page);
    await renderApp(page, 'light', '/a/imagetrust-fleet-app/fleet', 'no-such-uid');
    const alert = page.locator('[data-testid="data-testid imagetrust-missing-datasource"]').first();
    await alert.waitFor();
    assert.match(await alert.innerText(), /"no-such-uid" named in the app's settings does not exist/);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('stays usable at fleet scale: 1,000 nodes × 50 containers through the same backend', async () => {
    const { page, errors } = await openPage(scale);
    await withDataSource(page, SCALE_UID);
    await page.evaluate(
      async ({ plugin }) => {
        const w = window as any;
        const panelModule = await w.loadPlugin(`${plugin}/panel/module.js`);
        const now = Date.now();
        const range = w.imagetrustHost.range(now - 3_600_000, now);
        const res = await w.runQuery([{ refId: 'A', queryType: 'summary' }], range);
        const props = w.imagetrustHost.panelProps(
          res.data,
          range,
          { tileBy: 'node', showCounts: true, minTileWidth: 180, showToolbar: true },
          { width: 1240, height: 560 },
        );
        w.imagetrustHost.render(w.imagetrustHost.createElement(panelModule.plugin.panel, props), {
          mode: 'dark',
        });
      },
      { plugin: PLUGIN },
    );
    await page.locator(TILE).first().waitFor();
    const count = page.locator('[data-testid="data-testid imagetrust-filter-count"]');
    assert.match(await count.innerText(), /^1,000 tiles · /);
    const drawn = await page.locator(TILE).count();
    assert.ok(drawn > 10 && drawn < 300, `${drawn} tiles in the DOM of 1,000`);
    // Unreachable first, then untrusted.
    assert.equal(await page.locator(TILE).first().getAttribute('data-status'), 'unreachable');
    await page.screenshot({
      path: join(SHOTS, 'panel-fleet-scale.png'),
      clip: { x: 0, y: 0, width: 1280, height: 600 },
    });
    await page.locator('[data-testid="data-testid imagetrust-filter-search"]').fill('node-012');
    await page.waitForFunction(() =>
      /^10 of 1,000 tiles/.test(
        document.querySelector('[data-testid="data-testid imagetrust-filter-count"]')?.textContent ?? '',
      ),
    );

    await renderApp(page, 'dark', '/a/imagetrust-fleet-app/fleet', SCALE_UID);
    const nodes = page.locator('[data-testid="data-testid imagetrust-fleet-nodes"]');
    await nodes.locator('text=1,000 nodes').first().waitFor();
    const offenders = page.locator('[data-testid="data-testid imagetrust-offenders"]');
    const notTrusted = fleet.containers.filter((c) => c.status !== 'trusted').length;
    await offenders.locator(`text=${notTrusted.toLocaleString('en')} containers`).waitFor();
    const totals = await page.locator('[data-testid="data-testid imagetrust-totals"]').innerText();
    assert.match(totals, /1,000\s*nodes/);
    assert.match(totals, /50,000\s*containers/);
    const rows = await page.locator('[data-testid="data-testid imagetrust-row"]').count();
    assert.ok(rows > 5 && rows < 200, `${rows} rows in the DOM`);
    await page.screenshot({ path: join(SHOTS, 'fleet-scale.png') });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
