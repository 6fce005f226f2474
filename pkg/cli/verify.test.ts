import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertCode } from '../testing/assert-code';
import { parseAt, parseRfc3339 } from './verify';

describe('--at is strict', () => {
  it('reads tree sizes and RFC 3339 times', () => {
    assert.deepEqual(parseAt('0'), { size: 0 });
    assert.deepEqual(parseAt('42'), { size: 42 });
    assert.deepEqual(parseAt('2026-11-30T12:00:00Z'), { time: Date.UTC(2026, 10, 30, 12) });
    assert.deepEqual(parseAt('2026-11-30T13:00:00.5+01:00'), { time: Date.UTC(2026, 10, 30, 12, 0, 0, 500) });
    assert.equal(parseRfc3339('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseAt(undefined), undefined);
  });

  it('refuses negatives, garbage, trailing junk and out-of-range fields', () => {
    for (const bad of [
      '-1',
      '+1',
      '1e3',
      '0x10',
      '01',
      ' 1',
      '1 ',
      '',
      '9007199254740993',
      'yesterday',
      '2026-11-30',
      '2026-11-30T12:00:00',
      '2026-11-30T12:00:00Zjunk',
      '2026-02-30T12:00:00Z',
      '2025-02-29T12:00:00Z',
      '2026-13-01T12:00:00Z',
      '2026-11-30T24:00:00Z',
      '2026-11-30T12:60:00Z',
      '2026-11-30T12:00:61Z',
      '2026-11-30T12:00:00+25:00',
      '1969-12-31T23:59:59Z',
      'Sat, 30 Nov 2026 12:00:00 GMT',
    ])
      assertCode(() => parseAt(bad), 'USAGE');
  });
});
