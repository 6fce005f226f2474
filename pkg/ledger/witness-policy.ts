// Witness policies in the C2SP tlog-policy format (the Sigsum policy grammar with vkeys):
//
//   log <vkey> [url]                       the log's checkpoint key (pins the ledger key)
//   witness <name> <vkey> [url]            a witness and its cosignature key
//   group <name> all|any|<k> <member>…     k of the members (witnesses or earlier groups)
//   quorum <name>                          exactly once; `none` is predefined
//
// Names are defined before use; `#` starts a comment. Pure code: no I/O. A checkpoint meets
// the policy when the witnesses whose cosignatures verified satisfy the quorum; it is fresh
// when they still do counting only cosignatures newer than the age limit.

import { ImagetrustError } from '../errors';
import { cosignatureVerifier, verifyCosignatures, type CosignatureVerifier } from './cosignature';
import { noteVerifier } from './note';

export interface WitnessPolicy {
  logKeys: string[];
  witnesses: { name: string; verifier: CosignatureVerifier; url?: string }[];
  /** The quorum's name; `none` needs nobody. */
  quorum: string;
  groups: Map<string, { threshold: number; members: string[] }>;
}

function bad(line: number, message: string): ImagetrustError {
  return new ImagetrustError('CONFIG_INVALID', `witness policy line ${line}: ${message}`);
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function parseWitnessPolicy(text: string): WitnessPolicy {
  const policy: WitnessPolicy = { logKeys: [], witnesses: [], quorum: '', groups: new Map() };
  const defined = new Set<string>(['none']);
  let quorums = 0;
  text.split('\n').forEach((raw, i) => {
    const n = i + 1;
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const [keyword, ...args] = line.split(/\s+/);
    switch (keyword) {
      case 'log':
        if (args.length < 1 || args.length > 2) throw bad(n, 'expected: log <vkey> [url]');
        // Checked here, not when the first checkpoint arrives: a mistyped key is a bad policy file.
        try {
          noteVerifier(args[0] as string);
        } catch (err) {
          throw bad(n, (err as Error).message);
        }
        policy.logKeys.push(args[0] as string);
        return;
      case 'witness': {
        if (args.length < 2 || args.length > 3) throw bad(n, 'expected: witness <name> <vkey> [url]');
        const [name, vkey, url] = args as [string, string, string?];
        if (!NAME.test(name) || defined.has(name))
          throw bad(n, `witness name ${JSON.stringify(name)} is invalid or taken`);
        let verifier: CosignatureVerifier;
        try {
          verifier = cosignatureVerifier(vkey);
        } catch (err) {
          throw bad(n, (err as Error).message);
        }
        defined.add(name);
        policy.witnesses.push({ name, verifier, ...(url ? { url } : {}) });
        return;
      }
      case 'group': {
        const [name, k, ...members] = args as [string, string, ...string[]];
        if (!name || !k || members.length === 0) throw bad(n, 'expected: group <name> all|any|<k> <member>…');
        if (!NAME.test(name) || defined.has(name))
          throw bad(n, `group name ${JSON.stringify(name)} is invalid or taken`);
        for (const m of members)
          if (!defined.has(m) || m === 'none') throw bad(n, `${m} is not defined before this line`);
        if (new Set(members).size !== members.length) throw bad(n, 'a member is listed twice');
        const threshold =
          k === 'all' ? members.length : k === 'any' ? 1 : /^[1-9][0-9]*$/.test(k) ? Number(k) : NaN;
        if (!(threshold >= 1 && threshold <= members.length))
          throw bad(n, `threshold ${k} is not between 1 and ${members.length}`);
        defined.add(name);
        policy.groups.set(name, { threshold, members });
        return;
      }
      case 'quorum':
        if (args.length !== 1 || !defined.has(args[0] as string))
          throw bad(n, 'expected: quorum <defined name>');
        policy.quorum = args[0] as string;
        quorums += 1;
        return;
      default:
        throw bad(n, `unknown keyword ${JSON.stringify(keyword)}`);
    }
  });
  if (quorums !== 1)
    throw new ImagetrustError('CONFIG_INVALID', 'witness policy must name exactly one quorum');
  return policy;
}

/** Whether the witnesses in `cosigned` satisfy `name` (a witness, a group, or `none`). */
export function satisfies(policy: WitnessPolicy, name: string, cosigned: ReadonlySet<string>): boolean {
  if (name === 'none') return true;
  const group = policy.groups.get(name);
  if (!group) return cosigned.has(name);
  return group.members.filter((m) => satisfies(policy, m, cosigned)).length >= group.threshold;
}

export interface WitnessVerdict {
  /** Witness name → the newest time (unix seconds) it cosigned this checkpoint. */
  cosigned: Map<string, number>;
  /** The oldest cosignature time the quorum needs: how old this view is. */
  quorumTime?: number;
}

/**
 * Checks a checkpoint note against the policy: WITNESS_QUORUM if the verified cosignatures do
 * not meet the quorum, CHECKPOINT_STALE if they do only with cosignatures older than `maxAgeS`.
 */
export function checkWitnesses(
  note: string,
  policy: WitnessPolicy,
  nowS: number,
  maxAgeS: number,
): WitnessVerdict {
  const byKey = verifyCosignatures(
    note,
    policy.witnesses.map((w) => w.verifier),
  );
  // Policy names, not key names: two entries of a policy may name their keys alike.
  const cosigned = new Map<string, number>();
  for (const w of policy.witnesses) {
    const time = byKey.get(w.verifier.vkey);
    if (time !== undefined) cosigned.set(w.name, time);
  }
  const names = new Set(cosigned.keys());
  if (!satisfies(policy, policy.quorum, names)) {
    throw new ImagetrustError(
      'WITNESS_QUORUM',
      `checkpoint is not cosigned by the witness quorum ${policy.quorum} (cosigned by: ${[...names].join(', ') || 'nobody'})`,
      { details: { checkpoint: note, cosigned: Object.fromEntries(cosigned) } },
    );
  }
  // The freshest view the quorum vouches for: drop cosignatures from the oldest up while it holds.
  const byAge = [...cosigned.entries()].sort((a, b) => a[1] - b[1]);
  let quorumTime: number | undefined;
  const kept = new Set(names);
  for (const [name, time] of byAge) {
    kept.delete(name);
    if (!satisfies(policy, policy.quorum, kept)) {
      quorumTime = time;
      break;
    }
  }
  if (quorumTime !== undefined && nowS - quorumTime > maxAgeS) {
    throw new ImagetrustError(
      'CHECKPOINT_STALE',
      `the ledger's view is ${nowS - quorumTime} s old by its witnesses' cosignatures, more than the ${maxAgeS} s allowed (--max-checkpoint-age)`,
      { details: { checkpoint: note, cosigned: Object.fromEntries(cosigned) } },
    );
  }
  return { cosigned, ...(quorumTime !== undefined ? { quorumTime } : {}) };
}
