// A C2SP tlog-witness (https://c2sp.org/tlog-witness): it cosigns a log's checkpoint only if
// the checkpoint is signed by a log it knows and is consistent with the one it cosigned
// before, keeping one (size, root) per origin. `add-checkpoint` requests for one origin are
// handled one at a time and the new state is persisted before the cosignature is returned,
// so two requests can never both move the witness. Answers (REFERENCE §7):
//   404 unknown origin · 403 no valid signature of a known log key · 400 malformed, or old > new
//   409 old is not the size last cosigned (body "<size>\n", text/x.tlog.size)
//   422 bad consistency proof, or the same size with another root · 200 cosignature line(s)
//
// With an entry source the witness also recomputes the statement index from the entries and
// cosigns only a checkpoint whose `imagetrust-index/v1` line matches: its key then vouches for
// that line too, so it must be a key dedicated to that statement (C2SP tlog-cosignature).

import { ImagetrustError, isImagetrustError } from '../errors';
import { openCheckpoint, type SignedCheckpoint } from '../ledger/checkpoint';
import type { Cosigner } from '../ledger/cosignature';
import { indexKey } from '../ledger/index-proof';
import { MemoryIndex } from '../ledger/index-tree';
import {
  appendToTree,
  EMPTY_ROOT,
  foldRange,
  hashLeaf,
  HASH_SIZE,
  nodeKey,
  rangeNodes,
  verifyConsistency,
} from '../ledger/merkle';
import { noteVerifier, type NoteVerifier } from '../ledger/note';
import { advanceKey } from '../ledger/ordering';
import { openStatement } from '../ledger/statement';
import type { WitnessStateStore } from './state';

export interface AddCheckpointResult {
  status: 200 | 400 | 403 | 404 | 409 | 422;
  body: string;
  contentType: string;
}

/** Where an index-recomputing witness reads a log's entries from (the ledger's API). */
export type EntrySource = (
  origin: string,
  start: number,
  limit: number,
) => Promise<{ index: number; leaf: Buffer }[]>;

export interface WitnessOptions {
  cosigner: Cosigner;
  /** The logs this witness follows, as C2SP vkeys (the key name is the origin). */
  logs: string[];
  state: WitnessStateStore;
  /** Recompute the statement index from the entries before cosigning. */
  entries?: EntrySource;
  clock?: () => number;
}

const TEXT = 'text/plain; charset=utf-8';
const answer = (
  status: AddCheckpointResult['status'],
  body: string,
  contentType = TEXT,
): AddCheckpointResult => ({
  status,
  body: body.endsWith('\n') ? body : `${body}\n`,
  contentType,
});

interface ParsedRequest {
  old: number;
  proof: Buffer[];
  note: string;
}

function parseRequest(body: string): ParsedRequest | string {
  const lines = body.split('\n');
  const first = /^old (0|[1-9][0-9]{0,15})$/.exec(lines[0] ?? '');
  if (!first) return 'the first line must be "old <size>"';
  const proof: Buffer[] = [];
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    if (proof.length >= 63) return 'more than 63 consistency proof lines';
    const line = lines[i] as string;
    if (!/^[A-Za-z0-9+/]{43}=$/.test(line)) return `proof line ${i} is not a base64 hash`;
    proof.push(Buffer.from(line, 'base64'));
  }
  if (i >= lines.length) return 'no empty line before the checkpoint';
  const note = lines.slice(i + 1).join('\n');
  return { old: Number(first[1]), proof, note };
}

export class Witness {
  private readonly logs = new Map<string, NoteVerifier>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly indexes = new Map<
    string,
    { size: number; index: MemoryIndex; frontier: Map<string, Buffer> }
  >();
  private readonly clock: () => number;

  constructor(private readonly options: WitnessOptions) {
    for (const vkey of options.logs) {
      const v = noteVerifier(vkey);
      this.logs.set(v.name, v);
    }
    this.clock = options.clock ?? Date.now;
  }

  get vkey(): string {
    return this.options.cosigner.vkey;
  }

  get recomputesIndex(): boolean {
    return this.options.entries !== undefined;
  }

