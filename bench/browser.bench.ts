// Browser benchmark: the built plugin in headless Chromium, along Grafana's path (the stand-in
// of test/browser/server.ts calls the backend executable over gRPC), against a GENERATED fleet
// API of BENCH_NODES (1,000) nodes × BENCH_CONTAINERS (50) containers (test/browser/generated-fleet.ts).
// Prints, as medians over BENCH_RUNS (5) runs:
//  - the trust-map panel's render time (render call → tiles painted): a tile per node from the
//    summary query, and a tile per container (50,000, grouped by node) from the containers query;
//  - the query time through /api/ds/query (backend + Arrow + JSON frames) that feeds it;
//  - the Fleet page's time to its node list and its grouped container list.
// Target: panel render < 1 s. Asserts nothing.
//
//   npm run bench:browser
//   BENCH_NODES=200 BENCH_RUNS=3 node --import tsx bench/browser.bench.ts

/* eslint-disable @typescript-eslint/no-explicit-any -- the page code reads the untyped objects the host page installs on window, as the browser test does */
import { chromium, type Page } from 'playwright-core';
import { REPO } from '../test/integration/harness/cli';
import { startBackend } from '../test/integration/harness/grafana-backend';
import { APP_ID, provisionedDataSource, startHarness } from '../test/browser/server';
import { startGeneratedFleet } from '../test/browser/generated-fleet';

const NODES = Number(process.env.BENCH_NODES ?? 1000);
const PER_NODE = Number(process.env.BENCH_CONTAINERS ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PLUGIN = `/public/plugins/${APP_ID}`;
const UID = 'imagetrust';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number) => `${x.toFixed(0)} ms`;

/** Resolves on the frame after every selector matches (plain JS: tsx would name arrow functions). */
const UNTIL_PAINTED = `window.untilPainted = function (selectors) {
  return new Promise(function (resolve) {
    (function poll() {
      var all = selectors.every(function (s) { return document.querySelector(s); });
      requestAnimationFrame(all ? function () { resolve(); } : poll);
    })();
  });
};`;

async function preparePage(page: Page): Promise<void> {
  await page.addScriptTag({ content: UNTIL_PAINTED });
  await page.evaluate(
    async ({ plugin, uid }) => {
      const w = window as any;
      w.imagetrustHost.boot();
      const mod = await w.loadPlugin(`${plugin}/datasource/module.js`);
      const ds = new mod.plugin.DataSourceClass({
        id: 1,
        uid,
        type: 'imagetrust-fleet-datasource',
        name: uid,
        access: 'proxy',
        jsonData: {},
        meta: { id: 'imagetrust-fleet-datasource', info: {} },
        readOnly: false,
      });
      w.imagetrustHost.registerDataSource(uid, ds);
      w.ds = ds;
      w.panelModule = await w.loadPlugin(`${plugin}/panel/module.js`);
      w.appModule = await w.loadPlugin(`${plugin}/module.js`);
    },
    { plugin: PLUGIN, uid: UID },
  );
}

/** One panel render: query through the backend, then render and wait for painted tiles. */
async function panelRun(
  page: Page,
  queryType: string,
  tileBy: string,
): Promise<{ queryMs: number; renderMs: number; tiles: string }> {
  return page.evaluate(
    async ({ queryType, tileBy }) => {
      const w = window as any;
      w.benchRoot?.unmount();
      const now = Date.now();
      const range = w.imagetrustHost.range(now - 3_600_000, now);
      const q0 = performance.now();
      const res = await w.imagetrustHost.modules.rxjs.lastValueFrom(
        w.ds.query({
          targets: [{ refId: 'A', queryType }],
          range,
          scopedVars: {},
          intervalMs: 60_000,
          maxDataPoints: 500,
        }),
      );
      const queryMs = performance.now() - q0;
      if (res.errors?.length) throw new Error(JSON.stringify(res.errors));
      const props = w.imagetrustHost.panelProps(
        res.data,
        range,
        { tileBy, showCounts: true, minTileWidth: 180, showToolbar: true, groupByNode: true },
        { width: 1240, height: 700 },
      );
      const r0 = performance.now();
      w.benchRoot = w.imagetrustHost.render(
        w.imagetrustHost.createElement(w.panelModule.plugin.panel, props),
        {
          mode: 'dark',
        },
      );
      await w.untilPainted(['[data-testid="data-testid imagetrust-tile"]']);
      const renderMs = performance.now() - r0;
      const tiles =
        document.querySelector('[data-testid="data-testid imagetrust-filter-count"]')?.textContent ?? '';
      return { queryMs, renderMs, tiles };
    },
    { queryType, tileBy },
  );
}

