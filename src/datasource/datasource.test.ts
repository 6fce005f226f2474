import { lastValueFrom, of, throwError } from 'rxjs';
import { dateTime, type DataQueryRequest, type DataSourceInstanceSettings } from '@grafana/data';
import { setBackendSrv, setTemplateSrv } from '@grafana/runtime';
import { AgentRequestError, DataSource, isNotFound } from './datasource';
import type { ImagetrustOptions, ImagetrustQuery } from './types';

const fetchMock = jest.fn();
const replaceMock = jest.fn((v: string) => v.replace('$node', 'node-a').replace('$digest', 'sha256:d'));

// Grafana's services as Grafana installs them at boot.
setBackendSrv({ fetch: fetchMock } as never);
setTemplateSrv({ replace: replaceMock } as never);

const settings = {
  id: 1,
  uid: 'imagetrust',
  type: 'imagetrust-fleet-datasource',
  name: 'imagetrust',
  jsonData: { url: 'http://agent:9581' },
  meta: {} as never,
  access: 'proxy',
  readOnly: false,
} as unknown as DataSourceInstanceSettings<ImagetrustOptions>;

function answer(data: unknown) {
  return of({ data, status: 200, ok: true });
}

function request(targets: Array<Partial<ImagetrustQuery>>): DataQueryRequest<ImagetrustQuery> {
  return {
    targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), ...t })),
    range: { from: dateTime(1000), to: dateTime(601_000), raw: { from: 'now-10m', to: 'now' } },
    scopedVars: {},
    intervalMs: 15_000,
    maxDataPoints: 500,
  } as unknown as DataQueryRequest<ImagetrustQuery>;
}

/** What the data source posted to /api/ds/query. */
function posted(): { url: string; queries: Array<Record<string, unknown>>; from: string; to: string } {
  const call = fetchMock.mock.calls[0][0];
  return { url: call.url, ...call.data };
}

beforeEach(() => {
  fetchMock.mockReset();
  replaceMock.mockClear();
});