  /** Handles one add-checkpoint request body. */
  async addCheckpoint(body: string): Promise<AddCheckpointResult> {
    const parsed = parseRequest(body);
    if (typeof parsed === 'string') return answer(400, parsed);
    const origin = parsed.note.slice(0, parsed.note.indexOf('\n'));
    const log = this.logs.get(origin);
    if (!log) return answer(404, `unknown log ${JSON.stringify(origin.slice(0, 200))}`);
    let cp: SignedCheckpoint;
    try {
      cp = openCheckpoint(parsed.note, log, origin);
    } catch (err) {
      if (isImagetrustError(err) && (err.code === 'NOTE_UNVERIFIED' || err.code === 'KEY_INVALID'))
        return answer(403, 'no valid signature of a known log key');
      return answer(400, `malformed checkpoint: ${(err as Error).message}`);
    }
    if (parsed.old > cp.size)
      return answer(400, `old size ${parsed.old} is larger than the checkpoint's ${cp.size}`);
    // RFC 6962: the empty tree has one root; a log that signs another is not consistent with itself.
    if (cp.size === 0 && !cp.rootHash.equals(EMPTY_ROOT))
      return answer(422, 'a tree of size 0 has the root SHA-256("")');
    return this.serialized(origin, () => this.advance(origin, parsed, cp));
  }

  private async serialized<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(origin) ?? Promise.resolve();
    const run = before.then(fn, fn);
    this.locks.set(
      origin,
      run.catch(() => undefined),
    );
    return run;
  }

  private async advance(
    origin: string,
    req: ParsedRequest,
    cp: SignedCheckpoint,
  ): Promise<AddCheckpointResult> {
    const known = this.options.state.get(origin);
    const knownSize = known?.size ?? 0;
    if (req.old !== knownSize) return answer(409, `${knownSize}`, 'text/x.tlog.size');
    if (req.old === cp.size) {
      if (req.proof.length !== 0) return answer(422, 'a checkpoint of the same size needs no proof');
      if (known && !known.root.equals(cp.rootHash))
        return answer(422, `another root for tree size ${cp.size}`);
    } else {
      try {
        const oldRoot = known?.root ?? Buffer.alloc(HASH_SIZE);
        verifyConsistency(req.old, cp.size, oldRoot, cp.rootHash, req.proof);
      } catch {
        return answer(422, `the consistency proof from ${req.old} to ${cp.size} does not verify`);
      }
    }
    let indexRoot: Buffer | undefined;
    if (this.options.entries) {
      const problem = await this.checkIndex(origin, knownSize, cp);
      if (problem) return answer(422, problem);
      indexRoot = cp.indexRoot;
    }
    this.options.state.set(origin, { size: cp.size, root: cp.rootHash, ...(indexRoot ? { indexRoot } : {}) });
    const text = cp.note.slice(0, cp.note.lastIndexOf('\n\n') + 1);
    return answer(200, this.options.cosigner.sign(text, Math.floor(this.clock() / 1000)));
  }

  /**
   * Replays the entries since the last cosigned size into the log's frontier and the index,
   * and compares both roots with the checkpoint's: entries that do not make the log root are
   * not the log's, whatever the entries API says.
   */
  private async checkIndex(
    origin: string,
    knownSize: number,
    cp: SignedCheckpoint,
  ): Promise<string | undefined> {
    const source = this.options.entries as EntrySource;
    if (!cp.indexRoot) return 'the checkpoint carries no index root to vouch for';
    const held = this.indexes.get(origin);
    // After a restart (or a refused round) the witness rebuilds from the start of the log.
    const work =
      held && held.size === knownSize ? held : { size: 0, index: new MemoryIndex(), frontier: new Map() };
    this.indexes.delete(origin);
    try {
      while (work.size < cp.size) {
        const page = await source(origin, work.size, Math.min(1000, cp.size - work.size));
        if (page.length === 0) return `the log did not serve entry ${work.size}`;
        for (const e of page) {
          if (e.index !== work.size) return `the log served entry ${e.index} for ${work.size}`;
          const leafHash = hashLeaf(e.leaf);
          const o = openStatement(e.leaf);
          const index = work.size;
          work.index.update([
            {
              key: indexKey(o.statement.signer, o.statement.digest),
              apply: (old) => advanceKey(old, { index, leafHash, id: o.id, statement: o.statement }, false),
            },
          ]);
          const grown = appendToTree(work.size, [leafHash], (id) => work.frontier.get(nodeKey(id)) as Buffer);
          for (const n of grown.nodes) work.frontier.set(nodeKey(n.id), n.hash);
          work.size += 1;
          const keep = new Set(rangeNodes({ start: 0, end: work.size }).map(nodeKey));
          for (const k of work.frontier.keys()) if (!keep.has(k)) work.frontier.delete(k);
        }
      }
    } catch (err) {
      return `cannot recompute the index: ${err instanceof ImagetrustError ? err.message : String(err)}`;
    }
    const root = foldRange(
      rangeNodes({ start: 0, end: work.size }).map((id) => work.frontier.get(nodeKey(id)) as Buffer),
    );
    if (!root.equals(cp.rootHash)) return 'the entries the log served do not make its root';
    if (!work.index.rootHash.equals(cp.indexRoot))
      return `the index root does not match the index recomputed from the ${cp.size} entries`;
    this.indexes.set(origin, work);
    return undefined;
  }
}
