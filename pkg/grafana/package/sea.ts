// `npm run build:backend`: the data source's backend as a Node single executable application
// (REFERENCE §9), dist/datasource/gpx_imagetrust_<os>_<arch>, the file plugin.json's
// `executable: gpx_imagetrust` names for Grafana:
//   1. esbuild bundles pkg/grafana/entry.ts into one CommonJS file (no native modules: a
//      bundle that pulls in better-sqlite3, pg or a .node file is refused);
//   2. `node --experimental-sea-config` turns it into a blob, with the .proto files as assets;
//   3. a copy of this Node binary gets the blob injected by postject (NODE_SEA_FUSE sentinel).
// It builds for the OS and architecture it runs on: build on each target to add one.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { PROTO_FILES } from '../protocol';

const REPO = resolve(__dirname, '..', '..', '..');
const WORK = join(REPO, 'build', 'sea');
const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const FORBIDDEN = /(^|\/)node_modules\/(better-sqlite3|pg|pg-native|cpu-features|ssh2)\/|\.node$/;

/** Grafana's name for this platform: gpx_imagetrust_linux_amd64, …_darwin_arm64, …_windows_amd64.exe. */
export function executableName(platform: string = process.platform, arch: string = process.arch): string {
  const goArch = arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch;
  const os = platform === 'win32' ? 'windows' : platform;
  return `gpx_imagetrust_${os}_${goArch}${platform === 'win32' ? '.exe' : ''}`;
}

async function bundle(out: string): Promise<void> {
  const result = await build({
    entryPoints: [join(REPO, 'pkg', 'grafana', 'entry.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  const native = Object.keys(result.metafile.inputs).filter((f) => FORBIDDEN.test(f));
  if (native.length > 0) {
    throw new Error(`the backend bundle must not contain native modules: ${native.join(', ')}`);
  }
}

export async function buildExecutable(): Promise<string> {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const script = join(WORK, 'backend.cjs');
  await bundle(script);

  const blob = join(WORK, 'backend.blob');
  const config = {
    main: script,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets: Object.fromEntries(PROTO_FILES.map((f) => [f, join(REPO, 'pkg', 'grafana', 'proto', f)])),
  };
  const configFile = join(WORK, 'sea-config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  execFileSync(process.execPath, ['--experimental-sea-config', configFile], { stdio: 'inherit' });

  const dir = join(REPO, 'dist', 'datasource');
  mkdirSync(dir, { recursive: true });
  const target = join(dir, executableName());
  rmSync(target, { force: true });
  copyFileSync(process.execPath, target);
  // postject ships no types; its one export is inject().
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { inject } = require('postject') as {
    inject(
      file: string,
      name: string,
      data: Buffer,
      options: { sentinelFuse: string; machoSegmentName?: string },
    ): Promise<void>;
  };
  await inject(target, 'NODE_SEA_BLOB', readFileSync(blob), {
    sentinelFuse: SENTINEL_FUSE,
    ...(process.platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
  });
  if (process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', target], { stdio: 'inherit' });
  chmodSync(target, 0o755);
  return target;
}

if (require.main === module) {
  const started = Date.now();
  buildExecutable()
    .then((target) => {
      const mb = (statSync(target).size / 1024 / 1024).toFixed(1);
      console.log(`${target}: ${mb} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    })
    .catch((err: unknown) => {
      console.error(`build:backend failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
