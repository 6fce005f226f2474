import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { LoadingState, getDefaultTimeRange, type PanelProps } from '@grafana/data';
import { TrustMap, type TrustMapOptions } from './TrustMap';
import { container, containersFrame, nodeState, summaryFrame } from '../testing/fixtures';
import { testIds } from '../testIds';
import { columnsFor, filterTiles, tileRows, tileTotals, tilesFromFrames } from './tiles';

function props(
  series: PanelProps['data']['series'],
  options: Partial<TrustMapOptions> = {},
): PanelProps<TrustMapOptions> {
  const timeRange = getDefaultTimeRange();
  return {
    id: 1,
    data: { series, state: LoadingState.Done, timeRange },
    timeRange,
    timeZone: 'utc',
    options: { tileBy: 'node', showCounts: true, minTileWidth: 160, ...options },
    transparent: false,
    width: 800,
    height: 400,
    fieldConfig: { defaults: {}, overrides: [] },
    renderCounter: 0,
    title: 'Trust map',
    eventBus: {} as never,
    onOptionsChange: jest.fn(),
    onFieldConfigChange: jest.fn(),
    replaceVariables: (s: string) => s,
    onChangeTimeRange: jest.fn(),
  } as PanelProps<TrustMapOptions>;
}

const nodes = summaryFrame([
  {
    node: 'good',
    status: 'up',
    counts: { trusted: 2, untrusted: 0, unsupported: 0, unknown: 0, total: 2 },
    local: true,
    ageSeconds: 3,
  },
  {
    node: 'bad',
    status: 'up',
    counts: { trusted: 1, untrusted: 1, unsupported: 0, unknown: 0, total: 2 },
    local: true,
  },
  {
    node: 'gone',
    status: 'unreachable',
    counts: { trusted: 0, untrusted: 0, unsupported: 0, unknown: 1, total: 1 },
    local: false,
  },
]);

describe('TrustMap', () => {
  it('draws one tile per node, worst first, unreachable shown as such', () => {
    render(<TrustMap {...props([nodes])} />);
    const tiles = screen.getAllByTestId(testIds.trustMap.tile);
    expect(tiles.map((t) => t.getAttribute('data-status'))).toEqual(['unreachable', 'untrusted', 'trusted']);
    expect(tiles[0]).toHaveTextContent('Unreachable');
    expect(tiles[1]).toHaveTextContent('1 untrusted');
    expect(tiles[2]).toHaveTextContent('scanned 3 s ago');
  });

  it('draws one tile per container from the containers frame', () => {
    const frame = containersFrame([container(), container({ name: 'db', status: 'trusted' })]);
    render(<TrustMap {...props([frame], { tileBy: 'container' })} />);
    const tiles = screen.getAllByTestId(testIds.trustMap.tile);
    expect(tiles).toHaveLength(2);
    expect(tiles[0]).toHaveTextContent('web');
    expect(tiles[0]).toHaveTextContent('node-a · app:1');
  });

  it('counts nodes from containers when there is no summary', () => {
    const frame = containersFrame([
      container(),
      container({ id: 'x', status: 'trusted' }),
      container({ node: 'b', status: 'unsupported' }),
    ]);
    const tiles = tilesFromFrames([frame], 'node');
    expect(tiles.map((t) => [t.title, t.status, t.counts.total])).toEqual([
      ['node-a', 'untrusted', 2],
      ['b', 'unsupported', 1],
    ]);
  });

  it('searches and filters by status from its toolbar, and says how many tiles it shows', () => {
    render(<TrustMap {...props([nodes])} />);
    expect(screen.getByTestId(testIds.filter.count)).toHaveTextContent('3 tiles');
    fireEvent.change(screen.getByTestId(testIds.filter.search), { target: { value: 'BA' } });
    expect(screen.getAllByTestId(testIds.trustMap.tile).map((t) => t.textContent)).toEqual([
      expect.stringContaining('bad'),
    ]);
    expect(screen.getByTestId(testIds.filter.count)).toHaveTextContent('1 of 3 tiles · 1 untrusted');
    fireEvent.change(screen.getByTestId(testIds.filter.search), { target: { value: '' } });
    fireEvent.click(screen.getByLabelText('Trusted'));
    expect(screen.getAllByTestId(testIds.trustMap.tile).map((t) => t.getAttribute('data-status'))).toEqual([
      'untrusted',
      'trusted',
    ]);
  });

  it('groups container tiles under their node, worst node first, and draws only the rows in view', () => {
    const many = Array.from({ length: 2000 }, (_, i) =>
      container({
        id: `c${i}`,
        node: `n${i % 40}`,
        name: `c${i}`,
        status: i === 1234 ? 'untrusted' : 'trusted',
      }),
    );
    render(<TrustMap {...props([containersFrame(many)], { tileBy: 'container', minTileWidth: 160 })} />);
    const groups = screen.getAllByTestId(testIds.trustMap.group);
    expect(groups[0]).toHaveTextContent('n34');
    expect(groups[0]).toHaveAttribute('data-status', 'untrusted');
    const drawn = screen.getAllByTestId(testIds.trustMap.tile);
    expect(drawn.length).toBeGreaterThan(4);
    expect(drawn.length).toBeLessThan(200);
    expect(drawn[0]).toHaveAttribute('data-status', 'untrusted');
  });

  it('says so when there is no data', () => {
    render(<TrustMap {...props([])} />);
    expect(screen.getByTestId(testIds.trustMap.empty)).toHaveTextContent('No containers to show');
  });
});

