import React, { useCallback } from 'react';
import { useParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Alert, LoadingPlaceholder, useStyles2 } from '@grafana/ui';
import type {
  ChangeEvent,
  ContainerResult,
  ContainersAnswer,
  EventsAnswer,
  StatementsAnswer,
} from '../api/types';
import { useAgent } from '../api/useAgent';
import type { DataSource } from '../datasource/datasource';
import { RESOURCES } from '../datasource/types';
import { AgentAlert } from '../components/AgentAlert';
import { StatusBadge } from '../components/StatusBadge';
import { getTableStyles } from '../components/styles';
import { testIds } from '../testIds';

interface ImageData {
  statements?: StatementsAnswer;
  statementsError?: string;
  containers: ContainerResult[];
  events: ChangeEvent[];
}

export function ImagePage() {
  const { digest = '' } = useParams<{ digest: string }>();
  const styles = useStyles2(getTableStyles);
  const load = useCallback(
    async (ds: DataSource): Promise<ImageData> => {
      const [statements, containers, events] = await Promise.all([
        ds.resource<StatementsAnswer>(RESOURCES.statements, { digest }).then(
          (s) => ({ s }),
          (e: Error) => ({ e: e.message }),
        ),
        ds.resource<ContainersAnswer>(RESOURCES.containers),
        ds.resource<EventsAnswer>(RESOURCES.events, { from: Date.now() - 7 * 86_400_000 }),
      ]);
      return {
        ...('s' in statements ? { statements: statements.s } : { statementsError: statements.e }),
        containers: containers.containers.filter((c) => c.digest === digest),
        events: events.events.filter((e) => e.digest === digest),
      };
    },
    [digest],
  );
  const { data, error, loading } = useAgent(load);

  return (
    <PluginPage>
      <div data-testid={testIds.image.container}>
        <h2 className={styles.mono}>{digest}</h2>
        {error && <AgentAlert error={error} />}
        {loading && !data && <LoadingPlaceholder text="Loading the image…" />}
        {data && (
          <>
            <section className={styles.section}>
              <h3>Ledger statements</h3>
              {data.statementsError && (
                <Alert severity="warning" title="No ledger statements">
                  {data.statementsError}
                </Alert>
              )}
              {data.statements && (
                <>
                  <p className={styles.muted}>
                    Proven against the checkpoint of tree size {data.statements.treeSize} of{' '}
                    {data.statements.origin}.
                  </p>
                  <table className={styles.table}>
                    <thead>
                      <tr>
                        <th>Entry</th>
                        <th>Signed</th>
                        <th>Status</th>
                        <th>Signer</th>
                        <th>Signed as</th>
                        <th>Evidence</th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.statements.statements.map((s) => (
                        <tr key={s.index}>
                          <td>#{s.index}</td>
                          <td>{s.time}</td>
                          <td>{s.status}</td>
                          <td className={styles.mono}>
                            {s.signer}
                            {s.allowed ? '' : ' (not an allowed signer)'}
                          </td>
                          <td>{s.name}</td>
                          <td data-testid={testIds.image.evidence}>
                            {Object.entries(s.attributes ?? {}).map(([k, v]) => (
                              <div key={k} className={styles.mono}>
                                {k}={v}
                              </div>
                            ))}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </>
              )}
            </section>
            <section className={styles.section}>
              <h3>Running containers</h3>
              <table className={styles.table}>
                <tbody>
                  {data.containers.map((c) => (
                    <tr key={`${c.node}/${c.id}`}>
                      <td>
                        <StatusBadge status={c.status} />
                      </td>
                      <td>{c.node}</td>
                      <td>{c.name}</td>
                      <td>{c.image}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
            <section className={styles.section}>
              <h3>History (7 days)</h3>
              {data.events.length === 0 ? (
                <p className={styles.muted}>No changes.</p>
              ) : (
                <ul>
                  {data.events.map((e, i) => (
                    <li key={i}>
                      {new Date(e.time).toISOString()} — {e.node} {e.containerName}: {e.kind} {e.status ?? ''}
                    </li>
                  ))}
                </ul>
              )}
            </section>
          </>
        )}
      </div>
    </PluginPage>
  );
}

export default ImagePage;
