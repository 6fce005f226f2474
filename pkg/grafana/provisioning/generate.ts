// `npm run provisioning`: writes the dashboards and alert rules that render.ts builds into
// provisioning/ (docker-compose.yml mounts them into Grafana). Run it after changing any file in
// pkg/grafana/provisioning/; provisioning.test.ts fails while the two differ.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { renderProvisioning } from './render';

const REPO = resolve(__dirname, '..', '..', '..');

for (const file of renderProvisioning()) {
  const target = join(REPO, file.path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, file.contents);
  console.log(`wrote ${file.path} (${Buffer.byteLength(file.contents)} bytes)`);
}
