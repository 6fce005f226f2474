// A vcn-compatible command as the verifier, run through execa with an argument array (never
// a shell), a timeout, an output limit and its JSON parsed into a Verification. Garbage, a
// hang, a crash or a missing binary gives `unknown` with the reason.
//
// Arguments may hold the placeholders {digest} (sha256:…), {hash} (hex) and {ref}
// (docker://sha256:… — the image the container runs, not the tag it was started with).

import { ImagetrustError } from '../errors';
import { VCN_STATUS } from '../ledger/policy';
import { unknown, type Epoch, type Verification, type Verifier, type VerifyTarget } from './verifier';

export const DEFAULT_VERIFIER_COMMAND = ['vcn', 'verify', '-o', 'json', '{ref}'];

export interface CommandVerifierOptions {
  command: string[];
  timeoutMs?: number;
  maxOutputBytes?: number;
  env?: NodeJS.ProcessEnv;
}

const STATUS_BY_CODE = new Map<number, Verification['status']>(
  Object.entries(VCN_STATUS).map(([name, code]) => [code, name as Verification['status']]),
);

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * Reads vcn's JSON (v0.7+ root fields, or the older `{artifact, verification}` shape).
 * Trusted needs both the JSON and the exit code to say so; any other JSON status is taken
 * as it is (vcn before v0.9 exited 1 for every status but trusted).
 */
export function parseVcnOutput(stdout: string, exitCode: number): Verification {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return unknown(`verifier printed no JSON (exit ${exitCode}): ${JSON.stringify(stdout.slice(0, 120))}`);
  }
  const root = asObject(doc);
  if (!root) return unknown(`verifier printed JSON that is not an object (exit ${exitCode})`);
  if (typeof root.error === 'string') return unknown(`verifier error: ${root.error.slice(0, 300)}`);
  const v = asObject(root.verification);
  if (!v) return unknown(`verifier JSON has no verification object (exit ${exitCode})`);
  const code = v.status;
  if (typeof code !== 'number' || !STATUS_BY_CODE.has(code))
    return unknown(`verifier reported status ${JSON.stringify(code)}`);
  const status = STATUS_BY_CODE.get(code) as Verification['status'];
  if (status === 'trusted' && exitCode !== 0)
    return unknown(`verifier JSON says trusted but it exited ${exitCode}`);
  const level = typeof v.level === 'number' && Number.isInteger(v.level) ? v.level : 0;
  const artifact = asObject(root.artifact);
  const owner = typeof v.owner === 'string' && v.owner !== '' ? v.owner : undefined;
  const publisher =
    typeof artifact?.publisher === 'string' && artifact.publisher !== '' ? artifact.publisher : undefined;
  const signer =
    owner ?? publisher ?? (typeof root.signer === 'string' && root.signer !== '' ? root.signer : undefined);
  if (status === 'unknown') return { ...unknown('the verifier does not know this image', false), level };
  const result: Verification = { status, statusCode: code, level };
  if (signer) result.signer = signer.slice(0, 200);
  if (typeof v.timestamp === 'string' && v.timestamp !== '') result.signedAt = v.timestamp.slice(0, 64);
  return result;
}

export function expandArgs(template: string[], target: VerifyTarget): string[] {
  const hash = target.digest.slice('sha256:'.length);
  return template.map((a) =>
    a
      .replaceAll('{digest}', target.digest)
      .replaceAll('{hash}', hash)
      .replaceAll('{ref}', `docker://${target.digest}`),
  );
}

export class CommandVerifier implements Verifier {
  readonly kind = 'command' as const;
  private readonly timeoutMs: number;
  private readonly maxOutputBytes: number;

  constructor(private readonly options: CommandVerifierOptions) {
    if (options.command.length === 0 || !options.command[0]) {
      throw new ImagetrustError('CONFIG_INVALID', 'verifier command is empty');
    }
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxOutputBytes = options.maxOutputBytes ?? 1024 * 1024;
  }

  async epoch(): Promise<Epoch> {
    return { key: '' };
  }

  async verify(target: VerifyTarget): Promise<Verification> {
    const { execa } = await import('execa');
    const [file, ...template] = this.options.command as [string, ...string[]];
    const result = await execa(file, expandArgs(template, target), {
      reject: false,
      timeout: this.timeoutMs,
      forceKillAfterDelay: 1000,
      maxBuffer: this.maxOutputBytes,
      stdin: 'ignore',
      shell: false,
      env: this.options.env ?? process.env,
      extendEnv: false,
      stripFinalNewline: true,
    });
    if (result.timedOut) return unknown(`verifier timed out after ${this.timeoutMs} ms`);
    if (result.isMaxBuffer) return unknown(`verifier printed more than ${this.maxOutputBytes} bytes`);
    if (result.failed && result.exitCode === undefined) {
      const why = result.signal ? `was killed by ${result.signal}` : `could not run: ${result.shortMessage}`;
      return unknown(`verifier ${why}`.slice(0, 300));
    }
    return parseVcnOutput(String(result.stdout), result.exitCode ?? 1);
  }

  async close(): Promise<void> {
    // Nothing held between runs.
  }
}
