#!/usr/bin/env bash
# The main job: install and build if needed, then run the node agent with its embedded ledger
# ($IMAGETRUST_HOME/ledger.db) against the local Docker engine (DOCKER_HOST, or
# /var/run/docker.sock). On first run it creates this node's signer key, whose statements the
# agent trusts unless --signer or --policy says otherwise. Extra arguments go to `imagetrust agent`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Secrets never go on a command line: every local user can read it (ps, /proc/PID/cmdline).
for arg in "$@"; do
  case "$arg" in
    --token | --token=* | --influx-token | --influx-token=* | --influx-password | --influx-password=*)
      echo "run.sh: ${arg%%=*} would show the secret in ps; use ${arg%%=*}-file FILE (mode 0600) or its IMAGETRUST_* variable" >&2
      exit 64
      ;;
  esac
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build

home="${IMAGETRUST_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/imagetrust}"
if [ ! -f "$home/signer.key" ]; then
  echo "creating this node's signer key in $home (notarize images with: npx imagetrust sign docker://IMAGE)"
  node bin/imagetrust.js keygen
fi
# Two malloc arenas instead of one per thread: about 7 MB less RSS (bench/agent.bench.ts).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec node --max-semi-space-size=1 bin/imagetrust.js agent "$@"
