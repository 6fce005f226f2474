#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: system packages (the real servers the
# integration tests start: Docker engine, registry, …), npm dependencies, build, then
# `npm test`. The tests start their own servers on free loopback ports and stop them; the
# trap below is the safety net if a run is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker.io busybox-static docker-registry tar jq influxdb prometheus docker-compose chromium postgresql)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # Packages must not start their own servers (postgresql would start a cluster on 5432): the
  # tests start private ones. policy-rc.d answering 101 tells Debian's scripts not to start them.
  had_policy=""; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ -n "$had_policy" ] || { printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$had_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

cleanup() {
  # The tests run in a process group of their own (setsid below): stop exactly that group.
  # Never by name: a real agent or ledger may run on this machine.
  if [ -n "${tests_pid:-}" ]; then
    kill -TERM -- "-$tests_pid" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$tests_pid" 2>/dev/null || true
  fi
  # Servers that leave their group (dockerd's containerd) are found by the test's own temp folders.
  pkill -f -- '--data-root /tmp/itd-' 2>/dev/null || true
  pkill -f -- '/tmp/itd-.*containerd' 2>/dev/null || true
  # Private PostgreSQL servers, each stopped through its own data folder (its postmaster.pid).
  for data in /tmp/itd-pg-*/data; do
    [ -f "$data/postmaster.pid" ] || continue
    runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
setsid npm test &
tests_pid=$!
wait "$tests_pid"
