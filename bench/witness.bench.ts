// Witness benchmark: add-checkpoint latency on loopback (p50/p99), durable appends with one
// cosigning round of three witnesses per batch against none in the same run, and a client's
// cost of checking a quorum of three cosignatures. Prints; asserts nothing.
//
//   npm run bench:witness
//   BENCH_CHECKPOINTS=2000 BENCH_APPENDS=20000 npm run bench:witness

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cosigner } from '../pkg/ledger/cosignature';
import { CheckpointCosigning } from '../pkg/ledger/cosigning';
import type { Ledger } from '../pkg/ledger/log';
import { openLocalLedger } from '../pkg/ledger/open';
import { checkWitnesses, parseWitnessPolicy } from '../pkg/ledger/witness-policy';
import { digestOf, generateSignerKey, Words } from '../pkg/testing/fixtures';
import { buildWitnessServer } from '../pkg/witness/server';
import { MemoryWitnessState } from '../pkg/witness/state';
import { Witness } from '../pkg/witness/witness';

const CHECKPOINTS = Number(process.env.BENCH_CHECKPOINTS ?? 1000);
const APPENDS = Number(process.env.BENCH_APPENDS ?? 20_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const signer = generateSignerKey();

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

async function startWitnesses(ledger: Ledger, n: number) {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const c = cosigner(`bench-w${i}.example`, generateKeyPairSync('ed25519').privateKey);
      const witness = new Witness({ cosigner: c, logs: [ledger.info.vkey], state: new MemoryWitnessState() });
      const app = buildWitnessServer({ witness, logs: [ledger.info.vkey] });
      await app.listen({ host: '127.0.0.1', port: 0 });
      return { app, c, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
    }),
  );
}

async function addCheckpointLatency(): Promise<{ p50: number; p99: number; n: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'imagetrust-wbench-'));
  const ledger = await openLocalLedger(join(dir, 'ledger.db'), { synchronous: 'NORMAL' });
  const w = new Words();
  const notes: { size: number; note: string }[] = [];
  for (let i = 0; i < CHECKPOINTS; i++) {
    const { checkpoint } = await ledger.append([w.next(signer, digestOf(`lat ${i}`), 'trusted').envelope]);
    notes.push({ size: checkpoint.size, note: checkpoint.note });
  }
  const [one] = await startWitnesses(ledger, 1);
  const times: number[] = [];
  let old = 0;
  for (const cp of notes) {
    const proof = old === 0 ? [] : await ledger.consistencyProof(old, cp.size);
    const body = `old ${old}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${cp.note}`;
    const t = performance.now();
    const res = await fetch(`${one!.url}/add-checkpoint`, { method: 'POST', body });
    await res.text();
    times.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`witness answered ${res.status}`);
    old = cp.size;
  }
  await one!.app.close();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), p99: pct(times, 99), n: times.length };
}

async function appendRate(cosign: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'imagetrust-wbench-'));
  const ledger = await openLocalLedger(join(dir, 'ledger.db'));
  const witnesses = cosign ? await startWitnesses(ledger, 3) : [];
  const cosigning = cosign
    ? new CheckpointCosigning(ledger, { witnesses: witnesses.map((x) => x.url) })
    : undefined;
  const w = new Words();
  const envelopes = Array.from(
    { length: APPENDS },
    (_, i) => w.next(signer, digestOf(`app ${i % (APPENDS / 2)}`), 'trusted').envelope,
  );
  const t = performance.now();
  for (let i = 0; i < envelopes.length; i += BATCH) {
    await ledger.append(envelopes.slice(i, i + BATCH));
    await cosigning?.round();
  }
  const ms = performance.now() - t;
  await Promise.all(witnesses.map((x) => x.app.close()));
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
  return (APPENDS / ms) * 1000;
}

async function quorumCheckRate(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'imagetrust-wbench-'));
  const ledger = await openLocalLedger(join(dir, 'ledger.db'));
  const cosigners = [0, 1, 2].map((i) =>
    cosigner(`q${i}.example`, generateKeyPairSync('ed25519').privateKey),
  );
  const note = (await ledger.latestCheckpoint()).note;
  const text = note.slice(0, note.lastIndexOf('\n\n') + 1);
  const now = Math.floor(Date.now() / 1000);
  const cosigned = `${note}${cosigners.map((c) => c.sign(text, now)).join('')}`;
  const policy = parseWitnessPolicy(
    [...cosigners.map((c, i) => `witness w${i} ${c.vkey}`), 'group all3 all w0 w1 w2', 'quorum all3'].join(
      '\n',
    ),
  );
  const N = 2000;
  const t = performance.now();
  for (let i = 0; i < N; i++) checkWitnesses(cosigned, policy, now, 3600);
  const rate = (N / (performance.now() - t)) * 1000;
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function main(): Promise<void> {
  console.log(`imagetrust witness benchmark — Node ${process.version}`);
  const lat = await addCheckpointLatency();
  console.log(
    `add-checkpoint on loopback (one witness, ${lat.n} successive checkpoints with consistency proofs): p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`,
  );
  const none = await appendRate(false);
  const three = await appendRate(true);
  console.log(
    `durable appends, batches of ${BATCH}, ${APPENDS} statements: ${Math.round(none).toLocaleString('en-US')}/s without witnesses, ` +
      `${Math.round(three).toLocaleString('en-US')}/s with a cosigning round of 3 witnesses per batch (${((three / none) * 100).toFixed(0)} %; target >= 5,000/s)`,
  );
  const q = await quorumCheckRate();
  console.log(
    `client check of a quorum of 3 cosignatures: ${Math.round(q).toLocaleString('en-US')}/s (${(1000 / q).toFixed(3)} ms each)`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
