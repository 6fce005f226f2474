import { migrateQuery } from './migrate';
import { QUERY_VERSION } from './types';

describe('migrateQuery', () => {
  it('keeps current queries as they are', () => {
    const q = { refId: 'A', queryType: 'images' as const, node: 'n1', version: QUERY_VERSION };
    expect(migrateQuery(q)).toBe(q);
  });

  it('brings version 1 queries up to date', () => {
    expect(migrateQuery({ refId: 'A', type: 'nodeSummary', nodeFilter: 'n2' } as never)).toEqual({
      refId: 'A',
      queryType: 'summary',
      node: 'n2',
      version: QUERY_VERSION,
    });
    expect(migrateQuery({ refId: 'B', type: 'timeline', statusFilter: 'untrusted' } as never)).toEqual({
      refId: 'B',
      queryType: 'history',
      status: 'untrusted',
      version: QUERY_VERSION,
    });
  });

  it('defaults an empty or unknown query to containers', () => {
    expect(migrateQuery({ refId: 'A' } as never).queryType).toBe('containers');
    expect(migrateQuery({ refId: 'A', queryType: 'bogus' } as never).queryType).toBe('containers');
  });
});
