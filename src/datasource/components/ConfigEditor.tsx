import React, { type ChangeEvent } from 'react';
import { InlineField, Input, SecretInput } from '@grafana/ui';
import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import type { ImagetrustOptions, ImagetrustSecureOptions } from '../types';
import { testIds } from '../../testIds';

type Props = DataSourcePluginOptionsEditorProps<ImagetrustOptions, ImagetrustSecureOptions>;

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const { jsonData, secureJsonFields } = options;
  const secureJsonData = (options.secureJsonData ?? {}) as ImagetrustSecureOptions;

  const onUrlChange = (event: ChangeEvent<HTMLInputElement>) =>
    onOptionsChange({ ...options, jsonData: { ...jsonData, url: event.target.value.trim() } });
  const onTokenChange = (event: ChangeEvent<HTMLInputElement>) =>
    onOptionsChange({ ...options, secureJsonData: { token: event.target.value } });
  const onResetToken = () =>
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secureJsonFields, token: false },
      secureJsonData: { ...secureJsonData, token: '' },
    });

  return (
    <>
      <InlineField
        label="Agent URL"
        labelWidth={16}
        tooltip="How Grafana's server reaches the imagetrust agent, e.g. http://agent:9581"
        interactive
      >
        <Input
          data-testid={testIds.configEditor.url}
          width={48}
          value={jsonData.url ?? ''}
          placeholder="http://agent:9581"
          onChange={onUrlChange}
        />
      </InlineField>
      <InlineField
        label="API token"
        labelWidth={16}
        tooltip="The agent's --token; stored encrypted, never sent to browsers"
        interactive
      >
        <SecretInput
          data-testid={testIds.configEditor.token}
          width={48}
          isConfigured={Boolean(secureJsonFields?.token)}
          value={secureJsonData.token ?? ''}
          placeholder="agent bearer token"
          onReset={onResetToken}
          onChange={onTokenChange}
        />
      </InlineField>
    </>
  );
}
