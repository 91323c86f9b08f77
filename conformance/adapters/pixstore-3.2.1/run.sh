#!/usr/bin/env bash
# Runs the conformance suite against pixstore 3.2.1 (npm) through the control adapter, with its
# known-failing list: the run passes only if 3.2.1 fails exactly the listed checks, each with the
# listed code. Then runs 3.2.1's own decoder over the wire vectors, with its list.
# Needs: npm ci --prefix interop (the README's command); a built
# pixstore-conformance (cargo build -p conformance).
set -euo pipefail
cd "$(dirname "$0")/../../.."
bin=${PIXSTORE_CONFORMANCE:-target/debug/pixstore-conformance}
out=$(mktemp)
node conformance/adapters/pixstore-3.2.1/control.mjs --window 1000 >"$out" 2>&1 &
adapter=$!
trap 'kill $adapter 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
  grep -q '^{' "$out" && break
  sleep 0.1
done
control=$(grep '^{' "$out" | head -n 1 | sed 's/.*"control":"\([^"]*\)".*/\1/')
[ -n "$control" ] || { cat "$out"; echo "the 3.2.1 adapter did not start" >&2; exit 1; }
"$bin" --control "$control" --known-failing conformance/known-failing/pixstore-3.2.1.txt ${PIXSTORE_321_ARGS:-}
"$bin" decoder --known-failing conformance/known-failing/pixstore-3.2.1-decoder.txt -- node conformance/adapters/pixstore-3.2.1/decoder.mjs
