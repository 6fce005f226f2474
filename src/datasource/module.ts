import { DataSourcePlugin } from '@grafana/data';
import { DataSource } from './datasource';
import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import type { ImagetrustOptions, ImagetrustQuery, ImagetrustSecureOptions } from './types';

export const plugin = new DataSourcePlugin<
  DataSource,
  ImagetrustQuery,
  ImagetrustOptions,
  ImagetrustSecureOptions
>(DataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
