#!/usr/bin/env bash
# Resident memory of pixstore-server binaries before and after a load of Updated responses:
#
#   bash bench/after_load_rss.sh BIN [BIN...]
#
# For each binary and each size of RSS_SIZES ("10k 1m"): a new data folder with one image of that
# size, the server on CPU RSS_SERVER_CPU (0; its default tokio workers), `wrk -t1 -c64 -d10s` on CPU
# RSS_LOAD_CPU (1) asking for Updated responses (proof, no token), and VmRSS from /proc/PID/status
# read warm (the image served once), right after the load, and RSS_SETTLE_S (5) seconds after.
# Prints one line per binary and size; RSS_OUT (a temporary folder) keeps the data and wrk output.
# Needs wrk, taskset, python3. Used for docs/server-benchmarks.md ("The allocator").
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
SIZES=${RSS_SIZES:-10k 1m}
SERVER_CPU=${RSS_SERVER_CPU:-0}
LOAD_CPU=${RSS_LOAD_CPU:-1}
SETTLE=${RSS_SETTLE_S:-5}
OUT=${RSS_OUT:-$(mktemp -d)}
mkdir -p "$OUT"
for tool in wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "after_load_rss.sh: $tool not found" >&2; exit 1; }
done
declare -A BYTES=([10k]=10240 [100k]=102400 [1m]=1048576)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; true' EXIT
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

printf '%-40s %5s %10s %12s %14s\n' binary size "warm KiB" "after KiB" "after+${SETTLE}s KiB"
n=0
for bin in "$@"; do
  [ -x "$bin" ] || { echo "after_load_rss.sh: $bin is not an executable" >&2; exit 1; }
  for s in $SIZES; do
    [ -n "${BYTES[$s]:-}" ] || { echo "after_load_rss.sh: unknown size $s (10k, 100k, 1m)" >&2; exit 1; }
    n=$((n + 1))
    dir=$OUT/$n
    mkdir -p "$dir"
    python3 "$BENCH_DIR/make_png.py" "${BYTES[$s]}" "$dir/image.png"
    NO_COLOR=1 "$bin" --data-dir "$dir/data" put "$dir/image.png" >"$dir/record.json" 2>"$dir/put.log"
    id=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$(field "$dir/record.json" id)")
    proof=$(field "$dir/record.json" statelessProof)
    NO_COLOR=1 taskset -c "$SERVER_CPU" "$bin" --data-dir "$dir/data" serve --listen-host 127.0.0.1 --port 0 \
      --access-log=false --ops=false --print-addresses >"$dir/addr" 2>"$dir/server.log" &
    PID=$!
    for _ in $(seq 100); do [ -s "$dir/addr" ] && break; sleep 0.1; done
    addr=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["endpoint"])' "$dir/addr")
    url="http://$addr/pixstore-image/$id"
    python3 -c 'import sys,urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"x-pixstore-proof": sys.argv[2]})).read()' "$url" "$proof"
    warm=$(rss "$PID")
    taskset -c "$LOAD_CPU" wrk -t1 -c64 -d10s -H "x-pixstore-proof: $proof" "$url" >"$dir/wrk.txt"
    after=$(rss "$PID")
    sleep "$SETTLE"
    settled=$(rss "$PID")
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    grep -q '^Requests/sec' "$dir/wrk.txt" || { echo "after_load_rss.sh: wrk failed: $(cat "$dir/wrk.txt")" >&2; exit 1; }
    printf '%-40s %5s %10s %12s %14s\n' "$(basename "$bin")" "$s" "$warm" "$after" "$settled"
  done
done
