#!/usr/bin/env bash
# Instructions per request (callgrind: exact counts, repeatable on a busy machine) of one or more
# pixstore-server binaries, for Success responses at each size:
#
#   bash bench/profile.sh target/release/pixstore-server [/path/to/main/pixstore-server ...]
#
# Each binary serves under `valgrind --tool=callgrind` (instrumentation off at start); after 200
# warm-up requests, instrumentation is switched on, PROFILE_REQUESTS (2000) requests are made one after
# another on one keep-alive connection (bench/profile_client.py), and the count is dumped:
# instructions / requests. The callgrind files stay in PROFILE_OUT (bench/results/callgrind) for
# callgrind_annotate. Sizes: PROFILE_SIZES ("10k 100k").
#
# Then (where strace is installed; PROFILE_SYSCALLS=0 skips it) system calls per request: each
# binary serves without valgrind, `strace -c -f` is attached after the warm-up for the same
# PROFILE_REQUESTS requests, and its table is kept (strace.N-SIZE.txt). Callgrind counts only
# user-space instructions; on loopback most of a small response's CPU time is in the kernel, so
# the number of calls is the other half of the picture.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${PROFILE_OUT:-$BENCH_DIR/results/callgrind}
N=${PROFILE_REQUESTS:-2000}
SIZES=${PROFILE_SIZES:-10k 100k}
PORT=${PROFILE_PORT:-18495}
declare -A BYTES=([10k]=10240 [100k]=102400 [1m]=1048576)
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install -y valgrind)" >&2; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/pixstore-profile.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }
urlid() { python3 -c "import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=''))" "$1"; }
printf '| binary | size | requests | instructions | instructions / request |\n|---|---|---|---|---|\n' >"$OUT/summary.md"
n=0
for bin in "$@"; do
  n=$((n + 1))
  for s in $SIZES; do
    data="$WORK/data-$n-$s"
    python3 "$BENCH_DIR/make_png.py" "${BYTES[$s]}" "$WORK/$s.png"
    PIXSTORE_LOG=error "$bin" --data-dir "$data" --window-ms 3600000 put "$WORK/$s.png" >"$WORK/rec-$n-$s.json"
    cp "$WORK/rec-$n-$s.json" "$WORK/rec.json"
    extra=()
    if "$bin" serve --help 2>/dev/null | grep -q -- '--access-log'; then extra=(--access-log=false --ops=false); fi
    out="$OUT/callgrind.$n-$s.out"
    TOKIO_WORKER_THREADS=1 PIXSTORE_LOG=error valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
      "$bin" --data-dir "$data" --window-ms 3600000 serve --listen-host 127.0.0.1 --port "$PORT" "${extra[@]}" 2>"$WORK/vg.log" &
    PID=$!
    target="/pixstore-image/$(urlid "$(json "$WORK/rec.json" id)")"
    python3 "$BENCH_DIR/profile_client.py" "$PORT" "$target" "$(json "$WORK/rec.json" statelessProof)" "$(json "$WORK/rec.json" token)" 200 wait
    callgrind_control -i on "$PID" >/dev/null
    python3 "$BENCH_DIR/profile_client.py" "$PORT" "$target" "$(json "$WORK/rec.json" statelessProof)" "$(json "$WORK/rec.json" token)" "$N"
    callgrind_control -i off "$PID" >/dev/null
    callgrind_control -d "$PID" >/dev/null
    sleep 1
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    ir=$(for f in "$out"*; do grep -h '^summary:\|^totals:' "$f" | awk '{print $2}'; done | sort -n | tail -n 1)
    printf '| %s | %s | %s | %s | %s |\n' "$bin" "$s" "$N" "$ir" "$((ir / N))" | tee -a "$OUT/summary.md"
  done
done

command -v strace >/dev/null && [ "${PROFILE_SYSCALLS:-1}" = 1 ] || exit 0
printf '\n| binary | size | requests | system calls | calls / request | by call (per request) |\n|---|---|---|---|---|---|\n' >>"$OUT/summary.md"
n=0
for bin in "$@"; do
  n=$((n + 1))
  for s in $SIZES; do
    data="$WORK/data-$n-$s"
    cp "$WORK/rec-$n-$s.json" "$WORK/rec.json" # the image the callgrind run stored
    extra=()
    if "$bin" serve --help 2>/dev/null | grep -q -- '--access-log'; then extra=(--access-log=false --ops=false); fi
    TOKIO_WORKER_THREADS=1 PIXSTORE_LOG=error "$bin" --data-dir "$data" --window-ms 3600000 serve --listen-host 127.0.0.1 --port "$PORT" "${extra[@]}" 2>"$WORK/srv.log" &
    PID=$!
    target="/pixstore-image/$(urlid "$(json "$WORK/rec.json" id)")"
    args=("$PORT" "$target" "$(json "$WORK/rec.json" statelessProof)" "$(json "$WORK/rec.json" token)")
    python3 "$BENCH_DIR/profile_client.py" "${args[@]}" 200 wait
    out="$OUT/strace.$n-$s.txt"
    strace -f -c -p "$PID" -o "$out" 2>/dev/null &
    SPID=$!
    sleep 1 # attached to every thread before the first request
    python3 "$BENCH_DIR/profile_client.py" "${args[@]}" "$N"
    kill -INT "$SPID"; wait "$SPID" 2>/dev/null || true
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    calls=$(awk '$NF == "total" {print $4}' "$out")
    by=$(awk -v n="$N" 'NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" && $4 / n >= 0.05 {printf "%s %.2f, ", $NF, $4 / n}' "$out" | sed 's/, $//')
    printf '| %s | %s | %s | %s | %s | %s |\n' "$bin" "$s" "$N" "$calls" "$(awk -v c="$calls" -v n="$N" 'BEGIN {printf "%.2f", c / n}')" "$by" | tee -a "$OUT/summary.md"
  done
done
