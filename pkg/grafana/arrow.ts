// Frame descriptions ⇄ Arrow IPC, following grafana-plugin-sdk-go's data/arrow.go: one Arrow IPC
// *file* per frame (the SDK's UnmarshalArrowFrame opens it with ipc.NewFileReader), schema
// metadata `name`, `refId` and `meta` (JSON), field metadata `name`, `config` (JSON) and `labels`
// (JSON object); strings Utf8, numbers Float64, booleans Bool, times Timestamp(ns, UTC), JSON
// values Binary (the SDK's json.RawMessage). A field is nullable when any value is null.
// Pure: no I/O.

import {
  Binary,
  Bool,
  Field,
  Float64,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimeUnit,
  Timestamp,
  Utf8,
  makeData,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  DataType,
} from 'apache-arrow';
import { ImagetrustError } from '../errors';
import type { FieldKind, FieldSpec, FrameSpec } from './frame';

const TEXT = new TextEncoder();
const UTF8 = new TextDecoder();

function arrowType(kind: FieldKind): DataType {
  switch (kind) {
    case 'string':
      return new Utf8();
    case 'number':
      return new Float64();
    case 'boolean':
      return new Bool();
    case 'time':
      return new Timestamp(TimeUnit.NANOSECOND, 'UTC');
    case 'other':
      return new Binary();
  }
}

/**
 * Nanosecond timestamps built by hand: apache-arrow's builder computes BigInt(ms * 10^6) in
 * floating point, which is off by up to a few hundred nanoseconds for today's dates.
 */
function timeData(type: DataType, values: ReadonlyArray<unknown>) {
  const length = values.length;
  const data = new BigInt64Array(length);
  const validity = new Uint8Array(Math.ceil(length / 8));
  let nullCount = 0;
  values.forEach((v, i) => {
    if (typeof v === 'number' && Number.isFinite(v)) {
      data[i] = BigInt(Math.round(v)) * 1_000_000n;
      validity[i >> 3]! |= 1 << (i & 7);
    } else {
      nullCount += 1;
    }
  });
  return makeData({
    type: type as Timestamp,
    length,
    nullCount,
    data,
    ...(nullCount > 0 ? { nullBitmap: validity } : {}),
  });
}

function arrowValues(spec: FieldSpec): unknown[] {
  if (spec.kind === 'other') {
    return spec.values.map((v) => (v === null || v === undefined ? null : TEXT.encode(JSON.stringify(v))));
  }
  return spec.values.map((v) => (v === undefined ? null : v));
}

function fieldMetadata(spec: FieldSpec): Map<string, string> {
  const meta = new Map<string, string>([['name', spec.name]]);
  if (spec.labels !== undefined) meta.set('labels', JSON.stringify(spec.labels));
  if (spec.config !== undefined) meta.set('config', JSON.stringify(spec.config));
  return meta;
}

/** Encodes one frame as Arrow IPC file bytes, as DataResponse.frames carries them. */
export function encodeFrame(frame: FrameSpec): Uint8Array {
  const length = frame.fields[0]?.values.length ?? 0;
  const fields: Field[] = [];
  const children = [];
  for (const spec of frame.fields) {
    if (spec.values.length !== length) {
      throw new ImagetrustError(
        'INTERNAL',
        `frame ${frame.name}: field ${spec.name} has ${spec.values.length} values, expected ${length}`,
      );
    }
    const type = arrowType(spec.kind);
    const data =
      spec.kind === 'time' ? timeData(type, spec.values) : vectorFromArray(arrowValues(spec), type).data[0]!;
    fields.push(new Field(spec.name, type, data.nullCount > 0, fieldMetadata(spec)));
    children.push(data);
  }
  const metadata = new Map<string, string>([
    ['name', frame.name],
    ['refId', frame.refId],
  ]);
  if (frame.meta !== undefined) metadata.set('meta', JSON.stringify(frame.meta));
  const schema = new Schema(fields, metadata);
  const data = makeData({ type: new Struct(fields), length, nullCount: 0, children });
  return tableToIPC(new Table([new RecordBatch(schema, data)]), 'file');
}

