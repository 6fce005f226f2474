// Query JSON and data source settings as Grafana sends them: parsed into typed values, or a
// typed error that names the field.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertCode } from '../testing/assert-code';
import type { DataQuery, PluginContext } from './protocol';
import { parseQuery } from './query';
import { instanceSettingsOf } from './settings';
import { historyStepMs } from './data';
import { verdictLine } from './health';

const NOW = 1_800_000_000_000;
const DIGEST = `sha256:${'b'.repeat(64)}`;

function dq(json: unknown, extra: Partial<DataQuery> = {}): DataQuery {
  return {
    refId: 'A',
    maxDataPoints: 100,
    intervalMS: 30_000,
    timeRange: { fromEpochMS: NOW - 600_000, toEpochMS: NOW },
    json: Buffer.from(typeof json === 'string' ? json : JSON.stringify(json)),
    queryType: '',
    ...extra,
  };
}

describe('parseQuery', () => {
  it('reads the frontend query model', () => {
    const q = parseQuery(dq({ refId: 'A', queryType: 'containers', node: 'n1', status: 'untrusted' }), NOW);
    assert.deepEqual(q, {
      refId: 'A',
      queryType: 'containers',
      node: 'n1',
      status: 'untrusted',
      from: NOW - 600_000,
      to: NOW,
      intervalMs: 30_000,
    });
  });

  it('prefers DataQuery.queryType and defaults to containers', () => {
    assert.equal(parseQuery(dq({ queryType: 'summary' }, { queryType: 'counts' }), NOW).queryType, 'counts');
    assert.equal(parseQuery(dq({}), NOW).queryType, 'containers');
    assert.equal(parseQuery(dq(''), NOW).queryType, 'containers');
  });

  it('reads version 1 queries', () => {
    const q = parseQuery(dq({ type: 'timeline', nodeFilter: 'n2', statusFilter: 'unknown' }), NOW);
    assert.deepEqual([q.queryType, q.node, q.status], ['history', 'n2', 'unknown']);
  });

  it('treats "all" spellings as no filter and refuses uninterpolated variables', () => {
    assert.equal(parseQuery(dq({ node: '$__all', status: 'All' }), NOW).node, undefined);
    const err = assertCode(() => parseQuery(dq({ node: '$node' }), NOW), 'BAD_REQUEST');
    assert.equal(err.details?.field, 'node');
  });

  it('refuses malformed JSON, non-objects, unknown types, bad fields', () => {
    assertCode(() => parseQuery(dq('{"queryType":'), NOW), 'BAD_REQUEST');
    assertCode(() => parseQuery(dq('[1,2]'), NOW), 'BAD_REQUEST');
    assert.equal(
      assertCode(() => parseQuery(dq({ queryType: 'drop' }), NOW), 'BAD_REQUEST').details?.field,
      'queryType',
    );
    assert.equal(
      assertCode(() => parseQuery(dq({ status: 'fine' }), NOW), 'BAD_REQUEST').details?.field,
      'status',
    );
    assert.equal(assertCode(() => parseQuery(dq({ node: 7 }), NOW), 'BAD_REQUEST').details?.field, 'node');
    assert.equal(
      assertCode(() => parseQuery(dq({ node: 'x'.repeat(254) }), NOW), 'BAD_REQUEST').details?.field,
      'node',
    );
    assert.equal(
      assertCode(() => parseQuery(dq({ step: '5 minutes' }), NOW), 'BAD_REQUEST').details?.field,
      'step',
    );
    assert.equal(
      assertCode(() => parseQuery(dq({ step: '500ms' }), NOW), 'BAD_REQUEST').details?.field,
      'step',
    );
    assertCode(
      () => parseQuery(dq({}, { timeRange: { fromEpochMS: NOW, toEpochMS: NOW - 1 } }), NOW),
      'BAD_REQUEST',
    );
  });

  it('demands a digest for statements and evidence', () => {
    assert.equal(
      assertCode(() => parseQuery(dq({ queryType: 'evidence' }), NOW), 'BAD_REQUEST').details?.field,
      'digest',
    );
    assertCode(() => parseQuery(dq({ queryType: 'statements', digest: 'sha256:xyz' }), NOW), 'BAD_REQUEST');
    assert.equal(parseQuery(dq({ queryType: 'statements', digest: DIGEST }), NOW).digest, DIGEST);
  });

  it('picks the history step as the frontend does', () => {
    assert.equal(historyStepMs(parseQuery(dq({ queryType: 'history' }), NOW)), 30_000);
    assert.equal(historyStepMs(parseQuery(dq({ queryType: 'history', step: '5m' }), NOW)), 300_000);
    const week = parseQuery(
      dq(
        { queryType: 'history' },
        { timeRange: { fromEpochMS: NOW - 7 * 86_400_000, toEpochMS: NOW }, intervalMS: 1000 },
      ),
      NOW,
    );
    assert.ok((week.to - week.from) / historyStepMs(week) <= 10_000);
  });
});

