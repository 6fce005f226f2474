// Search and status filter above a long list, with how many rows are shown of how many.

import React, { type ChangeEvent } from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { Icon, Input, RadioButtonGroup, useStyles2 } from '@grafana/ui';
import { STATUS_DISPLAY, STATUSES_WORST_FIRST, type TrustStatus } from '../api/types';
import type { ViewFilter } from '../api/fleetView';
import { testIds } from '../testIds';

/** The status choices: everything, everything not trusted, or one status. */
export type StatusChoice = 'all' | 'not-trusted' | TrustStatus;

const NOT_TRUSTED: readonly TrustStatus[] = STATUSES_WORST_FIRST.filter((s) => s !== 'trusted');

export function statusesOf(choice: StatusChoice): readonly TrustStatus[] {
  if (choice === 'all') {
    return [];
  }
  return choice === 'not-trusted' ? NOT_TRUSTED : [choice];
}

const OPTIONS: Array<{ label: string; value: StatusChoice }> = [
  { label: 'All', value: 'all' },
  { label: 'Not trusted', value: 'not-trusted' },
  ...STATUSES_WORST_FIRST.map((s) => ({ label: STATUS_DISPLAY[s].text, value: s })),
];

export interface FilterBarProps {
  search: string;
  status: StatusChoice;
  onChange: (next: { search: string; status: StatusChoice }) => void;
  /** Rows shown and rows there are. */
  shown: number;
  total: number;
  noun: string;
  placeholder?: string;
}

export function filterOf(search: string, status: StatusChoice): ViewFilter {
  return { search, statuses: statusesOf(status) };
}

export function FilterBar({ search, status, onChange, shown, total, noun, placeholder }: FilterBarProps) {
  const styles = useStyles2(getStyles);
  return (
    <div className={styles.bar}>
      <Input
        data-testid={testIds.filter.search}
        width={36}
        prefix={<Icon name="search" />}
        placeholder={placeholder ?? 'Search name, image, node, digest'}
        value={search}
        onChange={(e: ChangeEvent<HTMLInputElement>) => onChange({ search: e.target.value, status })}
      />
      <span data-testid={testIds.filter.status}>
        <RadioButtonGroup
          size="sm"
          options={OPTIONS}
          value={status}
          onChange={(v) => onChange({ search, status: v })}
        />
      </span>
      <span className={styles.count} data-testid={testIds.filter.count}>
        {shown === total
          ? `${total.toLocaleString('en')} ${noun}`
          : `${shown.toLocaleString('en')} of ${total.toLocaleString('en')} ${noun}`}
      </span>
    </div>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  bar: css({
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: theme.spacing(1),
    marginBottom: theme.spacing(1),
  }),
  count: css({ color: theme.colors.text.secondary, fontSize: theme.typography.bodySmall.fontSize }),
});
