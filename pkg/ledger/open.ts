// Opens the ledger a location names: an http(s) URL is a remote `ledger serve`; a
// postgres:// URL a ledger in PostgreSQL, read directly (with its checkpoint key given as
// `keyPath`, this process may append too; several servers share that key); anything else a
// local SQLite file whose checkpoint key sits beside it (`<file>.key`, created with the ledger
// and never replaced). Other URL schemes are refused.
//
// `readonly` is how readers open (verify, inspect, search, ledger audit and info): nothing is
// created or written. A file must exist and be a ledger (SQLite read-only, fileMustExist); a
// missing file is NOT_FOUND, an empty or wiped one LEDGER_TAMPERED; no checkpoint key is read
// or made. PostgreSQL is opened without migrations and without the key.

import { existsSync, statSync } from 'node:fs';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { ImagetrustError } from '../errors';
import { LocalBackend, type LedgerBackend } from './backend';
import { readKeyFile, writeKeyFile } from './keys';
import { Ledger } from './log';
import { RemoteBackend } from './remote';
import { SqliteStore, type SqliteStoreOptions } from './store/sqlite';
import type { LedgerStore } from './store/store';
import { isPostgresLocation, redactUrl } from '../postgres/url';

export interface OpenLocalOptions extends SqliteStoreOptions {
  /** The checkpoint key file; for PostgreSQL, without it the ledger is opened read-only. */
  keyPath?: string;
  origin?: string;
  clock?: () => number;
  /** Called once when a new ledger key was created, with its verifier key. */
  onCreated?: (vkey: string) => void;
}

export function isRemoteLocation(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/**
 * A ledger location is an http(s) or postgres URL or a file path; anything that looks like
 * another URL (mysql://…, file:…) is refused rather than taken as a path to create.
 */
export function checkLedgerLocation(location: string): void {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(location)?.[1];
  if (scheme && scheme.length > 1 && !/^(https?|postgres(ql)?)$/i.test(scheme)) {
    throw new ImagetrustError(
      'USAGE',
      `unsupported ledger location ${JSON.stringify(location.slice(0, 100))}: use a file path, a postgres:// URL or an http(s) URL of "imagetrust ledger serve" (${scheme}: is not supported)`,
    );
  }
}

/** A ledger this process reads (and, with its key, writes) directly: a file or PostgreSQL. */
export async function openLocalLedger(location: string, options: OpenLocalOptions = {}): Promise<Ledger> {
  checkLedgerLocation(location);
  if (isRemoteLocation(location))
    throw new ImagetrustError('USAGE', `${location} is a ledger server, not a ledger this process opens`);
  return isPostgresLocation(location)
    ? openPostgresLedger(location, options)
    : openFileLedger(location, options);
}

/**
 * The checkpoint key at `keyPath`: created when the ledger is new, refused when the ledger
 * exists without it (a new key would sign a second history). `created` says which.
 */
function checkpointKey(
  keyPath: string,
  ledgerExists: boolean,
  ledger: string,
): { key: KeyObject; created: boolean } {
  let created = false;
  if (!existsSync(keyPath)) {
    if (ledgerExists)
      throw new ImagetrustError(
        'KEY_NOT_FOUND',
        `ledger ${ledger} exists but its checkpoint key ${keyPath} is missing`,
      );
    writeKeyFile(keyPath, generateKeyPairSync('ed25519').privateKey);
    created = true;
  }
  return { key: readKeyFile(keyPath), created };
}

/** Opens the ledger over a store; a ledger just created reports its verifier key; the store is closed on failure. */
async function openOver(
  store: LedgerStore,
  key: KeyObject | undefined,
  created: boolean,
  options: OpenLocalOptions,
): Promise<Ledger> {
  try {
    const ledger = await Ledger.open(store, {
      ...(key ? { key } : {}),
      ...(options.origin ? { origin: options.origin } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    if (created) options.onCreated?.(ledger.info.vkey);
    return ledger;
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function openPostgresLedger(url: string, options: OpenLocalOptions): Promise<Ledger> {
  // Loaded only for a postgres:// ledger: other processes never load pg.
  const { PostgresStore } = await import('./store/postgres.js');
  const writer = options.keyPath !== undefined && !options.readonly;
  const store = await PostgresStore.open(url, { migrate: writer });
  let opened: { key: KeyObject; created: boolean } | undefined;
  try {
    if (writer)
      opened = checkpointKey(options.keyPath as string, Boolean(await store.getMeta('vkey')), redactUrl(url));
  } catch (err) {
    await store.close();
    throw err;
  }
  return openOver(store, opened?.key, opened?.created ?? false, options);
}

async function openFileLedger(path: string, options: OpenLocalOptions): Promise<Ledger> {
  const file = resolve(path);
  if (options.readonly) return openFileReadOnly(file, options);
  const { key, created } = checkpointKey(options.keyPath ?? `${file}.key`, existsSync(file), file);
  return openOver(new SqliteStore(file, options), key, created, options);
}

async function openFileReadOnly(file: string, options: OpenLocalOptions): Promise<Ledger> {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ImagetrustError(
        'NOT_FOUND',
        `there is no ledger at ${file}: check --ledger (IMAGETRUST_LEDGER); a ledger file is created by the first "imagetrust sign"`,
        { cause: err },
      );
    throw new ImagetrustError('IO', `cannot read ledger ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (size === 0)
    throw new ImagetrustError(
      'LEDGER_TAMPERED',
      `ledger ${file} is an empty file (0 bytes): it was wiped or truncated; restore it from a backup`,
    );
  const store = new SqliteStore(file, {
    ...(options.synchronous ? { synchronous: options.synchronous } : {}),
    readonly: true,
  });
  try {
    // A file that is a ledger was given its key and its first checkpoint when it was created.
    if (!(await store.getMeta('vkey')) || !(await store.latestCheckpoint()))
      throw new ImagetrustError(
        'LEDGER_TAMPERED',
        `ledger ${file} has lost its key or its checkpoints: it was wiped or edited; restore it from a backup`,
      );
  } catch (err) {
    await store.close();
    throw err;
  }
  return openOver(store, undefined, false, options);
}

export async function openBackend(location: string, options: OpenLocalOptions = {}): Promise<LedgerBackend> {
  if (isRemoteLocation(location)) return new RemoteBackend(location);
  return new LocalBackend(await openLocalLedger(location, options));
}
