// The agent's API (/api/v1) as the plugin reads it: the wire types are the ones the server,
// the backend and the tests use (pkg/api/types.ts); what only the UI needs lives here.

import type { TrustStatus } from '../../pkg/api/types';

export * from '../../pkg/api/types';

/** Status → colour and text, used by value mappings, the panel and the app pages. */
export const STATUS_DISPLAY: Record<TrustStatus, { color: string; text: string }> = {
  trusted: { color: 'green', text: 'Trusted' },
  untrusted: { color: 'red', text: 'Untrusted' },
  unsupported: { color: 'orange', text: 'Unsupported' },
  unknown: { color: 'purple', text: 'Unknown' },
};
