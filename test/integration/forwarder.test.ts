// The data forwarder against real servers: InfluxDB 1.x receiving the agent's line protocol
// (escaping, an outage mid-stream), and Prometheus scraping a running agent whose alert rule
// fires for an untrusted container and clears when it stops.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { InfluxForwarder } from '../../pkg/agent/influx';
import { METRICS } from '../../pkg/agent/metrics';
import type { ContainerResult } from '../../pkg/agent/types';
import { REPO, cliFor } from './harness/cli';
import { importImage, runContainer, startEngine, type Engine } from './harness/docker';
import { startAgentProcess, type AgentProcess } from './harness/agent';
import { startInflux, type Influx } from './harness/influx';
import { startPrometheus, type Prometheus } from './harness/prometheus';
import { waitFor } from './harness/process';

const logger = pino({ level: 'silent' });
let influx: Influx;

function result(
  name: string,
  status: ContainerResult['status'] = 'untrusted',
  extra: Partial<ContainerResult> = {},
): ContainerResult {
  return {
    node: 'node-1',
    id: `${name.length}`.padEnd(64, 'f'),
    name,
    image: 'registry.example/app:1',
    digest: `sha256:${'a'.repeat(64)}`,
    status,
    statusCode: { trusted: 0, untrusted: 1, unknown: 2, unsupported: 3 }[status],
    level: 0,
    verifiedAt: new Date().toISOString(),
    drift: false,
    state: 'running',
    labels: {},
    ...extra,
  };
}

async function createDb(name: string): Promise<void> {
  await influx.query(`CREATE DATABASE "${name}"`);
}

async function rows(db: string, q: string): Promise<{ columns: string[]; values: unknown[][] }[]> {
  const doc = await influx.query(q, db);
  return (doc.results?.[0]?.series ?? []) as { columns: string[]; values: unknown[][] }[];
}

before(async () => {
  influx = await startInflux();
});

after(async () => {
  await influx?.stop();
});

describe('InfluxDB forwarder against a real influxd', () => {
  it('escapes every tag and field so names come back exactly', async () => {
    await createDb('escaping');
    const names = [
      'with space',
      'com,ma',
      'equals=sign',
      'quote"d',
      'back\\slash',
      'ünïcødé ✓ 日本',
      'trailing\\',
      "it's",
      'a=b,c d"e\\f',
    ];
    const fw = new InfluxForwarder({ target: { version: 1, url: influx.url, db: 'escaping' }, logger });
    const t = Date.now();
    fw.push(
      names.map((n) => result(n, 'untrusted', { reason: `why "${n}" \\ failed`, image: `img ${n}` })),
      t,
    );
    fw.push([result('new\nline')], t);
    await fw.flush();
    assert.deepEqual(fw.stats(), { written: (names.length + 1) * 2, dropped: 0, buffered: 0, failures: 0 });

    const tagRows = await rows(
      'escaping',
      'SHOW TAG VALUES FROM "vcn_verification" WITH KEY = "container_name"',
    );
    const stored = new Set((tagRows[0]?.values ?? []).map((v) => v[1]));
    // Only a backslash that line protocol cannot carry (at the end, or before , = or space) changes.
    const expected = (n: string) => n.replace(/\\+(?=$|[,= ])/g, (m) => '\u29f5'.repeat(m.length));
    assert.equal(expected('trailing\\'), 'trailing\u29f5');
    for (const n of names) {
      assert.ok(
        stored.has(expected(n)),
        `container_name ${JSON.stringify(n)} came back as one of ${JSON.stringify([...stored])}`,
      );
    }
    assert.ok(
      stored.has('new line'),
      'a newline, which line protocol cannot carry in a tag, becomes a space',
    );

    const vcn = await rows(
      'escaping',
      `SELECT "failed", "status", "level", "hostname" FROM "vcn_verification" WHERE "container_name" = 'quote"d'`,
    );
    assert.deepEqual(vcn[0]?.values[0]?.slice(1), [1, 1, 0, 'node-1']);
    const rich = await rows(
      'escaping',
      `SELECT "reason", "digest", "trusted" FROM "imagetrust_container" WHERE "container_name" = 'a=b,c d"e\\\\f'`,
    );
    assert.deepEqual(rich[0]?.values[0]?.slice(1), [
      'why "a=b,c d"e\\f" \\ failed',
      `sha256:${'a'.repeat(64)}`,
      0,
    ]);
  });

  it('buffers while InfluxDB is down and delivers every point once, in order', async () => {
    await createDb('outage');
    const fw = new InfluxForwarder({
      target: { version: 1, url: influx.url, db: 'outage' },
      logger,
      flushIntervalMs: 50,
      timeoutMs: 1000,
    });
    fw.start();
    const t0 = Date.now() - 60_000;
    const pass = (i: number) => fw.push([result('c0', 'trusted'), result('c1', 'untrusted')], t0 + i * 1000);
    try {
      for (let i = 0; i < 5; i++) pass(i);
      await waitFor('first points delivered', async () => (fw.stats().written === 20 ? true : undefined));
      await influx.halt();
      for (let i = 5; i < 15; i++) {
        pass(i);
        await new Promise((r) => setTimeout(r, 30));
      }
      await waitFor('a failed write', async () => (fw.stats().failures > 0 ? true : undefined));
      assert.equal(fw.stats().buffered, 40);
      await influx.resume();
      await waitFor('buffer drained', async () => (fw.stats().buffered === 0 ? true : undefined), 60_000);
    } finally {
      await fw.stop();
    }
    assert.equal(fw.stats().written, 60);
    assert.equal(fw.stats().dropped, 0);
    for (const c of ['c0', 'c1']) {
      const got = await rows(
        'outage',
        `SELECT "failed" FROM "vcn_verification" WHERE "container_name" = '${c}'`,
      );
      const times = (got[0]?.values ?? []).map((v) => v[0] as number);
      assert.deepEqual(
        times,
        Array.from({ length: 15 }, (_, i) => t0 + i * 1000),
        c,
      );
    }
  });

  it('drops the oldest points past its bound, and counts them', async () => {
    await createDb('bounded');
    const fw = new InfluxForwarder({
      target: { version: 1, url: 'http://127.0.0.1:9', db: 'bounded' },
      logger,
      maxBufferedPoints: 10,
    });
    for (let i = 0; i < 8; i++) fw.push([result('c', 'trusted')], 1000 + i);
    assert.deepEqual(fw.stats(), { written: 0, dropped: 6, buffered: 10, failures: 0 });
    await assert.rejects(() => fw.flush());
    assert.equal(fw.stats().buffered, 10);
  });
});

