// The frame encoder read back with apache-arrow's own reader (tableFromIPC), as Grafana's SDK
// reads it: IPC file format, schema and field metadata, types, nulls, labels; and the frames
// of every query type, including the alertable data-plane shapes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, Float, Precision, Timestamp, TimeUnit, tableFromIPC } from 'apache-arrow';
import type { ContainerResult, FleetSummary, HistoryPoint, StatementsAnswer } from '../api/types';
import { assertCode } from '../testing/assert-code';
import { decodeFrame, encodeFrame, toJsonDataFrame } from './arrow';
import { FrameCache } from './frame-cache';
import { field, type FrameSpec } from './frame';
import {
  containersFrame,
  countsFrames,
  eventsFrame,
  evidenceFrame,
  historyFrames,
  nodeUpFrames,
  statementsFrame,
  summaryFrame,
} from './query-frames';

const T0 = Date.parse('2026-01-02T03:04:05.678Z');

const sample: FrameSpec = {
  name: 'sample',
  refId: 'A',
  meta: { type: 'numeric-multi', typeVersion: [0, 1] },
  fields: [
    field('s', 'string', ['a', 'b']),
    field('n', 'number', [1.5, null], { labels: { node: 'n1' }, config: { unit: 's', decimals: 0 } }),
    field('b', 'boolean', [true, false]),
    field('t', 'time', [T0, null]),
    field('j', 'other', [['x', 'y'], null]),
  ],
};

describe('encodeFrame', () => {
  it('writes an Arrow IPC file with the SDK schema metadata', () => {
    const bytes = encodeFrame(sample);
    assert.equal(Buffer.from(bytes.subarray(0, 6)).toString(), 'ARROW1');
    const table = tableFromIPC(bytes);
    assert.equal(table.numRows, 2);
    assert.equal(table.schema.metadata.get('name'), 'sample');
    assert.equal(table.schema.metadata.get('refId'), 'A');
    assert.deepEqual(JSON.parse(table.schema.metadata.get('meta')!), {
      type: 'numeric-multi',
      typeVersion: [0, 1],
    });
    const [s, n, b, t, j] = table.schema.fields;
    assert.ok(DataType.isUtf8(s!.type) && !s!.nullable);
    assert.ok(DataType.isFloat(n!.type) && n!.nullable);
    assert.equal((n!.type as Float).precision, Precision.DOUBLE);
    assert.ok(DataType.isBool(b!.type) && !b!.nullable);
    assert.ok(DataType.isTimestamp(t!.type) && t!.nullable);
    assert.equal((t!.type as Timestamp).unit, TimeUnit.NANOSECOND);
    assert.equal((t!.type as Timestamp).timezone, 'UTC');
    assert.ok(DataType.isBinary(j!.type) && j!.nullable);
    assert.equal(n!.metadata.get('name'), 'n');
    assert.deepEqual(JSON.parse(n!.metadata.get('labels')!), { node: 'n1' });
    assert.deepEqual(JSON.parse(n!.metadata.get('config')!), { unit: 's', decimals: 0 });
    assert.equal(s!.metadata.has('labels'), false);
    // Nanoseconds since the epoch, as the SDK's reader assumes.
    assert.equal(table.getChild('t')!.data[0]!.values[0], BigInt(T0) * 1_000_000n);
    assert.equal(table.getChild('n')!.get(1), null);
  });

  it('round-trips through decodeFrame and converts to Grafana JSON frames', () => {
    const frame = decodeFrame(encodeFrame(sample));
    assert.deepEqual(
      frame.fields.map((f) => [f.name, f.type, f.frameType, f.nullable]),
      [
        ['s', 'string', 'string', false],
        ['n', 'number', 'float64', true],
        ['b', 'boolean', 'bool', false],
        ['t', 'time', 'time.Time', true],
        ['j', 'other', 'json.RawMessage', true],
      ],
    );
    assert.deepEqual(
      frame.fields.map((f) => f.values),
      [
        ['a', 'b'],
        [1.5, null],
        [true, false],
        [T0, null],
        [['x', 'y'], null],
      ],
    );
    const json = toJsonDataFrame(frame);
    assert.equal(json.schema.refId, 'A');
    assert.deepEqual(json.schema.fields[1], {
      name: 'n',
      type: 'number',
      typeInfo: { frame: 'float64', nullable: true },
      labels: { node: 'n1' },
      config: { unit: 's', decimals: 0 },
    });
    assert.deepEqual(json.data.values[0], ['a', 'b']);
  });

  it('encodes a frame without rows and a frame without fields', () => {
    const empty = decodeFrame(encodeFrame({ name: 'e', refId: 'B', fields: [field('s', 'string', [])] }));
    assert.equal(empty.fields[0]!.values.length, 0);
    const none = decodeFrame(
      encodeFrame({ name: '', refId: 'B', meta: { type: 'numeric-multi' }, fields: [] }),
    );
    assert.deepEqual(none.fields, []);
    assert.equal(none.meta?.type, 'numeric-multi');
  });

  it('refuses fields of different lengths', () => {
    assertCode(
      () =>
        encodeFrame({ name: 'x', refId: 'A', fields: [field('a', 'number', [1]), field('b', 'number', [])] }),
      'INTERNAL',
    );
  });

  it('refuses bytes that are not Arrow', () => {
    assertCode(() => decodeFrame(new Uint8Array([1, 2, 3])), 'BAD_REQUEST');
  });
});

