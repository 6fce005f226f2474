// Generated vcn JSON output (command.ts parseVcnOutput): whatever a vcn-compatible command prints
// and whatever it exits with, the answer is a Verification with a known status — trusted only
// when the JSON says status 0 and the command exited 0 — never an exception.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseVcnOutput } from './command';
import { checkProperty, hostileText, reportPropertyTotals } from '../testing/property';

after(() => reportPropertyTotals('pkg/verify/command.props.test.ts'));

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(0, 1, 2, 3, 4, -1, 0.5, '0', 'trusted', null, true, [], {}, 1e308, -0),
);
const verification = fc.record(
  {
    status: anyValue,
    level: anyValue,
    owner: fc.oneof(hostileText(), anyValue),
    timestamp: fc.oneof(hostileText(), anyValue),
  },
  { requiredKeys: [] },
);
const vcnDoc = fc.record(
  {
    kind: fc.constant('docker'),
    name: hostileText(),
    hash: hostileText(),
    signer: fc.oneof(hostileText(), anyValue),
    error: fc.oneof(hostileText(), anyValue),
    artifact: fc.oneof(
      fc.record({ publisher: fc.oneof(hostileText(), anyValue) }, { requiredKeys: [] }),
      anyValue,
    ),
    verification: fc.oneof({ weight: 4, arbitrary: verification }, anyValue),
    ['__proto__']: fc.constant({ verification: { status: 0 } }),
  },
  { requiredKeys: [] },
);
const stdout = fc.oneof(
  hostileText(200),
  vcnDoc.map((d) => JSON.stringify(d)),
  fc.tuple(vcnDoc, fc.nat(), hostileText(3)).map(([d, at, junk]) => {
    const text = JSON.stringify(d);
    const i = at % (text.length + 1);
    return text.slice(0, i) + junk + text.slice(i + 1);
  }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
);

describe('vcn JSON output (generated)', () => {
  it('any output and exit code give a known status, trusted only when the JSON and the exit code both say so', () => {
    checkProperty(
      'vcn: hostile output',
      fc.property(
        stdout,
        fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: -1, max: 255 })),
        (out, exit) => {
          const v = parseVcnOutput(out, exit);
          assert.ok(['trusted', 'untrusted', 'unknown', 'unsupported'].includes(v.status), v.status);
          assert.equal(v.statusCode, { trusted: 0, untrusted: 1, unknown: 2, unsupported: 3 }[v.status]);
          assert.ok(Number.isInteger(v.level));
          if (v.status === 'unknown') assert.ok(typeof v.reason === 'string' && v.reason.length > 0);
          if (v.status === 'trusted') {
            assert.equal(exit, 0);
            const doc = JSON.parse(out) as { verification: { status: unknown } };
            assert.equal(doc.verification.status, 0);
          }
          if (v.signer !== undefined) assert.ok(typeof v.signer === 'string' && v.signer.length <= 200);
          if (v.signedAt !== undefined) assert.ok(typeof v.signedAt === 'string' && v.signedAt.length <= 64);
          JSON.stringify(v);
        },
      ),
      { runs: 1500 },
    );
  });
});
