// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the body a ledger signs as a note.
//
//   <origin>\n<tree size, decimal>\n<root hash, base64>\n[extension lines]
//
// An imagetrust 0.2 ledger adds one extension line, `imagetrust-index/v1 <base64 root>`: the
// root of the statement index (index-proof.ts) over the same entries, so that a cosigner can
// vouch for it and a client can prove a lookup complete.
//
// openCheckpoint verifies the note signature first, then parses, then demands the expected
// origin (the order transparency-dev/formats log/note.go uses). Pure code: no I/O.

import { ImagetrustError } from '../errors';
import { INDEX_EXTENSION } from './index-proof';
import { HASH_SIZE } from './merkle';
import { openNote, signNote, type NoteSigner, type NoteVerifier } from './note';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  extensions: string[];
  /** The statement index root, when the checkpoint carries one. */
  indexRoot?: Buffer;
}

export interface SignedCheckpoint extends Checkpoint {
  /** The full signed note, exactly as served. */
  note: string;
}

function malformed(message: string): ImagetrustError {
  return new ImagetrustError('CHECKPOINT_MALFORMED', message);
}

export function formatCheckpoint(cp: Omit<Checkpoint, 'extensions'> & { extensions?: string[] }): string {
  if (cp.origin.length === 0 || cp.origin.includes('\n'))
    throw malformed('checkpoint origin must be one non-empty line');
  const ext = (cp.extensions ?? []).map((e) => `${e}\n`).join('');
  return `${cp.origin}\n${cp.size}\n${cp.rootHash.toString('base64')}\n${ext}`;
}

export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '')
    throw malformed('checkpoint has fewer than three lines');
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin.length === 0) throw malformed('checkpoint origin is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw malformed('checkpoint tree size is not a decimal number');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw malformed('checkpoint tree size is too large');
  if (!/^[A-Za-z0-9+/]{43}=$/.test(rootText))
    throw malformed('checkpoint root hash is not base64 of 32 bytes');
  const rootHash = Buffer.from(rootText, 'base64');
  if (rootHash.length !== HASH_SIZE) throw malformed('checkpoint root hash is not 32 bytes');
  const extensions = lines.slice(3, -1);
  if (extensions.some((e) => e.length === 0)) throw malformed('checkpoint holds an empty extension line');
  const indexLines = extensions.filter((e) => e.startsWith(`${INDEX_EXTENSION} `));
  if (indexLines.length > 1) throw malformed('checkpoint holds more than one index root');
  if (indexLines.length === 0) return { origin, size, rootHash, extensions };
  const indexText = (indexLines[0] as string).slice(INDEX_EXTENSION.length + 1);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(indexText))
    throw malformed('checkpoint index root is not base64 of 32 bytes');
  return { origin, size, rootHash, extensions, indexRoot: Buffer.from(indexText, 'base64') };
}

export function indexExtension(indexRoot: Buffer): string {
  return `${INDEX_EXTENSION} ${indexRoot.toString('base64')}`;
}

export function signCheckpoint(
  cp: Omit<Checkpoint, 'extensions' | 'indexRoot'> & { indexRoot?: Buffer },
  signer: NoteSigner,
): SignedCheckpoint {
  const extensions = cp.indexRoot ? [indexExtension(cp.indexRoot)] : [];
  const text = formatCheckpoint({ origin: cp.origin, size: cp.size, rootHash: cp.rootHash, extensions });
  return { ...cp, extensions, note: signNote(text, [signer]) };
}

export function openCheckpoint(
  note: string,
  verifier: NoteVerifier,
  expectedOrigin: string,
): SignedCheckpoint {
  if (expectedOrigin.length === 0)
    throw new ImagetrustError('CHECKPOINT_ORIGIN', 'no expected origin was given');
  const { text } = openNote(note, [verifier]);
  const cp = parseCheckpoint(text);
  if (cp.origin !== expectedOrigin) {
    throw new ImagetrustError(
      'CHECKPOINT_ORIGIN',
      `checkpoint is for ${JSON.stringify(cp.origin)}, expected ${JSON.stringify(expectedOrigin)}`,
    );
  }
  return { ...cp, note };
}
