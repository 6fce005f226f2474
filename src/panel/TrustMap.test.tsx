import React from 'react';
import { render, screen } from '@testing-library/react';
import { LoadingState, getDefaultTimeRange, type PanelProps } from '@grafana/data';
import { TrustMap, type TrustMapOptions } from './TrustMap';
import { containersFrame, summaryFrame } from '../datasource/frames';
import { container } from '../testing/fixtures';
import { testIds } from '../testIds';
import { tilesFromFrames } from './tiles';

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

  it('says so when there is no data', () => {
    render(<TrustMap {...props([])} />);
    expect(screen.getByTestId(testIds.trustMap.empty)).toHaveTextContent('No containers to show');
  });
});