const summary: FleetSummary = {
  nodes: [
    { node: 'node-b', status: 'unreachable', trusted: 0, untrusted: 0, unsupported: 0, unknown: 3, total: 3 },
    { node: 'node-a', status: 'up', trusted: 5, untrusted: 2, unsupported: 1, unknown: 1, total: 9 },
  ],
  total: { trusted: 5, untrusted: 2, unsupported: 1, unknown: 4, total: 12 },
};

const roundTrip = (frames: FrameSpec[]) => frames.map((f) => decodeFrame(encodeFrame(f)));

describe('alertable frames', () => {
  it('counts: numeric-multi, one frame per node and status, one number each', () => {
    const frames = roundTrip(countsFrames(summary, 'A'));
    assert.equal(frames.length, 8);
    for (const f of frames) {
      assert.deepEqual(f.meta, { type: 'numeric-multi', typeVersion: [0, 1] });
      assert.equal(f.refId, 'A');
      assert.equal(f.fields.length, 1);
      assert.equal(f.fields[0]!.name, 'containers');
      assert.equal(f.fields[0]!.type, 'number');
      assert.equal(f.fields[0]!.values.length, 1);
    }
    const value = (node: string, status: string) =>
      frames.find((f) => f.fields[0]!.labels?.node === node && f.fields[0]!.labels?.status === status)
        ?.fields[0]!.values[0];
    assert.equal(value('node-a', 'untrusted'), 2);
    assert.equal(value('node-a', 'trusted'), 5);
    // The unreachable node keeps its frames; its containers count as unknown.
    assert.equal(value('node-b', 'unknown'), 3);
    assert.equal(value('node-b', 'untrusted'), 0);
    // Nodes sorted: node-a first.
    assert.equal(frames[0]!.fields[0]!.labels?.node, 'node-a');
  });

  it('counts with a status: one frame per node', () => {
    const frames = roundTrip(countsFrames(summary, 'A', 'untrusted'));
    assert.deepEqual(
      frames.map((f) => [f.fields[0]!.labels, f.fields[0]!.values[0]]),
      [
        [{ node: 'node-a', status: 'untrusted' }, 2],
        [{ node: 'node-b', status: 'untrusted' }, 0],
      ],
    );
  });

  it('an empty fleet is one typed frame without fields (no data, not an error)', () => {
    const frames = roundTrip(countsFrames({ nodes: [], total: summary.total }, 'A'));
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0]!.fields, []);
    assert.equal(frames[0]!.meta?.type, 'numeric-multi');
  });

  it('nodeUp: one frame per node, 1 up and 0 unreachable', () => {
    const frames = roundTrip(nodeUpFrames(summary, 'C'));
    assert.deepEqual(
      frames.map((f) => [f.fields[0]!.name, f.fields[0]!.labels, f.fields[0]!.values]),
      [
        ['up', { node: 'node-a' }, [1]],
        ['up', { node: 'node-b' }, [0]],
      ],
    );
    assert.equal(frames[0]!.meta?.type, 'numeric-multi');
  });

  it('history: timeseries-multi, one frame per node and status, times in order', () => {
    const points: HistoryPoint[] = [
      { node: 'n2', time: T0 + 60_000, trusted: 1, untrusted: 1, unsupported: 0, unknown: 0, total: 2 },
      { node: 'n1', time: T0 + 60_000, trusted: 3, untrusted: 0, unsupported: 0, unknown: 1, total: 4 },
      { node: 'n1', time: T0, trusted: 2, untrusted: 0, unsupported: 0, unknown: 1, total: 3 },
    ];
    const frames = roundTrip(historyFrames(points, 'A'));
    assert.equal(frames.length, 8);
    const n1trusted = frames.find(
      (f) => f.fields[1]!.labels?.node === 'n1' && f.fields[1]!.labels?.status === 'trusted',
    )!;
    assert.equal(n1trusted.meta?.type, 'timeseries-multi');
    assert.deepEqual(
      n1trusted.fields.map((f) => [f.name, f.type]),
      [
        ['time', 'time'],
        ['containers', 'number'],
      ],
    );
    assert.deepEqual(n1trusted.fields[0]!.values, [T0, T0 + 60_000]);
    assert.deepEqual(n1trusted.fields[1]!.values, [2, 3]);
    assert.equal(
      (n1trusted.fields[1]!.config as { displayNameFromDS: string }).displayNameFromDS,
      'n1 trusted',
    );
    assert.equal(historyFrames(points, 'A', ['untrusted']).length, 2);
  });
});

