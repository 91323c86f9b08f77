#!/usr/bin/env bash
# CI: the conformance suite against the reference server over HTTPS with HTTP/2 (ALPN h2), HTTPS
# with HTTP/1.1, and HTTP/2 with prior knowledge (h2c). The suite speaks plain HTTP/1.1, so
# pixstore-server/examples/conformance_bridge.rs runs the server behind a bridge that forwards
# every request byte for byte over the transport under test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --locked -p conformance --bin pixstore-conformance
cargo build -q --release --locked -p pixstore-server --example conformance_bridge
bin=${CARGO_TARGET_DIR:-target}/release
for mode in tls-h2 tls-h1 h2c; do
  echo "--- the suite through $mode"
  work=$(mktemp -d)
  mkfifo "$work/stdin"
  "$bin/examples/conformance_bridge" "$mode" <"$work/stdin" >"$work/addr" 2>"$work/log" &
  pid=$!
  exec 3>"$work/stdin"   # the bridge runs while this end is open
  for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
  [ -s "$work/addr" ] || { cat "$work/log"; echo "the bridge did not start" >&2; exit 1; }
  endpoint=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['endpoint'])" "$work/addr")
  control=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['control'])" "$work/addr")
  rc=0
  "$bin/pixstore-conformance" --endpoint "$endpoint" --control "$control" | tail -n 3 || rc=$?
  exec 3>&-
  wait "$pid" || true
  rm -rf "$work"
  [ "$rc" = 0 ] || { echo "the conformance suite failed through $mode" >&2; exit "$rc"; }
done
