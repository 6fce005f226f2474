import React from 'react';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { setDataSourceSrv } from '@grafana/runtime';
import type { AppRootProps } from '@grafana/data';
import App from './App';
import { container, nodeState } from '../../testing/fixtures';
import { testIds } from '../../testIds';
import type { AppSettings } from '../../constants';

const get = jest.fn();
setDataSourceSrv({ get } as never);

function renderApp(path: string, jsonData: AppSettings = {}) {
  const props = { meta: { id: 'imagetrust-fleet-app', jsonData }, basename: '/a/imagetrust-fleet-app' };
  return render(
    <MemoryRouter initialEntries={[path]}>
      <App {...(props as unknown as AppRootProps<AppSettings>)} />
    </MemoryRouter>,
  );
}

/** A data source whose resources answer from a small fleet. */
function fakeDataSource() {
  const containers = [
    container({ id: '1', node: 'a', name: 'miner', status: 'untrusted' }),
    container({ id: '2', node: 'a', name: 'web', status: 'trusted' }),
    container({ id: '3', node: 'b', name: 'db', status: 'unknown' }),
  ];
  const resource = jest.fn(async (path: string, params: { status?: string; node?: string } = {}) => {
    if (path === 'nodes') {
      return { nodes: [nodeState({ node: 'a' }), nodeState({ node: 'b', status: 'unreachable' })] };
    }
    if (path === 'containers') {
      return {
        containers: containers.filter(
          (c) => (!params.status || c.status === params.status) && (!params.node || c.node === params.node),
        ),
      };
    }
    return { refusals: [] };
  });
  return { type: 'imagetrust-fleet-datasource', resource };
}

beforeEach(() => get.mockReset());

describe('the app pages', () => {
  it('read the data source the app settings name', async () => {
    const ds = fakeDataSource();
    get.mockResolvedValue(ds);
    renderApp('/fleet', { datasourceUid: 'fleet-eu' });
    await screen.findByText('miner');
    expect(get).toHaveBeenCalledWith({ uid: 'fleet-eu' });
    // Not trusted by default: one request per status, so a trusted fleet sends little.
    expect(ds.resource.mock.calls.filter(([p]) => p === 'containers').map(([, q]) => q)).toEqual([
      { status: 'untrusted' },
      { status: 'unknown' },
      { status: 'unsupported' },
    ]);
    expect(screen.getByTestId(testIds.totals)).toHaveTextContent('2 nodes');
    expect(screen.queryByText('web')).not.toBeInTheDocument();
  });

  it('use the provisioned imagetrust data source when the settings name none', async () => {
    get.mockResolvedValue(fakeDataSource());
    renderApp('/node/a');
    await screen.findByText('miner');
    expect(get).toHaveBeenCalledWith({ uid: 'imagetrust' });
    expect(screen.getByText('web')).toBeInTheDocument();
    expect(screen.queryByText('db')).not.toBeInTheDocument();
  });

  it('say clearly when the configured data source does not exist', async () => {
    get.mockRejectedValue(new Error('Datasource gone was not found'));
    renderApp('/fleet', { datasourceUid: 'gone' });
    const alert = await screen.findAllByTestId(testIds.missingDataSource);
    expect(alert[0]).toHaveTextContent('The data source "gone" named in the app\'s settings does not exist.');
    expect(alert[0]).toHaveTextContent("app's configuration");
  });

  it('say so when the uid names a data source of another type', async () => {
    get.mockResolvedValue({ type: 'prometheus' });
    renderApp('/node/a', { datasourceUid: 'imagetrust-prometheus' });
    const alert = await screen.findAllByTestId(testIds.missingDataSource);
    expect(alert[0]).toHaveTextContent('is a prometheus data source, not an imagetrust one');
  });

  it('filter the Node page by search and status', async () => {
    get.mockResolvedValue(fakeDataSource());
    renderApp('/node/a');
    await screen.findByText('miner');
    fireEvent.click(screen.getByLabelText('Trusted'));
    await waitFor(() => expect(screen.queryByText('miner')).not.toBeInTheDocument());
    expect(screen.getByText('web')).toBeInTheDocument();
    expect(screen.getByTestId(testIds.filter.count)).toHaveTextContent('1 of 2 containers');
  });
});
