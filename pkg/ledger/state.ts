// The client's memory of each ledger: the newest checkpoint it proved, and the checkpoint key
// it pinned (trust on first use unless a policy pins it). One JSON file per ledger origin,
// plus an index binding each ledger location to the origin first seen there, so that a ledger
// which changes its name at the same address is noticed. Files are replaced atomically.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImagetrustError } from '../errors';

export interface TrustedState {
  origin: string;
  vkey: string;
  /** The newest checkpoint note proven consistent. */
  checkpoint: string;
}

export interface StateStore {
  load(origin: string): TrustedState | undefined;
  save(state: TrustedState): void;
  originAt(location: string): string | undefined;
  bindLocation(location: string, origin: string): void;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ImagetrustError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ImagetrustError('IO', `${path} is not valid JSON; remove it only if you know why it broke`, {
      cause: err,
    });
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    throw new ImagetrustError('IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export class FileStateStore implements StateStore {
  constructor(private readonly dir: string) {}

  private fileFor(origin: string): string {
    return join(this.dir, `${createHash('sha256').update(origin).digest('hex').slice(0, 32)}.json`);
  }

  load(origin: string): TrustedState | undefined {
    const doc = readJson(this.fileFor(origin)) as Partial<TrustedState> | undefined;
    if (doc === undefined) return undefined;
    if (doc.origin !== origin || typeof doc.vkey !== 'string' || typeof doc.checkpoint !== 'string') {
      throw new ImagetrustError('IO', `state file for ${origin} is malformed`);
    }
    return { origin, vkey: doc.vkey, checkpoint: doc.checkpoint };
  }

  save(state: TrustedState): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeJsonAtomic(this.fileFor(state.origin), state);
  }

  private locations(): Record<string, string> {
    const doc = readJson(join(this.dir, 'locations.json'));
    return typeof doc === 'object' && doc !== null ? (doc as Record<string, string>) : {};
  }

  originAt(location: string): string | undefined {
    return this.locations()[location];
  }

  bindLocation(location: string, origin: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeJsonAtomic(join(this.dir, 'locations.json'), { ...this.locations(), [location]: origin });
  }
}

/** Keeps state in memory only: for tests and for processes that must not write. */
export class MemoryStateStore implements StateStore {
  private readonly states = new Map<string, TrustedState>();
  private readonly bindings = new Map<string, string>();

  load(origin: string): TrustedState | undefined {
    return this.states.get(origin);
  }

  save(state: TrustedState): void {
    this.states.set(state.origin, { ...state });
  }

  originAt(location: string): string | undefined {
    return this.bindings.get(location);
  }

  bindLocation(location: string, origin: string): void {
    this.bindings.set(location, origin);
  }
}
