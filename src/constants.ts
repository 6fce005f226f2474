import pluginJson from './plugin.json';

export const PLUGIN_ID = pluginJson.id;
export const PLUGIN_BASE_URL = `/a/${pluginJson.id}`;
export const DEFAULT_DATASOURCE_UID = 'imagetrust';

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
  agentUrl?: string;
}
