// The app pages read the agent through the imagetrust data source's backend resources (the
// backend holds the agent's URL and token). Which data source: the uid saved in the app's
// settings (jsonData.datasourceUid, AppConfig), the provisioned `imagetrust` by default. The
// App root provides it to every page through DataSourceUidContext.

import { createContext, useCallback, useContext, useEffect, useState } from 'react';
import { getDataSourceSrv } from '@grafana/runtime';
import type { DataSource } from '../datasource/datasource';
import { DEFAULT_DATASOURCE_UID, DATASOURCE_TYPE } from '../constants';

export const DataSourceUidContext = createContext<string>(DEFAULT_DATASOURCE_UID);

/** The data source the app's settings name. */
export function useDataSourceUid(): string {
  return useContext(DataSourceUidContext);
}

/** The configured data source does not exist, or is not an imagetrust one. */
export class MissingDataSourceError extends Error {
  constructor(
    readonly uid: string,
    readonly found?: string,
  ) {
    super(
      found
        ? `The data source "${uid}" named in the app's settings is a ${found} data source, not an imagetrust one.`
        : `The data source "${uid}" named in the app's settings does not exist.`,
    );
    this.name = 'MissingDataSourceError';
  }
}

export async function getAgentDataSource(uid: string): Promise<DataSource> {
  let ds: { type?: string; meta?: { id?: string } };
  try {
    ds = (await getDataSourceSrv().get({ uid })) as typeof ds;
  } catch {
    throw new MissingDataSourceError(uid);
  }
  const type = ds?.type ?? ds?.meta?.id;
  if (type !== DATASOURCE_TYPE) {
    throw new MissingDataSourceError(uid, type ?? 'unknown');
  }
  return ds as unknown as DataSource;
}

export interface AgentState<T> {
  data?: T;
  error?: Error;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` against the configured data source and again on `reload()`. `load` must be
 * stable (a module-level function, or one from useCallback with its own dependencies): a new
 * `load` is a new request.
 */
export function useAgent<T>(load: (ds: DataSource) => Promise<T>): AgentState<T> {
  const uid = useDataSourceUid();
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  // The last answer and the request it answered: loading while they differ.
  const [answer, setAnswer] = useState<{
    load?: typeof load;
    generation?: number;
    uid?: string;
    data?: T;
    error?: Error;
  }>({});
  useEffect(() => {
    let live = true;
    const request = { load, generation, uid };
    getAgentDataSource(uid)
      .then(load)
      .then(
        (data) => live && setAnswer({ ...request, data }),
        (err: unknown) =>
          live && setAnswer({ ...request, error: err instanceof Error ? err : new Error(String(err)) }),
      );
    return () => {
      live = false;
    };
  }, [load, generation, uid]);
  const current = answer.load === load && answer.generation === generation && answer.uid === uid;
  return {
    ...(answer.data === undefined ? {} : { data: answer.data }),
    ...(current && answer.error !== undefined ? { error: answer.error } : {}),
    loading: !current,
    reload,
  };
}
