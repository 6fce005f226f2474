// A ledger client that believes nothing it is told: every checkpoint is opened with the
// pinned ledger key and proven consistent with the newest one it kept (as transparency-dev's
// client.LogStateTracker does); every lookup asks for the allowed signers' entries only, each
// proven included, signed, and — by the index proof — complete, and proven to extend what the
// index held at the checkpoint this client trusted before. A ledger that rewrote its past is
// refused with both checkpoints as evidence.

import { ImagetrustError, isImagetrustError } from '../errors';
import type { CheckpointQuery, LedgerBackend } from './backend';
import { openCheckpoint, type SignedCheckpoint } from './checkpoint';
import type { IndexProof } from './index-proof';
import type { KeyLookup } from './log';
import { hashLeaf } from './merkle';
import { noteVerifier, type NoteVerifier } from './note';
import { newestWord } from './ordering';
import { decide, type TrustPolicy, type Verdict, type VerifiedStatement } from './policy';
import type { StateStore } from './state';
import type { ImageDigest, SignedStatement } from './statement';
import { VerificationCache, verifyExtends, verifyKeyAnswer } from './verifier';
import { checkWitnesses, type WitnessPolicy } from './witness-policy';

const MAX_CACHED_ANSWERS = 50_000;
const MAX_OPENED_NOTES = 64;
/** A signer's history about one digest that is longer than this is refused, not paged through. */
export const MAX_KEY_ENTRIES = 100_000;

export interface LedgerClientOptions {
  state: StateStore;
  /** A pinned checkpoint key (C2SP vkey); without it the first key seen is kept. */
  ledgerKey?: string;
  cache?: VerificationCache;
  /** Reuse a proven checkpoint for this long before asking the ledger again (ms). */
  checkpointMaxAge?: number;
  clock?: () => number;
  /** Witnesses whose quorum must cosign the latest checkpoint, and how old their view may be. */
  witnesses?: { policy: WitnessPolicy; maxAgeMs: number };
}

export interface VerifiedLookup {
  digest: ImageDigest;
  /** The checkpoint the statements were proven against (historical for time travel). */
  checkpoint: SignedCheckpoint;
  /** The newest checkpoint this client proved. */
  latest: SignedCheckpoint;
  /** The signers asked about; the statements are all of theirs, and only theirs. */
  signers: string[];
  /** Every statement of those signers about the digest, in log order. */
  statements: VerifiedStatement[];
  proofs: Map<number, Buffer[]>;
  /** The index proof for each signer. */
  indexProofs: Map<string, IndexProof>;
}

export interface VerifiedAnswer extends VerifiedLookup {
  verdict: Verdict;
}

export class LedgerClient {
  private verifier: NoteVerifier | undefined;
  private origin: string | undefined;
  private proven: { checkpoint: SignedCheckpoint; at: number } | undefined;
  /** The checkpoint this client trusted before it last moved forward: lookups prove the index extends it. */
  private previous: SignedCheckpoint | undefined;
  private readonly cache: VerificationCache;
  /** Per policy object: its signer ids and the verdicts of the lookups it made (pure, so kept). */
  private readonly verdicts = new WeakMap<
    TrustPolicy,
    { signers: string[]; verdicts: Map<string, Verdict> }
  >();
  private readonly checkpointKeys = new WeakMap<SignedCheckpoint, string>();
  /** Checkpoint notes already opened with the trust anchor (verifier and origin never change once set). */
  private readonly opened = new Map<string, SignedCheckpoint>();
  /** Whole lookups (digest, signers, checkpoint): the warm path. */
  private readonly lookups = new Map<string, Omit<VerifiedLookup, 'latest'>>();
  private readonly clock: () => number;

  constructor(
    readonly backend: LedgerBackend,
    private readonly options: LedgerClientOptions,
  ) {
    this.cache = options.cache ?? new VerificationCache();
    this.clock = options.clock ?? Date.now;
  }

