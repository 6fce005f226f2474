// A witness key on disk: the Ed25519 private key (PKCS#8 PEM, 0600, as every key here: one
// readable by group or others is refused, both files are read bounded) and its vkey beside it
// in `<file>.vkey`, which also carries the witness's name.

import { ImagetrustError } from '../errors';
import { readBoundedFile } from '../net/files';
import { cosigner, cosignatureVerifier, type Cosigner } from '../ledger/cosignature';
import { readKeyFile } from '../ledger/keys';

/** A witness key (PEM, 0600) and its vkey beside it in `<file>.vkey`. */
export function readWitnessKey(path: string): Cosigner {
  const key = readKeyFile(path);
  const vkey = readBoundedFile(`${path}.vkey`, {
    what: 'witness vkey',
    maxBytes: 4096,
    code: 'KEY_INVALID',
    missingCode: 'KEY_NOT_FOUND',
    missingMessage: `no ${path}.vkey beside the witness key (create both with "imagetrust witness keygen")`,
  })
    .toString('utf8')
    .trim();
  const named = cosignatureVerifier(vkey);
  const c = cosigner(named.name, key);
  if (c.vkey !== named.vkey)
    throw new ImagetrustError('KEY_INVALID', `${path}.vkey is not the key in ${path}`);
  return c;
}
