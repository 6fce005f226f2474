import {
  containerMatcher,
  filterContainers,
  filterNodeRows,
  fleetTotals,
  groupByNode,
  groupedRows,
  nodeRows,
  searchWords,
} from './fleetView';
import { container, nodeState } from '../testing/fixtures';

const fleet = [
  container({ id: '1', node: 'b', name: 'web', image: 'shop/web:1', status: 'trusted' }),
  container({ id: '2', node: 'a', name: 'db', image: 'postgres:15', status: 'unknown' }),
  container({ id: '3', node: 'b', name: 'miner', image: 'evil/miner:1', status: 'untrusted' }),
  container({ id: '4', node: 'c', name: 'api', image: 'shop/api:2', status: 'trusted' }),
  container({ id: '5', node: 'b', name: 'cache', image: 'redis:7', status: 'unsupported' }),
];

describe('fleet view', () => {
  it('searches every word, case-insensitively, in name, image, node, digest and status', () => {
    expect(searchWords('  Shop   API ')).toEqual(['shop', 'api']);
    const names = (search: string) => filterContainers(fleet, { search, statuses: [] }).map((c) => c.name);
    expect(names('shop')).toEqual(['web', 'api']);
    expect(names('SHOP api')).toEqual(['api']);
    expect(names('untrusted')).toEqual(['miner']);
    expect(names('sha256:aaaa')).toHaveLength(5);
    expect(names('')).toHaveLength(5);
    expect(names('nowhere')).toEqual([]);
  });

  it('filters by statuses, none meaning all', () => {
    const matches = containerMatcher({ search: '', statuses: ['untrusted', 'unknown'] });
    expect(fleet.filter(matches).map((c) => c.name)).toEqual(['db', 'miner']);
    expect(filterContainers(fleet, { search: 'b', statuses: ['untrusted'] }).map((c) => c.name)).toEqual([
      'miner',
    ]);
  });

  it('groups by node, worst node first, worst container first inside; unreachable nodes lead', () => {
    const groups = groupByNode(fleet);
    expect(groups.map((g) => [g.node, g.worst, g.counts.total])).toEqual([
      ['b', 'untrusted', 3],
      ['a', 'unknown', 1],
      ['c', 'trusted', 1],
    ]);
    expect(groups[0]!.containers.map((c) => c.name)).toEqual(['miner', 'cache', 'web']);
    expect(groupByNode(fleet, new Set(['c'])).map((g) => g.node)).toEqual(['c', 'b', 'a']);
    expect(
      groupedRows(groups).map((r) => (r.kind === 'node' ? `[${r.group.node}]` : r.container.name)),
    ).toEqual(['[b]', 'miner', 'cache', 'web', '[a]', 'db', '[c]', 'api']);
  });

  it('orders nodes worst first and filters them by name and by the statuses they run', () => {
    const counts = (over: Partial<Record<'trusted' | 'untrusted' | 'unknown', number>>) => ({
      trusted: 0,
      untrusted: 0,
      unsupported: 0,
      unknown: 0,
      ...over,
      total: Object.values(over).reduce((a, b) => a + (b ?? 0), 0),
    });
    const nodes = [
      nodeState({ node: 'edge-1', counts: counts({ trusted: 3 }) }),
      nodeState({ node: 'edge-2', counts: counts({ trusted: 2, untrusted: 1 }) }),
      nodeState({ node: 'core-1', status: 'unreachable', reason: 'timeout', counts: counts({ unknown: 4 }) }),
      nodeState({ node: 'empty', counts: counts({}) }),
    ];
    const rows = nodeRows(nodes);
    expect(rows.map((r) => [r.node, r.unreachable, r.worst])).toEqual([
      ['core-1', true, 'unknown'],
      ['edge-2', false, 'untrusted'],
      ['edge-1', false, 'trusted'],
      ['empty', false, undefined],
    ]);
    expect(filterNodeRows(rows, { search: 'EDGE', statuses: [] }).map((r) => r.node)).toEqual([
      'edge-2',
      'edge-1',
    ]);
    expect(
      filterNodeRows(rows, { search: '', statuses: ['untrusted', 'unknown'] }).map((r) => r.node),
    ).toEqual(['core-1', 'edge-2']);
    expect(fleetTotals(nodes)).toEqual({
      nodes: 4,
      unreachable: 1,
      containers: { trusted: 5, untrusted: 1, unsupported: 0, unknown: 4, total: 10 },
    });
  });

  it('stays fast at fleet scale: 50,000 containers filtered and grouped', () => {
    const many = Array.from({ length: 50_000 }, (_, i) =>
      container({
        id: `c${i}`,
        node: `node-${i % 1000}`,
        name: `c${i}`,
        status: i % 97 === 0 ? 'untrusted' : 'trusted',
      }),
    );
    const started = performance.now();
    const groups = groupByNode(filterContainers(many, { search: 'node-1', statuses: [] }));
    const rows = groupedRows(groups);
    expect(groups.length).toBe(111); // node-1, node-10..19, node-100..199
    expect(rows.length).toBe(groups.length + groups.reduce((n, g) => n + g.containers.length, 0));
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
