// The built plugin in a real browser, loaded the way Grafana loads it (AMD modules from
// /public/plugins/<id>/ with the shared packages supplied as externals), against a real agent
// with a real engine and containers behind it, through a data proxy that applies the
// plugin.json route. Renders the panel and the app's pages in light and dark and saves
// screenshots (IMAGETRUST_SCREENSHOTS names the folder; test-results/screenshots by default).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO, cliFor } from './harness/cli';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { startAgentProcess, type AgentProcess } from './harness/agent';
import { APP_ID, provisionedDataSource, startHarness, type HarnessServer } from '../browser/server';

const TOKEN = 'browser-test-token-0123456789';
const SHOTS = process.env.IMAGETRUST_SCREENSHOTS ?? join(REPO, 'test-results', 'screenshots');
const PLUGIN = `/public/plugins/${APP_ID}`;

let work: string;
let engine: Engine;
let agent: AgentProcess;
let harness: HarnessServer;
let browser: Browser;

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
  harness = await startHarness({ repo: REPO, datasource });
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
  await agent?.stop();
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function openPage(): Promise<{ page: Page; errors: string[] }> {
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
  await page.goto(`${harness.url}/`);
  await page.evaluate(() => (window as any).imagetrustHost.boot());
  return { page, errors };
}

/** Loads the data source module, checks its class and registers an instance with the provisioned settings. */
async function withDataSource(page: Page): Promise<void> {
  await page.evaluate(async (plugin) => {
    const w = window as any;
    const mod = await w.loadPlugin(`${plugin}/datasource/module.js`);
    const data = w.imagetrustHost.modules['@grafana/data'];
    if (!(mod.plugin instanceof data.DataSourcePlugin))
      throw new Error('datasource/module.js does not export a DataSourcePlugin');
    const ds = new mod.plugin.DataSourceClass({
      id: 1,
      uid: 'imagetrust',
      type: 'imagetrust-fleet-datasource',
      name: 'imagetrust',
      url: '/api/datasources/proxy/uid/imagetrust',
      access: 'proxy',
      jsonData: { url: 'http://agent:9581' },
      meta: { id: 'imagetrust-fleet-datasource', info: {} },
      readOnly: false,
    });
    w.imagetrustHost.registerDataSource('imagetrust', ds);
    w.ds = ds;
  }, PLUGIN);
}

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

  it('tests the data source and queries the agent through the data proxy, token added on the server side', async () => {
    const { page, errors } = await openPage();
    await withDataSource(page);
    const result = await page.evaluate(async () => {
      const w = window as any;
      const verdict = await w.ds.testDatasource();
      const now = Date.now();
      const res = await w.ds.query({
        targets: [
          { refId: 'A', queryType: 'summary' },
          { refId: 'B', queryType: 'containers', status: 'untrusted' },
        ],
        range: w.imagetrustHost.range(now - 3_600_000, now),
        scopedVars: {},
        intervalMs: 60_000,
      });
      return {
        verdict,
        frames: res.data.map((f: any) => ({
          name: f.name,
          length: f.length,
          fields: f.fields.map((x: any) => x.name),
        })),
        untrusted: res.data[1].fields.find((x: any) => x.name === 'name').values,
        pageSawToken: document.documentElement.innerHTML.includes('browser-test-token'),
      };
    });
    assert.equal(result.verdict.status, 'success', result.verdict.message);
    assert.equal(result.frames[0].name, 'summary');
    assert.equal(result.frames[0].length, 1);
    assert.deepEqual(result.untrusted, ['miner']);
    assert.equal(result.pageSawToken, false);
    assert.ok(harness.requests.length > 0);
    assert.ok(
      harness.requests.every((r) => r.authorization === undefined),
      'the browser sent an Authorization header',
    );
    assert.deepEqual(errors, []);
    await page.close();
  });

  for (const mode of ['light', 'dark'] as const) {
    it(`renders the trust-map panel with the agent's frames (${mode})`, async () => {
      const { page, errors } = await openPage();
      await withDataSource(page);
      await page.evaluate(
        async ({ plugin, mode }) => {
          const w = window as any;
          const panelModule = await w.loadPlugin(`${plugin}/panel/module.js`);
          const now = Date.now();
          const range = w.imagetrustHost.range(now - 3_600_000, now);
          const res = await w.ds.query({
            targets: [{ refId: 'A', queryType: 'containers' }],
            range,
            scopedVars: {},
            intervalMs: 60_000,
          });
          const Panel = panelModule.plugin.panel;
          const props = w.imagetrustHost.panelProps(
            res.data,
            range,
            { tileBy: 'container', showCounts: true, minTileWidth: 200 },
            { width: 1200, height: 360 },
          );
          w.imagetrustHost.render(w.imagetrustHost.createElement(Panel, props), { mode });
        },
        { plugin: PLUGIN, mode },
      );
      const tiles = page.locator('[data-testid="data-testid imagetrust-tile"]');
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

    it(`renders the app's Fleet and Node pages, and verifies now (${mode})`, async () => {
      const { page, errors } = await openPage();
      await withDataSource(page);
      const renderApp = (path: string) =>
        page.evaluate(
          async ({ plugin, mode, path }) => {
            const w = window as any;
            const app = await w.loadPlugin(`${plugin}/module.js`);
            const Root = app.plugin.root;
            const meta = {
              id: 'imagetrust-fleet-app',
              jsonData: { datasourceUid: 'imagetrust' },
              enabled: true,
            };
            w.appRoot?.unmount();
            w.appRoot = w.imagetrustHost.render(
              w.imagetrustHost.createElement(Root, {
                meta,
                basename: '/a/imagetrust-fleet-app',
                query: {},
                path,
                onNavChanged: w.imagetrustHost.noop,
              }),
              {
                mode,
                path,
                appBase: '/a/imagetrust-fleet-app',
              },
            );
          },
          { plugin: PLUGIN, mode, path },
        );
      await renderApp('/a/imagetrust-fleet-app/fleet');
      await page.locator('[data-testid="data-testid imagetrust-offenders"]').waitFor();
      const fleetText = await page.locator('[data-testid="data-testid imagetrust-fleet"]').innerText();
      assert.match(fleetText, /node-a/);
      assert.match(fleetText, /miner/);
      await page.screenshot({ path: join(SHOTS, `fleet-${mode}.png`) });

      await renderApp('/a/imagetrust-fleet-app/node/node-a');
      await page.locator('text=legacy').first().waitFor();
      const before = harness.requests.filter((r) => r.path.startsWith('agent/api/v1/verify')).length;
      await page.locator('[data-testid="data-testid imagetrust-verify-now"]').click();
      await page.locator('button:has-text("Verify now")').waitFor();
      assert.equal(
        harness.requests.filter((r) => r.path.startsWith('agent/api/v1/verify')).length,
        before + 1,
      );
      const nodeText = await page.locator('[data-testid="data-testid imagetrust-node"]').innerText();
      for (const name of ['api', 'web-1', 'miner', 'legacy', 'adhoc'])
        assert.match(nodeText, new RegExp(name));
      await page.screenshot({ path: join(SHOTS, `node-${mode}.png`) });
      assert.deepEqual(errors, []);
      await page.close();
    });
  }
});
