import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTAINER_RESULT_SCHEMA,
  STATUSES_WORST_FIRST,
  STATUS_COUNTS_SCHEMA,
  countStatuses,
  fieldProblems,
  isTrustStatus,
  worstStatus,
  type ContainerResult,
} from './types';

const result: ContainerResult = {
  node: 'n',
  id: 'c1',
  name: 'web',
  image: 'app:1',
  digest: `sha256:${'a'.repeat(64)}`,
  status: 'trusted',
  statusCode: 0,
  level: 0,
  verifiedAt: '2026-12-01T00:00:00Z',
  drift: false,
  state: 'running',
  labels: {},
};

describe('wire types', () => {
  it('a declared answer has no problems; optional fields may be absent', () => {
    assert.deepEqual(fieldProblems(result, CONTAINER_RESULT_SCHEMA), []);
    assert.deepEqual(
      fieldProblems({ ...result, proof: { index: 1, treeSize: 2 } }, CONTAINER_RESULT_SCHEMA),
      [],
    );
  });

  it('names undeclared, missing and mistyped fields, and non-objects', () => {
    const { digest: _digest, ...missing } = result;
    assert.deepEqual(
      fieldProblems({ ...missing, extra: 1, drift: 'no', signer: null }, CONTAINER_RESULT_SCHEMA, 'c'),
      [
        'c.extra: not declared',
        'c.digest: missing',
        'c.signer: expected string, got null',
        'c.drift: expected boolean, got string',
      ],
    );
    assert.deepEqual(fieldProblems([], STATUS_COUNTS_SCHEMA), ['value: expected an object, got array']);
    assert.deepEqual(fieldProblems(null, STATUS_COUNTS_SCHEMA, 'x'), ['x: expected an object, got null']);
  });

  it('counts and the worst status', () => {
    const counts = countStatuses([{ status: 'trusted' }, { status: 'unknown' }, { status: 'unsupported' }]);
    assert.deepEqual(counts, { trusted: 1, untrusted: 0, unsupported: 1, unknown: 1, total: 3 });
    assert.equal(worstStatus(counts), 'unknown');
    assert.equal(worstStatus({ ...counts, untrusted: 1 }), 'untrusted');
    assert.equal(worstStatus(countStatuses([])), undefined);
    assert.deepEqual(STATUSES_WORST_FIRST, ['untrusted', 'unknown', 'unsupported', 'trusted']);
    assert.equal(isTrustStatus('trusted'), true);
    assert.equal(isTrustStatus('revoked'), false);
    assert.equal(isTrustStatus(0), false);
  });
});
