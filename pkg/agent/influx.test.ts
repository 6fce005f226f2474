import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { escapeKey, escapeTagValue, fieldString, formatLine, vcnVerificationLine } from './influx';
import type { ContainerResult } from './types';

describe('line protocol', () => {
  it("writes the original setup's vcn_verification line", () => {
    const c = {
      node: 'node-1',
      id: 'abc',
      name: 'web',
      status: 'untrusted',
      statusCode: 1,
      level: 3,
    } as ContainerResult;
    assert.equal(
      vcnVerificationLine(c, 1700000000123),
      'vcn_verification,container_id=abc,container_name=web,hostname=node-1,level=3,status=1 failed=1,status=1,level=3 1700000000123',
    );
  });

  it('escapes tags and fields as InfluxDB 1.x parses them', () => {
    assert.equal(escapeKey('a b,c=d'), 'a\\ b\\,c\\=d');
    assert.equal(escapeKey('back\\slash'), 'back\\slash');
    assert.equal(escapeKey('end\\'), 'end\u29f5');
    assert.equal(escapeKey('x\\ y'), 'x\u29f5\\ y');
    assert.equal(escapeKey('line\nbreak\r'), 'line\\ break\\ ');
    assert.equal(escapeTagValue(''), '-');
    assert.equal(fieldString('say "hi" \\ now\n'), '"say \\"hi\\" \\\\ now\n"');
    assert.equal(
      formatLine(
        'm',
        { z: '1', a: '2' },
        { s: { str: 'x' }, i: { int: 4.7 }, f: { float: 0.5 }, b: { bool: true } },
        5,
      ),
      'm,a=2,z=1 s="x",i=4i,f=0.5,b=true 5',
    );
    assert.throws(() => formatLine('m', {}, {}, 1));
  });
});
