#!/usr/bin/env bash
# CI: the deployment files under deploy/ are valid where this machine can tell.
# - systemd unit: `systemd-analyze verify` (installs systemd if missing; it needs the ExecStart
#   binary, so a release build is put where the unit expects it, in a temporary root).
# - TOML example: parsed by the server itself (`pixstore-server --config deploy/server.toml`).
# - Dockerfile: built only when a Docker engine answers (`docker info`); otherwise skipped, said.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/release/pixstore-server
cargo build --release --locked -q --bin pixstore-server   # the default members' feature set
echo "--- deploy/server.toml: parsed and validated by pixstore-server"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" --config deploy/server.toml --data-dir "$work/data" --ops=false keys init >/dev/null 2>&1 || { echo "deploy/server.toml is not accepted" >&2; "$bin" --config deploy/server.toml --data-dir "$work/data" keys init; exit 1; }
echo "--- deploy/pixstore-server.service: systemd-analyze verify"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    flock /tmp/apt.lock apt-get install -y -qq systemd >/dev/null
  fi
fi
if command -v systemd-analyze >/dev/null 2>&1; then
  install -d /usr/local/bin
  if [ ! -e /usr/local/bin/pixstore-server ]; then
    # The unit names /usr/local/bin/pixstore-server; verify needs it to exist.
    ln -s "$(realpath "$bin")" /usr/local/bin/pixstore-server
    placed=1
  fi
  out=$(systemd-analyze verify deploy/pixstore-server.service 2>&1 || true)
  [ "${placed:-0}" = 1 ] && rm -f /usr/local/bin/pixstore-server
  # Lines about the build machine itself (no running systemd, units of the host) are not ours.
  ours=$(echo "$out" | grep -F 'pixstore-server.service' || true)
  if [ -n "$ours" ]; then
    echo "$out"
    echo "deploy/pixstore-server.service: systemd-analyze verify reported problems" >&2
    exit 1
  fi
  echo "ok"
else
  echo "systemd-analyze not available: skipped"
fi
echo "--- deploy/Dockerfile"
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build -q -f deploy/Dockerfile -t pixstore-server:ci .
else
  echo "no Docker engine answers here (docker info fails): the image build is skipped"
fi
