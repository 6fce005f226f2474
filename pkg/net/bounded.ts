// Reading an HTTP answer (a fetch Response) with a size bound enforced while it streams in:
// the body is read chunk by chunk and the connection is cancelled as soon as the bound is
// passed, so a peer, ledger or witness that answers 600 MB costs at most the bound in memory.
// A declared Content-Length above the bound is refused before anything is read.

import { ImagetrustError, type ErrorCode } from '../errors';

export interface BoundedReadOptions {
  /** The most bytes the answer may have. */
  maxBytes: number;
  /** The code for an answer over the bound (PEER_INVALID, LEDGER_BAD_RESPONSE …). */
  tooLarge: ErrorCode;
  /** The code for an answer that broke off (PEER_UNREACHABLE, LEDGER_UNREACHABLE …). */
  broken: ErrorCode;
  /** Who answered, for the messages ("peer http://…", "ledger http://…"). */
  who: string;
  /** Aborted when the bound is passed (the request's controller), so the socket goes too. */
  abort?: AbortController;
}

/** The body's bytes, at most `maxBytes` of them; over that the read stops and is refused. */
export async function readBounded(res: Response, options: BoundedReadOptions): Promise<Buffer> {
  const { maxBytes, who } = options;
  const tooLarge = (): ImagetrustError => {
    options.abort?.abort();
    return new ImagetrustError(
      options.tooLarge,
      `${who} answered too large an answer (more than ${maxBytes} bytes)`,
      {
        details: { maxBytes },
      },
    );
  };
  const declared = res.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let step: Awaited<ReturnType<typeof reader.read>>;
    try {
      step = await reader.read();
    } catch (err) {
      throw new ImagetrustError(options.broken, `${who} broke off its answer: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (step.done) break;
    total += step.value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(step.value);
  }
  return Buffer.concat(chunks, total);
}

/** The body as UTF-8 text, bounded as readBounded is. */
export async function readBoundedText(res: Response, options: BoundedReadOptions): Promise<string> {
  return (await readBounded(res, options)).toString('utf8');
}
