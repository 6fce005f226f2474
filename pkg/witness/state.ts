// A witness's memory: per log origin, the one (tree size, root hash[, index root]) it last
// cosigned. Kept in one JSON file, replaced atomically (write, fsync, rename) before the
// witness answers, so a restart never forgets a checkpoint it vouched for.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ImagetrustError } from '../errors';

export interface WitnessedState {
  size: number;
  root: Buffer;
  indexRoot?: Buffer;
}

export interface WitnessStateStore {
  get(origin: string): WitnessedState | undefined;
  set(origin: string, state: WitnessedState): void;
}

export class MemoryWitnessState implements WitnessStateStore {
  private readonly states = new Map<string, WitnessedState>();
  get(origin: string): WitnessedState | undefined {
    return this.states.get(origin);
  }
  set(origin: string, state: WitnessedState): void {
    this.states.set(origin, state);
  }
}

interface StateFile {
  version: 1;
  origins: Record<string, { size: number; root: string; indexRoot?: string }>;
}

export class FileWitnessState implements WitnessStateStore {
  private readonly states = new Map<string, WitnessedState>();

  constructor(private readonly path: string) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new ImagetrustError('IO', `cannot read witness state ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let doc: StateFile;
    try {
      doc = JSON.parse(text) as StateFile;
    } catch (err) {
      throw new ImagetrustError('IO', `witness state ${path} is not JSON; it must not be replaced blindly`, {
        cause: err,
      });
    }
    if (doc.version !== 1 || typeof doc.origins !== 'object' || doc.origins === null)
      throw new ImagetrustError('IO', `witness state ${path} is malformed`);
    for (const [origin, s] of Object.entries(doc.origins)) {
      if (!Number.isSafeInteger(s.size) || s.size < 0 || typeof s.root !== 'string')
        throw new ImagetrustError('IO', `witness state ${path}: the entry for ${origin} is malformed`);
      this.states.set(origin, {
        size: s.size,
        root: Buffer.from(s.root, 'base64'),
        ...(s.indexRoot ? { indexRoot: Buffer.from(s.indexRoot, 'base64') } : {}),
      });
    }
  }

  get(origin: string): WitnessedState | undefined {
    return this.states.get(origin);
  }

  set(origin: string, state: WitnessedState): void {
    const next = new Map(this.states).set(origin, state);
    const doc: StateFile = { version: 1, origins: {} };
    for (const [o, s] of next) {
      doc.origins[o] = {
        size: s.size,
        root: s.root.toString('base64'),
        ...(s.indexRoot ? { indexRoot: s.indexRoot.toString('base64') } : {}),
      };
    }
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(doc, null, 2)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (err) {
      throw new ImagetrustError('IO', `cannot write witness state ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.states.set(origin, state);
  }
}