  /** Establishes which key and origin this ledger must sign with. */
  private async trustAnchor(): Promise<{ verifier: NoteVerifier; origin: string }> {
    if (this.verifier && this.origin) return { verifier: this.verifier, origin: this.origin };
    const { state } = this.options;
    const location = this.backend.location;
    let vkey = this.options.ledgerKey;
    if (vkey === undefined) {
      const bound = state.originAt(location);
      const stored = bound === undefined ? undefined : state.load(bound);
      if (stored) vkey = stored.vkey;
      else vkey = (await this.backend.info()).vkey;
    }
    const verifier = noteVerifier(vkey);
    const origin = verifier.name;
    const bound = state.originAt(location);
    if (bound !== undefined && bound !== origin) {
      throw new ImagetrustError(
        'LEDGER_INCONSISTENT',
        `the ledger at ${location} was ${JSON.stringify(bound)} and now claims to be ${JSON.stringify(origin)}`,
      );
    }
    const kept = state.load(origin);
    if (kept && kept.vkey !== verifier.vkey) {
      throw new ImagetrustError(
        'LEDGER_INCONSISTENT',
        `ledger ${origin} is signed with another key than before`,
        {
          details: { trustedKey: kept.vkey, presentedKey: verifier.vkey },
        },
      );
    }
    if (bound === undefined) state.bindLocation(location, origin);
    this.verifier = verifier;
    this.origin = origin;
    return { verifier, origin };
  }

  get ledgerKey(): string | undefined {
    return this.verifier?.vkey;
  }

  /** Opens a note with the ledger's key once: a note opened before is the same checkpoint. */
  private open(note: string, verifier: NoteVerifier, origin: string): SignedCheckpoint {
    let cp = this.opened.get(note);
    if (!cp) {
      cp = openCheckpoint(note, verifier, origin);
      if (this.opened.size >= MAX_OPENED_NOTES) this.opened.clear();
      this.opened.set(note, cp);
    }
    return cp;
  }

  /**
   * Proves that `note` is consistent with the newest checkpoint this client trusts: either it
   * extends it (then it becomes the newest), or it is a proven prefix of it (an answer another
   * process has already overtaken). Returns the opened checkpoint and whether it is behind.
   */
  async accept(note: string): Promise<{ checkpoint: SignedCheckpoint; behind: boolean }> {
    const { verifier, origin } = await this.trustAnchor();
    const next = this.open(note, verifier, origin);
    const kept = this.options.state.load(origin);
    const trusted = kept ? this.open(kept.checkpoint, verifier, origin) : undefined;
    let behind = false;
    if (trusted && next.size >= trusted.size) {
      const proof =
        next.size === trusted.size ? [] : await this.backend.consistencyProof(trusted.size, next.size);
      verifyExtends(trusted, next, proof);
      sameIndexAtSameSize(trusted, next);
      if (next.size > trusted.size && trusted.indexRoot) this.previous = trusted;
    } else if (trusted) {
      behind = true;
      verifyExtends(next, trusted, await this.prefixProof(next, trusted));
    }
    if (!trusted || next.size > trusted.size) {
      this.options.state.save({ origin, vkey: verifier.vkey, checkpoint: next.note });
    }
    this.proven = { checkpoint: behind && trusted ? trusted : next, at: this.clock() };
    return { checkpoint: next, behind };
  }

  /** A consistency proof from an older checkpoint to the trusted one; a ledger that cannot give one rolled back. */
  private async prefixProof(older: SignedCheckpoint, trusted: SignedCheckpoint): Promise<Buffer[]> {
    try {
      return await this.backend.consistencyProof(older.size, trusted.size);
    } catch (err) {
      if (isImagetrustError(err) && (err.code === 'LEDGER_UNREACHABLE' || err.code === 'LEDGER_BAD_RESPONSE'))
        throw err;
      throw new ImagetrustError(
        'LEDGER_INCONSISTENT',
        `ledger rolled back from tree size ${trusted.size} to ${older.size}`,
        {
          cause: err,
          details: { trusted: trusted.note, presented: older.note },
        },
      );
    }
  }