/** A frame read back from Arrow IPC bytes, with metadata parsed. */
export interface DecodedField {
  name: string;
  /** Grafana's field type name. */
  type: FieldKind;
  /** The SDK's Go type name (JSON data frames carry it as typeInfo.frame). */
  frameType: string;
  nullable: boolean;
  labels?: Record<string, string>;
  config?: Record<string, unknown>;
  /** Times as milliseconds, JSON values parsed. */
  values: unknown[];
}

export interface DecodedFrame {
  name: string;
  refId: string;
  meta?: Record<string, unknown>;
  fields: DecodedField[];
}

function parseJson(text: string | undefined, what: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new ImagetrustError('BAD_REQUEST', `${what}: expected a JSON object`);
}

function kindOf(type: DataType): { type: FieldKind; frameType: string } {
  // Read back, types are the generic classes (Float, not Float64): compare type ids.
  if (DataType.isUtf8(type)) return { type: 'string', frameType: 'string' };
  if (DataType.isFloat(type)) return { type: 'number', frameType: 'float64' };
  if (DataType.isInt(type)) return { type: 'number', frameType: 'int64' };
  if (DataType.isBool(type)) return { type: 'boolean', frameType: 'bool' };
  if (DataType.isTimestamp(type)) return { type: 'time', frameType: 'time.Time' };
  if (DataType.isBinary(type)) return { type: 'other', frameType: 'json.RawMessage' };
  throw new ImagetrustError('BAD_REQUEST', `unsupported Arrow type ${String(type)}`);
}

/** Decodes one Arrow IPC frame (file or stream format) with apache-arrow. */
export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 6));
  const isFile = head.toString('latin1') === 'ARROW1';
  const isStream = head.length >= 4 && head.readUInt32LE(0) === 0xffffffff;
  if (!isFile && !isStream) throw new ImagetrustError('BAD_REQUEST', 'not an Arrow IPC frame');
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw new ImagetrustError('BAD_REQUEST', 'not an Arrow IPC frame', { cause: err });
  }
  const md = table.schema.metadata;
  const meta = parseJson(md.get('meta'), 'frame meta');
  const fields = table.schema.fields.map((f, i): DecodedField => {
    const { type, frameType } = kindOf(f.type);
    const column = table.getChildAt(i);
    const raw: unknown[] = [];
    for (let row = 0; row < table.numRows; row++) raw.push(column?.get(row) ?? null);
    const values =
      type === 'other'
        ? raw.map((v) => (v instanceof Uint8Array ? JSON.parse(UTF8.decode(v)) : null))
        : type === 'time'
          ? raw.map((v) => (typeof v === 'number' ? Math.round(v) : typeof v === 'bigint' ? Number(v) : null))
          : raw.map((v) => (typeof v === 'bigint' ? Number(v) : v));
    const labels = parseJson(f.metadata.get('labels'), `labels of ${f.name}`) as
      Record<string, string> | undefined;
    const config = parseJson(f.metadata.get('config'), `config of ${f.name}`);
    return {
      name: f.metadata.get('name') ?? f.name,
      type,
      frameType,
      nullable: f.nullable,
      ...(labels ? { labels } : {}),
      ...(config ? { config } : {}),
      values,
    };
  });
  return {
    name: md.get('name') ?? '',
    refId: md.get('refId') ?? '',
    ...(meta ? { meta } : {}),
    fields,
  };
}

/** Grafana's JSON data frame (what /api/ds/query answers with), built from a decoded frame. */
export interface JsonDataFrame {
  schema: {
    name?: string;
    refId?: string;
    meta?: Record<string, unknown>;
    fields: {
      name: string;
      type: FieldKind;
      typeInfo: { frame: string; nullable?: boolean };
      labels?: Record<string, string>;
      config?: Record<string, unknown>;
    }[];
  };
  data: { values: unknown[][] };
}

export function toJsonDataFrame(frame: DecodedFrame): JsonDataFrame {
  return {
    schema: {
      ...(frame.name ? { name: frame.name } : {}),
      ...(frame.refId ? { refId: frame.refId } : {}),
      ...(frame.meta ? { meta: frame.meta } : {}),
      fields: frame.fields.map((f) => ({
        name: f.name,
        type: f.type,
        typeInfo: { frame: f.frameType, ...(f.nullable ? { nullable: true } : {}) },
        ...(f.labels ? { labels: f.labels } : {}),
        ...(f.config ? { config: f.config } : {}),
      })),
    },
    data: { values: frame.fields.map((f) => f.values) },
  };
}