describe('a running agent: Prometheus alerts and InfluxDB points', () => {
  const TOKEN = 'forwarder-test-token-0123456789';
  let engine: Engine;
  let agent: AgentProcess;
  let prometheus: Prometheus;
  let work: string;

  before(async () => {
    work = mkdtempSync('/tmp/itd-fwd-');
    await createDb('imagetrust');
    engine = await startEngine('fwd');
    const home = mkdtempSync(join(work, 'home-'));
    const cli = cliFor(home, engine.host);
    const keyId = (await cli(['keygen'])).stdout.trim();
    await importImage(engine, 'local/bad:1', 'fwd-bad');
    await importImage(engine, 'local/good:1', 'fwd-good');
    assert.equal((await cli(['untrust', 'docker://local/bad:1'])).code, 0);
    assert.equal((await cli(['sign', 'docker://local/good:1'])).code, 0);
    await runContainer(engine, 'good', 'local/good:1');
    await runContainer(engine, 'bad', 'local/bad:1');
    agent = await startAgentProcess({
      work,
      dockerHost: engine.host,
      home,
      args: [
        '--node',
        'fwd-node',
        '--signer',
        keyId,
        '--token',
        TOKEN,
        '--resync',
        '2',
        '--influx-url',
        influx.url,
        '--influx-db',
        'imagetrust',
      ],
    });
    prometheus = await startPrometheus({
      targets: [`127.0.0.1:${agent.port}`],
      ruleFiles: [join(REPO, 'provisioning', 'prometheus', 'imagetrust-rules.yml')],
      bearerToken: TOKEN,
    });
  });

  after(async () => {
    await Promise.allSettled([prometheus?.stop(), agent?.stop()]);
    await engine?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('exposes every metric, behind the token', async () => {
    assert.equal((await fetch(`${agent.url}/metrics`)).status, 401);
    const text = await (
      await fetch(`${agent.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    for (const name of Object.values(METRICS)) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    assert.match(
      text,
      /imagetrust_container_trust\{node="fwd-node",container_name="good",image="local\/good:1",digest="sha256:[0-9a-f]{64}",status="trusted"\} 1/,
    );
    assert.doesNotMatch(text, /container_id/);
  });

  it('fires the untrusted-container rule in Prometheus and clears it when the container stops', async () => {
    const firing = await waitFor(
      'ImagetrustUntrustedContainer firing',
      async () => {
        const doc = await prometheus.api('/api/v1/alerts');
        return (doc.data.alerts as { labels: Record<string, string>; state: string }[]).find(
          (a) => a.labels.alertname === 'ImagetrustUntrustedContainer' && a.state === 'firing',
        );
      },
      60_000,
      250,
    );
    assert.equal(firing.labels.node, 'fwd-node');
    assert.equal(firing.labels.image, 'local/bad:1');
    await engine.docker(['rm', '-f', 'bad']);
    await waitFor(
      'ImagetrustUntrustedContainer cleared',
      async () => {
        const doc = await prometheus.api('/api/v1/alerts');
        const still = (doc.data.alerts as { labels: Record<string, string> }[]).some(
          (a) => a.labels.alertname === 'ImagetrustUntrustedContainer',
        );
        return still ? undefined : true;
      },
      60_000,
      250,
    );
  });

  it("writes the original setup's vcn_verification points to InfluxDB", async () => {
    const got = await waitFor('points in influx', async () => {
      const r = await rows(
        'imagetrust',
        `SELECT last("failed") FROM "vcn_verification" WHERE "hostname" = 'fwd-node' GROUP BY "container_name"`,
      );
      return r.length >= 2 ? r : undefined;
    });
    const byName = Object.fromEntries(
      got.map((s) => [
        (s as unknown as { tags: { container_name: string } }).tags.container_name,
        s.values[0]?.[1],
      ]),
    );
    assert.equal(byName.good, 0);
    assert.equal(byName.bad, 1, JSON.stringify(byName));
  });
});