  /**
   * The newest checkpoint, proven consistent with everything this client (and every process
   * sharing its state) saw before. A ledger whose latest checkpoint stays behind that is
   * refused as rolled back; a local ledger's storage must hold exactly the entries it covers.
   */
  async latest(options: { refresh?: boolean } = {}): Promise<SignedCheckpoint> {
    const maxAge = this.options.checkpointMaxAge ?? 0;
    if (!options.refresh && this.proven && this.clock() - this.proven.at < maxAge)
      return this.proven.checkpoint;
    for (let attempt = 0; ; attempt++) {
      const snapshot = this.backend.latestWithCounts
        ? await this.backend.latestWithCounts()
        : { checkpoint: await this.backend.latestCheckpoint() };
      // Witnesses first: a checkpoint no quorum vouches for is not even remembered.
      const { witnesses } = this.options;
      if (witnesses) {
        checkWitnesses(
          snapshot.checkpoint,
          witnesses.policy,
          Math.floor(this.clock() / 1000),
          Math.floor(witnesses.maxAgeMs / 1000),
        );
      }
      const { checkpoint, behind } = await this.accept(snapshot.checkpoint);
      if (
        'entries' in snapshot &&
        (snapshot.entries !== checkpoint.size || snapshot.maxIndex !== checkpoint.size - 1)
      ) {
        throw new ImagetrustError(
          'LEDGER_TAMPERED',
          `ledger storage holds ${snapshot.entries} entries (last index ${snapshot.maxIndex}) but its checkpoint is for ${checkpoint.size}`,
        );
      }
      if (!behind) return checkpoint;
      // Another process may have appended and saved a newer state since the ledger answered.
      if (attempt >= 1) {
        const kept = this.options.state.load(checkpoint.origin);
        throw new ImagetrustError(
          'LEDGER_INCONSISTENT',
          `ledger rolled back to tree size ${checkpoint.size}`,
          {
            details: { trusted: kept?.checkpoint, presented: checkpoint.note },
          },
        );
      }
    }
  }

  /**
   * Gossip: proves that a checkpoint another party proved (a peer agent) and the newest one
   * this client proved are of one history — the ledger must give the consistency proof from
   * the smaller to the larger. Two histories are LEDGER_INCONSISTENT with both checkpoints.
   * The other party's checkpoint is not adopted: witnesses and freshness still apply to ours.
   */
  async crossCheck(note: string): Promise<{ ours: SignedCheckpoint; theirs: SignedCheckpoint }> {
    const { verifier, origin } = await this.trustAnchor();
    const theirs = this.open(note, verifier, origin);
    const ours = this.proven?.checkpoint ?? (await this.latest());
    const evidence = { details: { ours: ours.note, theirs: theirs.note } };
    if (theirs.size === ours.size) {
      const sameIndex = !theirs.indexRoot || !ours.indexRoot || theirs.indexRoot.equals(ours.indexRoot);
      if (!theirs.rootHash.equals(ours.rootHash) || !sameIndex) {
        throw new ImagetrustError(
          'LEDGER_INCONSISTENT',
          `split view: two different checkpoints of tree size ${ours.size}`,
          evidence,
        );
      }
      return { ours, theirs };
    }
    const [small, large] = theirs.size < ours.size ? [theirs, ours] : [ours, theirs];
    let proof: Buffer[];
    try {
      proof = await this.backend.consistencyProof(small.size, large.size);
    } catch (err) {
      if (isImagetrustError(err) && (err.code === 'LEDGER_UNREACHABLE' || err.code === 'LEDGER_BAD_RESPONSE'))
        throw err;
      throw new ImagetrustError(
        'LEDGER_INCONSISTENT',
        `split view: the ledger cannot prove tree size ${small.size} a prefix of ${large.size}`,
        {
          cause: err,
          ...evidence,
        },
      );
    }
    try {
      verifyExtends(small, large, proof);
    } catch (err) {
      throw new ImagetrustError(
        'LEDGER_INCONSISTENT',
        `split view: checkpoints of tree sizes ${small.size} and ${large.size} are of two histories`,
        {
          cause: err,
          ...evidence,
        },
      );
    }
    return { ours, theirs };
  }

