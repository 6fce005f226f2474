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
    empty: 'data-testid imagetrust-trustmap-empty',
  },
  appConfig: {
    container: 'data-testid imagetrust-app-config',
    datasource: 'data-testid imagetrust-app-datasource',
    submit: 'data-testid imagetrust-app-submit',
  },
  fleet: { container: 'data-testid imagetrust-fleet', offenders: 'data-testid imagetrust-offenders' },
  node: {
    container: 'data-testid imagetrust-node',
    verify: 'data-testid imagetrust-verify-now',
    refusals: 'data-testid imagetrust-node-refusals',
  },
  image: { container: 'data-testid imagetrust-image', evidence: 'data-testid imagetrust-image-evidence' },
};
