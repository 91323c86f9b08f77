#!/usr/bin/env bash
# CI: the conformance suite against the reference server's own transports: its TLS listener
# (rustls; HTTP/2 by ALPN, then HTTP/1.1 only), with the control interface on TLS too, and
# HTTP/2 with prior knowledge (h2c) on a plain listener. (.ci/conformance.sh step 3 runs the
# suite through a TLS proxy in front of the plain server; this runs it against the server's own.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --locked -p conformance --bin pixstore-conformance
cargo build -q --release --locked -p pixstore-server --bin pixstore-server --example tls_reference
bin=${CARGO_TARGET_DIR:-target}/release
work=${TRANSPORTS_WORK:-$(mktemp -d)}
pids=()
cleanup() {
  exec 3>&- 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${TRANSPORTS_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
wait_line() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.1; done; cat "$2" >&2; echo "no address line in $1" >&2; return 1; }

mkfifo "$work/stdin"
"$bin/examples/tls_reference" "$work/tls" <"$work/stdin" >"$work/tls.json" 2>"$work/tls.log" &
pids+=($!)
exec 3>"$work/stdin"   # the server runs while this end is open
wait_line "$work/tls.json" "$work/tls.log"
control=$(field "$work/tls.json" control)
ca=$(field "$work/tls.json" caCert)
echo "--- the suite over the server's TLS, HTTP/2 by ALPN"
"$bin/pixstore-conformance" --control "$control" --ca-cert "$ca" --format json --output "$work/tls-h2.json" >/dev/null || true
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["target"]["protocol"], r["summary"]); assert r["summary"]["failed"]==0 and r["target"]["protocol"]=="HTTP/2"' "$work/tls-h2.json"
echo "--- the suite over the server's TLS, HTTP/1.1"
"$bin/pixstore-conformance" --control "$control" --ca-cert "$ca" --http1-only --format json --output "$work/tls-h1.json" >/dev/null || true
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["target"]["protocol"], r["summary"]); assert r["summary"]["failed"]==0 and r["target"]["protocol"]=="HTTP/1.1"' "$work/tls-h1.json"

echo "--- the suite over h2c (prior knowledge) against the plain server"
"$bin/pixstore-server" --data-dir "$work/plain" --window-ms=1000 --skew-ms 0 serve --listen-host 127.0.0.1 --port 0 \
  --control --control-listen 127.0.0.1:0 --ops=false --print-addresses >"$work/plain.json" 2>"$work/plain.log" &
pids+=($!)
wait_line "$work/plain.json" "$work/plain.log"
"$bin/pixstore-conformance" --control "http://$(field "$work/plain.json" control)" --http2-prior-knowledge \
  --format json --output "$work/h2c.json" >/dev/null || true
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["target"]["protocol"], r["summary"]); assert r["summary"]["failed"]==0 and r["target"]["protocol"]=="HTTP/2"' "$work/h2c.json"
