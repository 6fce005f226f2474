// Test helpers that assert an ImagetrustError's code rather than its message.
import assert from 'node:assert/strict';
import { ImagetrustError, type ErrorCode } from '../errors';

export function assertCode(fn: () => unknown, code: ErrorCode): ImagetrustError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ImagetrustError, `expected ImagetrustError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ImagetrustError ${code}, nothing was thrown`);
}

export async function assertRejectsCode(
  fn: () => Promise<unknown>,
  code: ErrorCode,
): Promise<ImagetrustError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ImagetrustError, `expected ImagetrustError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ImagetrustError ${code}, nothing was thrown`);
}