/** The Fleet page: render → its node list and its grouped containers are both drawn. */
async function fleetRun(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const w = window as any;
    w.benchRoot?.unmount();
    const t0 = performance.now();
    w.benchRoot = w.imagetrustHost.render(
      w.imagetrustHost.createElement(w.appModule.plugin.root, {
        meta: { id: 'imagetrust-fleet-app', jsonData: { datasourceUid: 'imagetrust' }, enabled: true },
        basename: '/a/imagetrust-fleet-app',
        query: {},
        path: '/a/imagetrust-fleet-app/fleet',
        onNavChanged: w.imagetrustHost.noop,
      }),
      { mode: 'dark', path: '/a/imagetrust-fleet-app/fleet', appBase: '/a/imagetrust-fleet-app' },
    );
    await w.untilPainted([
      '[data-testid="data-testid imagetrust-fleet-nodes"] [data-testid="data-testid imagetrust-row"]',
      '[data-testid="data-testid imagetrust-offenders"] [data-testid="data-testid imagetrust-row"]',
    ]);
    return performance.now() - t0;
  });
}

async function main(): Promise<void> {
  const fleet = await startGeneratedFleet(NODES, PER_NODE);
  const backend = await startBackend();
  const datasource = provisionedDataSource(REPO, UID, { IMAGETRUST_TOKEN: 'bench-token' });
  datasource.jsonData.url = fleet.url;
  const harness = await startHarness({ repo: REPO, datasource, backend });
  const browser = await chromium.launch({
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
  try {
    const fresh = async (): Promise<Page> => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.on('crash', () => console.log('(the page crashed)'));
      await page.goto(`${harness.url}/`);
      await preparePage(page);
      return page;
    };
    console.log(
      `browser bench: ${NODES} nodes × ${PER_NODE} containers (generated fleet API), ${RUNS} runs, Chromium headless`,
    );
    console.log('');
    console.log('| what | query (backend → JSON frames) | render (median) | shown |');
    console.log('|---|---|---|---|');
    const fleetPage = await fresh();
    const fleetMs: number[] = [];
    for (let i = 0; i < RUNS; i++) fleetMs.push(await fleetRun(fleetPage));
    console.log(
      `| Fleet page: every node + the containers not trusted, grouped by node | (resources, included) | ${ms(median(fleetMs))} | ${NODES.toLocaleString('en')} nodes |`,
    );
    await fleetPage.close();
    for (const [label, queryType, tileBy] of [
      ['trust map, a tile per node', 'summary', 'node'],
      ['trust map, a tile per container, grouped by node', 'containers', 'container'],
    ] as const) {
      const page = await fresh();
      const runs: { queryMs: number; renderMs: number; tiles: string }[] = [];
      try {
        for (let i = 0; i < RUNS; i++) runs.push(await panelRun(page, queryType, tileBy));
        console.log(
          `| ${label} | ${ms(median(runs.map((r) => r.queryMs)))} | ${ms(median(runs.map((r) => r.renderMs)))} (target < 1 s) | ${runs[0]?.tiles.split(' · ')[0]} |`,
        );
      } catch (err) {
        console.log(`| ${label} | failed: ${(err as Error).message.split('\n')[0]?.slice(0, 240)} | | |`);
      } finally {
        await page.close().catch(() => undefined);
      }
    }
  } finally {
    await browser.close();
    await harness.close();
    await backend.stop();
    await fleet.close();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
