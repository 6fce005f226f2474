#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: system packages (the real servers the
# integration tests start: Docker engine, registry, …), npm dependencies, build, then
# `npm test`. The tests start their own servers on free loopback ports and stop them; the
# trap below is the safety net if a run is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every server the tests start is recorded under the test's own temp folder (/tmp/itd-*),
# marked with this run's name (test/integration/harness/process.ts): a background server's
# pid in <log>.pid, dockerd's --pidfile, its containerd's pid file (the shims run in
# containerd's session) and each container's init.pid under the exec root; a private
# PostgreSQL server's postmaster.pid. The cleanup stops those pids, their process groups and
# sessions, and nothing else: never by name, since a real agent, ledger, dockerd or
# PostgreSQL (or another engineer's test run) may be running on this machine.
export IMAGETRUST_TEST_RUN="${IMAGETRUST_TEST_RUN:-run-$$-$(date +%s)}"

boot_time=$(awk '/^btime/ {print $2}' /proc/stat)
clock_ticks=$(getconf CLK_TCK)

# The pid a pid file names, if that process still runs and started before the file was
# last written (a recycled pid belongs to a later process).
recorded_pid() {
  local file=$1 pid stat started written
  pid=$(head -n 1 "$file" 2>/dev/null | tr -dc '0-9')
  [ -n "$pid" ] && [ "$pid" -gt 1 ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  written=$(stat -c %Y "$file" 2>/dev/null) || return 1
  # shellcheck disable=SC2086
  set -- ${stat##*) }
  [ "$1" != Z ] || return 1
  started=$((boot_time + ${20} / clock_ticks))
  [ "$started" -le $((written + 1)) ] || return 1
  echo "$pid"
}

# SIGKILL to a pid, its process group and its session (when it leads them).
kill_recorded() {
  local pid=$1
  kill -KILL -- "-$pid" 2>/dev/null || true
  for member in $(ps -e -o pid=,sid= | awk -v s="$pid" '$2 == s {print $1}'); do
    kill -KILL "$member" 2>/dev/null || true
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# What a gone process started may live on in its session or process group (dockerd's
# shims in the session of a containerd that died with it): the kernel hands out no pid that
# is still a session or group id, so those members are its.
kill_orphans() {
  for member in $(ps -e -o pid=,pgid=,sid= | awk -v s="$1" '$2 == s || $3 == s {print $1}'); do
    echo "stopping pid $member (left by $1)"
    kill -KILL "$member" 2>/dev/null || true
  done
}

kill_pid_files() {
  local file pid state
  for file in "$@"; do
    [ -f "$file" ] || continue
    pid=$(head -n 1 "$file" 2>/dev/null | tr -dc '0-9')
    [ -n "$pid" ] && [ "$pid" -gt 1 ] || continue
    state=$(awk '{sub(/.*\) /, ""); print $1}' "/proc/$pid/stat" 2>/dev/null || echo gone)
    if [ "$state" = gone ] || [ "$state" = Z ]; then
      kill_orphans "$pid"
    elif recorded_pid "$file" >/dev/null; then
      echo "stopping pid $pid ($file)"
      kill_recorded "$pid"
    fi
  done
}

# Stops what run $1 left running and removes its folders.
cleanup_run() {
  local run=$1 marker dir data pid
  for marker in /tmp/itd-*/.imagetrust-test-run /tmp/itd-*/*/.imagetrust-test-run; do
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$run" ] || continue
    dir=${marker%/.imagetrust-test-run}
    # dockerd first (it would restart its containerd), then containerd and its shims, then
    # the containers' init processes.
    kill_pid_files "$dir"/*.pid
    kill_pid_files "$dir/exec/containerd/containerd.pid"
    # shellcheck disable=SC2046
    kill_pid_files $(find "$dir/exec" -name init.pid 2>/dev/null)
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$dir"
  done
  # Private PostgreSQL servers of this run (the postmaster carries the run's name in its
  # environment), each stopped through its own data folder.
  for data in /tmp/itd-pg-*/data; do
    pid=$(recorded_pid "$data/postmaster.pid") || continue
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "IMAGETRUST_TEST_RUN=$run" || continue
    echo "stopping PostgreSQL $pid ($data)"
    runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || kill_recorded "$pid"
    rm -rf "${data%/data}"
  done
}

cleanup() {
  # The tests run in a process group of their own (setsid below): stop exactly that group,
  # then what left it (daemons) through the pid files of this run's folders.
  if [ -n "${tests_pid:-}" ]; then
    kill -TERM -- "-$tests_pid" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$tests_pid" 2>/dev/null || true
  fi
  cleanup_run "$IMAGETRUST_TEST_RUN"
}

# `scripts/test.sh --cleanup RUN` stops what an interrupted run RUN left behind (a run started
# by hand with IMAGETRUST_TEST_RUN=RUN node --test …), and nothing else.
if [ "${1:-}" = "--cleanup" ]; then
  [ -n "${2:-}" ] || { echo "usage: $0 --cleanup RUN" >&2; exit 64; }
  cleanup_run "$2"
  exit 0
fi

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

trap cleanup EXIT

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
setsid npm test &
tests_pid=$!
wait "$tests_pid"