  /** A historical checkpoint, proven to be a prefix of the latest. */
  async historical(query: CheckpointQuery, latest: SignedCheckpoint): Promise<SignedCheckpoint> {
    const { verifier, origin } = await this.trustAnchor();
    if ('size' in query && query.size >= latest.size) return latest;
    const note = await this.backend.checkpoint(query);
    if (note === undefined) {
      throw new ImagetrustError('NOT_FOUND', `the ledger has no checkpoint at or before ${describe(query)}`);
    }
    const old = this.open(note, verifier, origin);
    if (old.size > latest.size) {
      throw new ImagetrustError(
        'LEDGER_INCONSISTENT',
        'ledger served a historical checkpoint newer than its latest',
        {
          details: { latest: latest.note, historical: old.note },
        },
      );
    }
    if ('size' in query && old.size > query.size)
      throw new ImagetrustError('LEDGER_BAD_RESPONSE', 'ledger served a checkpoint past the size asked for');
    const proof = old.size === latest.size ? [] : await this.backend.consistencyProof(old.size, latest.size);
    verifyExtends(old, latest, proof);
    return old;
  }

  /**
   * Every statement the given signers made about `digest`, proven complete against the latest
   * (or a historical) checkpoint. Statements of other signers are never fetched.
   */
  async lookup(digest: ImageDigest, signers: string[], at?: CheckpointQuery): Promise<VerifiedLookup> {
    return (await this.keyedLookup(digest, signers, at)).found;
  }

  private checkpointKey(cp: SignedCheckpoint): string {
    let key = this.checkpointKeys.get(cp);
    if (key === undefined) {
      key = `${cp.size}:${cp.rootHash.toString('base64')}`;
      this.checkpointKeys.set(cp, key);
    }
    return key;
  }

  private async keyedLookup(
    digest: ImageDigest,
    signers: string[],
    at?: CheckpointQuery,
  ): Promise<{ found: VerifiedLookup; key: string }> {
    const latest = await this.latest();
    const checkpoint = at === undefined ? latest : await this.historical(at, latest);
    const since =
      at === undefined && this.previous && this.previous.size < checkpoint.size ? this.previous : undefined;
    const unique = signers.length === 1 ? signers : [...new Set(signers)];
    // What a log holds below a proven size never changes: a proven answer stays true.
    const cacheKey = `${digest}@${this.checkpointKey(checkpoint)}|${unique.join(',')}`;
    const cached = this.lookups.get(cacheKey);
    if (cached) return { found: { ...cached, latest }, key: cacheKey };
    const answers = await Promise.all(
      unique.map((signer) => this.signerAnswer(signer, digest, checkpoint, since)),
    );
    const statements = answers.flatMap((a) => a.statements).sort((a, b) => a.index - b.index);
    const proofs = new Map<number, Buffer[]>();
    for (const a of answers) for (const [i, p] of a.proofs) proofs.set(i, p);
    const found = {
      digest,
      checkpoint,
      signers: unique,
      statements,
      proofs,
      indexProofs: new Map(answers.map((a, i) => [unique[i] as string, a.proof])),
    };
    if (this.lookups.size >= MAX_CACHED_ANSWERS) this.lookups.clear();
    this.lookups.set(cacheKey, found);
    return { found: { ...found, latest }, key: cacheKey };
  }

  /** One signer's proven, complete answer (cached by the lookup that asked for it). */
  private async signerAnswer(
    signer: string,
    digest: ImageDigest,
    checkpoint: SignedCheckpoint,
    since: SignedCheckpoint | undefined,
  ): Promise<{ statements: VerifiedStatement[]; proofs: Map<number, Buffer[]>; proof: IndexProof }> {
    const first = await this.backend.lookup(signer, digest, checkpoint.size, {
      ...(since ? { since: since.size } : {}),
    });
    checkPage(first, checkpoint.size, 0);
    if (since && first.since?.size !== since.size) {
      throw new ImagetrustError(
        'PROOF_INVALID',
        `ledger did not prove that its index at tree size ${checkpoint.size} extends the one at ${since.size}`,
      );
    }
    const entries = [...first.entries];
    const claimed = first.proof.leaf?.count ?? 0;
    if (claimed > MAX_KEY_ENTRIES) {
      throw new ImagetrustError(
        'LIMIT_EXCEEDED',
        `signer ${signer} has ${claimed} statements about ${digest}, more than the ${MAX_KEY_ENTRIES} a client reads`,
      );
    }
    while (entries.length < claimed) {
      const page = await this.backend.lookup(signer, digest, checkpoint.size, { offset: entries.length });
      checkPage(page, checkpoint.size, entries.length);
      if (page.entries.length === 0) break;
      entries.push(...page.entries);
    }
    const statements = await verifyKeyAnswer(
      {
        proof: first.proof,
        entries,
        ...(since && first.since ? { since: { checkpoint: since, proof: first.since.proof } } : {}),
      },
      checkpoint,
      signer,
      digest,
      this.cache,
    );
    return { statements, proofs: new Map(entries.map((e) => [e.index, e.proof])), proof: first.proof };
  }

