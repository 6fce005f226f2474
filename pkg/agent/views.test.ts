import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerResult } from './types';
import { imagesOf, summaryOf, unreachableView, worstFirst } from './views';
import { stepSeries } from './series';

const result = (
  node: string,
  name: string,
  status: ContainerResult['status'],
  digest = 'sha256:a',
): ContainerResult => ({
  node,
  id: `${node}-${name}`,
  name,
  image: `example/${name}:1`,
  digest,
  status,
  statusCode: { trusted: 0, untrusted: 1, unknown: 2, unsupported: 3 }[status],
  level: 0,
  verifiedAt: '2026-12-01T00:00:00Z',
  drift: false,
  state: 'running',
  labels: {},
});

describe('fleet views', () => {
  it('a silent node reads unreachable, its containers unknown with their last status and its age', () => {
    const last = {
      node: {
        node: 'n1',
        status: 'up' as const,
        lastScan: '2026-12-01T00:00:00Z',
        counts: { trusted: 1, untrusted: 1, unsupported: 0, unknown: 0, total: 2 },
        local: false,
      },
      containers: [result('n1', 'a', 'trusted'), result('n1', 'b', 'untrusted')],
    };
    const view = unreachableView(last, 'fallback', 'no heartbeat for 40s', 1_000, 41_000);
    assert.equal(view.node.status, 'unreachable');
    assert.equal(view.node.node, 'n1');
    assert.equal(view.node.ageSeconds, 40);
    assert.deepEqual(view.node.counts, { trusted: 0, untrusted: 0, unsupported: 0, unknown: 2, total: 2 });
    assert.deepEqual(
      view.containers.map((c) => [c.status, (c as { lastKnownStatus?: string }).lastKnownStatus]),
      [
        ['unknown', 'trusted'],
        ['unknown', 'untrusted'],
      ],
    );
    assert.match(view.containers[1]?.reason ?? '', /last known untrusted 40s ago/);
    // Never heard from: named after where it was expected, nothing to show.
    assert.deepEqual(unreachableView(undefined, 'http://peer', 'refused', undefined, 0).containers, []);
  });

  it('images take the worst status of their containers; containers sort worst first', () => {
    const list = [
      result('n2', 'x', 'trusted'),
      result('n1', 'y', 'untrusted'),
      result('n1', 'z', 'unknown', 'sha256:b'),
    ];
    const images = imagesOf(list, (d) =>
      d === 'sha256:a' ? { repoTags: ['example/x:1'], repoDigests: [] } : undefined,
    );
    assert.deepEqual(
      images.map((i) => [i.digest, i.status, i.nodes.sort(), i.containers]),
      [
        ['sha256:a', 'untrusted', ['n1', 'n2'], 2],
        ['sha256:b', 'unknown', ['n1'], 1],
      ],
    );
    assert.deepEqual(images[0]?.repoTags, ['example/x:1']);
    assert.deepEqual(
      worstFirst(list.slice()).map((c) => c.name),
      ['y', 'z', 'x'],
    );
    const summary = summaryOf([
      {
        node: {
          node: 'n1',
          status: 'up',
          counts: { trusted: 0, untrusted: 0, unsupported: 0, unknown: 0, total: 0 },
          local: true,
        },
        containers: list,
      },
    ]);
    assert.deepEqual(summary.total, { trusted: 1, untrusted: 1, unsupported: 0, unknown: 1, total: 3 });
  });

  it('series repeat the last snapshot at or before every step', () => {
    const counts = (u: number) => ({ trusted: 1, untrusted: u, unsupported: 0, unknown: 0, total: 1 + u });
    const points = stepSeries('n1', { time: 0, ...counts(0) }, [{ time: 25, ...counts(2) }], 10, 40, 10);
    assert.deepEqual(
      points.map((p) => [p.time, p.untrusted]),
      [
        [10, 0],
        [20, 0],
        [30, 2],
        [40, 2],
      ],
    );
    assert.deepEqual(stepSeries('n1', undefined, [], 0, 10, 5), []);
  });
});
