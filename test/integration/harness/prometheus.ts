// A real Prometheus (Debian's package) on a free loopback port, scraping given targets
// every second and evaluating the given rule files.

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { freePort, startBackground, waitFor } from './process';

export interface Prometheus {
  url: string;
  api(path: string): Promise<any>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: {
  targets: string[];
  ruleFiles: string[];
  bearerToken?: string;
}): Promise<Prometheus> {
  const dir = mkdtempSync(join('/tmp', 'itd-prometheus-'));
  const port = await freePort();
  const rules = options.ruleFiles.map((f) => {
    const copy = join(dir, basename(f));
    copyFileSync(f, copy);
    return copy;
  });
  const auth = options.bearerToken
    ? `    authorization:\n      credentials: ${JSON.stringify(options.bearerToken)}\n`
    : '';
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      ...rules.map((r) => `  - ${JSON.stringify(r)}`),
      'scrape_configs:',
      '  - job_name: imagetrust',
      auth.trimEnd(),
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ]
      .filter((l) => l !== '')
      .join('\n'),
  );
  const url = `http://127.0.0.1:${port}`;
  const proc = startBackground(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    join(dir, 'prometheus.log'),
  );
  await waitFor(`prometheus (log ${dir}/prometheus.log)`, async () =>
    (await fetch(`${url}/-/ready`)).ok ? true : undefined,
  );
  return {
    url,
    async api(path: string) {
      const res = await fetch(`${url}${path}`);
      return res.json();
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
