import { of, throwError } from 'rxjs';
import { dateTime, type DataQueryRequest, type DataSourceInstanceSettings } from '@grafana/data';
import { DataSource } from './datasource';
import type { ImagetrustOptions, ImagetrustQuery } from './types';
import { container } from '../testing/fixtures';

const fetchMock = jest.fn();
const replaceMock = jest.fn((v: string) => v.replace('$node', 'node-a'));

jest.mock('@grafana/runtime', () => ({
  ...jest.requireActual('@grafana/runtime'),
  getBackendSrv: () => ({ fetch: fetchMock }),
  getTemplateSrv: () => ({ replace: replaceMock }),
}));

const settings = {
  id: 1,
  uid: 'imagetrust',
  type: 'imagetrust-fleet-datasource',
  name: 'imagetrust',
  url: '/api/datasources/proxy/uid/imagetrust',
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
  } as unknown as DataQueryRequest<ImagetrustQuery>;
}

beforeEach(() => {
  fetchMock.mockReset();
  replaceMock.mockClear();
});

describe('DataSource', () => {
  it('queries containers through the data-proxy route with template variables applied', async () => {
    fetchMock.mockReturnValue(answer({ containers: [container()] }));
    const ds = new DataSource(settings);
    const res = await ds.query(request([{ queryType: 'containers', node: '$node', status: 'untrusted' }]));
    expect(fetchMock).toHaveBeenCalledWith(
      expect.objectContaining({
        url: '/api/datasources/proxy/uid/imagetrust/agent/api/v1/containers',
        params: { node: 'node-a', status: 'untrusted' },
      }),
    );
    expect(res.data[0].name).toBe('containers');
    expect(res.data[0].length).toBe(1);
  });

  it('drops the All value of a variable instead of sending it', async () => {
    fetchMock.mockReturnValue(answer({ containers: [] }));
    replaceMock.mockImplementationOnce(() => '$__all');
    await new DataSource(settings).query(request([{ queryType: 'containers', node: '$node' }]));
    expect(fetchMock.mock.calls[0][0].params).toEqual({});
  });

  it('asks for history over the dashboard range with a step', async () => {
    fetchMock.mockReturnValue(
      answer({
        points: [{ time: 1000, node: 'a', trusted: 1, untrusted: 0, unsupported: 0, unknown: 0, total: 1 }],
      }),
    );
    const res = await new DataSource(settings).query(request([{ queryType: 'history' }]));
    expect(fetchMock.mock.calls[0][0].params).toEqual({ from: 1000, to: 601_000, step: '15s' });
    expect(res.data).toHaveLength(1);
  });

  it('skips a statements query without a digest', async () => {
    const res = await new DataSource(settings).query(request([{ queryType: 'statements' }]));
    expect(fetchMock).not.toHaveBeenCalled();
    expect(res.data).toEqual([]);
  });

  it('finds nodes and statuses for template variables', async () => {
    fetchMock.mockReturnValue(answer({ nodes: [{ node: 'a' }, { node: 'b' }] }));
    const ds = new DataSource(settings);
    expect(await ds.metricFindQuery('nodes')).toEqual([
      { text: 'a', value: 'a' },
      { text: 'b', value: 'b' },
    ]);
    expect((await ds.metricFindQuery('statuses')).map((v) => v.value)).toEqual([
      'untrusted',
      'unknown',
      'unsupported',
      'trusted',
    ]);
  });

  describe('testDatasource says what is wrong', () => {
    it('success', async () => {
      fetchMock
        .mockReturnValueOnce(answer({ api: 'v1', node: 'a' }))
        .mockReturnValueOnce(answer({ nodes: [{ node: 'a', status: 'up' }] }));
      expect(await new DataSource(settings).testDatasource()).toEqual({
        status: 'success',
        message: 'Connected to the imagetrust agent on a: 1 node(s).',
      });
    });

    it('an unreachable node is a warning', async () => {
      fetchMock.mockReturnValueOnce(answer({ api: 'v1', node: 'a' })).mockReturnValueOnce(
        answer({
          nodes: [
            { node: 'a', status: 'up' },
            { node: 'b', status: 'unreachable' },
          ],
        }),
      );
      const r = await new DataSource(settings).testDatasource();
      expect(r.status).toBe('warning');
      expect(r.message).toContain('unreachable: b');
    });

    it('a bad token', async () => {
      fetchMock.mockReturnValue(
        throwError(() => ({ status: 401, data: { error: { message: 'a valid bearer token is required' } } })),
      );
      expect((await new DataSource(settings).testDatasource()).message).toMatch(/refused the token/);
    });

    it('an unreachable agent', async () => {
      fetchMock.mockReturnValue(throwError(() => ({ status: 502, data: {}, statusText: 'Bad Gateway' })));
      expect((await new DataSource(settings).testDatasource()).message).toMatch(/Cannot reach the agent/);
    });

    it('an incompatible API version', async () => {
      fetchMock.mockReturnValue(answer({ api: 'v2' }));
      expect((await new DataSource(settings).testDatasource()).message).toMatch(/speaks API v2/);
    });
  });
});
