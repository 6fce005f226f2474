// The Fleet page: counts for the whole fleet at the top, every node worst first (searchable,
// filtered by the statuses it runs), and the containers of the chosen statuses grouped by
// node. Lists are virtualized: 1,000 nodes × 50 containers stay usable.

import React, { useCallback, useMemo, useState } from 'react';
import { PluginPage } from '@grafana/runtime';
import { LoadingPlaceholder, TextLink, useStyles2 } from '@grafana/ui';
import type { ContainerResult, ContainersAnswer, NodesAnswer } from '../api/types';
import {
  containerMatcher,
  filterNodeRows,
  fleetTotals,
  groupByNode,
  groupedRows,
  nodeRows,
  type GroupedRow,
  type NodeRow,
} from '../api/fleetView';
import { useAgent } from '../api/useAgent';
import type { DataSource } from '../datasource/datasource';
import { RESOURCES } from '../datasource/types';
import { AgentAlert } from '../components/AgentAlert';
import { FilterBar, filterOf, statusesOf, type StatusChoice } from '../components/FilterBar';
import { StatusBadge } from '../components/StatusBadge';
import { Totals } from '../components/Totals';
import { VirtualList } from '../components/VirtualList';
import { getTableStyles } from '../components/styles';
import { ROUTES, prefixRoute } from '../constants';
import { testIds } from '../testIds';

const NODE_COLUMNS = 'minmax(160px, 2fr) 110px 120px repeat(4, 90px) 110px';
const CONTAINER_COLUMNS = '120px minmax(140px, 1fr) minmax(160px, 2fr) minmax(160px, 3fr)';
const ROW = 36;

/** Containers of the chosen statuses: one request per status, so a mostly trusted fleet sends little. */
async function containersOf(ds: DataSource, status: StatusChoice): Promise<ContainerResult[]> {
  const statuses = statusesOf(status);
  if (statuses.length === 0) {
    return (await ds.resource<ContainersAnswer>(RESOURCES.containers)).containers;
  }
  const answers = await Promise.all(
    statuses.map((s) => ds.resource<ContainersAnswer>(RESOURCES.containers, { status: s })),
  );
  return answers.flatMap((a) => a.containers);
}

const nodeLink = (node: string) => prefixRoute(`${ROUTES.Node}/${encodeURIComponent(node)}`);
const imageLink = (digest: string) => prefixRoute(`${ROUTES.Image}/${encodeURIComponent(digest)}`);

function ageText(seconds?: number): string {
  return seconds === undefined ? 'never' : `${Math.round(seconds)} s ago`;
}

