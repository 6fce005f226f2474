// Generated hostile inputs for signed notes, checkpoints and cosignatures (note.ts,
// checkpoint.ts, cosignature.ts, witness-policy.ts checkWitnesses): random text never opens,
// valid notes always do, and no single-byte change of a valid signed note is accepted.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import type { ErrorCode } from '../errors';
import { openCheckpoint, parseCheckpoint, signCheckpoint, type SignedCheckpoint } from './checkpoint';
import { cosigner, cosignatureVerifier, verifyCosignatures, withSignatures } from './cosignature';
import { rawPublicKey } from './ed25519';
import { isValidKeyName, noteSigner, noteVerifier, openNote, parseVkey, vkeyFor } from './note';
import { checkWitnesses, parseWitnessPolicy } from './witness-policy';
import { assertRefused, checkProperty, reportPropertyTotals, typedOutcome } from '../testing/property';

after(() => reportPropertyTotals('pkg/ledger/note.props.test.ts'));

const NOTE_CODES: ErrorCode[] = ['NOTE_MALFORMED', 'NOTE_UNVERIFIED'];
const CHECKPOINT_CODES: ErrorCode[] = [...NOTE_CODES, 'CHECKPOINT_MALFORMED', 'CHECKPOINT_ORIGIN'];
const COSIGNATURE_CODES: ErrorCode[] = ['NOTE_MALFORMED', 'WITNESS_INVALID', 'WITNESS_QUORUM'];

const logKey = generateKeyPairSync('ed25519').privateKey;
const witnessKey = generateKeyPairSync('ed25519').privateKey;
const ORIGIN = 'imagetrust.ledger/props';
const logSigner = noteSigner(ORIGIN, logKey);
const logVerifier = noteVerifier(vkeyFor(ORIGIN, rawPublicKey(logKey)));
const witness = cosigner('witness.example/w1', witnessKey);
const witnessPolicy = parseWitnessPolicy(`witness w1 ${witness.vkey}\nquorum w1\n`);
const NOW_S = 1_800_000_000;

/** Text that survives UTF-8 encoding unchanged (no lone surrogates). */
const wellFormed = (s: string): boolean =>
  Buffer.from(s, 'utf8').toString('utf8') === s && !s.includes('\uFFFD');

const keyName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .filter((s) => isValidKeyName(s) && wellFormed(s));

const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));

const checkpointFields = fc.record({
  size: fc.maxSafeNat(),
  rootHash: hash32,
  indexRoot: fc.option(hash32, { nil: undefined }),
});

function signed(fields: Fields): SignedCheckpoint {
  return signCheckpoint(
    {
      origin: ORIGIN,
      size: fields.size,
      rootHash: fields.rootHash,
      ...(fields.indexRoot ? { indexRoot: fields.indexRoot } : {}),
    },
    logSigner,
  );
}

/** A byte of the note's UTF-8 replaced by another value, decoded back as a server would. */
function mutateByte(note: string, position: number, value: number): string {
  const bytes = Buffer.from(note, 'utf8');
  const at = position % bytes.length;
  bytes[at] = bytes[at] === value ? (value + 1) & 0xff : value;
  return bytes.toString('utf8');
}

type Fields = { size: number; rootHash: Buffer; indexRoot: Buffer | undefined };
type Mutation = [Fields, number, number];

// Regression cases. Found by the byte-by-byte test: the last base64 digit of a signature before
// its padding has unused low bits, so flipping one gave another spelling of the same signature
// and the note still opened (note.ts, cosignature.ts accepted non-canonical base64).
const REGRESSION_FIELDS: Fields = {
  size: 4242,
  rootHash: Buffer.alloc(32, 7),
  indexRoot: Buffer.alloc(32, 9),
};
function lastDigitFlip(note: string, padding: string): [number, number] {
  const bytes = Buffer.from(note, 'utf8');
  const at = bytes.length - padding.length - 2;
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // The same digit with its lowest (unused) bit flipped: another spelling of the same bytes.
  return [at, digits.charCodeAt(digits.indexOf(String.fromCharCode(bytes[at] as number)) ^ 1)];
}
const REGRESSION_NOTE = signed(REGRESSION_FIELDS).note;
const SIGNATURE_PADDING_EXAMPLES: Mutation[] = [[REGRESSION_FIELDS, ...lastDigitFlip(REGRESSION_NOTE, '=')]];
const COSIGNATURE_PADDING_EXAMPLES: Mutation[] = [
  [
    REGRESSION_FIELDS,
    ...lastDigitFlip(
      withSignatures(REGRESSION_NOTE, [
        witness.sign(REGRESSION_NOTE.slice(0, REGRESSION_NOTE.lastIndexOf('\n\n') + 1), NOW_S),
      ]),
      '==',
    ),
  ],
];

