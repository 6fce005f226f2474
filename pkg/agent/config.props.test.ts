// Generated hostile configuration files: the agent's YAML/JSON config (config.ts), trust policy
// files (policy-file.ts) and witness policies (witness-policy.ts). Any file gives a frozen,
// valid configuration or CONFIG_INVALID — never another exception — and a field the agent does
// not know is always reported.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadAgentConfig } from './config';
import { cosigner } from '../ledger/cosignature';
import { parsePolicyFile, parseWitnessPolicyFile } from '../ledger/policy-file';
import { checkProperty, hostileText, reportPropertyTotals, typedOutcome } from '../testing/property';

after(() => reportPropertyTotals('pkg/agent/config.props.test.ts'));

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagetrust-props-config-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = [
  'node',
  'listen',
  'ledger',
  'signer',
  'peer',
  'peerTimeout',
  'resync',
  'verifier',
  'verifierCommand',
  'logLevel',
  'token',
  'influxUrl',
  'influxDb',
  'influxOrg',
  'maxCheckpointAge',
  'fleetDb',
  'cacheTtl',
];
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  hostileText(30),
  fc.constantFrom(
    '127.0.0.1:9581',
    'http://127.0.0.1:1',
    'postgres://u@127.0.0.1/db',
    'builtin',
    'command',
    'info',
    '0',
    '-1',
    '1e9',
    'a'.repeat(32),
    '5m',
    '0s',
  ),
  fc.constant({ toString: 1 }),
  fc.array(fc.constantFrom({ toString: 1 }, { valueOf: 'x' }, 'a'.repeat(32), 7), { maxLength: 3 }),
);
const configDoc = fc.dictionary(
  fc.oneof(
    fc.constantFrom(...FIELDS),
    fc.constantFrom('constructor', 'toString', '__proto__', 'hasOwnProperty'),
    hostileText(10),
  ),
  value,
  { maxKeys: 6 },
);
const configText = fc.oneof(
  configDoc.map((d) => JSON.stringify(d)),
  configDoc.map((d) => stringify(d)),
  hostileText(200),
  fc.constantFrom(
    'a: &a [*a]',
    'a: &x 1\nb: *x\nc: *y',
    '- 1\n- 2',
    '{',
    'node: [',
    '? [a]: 1',
    '\uFEFFnode: n1',
    'a: !!binary AAA',
  ),
);

let n = 0;
function file(text: string): string {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, text);
  return path;
}

describe('configuration files (generated)', () => {
  it('any agent config file gives a frozen config or CONFIG_INVALID; unknown fields are reported', () => {
    checkProperty(
      'config: hostile agent config files',
      fc.property(configText, (text) => {
        const outcome = typedOutcome(
          () => loadAgentConfig({ flags: { config: file(text) }, env: {} }),
          'loadAgentConfig',
        );
        if ('code' in outcome) {
          assert.equal(outcome.code, 'CONFIG_INVALID');
          return;
        }
        assert.ok(Object.isFrozen(outcome.value));
        assert.match(outcome.value.node, /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/);
        let doc: unknown;
        try {
          doc = JSON.parse(text);
        } catch {
          return;
        }
        if (doc && typeof doc === 'object' && !Array.isArray(doc))
          for (const k of Object.keys(doc))
            assert.ok(FIELDS.includes(k) || k === 'config', `unknown field ${JSON.stringify(k)} accepted`);
      }),
      { runs: 500, examples: CONFIG_EXAMPLES },
    );
  });

  it('any trust policy file gives a policy or CONFIG_INVALID', () => {
    checkProperty(
      'config: hostile trust policy files',
      fc.property(
        fc.oneof(
          hostileText(100),
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          fc
            .record(
              {
                signers: fc.array(
                  fc.record({ keyId: value, level: value, name: value }, { requiredKeys: [] }),
                  { maxLength: 3 },
                ),
                ledgerKey: value,
              },
              { requiredKeys: [] },
            )
            .map((d) => JSON.stringify(d)),
        ),
        (text) => {
          const outcome = typedOutcome(() => parsePolicyFile(file(text)), 'parsePolicyFile');
          if ('code' in outcome) assert.equal(outcome.code, 'CONFIG_INVALID');
          else
            assert.ok(
              outcome.value.signers.length > 0 &&
                outcome.value.signers.every((s) => /^[0-9a-f]{32}$/.test(s.keyId)),
            );
        },
      ),
      { runs: 500, examples: POLICY_EXAMPLES },
    );
  });

  it('any witness policy file gives a policy or CONFIG_INVALID', () => {
    const w = cosigner('w.example', generateKeyPairSync('ed25519').privateKey);
    const line = fc.oneof(
      hostileText(40),
      fc.constantFrom(
        `witness w1 ${w.vkey}`,
        `witness w2 ${w.vkey} http://x`,
        'group g any w1',
        'group g2 2 w1 w2',
        'group g3 all g w1',
        'quorum w1',
        'quorum g',
        'quorum none',
        'log x+00000000+AAAA',
        '# comment',
        `witness w1 ${w.vkey.slice(0, -2)}`,
        'group none any w1',
        'group g 0 w1',
        'group g 3 w1 w2',
        'group g any w1 w1',
        'quorum undefined',
      ),
    );
    checkProperty(
      'config: hostile witness policy files',
      fc.property(fc.array(line, { maxLength: 7 }), (lines) => {
        const outcome = typedOutcome(
          () => parseWitnessPolicyFile(file(lines.join('\n'))),
          'parseWitnessPolicyFile',
        );
        if ('code' in outcome) assert.equal(outcome.code, 'CONFIG_INVALID');
        else
          assert.ok(
            outcome.value.quorum === 'none' ||
              outcome.value.groups.has(outcome.value.quorum) ||
              outcome.value.witnesses.some((x) => x.name === outcome.value.quorum),
          );
      }),
      { runs: 600 },
    );
  });
});

/**
 * Regression cases found by this property: a list item that is a mapping with a `toString` key
 * made String() throw a TypeError; `constructor`, `toString` … were taken for known fields.
 */
const CONFIG_EXAMPLES: [string][] = [
  ['signer:\n  toString: 1\n'],
  ['peer:\n  - toString: 1\n  - valueOf: x\n'],
  ['{"constructor": 1, "node": "n1"}'],
  ['toString: x\n'],
];

/** Found by this property: String() and Number() of a mapping with a `toString` key threw a TypeError. */
const POLICY_EXAMPLES: [string][] = [
  ['{"signers":[{"keyId":{"toString":1}}]}'],
  ['{"signers":[{"keyId":"x","level":{"toString":1}}]}'],
];
