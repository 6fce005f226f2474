import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getTableStyles = (theme: GrafanaTheme2) => ({
  table: css({
    width: '100%',
    borderCollapse: 'collapse',
    'th, td': {
      padding: theme.spacing(0.75, 1),
      borderBottom: `1px solid ${theme.colors.border.weak}`,
      textAlign: 'left',
    },
    th: { color: theme.colors.text.secondary, fontWeight: theme.typography.fontWeightMedium },
  }),
  /** A row of a virtualized list laid out as a table row (the columns come with each list). */
  gridRow: css({
    display: 'grid',
    alignItems: 'center',
    gap: theme.spacing(1),
    height: '100%',
    padding: theme.spacing(0, 1),
    borderBottom: `1px solid ${theme.colors.border.weak}`,
    overflow: 'hidden',
    whiteSpace: 'nowrap',
    '& > *': { overflow: 'hidden', textOverflow: 'ellipsis' },
  }),
  gridHead: css({
    color: theme.colors.text.secondary,
    fontWeight: theme.typography.fontWeightMedium,
    height: 32,
  }),
  groupRow: css({
    background: theme.colors.background.secondary,
    fontWeight: theme.typography.fontWeightMedium,
  }),
  mono: css({
    fontFamily: theme.typography.fontFamilyMonospace,
    fontSize: theme.typography.bodySmall.fontSize,
    wordBreak: 'break-all',
  }),
  section: css({ marginBottom: theme.spacing(3) }),
  muted: css({ color: theme.colors.text.secondary }),
});
