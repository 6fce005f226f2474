// A signer's words about one digest are ordered by the signer, never by the log: each
// statement carries a per-(signer, digest) sequence number and names the statement it
// supersedes. A replayed or re-wrapped old statement therefore never becomes the signer's
// newest word, whatever position a ledger gives it. Format 1 statements (imagetrust 0.1) have
// no sequence: they rank below every format 2 statement of the same signer and among
// themselves by their signed time; copies of one statement count once.
//
// The same rules, strict, are how a ledger refuses duplicates and out-of-order statements at
// append time (advanceKey with enforce). Pure code: no I/O.

import { ImagetrustError } from '../errors';
import { extendChain } from './index-proof';
import type { KeyState } from './index-tree';
import type { Statement, StatementStatus } from './statement';

export interface OrderedStatement {
  index: number;
  id: string;
  statement: Statement;
}

/** Positive when `a` is the signer's newer word than `b`. */
export function compareWords(a: OrderedStatement, b: OrderedStatement): number {
  const sa = a.statement;
  const sb = b.statement;
  if (sa.format !== sb.format) return sa.format - sb.format;
  if (sa.format === 2) return sa.sequence - sb.sequence;
  const t = Date.parse(sa.time) - Date.parse(sb.time);
  return t !== 0 ? t : b.index - a.index;
}

const RESTRICTIVENESS: Record<StatementStatus, number> = { trusted: 0, unsupported: 1, untrusted: 2 };

export interface SignerWord<T extends OrderedStatement> {
  word: T;
  /** The signer signed two different statements with the same sequence: the stricter one counts. */
  equivocated: boolean;
}

/** The newest word among one signer's statements about one digest (all from that signer). */
export function newestWord<T extends OrderedStatement>(statements: T[]): SignerWord<T> | undefined {
  const seen = new Set<string>();
  let best: T[] = [];
  for (const s of statements) {
    if (seen.has(s.id)) continue; // a replay of the same signed bytes
    seen.add(s.id);
    const c = best.length === 0 ? 1 : compareWords(s, best[0] as T);
    if (c > 0) best = [s];
    else if (c === 0 && s.statement.format === 2) best.push(s);
  }
  if (best.length === 0) return undefined;
  const word = best.reduce((a, b) =>
    RESTRICTIVENESS[b.statement.status] > RESTRICTIVENESS[a.statement.status] ? b : a,
  );
  return { word, equivocated: best.length > 1 };
}

function conflict(message: string): ImagetrustError {
  return new ImagetrustError('LEDGER_CONFLICT', message);
}

export interface IndexedEntry {
  index: number;
  leafHash: Buffer;
  id: string;
  statement: Statement;
}

export const idBytes = (id: string): Buffer => Buffer.from(id.slice('sha256:'.length), 'hex');
const idText = (b: Buffer): string => `sha256:${b.toString('hex')}`;

/**
 * The key's state after one more entry. With `enforce` (a ledger accepting a new statement),
 * a format 2 statement must be the signer's next word: sequence one higher than the newest,
 * superseding exactly that one. Without it (replaying a log that already holds them), the
 * highest sequence simply wins, as it does for clients.
 */
export function advanceKey(old: KeyState | undefined, e: IndexedEntry, enforce: boolean): KeyState {
  const value = {
    count: (old?.value.count ?? 0) + 1,
    chain: extendChain(old?.value.chain ?? Buffer.alloc(32), e.index, e.leafHash),
  };
  const sequence = old?.sequence ?? 0;
  const newest = old?.newest ?? null;
  const s = e.statement;
  if (s.format !== 2) return { value, sequence, newest };
  if (enforce) {
    const about = `signer ${s.signer} about ${s.digest}`;
    if (newest && idText(newest) === e.id)
      throw conflict(`duplicate: this statement is already the newest of ${about}`);
    if (s.sequence <= sequence)
      throw conflict(
        `replayed or out of order: sequence ${s.sequence}, but the newest statement of ${about} is ${sequence}`,
      );
    if (s.sequence !== sequence + 1)
      throw conflict(
        `out of order: sequence ${s.sequence} skips ahead of ${sequence}, the newest of ${about}`,
      );
    if (s.sequence > 1 && (!newest || s.supersedes !== idText(newest)))
      throw conflict(
        `statement supersedes ${s.supersedes ?? 'nothing'}, not the newest statement of ${about}`,
      );
  }
  return s.sequence > sequence
    ? { value, sequence: s.sequence, newest: idBytes(e.id) }
    : { value, sequence, newest };
}