/** Every way the text of a note can be written in a hostile answer, biased towards note-like text. */
const hostileNote = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc
    .array(
      fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('', '\u2014 ', ORIGIN, '\u2014 ' + ORIGIN)),
      {
        maxLength: 8,
      },
    )
    .map((lines) => lines.join('\n')),
  fc
    .tuple(fc.string({ maxLength: 80 }), fc.base64String({ maxLength: 120 }), keyName)
    .map(([text, sig, name]) => `${text}\n\n\u2014 ${name} ${sig}\n`),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8')),
);

describe('signed notes and checkpoints (generated)', () => {
  it('random text never opens as a note or a checkpoint, and is refused with a typed error', () => {
    checkProperty(
      'note: random text is refused',
      fc.property(hostileNote, (note) => {
        assertRefused(() => openNote(note, [logVerifier]), NOTE_CODES, 'openNote');
        assertRefused(() => openCheckpoint(note, logVerifier, ORIGIN), CHECKPOINT_CODES, 'openCheckpoint');
      }),
      { runs: 1500 },
    );
  });

  it('parseCheckpoint gives a checkpoint or CHECKPOINT_MALFORMED for any text, and round-trips what it accepts', () => {
    checkProperty(
      'checkpoint: any body parses or is malformed',
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc
            .tuple(
              fc.string({ maxLength: 30 }),
              fc.oneof(
                fc.nat().map(String),
                fc.string({ maxLength: 20 }),
                fc.constantFrom('-1', '01', '1e3', '9007199254740993'),
              ),
              fc.oneof(
                fc.base64String({ minLength: 40, maxLength: 48 }),
                hash32.map((h) => h.toString('base64')),
              ),
              fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }),
            )
            .map(([o, s, r, ext]) => [o, s, r, ...ext, ''].join('\n')),
        ),
        (text) => {
          const outcome = typedOutcome(() => parseCheckpoint(text), 'parseCheckpoint');
          if ('code' in outcome) {
            assert.equal(outcome.code, 'CHECKPOINT_MALFORMED');
            return;
          }
          const cp = outcome.value;
          assert.ok(cp.origin.length > 0 && Number.isSafeInteger(cp.size) && cp.size >= 0);
          assert.equal(cp.rootHash.length, 32);
          assert.equal(text.split('\n')[1], String(cp.size));
        },
      ),
      { runs: 1500 },
    );
  });

  it('a checkpoint the log signed always opens with its fields intact', () => {
    checkProperty(
      'checkpoint: signed ones open',
      fc.property(checkpointFields, (fields) => {
        const cp = openCheckpoint(signed(fields).note, logVerifier, ORIGIN);
        assert.equal(cp.size, fields.size);
        assert.deepEqual(cp.rootHash, fields.rootHash);
        assert.deepEqual(cp.indexRoot, fields.indexRoot);
      }),
      { runs: 300 },
    );
  });

  it('notes by any valid key name open with that key only', () => {
    checkProperty(
      'note: any key name signs and verifies',
      fc.property(keyName, fc.string({ unit: 'grapheme', maxLength: 80 }), (name, body) => {
        const text = `${body.replace(/[\u0000-\u001f\u007f]/g, ' ')}\n`;
        fc.pre(wellFormed(text) && !text.includes('\n\n') && text !== '\n');
        const note = `${text}\n${noteSignatureLine(name, text)}`;
        assert.deepEqual(openNote(note, [verifierFor(name)]).verifiedBy, [name]);
        assertRefused(() => openNote(note, [logVerifier]), ['NOTE_UNVERIFIED'], 'another key');
      }),
      { runs: 200 },
    );
  });

  it('every single-byte change of a signed checkpoint is refused (every byte, bit flips)', () => {
    const bytes = Buffer.from(REGRESSION_NOTE, 'utf8');
    for (let i = 0; i < bytes.length; i++)
      for (let bit = 0; bit < 8; bit++) {
        const mutated = Buffer.from(bytes);
        mutated[i] = (mutated[i] as number) ^ (1 << bit);
        assertRefused(
          () => openCheckpoint(mutated.toString('utf8'), logVerifier, ORIGIN),
          CHECKPOINT_CODES,
          `byte ${i} bit ${bit}`,
        );
      }
  });

  it('every single-bit change of a cosigned checkpoint fails the log key or the quorum (every byte)', () => {
    const text = REGRESSION_NOTE.slice(0, REGRESSION_NOTE.lastIndexOf('\n\n') + 1);
    const bytes = Buffer.from(withSignatures(REGRESSION_NOTE, [witness.sign(text, NOW_S)]), 'utf8');
    for (let i = 0; i < bytes.length; i++)
      for (let bit = 0; bit < 8; bit++) {
        const mutated = Buffer.from(bytes);
        mutated[i] = (mutated[i] as number) ^ (1 << bit);
        const note = mutated.toString('utf8');
        const log = typedOutcome(() => openCheckpoint(note, logVerifier, ORIGIN), 'openCheckpoint');
        if ('value' in log)
          assertRefused(
            () => checkWitnesses(note, witnessPolicy, NOW_S, 1e9),
            COSIGNATURE_CODES,
            `byte ${i} bit ${bit}`,
          );
      }
  });

  it('no single-byte change of any signed checkpoint is accepted (generated)', () => {
    checkProperty(
      'checkpoint: single-byte mutations are refused',
      fc.property(checkpointFields, fc.nat(), fc.integer({ min: 0, max: 255 }), (fields, position, value) => {
        const mutated = mutateByte(signed(fields).note, position, value);
        assertRefused(() => openCheckpoint(mutated, logVerifier, ORIGIN), CHECKPOINT_CODES, 'mutated note');
      }),
      { runs: 1500, examples: SIGNATURE_PADDING_EXAMPLES },
    );
  });

  it('a cosigned checkpoint meets the quorum; no single-byte change of it does', () => {
    checkProperty(
      'cosignature: single-byte mutations never meet the quorum',
      fc.property(checkpointFields, fc.nat(), fc.integer({ min: 0, max: 255 }), (fields, position, value) => {
        const cp = signed(fields);
        const text = cp.note.slice(0, cp.note.lastIndexOf('\n\n') + 1);
        const cosigned = withSignatures(cp.note, [witness.sign(text, NOW_S)]);
        assert.equal(checkWitnesses(cosigned, witnessPolicy, NOW_S, 60).quorumTime, NOW_S);
        const mutated = mutateByte(cosigned, position, value);
        // The log's signature covers the text; the cosignature covers the text and its time.
        const log = typedOutcome(() => openCheckpoint(mutated, logVerifier, ORIGIN), 'openCheckpoint');
        if ('code' in log) {
          assert.ok(CHECKPOINT_CODES.includes(log.code), log.code);
          return;
        }
        assertRefused(() => checkWitnesses(mutated, witnessPolicy, NOW_S, 1e9), COSIGNATURE_CODES, 'mutated');
      }),
      { runs: 1200, examples: COSIGNATURE_PADDING_EXAMPLES },
    );
  });

  it('random cosignature lines never verify and never crash', () => {
    const cp = signed({ size: 1, rootHash: Buffer.alloc(32, 1), indexRoot: undefined });
    checkProperty(
      'cosignature: random signature lines',
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 120 }),
            fc.base64String({ minLength: 100, maxLength: 104 }).map((s) => `\u2014 ${witness.name} ${s}`),
            fc
              .uint8Array({ minLength: 0, maxLength: 80 })
              .chain((b) => fc.constantFrom(b, b.subarray(0, 72)))
              .map((b) => `\u2014 ${witness.name} ${Buffer.concat([witness.keyId, b]).toString('base64')}`),
          ),
          { maxLength: 4 },
        ),
        (lines) => {
          const note = `${cp.note}${lines.map((l) => `${l.replace(/\n/g, ' ')}\n`).join('')}`;
          const outcome = typedOutcome(
            () => verifyCosignatures(note, [cosignatureVerifier(witness.vkey)]),
            'verifyCosignatures',
          );
          if ('value' in outcome) assert.equal(outcome.value.size, 0);
          else assert.ok(['WITNESS_INVALID', 'NOTE_MALFORMED'].includes(outcome.code), outcome.code);
        },
      ),
      { runs: 600 },
    );
  });

  it('verifier keys: random text and mutated keys are KEY_INVALID', () => {
    const valid = vkeyFor(ORIGIN, rawPublicKey(logKey));
    checkProperty(
      'vkey: random and mutated keys are refused',
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 120 }),
          fc.tuple(fc.nat(), fc.integer({ min: 0x21, max: 0x7e })).map(([p, c]) => {
            const at = p % valid.length;
            const ch = String.fromCharCode(c === valid.charCodeAt(at) ? c + 1 : c);
            return valid.slice(0, at) + ch + valid.slice(at + 1);
          }),
        ),
        (vkey) => {
          fc.pre(vkey.trim() !== valid);
          const outcome = typedOutcome(() => parseVkey(vkey, 0x01), 'parseVkey');
          if ('code' in outcome) assert.equal(outcome.code, 'KEY_INVALID');
          // A changed name with a matching id is a valid key of another name: it verifies nothing of ours.
          else assert.notEqual(outcome.value.vkey, valid);
        },
      ),
      { runs: 800 },
    );
  });
});

const verifiers = new Map<string, ReturnType<typeof noteVerifier>>();
const signers = new Map<string, ReturnType<typeof noteSigner>>();
function verifierFor(name: string) {
  let v = verifiers.get(name);
  if (!v) {
    v = noteVerifier(vkeyFor(name, rawPublicKey(logKey)));
    verifiers.set(name, v);
  }
  return v;
}
function noteSignatureLine(name: string, text: string): string {
  let s = signers.get(name);
  if (!s) {
    s = noteSigner(name, logKey);
    signers.set(name, s);
  }
  return `\u2014 ${name} ${Buffer.concat([s.keyId, s.sign(Buffer.from(text, 'utf8'))]).toString('base64')}\n`;
}
