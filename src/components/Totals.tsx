// The counts at the top of a page: nodes, unreachable nodes, containers by status.

import React from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { useStyles2, useTheme2 } from '@grafana/ui';
import { STATUS_DISPLAY, STATUSES_WORST_FIRST, type StatusCounts } from '../api/types';
import { testIds } from '../testIds';

export interface TotalsProps {
  counts: StatusCounts;
  nodes?: number;
  unreachable?: number;
}

const n = (v: number) => v.toLocaleString('en');

export function Totals({ counts, nodes, unreachable }: TotalsProps) {
  const styles = useStyles2(getStyles);
  const theme = useTheme2();
  return (
    <div className={styles.totals} data-testid={testIds.totals}>
      {nodes !== undefined && (
        <span className={styles.item}>
          <strong>{n(nodes)}</strong> nodes
        </span>
      )}
      {unreachable !== undefined && unreachable > 0 && (
        <span className={styles.item} data-status="unreachable">
          <strong>{n(unreachable)}</strong> unreachable
        </span>
      )}
      <span className={styles.item}>
        <strong>{n(counts.total)}</strong> containers
      </span>
      {STATUSES_WORST_FIRST.map((s) => (
        <span key={s} className={styles.item} data-status={s}>
          <span
            className={styles.dot}
            style={{ background: theme.visualization.getColorByName(STATUS_DISPLAY[s].color) }}
          />
          <strong>{n(counts[s])}</strong> {STATUS_DISPLAY[s].text.toLowerCase()}
        </span>
      ))}
    </div>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  totals: css({
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(2),
    marginBottom: theme.spacing(2),
    fontSize: theme.typography.body.fontSize,
  }),
  item: css({ display: 'inline-flex', alignItems: 'center', gap: theme.spacing(0.5) }),
  dot: css({ width: 10, height: 10, borderRadius: '50%', display: 'inline-block' }),
});
