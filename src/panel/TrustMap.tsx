// The trust-map panel: a tile per node or per container, coloured by the worst status, worst
// first. At fleet scale (1,000 nodes × 50 containers) it stays usable: a toolbar to search and
// filter by status with the totals of what is shown, container tiles grouped under their node,
// and a virtualized grid that draws only the rows in view.

import React, { useMemo, useState, type ChangeEvent } from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2, PanelProps } from '@grafana/data';
import { Icon, Input, RadioButtonGroup, useStyles2, useTheme2 } from '@grafana/ui';
import { STATUS_DISPLAY, STATUSES_WORST_FIRST } from '../api/types';
import { filterOf, type StatusChoice } from '../components/FilterBar';
import { VirtualList } from '../components/VirtualList';
import { testIds } from '../testIds';
import {
  columnsFor,
  filterTiles,
  tileRows,
  tileTotals,
  tilesFromFrames,
  type Tile,
  type TileBy,
  type TileRow,
} from './tiles';

export interface TrustMapOptions {
  tileBy: TileBy;
  showCounts: boolean;
  minTileWidth: number;
  /** Search and status filter above the tiles. */
  showToolbar?: boolean;
  /** Container tiles under a header per node. */
  groupByNode?: boolean;
}

const GAP = 8;
const TOOLBAR = 40;
const GROUP_HEADER = 30;

const STATUS_OPTIONS: Array<{ label: string; value: StatusChoice }> = [
  { label: 'All', value: 'all' },
  { label: 'Not trusted', value: 'not-trusted' },
  ...STATUSES_WORST_FIRST.map((s) => ({ label: STATUS_DISPLAY[s].text, value: s })),
];

function tileColor(theme: GrafanaTheme2, tile: Tile): string {
  if (tile.unreachable) {
    return theme.colors.text.disabled;
  }
  return tile.status
    ? theme.visualization.getColorByName(STATUS_DISPLAY[tile.status].color)
    : theme.colors.background.secondary;
}

function ageText(seconds?: number): string | undefined {
  if (seconds === undefined) {
    return undefined;
  }
  if (seconds < 90) {
    return `${Math.round(seconds)} s ago`;
  }
  if (seconds < 5400) {
    return `${Math.round(seconds / 60)} min ago`;
  }
  return `${Math.round(seconds / 3600)} h ago`;
}

function TileView({ tile, showCounts, height }: { tile: Tile; showCounts: boolean; height: number }) {
  const theme = useTheme2();
  const styles = useStyles2(getStyles);
  const background = tileColor(theme, tile);
  const label = tile.unreachable
    ? 'Unreachable'
    : tile.status
      ? STATUS_DISPLAY[tile.status].text
      : 'No containers';
  const age = ageText(tile.ageSeconds);
  return (
    <div
      className={styles.tile}
      style={{ background, color: theme.colors.getContrastText(background), height }}
      data-testid={testIds.trustMap.tile}
      data-status={tile.unreachable ? 'unreachable' : (tile.status ?? 'empty')}
      title={tile.reason ?? label}
    >
      <div className={styles.title}>{tile.title}</div>
      {tile.subtitle && <div className={styles.subtitle}>{tile.subtitle}</div>}
      <div className={styles.status}>{label}</div>
      {showCounts && tile.counts.total > 0 && (
        <div className={styles.counts}>
          {tile.counts.untrusted > 0 && <span>{tile.counts.untrusted} untrusted</span>}
          {tile.counts.unknown > 0 && <span>{tile.counts.unknown} unknown</span>}
          {tile.counts.unsupported > 0 && <span>{tile.counts.unsupported} unsupported</span>}
          <span>
            {tile.counts.trusted}/{tile.counts.total} trusted
          </span>
        </div>
      )}
      {age && <div className={styles.age}>scanned {age}</div>}
    </div>
  );
}

