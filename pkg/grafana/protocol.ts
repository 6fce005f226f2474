// Grafana's plugin protocol as this project wrote it (proto/*.proto), loaded at run time with
// @grpc/proto-loader, and the message shapes the loader produces (keepCase, int64 as Number,
// bytes as Buffer, enums as their names, defaults filled in). The .proto texts are read from
// the single executable's assets when running as one (package/sea.ts embeds them), otherwise
// from pkg/grafana/proto/. Used by the backend and by the Grafana-side test harness alike.

import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Root, parse } from 'protobufjs';
import { ImagetrustError } from '../errors';

export const PROTO_FILES = ['imagetrust-plugin.proto', 'health.proto', 'go-plugin.proto'] as const;
export type ProtoFile = (typeof PROTO_FILES)[number];

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

// Message shapes (as the loader decodes them; on encoding, missing fields take defaults).

export interface User {
  login: string;
  name: string;
  email: string;
  role: string;
}

export interface DataSourceInstanceSettings {
  id: number;
  name: string;
  url: string;
  user: string;
  database: string;
  basicAuthEnabled: boolean;
  basicAuthUser: string;
  jsonData: Buffer;
  decryptedSecureJsonData: Record<string, string>;
  lastUpdatedMS: number;
  uid: string;
}

export interface PluginContext {
  orgId: number;
  pluginId: string;
  user: User | null;
  dataSourceInstanceSettings: DataSourceInstanceSettings | null;
}

export interface DataQuery {
  refId: string;
  maxDataPoints: number;
  intervalMS: number;
  timeRange: { fromEpochMS: number; toEpochMS: number } | null;
  json: Buffer;
  queryType: string;
}

export interface QueryDataRequest {
  pluginContext: PluginContext | null;
  headers: Record<string, string>;
  queries: DataQuery[];
}

export type ErrorSource = 'plugin' | 'downstream';

export interface DataResponse {
  frames: Uint8Array[];
  error: string;
  status: number;
  errorSource: ErrorSource | '';
}

export interface QueryDataResponse {
  responses: Record<string, DataResponse>;
}

export type HealthStatus = 'UNKNOWN' | 'OK' | 'ERROR';

export interface CheckHealthRequest {
  pluginContext: PluginContext | null;
  headers: Record<string, string>;
}

export interface CheckHealthResponse {
  status: HealthStatus;
  message: string;
  jsonDetails: Uint8Array;
}

export interface CollectMetricsResponse {
  metrics: { prometheus: Uint8Array };
}

export interface StringList {
  values: string[];
}

export interface CallResourceRequest {
  pluginContext: PluginContext | null;
  path: string;
  method: string;
  url: string;
  headers: Record<string, StringList>;
  body: Buffer;
}

export interface CallResourceResponse {
  code: number;
  headers: Record<string, StringList>;
  body: Uint8Array;
}

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** Reads a .proto text: from the executable's assets when it is one, else from the source tree. */
export function readProtoText(file: ProtoFile): string {
  // node:sea exists from Node 20.12; loaded lazily so older runtimes can still run the tests.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sea = require('node:sea') as typeof import('node:sea');
  if (sea.isSea()) return sea.getAsset(file, 'utf8');
  const candidates = [
    join(__dirname, 'proto'),
    resolve(__dirname, '..', '..', '..', 'pkg', 'grafana', 'proto'),
  ];
  for (const dir of candidates) {
    const path = join(dir, file);
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  throw new ImagetrustError('IO', `${file} not found (looked in ${candidates.join(', ')})`);
}

export interface Protocol {
  Data: grpc.ServiceClientConstructor;
  Diagnostics: grpc.ServiceClientConstructor;
  Resource: grpc.ServiceClientConstructor;
  Health: grpc.ServiceClientConstructor;
  GRPCController: grpc.ServiceClientConstructor;
}

/** Parses the .proto texts and returns the service constructors (client and server side). */
export function loadProtocol(read: (file: ProtoFile) => string = readProtoText): Protocol {
  const root = new Root();
  for (const file of PROTO_FILES) parse(read(file), root, { keepCase: true });
  const definition = protoLoader.fromJSON(root.toJSON(), LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    pluginv2: Record<'Data' | 'Diagnostics' | 'Resource', grpc.ServiceClientConstructor>;
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    plugin: { GRPCController: grpc.ServiceClientConstructor };
  };
  return {
    Data: loaded.pluginv2.Data,
    Diagnostics: loaded.pluginv2.Diagnostics,
    Resource: loaded.pluginv2.Resource,
    Health: loaded.grpc.health.v1.Health,
    GRPCController: loaded.plugin.GRPCController,
  };
}
