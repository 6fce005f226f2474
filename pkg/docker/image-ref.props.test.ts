// Generated image references (image-ref.ts): any text is a reference or BAD_IMAGE_REF, quickly
// (no pattern backtracks on long hostile input); what is accepted holds nothing a shell, a log
// line or the engine could misread, and parses again to itself; references built from the
// grammar are accepted with their parts.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseImageRef } from './image-ref';
import { checkProperty, hostileText, reportPropertyTotals, typedOutcome } from '../testing/property';

after(() => reportPropertyTotals('pkg/docker/image-ref.props.test.ts'));

const chars = (alphabet: string, minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const component = fc
  .tuple(
    chars(ALNUM, 1, 8),
    fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), chars(ALNUM, 1, 6)), { maxLength: 2 }),
  )
  .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));
const registry = fc.oneof(
  fc.constantFrom('localhost', '127.0.0.1:5000', '[::1]:5000', 'Registry.Example.com', 'ghcr.io'),
  fc.tuple(chars(ALNUM, 1, 10), fc.nat(65535)).map(([h, p]) => `${h}.example:${p}`),
);
const tag = fc.tuple(chars(`${ALNUM}ABCXYZ_`, 1, 1), chars(`${ALNUM}ABC_.-`, 0, 40)).map(([a, b]) => a + b);
const digest = chars('0123456789abcdef', 64, 64).map((h) => `sha256:${h}`);

const validRef = fc.record({
  registry: fc.option(registry, { nil: undefined }),
  path: fc.array(component, { minLength: 1, maxLength: 3 }),
  tag: fc.option(tag, { nil: undefined }),
  digest: fc.option(digest, { nil: undefined }),
});

const hostileRef = fc.oneof(
  hostileText(80),
  fc.string({ unit: fc.constantFrom(...'aA0._-:/@[]'), maxLength: 80 }),
  fc.tuple(validRef, hostileText(6), fc.nat()).map(([r, junk, at]) => {
    const text = [r.registry, ...r.path].filter(Boolean).join('/') + (r.tag ? `:${r.tag}` : '');
    const i = at % (text.length + 1);
    return text.slice(0, i) + junk + text.slice(i);
  }),
);

describe('image references (generated)', () => {
  it('any text is a reference or BAD_IMAGE_REF; what is accepted is safe and parses to itself', () => {
    checkProperty(
      'image-ref: hostile text',
      fc.property(hostileRef, fc.boolean(), (text, scheme) => {
        const input = scheme ? `docker://${text}` : text;
        const outcome = typedOutcome(() => parseImageRef(input, { requireScheme: scheme }), 'parseImageRef');
        if ('code' in outcome) {
          assert.equal(outcome.code, 'BAD_IMAGE_REF');
          return;
        }
        const ref = outcome.value;
        assert.match(ref.engineRef, /^[A-Za-z0-9._:/@[\]-]+$/, 'only reference characters');
        assert.equal(ref.uri, `docker://${ref.engineRef}`);
        assert.deepEqual(parseImageRef(ref.uri), ref, 'parses again to itself');
        if (ref.repository !== undefined) assert.ok(ref.repository.length <= 255);
        if (ref.tag !== undefined) assert.match(ref.tag, /^\w[\w.-]{0,127}$/);
      }),
      { runs: 1500 },
    );
  });

  it('references built from the grammar are accepted with their parts', () => {
    checkProperty(
      'image-ref: grammar references',
      fc.property(validRef, (r) => {
        const repository = [r.registry, ...r.path].filter(Boolean).join('/');
        fc.pre(
          repository.length <= 255 &&
            (r.registry !== undefined || !/[.:]/.test(r.path[0] as string) || r.path.length === 1),
        );
        const text = repository + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
        const ref = parseImageRef(`docker://${text}`);
        assert.equal(ref.repository, repository);
        assert.equal(ref.tag, r.tag);
        assert.equal(ref.digest, r.digest);
      }),
      { runs: 800 },
    );
  });

  it('long hostile text is refused quickly (no backtracking blow-up)', () => {
    checkProperty(
      'image-ref: long hostile text is refused in time',
      fc.property(
        fc.constantFrom('a', 'a-', 'a.', 'a_', 'a/', 'a.a/', '0-', 'A', 'a:'),
        fc.integer({ min: 50, max: 300 }),
        fc.constantFrom('!', ' ', '-', ':', '@', '/', 'A'),
        (unit, count, end) => {
          const text = `docker://${unit.repeat(count)}${end}`;
          const started = performance.now();
          typedOutcome(() => parseImageRef(text), 'parseImageRef');
          assert.ok(performance.now() - started < 250, `${JSON.stringify(text.slice(0, 40))}… took too long`);
        },
      ),
      { runs: 300 },
    );
  });
});
