import React, { type ChangeEvent } from 'react';
import { Combobox, InlineField, InlineFieldRow, Input, type ComboboxOption } from '@grafana/ui';
import type { QueryEditorProps } from '@grafana/data';
import type { DataSource } from '../datasource';
import { migrateQuery } from '../migrate';
import {
  DIGEST_QUERY_TYPES,
  QUERY_TYPES,
  QUERY_TYPE_LABELS,
  STATUS_QUERY_TYPES,
  type ImagetrustOptions,
  type ImagetrustQuery,
  type QueryType,
} from '../types';
import { STATUSES_WORST_FIRST } from '../../api/types';
import { testIds } from '../../testIds';

type Props = QueryEditorProps<DataSource, ImagetrustQuery, ImagetrustOptions>;

const typeOptions: Array<ComboboxOption<QueryType>> = QUERY_TYPES.map((t) => ({
  label: QUERY_TYPE_LABELS[t],
  value: t,
}));
const statusOptions: Array<ComboboxOption<string>> = [
  { label: 'Any status', value: '' },
  ...STATUSES_WORST_FIRST.map((s) => ({ label: s, value: s })),
];

export function QueryEditor({ query, onChange, onRunQuery }: Props) {
  const q = migrateQuery(query as never);
  const update = (patch: Partial<ImagetrustQuery>, run = true) => {
    onChange({ ...q, ...patch });
    if (run) {
      onRunQuery();
    }
  };
  const usesStatus = STATUS_QUERY_TYPES.includes(q.queryType);
  /** Statements and evidence are about one digest, not a node. */
  const byDigest = DIGEST_QUERY_TYPES.includes(q.queryType);

  return (
    <InlineFieldRow>
      <InlineField label="Query" labelWidth={10}>
        <Combobox
          data-testid={testIds.queryEditor.queryType}
          width={34}
          options={typeOptions}
          value={q.queryType}
          onChange={(v) => update({ queryType: v.value })}
        />
      </InlineField>
      {!byDigest && (
        <InlineField
          label="Node"
          labelWidth={8}
          tooltip="A node name or a template variable such as $node; empty for all"
        >
          <Input
            data-testid={testIds.queryEditor.node}
            width={20}
            value={q.node ?? ''}
            placeholder="all nodes"
            onChange={(e: ChangeEvent<HTMLInputElement>) => update({ node: e.target.value }, false)}
            onBlur={onRunQuery}
          />
        </InlineField>
      )}
      {usesStatus && (
        <InlineField label="Status" labelWidth={8}>
          <Combobox
            data-testid={testIds.queryEditor.status}
            width={18}
            options={statusOptions}
            value={q.status ?? ''}
            createCustomValue
            onChange={(v) => update({ status: v.value || undefined })}
          />
        </InlineField>
      )}
      {byDigest && (
        <InlineField label="Digest" labelWidth={8}>
          <Input
            data-testid={testIds.queryEditor.digest}
            width={72}
            value={q.digest ?? ''}
            placeholder="sha256:…"
            onChange={(e: ChangeEvent<HTMLInputElement>) => update({ digest: e.target.value.trim() }, false)}
            onBlur={onRunQuery}
          />
        </InlineField>
      )}
      {q.queryType === 'history' && (
        <InlineField
          label="Step"
          labelWidth={8}
          tooltip="Resolution such as 30s, 5m; the panel interval when empty"
        >
          <Input
            width={10}
            value={q.step ?? ''}
            placeholder="auto"
            onChange={(e: ChangeEvent<HTMLInputElement>) => update({ step: e.target.value.trim() }, false)}
            onBlur={onRunQuery}
          />
        </InlineField>
      )}
    </InlineFieldRow>
  );
}
