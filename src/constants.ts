import pluginJson from './plugin.json';

export const PLUGIN_ID = pluginJson.id;
export const PLUGIN_BASE_URL = `/a/${pluginJson.id}`;
/** The provisioned data source (provisioning/datasources/imagetrust.yaml). */
export const DEFAULT_DATASOURCE_UID = 'imagetrust';
/** The nested data source's plugin id (datasource/plugin.json). */
export const DATASOURCE_TYPE = 'imagetrust-fleet-datasource';
/** Where Grafana shows the app's configuration page. */
export const APP_CONFIG_URL = `/plugins/${pluginJson.id}`;

export enum ROUTES {
  Fleet = 'fleet',
  Node = 'node',
  Image = 'image',
}

export function prefixRoute(route: string): string {
  return `${PLUGIN_BASE_URL}/${route}`;
}

/** The app's settings (jsonData). */
export interface AppSettings {
  /** Which imagetrust data source the app pages read. */
  datasourceUid?: string;
}
