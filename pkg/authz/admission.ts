// The admission decision for one Docker API call: which image it would run, whether that
// image is trusted (the same verifier as the agent's, with its cache), and what the user who is
// refused reads. Fail closed: an image that cannot be resolved, a ledger that cannot be reached
// or believed, or a request that cannot be read is refused. `--dry-run` decides and records but
// allows (for rollout); `--fail-open` (break glass) allows what could not be decided, never
// what is known untrusted, with a loud log line every time.

import type { Logger } from 'pino';
import { asImagetrustError } from '../errors';
import type { ReadOnlyDocker } from '../docker/engine';
import { isImageDigest, type ImageDigest } from '../ledger/statement';
import type { Verification, Verifier } from '../verify/verifier';
import { ACTIONS, type Action, type AuthzRequest } from './request';

export type Rule = 'allow' | 'deny' | 'check';

/** What each action gets unless configured otherwise (README "Admission"). */
export const DEFAULT_RULES: Record<Action, Rule> = {
  read: 'allow',
  'container-create': 'check',
  'container-start': 'check',
  'container-update': 'allow',
  commit: 'allow',
  build: 'allow',
  'exec-start': 'allow',
  'service-create': 'check',
  'plugin-pull': 'deny',
  'other-write': 'allow',
  malformed: 'deny',
};

export type Verdict = 'allowed' | 'refused' | 'would-refuse' | 'allowed-fail-open';

export interface Decision {
  time: string;
  user: string;
  method: string;
  uri: string;
  action: Action;
  image?: string;
  digest?: string;
  status?: Verification['status'];
  verdict: Verdict;
  allow: boolean;
  /** What the refused user reads (dockerd prefixes "authorization denied by plugin NAME: "). */
  message?: string;
  durationMs: number;
}

export interface AdmissionOptions {
  docker: Pick<ReadOnlyDocker, 'inspectImage' | 'containerImageId'>;
  verifier: Verifier;
  logger: Logger;
  rules?: Partial<Record<Action, Rule>>;
  dryRun?: boolean;
  failOpen?: boolean;
  clock?: () => number;
}

export function parseRules(specs: string[]): Partial<Record<Action, Rule>> {
  const out: Partial<Record<Action, Rule>> = {};
  for (const spec of specs) {
    const m = /^([a-z-]+)=(allow|deny|check)$/.exec(spec);
    if (!m || !ACTIONS.includes(m[1] as Action) || m[1] === 'malformed' || m[1] === 'read')
      throw new Error(
        `--rule ${spec}: expected ACTION=allow|deny|check with ACTION one of ${ACTIONS.filter((a) => a !== 'malformed' && a !== 'read').join(', ')}`,
      );
    if (
      m[2] === 'check' &&
      !['container-create', 'container-start', 'service-create'].includes(m[1] as string)
    )
      throw new Error(
        `--rule ${spec}: only container-create, container-start and service-create name an image to check`,
      );
    out[m[1] as Action] = m[2] as Rule;
  }
  return out;
}

export class Admission {
  private readonly rules: Record<Action, Rule>;
  private readonly clock: () => number;

  constructor(private readonly options: AdmissionOptions) {
    this.rules = { ...DEFAULT_RULES, ...options.rules };
    this.clock = options.clock ?? Date.now;
  }

  async decide(request: AuthzRequest): Promise<Decision> {
    const started = this.clock();
    const base = {
      time: new Date(started).toISOString(),
      user: request.user,
      method: request.method,
      uri: request.uri,
      action: request.action,
      ...(request.image ? { image: request.image } : {}),
    };
    const finish = (d: Omit<Decision, keyof typeof base | 'durationMs'>): Decision => ({
      ...base,
      ...d,
      durationMs: this.clock() - started,
    });
    const rule = this.rules[request.action];
    if (rule === 'allow') return finish({ verdict: 'allowed', allow: true });
    if (rule === 'deny') {
      const why =
        request.action === 'malformed'
          ? `imagetrust: request refused: ${request.problem ?? 'it could not be read'}`
          : `imagetrust: ${request.action} is not allowed on this host`;
      return this.refuse(finish, { message: why }, false);
    }
    let digest: ImageDigest | undefined;
    try {
      digest = await this.digestOf(request);
    } catch (err) {
      const e = asImagetrustError(err);
      return this.refuse(
        finish,
        {
          message: `imagetrust: cannot tell which image ${request.image ?? request.container ?? ''} is: ${e.message}`,
        },
        true,
      );
    }
    const v = await this.options.verifier.verify({ digest });
    if (v.status === 'trusted') return finish({ digest, status: v.status, verdict: 'allowed', allow: true });
    const by = v.signerName ?? v.signer;
    const when = v.signedAt ? ` (${v.signedAt.slice(0, 10)})` : '';
    const message =
      v.status === 'unknown'
        ? `imagetrust: ${digest} is not trusted: ${v.reason ?? 'no allowed signer notarized it'}`
        : `imagetrust: ${digest} is ${v.status}${by ? ` by ${by}` : ''}${when}`;
    // Undecidable (unknown because of a failure) may be let through by --fail-open; a word is not.
    return this.refuse(
      finish,
      { digest, status: v.status, message },
      v.status === 'unknown' && Boolean(v.transient),
    );
  }

  private refuse(
    finish: (
      d: Omit<Decision, 'time' | 'user' | 'method' | 'uri' | 'action' | 'image' | 'durationMs'>,
    ) => Decision,
    what: { digest?: string; status?: Verification['status']; message: string },
    undecidable: boolean,
  ): Decision {
    if (this.options.dryRun) return finish({ ...what, verdict: 'would-refuse', allow: true });
    if (undecidable && this.options.failOpen) {
      const d = finish({ ...what, verdict: 'allowed-fail-open', allow: true });
      this.options.logger.error({ decision: d }, 'FAIL-OPEN: allowing a request imagetrust could not decide');
      return d;
    }
    return finish({ ...what, verdict: 'refused', allow: false });
  }

  /** The image the call would run: a start by the created container's fixed image ID. */
  private async digestOf(request: AuthzRequest): Promise<ImageDigest> {
    if (request.action === 'container-start') {
      const id = await this.options.docker.containerImageId(request.container as string);
      if (!id || !isImageDigest(id)) throw new Error('the container runs no sha256 image');
      return id;
    }
    const info = await this.options.docker.inspectImage(request.image as string);
    if (!isImageDigest(info.Id)) throw new Error('the image has no sha256 ID');
    return info.Id;
  }
}
