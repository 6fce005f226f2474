import React from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2, PanelProps } from '@grafana/data';
import { useStyles2, useTheme2 } from '@grafana/ui';
import { STATUS_DISPLAY } from '../api/types';
import { testIds } from '../testIds';
import { tilesFromFrames, type Tile, type TileBy } from './tiles';

export interface TrustMapOptions {
  tileBy: TileBy;
  showCounts: boolean;
  minTileWidth: number;
}

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

export function TrustMap({ data, options, width, height }: PanelProps<TrustMapOptions>) {
  const theme = useTheme2();
  const styles = useStyles2(getStyles, options.minTileWidth);
  const tiles = tilesFromFrames(data.series, options.tileBy);

  if (tiles.length === 0) {
    return (
      <div className={styles.empty} style={{ width, height }} data-testid={testIds.trustMap.empty}>
        No containers to show. Query the imagetrust data source for a node summary or containers.
      </div>
    );
  }
  return (
    <div className={styles.grid} style={{ width, height }} data-testid={testIds.trustMap.container}>
      {tiles.map((tile) => {
        const background = tileColor(theme, tile);
        const label = tile.unreachable
          ? 'Unreachable'
          : tile.status
            ? STATUS_DISPLAY[tile.status].text
            : 'No containers';
        return (
          <div
            key={tile.key}
            className={styles.tile}
            style={{ background, color: theme.colors.getContrastText(background) }}
            data-testid={testIds.trustMap.tile}
            data-status={tile.unreachable ? 'unreachable' : (tile.status ?? 'empty')}
            title={tile.reason ?? label}
          >
            <div className={styles.title}>{tile.title}</div>
            {tile.subtitle && <div className={styles.subtitle}>{tile.subtitle}</div>}
            <div className={styles.status}>{label}</div>
            {options.showCounts && tile.counts.total > 0 && (
              <div className={styles.counts}>
                {tile.counts.untrusted > 0 && <span>{tile.counts.untrusted} untrusted</span>}
                {tile.counts.unknown > 0 && <span>{tile.counts.unknown} unknown</span>}
                {tile.counts.unsupported > 0 && <span>{tile.counts.unsupported} unsupported</span>}
                <span>
                  {tile.counts.trusted}/{tile.counts.total} trusted
                </span>
              </div>
            )}
            {ageText(tile.ageSeconds) && <div className={styles.age}>scanned {ageText(tile.ageSeconds)}</div>}
          </div>
        );
      })}
    </div>
  );
}

const getStyles = (theme: GrafanaTheme2, minTileWidth: number) => ({
  grid: css({
    display: 'grid',
    gridTemplateColumns: `repeat(auto-fill, minmax(${minTileWidth}px, 1fr))`,
    gap: theme.spacing(1),
    overflow: 'auto',
    alignContent: 'start',
  }),
  tile: css({
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(1, 1.5),
    display: 'flex',
    flexDirection: 'column',
    gap: theme.spacing(0.25),
    minHeight: 84,
  }),
  title: css({
    fontSize: theme.typography.h5.fontSize,
    fontWeight: theme.typography.fontWeightMedium,
    wordBreak: 'break-all',
  }),
  subtitle: css({ fontSize: theme.typography.bodySmall.fontSize, opacity: 0.85, wordBreak: 'break-all' }),
  status: css({
    fontWeight: theme.typography.fontWeightBold,
    textTransform: 'uppercase',
    fontSize: theme.typography.bodySmall.fontSize,
  }),
  counts: css({
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(1),
    fontSize: theme.typography.bodySmall.fontSize,
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