describe('tiles', () => {
  const tiles = tilesFromFrames(
    [
      containersFrame([
        container({ node: 'a', name: 'web', image: 'shop/web:1', status: 'trusted' }),
        container({ node: 'a', name: 'db', image: 'postgres:15', status: 'unknown' }),
        container({ node: 'b', name: 'miner', image: 'evil/miner:1', status: 'untrusted' }),
        container({ node: 'b', name: 'api', image: 'shop/api:2', status: 'trusted' }),
      ]),
    ],
    'container',
  );

  it('are searched in name, image and node, every word', () => {
    expect(filterTiles(tiles, { search: 'shop', statuses: [] }).map((t) => t.title)).toEqual(['api', 'web']);
    expect(filterTiles(tiles, { search: 'SHOP :2', statuses: [] }).map((t) => t.title)).toEqual(['api']);
    expect(filterTiles(tiles, { search: 'nothing', statuses: [] })).toEqual([]);
  });

  it('are filtered by status; an unreachable node tile counts as unknown', () => {
    expect(
      filterTiles(tiles, { search: '', statuses: ['untrusted', 'unknown'] }).map((t) => t.title),
    ).toEqual(['miner', 'db']);
    const nodeTiles = tilesFromFrames(
      [
        summaryFrame([
          nodeState({ node: 'gone', status: 'unreachable', counts: tileTotals([]) }),
          nodeState(),
        ]),
      ],
      'node',
    );
    expect(filterTiles(nodeTiles, { search: '', statuses: ['unknown'] }).map((t) => t.title)).toEqual([
      'gone',
    ]);
  });

  it('are cut into rows under a header per node, worst node first, with its totals', () => {
    const rows = tileRows(tiles, 1, true);
    expect(
      rows.map((r) => (r.kind === 'group' ? `[${r.node} ${r.status} ${r.counts.total}]` : r.tiles[0]!.title)),
    ).toEqual(['[b untrusted 2]', 'miner', 'api', '[a unknown 2]', 'db', 'web']);
    expect(tileRows(tiles, 3, false).map((r) => (r.kind === 'tiles' ? r.tiles.length : 0))).toEqual([3, 1]);
    expect(tileTotals(tiles)).toEqual({ trusted: 2, untrusted: 1, unsupported: 0, unknown: 1, total: 4 });
  });

  it('fit as many columns as the width allows, at least one', () => {
    expect(columnsFor(800, 160, 8)).toBe(4);
    expect(columnsFor(1000, 160, 8)).toBe(6);
    expect(columnsFor(100, 160, 8)).toBe(1);
  });
});
