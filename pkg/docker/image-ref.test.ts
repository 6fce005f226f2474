import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseImageRef } from './image-ref';
import { assertCode } from '../testing/assert-code';

describe('parseImageRef', () => {
  it('parses names, tags, registries and digests', () => {
    assert.deepEqual(parseImageRef('docker://parity/parity:ztc'), {
      engineRef: 'parity/parity:ztc',
      uri: 'docker://parity/parity:ztc',
      repository: 'parity/parity',
      tag: 'ztc',
    });
    const d = `sha256:${'a'.repeat(64)}`;
    const full = parseImageRef(`docker://127.0.0.1:5000/team/app_x-1.2:v1.0-rc@${d}`);
    assert.equal(full.repository, '127.0.0.1:5000/team/app_x-1.2');
    assert.equal(full.tag, 'v1.0-rc');
    assert.equal(full.digest, d);
    assert.equal(parseImageRef('docker://busybox').tag, undefined);
    assert.equal(parseImageRef('docker://[::1]:5000/x:y').repository, '[::1]:5000/x');
    assert.equal(parseImageRef('docker://Registry.Example.com/x').repository, 'Registry.Example.com/x');
  });

  it('accepts image IDs', () => {
    const hex = 'b'.repeat(64);
    assert.equal(parseImageRef(`docker://sha256:${hex}`).imageId, `sha256:${hex}`);
    assert.equal(parseImageRef(`docker://${hex}`).engineRef, `sha256:${hex}`);
  });

  it('accepts a bare reference only when told to', () => {
    assert.equal(parseImageRef('alpine:3', { requireScheme: false }).uri, 'docker://alpine:3');
    assertCode(() => parseImageRef('alpine:3'), 'BAD_IMAGE_REF');
  });

  it('rejects malformed and hostile references', () => {
    for (const bad of [
      'docker://',
      'docker://UPPER/case',
      'docker://a:b:c',
      'docker://app:',
      'docker://-app',
      'docker://app;rm -rf /',
      'docker://$(touch /tmp/pwned)',
      'docker://app:`id`',
      'docker://app\nnext',
      'docker://app:tag with space',
      'docker://app@sha256:short',
      "docker://app'quote",
      'docker://ápp',
      `docker://${'a'.repeat(300)}`,
      `docker://app:${'t'.repeat(129)}`,
      'docker://a//b',
      'docker://a/',
      'file:///etc/passwd',
      'git://x',
    ]) {
      assertCode(() => parseImageRef(bad), 'BAD_IMAGE_REF');
    }
  });
});
