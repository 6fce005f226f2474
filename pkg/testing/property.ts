// The one way imagetrust's tests run fast-check properties (issue 13: generated hostile inputs).
//
// Every property prints its seed before it runs, so any failure on any machine can be replayed:
//   IMAGETRUST_FC_SEED=<n>     run every property of a file with that seed instead of a random one
//   IMAGETRUST_FC_PATH=<path>  with the seed, replay the shrunk counterexample fast-check reported
//   IMAGETRUST_FC_SCALE=<x>    multiply every property's number of runs (10 for a long local run)
// Counterexamples found once are kept as `examples`: they run first, every time, and do not count
// as generated cases. `reportPropertyTotals()` (in an `after` hook) prints what a file ran.

import assert from 'node:assert/strict';
import { ERROR_CODES, ImagetrustError, type ErrorCode } from '../errors';
import fc, { type IAsyncProperty, type IProperty, type Parameters, type RunDetails } from 'fast-check';

export interface PropertyOptions<Ts> {
  /** Generated cases at scale 1 (IMAGETRUST_FC_SCALE multiplies it). */
  runs: number;
  /** Regression cases: inputs that once failed, run before the generated ones. */
  examples?: Ts[];
}

interface Totals {
  properties: number;
  generated: number;
  examples: number;
}

const totals: Totals = { properties: 0, generated: 0, examples: 0 };

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The seed from IMAGETRUST_FC_SEED, or a fresh random one. */
export function propertySeed(env: NodeJS.ProcessEnv = process.env): number {
  const text = envValue(env, 'IMAGETRUST_FC_SEED');
  if (text === undefined) return (Math.random() * 0x1_0000_0000) | 0;
  const seed = Number(text);
  if (!/^-?\d{1,10}$/.test(text) || seed < -0x8000_0000 || seed > 0xffff_ffff)
    assert.fail(`IMAGETRUST_FC_SEED=${JSON.stringify(text)}: expected a 32-bit integer`);
  return seed | 0;
}

/** `runs` scaled by IMAGETRUST_FC_SCALE (at least one run). */
export function scaledRuns(runs: number, env: NodeJS.ProcessEnv = process.env): number {
  const text = envValue(env, 'IMAGETRUST_FC_SCALE');
  if (text === undefined) return runs;
  const scale = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(scale > 0))
    assert.fail(`IMAGETRUST_FC_SCALE=${JSON.stringify(text)}: expected a positive number`);
  return Math.max(1, Math.round(runs * scale));
}

function parameters<Ts>(name: string, options: PropertyOptions<Ts>): Parameters<Ts> {
  const seed = propertySeed();
  const runs = scaledRuns(options.runs);
  const examples = options.examples ?? [];
  const path = envValue(process.env, 'IMAGETRUST_FC_PATH');
  process.stderr.write(
    `property ${name}: seed=${seed} runs=${runs}${examples.length > 0 ? ` examples=${examples.length}` : ''}\n`,
  );
  return {
    seed,
    numRuns: runs + examples.length,
    examples,
    ...(path !== undefined && envValue(process.env, 'IMAGETRUST_FC_SEED') !== undefined ? { path } : {}),
  };
}

function record<Ts>(name: string, details: RunDetails<Ts>, examples: number): void {
  totals.properties += 1;
  totals.examples += Math.min(examples, details.numRuns);
  totals.generated += Math.max(0, details.numRuns - examples);
  if (!details.failed) return;
  const cause =
    details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  assert.fail(`property ${name} failed\n${fc.defaultReportMessage(details)}\nError: ${cause}`);
}

/** Runs a synchronous property; fails the test with fast-check's report (seed and path included). */
export function checkProperty<Ts>(name: string, property: IProperty<Ts>, options: PropertyOptions<Ts>): void {
  const details = fc.check(property, parameters(name, options));
  record(name, details, options.examples?.length ?? 0);
}

/** Runs an asynchronous property, as checkProperty does. */
export async function checkAsyncProperty<Ts>(
  name: string,
  property: IAsyncProperty<Ts>,
  options: PropertyOptions<Ts>,
): Promise<void> {
  const details = await fc.check(property, parameters(name, options));
  record(name, details, options.examples?.length ?? 0);
}

/** What this process ran so far. */
export function propertyTotals(): Readonly<Totals> {
  return { ...totals };
}

/** Prints `property totals: …` for this file; call it from an `after` hook. */
export function reportPropertyTotals(file: string): void {
  process.stderr.write(
    `property totals ${file}: properties=${totals.properties} generated=${totals.generated} examples=${totals.examples}\n`,
  );
}

/**
 * Runs `fn` and demands that it refuse with an ImagetrustError whose code is one of `codes`:
 * anything else thrown (a TypeError, a RangeError) or no refusal at all fails the property.
 */
export function assertRefused(fn: () => unknown, codes: readonly ErrorCode[], what = 'input'): ErrorCode {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    if (!(err instanceof ImagetrustError))
      assert.fail(`${what}: threw ${String(err)}, not an ImagetrustError`);
    assert.ok(
      codes.includes(err.code),
      `${what}: refused with ${err.code} (${err.message}), expected ${codes.join(' or ')}`,
    );
    return err.code;
  }
  let shown: string;
  try {
    shown = String(JSON.stringify(result)).slice(0, 200);
  } catch {
    shown = String(result);
  }
  return assert.fail(`${what}: accepted (${shown}), expected ${codes.join(' or ')}`);
}

/** Whatever `fn` does, it returns or refuses with an ImagetrustError of a known code. */
export function typedOutcome<T>(fn: () => T, what = 'input'): { value: T } | { code: ErrorCode } {
  try {
    return { value: fn() };
  } catch (err) {
    if (!(err instanceof ImagetrustError) || !(err.code in ERROR_CODES))
      assert.fail(`${what}: threw ${err instanceof Error ? err.stack : String(err)}, not an ImagetrustError`);
    return { code: err.code };
  }
}

/** Characters that break formats: separators, quotes, escapes, controls, Unicode look-alikes. */
const SPECIALS = [
  ',',
  '=',
  ' ',
  '"',
  "'",
  '\\',
  '\n',
  '\r',
  '\t',
  '\u0000',
  '{',
  '}',
  '#',
  ':',
  '/',
  '%',
  '\u29f5',
  '\u2014',
  '\uFFFD',
  '\u2028',
  'é',
  '\u{1F600}',
];

/** Text an attacker would write into a name, a label or a field: mostly specials, some of anything. */
export const hostileText = (maxLength = 40): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: fc.constantFrom(...SPECIALS, 'a', 'b', '0'), maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ maxLength }),
  );
