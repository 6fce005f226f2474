// Where imagetrust keeps its files by default: $IMAGETRUST_HOME, else the XDG data directory
// ($XDG_DATA_HOME/imagetrust, ~/.local/share/imagetrust). The environment is passed in.

import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Paths {
  home: string;
  ledger: string;
  signerKey: string;
  stateDir: string;
}

export function defaultPaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const home =
    env.IMAGETRUST_HOME || join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'imagetrust');
  return {
    home,
    ledger: join(home, 'ledger.db'),
    signerKey: join(home, 'signer.key'),
    stateDir: join(home, 'state'),
  };
}
