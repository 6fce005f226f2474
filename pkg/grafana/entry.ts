// The executable's entry (package/sea.ts bundles from here; `node --import tsx pkg/grafana/entry.ts`
// runs the same backend from source).

import { main } from './main';

main().catch((err: unknown) => {
  process.stderr.write(
    `imagetrust datasource backend failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
