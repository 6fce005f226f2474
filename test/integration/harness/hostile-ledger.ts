// A hostile ledger server: an HTTP proxy in front of a real `imagetrust ledger serve` that
// changes its answers the way a dishonest ledger or a network attacker would. It cannot sign
// checkpoints (it has no ledger key); every lie must get past the client's proofs.

import { createServer, type Server } from 'node:http';
import { indexKey } from '../../../pkg/ledger/index-proof';
import { MemoryIndex } from '../../../pkg/ledger/index-tree';
import { hashLeaf } from '../../../pkg/ledger/merkle';
import { advanceKey } from '../../../pkg/ledger/ordering';
import { openStatement } from '../../../pkg/ledger/statement';
import { encodeIndexProof, type WireKeyLookup } from '../../../pkg/ledger/wire';

export type HostileMode =
  | 'drop-newest'
  | 'drop-digest'
  | 'other-digest'
  | 'index-mismatch'
  | 'stale-checkpoint'
  | 'freeze'
  | 'inclusion-proof-short'
  | 'inclusion-proof-long'
  | 'index-proof-short'
  | 'index-proof-long';

export interface HostileLedger {
  url: string;
  stop(): Promise<void>;
}

const LOOKUP = /^\/api\/v1\/lookup\/(sha256:[0-9a-f]{64})\/([0-9a-f]{32})(\?.*)?$/;

/** An index recomputed from the real log without one entry: proofs that match no checkpoint. */
async function indexWithout(upstream: string, omit: number): Promise<MemoryIndex> {
  const index = new MemoryIndex();
  for (let start = 0; ; start += 1000) {
    const page = (await (await fetch(`${upstream}/api/v1/entries?start=${start}&limit=1000`)).json()) as {
      entries: { index: number; leaf: string }[];
    };
    for (const e of page.entries) {
      if (e.index === omit) continue;
      const leaf = Buffer.from(e.leaf, 'base64');
      const o = openStatement(leaf);
      index.update([
        {
          key: indexKey(o.statement.signer, o.statement.digest),
          apply: (old) =>
            advanceKey(
              old,
              { index: e.index, leafHash: hashLeaf(leaf), id: o.id, statement: o.statement },
              false,
            ),
        },
      ]);
    }
    if (page.entries.length < 1000) return index;
  }
}

export async function startHostileLedger(
  upstream: string,
  mode: HostileMode,
  options: { otherDigest?: string; staleSize?: number; frozenNote?: string } = {},
): Promise<HostileLedger> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      let path = req.url ?? '/';
      const lookup = LOOKUP.exec(path);
      if (mode === 'freeze' && path === '/api/v1/checkpoint' && options.frozenNote) {
        // A ledger frozen in the past: its old checkpoint, with the old cosignatures it had.
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(options.frozenNote);
        return;
      }
      if (lookup && mode === 'other-digest' && options.otherDigest)
        path = path.replace(lookup[1] as string, options.otherDigest);
      if (mode === 'stale-checkpoint' && path === '/api/v1/checkpoint')
        path = `/api/v1/checkpoint?size=${options.staleSize ?? 1}`;
      const body = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks)));
      });
      const answer = await fetch(`${upstream}${path}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(req.method === 'POST' ? { body } : {}),
      });
      let text = await answer.text();
      if (lookup && answer.ok)
        text = JSON.stringify(await lie(JSON.parse(text) as WireKeyLookup, lookup[1] as string));
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(text);
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });

  async function lie(doc: WireKeyLookup, askedDigest: string): Promise<WireKeyLookup> {
    const entries = doc.entries;
    const newest = entries[entries.length - 1];
    switch (mode) {
      case 'drop-newest':
        return { ...doc, entries: entries.slice(0, -1) };
      case 'drop-digest':
        return { ...doc, entries: [] };
      case 'other-digest':
        return { ...doc, digest: askedDigest };
      case 'index-mismatch': {
        if (!newest) return doc;
        const index = await indexWithout(upstream, newest.index);
        const proof = encodeIndexProof(index.prove(indexKey(doc.signer, doc.digest)));
        return { ...doc, proof, entries: entries.slice(0, -1) };
      }
      case 'inclusion-proof-short':
        return { ...doc, entries: entries.map((e) => ({ ...e, proof: e.proof.slice(1) })) };
      case 'inclusion-proof-long':
        return {
          ...doc,
          entries: entries.map((e) => ({ ...e, proof: [...e.proof, e.proof[0] ?? e.leaf.slice(0, 44)] })),
        };
      case 'index-proof-short':
        return { ...doc, proof: { ...doc.proof, steps: doc.proof.steps.slice(1) } };
      case 'index-proof-long':
        return {
          ...doc,
          proof: {
            ...doc.proof,
            steps: [{ bit: 0, sibling: Buffer.alloc(32).toString('base64') }, ...doc.proof.steps],
          },
        };
      default:
        return doc;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
