// The fleet store's tables (schema `imagetrust_fleet`): one row per node (its latest state and
// heartbeat), one per running container (its latest result), the history of changes and the
// counts by status over time, and verify-now requests that `fleet serve` hands to the right
// agent through LISTEN/NOTIFY. Agents only ever connect out to the database. Times a server
// compares (heartbeats) are the database's clock, never an agent's; a node's `version` grows
// with every change of its state or containers.

import type { Migration } from '../postgres/database';

export const FLEET_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE nodes (
  node text PRIMARY KEY,
  state jsonb NOT NULL,
  images jsonb NOT NULL DEFAULT '{}',
  heartbeat_at bigint NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  agent text NOT NULL
);
CREATE TABLE containers (
  node text NOT NULL,
  id text NOT NULL,
  status text NOT NULL,
  result jsonb NOT NULL,
  changed_at bigint NOT NULL,
  PRIMARY KEY (node, id)
);
CREATE INDEX containers_by_status ON containers (status);
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  time bigint NOT NULL,
  node text NOT NULL,
  event jsonb NOT NULL
);
CREATE INDEX events_by_time ON events (time);
CREATE INDEX events_by_node_time ON events (node, time);
CREATE TABLE snapshots (
  id bigserial PRIMARY KEY,
  time bigint NOT NULL,
  node text NOT NULL,
  trusted integer NOT NULL,
  untrusted integer NOT NULL,
  unsupported integer NOT NULL,
  unknown integer NOT NULL,
  total integer NOT NULL
);
CREATE INDEX snapshots_by_node_time ON snapshots (node, time);
CREATE INDEX snapshots_by_time ON snapshots (time);
CREATE TABLE verify_requests (
  id bigserial PRIMARY KEY,
  node text NOT NULL,
  container text,
  requested_at bigint NOT NULL,
  answered_at bigint,
  answer jsonb
);
CREATE INDEX verify_requests_open ON verify_requests (node, requested_at) WHERE answered_at IS NULL;
`,
  },
];

export const FLEET_SCHEMA = 'imagetrust_fleet';

/**
 * Notification channels are database-wide: they carry the schema's name so that two fleets
 * in one database do not hear each other. `verify` carries {"id", "node"} of a verify-now
 * request; `verified` the id of a request the node has answered; `changed` the name of a node
 * whose state or containers changed (sent at commit).
 */
export function channels(schema: string): { verify: string; verified: string; changed: string } {
  return { verify: `${schema}_verify`, verified: `${schema}_verified`, changed: `${schema}_changed` };
}

/** The database's clock in milliseconds, in SQL. */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
