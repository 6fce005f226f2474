// For tests only: a throwaway PKI made with `openssl` in a folder of the test's own — a CA,
// a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1 and DNS:localhost), a
// client certificate, and a second CA that signed nothing of these (the wrong CA). Keys are
// written 0600, certificates 0644.

import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Another CA, trusted by nobody that matters: its certificates must be refused. */
  otherCa: string;
  otherCaKey: string;
  /** A server certificate signed by otherCa. */
  otherServerCert: string;
  otherServerKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function ca(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2']
      .concat(['-subj', `/CN=${name}`, '-keyout', key, '-out', cert])
      .concat([
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]),
    dir,
  );
  chmodSync(key, 0o600);
  return { cert, key };
}

function leaf(
  dir: string,
  name: string,
  issuer: { cert: string; key: string },
  ext: string,
): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\n`);
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      csr,
    ]),
    dir,
  );
  chmodSync(key, 0o600);
  openssl(
    ['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial'].concat([
      '-days',
      '2',
      '-out',
      cert,
      '-extfile',
      extFile,
    ]),
    dir,
  );
  return { cert, key };
}

/** Makes the PKI in `dir` (which must exist and belong to the test). */
export function makeTestPki(dir: string): TestPki {
  const root = ca(dir, 'ca');
  const server = leaf(
    dir,
    'server',
    root,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth',
  );
  const client = leaf(dir, 'client', root, 'extendedKeyUsage=clientAuth');
  const other = ca(dir, 'other-ca');
  const otherServer = leaf(
    dir,
    'other-server',
    other,
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth',
  );
  return {
    dir,
    ca: root.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    otherCa: other.cert,
    otherCaKey: other.key,
    otherServerCert: otherServer.cert,
    otherServerKey: otherServer.key,
  };
}