  async verify(digest: ImageDigest, policy: TrustPolicy, at?: CheckpointQuery): Promise<VerifiedAnswer> {
    let memo = this.verdicts.get(policy);
    if (!memo) {
      memo = { signers: policy.signers.map((s) => s.keyId), verdicts: new Map() };
      this.verdicts.set(policy, memo);
    }
    const { found, key } = await this.keyedLookup(digest, memo.signers, at);
    let verdict = memo.verdicts.get(key);
    if (!verdict) {
      verdict = decide(found.statements, policy);
      if (memo.verdicts.size >= MAX_CACHED_ANSWERS) memo.verdicts.clear();
      memo.verdicts.set(key, verdict);
    }
    return { ...found, verdict };
  }

  /** Where a signer's next statement about `digest` goes in its own order (statement.ts). */
  async nextWord(signer: string, digest: ImageDigest): Promise<{ sequence: number; supersedes?: string }> {
    const found = await this.lookup(digest, [signer]);
    const newest = newestWord(found.statements)?.word;
    if (!newest) return { sequence: 1 };
    const sequence = newest.statement.format === 2 ? newest.statement.sequence + 1 : 1;
    return { sequence, supersedes: newest.id };
  }

  /** Appends signed statements, then proves the new checkpoint and that each is indexed under its signer. */
  async append(signed: SignedStatement[]): Promise<{ indexes: number[]; checkpoint: SignedCheckpoint }> {
    await this.latest();
    const result = await this.backend.append(signed.map((s) => s.envelope));
    const { checkpoint } = await this.accept(result.checkpoint);
    const indexes = signed.map((_, i) => result.firstIndex + i);
    for (const [i, s] of signed.entries()) {
      const found = await this.lookup(s.statement.digest, [s.statement.signer], { size: checkpoint.size });
      const entry = found.statements.find((e) => e.index === indexes[i]);
      if (!entry || !entry.leafHash.equals(hashLeaf(s.envelope))) {
        throw new ImagetrustError(
          'LEDGER_BAD_RESPONSE',
          `ledger did not log statement ${i} at index ${indexes[i]}`,
        );
      }
    }
    return { indexes, checkpoint };
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

/** One size, one checkpoint: a second index root for a tree size already trusted is a split view. */
function sameIndexAtSameSize(trusted: SignedCheckpoint, next: SignedCheckpoint): void {
  if (trusted.size !== next.size || !trusted.indexRoot || !next.indexRoot) return;
  if (!trusted.indexRoot.equals(next.indexRoot)) {
    throw new ImagetrustError(
      'LEDGER_INCONSISTENT',
      `ledger signed two different statement indexes for tree size ${next.size}`,
      { details: { trusted: trusted.note, presented: next.note } },
    );
  }
}

function checkPage(page: KeyLookup, size: number, offset: number): void {
  if (page.size !== size || page.offset !== offset) {
    throw new ImagetrustError(
      'LEDGER_BAD_RESPONSE',
      `ledger answered for tree size ${page.size} offset ${page.offset}, not ${size} offset ${offset}`,
    );
  }
}

function describe(query: CheckpointQuery): string {
  return 'size' in query ? `tree size ${query.size}` : new Date(query.time).toISOString();
}
