import { FieldType, getDisplayProcessor, createTheme } from '@grafana/data';
import type { NodeState } from '../api/types';
import { container } from '../testing/fixtures';
import { containersFrame, eventsFrame, evidenceFrame, historyFrames, summaryFrame } from './frames';

describe('frames', () => {
  it('evidence: one row per attribute of each statement, statements without any left out', () => {
    const frame = evidenceFrame(
      {
        digest: `sha256:${'a'.repeat(64)}`,
        treeSize: 9,
        origin: 'example/ledger',
        statements: [
          {
            index: 3,
            status: 'trusted',
            signer: 's1',
            time: '2026-11-30T10:00:00Z',
            name: 'app',
            allowed: true,
            attributes: { 'ci.job': '4242', 'vcs.commit': 'abc' },
          },
          {
            index: 5,
            status: 'untrusted',
            signer: 's1',
            time: '2026-11-30T11:00:00Z',
            name: 'app',
            allowed: true,
          },
        ],
      },
      'E',
    );
    expect(frame.length).toBe(2);
    const byName = Object.fromEntries(frame.fields.map((f) => [f.name, f]));
    expect(byName.key.values).toEqual(['ci.job', 'vcs.commit']);
    expect(byName.value.values).toEqual(['4242', 'abc']);
    expect(byName.index.values).toEqual([3, 3]);
    expect(byName.time.type).toBe(FieldType.time);
  });

  it('containers: typed fields, status mapped to colour and text, links to the app', () => {
    const frame = containersFrame(
      [container(), container({ name: 'db', status: 'trusted', signedAt: '2026-11-01T00:00:00Z' })],
      'A',
    );
    expect(frame.refId).toBe('A');
    expect(frame.length).toBe(2);
    const byName = Object.fromEntries(frame.fields.map((f) => [f.name, f]));
    expect(byName.status.type).toBe(FieldType.string);
    expect(byName.signedAt.type).toBe(FieldType.time);
    expect(byName.signedAt.values[1]).toBe(Date.parse('2026-11-01T00:00:00Z'));
    expect(byName.drift.type).toBe(FieldType.boolean);
    const display = getDisplayProcessor({ field: byName.status, theme: createTheme() })('untrusted');
    expect(display.text).toBe('Untrusted');
    expect(display.color).toBeDefined();
    expect(byName.node.config.links?.[0].url).toContain('/a/imagetrust-fleet-app/node/');
  });

  it('summary: counts per node with units, unreachable nodes kept', () => {
    const nodes: NodeState[] = [
      {
        node: 'a',
        status: 'up',
        counts: { trusted: 3, untrusted: 1, unsupported: 0, unknown: 0, total: 4 },
        local: true,
        ageSeconds: 2,
      },
      {
        node: 'b',
        status: 'unreachable',
        reason: 'timeout',
        counts: { trusted: 0, untrusted: 0, unsupported: 0, unknown: 2, total: 2 },
        local: false,
      },
    ];
    const frame = summaryFrame(nodes);
    const f = (name: string) => frame.fields.find((x) => x.name === name)!;
    expect(f('untrusted').values).toEqual([1, 0]);
    expect(f('status').values).toEqual(['up', 'unreachable']);
    expect(f('ageSeconds').config.unit).toBe('s');
  });

  it('history: one time series per node with a field per status', () => {
    const frames = historyFrames([
      { time: 1, node: 'a', trusted: 1, untrusted: 0, unsupported: 0, unknown: 0, total: 1 },
      { time: 2, node: 'a', trusted: 1, untrusted: 1, unsupported: 0, unknown: 0, total: 2 },
      { time: 1, node: 'b', trusted: 0, untrusted: 0, unsupported: 0, unknown: 3, total: 3 },
    ]);
    expect(frames.map((f) => f.name)).toEqual(['a', 'b']);
    expect(frames[0].fields[0].type).toBe(FieldType.time);
    expect(frames[0].fields.find((x) => x.name === 'untrusted')?.values).toEqual([0, 1]);
    expect(frames[1].fields.find((x) => x.name === 'unknown')?.labels).toEqual({ node: 'b' });
  });

  it('events: annotation frames with a title per change', () => {
    const frame = eventsFrame([
      { time: 5, node: 'a', kind: 'status', containerName: 'web', previous: 'trusted', status: 'untrusted' },
      { time: 6, node: 'b', kind: 'node-unreachable' },
    ]);
    expect(frame.fields.find((x) => x.name === 'title')?.values).toEqual([
      'web: trusted → untrusted',
      'b: unreachable',
    ]);
    expect(frame.fields.find((x) => x.name === 'tags')?.values[0]).toContain('untrusted');
  });
});
