// One AgentClient per data source instance (by uid), rebuilt when Grafana says the settings
// changed (lastUpdatedMS) or the URL or token differ; at most `capacity` instances are kept,
// the least recently used one closed first.

import { AgentClient, type AgentClientOptions } from './client';
import type { InstanceSettings } from './settings';

interface Entry {
  version: string;
  client: AgentClient;
}

export class InstanceCache {
  private readonly entries = new Map<string, Entry>();
  /** How many clients were built (tests check the rebuild rule with it). */
  built = 0;

  constructor(
    private readonly capacity = 64,
    private readonly clientOptions: Omit<AgentClientOptions, 'baseUrl' | 'token'> = {},
  ) {}

  clientFor(settings: InstanceSettings): AgentClient {
    const version = JSON.stringify([settings.lastUpdatedMS, settings.url, settings.token ?? '']);
    const entry = this.entries.get(settings.uid);
    if (entry && entry.version === version) {
      // Most recently used last.
      this.entries.delete(settings.uid);
      this.entries.set(settings.uid, entry);
      return entry.client;
    }
    entry?.client.close();
    this.entries.delete(settings.uid);
    const client = new AgentClient({
      ...this.clientOptions,
      baseUrl: settings.url,
      ...(settings.token === undefined ? {} : { token: settings.token }),
    });
    this.built += 1;
    this.entries.set(settings.uid, { version, client });
    while (this.entries.size > this.capacity) {
      const [oldest, old] = this.entries.entries().next().value as [string, Entry];
      old.client.close();
      this.entries.delete(oldest);
    }
    return client;
  }

  get size(): number {
    return this.entries.size;
  }

  close(): void {
    for (const e of this.entries.values()) e.client.close();
    this.entries.clear();
  }
}