const container: ContainerResult = {
  node: 'n1',
  id: 'c0ffee',
  name: 'web',
  image: 'local/web:1',
  digest: `sha256:${'a'.repeat(64)}`,
  status: 'untrusted',
  statusCode: 1,
  level: 0,
  signer: 'k1',
  signedAt: new Date(T0).toISOString(),
  verifiedAt: new Date(T0 + 1000).toISOString(),
  drift: false,
  state: 'running',
  labels: {},
};

describe('table frames', () => {
  it('containers: the frontend fields, status colours, nullable times', () => {
    const [frame] = roundTrip([
      containersFrame([container, { ...container, id: 'x', signedAt: undefined }], 'A'),
    ]);
    assert.deepEqual(
      frame!.fields.map((f) => f.name),
      [
        'node',
        'name',
        'status',
        'image',
        'digest',
        'drift',
        'signer',
        'signedAt',
        'verifiedAt',
        'level',
        'reason',
        'id',
      ],
    );
    const status = frame!.fields.find((f) => f.name === 'status')!;
    const mappings = (status.config as { mappings: { options: Record<string, { color: string }> }[] })
      .mappings;
    assert.equal(mappings[0]!.options.untrusted!.color, 'red');
    assert.equal(mappings[0]!.options.unknown!.color, 'purple');
    const signedAt = frame!.fields.find((f) => f.name === 'signedAt')!;
    assert.equal(signedAt.nullable, true);
    assert.deepEqual(signedAt.values, [T0, null]);
    assert.equal(frame!.meta?.preferredVisualisationType, 'table');
  });

  it('summary, statements, evidence and events', () => {
    const [sum] = roundTrip([
      summaryFrame(
        [
          {
            node: 'n1',
            status: 'up',
            counts: { trusted: 1, untrusted: 0, unsupported: 0, unknown: 0, total: 1 },
            local: true,
          },
        ],
        'A',
      ),
    ]);
    assert.deepEqual(sum!.fields.find((f) => f.name === 'trusted')!.values, [1]);
    assert.deepEqual(sum!.fields.find((f) => f.name === 'ageSeconds')!.values, [null]);
    const answer: StatementsAnswer = {
      digest: container.digest,
      treeSize: 7,
      origin: 'o',
      statements: [
        {
          index: 3,
          status: 'trusted',
          signer: 'k1',
          time: new Date(T0).toISOString(),
          name: 'web',
          allowed: true,
          attributes: { 'ci.job': '42', commit: 'abc' },
        },
      ],
    };
    const [st] = roundTrip([statementsFrame(answer, 'A')]);
    assert.deepEqual(st!.fields.find((f) => f.name === 'index')!.values, [3]);
    assert.deepEqual(st!.meta, { custom: { treeSize: 7, origin: 'o' } });
    const [ev] = roundTrip([evidenceFrame(answer, 'A')]);
    assert.deepEqual(ev!.fields.find((f) => f.name === 'key')!.values, ['ci.job', 'commit']);
    const [events] = roundTrip([
      eventsFrame(
        [
          {
            time: T0,
            node: 'n1',
            kind: 'status',
            containerName: 'web',
            previous: 'trusted',
            status: 'untrusted',
          },
        ],
        'Anno',
      ),
    ]);
    assert.deepEqual(events!.fields.find((f) => f.name === 'title')!.values, ['web: trusted → untrusted']);
    assert.deepEqual(events!.fields.find((f) => f.name === 'tags')!.values, [
      ['imagetrust', 'n1', 'status', 'untrusted'],
    ]);
  });
});

describe('FrameCache', () => {
  it('returns the same bytes for an equal frame and stays within its bound', () => {
    const cache = new FrameCache(64 * 1024);
    const a = cache.encode(sample);
    const b = cache.encode(JSON.parse(JSON.stringify(sample)) as FrameSpec);
    assert.equal(a, b);
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    assert.notEqual(cache.encode({ ...sample, refId: 'B' }), a);
    for (let i = 0; i < 200; i++) cache.encode({ ...sample, name: `f${i}` });
    assert.ok(cache.size < 200);
    assert.deepEqual(decodeFrame(cache.encode(sample)).fields[0]!.values, ['a', 'b']);
  });
});