export function FleetPage() {
  const styles = useStyles2(getTableStyles);
  const [nodeFilter, setNodeFilter] = useState<{ search: string; status: StatusChoice }>({
    search: '',
    status: 'all',
  });
  const [containerFilter, setContainerFilter] = useState<{ search: string; status: StatusChoice }>({
    search: '',
    status: 'not-trusted',
  });
  const loadNodes = useCallback(
    async (ds: DataSource) => (await ds.resource<NodesAnswer>(RESOURCES.nodes)).nodes,
    [],
  );
  const nodes = useAgent(loadNodes);
  const containerStatus = containerFilter.status;
  const loadContainers = useCallback(
    (ds: DataSource) => containersOf(ds, containerStatus),
    [containerStatus],
  );
  const containers = useAgent(loadContainers);

  const allRows = useMemo(() => nodeRows(nodes.data ?? []), [nodes.data]);
  const shownRows = useMemo(
    () => filterNodeRows(allRows, filterOf(nodeFilter.search, nodeFilter.status)),
    [allRows, nodeFilter],
  );
  const unreachable = useMemo(
    () => new Set(allRows.filter((r) => r.unreachable).map((r) => r.node)),
    [allRows],
  );
  const shownContainers = useMemo(
    () =>
      (containers.data ?? []).filter(
        containerMatcher(filterOf(containerFilter.search, containerFilter.status)),
      ),
    [containers.data, containerFilter],
  );
  const grouped = useMemo(
    () => groupedRows(groupByNode(shownContainers, unreachable)),
    [shownContainers, unreachable],
  );
  const totals = useMemo(() => fleetTotals(nodes.data ?? []), [nodes.data]);

  const renderNode = (r: NodeRow) => (
    <div className={styles.gridRow} style={{ gridTemplateColumns: NODE_COLUMNS }} data-testid={testIds.row}>
      <span>
        <TextLink href={nodeLink(r.node)}>{r.node}</TextLink>
      </span>
      <span>{r.unreachable ? <strong title={r.reason}>unreachable</strong> : 'up'}</span>
      <span>
        {r.worst ? <StatusBadge status={r.worst} /> : <span className={styles.muted}>no containers</span>}
      </span>
      <span>{r.counts.trusted}</span>
      <span>{r.counts.untrusted}</span>
      <span>{r.counts.unsupported}</span>
      <span>{r.counts.unknown}</span>
      <span className={styles.muted}>{ageText(r.ageSeconds)}</span>
    </div>
  );

  const renderGrouped = (row: GroupedRow) =>
    row.kind === 'node' ? (
      <div
        className={`${styles.gridRow} ${styles.groupRow}`}
        style={{ gridTemplateColumns: CONTAINER_COLUMNS }}
      >
        <span>{row.group.worst && <StatusBadge status={row.group.worst} />}</span>
        <span>
          <TextLink href={nodeLink(row.group.node)}>{row.group.node}</TextLink>
          {row.group.unreachable ? ' (unreachable)' : ''}
        </span>
        <span className={styles.muted}>{row.group.counts.total} shown</span>
        <span />
      </div>
    ) : (
      <div
        className={styles.gridRow}
        style={{ gridTemplateColumns: CONTAINER_COLUMNS }}
        data-testid={testIds.row}
      >
        <span>
          <StatusBadge status={row.container.status} />
        </span>
        <span>{row.container.name}</span>
        <span>
          <TextLink href={imageLink(row.container.digest)}>{row.container.image}</TextLink>
        </span>
        <span className={styles.muted} title={row.container.reason}>
          {row.container.reason ?? ''}
        </span>
      </div>
    );

  return (
    <PluginPage>
      <div data-testid={testIds.fleet.container}>
        {nodes.error && <AgentAlert error={nodes.error} />}
        {nodes.loading && !nodes.data && <LoadingPlaceholder text="Loading the fleet…" />}
        {nodes.data && (
          <>
            <Totals counts={totals.containers} nodes={totals.nodes} unreachable={totals.unreachable} />
            <section className={styles.section} data-testid={testIds.fleet.nodes}>
              <h3>Nodes</h3>
              <FilterBar
                {...nodeFilter}
                onChange={setNodeFilter}
                shown={shownRows.length}
                total={allRows.length}
                noun="nodes"
                placeholder="Search node names"
              />
              <div
                className={`${styles.gridRow} ${styles.gridHead}`}
                style={{ gridTemplateColumns: NODE_COLUMNS }}
              >
                <span>Node</span>
                <span>State</span>
                <span>Worst</span>
                <span>Trusted</span>
                <span>Untrusted</span>
                <span>Unsupported</span>
                <span>Unknown</span>
                <span>Last scan</span>
              </div>
              <VirtualList
                items={shownRows}
                maxHeight={ROW * 12}
                rowHeight={() => ROW}
                rowKey={(r) => r.node}
                renderRow={renderNode}
              />
            </section>
          </>
        )}
        <section className={styles.section} data-testid={testIds.fleet.offenders}>
          <h3>Containers by node</h3>
          <FilterBar
            {...containerFilter}
            onChange={setContainerFilter}
            shown={shownContainers.length}
            total={containers.data?.length ?? 0}
            noun="containers"
          />
          {containers.error && !nodes.error && <AgentAlert error={containers.error} />}
          {containers.loading && <LoadingPlaceholder text="Loading containers…" />}
          {!containers.loading && containers.data && grouped.length === 0 && (
            <p className={styles.muted}>
              {containerFilter.status === 'not-trusted' && containerFilter.search === ''
                ? 'Every running container is trusted.'
                : 'No container matches.'}
            </p>
          )}
          {!containers.loading && grouped.length > 0 && (
            <VirtualList
              items={grouped}
              maxHeight={ROW * 16}
              rowHeight={() => ROW}
              rowKey={(r) =>
                r.kind === 'node' ? `node/${r.group.node}` : `c/${r.container.node}/${r.container.id}`
              }
              renderRow={renderGrouped}
            />
          )}
        </section>
      </div>
    </PluginPage>
  );
}

export default FleetPage;
