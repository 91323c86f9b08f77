#!/usr/bin/env bash
# Bounded soak of the reference server on 127.0.0.1: mixed load (wrk: Success and Updated, 10 KiB
# and 1 MiB, HTTP/1.1 keep-alive), hostile clients (slow heads, stalled readers, idle
# connections: bench/soak_clients.py), updates through the control interface, and a restart by
# SIGTERM every SOAK_RESTART_EVERY seconds; payloads are checked after every restart and at the
# end. It stops by itself after SOAK_SECONDS and stops everything it started.
#
#   bash bench/soak.sh            # 180 s; figures in bench/results/soak.md (docs/server-operations.md)
#
# Knobs: SOAK_SECONDS (180), SOAK_RESTART_EVERY (45), SOAK_PORT (18491, control +1, ops +2),
# SOAK_SLOW (100), SOAK_STALLED (20), SOAK_IDLE (50), SOAK_SERVER (a pixstore-server binary; built
# with cargo --release when unset), SOAK_RESULTS (bench/results).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
cd "$ROOT"
SECONDS_TOTAL=${SOAK_SECONDS:-180}
RESTART_EVERY=${SOAK_RESTART_EVERY:-45}
PORT=${SOAK_PORT:-18491}
CONTROL_PORT=$((PORT + 1))
OPS_PORT=$((PORT + 2))
RESULTS=${SOAK_RESULTS:-$BENCH_DIR/results}
HOST=127.0.0.1
while read -r var; do unset "$var"; done < <(compgen -e | grep '^PIXSTORE_' || true)

die() { printf '\nbench/soak.sh: FAILED: %s\n' "$*" >&2; exit 1; }
PIDS=()
SERVER_PID=""
WORK=$(mktemp -d /tmp/pixstore-soak.XXXXXX)
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}" $SERVER_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}" $SERVER_PID; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || die "wrk is missing (apt-get install -y wrk)"
  flock /tmp/apt.lock apt-get install -y -qq wrk >/dev/null 2>&1 || { flock /tmp/apt.lock apt-get update -qq && flock /tmp/apt.lock apt-get install -y -qq wrk; }
fi
command -v curl >/dev/null || die "curl is missing"
if [ -n "${SOAK_SERVER:-}" ]; then
  SERVER=$SOAK_SERVER
else
  cargo build --release --locked -q --bin pixstore-server   # the default members' feature set
  SERVER=${CARGO_TARGET_DIR:-$ROOT/target}/release/pixstore-server
fi
mkdir -p "$RESULTS" "$WORK/data"
python3 "$BENCH_DIR/make_png.py" 10240 "$WORK/10k.png"
python3 "$BENCH_DIR/make_png.py" 1048576 "$WORK/1m.png"

start_server() {
  "$SERVER" --data-dir "$WORK/data" --window-ms 3600000 --control --control-listen "$HOST:$CONTROL_PORT" \
    --ops-listen "$HOST:$OPS_PORT" --access-log=false --idle-timeout-ms 20000 --header-read-timeout-ms 5000 \
    serve --listen-host "$HOST" --port "$PORT" --print-addresses >"$WORK/addr" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$WORK/addr" ] && return 0; sleep 0.1; done
  die "the server did not start: $(tail -n 20 "$WORK/server.log")"
}
: >"$WORK/addr"
start_server
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }
urlid() { python3 -c "import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=''))" "$1"; }
for s in 10k 1m; do
  curl -sf -X POST --data-binary "@$WORK/$s.png" "http://$HOST:$CONTROL_PORT/images" >"$WORK/$s.json" || die "create $s"
done
path() { echo "/pixstore-image/$(urlid "$(json "$WORK/$1.json" id)")"; }
proof() { json "$WORK/$1.json" statelessProof; }

