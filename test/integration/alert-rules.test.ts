// The alert rules as shipped: promtool checks and unit-tests the Prometheus rules; the
// Grafana-provisioned rules parse and refer only to data sources that provisioning defines.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from './harness/cli';
import { run } from './harness/process';

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
