// A witness key on disk: the Ed25519 private key (PKCS#8 PEM, 0600, as every key here) and
// its vkey beside it in `<file>.vkey`, which also carries the witness's name.

import { readFileSync } from 'node:fs';
import { ImagetrustError } from '../errors';
import { cosigner, cosignatureVerifier, type Cosigner } from '../ledger/cosignature';
import { readKeyFile } from '../ledger/keys';

/** A witness key (PEM, 0600) and its vkey beside it in `<file>.vkey`. */
export function readWitnessKey(path: string): Cosigner {
  const key = readKeyFile(path);
  let vkey: string;
  try {
    vkey = readFileSync(`${path}.vkey`, 'utf8').trim();
  } catch (err) {
    throw new ImagetrustError(
      'KEY_NOT_FOUND',
      `no ${path}.vkey beside the witness key (create both with "imagetrust witness keygen")`,
      {
        cause: err,
      },
    );
  }
  const named = cosignatureVerifier(vkey);
  const c = cosigner(named.name, key);
  if (c.vkey !== named.vkey)
    throw new ImagetrustError('KEY_INVALID', `${path}.vkey is not the key in ${path}`);
  return c;
}
