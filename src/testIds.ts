// Selectors for tests: one place, as grafana-plugin-examples keep them.
export const testIds = {
  configEditor: { url: 'data-testid imagetrust-config-url', token: 'data-testid imagetrust-config-token' },
  queryEditor: {
    queryType: 'data-testid imagetrust-query-type',
    node: 'data-testid imagetrust-query-node',
    status: 'data-testid imagetrust-query-status',
    digest: 'data-testid imagetrust-query-digest',
  },
  trustMap: {
    container: 'data-testid imagetrust-trustmap',
    tile: 'data-testid imagetrust-tile',
    group: 'data-testid imagetrust-tile-group',
    empty: 'data-testid imagetrust-trustmap-empty',
  },
  appConfig: {
    container: 'data-testid imagetrust-app-config',
    datasource: 'data-testid imagetrust-app-datasource',
    submit: 'data-testid imagetrust-app-submit',
  },
  fleet: {
    container: 'data-testid imagetrust-fleet',
    nodes: 'data-testid imagetrust-fleet-nodes',
    offenders: 'data-testid imagetrust-offenders',
  },
  filter: {
    search: 'data-testid imagetrust-filter-search',
    status: 'data-testid imagetrust-filter-status',
    count: 'data-testid imagetrust-filter-count',
  },
  totals: 'data-testid imagetrust-totals',
  missingDataSource: 'data-testid imagetrust-missing-datasource',
  row: 'data-testid imagetrust-row',
  node: {
    container: 'data-testid imagetrust-node',
    verify: 'data-testid imagetrust-verify-now',
    containers: 'data-testid imagetrust-node-containers',
    refusals: 'data-testid imagetrust-node-refusals',
  },
  image: { container: 'data-testid imagetrust-image', evidence: 'data-testid imagetrust-image-evidence' },
};