describe('DataSource', () => {
  it('posts queries to /api/ds/query for the backend, variables filled in, the range as strings', async () => {
    fetchMock.mockReturnValue(answer({ results: { A: { frames: [] } } }));
    const ds = new DataSource(settings);
    await lastValueFrom(
      ds.query(request([{ queryType: 'containers', node: '$node', status: 'untrusted', version: 2 }])),
    );
    const body = posted();
    expect(body.url).toBe('/api/ds/query?ds_type=imagetrust-fleet-datasource');
    expect(body.from).toBe('1000');
    expect(body.to).toBe('601000');
    expect(body.queries).toHaveLength(1);
    expect(body.queries[0]).toMatchObject({
      refId: 'A',
      queryType: 'containers',
      node: 'node-a',
      status: 'untrusted',
      datasource: { uid: 'imagetrust', type: 'imagetrust-fleet-datasource' },
      intervalMs: 15_000,
      maxDataPoints: 500,
    });
  });

  it('drops the All value of a variable instead of sending it, and fills in digest and step', async () => {
    fetchMock.mockReturnValue(answer({ results: {} }));
    replaceMock.mockImplementationOnce(() => '$__all');
    await lastValueFrom(
      new DataSource(settings).query(
        request([
          { queryType: 'counts', node: '$node' },
          { queryType: 'statements', digest: ' $digest ' },
          { queryType: 'history', step: '5m' },
        ]),
      ),
    );
    const [counts, statements, history] = posted().queries;
    expect(counts).not.toHaveProperty('node');
    expect(statements).toMatchObject({ queryType: 'statements', digest: 'sha256:d' });
    expect(history).toMatchObject({ queryType: 'history', step: '5m' });
  });

  it('migrates saved version 1 queries before the backend sees them', async () => {
    fetchMock.mockReturnValue(answer({ results: {} }));
    await lastValueFrom(
      new DataSource(settings).query(request([{ type: 'nodeSummary', nodeFilter: 'n1' } as never])),
    );
    expect(posted().queries[0]).toMatchObject({ queryType: 'summary', node: 'n1', version: 2 });
    expect(posted().queries[0]).not.toHaveProperty('nodeFilter');
  });

  it('skips a statements query without a digest, and asks nothing when nothing is left', async () => {
    const res = await lastValueFrom(new DataSource(settings).query(request([{ queryType: 'statements' }])));
    expect(fetchMock).not.toHaveBeenCalled();
    expect(res.data).toEqual([]);
  });

  it('decodes the frames the backend answers (Grafana JSON frames)', async () => {
    fetchMock.mockReturnValue(
      answer({
        results: {
          A: {
            status: 200,
            frames: [
              {
                schema: {
                  name: 'nodeUp',
                  refId: 'A',
                  meta: { type: 'numeric-multi', typeVersion: [0, 1] },
                  fields: [{ name: 'up', type: 'number', labels: { node: 'node-a' } }],
                },
                data: { values: [[1]] },
              },
            ],
          },
        },
      }),
    );
    const res = await lastValueFrom(new DataSource(settings).query(request([{ queryType: 'nodeUp' }])));
    expect(res.data).toHaveLength(1);
    expect(res.data[0].fields[0].labels).toEqual({ node: 'node-a' });
    expect(res.data[0].fields[0].values[0]).toBe(1);
  });

  it('finds nodes (a backend resource) and statuses for template variables', async () => {
    fetchMock.mockReturnValue(answer({ nodes: [{ node: 'a' }, { node: 'b' }] }));
    const ds = new DataSource(settings);
    expect(await ds.metricFindQuery('nodes')).toEqual([
      { text: 'a', value: 'a' },
      { text: 'b', value: 'b' },
    ]);
    expect(fetchMock.mock.calls[0][0]).toMatchObject({
      method: 'GET',
      url: '/api/datasources/uid/imagetrust/resources/nodes',
    });
    expect((await ds.metricFindQuery('statuses')).map((v) => v.value)).toEqual([
      'untrusted',
      'unknown',
      'unsupported',
      'trusted',
    ]);
  });

  it('asks resources with the parameters that are set, and reports the agent error it got', async () => {
    const ds = new DataSource(settings);
    fetchMock.mockReturnValue(answer({ containers: [] }));
    await ds.resource('containers', { node: 'a', status: undefined, digest: '' });
    expect(fetchMock.mock.calls[0][0]).toMatchObject({
      url: '/api/datasources/uid/imagetrust/resources/containers',
      params: { node: 'a' },
    });
    fetchMock.mockReturnValue(
      throwError(() => ({
        status: 400,
        data: {
          error: { code: 'BAD_REQUEST', message: 'digest: expected sha256:<64 hex>', field: 'digest' },
        },
      })),
    );
    const err = await ds.resource('ledger/statements', { digest: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentRequestError);
    expect(err).toMatchObject({ status: 400, code: 'BAD_REQUEST', field: 'digest' });
    expect((err as Error).message).toBe('digest: expected sha256:<64 hex>');
    expect(isNotFound(err)).toBe(false);
    expect(isNotFound(new AgentRequestError('no admission log configured', 404, 'NOT_FOUND'))).toBe(true);
    expect(isNotFound({ name: 'AgentRequestError', status: 404 })).toBe(true);
    expect(isNotFound(new Error('not found'))).toBe(false);
  });

  it('verifies now through the verify resource', async () => {
    fetchMock.mockReturnValue(answer({ containers: [] }));
    await new DataSource(settings).verifyNow({ node: 'a' });
    expect(fetchMock.mock.calls[0][0]).toMatchObject({
      method: 'POST',
      url: '/api/datasources/uid/imagetrust/resources/verify',
      data: { node: 'a' },
    });
  });

  it('tests through the backend health check and says what it said', async () => {
    fetchMock.mockReturnValueOnce(answer({ status: 'OK', message: 'Connected to node-a: 1 node(s).' }));
    const ds = new DataSource(settings);
    expect(await ds.testDatasource()).toEqual({
      status: 'success',
      message: 'Connected to node-a: 1 node(s).',
    });
    expect(fetchMock.mock.calls[0][0].url).toBe('/api/datasources/uid/imagetrust/health');
    fetchMock.mockReturnValueOnce(
      throwError(() => ({ status: 400, data: { status: 'ERROR', message: 'The agent refused the token.' } })),
    );
    await expect(ds.testDatasource()).rejects.toMatchObject({
      status: 'error',
      message: 'The agent refused the token.',
    });
  });

  it('annotations run the events query', () => {
    const ds = new DataSource(settings);
    const q = ds.annotations!.prepareQuery!({ target: { node: 'a' } } as never);
    expect(q).toMatchObject({ queryType: 'events', node: 'a', refId: 'Anno' });
  });
});
