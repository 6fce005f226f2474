// The data source's settings as Grafana sends them in every call's PluginContext: the agent's
// URL from jsonData.url (provisioning/datasources/imagetrust.yaml sets it; the settings' own
// `url` is the fallback) and the API token from decryptedSecureJsonData.token. Validated once
// per instance into a frozen value; a bad or missing URL is a CONFIG_INVALID error.

import { ImagetrustError } from '../errors';
import type { PluginContext } from './protocol';

export interface InstanceSettings {
  uid: string;
  name: string;
  /** The agent's (or fleet server's) base URL, without a trailing slash. */
  url: string;
  token: string | undefined;
  lastUpdatedMS: number;
}

function parseJsonData(bytes: Uint8Array | undefined): Record<string, unknown> {
  if (bytes === undefined || bytes.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new ImagetrustError('CONFIG_INVALID', 'the data source settings (jsonData) are not JSON', {
      cause: err,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ImagetrustError('CONFIG_INVALID', 'the data source settings (jsonData) are not a JSON object');
  }
  return value as Record<string, unknown>;
}

export function parseAgentUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      "the data source has no agent URL: set it in the data source's settings (jsonData.url)",
      { details: { field: 'url' } },
    );
  }
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ImagetrustError('CONFIG_INVALID', `the agent URL is not a URL: ${raw}`, {
      details: { field: 'url' },
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ImagetrustError('CONFIG_INVALID', `the agent URL must be http or https, not ${url.protocol}`, {
      details: { field: 'url' },
    });
  }
  if (url.username || url.password) {
    throw new ImagetrustError(
      'CONFIG_INVALID',
      'the agent URL must not carry credentials: use the API token',
      {
        details: { field: 'url' },
      },
    );
  }
  if (url.search || url.hash) {
    throw new ImagetrustError('CONFIG_INVALID', 'the agent URL must not have a query or fragment', {
      details: { field: 'url' },
    });
  }
  return url.toString().replace(/\/+$/, '');
}

/** Reads and checks the data source instance of a call; throws CONFIG_INVALID. */
export function instanceSettingsOf(context: PluginContext | null | undefined): InstanceSettings {
  const ds = context?.dataSourceInstanceSettings;
  if (!ds) {
    throw new ImagetrustError('CONFIG_INVALID', 'the call carries no data source instance settings');
  }
  const jsonData = parseJsonData(ds.jsonData);
  const token = ds.decryptedSecureJsonData?.token;
  return Object.freeze({
    uid: ds.uid || String(ds.id ?? ''),
    name: ds.name ?? '',
    url: parseAgentUrl(jsonData.url ?? (ds.url || undefined)),
    token: token === undefined || token === '' ? undefined : token,
    lastUpdatedMS: Number(ds.lastUpdatedMS ?? 0),
  });
}
