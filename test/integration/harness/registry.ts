// A real local registry (Debian's docker-registry) on a free loopback port, so that pushed
// test images get repo digests as they would from any registry.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startBackground, waitFor } from './process';

export interface Registry {
  address: string;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync(join('/tmp', 'itd-registry-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      'http:',
      `  addr: ${address}`,
      '',
    ].join('\n'),
  );
  const proc = startBackground('docker-registry', ['serve', config], join(dir, 'registry.log'));
  await waitFor('docker-registry', async () => {
    const res = await fetch(`http://${address}/v2/`);
    return res.ok ? true : undefined;
  });
  return {
    address,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
