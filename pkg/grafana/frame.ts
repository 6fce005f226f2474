// A data frame described as plain data, before any encoding: what the query handlers build and
// what arrow.ts turns into the Arrow IPC bytes Grafana's plugin SDK reads (data/arrow.go).
// Grafana's frame model: a frame has a name, the refId of its query, a `meta` object; each field
// a name, a type, labels and a field config (display name, unit, value mappings …).

/** Field types, named as Grafana's frontend names them (`FieldType`). */
export type FieldKind = 'string' | 'number' | 'boolean' | 'time' | 'other';

/** Values by kind: `time` is milliseconds since the epoch; `other` is any JSON value. */
export type FieldValue<K extends FieldKind> = K extends 'string'
  ? string
  : K extends 'number' | 'time'
    ? number
    : K extends 'boolean'
      ? boolean
      : unknown;

export interface FieldSpec<K extends FieldKind = FieldKind> {
  name: string;
  kind: K;
  /** `null` marks a missing value; a field with any null is encoded as nullable. */
  values: ReadonlyArray<FieldValue<K> | null>;
  labels?: Record<string, string>;
  config?: FieldConfig;
}

/** The parts of Grafana's FieldConfig this backend sets. */
export interface FieldConfig {
  displayName?: string;
  displayNameFromDS?: string;
  unit?: string;
  decimals?: number;
  color?: { mode: string; fixedColor?: string };
  mappings?: ValueMapping[];
  links?: { title: string; url: string }[];
  custom?: Record<string, unknown>;
}

export interface ValueMapping {
  type: 'value';
  options: Record<string, { text?: string; color?: string; index?: number }>;
}

/** Grafana's data-plane frame types (grafana-plugin-sdk-go data/frame_type.go). */
export type FrameType = 'numeric-multi' | 'numeric-wide' | 'timeseries-multi' | 'timeseries-wide';

export interface FrameMeta {
  type?: FrameType;
  typeVersion?: [number, number];
  preferredVisualisationType?: 'graph' | 'table' | 'logs' | 'trace' | 'nodeGraph';
  custom?: Record<string, unknown>;
}

export interface FrameSpec {
  name: string;
  refId: string;
  meta?: FrameMeta;
  fields: FieldSpec[];
}

/** A typed field constructor: the compiler checks values against the kind. */
export function field<K extends FieldKind>(
  name: string,
  kind: K,
  values: ReadonlyArray<FieldValue<K> | null>,
  extra: { labels?: Record<string, string>; config?: FieldConfig } = {},
): FieldSpec<K> {
  return { name, kind, values, ...extra };
}