function context(settings: Record<string, unknown> | null): PluginContext {
  return {
    orgId: 1,
    pluginId: 'imagetrust-fleet-datasource',
    user: null,
    dataSourceInstanceSettings:
      settings === null
        ? null
        : ({
            id: 3,
            name: 'imagetrust',
            url: '',
            uid: 'imagetrust',
            lastUpdatedMS: 5,
            jsonData: Buffer.from(JSON.stringify({ url: 'http://127.0.0.1:9581/' })),
            decryptedSecureJsonData: { token: 't0k' },
            ...settings,
          } as unknown as PluginContext['dataSourceInstanceSettings']),
  };
}

describe('instanceSettingsOf', () => {
  it('reads jsonData.url and decryptedSecureJsonData.token', () => {
    assert.deepEqual(instanceSettingsOf(context({})), {
      uid: 'imagetrust',
      name: 'imagetrust',
      url: 'http://127.0.0.1:9581',
      token: 't0k',
      lastUpdatedMS: 5,
    });
  });

  it('falls back to the settings url; a token is optional', () => {
    const s = instanceSettingsOf(
      context({ jsonData: Buffer.alloc(0), url: 'https://fleet:9583', decryptedSecureJsonData: {} }),
    );
    assert.equal(s.url, 'https://fleet:9583');
    assert.equal(s.token, undefined);
  });

  it('refuses missing settings, a missing or bad URL, malformed jsonData', () => {
    assertCode(() => instanceSettingsOf(context(null)), 'CONFIG_INVALID');
    assertCode(() => instanceSettingsOf(context({ jsonData: Buffer.from('{}') })), 'CONFIG_INVALID');
    assertCode(() => instanceSettingsOf(context({ jsonData: Buffer.from('{"url":') })), 'CONFIG_INVALID');
    for (const url of ['file:///etc/passwd', 'not a url', 'http://u:p@host', 'http://h/?x=1']) {
      assertCode(
        () => instanceSettingsOf(context({ jsonData: Buffer.from(JSON.stringify({ url })) })),
        'CONFIG_INVALID',
      );
    }
  });
});

describe('verdictLine', () => {
  it("says today's verdicts", () => {
    const counts = { trusted: 117, untrusted: 2, unsupported: 0, unknown: 1, total: 120 };
    const line = verdictLine({
      nodes: [
        { node: 'a', status: 'up', ...counts },
        { node: 'b', status: 'up', ...counts },
        { node: 'c', status: 'unreachable', ...counts },
      ],
      total: counts,
    });
    assert.equal(line, '3 nodes, 120 containers: 2 untrusted, 1 unknown; unreachable: c');
    assert.equal(
      verdictLine({
        nodes: [{ node: 'a', status: 'up', ...counts, untrusted: 0, unknown: 0 }],
        total: { ...counts, untrusted: 0, unknown: 0, total: 1 },
      }),
      '1 node, 1 container: all trusted',
    );
  });
});
