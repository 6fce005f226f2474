// The app pages read the agent through the imagetrust data source (and so through Grafana's
// data proxy, with the token it holds); this hook finds that data source and runs a request.

import { useCallback, useEffect, useState } from 'react';
import { getDataSourceSrv } from '@grafana/runtime';
import type { DataSource } from '../datasource/datasource';
import { DEFAULT_DATASOURCE_UID } from '../constants';

export async function getAgentDataSource(uid: string = DEFAULT_DATASOURCE_UID): Promise<DataSource> {
  return (await getDataSourceSrv().get(uid)) as unknown as DataSource;
}

export interface AgentState<T> {
  data?: T;
  error?: string;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` against the agent's data source and again on `reload()`. `load` must be stable
 * (a module-level function, or one from useCallback with its own dependencies): a new `load`
 * is a new request.
 */
export function useAgent<T>(load: (ds: DataSource) => Promise<T>, uid?: string): AgentState<T> {
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  // The last answer and the request it answered: loading while they differ.
  const [answer, setAnswer] = useState<{
    load?: typeof load;
    generation?: number;
    uid?: string;
    data?: T;
    error?: string;
  }>({});
  useEffect(() => {
    let live = true;
    const request = { load, generation, uid };
    getAgentDataSource(uid)
      .then(load)
      .then(
        (data) => live && setAnswer({ ...request, data }),
        (err: unknown) =>
          live && setAnswer({ ...request, error: err instanceof Error ? err.message : String(err) }),
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
