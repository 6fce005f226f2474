// What every CLI command resolves the same way: where the ledger and keys are, the
// passphrase, which signers count, and how to reach Docker. Environment and clock injected.

import { readSecretFile } from '../net/files';
import { ImagetrustError } from '../errors';
import { ReadOnlyDocker } from '../docker/engine';
import { LedgerClient } from '../ledger/client';
import { readPublicKeyId, readSignerKey, type SignerKey } from '../ledger/keys';
import { openBackend, type OpenLocalOptions } from '../ledger/open';
import { isPostgresLocation, redactUrl } from '../postgres/url';
import { policyForSigners, type TrustPolicy } from '../ledger/policy';
import {
  DEFAULT_MAX_CHECKPOINT_AGE_S,
  parseDuration,
  parsePolicyFile,
  parseWitnessPolicyFile,
} from '../ledger/policy-file';
import type { WitnessPolicy } from '../ledger/witness-policy';
import { FileStateStore } from '../ledger/state';
import { defaultPaths } from '../paths';
import { clientFetch, loadClientTls } from '../net/client';
import { RemoteBackend, type RemoteBackendOptions } from '../ledger/remote';
import { isRemoteLocation } from '../ledger/open';

export interface GlobalOptions {
  ledger?: string;
  checkpointKey?: string;
  ledgerKey?: string;
  witnessPolicy?: string;
  maxCheckpointAge?: string;
  key?: string;
  passphraseFile?: string;
  tlsCa?: string;
  signer?: string[];
  policy?: string;
  output?: string;
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  isTTY: boolean;
  now: () => number;
}

export class CliContext {
  readonly paths;

  constructor(
    readonly opts: GlobalOptions,
    readonly io: CliIo,
  ) {
    this.paths = defaultPaths(io.env);
  }

  get json(): boolean {
    const o = (this.opts.output ?? '').replace(/^=/, '');
    if (o !== '' && o !== 'json' && o !== 'text')
      throw new ImagetrustError('USAGE', `--output must be json or text, not ${o}`);
    return o === 'json';
  }

  get ledgerLocation(): string {
    return this.opts.ledger ?? this.io.env.IMAGETRUST_LEDGER ?? this.paths.ledger;
  }

  /** The checkpoint key file of a PostgreSQL ledger (a file ledger keeps its own beside it). */
  get checkpointKeyPath(): string | undefined {
    return this.opts.checkpointKey ?? (this.io.env.IMAGETRUST_CHECKPOINT_KEY || undefined);
  }

  /** How to open the ledger this process reads or writes directly. */
  localOpenOptions(): OpenLocalOptions {
    const keyPath = this.checkpointKeyPath;
    return {
      ...(keyPath && isPostgresLocation(this.ledgerLocation) ? { keyPath } : {}),
      onCreated: (vkey) =>
        this.io.stderr(`created a new ledger at ${redactUrl(this.ledgerLocation)}\nledger key: ${vkey}\n`),
      clock: this.io.now,
    };
  }

  get keyPath(): string {
    return this.opts.key ?? this.io.env.IMAGETRUST_KEY ?? this.paths.signerKey;
  }

  passphrase(): string | undefined {
    // Private to its owner and bounded, as every secret file (pkg/net/files.ts).
    if (this.opts.passphraseFile) return readSecretFile(this.opts.passphraseFile, 'passphrase file');
    return this.io.env.IMAGETRUST_PASSPHRASE || undefined;
  }

  signerKey(): SignerKey {
    return readSignerKey(this.keyPath, this.passphrase());
  }

  /** The policy: --policy FILE, else --signer KEYID…, else the local signer key. */
  policy(): TrustPolicy {
    if (this.opts.policy) return parsePolicyFile(this.opts.policy);
    if (this.opts.signer && this.opts.signer.length > 0) return policyForSigners(this.opts.signer);
    return policyForSigners([readPublicKeyId(`${this.keyPath}.pub`)]);
  }

  /** --witness-policy and --max-checkpoint-age (or their environment variables), if a policy is given. */
  witnesses(): { policy: WitnessPolicy; maxAgeMs: number } | undefined {
    const path = this.opts.witnessPolicy ?? this.io.env.IMAGETRUST_WITNESS_POLICY;
    if (!path) return undefined;
    const age = this.opts.maxCheckpointAge ?? this.io.env.IMAGETRUST_MAX_CHECKPOINT_AGE;
    const seconds = age ? parseDuration(age, '--max-checkpoint-age') : DEFAULT_MAX_CHECKPOINT_AGE_S;
    return { policy: parseWitnessPolicyFile(path), maxAgeMs: seconds * 1000 };
  }

  /** How an https:// ledger server is asked: with --tls-ca (IMAGETRUST_TLS_CA) when given. */
  remoteOptions(): RemoteBackendOptions {
    const ca = this.opts.tlsCa ?? (this.io.env.IMAGETRUST_TLS_CA || undefined);
    return ca ? { fetch: clientFetch(loadClientTls({ ca }, this.io.env)) } : {};
  }

  docker(): ReadOnlyDocker {
    return new ReadOnlyDocker({ env: this.io.env });
  }

  /**
   * `checkpointMaxAge`: how long a proven checkpoint is reused before asking for a newer one (ms).
   * `readonly`: a reader's open (verify, inspect, search, info): nothing created or written.
   */
  async ledgerClient(extra: { checkpointMaxAge?: number; readonly?: boolean } = {}): Promise<LedgerClient> {
    const location = this.ledgerLocation;
    const backend = isRemoteLocation(location)
      ? new RemoteBackend(location, this.remoteOptions())
      : await openBackend(
          location,
          extra.readonly ? { readonly: true, clock: this.io.now } : this.localOpenOptions(),
        );
    const witnesses = this.witnesses();
    const pinned =
      this.opts.ledgerKey ??
      this.io.env.IMAGETRUST_LEDGER_KEY ??
      safePolicyKey(this) ??
      witnesses?.policy.logKeys[0];
    return new LedgerClient(backend, {
      state: new FileStateStore(this.paths.stateDir),
      ...(pinned ? { ledgerKey: pinned } : {}),
      ...(witnesses ? { witnesses } : {}),
      ...(extra.checkpointMaxAge !== undefined ? { checkpointMaxAge: extra.checkpointMaxAge } : {}),
      clock: this.io.now,
    });
  }
}

function safePolicyKey(ctx: CliContext): string | undefined {
  if (!ctx.opts.policy) return undefined;
  return ctx.policy().ledgerKey;
}
