#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: system packages (the real servers the
# integration tests start: Docker engine, registry, …), npm dependencies, build, then
# `npm test`. The tests start their own servers on free loopback ports and stop them; the
# trap below is the safety net if a run is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker.io busybox-static docker-registry tar jq influxdb prometheus docker-compose chromium)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cleanup() {
  # Anything the test harness started under /tmp/itd-* and did not stop.
  pkill -f -- '--data-root /tmp/itd-' 2>/dev/null || true
  pkill -f -- '/tmp/itd-.*containerd' 2>/dev/null || true
  pkill -f -- 'docker-registry serve /tmp/itd-' 2>/dev/null || true
  pkill -f -- 'imagetrust.js ledger serve' 2>/dev/null || true
  pkill -f -- 'imagetrust.js agent' 2>/dev/null || true
  pkill -f -- 'influxd -config /tmp/itd-' 2>/dev/null || true
  pkill -f -- '--config.file=/tmp/itd-prometheus' 2>/dev/null || true
}
trap cleanup EXIT

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
npm test
