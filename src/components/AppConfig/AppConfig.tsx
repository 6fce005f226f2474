import React, { useState, type ChangeEvent } from 'react';
import { lastValueFrom } from 'rxjs';
import type { AppPluginMeta, PluginConfigPageProps, PluginMeta } from '@grafana/data';
import { getBackendSrv } from '@grafana/runtime';
import { Button, Field, FieldSet, Input } from '@grafana/ui';
import { DEFAULT_DATASOURCE_UID, type AppSettings } from '../../constants';
import { testIds } from '../../testIds';

export type AppConfigProps = PluginConfigPageProps<AppPluginMeta<AppSettings>>;

/** Which imagetrust data source the app's pages read (the data source holds the agent URL and token). */
function AppConfig({ plugin }: AppConfigProps) {
  const { enabled, pinned, jsonData } = plugin.meta;
  const [datasourceUid, setDatasourceUid] = useState(jsonData?.datasourceUid ?? DEFAULT_DATASOURCE_UID);
  const [saving, setSaving] = useState(false);

  const onSubmit = async () => {
    setSaving(true);
    try {
      await updatePlugin(plugin.meta.id, { enabled, pinned, jsonData: { ...jsonData, datasourceUid } });
      window.location.reload();
    } finally {
      setSaving(false);
    }
  };

  return (
    <form
      data-testid={testIds.appConfig.container}
      onSubmit={(e) => {
        e.preventDefault();
        void onSubmit();
      }}
    >
      <FieldSet label="imagetrust">
        <Field
          label="Data source uid"
          description="The imagetrust data source the Fleet, Node and Image pages read."
        >
          <Input
            data-testid={testIds.appConfig.datasource}
            width={40}
            value={datasourceUid}
            onChange={(e: ChangeEvent<HTMLInputElement>) => setDatasourceUid(e.target.value.trim())}
          />
        </Field>
        <Button
          type="submit"
          data-testid={testIds.appConfig.submit}
          disabled={saving || datasourceUid === ''}
        >
          Save settings
        </Button>
      </FieldSet>
    </form>
  );
}

export default AppConfig;

async function updatePlugin(pluginId: string, data: Partial<PluginMeta>) {
  return lastValueFrom(
    getBackendSrv().fetch({ url: `/api/plugins/${pluginId}/settings`, method: 'POST', data }),
  );
}
