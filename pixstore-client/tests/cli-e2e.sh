#!/usr/bin/env bash
# End to end with both binaries, as a user runs them: `pixstore-server put` stores an image,
# `pixstore-client get` fetches it into a file identical to the original (the issue's "done
# when"), a second get is answered by the cache with the server stopped, `cache ls` lists it.
#
#   bash pixstore-client/tests/cli-e2e.sh        (from anywhere; builds the two binaries)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --locked -p pixstore-server -p pixstore-client --bins
bin=target/debug
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

{ printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR'; head -c 1500000 /dev/urandom; } > "$work/photo.png"

"$bin/pixstore-server" --data-dir "$work/data" serve --listen-host 127.0.0.1 --port 0 --ops-listen 127.0.0.1:0 --print-addresses \
  > "$work/addresses.json" 2> "$work/server.log" &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/addresses.json" ] && break; sleep 0.1; done
port=$(sed -E 's/.*"endpoint":"127\.0\.0\.1:([0-9]+)".*/\1/' "$work/addresses.json")
[ -n "$port" ] || { cat "$work/server.log"; echo "cli-e2e: the server did not start" >&2; exit 1; }

"$bin/pixstore-server" --data-dir "$work/data" put "$work/photo.png" > "$work/record.json"
client=("$bin/pixstore-client" --host 127.0.0.1 --port "$port" --cache-dir "$work/cache")

"${client[@]}" get --record "$work/record.json" --out "$work/out.png"
cmp "$work/photo.png" "$work/out.png"

kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
"${client[@]}" get --record "$work/record.json" --out "$work/again.png" 2> "$work/get.log"
cat "$work/get.log" >&2
grep -q 'from the cache' "$work/get.log"
cmp "$work/photo.png" "$work/again.png"
"${client[@]}" cache ls
echo "cli-e2e: pixstore-server put -> pixstore-client get: identical file, cache hit with the server stopped"
