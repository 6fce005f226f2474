// imagetrust 0.1 artefacts for tests, written the way 0.1 wrote them (its statement.ts and
// store/sqlite.ts at the release commit): format 1 statements and a format 1 ledger file.
import Database from 'better-sqlite3';
import { generateKeyPairSync } from 'node:crypto';
import { signCheckpoint } from '../ledger/checkpoint';
import { ed25519Sign, rawPublicKey } from '../ledger/ed25519';
import { writeKeyFile } from '../ledger/keys';
import type { SignerKey } from '../ledger/keys';
import { appendToTree, hashLeaf, nodeKey, sha256 } from '../ledger/merkle';
import { noteSigner } from '../ledger/note';
import { PAYLOAD_TYPE_V1, type ImageDigest, type StatementStatus } from '../ledger/statement';

export function v1Statement(
  key: SignerKey,
  digest: ImageDigest,
  status: StatementStatus,
  time: string,
): Buffer {
  const payload = Buffer.from(
    JSON.stringify({
      kind: 'docker',
      digest,
      name: 'docker://example/app:1',
      status,
      signer: key.keyId,
      time,
      metadata: {},
    }),
  );
  const type = Buffer.from(PAYLOAD_TYPE_V1);
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
  const sig = ed25519Sign(key.privateKey, pae);
  return Buffer.from(
    JSON.stringify({
      payloadType: PAYLOAD_TYPE_V1,
      payload: payload.toString('base64'),
      signatures: [
        { keyid: key.keyId, publicKey: key.publicKey.toString('base64'), sig: sig.toString('base64') },
      ],
    }),
  );
}

const V1_SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (idx INTEGER PRIMARY KEY, digest TEXT NOT NULL, leaf BLOB NOT NULL);
CREATE INDEX entries_by_digest ON entries (digest, idx);
CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, created_at INTEGER NOT NULL);
`;

/** Writes a 0.1 ledger file (and its `.key`), one append per batch; returns its origin. */
export function writeV1Ledger(path: string, batches: { digest: ImageDigest; envelope: Buffer }[][]): string {
  const key = generateKeyPairSync('ed25519').privateKey;
  writeKeyFile(`${path}.key`, key);
  const origin = `imagetrust.ledger/${sha256(rawPublicKey(key)).subarray(0, 4).toString('hex')}`;
  const signer = noteSigner(origin, key);
  const db = new Database(path);
  db.exec(V1_SCHEMA);
  db.prepare("INSERT INTO meta (key, value) VALUES ('origin', ?)").run(origin);
  const stored = new Map<string, Buffer>();
  let size = 0;
  let time = Date.parse('2026-06-01T00:00:00Z');
  const checkpoint = (root: Buffer): void => {
    db.prepare('INSERT INTO checkpoints (size, note, created_at) VALUES (?, ?, ?)').run(
      size,
      signCheckpoint({ origin, size, rootHash: root }, signer).note,
      (time += 1000),
    );
  };
  checkpoint(appendToTree(0, [], () => Buffer.alloc(0)).root);
  for (const batch of batches) {
    const { nodes, root } = appendToTree(
      size,
      batch.map((b) => hashLeaf(b.envelope)),
      (id) => stored.get(nodeKey(id)) as Buffer,
    );
    batch.forEach((b, i) =>
      db
        .prepare('INSERT INTO entries (idx, digest, leaf) VALUES (?, ?, ?)')
        .run(size + i, b.digest, b.envelope),
    );
    for (const n of nodes) {
      stored.set(nodeKey(n.id), n.hash);
      db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)').run(n.id.level, n.id.index, n.hash);
    }
    size += batch.length;
    checkpoint(root);
  }
  db.close();
  return origin;
}
