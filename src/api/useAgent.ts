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

export function useAgent<T>(
  load: (ds: DataSource) => Promise<T>,
  deps: unknown[],
  uid?: string,
): AgentState<T> {
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const key = JSON.stringify([...deps, generation, uid ?? null]);
  // The last answer and the request it answered: loading while they differ.
  const [answer, setAnswer] = useState<{ key?: string; data?: T; error?: string }>({});
  useEffect(() => {
    let live = true;
    getAgentDataSource(uid)
      .then(load)
      .then(
        (data) => live && setAnswer({ key, data }),
        (err: unknown) => live && setAnswer({ key, error: err instanceof Error ? err.message : String(err) }),
      );
    return () => {
      live = false;
    };
    // `key` stands for deps, generation and uid.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const current = answer.key === key;
  return {
    ...(answer.data === undefined ? {} : { data: answer.data }),
    ...(current && answer.error !== undefined ? { error: answer.error } : {}),
    loading: !current,
    reload,
  };
}
