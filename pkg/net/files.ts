// Reading the small files a server is configured with: secrets (tokens, passwords), private
// keys and certificates. Every read is bounded and refuses what is not a regular file, so
// `--key /dev/zero` or a FIFO fails at once instead of reading (or waiting) forever; a file
// that holds a secret must not be readable by group or others (as ssh demands of its keys).

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { ImagetrustError, type ErrorCode } from '../errors';

export interface BoundedReadOptions {
  /** What the file is, for messages: "token file", "TLS key", "signer key". */
  what: string;
  /** The largest file accepted, in bytes. */
  maxBytes: number;
  /** The file holds a secret: refuse it when group or others have any access to it. */
  secret?: boolean;
  /** The error for a file that cannot be used (default CONFIG_INVALID). */
  code?: ErrorCode;
  /** The error for a file that does not exist (default: `code`). */
  missingCode?: ErrorCode;
  /** The message for a file that does not exist (default: "no <what> at <path>"). */
  missingMessage?: string;
}

/** The largest secret (token, password) read from a file. */
export const MAX_SECRET_BYTES = 64 * 1024;
/** The largest key or certificate file (a PEM chain of a few certificates fits easily). */
export const MAX_PEM_BYTES = 256 * 1024;

/** The whole file, at most `maxBytes`; every failure is a typed error that names the file. */
export function readBoundedFile(path: string, options: BoundedReadOptions): Buffer {
  const code = options.code ?? 'CONFIG_INVALID';
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; for a regular file it changes nothing.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT')
      throw new ImagetrustError(
        options.missingCode ?? code,
        options.missingMessage ?? `no ${options.what} at ${path}`,
        { cause: err },
      );
    throw new ImagetrustError(code, `cannot read ${options.what} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ImagetrustError(code, `${options.what} ${path} is not a regular file`);
    if (options.secret && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new ImagetrustError(
        code,
        `${options.what} ${path} can be read or changed by group or others (mode ${mode}): chmod 600 ${path}`,
      );
    }
    if (stat.size > options.maxBytes) throw tooLarge(code, options, path);
    // The size can change while reading (and /proc files say 0): read at most one byte more.
    const buf = Buffer.alloc(options.maxBytes + 1);
    let length = 0;
    while (length < buf.length) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > options.maxBytes) throw tooLarge(code, options, path);
    return buf.subarray(0, length);
  } catch (err) {
    if (err instanceof ImagetrustError) throw err;
    throw new ImagetrustError(code, `cannot read ${options.what} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    closeSync(fd);
  }
}

function tooLarge(code: ErrorCode, options: BoundedReadOptions, path: string): ImagetrustError {
  return new ImagetrustError(
    code,
    `${options.what} ${path} is larger than ${options.maxBytes} bytes: not a ${options.what}`,
  );
}

/**
 * A secret (token, password) from a file: private to its owner, at most 64 KiB, one trailing
 * newline removed, not empty. The error names the file, never its content.
 */
export function readSecretFile(path: string, what = 'secret file'): string {
  const text = readBoundedFile(path, { what, maxBytes: MAX_SECRET_BYTES, secret: true })
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (text.length === 0) throw new ImagetrustError('CONFIG_INVALID', `${what} ${path} is empty`);
  if (/[\r\n]/.test(text))
    throw new ImagetrustError('CONFIG_INVALID', `${what} ${path} holds more than one line`);
  return text;
}

/**
 * A secret given as a value or as a file (never both): `--token T` / `--token-file F`. The
 * file wins over nothing; giving both is a mistake worth refusing.
 */
export function secretFrom(
  value: string | undefined,
  file: string | undefined,
  names: { value: string; file: string; what?: string },
): string | undefined {
  if (value !== undefined && file !== undefined)
    throw new ImagetrustError('CONFIG_INVALID', `give ${names.value} or ${names.file}, not both`);
  if (file !== undefined) return readSecretFile(file, names.what ?? names.file);
  return value;
}
