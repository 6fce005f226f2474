// The Node page: the node's containers worst first, searchable and filtered by status, in a
// virtualized list; "Verify now" through the backend's verify resource; the host's recent
// admission refusals. Everything through the data source the app's settings name.

import React, { useCallback, useMemo, useState } from 'react';
import { useParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Alert, Button, LoadingPlaceholder, TextLink, useStyles2 } from '@grafana/ui';
import {
  countStatuses,
  type ContainerResult,
  type ContainersAnswer,
  type RefusalsAnswer,
} from '../api/types';
import { filterContainers, groupByNode } from '../api/fleetView';
import { getAgentDataSource, useAgent, useDataSourceUid } from '../api/useAgent';
import { isNotFound, type DataSource } from '../datasource/datasource';
import { RESOURCES } from '../datasource/types';
import { AgentAlert } from '../components/AgentAlert';
import { FilterBar, filterOf, type StatusChoice } from '../components/FilterBar';
import { StatusBadge } from '../components/StatusBadge';
import { Totals } from '../components/Totals';
import { VirtualList } from '../components/VirtualList';
import { getTableStyles } from '../components/styles';
import { ROUTES, prefixRoute } from '../constants';
import { testIds } from '../testIds';

const COLUMNS =
  '120px minmax(140px, 2fr) minmax(140px, 2fr) 170px minmax(100px, 1fr) 90px minmax(160px, 3fr)';
const ROW = 36;

export function NodePage() {
  const { node = '' } = useParams<{ node: string }>();
  const uid = useDataSourceUid();
  const styles = useStyles2(getTableStyles);
  const [verifying, setVerifying] = useState(false);
  const [verifyError, setVerifyError] = useState<string>();
  const [filter, setFilter] = useState<{ search: string; status: StatusChoice }>({
    search: '',
    status: 'all',
  });
  const load = useCallback(
    async (ds: DataSource) =>
      (await ds.resource<ContainersAnswer>(RESOURCES.containers, { node })).containers,
    [node],
  );
  const { data, error, loading, reload } = useAgent(load);
  // Refusals of the host's admission plugin; an agent without --admission-log has none (404).
  const loadRefusals = useCallback(
    async (ds: DataSource) =>
      (
        await ds.resource<RefusalsAnswer>(RESOURCES.refusals).catch((err: unknown) => {
          if (isNotFound(err)) {
            return { refusals: [] };
          }
          throw err;
        })
      ).refusals,
    [],
  );
  const refusals = useAgent(loadRefusals);

  // Worst first, then by name (one group: this node).
  const sorted = useMemo(() => groupByNode(data ?? [])[0]?.containers ?? [], [data]);
  const shown = useMemo(
    () => filterContainers(sorted, filterOf(filter.search, filter.status)),
    [sorted, filter],
  );
  const counts = useMemo(() => countStatuses(data ?? []), [data]);

  const verifyNow = async () => {
    setVerifying(true);
    setVerifyError(undefined);
    try {
      const ds = await getAgentDataSource(uid);
      await ds.verifyNow({ node });
      reload();
    } catch (err) {
      setVerifyError(err instanceof Error ? err.message : String(err));
    } finally {
      setVerifying(false);
    }
  };

  const renderRow = (c: ContainerResult) => (
    <div className={styles.gridRow} style={{ gridTemplateColumns: COLUMNS }} data-testid={testIds.row}>
      <span>
        <StatusBadge status={c.status} />
      </span>
      <span>
        {c.name}
        {c.self ? ' (this agent)' : ''}
      </span>
      <span title={c.image}>{c.image}</span>
      <span className={styles.mono}>
        <TextLink href={prefixRoute(`${ROUTES.Image}/${encodeURIComponent(c.digest)}`)}>
          {`${c.digest.slice(0, 19)}…`}
        </TextLink>
      </span>
      <span className={styles.mono}>{c.signerName ?? c.signer ?? ''}</span>
      <span>{c.drift ? <strong title={c.driftDigest}>tag moved</strong> : ''}</span>
      <span className={styles.muted} title={c.reason}>
        {c.reason ?? ''}
      </span>
    </div>
  );

  return (
    <PluginPage>
      <div data-testid={testIds.node.container}>
        <h2>Node {node}</h2>
        <Button icon="sync" onClick={verifyNow} disabled={verifying} data-testid={testIds.node.verify}>
          {verifying ? 'Verifying…' : 'Verify now'}
        </Button>
        {verifyError && <Alert title="Verification failed">{verifyError}</Alert>}
        {error && <AgentAlert error={error} />}
        {loading && !data && <LoadingPlaceholder text="Loading containers…" />}
        {data && (
          <section className={styles.section} style={{ marginTop: 16 }} data-testid={testIds.node.containers}>
            <Totals counts={counts} />
            <FilterBar
              {...filter}
              onChange={setFilter}
              shown={shown.length}
              total={data.length}
              noun="containers"
            />
            <div className={`${styles.gridRow} ${styles.gridHead}`} style={{ gridTemplateColumns: COLUMNS }}>
              <span>Status</span>
              <span>Container</span>
              <span>Image</span>
              <span>Digest</span>
              <span>Signer</span>
              <span>Drift</span>
              <span>Reason</span>
            </div>
            {shown.length === 0 ? (
              <p className={styles.muted}>
                {data.length === 0 ? 'No running containers on this node.' : 'No container matches.'}
              </p>
            ) : (
              <VirtualList
                items={shown}
                maxHeight={ROW * 16}
                rowHeight={() => ROW}
                rowKey={(c) => c.id}
                renderRow={renderRow}
              />
            )}
          </section>
        )}
        {refusals.error && <AgentAlert error={refusals.error} />}
        {refusals.data && refusals.data.length > 0 && (
          <section data-testid={testIds.node.refusals} style={{ marginTop: 24 }}>
            <h3>Recently refused by admission</h3>
            <table className={styles.table}>
              <thead>
                <tr>
                  <th>Time</th>
                  <th>User</th>
                  <th>Action</th>
                  <th>Image</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>
                {[...refusals.data].reverse().map((r, i) => (
                  <tr key={`${r.time}/${i}`}>
                    <td>{r.time}</td>
                    <td>{r.user}</td>
                    <td>
                      {r.action}
                      {r.verdict === 'would-refuse' ? ' (dry run)' : ''}
                    </td>
                    <td className={styles.mono}>{r.image ?? r.digest ?? ''}</td>
                    <td className={styles.muted}>{r.message ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
      </div>
    </PluginPage>
  );
}

export default NodePage;
