// Generated hostile container names, images, nodes and reasons written as InfluxDB line
// protocol (influx.ts): read back the way InfluxDB 1.x reads a body (models/points.go: a
// backslash pair is never a separator, `\,` `\=` `\ ` unescape in keys and tags, `\\` and `\"`
// in string fields, newlines only inside quoted strings), every batch is exactly its points —
// one per line, the tags and fields written, nothing injected.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { imagetrustContainerLine, vcnVerificationLine } from './influx';
import type { ContainerResult } from './types';
import { CONTAINER_STATUSES } from './types';
import { checkProperty, hostileText, reportPropertyTotals } from '../testing/property';

after(() => reportPropertyTotals('pkg/agent/influx.props.test.ts'));

interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, string | number | boolean>;
  time: string;
}

/** Splits a body into lines as InfluxDB does: a newline inside a quoted field value is not an end. */
function splitBody(body: string): string[] {
  const lines: string[] = [];
  let start = 0;
  let inFields = false;
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\' && i + 1 < body.length) {
      i += 1;
      continue;
    }
    if (c === ' ' && !quoted) inFields = true;
    if (c === '"' && inFields) quoted = !quoted;
    if (c === '\n' && !quoted) {
      lines.push(body.slice(start, i));
      start = i + 1;
      inFields = false;
    }
  }
  assert.equal(quoted, false, 'a quoted field value is not closed');
  if (start < body.length) lines.push(body.slice(start));
  return lines;
}

/** Reads one unquoted token up to an unescaped delimiter; returns the raw text and where it stopped. */
function token(line: string, from: number, delimiters: string): [string, number] {
  let i = from;
  while (i < line.length && !delimiters.includes(line[i] as string)) i += line[i] === '\\' ? 2 : 1;
  return [line.slice(from, Math.min(i, line.length)), i];
}

const unescapeKey = (s: string): string => s.replace(/\\([,= ])/g, '$1');

function parseLine(line: string): Point {
  const [m, afterMeasurement] = token(line, 0, ', ');
  const tags: Record<string, string> = {};
  let i = afterMeasurement;
  while (line[i] === ',') {
    const [k, eq] = token(line, i + 1, '=, ');
    assert.equal(line[eq], '=', `tag without "=" in ${JSON.stringify(line)}`);
    const [v, end] = token(line, eq + 1, ', ');
    assert.ok(v.length > 0, 'empty tag value');
    assert.equal(tags[unescapeKey(k)], undefined, 'tag written twice');
    tags[unescapeKey(k)] = unescapeKey(v);
    i = end;
  }
  assert.equal(line[i], ' ', 'no space before the fields');
  i += 1;
  const fields: Point['fields'] = {};
  for (;;) {
    const [k, eq] = token(line, i, '=, ');
    assert.equal(line[eq], '=', 'field without "="');
    i = eq + 1;
    let value: string | number | boolean;
    if (line[i] === '"') {
      let j = i + 1;
      let text = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && (line[j + 1] === '\\' || line[j + 1] === '"')) {
          text += line[j + 1];
          j += 2;
        } else text += line[j++];
      }
      assert.equal(line[j], '"', 'string field not closed');
      value = text;
      i = j + 1;
    } else {
      const [raw, end] = token(line, i, ', ');
      if (/^-?\d+i$/.test(raw)) value = Number(raw.slice(0, -1));
      else if (raw === 'true' || raw === 'false') value = raw === 'true';
      else {
        assert.match(raw, /^-?\d+(\.\d+)?(e[-+]?\d+)?$/, `not a number: ${raw}`);
        value = Number(raw);
      }
      i = end;
    }
    assert.equal(fields[unescapeKey(k)], undefined, 'field written twice');
    fields[unescapeKey(k)] = value;
    if (line[i] !== ',') break;
    i += 1;
  }
  assert.equal(line[i], ' ', 'no space before the timestamp');
  const time = line.slice(i + 1);
  assert.match(time, /^\d+$/, 'timestamp');
  return { measurement: unescapeKey(m), tags, fields, time };
}

/** What a tag value must read back as: controls become spaces, and a backslash may become ⧵. */
const tagSeen = (s: string): string =>
  (s === '' ? '-' : s.replace(/[\u0000-\u001f\u007f]/g, ' ')).replace(/\\/g, '\u29f5');

const container: fc.Arbitrary<ContainerResult> = fc.record({
  node: hostileText(),
  id: hostileText(),
  name: hostileText(),
  image: hostileText(),
  digest: hostileText(70),
  status: fc.constantFrom(...CONTAINER_STATUSES),
  statusCode: fc.integer({ min: 0, max: 3 }),
  level: fc.integer({ min: -1, max: 99 }),
  signer: fc.option(hostileText(), { nil: undefined }),
  reason: fc.option(hostileText(120), { nil: undefined }),
  verifiedAt: fc.constant('2026-01-01T00:00:00Z'),
  drift: fc.boolean(),
  state: fc.constant('running'),
  labels: fc.constant({}),
});

describe('InfluxDB line protocol (generated hostile names)', () => {
  it('every batch reads back as exactly its points, tags and fields, whatever the names hold', () => {
    checkProperty(
      'influx: hostile names never break a line or inject a point',
      fc.property(
        fc.array(container, { minLength: 1, maxLength: 6 }),
        fc.nat(2 ** 42),
        (containers, time) => {
          const body = containers
            .flatMap((c) => [vcnVerificationLine(c, time), imagetrustContainerLine(c, time)])
            .join('\n');
          const lines = splitBody(`${body}\n`);
          assert.equal(lines.length, containers.length * 2, 'one line per point');
          containers.forEach((c, n) => {
            const vcn = parseLine(lines[2 * n] as string);
            assert.equal(vcn.measurement, 'vcn_verification');
            assert.deepEqual(Object.keys(vcn.tags).sort(), [
              'container_id',
              'container_name',
              'hostname',
              'level',
              'status',
            ]);
            assert.equal(tagSeen(vcn.tags.hostname as string), tagSeen(c.node));
            assert.equal(tagSeen(vcn.tags.container_name as string), tagSeen(c.name));
            assert.equal(tagSeen(vcn.tags.container_id as string), tagSeen(c.id));
            assert.deepEqual(vcn.fields, {
              failed: c.status === 'trusted' ? 0 : 1,
              status: c.statusCode,
              level: c.level,
            });
            assert.equal(vcn.time, String(time));
            const it = parseLine(lines[2 * n + 1] as string);
            assert.equal(it.measurement, 'imagetrust_container');
            assert.deepEqual(Object.keys(it.tags).sort(), [
              'container_name',
              'drift',
              'image',
              'node',
              'status',
            ]);
            assert.equal(tagSeen(it.tags.node as string), tagSeen(c.node));
            assert.equal(tagSeen(it.tags.image as string), tagSeen(c.image));
            assert.equal(it.tags.status, c.status);
            assert.deepEqual(it.fields, {
              trusted: c.status === 'trusted' ? 1 : 0,
              status_code: c.statusCode,
              level: c.level,
              digest: c.digest,
              signer: c.signer ?? '',
              container_id: c.id,
              reason: c.reason ?? '',
            });
          });
        },
      ),
      { runs: 1000 },
    );
  });
});
