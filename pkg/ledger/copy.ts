// `imagetrust ledger copy --from FILE --to postgres://…`: moves a ledger into another store
// (typically from its SQLite file into PostgreSQL for a fleet). The entries are replayed
// batch by batch as the original checkpointed them, with the same origin and the same
// checkpoint key, at the times the original signed them, so every checkpoint of the copy is
// byte for byte the original's (Ed25519 signatures are deterministic): clients that trusted
// the original go on trusting the copy without a fork. The copy is audited at the end. The
// original's entries and checkpoints are only read.

import { ImagetrustError } from '../errors';
import { redactUrl } from '../postgres/url';
import { auditLedger, type AuditReport } from './audit';
import { isRemoteLocation, openLocalLedger } from './open';
import type { Ledger } from './log';
import { openStatementAsync } from './statement';
import { isPostgresLocation } from '../postgres/url';

export interface CopyOptions {
  /** The checkpoint key of both ledgers; a file ledger's own (`FILE.key`) by default. */
  keyPath?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface CopyResult {
  from: string;
  to: string;
  keyPath: string;
  entries: number;
  checkpoints: number;
  audit: AuditReport;
}

const PAGE = 1000;

export async function copyLedger(from: string, to: string, options: CopyOptions = {}): Promise<CopyResult> {
  for (const location of [from, to])
    if (isRemoteLocation(location))
      throw new ImagetrustError('USAGE', `ledger copy works on stores it opens itself, not on ${location}`);
  if (from === to) throw new ImagetrustError('USAGE', 'ledger copy: --from and --to are the same ledger');
  const keyPath = options.keyPath ?? (isPostgresLocation(from) ? undefined : `${from}.key`);
  if (!keyPath)
    throw new ImagetrustError(
      'USAGE',
      'ledger copy from PostgreSQL needs the ledger key: --checkpoint-key FILE',
    );
  const source = await openLocalLedger(from, isPostgresLocation(from) ? {} : { keyPath });
  let target: Ledger | undefined;
  try {
    const first = (await source.store.checkpointsBetween(0, 0, 1))[0];
    if (!first)
      throw new ImagetrustError('LEDGER_TAMPERED', `${from} lacks the checkpoint of the empty tree`);
    target = await openLocalLedger(to, {
      keyPath,
      origin: source.info.origin,
      clock: () => first.createdAt,
    });
    if (target.info.vkey !== source.info.vkey)
      throw new ImagetrustError(
        'KEY_INVALID',
        `${redactUrl(to)} is a ledger of another key or origin (${target.info.vkey})`,
      );
    if ((await target.latestCheckpoint()).size !== 0)
      throw new ImagetrustError('USAGE', `${redactUrl(to)} is not empty: copy into an empty ledger`);
    const total = (await source.latestCheckpoint()).size;
    let done = 0;
    let checkpoints = 1;
    for (;;) {
      const page = await source.store.checkpointsBetween(done + 1, Number.MAX_SAFE_INTEGER, PAGE);
      if (page.length === 0) break;
      for (const cp of page) {
        const entries = await source.store.entries(done, cp.size);
        if (entries.length !== cp.size - done)
          throw new ImagetrustError(
            'LEDGER_TAMPERED',
            `${from}: entries ${done}..${cp.size - 1} are incomplete`,
          );
        const opened = await Promise.all(
          entries.map(async (e) => {
            try {
              return await openStatementAsync(e.leaf);
            } catch (err) {
              throw new ImagetrustError(
                'LEDGER_TAMPERED',
                `${from}: entry ${e.index} is not a valid statement; audit it first`,
                { cause: err },
              );
            }
          }),
        );
        const { checkpoint } = await target.appendOpened(opened, false, cp.createdAt);
        if (checkpoint.note !== cp.note) {
          throw new ImagetrustError(
            'LEDGER_TAMPERED',
            `${from}: the entries do not reproduce its checkpoint of size ${cp.size}; the copy in ${redactUrl(to)} is incomplete: empty it before copying again`,
          );
        }
        done = cp.size;
        checkpoints += 1;
        options.onProgress?.(done, total);
      }
    }
    const audit = await auditLedger(target);
    if (audit.problems.length > 0) {
      throw new ImagetrustError(
        'LEDGER_TAMPERED',
        `the copy does not audit: ${audit.problems.slice(0, 3).join('; ')}`,
      );
    }
    return { from, to: redactUrl(to), keyPath, entries: done, checkpoints, audit };
  } finally {
    await target?.close();
    await source.close();
  }
}
