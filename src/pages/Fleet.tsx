import React from 'react';
import { PluginPage } from '@grafana/runtime';
import { Alert, LoadingPlaceholder, TextLink, useStyles2 } from '@grafana/ui';
import { worstStatus, type ContainerResult, type NodeState } from '../api/types';
import { useAgent } from '../api/useAgent';
import type { DataSource } from '../datasource/datasource';
import { StatusBadge } from '../components/StatusBadge';
import { getTableStyles } from '../components/styles';
import { ROUTES, prefixRoute } from '../constants';
import { testIds } from '../testIds';

interface FleetData {
  nodes: NodeState[];
  offenders: ContainerResult[];
}

async function loadFleet(ds: DataSource): Promise<FleetData> {
  const [{ nodes }, { containers }] = await Promise.all([
    ds.request<{ nodes: NodeState[] }>('/nodes'),
    ds.request<{ containers: ContainerResult[] }>('/containers'),
  ]);
  // The agent answers worst first.
  return { nodes, offenders: containers.filter((c) => c.status !== 'trusted').slice(0, 20) };
}

export function FleetPage() {
  const styles = useStyles2(getTableStyles);
  const { data, error, loading } = useAgent(loadFleet);

  return (
    <PluginPage>
      <div data-testid={testIds.fleet.container}>
        {error && <Alert title="Cannot read the imagetrust agent">{error}</Alert>}
        {loading && !data && <LoadingPlaceholder text="Loading the fleet…" />}
        {data && (
          <>
            <section className={styles.section}>
              <h3>Nodes</h3>
              <table className={styles.table}>
                <thead>
                  <tr>
                    <th>Node</th>
                    <th>State</th>
                    <th>Worst</th>
                    <th>Trusted</th>
                    <th>Untrusted</th>
                    <th>Unsupported</th>
                    <th>Unknown</th>
                    <th>Last scan</th>
                  </tr>
                </thead>
                <tbody>
                  {data.nodes.map((n) => {
                    const worst = worstStatus(n.counts);
                    return (
                      <tr key={n.node}>
                        <td>
                          <TextLink href={prefixRoute(`${ROUTES.Node}/${encodeURIComponent(n.node)}`)}>
                            {n.node}
                          </TextLink>
                        </td>
                        <td>{n.status === 'up' ? 'up' : <strong title={n.reason}>unreachable</strong>}</td>
                        <td>
                          {worst ? (
                            <StatusBadge status={worst} />
                          ) : (
                            <span className={styles.muted}>no containers</span>
                          )}
                        </td>
                        <td>{n.counts.trusted}</td>
                        <td>{n.counts.untrusted}</td>
                        <td>{n.counts.unsupported}</td>
                        <td>{n.counts.unknown}</td>
                        <td className={styles.muted}>
                          {n.ageSeconds === undefined ? 'never' : `${Math.round(n.ageSeconds)} s ago`}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </section>
            <section className={styles.section} data-testid={testIds.fleet.offenders}>
              <h3>Worst offenders</h3>
              {data.offenders.length === 0 ? (
                <p className={styles.muted}>Every running container is trusted.</p>
              ) : (
                <table className={styles.table}>
                  <thead>
                    <tr>
                      <th>Status</th>
                      <th>Node</th>
                      <th>Container</th>
                      <th>Image</th>
                      <th>Reason</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.offenders.map((c) => (
                      <tr key={`${c.node}/${c.id}`}>
                        <td>
                          <StatusBadge status={c.status} />
                        </td>
                        <td>{c.node}</td>
                        <td>{c.name}</td>
                        <td>
                          <TextLink href={prefixRoute(`${ROUTES.Image}/${encodeURIComponent(c.digest)}`)}>
                            {c.image}
                          </TextLink>
                        </td>
                        <td className={styles.muted}>{c.reason ?? ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </>
        )}
      </div>
    </PluginPage>
  );
}

export default FleetPage;
