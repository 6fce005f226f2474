// One error class for all of imagetrust, with a closed set of string codes.
// Callers branch on `code`, never on the message; the CLI maps a code to an exit code
// and the HTTP layers map it to a status, both mechanically from the tables below.

export const ERROR_CODES = {
  USAGE: { exit: 64, http: 400 },
  BAD_IMAGE_REF: { exit: 64, http: 400 },
  BAD_DIGEST: { exit: 64, http: 400 },
  BAD_REQUEST: { exit: 64, http: 400 },
  CONFIG_INVALID: { exit: 78, http: 500 },
  IMAGE_NOT_FOUND: { exit: 66, http: 404 },
  NOT_FOUND: { exit: 66, http: 404 },
  DOCKER_UNREACHABLE: { exit: 69, http: 503 },
  DOCKER_ERROR: { exit: 69, http: 502 },
  DOCKER_WRITE_REFUSED: { exit: 70, http: 500 },
  KEY_NOT_FOUND: { exit: 77, http: 500 },
  KEY_EXISTS: { exit: 73, http: 500 },
  KEY_BAD_PASSPHRASE: { exit: 77, http: 500 },
  KEY_INVALID: { exit: 77, http: 500 },
  IO: { exit: 74, http: 500 },
  LEDGER_UNREACHABLE: { exit: 69, http: 503 },
  STORE_UNREACHABLE: { exit: 69, http: 503 },
  STORE_VERSION: { exit: 79, http: 500 },
  PEER_UNREACHABLE: { exit: 69, http: 502 },
  PEER_INVALID: { exit: 76, http: 502 },
  UNAUTHORIZED: { exit: 77, http: 401 },
  FORBIDDEN: { exit: 77, http: 403 },
  LEDGER_BAD_RESPONSE: { exit: 76, http: 502 },
  LEDGER_CONFLICT: { exit: 75, http: 409 },
  LIMIT_EXCEEDED: { exit: 75, http: 429 },
  SIGNER_NOT_ALLOWED: { exit: 77, http: 403 },
  STATEMENT_INVALID: { exit: 65, http: 400 },
  NOTE_MALFORMED: { exit: 10, http: 502 },
  NOTE_UNVERIFIED: { exit: 10, http: 502 },
  CHECKPOINT_MALFORMED: { exit: 10, http: 502 },
  CHECKPOINT_ORIGIN: { exit: 10, http: 502 },
  PROOF_INVALID: { exit: 10, http: 502 },
  LEDGER_INCONSISTENT: { exit: 10, http: 502 },
  LEDGER_TAMPERED: { exit: 10, http: 500 },
  LEDGER_UPGRADE_NEEDED: { exit: 79, http: 500 },
  WITNESS_INVALID: { exit: 10, http: 502 },
  WITNESS_QUORUM: { exit: 10, http: 502 },
  CHECKPOINT_STALE: { exit: 10, http: 502 },
  VERIFIER_FAILED: { exit: 70, http: 502 },
  INTERNAL: { exit: 70, http: 500 },
} as const satisfies Record<string, { exit: number; http: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes that mean "the ledger cannot be believed": verify reports the ledger as compromised. */
export const COMPROMISE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NOTE_MALFORMED',
  'NOTE_UNVERIFIED',
  'CHECKPOINT_MALFORMED',
  'CHECKPOINT_ORIGIN',
  'PROOF_INVALID',
  'LEDGER_INCONSISTENT',
  'LEDGER_TAMPERED',
  'WITNESS_INVALID',
  'WITNESS_QUORUM',
]);

export class ImagetrustError extends Error {
  readonly code: ErrorCode;
  /** Machine-readable evidence (for example both checkpoints of a fork). Never secrets. */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ImagetrustError';
    this.code = code;
    this.details = options.details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get compromised(): boolean {
    return COMPROMISE_CODES.has(this.code);
  }
}

export function isImagetrustError(err: unknown, code?: ErrorCode): err is ImagetrustError {
  return err instanceof ImagetrustError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into an ImagetrustError, keeping typed errors as they are. */
export function asImagetrustError(err: unknown, fallback: ErrorCode = 'INTERNAL'): ImagetrustError {
  if (err instanceof ImagetrustError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ImagetrustError(fallback, message, { cause: err });
}