export function TrustMap({ data, options, width, height }: PanelProps<TrustMapOptions>) {
  const styles = useStyles2(getStyles);
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<StatusChoice>('all');
  const showToolbar = options.showToolbar ?? true;
  const grouped = options.tileBy === 'container' && (options.groupByNode ?? true);

  const tiles = useMemo(() => tilesFromFrames(data.series, options.tileBy), [data.series, options.tileBy]);
  const shown = useMemo(() => filterTiles(tiles, filterOf(search, status)), [tiles, search, status]);
  const totals = useMemo(() => tileTotals(shown), [shown]);
  const columns = columnsFor(width, options.minTileWidth, GAP);
  const rows = useMemo(() => tileRows(shown, columns, grouped), [shown, columns, grouped]);
  const tileHeight =
    options.tileBy === 'container' ? (options.showCounts ? 92 : 76) : options.showCounts ? 96 : 76;

  if (tiles.length === 0) {
    return (
      <div className={styles.empty} style={{ width, height }} data-testid={testIds.trustMap.empty}>
        No containers to show. Query the imagetrust data source for a node summary or containers.
      </div>
    );
  }

  const renderRow = (row: TileRow) =>
    row.kind === 'group' ? (
      <div className={styles.group} data-testid={testIds.trustMap.group} data-status={row.status ?? 'empty'}>
        <strong>{row.node}</strong>
        <span>
          {row.counts.untrusted > 0 ? `${row.counts.untrusted} untrusted · ` : ''}
          {row.counts.unknown > 0 ? `${row.counts.unknown} unknown · ` : ''}
          {row.counts.trusted}/{row.counts.total} trusted
        </span>
      </div>
    ) : (
      <div className={styles.row} style={{ gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))` }}>
        {row.tiles.map((t) => (
          <TileView key={t.key} tile={t} showCounts={options.showCounts} height={tileHeight} />
        ))}
      </div>
    );

  return (
    <div style={{ width, height }} data-testid={testIds.trustMap.container}>
      {showToolbar && (
        <div className={styles.toolbar} style={{ height: TOOLBAR }}>
          <Input
            data-testid={testIds.filter.search}
            width={24}
            prefix={<Icon name="search" />}
            placeholder={options.tileBy === 'container' ? 'Search container, image, node' : 'Search nodes'}
            value={search}
            onChange={(e: ChangeEvent<HTMLInputElement>) => setSearch(e.target.value)}
          />
          <RadioButtonGroup size="sm" options={STATUS_OPTIONS} value={status} onChange={setStatus} />
          <span className={styles.summary} data-testid={testIds.filter.count}>
            {shown.length === tiles.length
              ? `${tiles.length.toLocaleString('en')} tiles`
              : `${shown.length.toLocaleString('en')} of ${tiles.length.toLocaleString('en')} tiles`}
            {` · ${totals.untrusted.toLocaleString('en')} untrusted · ${totals.unknown.toLocaleString('en')} unknown · ${totals.trusted.toLocaleString('en')}/${totals.total.toLocaleString('en')} trusted`}
          </span>
        </div>
      )}
      {shown.length === 0 ? (
        <div className={styles.empty} style={{ height: height - (showToolbar ? TOOLBAR : 0) }}>
          No tile matches.
        </div>
      ) : (
        <VirtualList
          items={rows}
          maxHeight={height - (showToolbar ? TOOLBAR : 0)}
          rowHeight={(r) => (r.kind === 'group' ? GROUP_HEADER : tileHeight + GAP)}
          rowKey={(r, i) => (r.kind === 'group' ? `g/${r.node}` : `${i}/${r.tiles[0]?.key}`)}
          renderRow={renderRow}
        />
      )}
    </div>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  toolbar: css({
    display: 'flex',
    alignItems: 'center',
    gap: theme.spacing(1),
    overflow: 'hidden',
    whiteSpace: 'nowrap',
  }),
  summary: css({ color: theme.colors.text.secondary, fontSize: theme.typography.bodySmall.fontSize }),
  row: css({ display: 'grid', gap: GAP, paddingBottom: GAP }),
  group: css({
    display: 'flex',
    alignItems: 'center',
    gap: theme.spacing(1),
    height: GROUP_HEADER,
    fontSize: theme.typography.bodySmall.fontSize,
    color: theme.colors.text.secondary,
    strong: { color: theme.colors.text.primary },
  }),
  tile: css({
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(1, 1.5),
    display: 'flex',
    flexDirection: 'column',
    gap: theme.spacing(0.25),
    overflow: 'hidden',
    // A fixed-height tile cuts its last lines rather than squeezing its title.
    '& > *': { flexShrink: 0 },
  }),
  title: css({
    fontSize: theme.typography.h5.fontSize,
    fontWeight: theme.typography.fontWeightMedium,
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
  }),
  subtitle: css({
    fontSize: theme.typography.bodySmall.fontSize,
    opacity: 0.85,
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
  }),
  status: css({
    fontWeight: theme.typography.fontWeightBold,
    textTransform: 'uppercase',
    fontSize: theme.typography.bodySmall.fontSize,
  }),
  counts: css({
    display: 'flex',
    gap: theme.spacing(1),
    fontSize: theme.typography.bodySmall.fontSize,
    whiteSpace: 'nowrap',
    overflow: 'hidden',
  }),
  age: css({ fontSize: theme.typography.bodySmall.fontSize, opacity: 0.8 }),
  empty: css({
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'center',
    color: theme.colors.text.secondary,
    textAlign: 'center',
  }),
});
