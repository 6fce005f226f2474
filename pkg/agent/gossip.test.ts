import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { ImagetrustError } from '../errors';
import { LocalBackend } from '../ledger/backend';
import { LedgerClient } from '../ledger/client';
import { openLocalLedger } from '../ledger/open';
import { MemoryStateStore } from '../ledger/state';
import { assertRejectsCode } from '../testing/assert-code';
import { digestOf, generateSignerKey, tempDir, Words } from '../testing/fixtures';
import { Gossip, type SplitView } from './gossip';

const alice = generateSignerKey();
const logger = pino({ level: 'silent' });

describe('gossip between agents', () => {
  it('counts a split view once per peer checkpoint, with both checkpoints; other failures are not evidence', async () => {
    const seen: SplitView[] = [];
    const answers = new Map<string, () => Promise<unknown>>([
      ['same', async () => undefined],
      [
        'fork',
        async () => {
          throw new ImagetrustError('LEDGER_INCONSISTENT', 'split view', {
            details: { ours: 'A', theirs: 'B' },
          });
        },
      ],
      [
        'down',
        async () => {
          throw new ImagetrustError('LEDGER_UNREACHABLE', 'down');
        },
      ],
    ]);
    const gossip = new Gossip(
      (note) => (answers.get(note) as () => Promise<unknown>)(),
      logger,
      (v) => seen.push(v),
    );
    await gossip.heard('http://b', 'same');
    await gossip.heard('http://c', 'fork');
    await gossip.heard('http://c', 'fork');
    await gossip.heard('http://d', 'down');
    await gossip.heard('http://d', undefined);
    assert.equal(gossip.splitViewsTotal, 1);
    assert.deepEqual(
      seen.map((v) => [v.peer, v.ours, v.theirs]),
      [['http://c', 'A', 'B']],
    );
    assert.equal(gossip.splitViews.length, 1);
  });

  it('a ledger that forked (same key, two histories) is caught by comparing two clients’ checkpoints', async (t) => {
    const dir = tempDir(t);
    const ledger = await openLocalLedger(join(dir, 'ledger.db'));
    const fork = await openLocalLedger(join(dir, 'fork.db'), {
      keyPath: join(dir, 'ledger.db.key'),
      origin: ledger.info.origin,
    });
    t.after(async () => {
      await ledger.close();
      await fork.close();
    });
    const w = new Words();
    await ledger.append([w.next(alice, digestOf('a'), 'untrusted').envelope]);
    await ledger.append([w.next(alice, digestOf('b'), 'trusted').envelope]);
    const w2 = new Words();
    await fork.append([w2.next(alice, digestOf('a'), 'trusted').envelope]);
    const ours = new LedgerClient(new LocalBackend(ledger), { state: new MemoryStateStore() });
    const theirs = new LedgerClient(new LocalBackend(fork), { state: new MemoryStateStore() });
    await ours.latest();
    const theirNote = (await theirs.latest()).note;
    const err = await assertRejectsCode(() => ours.crossCheck(theirNote), 'LEDGER_INCONSISTENT');
    assert.match(String(err.details?.theirs), /\n1\n/);
    // An honest peer that is behind: proven a prefix, no evidence.
    const behind = (await ledger.checkpointAtSize(1))?.note as string;
    await ours.crossCheck(behind);
    await fork.append([w2.next(alice, digestOf('c'), 'trusted').envelope]);
    await assertRejectsCode(
      async () => ours.crossCheck((await theirs.latest({ refresh: true })).note),
      'LEDGER_INCONSISTENT',
    );
  });
});