rss_max=0 fds_max=0 samples=0 restarts=0 updates=0 update_failures=0 checks=0
sample() {
  local rss fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
  fds=$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  [ "$fds" -gt "$fds_max" ] && fds_max=$fds
  samples=$((samples + 1))
  echo "$((SECONDS - started)) $rss $fds" >>"$WORK/samples"
}
# check_updated S: a fresh record of image S, then its Updated payload: state 1, the image's
# length + 70 bytes, and a token at least the record's (the 10 KiB image is being updated).
check_updated() {
  local s=$1
  curl -sf "http://$HOST:$CONTROL_PORT/images/$(urlid "$(json "$WORK/$s.json" id)")/record" >"$WORK/$s.fresh.json" || die "fresh record of $s"
  python3 - "http://$HOST:$PORT$(path "$s")" "$(json "$WORK/$s.fresh.json" statelessProof)" "$(json "$WORK/$s.fresh.json" token)" \
    "$(stat -c %s "$WORK/$s.png")" <<'PY' || die "wrong payload for $s after $restarts restarts"
import sys, urllib.request
url, proof, token, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = urllib.request.urlopen(urllib.request.Request(url, headers={"x-pixstore-proof": proof}), timeout=30).read()
got = int.from_bytes(body[1:9], "little")
ok = body[:1] == b"\x01" and len(body) == size + 70 and got >= token
if not ok:
    sys.exit(f"state {body[:1]!r}, {len(body)} bytes (want {size + 70}), token {got} (record {token})")
PY
}
check_all() {   # every image answers with its current version, decodable
  check_updated 10k
  check_updated 1m
  checks=$((checks + 1))
}

started=$SECONDS
end=$((started + SECONDS_TOTAL))
python3 "$BENCH_DIR/soak_clients.py" "$PORT" "$SECONDS_TOTAL" "$(path 1m)" "$(proof 1m)" "${SOAK_SLOW:-100}" "${SOAK_STALLED:-20}" "${SOAK_IDLE:-50}" >"$WORK/clients.json" &
PIDS+=($!)
# Updates of the 10 KiB image (the same bytes again: a new key, iv and token each time).
(
  while [ $SECONDS -lt $end ]; do
    if curl -sf -o /dev/null -X PUT --data-binary "@$WORK/10k.png" "http://$HOST:$CONTROL_PORT/images/$(urlid "$(json "$WORK/10k.json" id)")"; then
      echo ok >>"$WORK/updates"
    else
      echo fail >>"$WORK/updates"
    fi
    sleep 0.2
  done
) &
PIDS+=($!)
# wrk in slices between restarts; a slice's connection errors at a restart are expected.
: >"$WORK/wrk.txt"
while [ $SECONDS -lt $end ]; do
  slice=$(( end - SECONDS < RESTART_EVERY ? end - SECONDS : RESTART_EVERY ))
  [ "$slice" -lt 1 ] && break
  for s in 10k 1m; do
    wrk -t1 -c8 -d"$((slice))s" -H "x-pixstore-proof: $(proof "$s")" -H "x-pixstore-token: $(json "$WORK/$s.json" token)" \
      "http://$HOST:$PORT$(path "$s")" >>"$WORK/wrk.txt" 2>&1 &
    PIDS+=($!)
  done
  slice_end=$((SECONDS + slice))
  while [ $SECONDS -lt $slice_end ]; do sample; sleep 1; done
  wait "${PIDS[@]: -2}" 2>/dev/null || true
  check_all
  if [ $SECONDS -lt $end ]; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || die "the server exited non-zero on SIGTERM"
    restarts=$((restarts + 1))
    : >"$WORK/addr"
    start_server
    check_all
  fi
done
wait "${PIDS[0]}" || true
sample
check_all
requests=$(awk '/requests in/ {n += $1} END {print n + 0}' "$WORK/wrk.txt")
non2xx=$(awk '/Non-2xx/ {n += $NF} END {print n + 0}' "$WORK/wrk.txt")
sockerr=$(awk -F'[ ,]+' '/Socket errors/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) n += $i} END {print n + 0}' "$WORK/wrk.txt")
updates=$(grep -c ok "$WORK/updates" || true)
update_failures=$(grep -c fail "$WORK/updates" || true)
rss_end=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")
fds_end=$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
errors_logged=$(grep -c '"level":"ERROR"\|ERROR' "$WORK/server.log" || true)
{
  echo "# Soak: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
  echo
  echo "- duration: ${SECONDS_TOTAL} s, restarts by SIGTERM: $restarts (every ${RESTART_EVERY} s), payload checks passed: $checks"
  echo "- load: $(uptime)"
  echo "- wrk (2 x 8 connections, Success at 10 KiB and 1 MiB): $requests responses, $non2xx non-2xx, $sockerr socket errors (connections cut by the restarts count here)"
  echo "- updates through the control interface: $updates acknowledged, $update_failures failed (those during restarts)"
  echo "- hostile clients: $(cat "$WORK/clients.json")"
  echo "- server RSS: max $((rss_max / 1024)) MiB over $samples samples, $((rss_end / 1024)) MiB at the end; open descriptors: max $fds_max, $fds_end at the end"
  echo "- error lines in the server log: $errors_logged"
} | tee "$RESULTS/soak.md"
