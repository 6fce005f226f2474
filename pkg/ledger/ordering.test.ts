import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { advanceKey, newestWord, type OrderedStatement } from './ordering';
import { openStatement } from './statement';
import { assertCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, statementFor, Words } from '../testing/fixtures';
import { v1Statement } from '../testing/legacy';

const alice = generateSignerKey();
const app = digestOf('app');
const at = (
  index: number,
  s: { statement: OrderedStatement['statement']; id: string },
): OrderedStatement => ({
  index,
  id: s.id,
  statement: s.statement,
});

describe("a signer's order", () => {
  const w = new Words();
  const s1 = w.next(alice, app, 'trusted');
  const s2 = w.next(alice, app, 'untrusted');

  it('takes the highest sequence, wherever the log put it', () => {
    assert.equal(newestWord([at(0, s1), at(1, s2), at(2, s1)])?.word.statement.status, 'untrusted');
    assert.equal(newestWord([at(0, s2), at(5, s1)])?.word.statement.status, 'untrusted');
    assert.equal(newestWord([]), undefined);
  });

  it('counts two different statements with one sequence as the stricter one', () => {
    const rival = statementFor(alice, app, 'trusted', {
      sequence: 2,
      supersedes: s1.id,
      time: '2027-01-01T00:00:00Z',
    });
    const found = newestWord([at(0, s1), at(1, rival), at(2, s2)]);
    assert.equal(found?.word.statement.status, 'untrusted');
    assert.equal(found?.equivocated, true);
  });

  it('ranks 0.1 statements below format 2 and among themselves by signed time, copies once', () => {
    const old1 = openStatement(v1Statement(alice, app, 'trusted', '2026-01-01T00:00:00Z'));
    const old2 = openStatement(v1Statement(alice, app, 'untrusted', '2026-02-01T00:00:00Z'));
    assert.equal(newestWord([at(0, old1), at(1, old2), at(2, old1)])?.word.statement.status, 'untrusted');
    assert.equal(newestWord([at(0, old2), at(1, old1)])?.word.statement.status, 'untrusted');
    assert.equal(newestWord([at(0, old2), at(1, s1)])?.word.statement.status, 'trusted');
  });
});

describe('a ledger accepting words', () => {
  const w = new Words();
  const s1 = w.next(alice, app, 'trusted');
  const s2 = w.next(alice, app, 'untrusted');
  const s3 = w.next(alice, app, 'trusted');
  const entry = (index: number, s: typeof s1) => ({
    index,
    leafHash: Buffer.alloc(32, index),
    id: s.id,
    statement: s.statement,
  });

  it('takes each next word and refuses duplicates, replays, gaps and wrong links', () => {
    const k1 = advanceKey(undefined, entry(0, s1), true);
    assert.equal(k1.sequence, 1);
    const k2 = advanceKey(k1, entry(1, s2), true);
    assert.equal(k2.value.count, 2);
    assertCode(() => advanceKey(k2, entry(2, s2), true), 'LEDGER_CONFLICT');
    assertCode(() => advanceKey(k2, entry(2, s1), true), 'LEDGER_CONFLICT');
    assertCode(() => advanceKey(k1, entry(2, s3), true), 'LEDGER_CONFLICT');
    const wrongLink = statementFor(alice, app, 'trusted', { sequence: 3, supersedes: s1.id });
    assertCode(() => advanceKey(k2, entry(2, wrongLink), true), 'LEDGER_CONFLICT');
    assert.equal(advanceKey(k2, entry(2, s3), true).sequence, 3);
  });

  it('records a replay when not enforcing, without letting it become the newest', () => {
    const k2 = advanceKey(advanceKey(undefined, entry(0, s1), false), entry(1, s2), false);
    const replayed = advanceKey(k2, entry(2, s1), false);
    assert.equal(replayed.value.count, 3);
    assert.equal(replayed.sequence, 2);
    assert.deepEqual(replayed.newest, k2.newest);
  });
});
