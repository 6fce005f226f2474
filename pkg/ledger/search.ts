// `imagetrust search`: statements found by evidence attribute (`--attr ci.job=4242`) or by
// digest (`--hash sha256:…`), each proven included in the client's proven checkpoint, its
// signature checked and its match re-checked against the signed statement. A search finds;
// a lookup (`verify`, `inspect`) proves per signer and digest that nothing is left out.

import { ImagetrustError } from '../errors';
import type { LedgerClient } from './client';
import { hashLeaf, verifyInclusion } from './merkle';
import type { ProvenEntry } from './log';
import { openStatement, type Statement } from './statement';
import type { SearchQuery } from './store/store';
import { decodeEntry, encodeEntry, type WireEntry } from './wire';

export interface SearchPage {
  size: number;
  offset: number;
  entries: ProvenEntry[];
}

export interface WireSearchPage {
  size: number;
  offset: number;
  entries: WireEntry[];
}

export function encodeSearchPage(page: SearchPage): WireSearchPage {
  return { size: page.size, offset: page.offset, entries: page.entries.map(encodeEntry) };
}

export function decodeSearchPage(value: unknown, limit: number): SearchPage {
  const o = value as { size?: unknown; offset?: unknown; entries?: unknown };
  if (!o || typeof o !== 'object' || !Number.isSafeInteger(o.size) || !Number.isSafeInteger(o.offset))
    throw new ImagetrustError('LEDGER_BAD_RESPONSE', 'search answer has no size or offset');
  if (!Array.isArray(o.entries) || o.entries.length > limit)
    throw new ImagetrustError('LEDGER_BAD_RESPONSE', 'search answer has no list of entries, or too many');
  return {
    size: o.size as number,
    offset: o.offset as number,
    entries: o.entries.map((e, i) => decodeEntry(e, i)),
  };
}

/** `NAME=VALUE` of an evidence attribute, as `--attr` and `?attr=` take it. */
export function parseAttributeQuery(text: string, what: string): { key: string; value: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ImagetrustError('BAD_REQUEST', `${what}: expected NAME=VALUE`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(key))
    throw new ImagetrustError(
      'BAD_REQUEST',
      `${what}: ${JSON.stringify(key.slice(0, 140))} is not an attribute name`,
    );
  if (value.length > 4096)
    throw new ImagetrustError('BAD_REQUEST', `${what}: the value is longer than 4096 characters`);
  return { key, value };
}

/** The query string of a search (the same on the server and the client). */
export function searchParams(query: SearchQuery): Record<string, string> {
  return {
    ...(query.attribute ? { attr: `${query.attribute.key}=${query.attribute.value}` } : {}),
    ...(query.digest ? { hash: query.digest } : {}),
  };
}

export interface Found {
  index: number;
  id: string;
  statement: Statement;
  leafHash: Buffer;
  proof: Buffer[];
}

export interface SearchResult {
  checkpoint: { size: number; note: string };
  found: Found[];
}

const PAGE = 1000;
export const MAX_FOUND = 100_000;

/** Every match in the client's proven checkpoint, page by page, verified. */
export async function verifiedSearch(
  client: LedgerClient,
  query: SearchQuery,
  options: { max?: number } = {},
): Promise<SearchResult> {
  const backend = client.backend;
  if (!backend.search) throw new ImagetrustError('USAGE', `${backend.location} cannot be searched`);
  const latest = await client.latest();
  const max = Math.min(options.max ?? MAX_FOUND, MAX_FOUND);
  const found: Found[] = [];
  for (let offset = 0; found.length < max; offset += PAGE) {
    const page = await backend.search(query, { size: latest.size, offset, limit: PAGE });
    if (page.size !== latest.size || page.offset !== offset)
      throw new ImagetrustError('LEDGER_BAD_RESPONSE', 'search answer is for another tree size or offset');
    for (const e of page.entries) {
      const leafHash = hashLeaf(e.leaf);
      // Throws PROOF_INVALID unless the entry is in the proven checkpoint.
      verifyInclusion(e.index, latest.size, leafHash, e.proof, latest.rootHash);
      const { statement, id } = openStatement(e.leaf);
      const matches =
        (!query.digest || statement.digest === query.digest) &&
        (!query.attribute || statement.attributes[query.attribute.key] === query.attribute.value);
      if (!matches)
        throw new ImagetrustError(
          'LEDGER_TAMPERED',
          `search result ${e.index} does not match what was searched`,
        );
      if (found.length > 0 && (found.at(-1) as Found).index >= e.index)
        throw new ImagetrustError('LEDGER_BAD_RESPONSE', 'search results are not in log order');
      found.push({ index: e.index, id, statement, leafHash, proof: e.proof });
    }
    if (page.entries.length < PAGE) break;
  }
  return { checkpoint: { size: latest.size, note: latest.note }, found: found.slice(0, max) };
}
