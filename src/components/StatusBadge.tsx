import React from 'react';
import { Badge, type BadgeColor } from '@grafana/ui';
import { STATUS_DISPLAY, type TrustStatus } from '../api/types';

const COLORS: Record<TrustStatus, BadgeColor> = {
  trusted: 'green',
  untrusted: 'red',
  unsupported: 'orange',
  unknown: 'purple',
};

export function StatusBadge({ status }: { status: TrustStatus }) {
  return <Badge color={COLORS[status]} text={STATUS_DISPLAY[status].text} />;
}
