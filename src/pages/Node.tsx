import React, { useCallback, useState } from 'react';
import { useParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Alert, Button, LoadingPlaceholder, TextLink, useStyles2 } from '@grafana/ui';
import type { AdmissionRefusal, ContainerResult } from '../api/types';
import { getAgentDataSource, useAgent } from '../api/useAgent';
import type { DataSource } from '../datasource/datasource';
import { StatusBadge } from '../components/StatusBadge';
import { getTableStyles } from '../components/styles';
import { ROUTES, prefixRoute } from '../constants';
import { testIds } from '../testIds';

export function NodePage() {
  const { node = '' } = useParams<{ node: string }>();
  const styles = useStyles2(getTableStyles);
  const [verifying, setVerifying] = useState(false);
  const [verifyError, setVerifyError] = useState<string>();
  const load = useCallback(
    async (ds: DataSource) =>
      (await ds.request<{ containers: ContainerResult[] }>('/containers', { params: { node } })).containers,
    [node],
  );
  const { data, error, loading, reload } = useAgent(load);
  // Refusals of the host's admission plugin; an agent without --admission-log has none to show.
  const loadRefusals = useCallback(
    async (ds: DataSource) =>
      (
        await ds
          .request<{ refusals: AdmissionRefusal[] }>('/admission/refusals')
          .catch(() => ({ refusals: [] }))
      ).refusals,
    [],
  );
  const { data: refusals } = useAgent(loadRefusals);

  const verifyNow = async () => {
    setVerifying(true);
    setVerifyError(undefined);
    try {
      const ds = await getAgentDataSource();
      await ds.verifyNow({ node });
      reload();
    } catch (err) {
      setVerifyError(err instanceof Error ? err.message : String(err));
    } finally {
      setVerifying(false);
    }
  };

  return (
    <PluginPage>
      <div data-testid={testIds.node.container}>
        <h2>Node {node}</h2>
        <Button icon="sync" onClick={verifyNow} disabled={verifying} data-testid={testIds.node.verify}>
          {verifying ? 'Verifying…' : 'Verify now'}
        </Button>
        {verifyError && <Alert title="Verification failed">{verifyError}</Alert>}
        {error && <Alert title="Cannot read the imagetrust agent">{error}</Alert>}
        {loading && !data && <LoadingPlaceholder text="Loading containers…" />}
        {data && (
          <table className={styles.table} style={{ marginTop: 16 }}>
            <thead>
              <tr>
                <th>Status</th>
                <th>Container</th>
                <th>Image</th>
                <th>Digest</th>
                <th>Signer</th>
                <th>Drift</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {data.length === 0 && (
                <tr>
                  <td colSpan={7} className={styles.muted}>
                    No running containers on this node.
                  </td>
                </tr>
              )}
              {data.map((c) => (
                <tr key={c.id}>
                  <td>
                    <StatusBadge status={c.status} />
                  </td>
                  <td>
                    {c.name}
                    {c.self ? ' (this agent)' : ''}
                  </td>
                  <td>{c.image}</td>
                  <td className={styles.mono}>
                    <TextLink href={prefixRoute(`${ROUTES.Image}/${encodeURIComponent(c.digest)}`)}>
                      {c.digest.slice(0, 19)}…
                    </TextLink>
                  </td>
                  <td className={styles.mono}>{c.signerName ?? c.signer ?? ''}</td>
                  <td>{c.drift ? <strong title={c.driftDigest}>tag moved</strong> : ''}</td>
                  <td className={styles.muted}>{c.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {refusals && refusals.length > 0 && (
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
                {[...refusals].reverse().map((r, i) => (
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
