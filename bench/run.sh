#!/usr/bin/env bash
# Load benchmark of the default endpoint: pixstore-server (this repository) against pixstore 3.2.1's
# default endpoint (npm, Node) and nginx serving the same payload bytes as static files.
#
#   bash bench/run.sh     # ~8 minutes of measuring (36 cells x (2 s warm-up + 10 s)), plus at most
#                         # 5 minutes re-measuring cells that other processes disturbed
#
# Everything runs on 127.0.0.1. Results: bench/results/results.md (table), results.tsv, raw/ (wrk
# outputs), environment.txt. Knobs (environment): BENCH_DURATION (10s), BENCH_WARMUP (2s, 0 = none),
# BENCH_THREADS (2), BENCH_CONNECTIONS ("16 64"), BENCH_SIZES ("10k 100k 1m"; also 4k),
# BENCH_TARGETS ("ours nginx node"), BENCH_KINDS ("success updated"), BENCH_OUR_PORT (18481),
# BENCH_NODE_PORT (18482), BENCH_NGINX_PORT (18483), BENCH_WINDOW_MS (3600000: our server checks
# proofs; -1 turns the check off), BENCH_OTHER_MAX (25: re-measure a cell when other processes
# used more CPU than this %), BENCH_RETRY_BUDGET (300 s), BENCH_ROUNDS (1: rounds of every
# target per row, medians reported), BENCH_RESULTS (bench/results),
# BENCH_KEEP_WORK (0).
#
# Pinned mode (BENCH_PIN=1): every server runs on CPU BENCH_SERVER_CPU (0) and wrk on
# BENCH_LOAD_CPU (1), with taskset; nginx runs one worker, our server one tokio worker
# (TOKIO_WORKER_THREADS=1); defaults become 64 connections, 8 s cells, Success only: requests/s
# per server core. BENCH_BASELINE_BIN=PATH adds the target "main": a pixstore-server binary built
# from another commit (today's main), served the same way on BENCH_MAIN_PORT (18484), so "no
# loss against today" is shown by the same script in the same run.
# See docs/server-benchmarks.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
cd "$ROOT"

PIN=${BENCH_PIN:-0}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
BASELINE_BIN=${BENCH_BASELINE_BIN:-}
if [ "$PIN" = 1 ]; then
  DURATION=${BENCH_DURATION:-8s}
  CONNECTIONS=${BENCH_CONNECTIONS:-64}
  KINDS=${BENCH_KINDS:-success}
else
  DURATION=${BENCH_DURATION:-10s}
  CONNECTIONS=${BENCH_CONNECTIONS:-16 64}
  KINDS=${BENCH_KINDS:-success updated}
fi
WARMUP=${BENCH_WARMUP:-2s}
THREADS=${BENCH_THREADS:-2}
SIZES=${BENCH_SIZES:-10k 100k 1m}
TARGETS=${BENCH_TARGETS:-ours ${BASELINE_BIN:+main }nginx node}
OUR_PORT=${BENCH_OUR_PORT:-18481}
MAIN_PORT=${BENCH_MAIN_PORT:-18484}
NODE_PORT=${BENCH_NODE_PORT:-18482}
NGINX_PORT=${BENCH_NGINX_PORT:-18483}
WINDOW_MS=${BENCH_WINDOW_MS:-3600000}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results}
KEEP_WORK=${BENCH_KEEP_WORK:-0}
HOST=127.0.0.1

declare -A SIZE_BYTES=([4k]=4096 [10k]=10240 [100k]=102400 [1m]=1048576)

# "${ON_SERVER[@]}" CMD...: a server (pinned to SERVER_CPU in pinned mode); ON_LOAD: wrk. taskset
# execs the command, so $! is the server's own pid (its CPU time is read from /proc).
if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null || { echo "bench/run.sh: BENCH_PIN=1 needs taskset (util-linux)" >&2; exit 1; }
  ON_SERVER=(taskset -c "$SERVER_CPU")
  ON_LOAD=(taskset -c "$LOAD_CPU")
  export TOKIO_WORKER_THREADS=1
  NGINX_WORKERS=1
else
  ON_SERVER=()
  ON_LOAD=()
  NGINX_WORKERS=2
fi

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nbench/run.sh: FAILED: %s\n' "$*" >&2; exit 1; }
has() { [[ " $TARGETS " == *" $1 "* ]]; }

# Reproducible: no PIXSTORE_* settings from the caller's environment reach our server.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^PIXSTORE_' || true)

# ---------------------------------------------------------------- cleanup of everything we start
PIDS=()        # every long-running process this script started
WRK_PID=""
WORK=""
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  [ -n "$WRK_PID" ] && kill -TERM "$WRK_PID" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "bench/run.sh: process $pid did not stop on SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ -d "$RESULTS/raw" ]; then
      mkdir -p "$RESULTS/raw/logs"
      cp "$WORK"/logs/* "$RESULTS/raw/logs/" 2>/dev/null || true
    fi
    if [ "$KEEP_WORK" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  fi
  if [ "$rc" -ne 0 ]; then echo "bench/run.sh: exit $rc (all started processes stopped)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# wait_until NAME PID COMMAND...: poll COMMAND for 20 s while PID is alive.
wait_until() {
  local name=$1 pid=$2
  shift 2
  for _ in $(seq 200); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (log: see below)
$(tail -n 20 "$WORK/logs/$name.log" 2>/dev/null)"
    sleep 0.1
  done
  die "$name did not become ready within 20 s"
}

# ---------------------------------------------------------------- tools
step "tools"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root"
  echo "installing: ${missing[*]}"
  apt-get update
  # Debian starts no service here when a policy-rc.d forbids it; we never use the system nginx.
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v cargo >/dev/null || die "cargo not found (a Rust toolchain is needed to build the server)"

# pixstore 3.2.1 from the lockfile, with better-sqlite3's native module built.
if has node; then
  if [ "$(node -p "try { require('./interop/node_modules/pixstore/package.json').version } catch { '' }")" != 3.2.1 ] ||
    ! node -e "new (require('./interop/node_modules/better-sqlite3'))(':memory:')" 2>/dev/null; then
    echo "npm ci --prefix interop (the README's command; better-sqlite3's native module builds in about a minute)"
    npm ci --no-audit --no-fund --prefix interop
  fi
  node -e "new (require('./interop/node_modules/better-sqlite3'))(':memory:')" || die "better-sqlite3 does not load"
fi

step "build: cargo build --release --locked --bin pixstore-server"
cargo build --release --locked --bin pixstore-server
SERVER=${CARGO_TARGET_DIR:-$ROOT/target}/release/pixstore-server
[ -x "$SERVER" ] || die "$SERVER not built"

if has main; then
  [ -x "$BASELINE_BIN" ] || die "BENCH_BASELINE_BIN=$BASELINE_BIN is not an executable pixstore-server"
fi
for port in $OUR_PORT $NODE_PORT $NGINX_PORT $MAIN_PORT; do
  port_busy "$port" && die "port $port on $HOST is already in use (set BENCH_*_PORT)"
done

WORK=$(mktemp -d /tmp/pixstore-bench.XXXXXX)
chmod 755 "$WORK"   # nginx's workers run as nobody when started as root
mkdir -p "$WORK/img" "$WORK/logs" "$WORK/ours" "$WORK/main" "$WORK/node" "$WORK/nginx/html/pixstore-image"
rm -rf "$RESULTS/raw" "$RESULTS/cells.tsv" "$RESULTS/results.md" "$RESULTS/results.tsv"
mkdir -p "$RESULTS/raw"

step "images: PNG files of exactly 10 KiB, 100 KiB and 1 MiB (random pixels, stored uncompressed)"
for s in $SIZES; do
  [ -n "${SIZE_BYTES[$s]:-}" ] || die "unknown size $s (4k, 10k, 100k, 1m)"
  python3 "$BENCH_DIR/make_png.py" "${SIZE_BYTES[$s]}" "$WORK/img/$s.png"
  echo "$s.png: $(stat -c %s "$WORK/img/$s.png") bytes"
done

json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r=r[sys.argv[3]] if len(sys.argv)>3 else r; print(r[sys.argv[2]])" "$@"; }
urlid() { python3 -c "import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=''))" "$1"; }

# For every target and size: URL, proof and token (Success sends the token, Updated does not).
declare -A URL PROOF TOKEN

# ---------------------------------------------------------------- (a) our server
if has ours || has nginx; then
  step "(a) pixstore-server on $HOST:$OUR_PORT (--window-ms $WINDOW_MS)"
  for s in $SIZES; do
    NO_COLOR=1 "$SERVER" --data-dir "$WORK/ours" --window-ms "$WINDOW_MS" put "$WORK/img/$s.png" >"$WORK/ours-$s.json" 2>>"$WORK/logs/ours-put.log"
    URL[ours,$s]="http://$HOST:$OUR_PORT/pixstore-image/$(urlid "$(json "$WORK/ours-$s.json" id)")"
    PROOF[ours,$s]=$(json "$WORK/ours-$s.json" statelessProof)
    TOKEN[ours,$s]=$(json "$WORK/ours-$s.json" token)
  done
  # No access log (nginx runs with access_log off); the ops listener on a free port.
  NO_COLOR=1 "${ON_SERVER[@]}" "$SERVER" --data-dir "$WORK/ours" --window-ms "$WINDOW_MS" serve --port "$OUR_PORT" --listen-host "$HOST" \
    --access-log=false --ops-listen "$HOST:0" --print-addresses >"$WORK/ours.addr" 2>"$WORK/logs/ours.log" &
  OUR_PID=$!
  PIDS+=("$OUR_PID")
  wait_until ours "$OUR_PID" test -s "$WORK/ours.addr"
  echo "listening: $(cat "$WORK/ours.addr") (pid $OUR_PID)"
fi

# ---------------------------------------------------------------- (a') today's main, for "no loss"
if has main; then
  step "(a') baseline $BASELINE_BIN on $HOST:$MAIN_PORT (--window-ms $WINDOW_MS)"
  for s in $SIZES; do
    NO_COLOR=1 "$BASELINE_BIN" --data-dir "$WORK/main" --window-ms "$WINDOW_MS" put "$WORK/img/$s.png" >"$WORK/main-$s.json" 2>>"$WORK/logs/main-put.log"
    URL[main,$s]="http://$HOST:$MAIN_PORT/pixstore-image/$(urlid "$(json "$WORK/main-$s.json" id)")"
    PROOF[main,$s]=$(json "$WORK/main-$s.json" statelessProof)
    TOKEN[main,$s]=$(json "$WORK/main-$s.json" token)
  done
  # Served as ours is: no access log and the ops listener on a free port, where the baseline
  # has them (a baseline from before issue 11 has neither).
  main_extra=()
  if "$BASELINE_BIN" serve --help 2>/dev/null | grep -q -- '--access-log'; then
    main_extra=(--access-log=false --ops-listen "$HOST:0")
  fi
  NO_COLOR=1 "${ON_SERVER[@]}" "$BASELINE_BIN" --data-dir "$WORK/main" --window-ms "$WINDOW_MS" serve --port "$MAIN_PORT" --listen-host "$HOST" \
    "${main_extra[@]}" --print-addresses >"$WORK/main.addr" 2>"$WORK/logs/main.log" &
  MAIN_PID=$!
  PIDS+=("$MAIN_PID")
  wait_until main "$MAIN_PID" test -s "$WORK/main.addr"
  echo "listening: $(cat "$WORK/main.addr") (pid $MAIN_PID)"
fi

# ---------------------------------------------------------------- (b) pixstore 3.2.1
if has node; then
  step "(b) pixstore 3.2.1 default endpoint on $HOST:$NODE_PORT (node $(node --version))"
  images=()
  for s in $SIZES; do images+=("$s=$WORK/img/$s.png"); done
  (cd "$WORK/node" && exec env NODE_ENV=production "${ON_SERVER[@]}" node "$BENCH_DIR/node-backend.mjs" "$NODE_PORT" "$WORK/node" \
    "$WORK/node-records.json" "${images[@]}") >"$WORK/logs/node.log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  wait_until node "$NODE_PID" test -s "$WORK/node-records.json"
  for s in $SIZES; do
    URL[node,$s]="http://$HOST:$NODE_PORT/pixstore-image/$(urlid "$(json "$WORK/node-records.json" id "$s")")"
    PROOF[node,$s]=$(json "$WORK/node-records.json" statelessProof "$s")
    TOKEN[node,$s]=$(json "$WORK/node-records.json" token "$s")
  done
  echo "listening (pid $NODE_PID)"
fi

# ---------------------------------------------------------------- verify payloads (and save ours)
check() { python3 "$BENCH_DIR/check_payload.py" "$@" || die "wrong payload (see above)"; }
verify() {   # verify TARGET [save]
  local t=$1 save=${2:-} s n
  for s in $SIZES; do
    n=${SIZE_BYTES[$s]}
    if [ "$t" = nginx ]; then
      check "${URL[nginx,$s,success]}" --kind success --image-size "$n" --same-as "$WORK/ours-$s-success.bin" --label "nginx $s"
      check "${URL[nginx,$s,updated]}" --kind updated --image-size "$n" --record-token "${TOKEN[ours,$s]}" \
        --same-as "$WORK/ours-$s-updated.bin" --label "nginx $s"
      continue
    fi
    check "${URL[$t,$s]}" --kind success --image-size "$n" --proof "${PROOF[$t,$s]}" --token "${TOKEN[$t,$s]}" \
      --label "$t $s" ${save:+--save "$WORK/ours-$s-success.bin"}
    check "${URL[$t,$s]}" --kind updated --image-size "$n" --proof "${PROOF[$t,$s]}" --record-token "${TOKEN[$t,$s]}" \
      --label "$t $s" ${save:+--save "$WORK/ours-$s-updated.bin"}
    if [ "$t" = node ] || [ "$WINDOW_MS" != -1 ]; then
      # The proof really is checked: a wrong one gets InvalidProof (so the benchmark pays for it).
      check "${URL[$t,$s]}" --kind invalid-proof --image-size "$n" --proof "AAAAAAAAAAA=" --token "${TOKEN[$t,$s]}" --label "$t $s"
    fi
  done
}
step "verify payloads before measuring"
if has ours || has nginx; then verify ours save; fi
if has node; then verify node; fi
if has main; then verify main; fi

# ---------------------------------------------------------------- (c) nginx
if has nginx; then
  step "(c) nginx $("$NGINX" -v 2>&1 | sed 's/.*: //') serving our exact payload bytes on $HOST:$NGINX_PORT"
  for s in $SIZES; do
    for k in success updated; do
      cp "$WORK/ours-$s-$k.bin" "$WORK/nginx/html/pixstore-image/$s-$k"
      URL[nginx,$s,$k]="http://$HOST:$NGINX_PORT/pixstore-image/$s-$k"
    done
  done
  chmod -R a+rX "$WORK/nginx/html"
  cat >"$WORK/nginx/nginx.conf" <<EOF
# Minimal static server for the benchmark (generated by bench/run.sh).
worker_processes $NGINX_WORKERS;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/logs/nginx.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    # Our server and Node never close a keep-alive connection after N requests; nginx's default is 1000.
    keepalive_requests 1000000;
    types { }
    default_type application/octet-stream;
    client_body_temp_path $WORK/nginx/tmp-body;
    proxy_temp_path $WORK/nginx/tmp-proxy;
    fastcgi_temp_path $WORK/nginx/tmp-fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp-uwsgi;
    scgi_temp_path $WORK/nginx/tmp-scgi;
    server {
        listen $HOST:$NGINX_PORT;
        root $WORK/nginx/html;
        # The same response headers as the Pixstore endpoint sends.
        add_header Cache-Control no-store;
        add_header Access-Control-Allow-Origin *;
        add_header Access-Control-Allow-Methods "GET, OPTIONS";
        add_header Access-Control-Allow-Headers "Content-Type, Authorization, x-pixstore-proof, x-pixstore-token";
    }
}
EOF
  "$NGINX" -t -p "$WORK/nginx" -e "$WORK/logs/nginx.log" -c "$WORK/nginx/nginx.conf" 2>&1 | sed 's/^/  /'
  "${ON_SERVER[@]}" "$NGINX" -p "$WORK/nginx" -e "$WORK/logs/nginx.log" -c "$WORK/nginx/nginx.conf" >"$WORK/logs/nginx-stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_until nginx "$NGINX_PID" curl -sf -o /dev/null "http://$HOST:$NGINX_PORT/pixstore-image/${SIZES%% *}-success"
  for _ in $(seq 50); do [ "$(pgrep -c -P "$NGINX_PID" || true)" -ge "$NGINX_WORKERS" ] && break; sleep 0.1; done
  echo "listening (master pid $NGINX_PID, workers $(pgrep -P "$NGINX_PID" | tr '\n' ' '))"
  verify nginx
fi

# ---------------------------------------------------------------- environment
{
  echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpu:     $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "cpu flags (of interest): $(grep -m1 "^flags" /proc/cpuinfo | tr " " "\n" | grep -xE "aes|pclmulqdq|avx2|avx512f|vaes|vpclmulqdq" | tr "\n" " ")"
  echo "cpu id:  family $(awk -F': ' '/^cpu family/ {print $2; exit}' /proc/cpuinfo) model $(awk -F': ' '/^model\t/ {print $2; exit}' /proc/cpuinfo)"
  # What a system call costs on this host moves the ratios: a server with fewer calls per
  # request gains where kernel entry and exit are dear (docs/server-benchmarks.md, "The
  # runs of 2026-12-04, evening: another host").
  echo "mitigations: $(for v in spec_rstack_overflow tsa retbleed; do printf '%s: %s; ' "$v" "$(cat /sys/devices/system/cpu/vulnerabilities/$v 2>/dev/null || echo unknown)"; done)"
  echo "memory:  $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "kernel:  $(uname -r)"
  # sendfile's cost depends on it (docs/server-operations.md, the sendfile option).
  echo "tcp cc:  $(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo unknown)"
  echo "os:      $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)"
  echo "rustc:   $(rustc --version)"
  echo "node:    $(node --version 2>/dev/null || echo -)"
  echo "nginx:   $("$NGINX" -v 2>&1 | sed 's/.*: //')"
  echo "wrk:     $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
  echo "wrk run: wrk -t$THREADS -c{${CONNECTIONS// /,}} -d$DURATION --latency (after a $WARMUP warm-up run per cell)"
  echo "ours:    pixstore-server --window-ms $WINDOW_MS serve --access-log=false (tokio multi-thread runtime, ${TOKIO_WORKER_THREADS:-$(nproc)} workers)"
  if [ "$PIN" = 1 ]; then
    echo "pinned:  servers on CPU $SERVER_CPU (taskset; nginx 1 worker, TOKIO_WORKER_THREADS=1), wrk on CPU $LOAD_CPU"
  else
    echo "note:    wrk, the server under test and the idle other servers share the same $(nproc) CPUs"
  fi
  echo "load:    $(uptime)"
  [ -n "$BASELINE_BIN" ] && echo "main:    $BASELINE_BIN ($("$BASELINE_BIN" --version 2>/dev/null || echo '?'))"
} >"$RESULTS/environment.txt"
cat "$RESULTS/environment.txt"

# ---------------------------------------------------------------- measure
CLK_TCK=$(getconf CLK_TCK)
server_pids() {
  case $1 in
    ours) echo "$OUR_PID" ;;
    node) echo "$NODE_PID" ;;
    main) echo "$MAIN_PID" ;;
    nginx) pgrep -P "$NGINX_PID" | tr '\n' ' ' ;;
  esac
}
cpu_ticks() {   # utime + stime of the given pids (all threads)
  local total=0 pid f
  for pid in "$@"; do
    f=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    # shellcheck disable=SC2086  # split the stat fields on purpose
    set -- $f
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}
machine_ticks() { awk '/^cpu / {busy=$2+$3+$4+$7+$8+$9; print busy, busy+$5+$6}' /proc/stat; }
# CPU seconds (user + sys) of this shell's waited-for children so far (wrk, during a measured run):
# snap_children runs `times` in this shell (a pipe or $(...) would fork, and a fork starts at zero).
snap_children() { times >"$WORK/times"; }
children_secs() { awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, b, /[ms]/); s += b[1] * 60 + b[2] } printf "%.3f", s }' "$WORK/times"; }

run_wrk() {   # run_wrk OUT ARGS...: wrk in the background so a signal stops it at once
  local out=$1
  shift
  "${ON_LOAD[@]}" wrk "$@" >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || die "wrk failed: $(cat "$out")"
  WRK_PID=""
}

# Other processes on the machine distort every number (this workplace's machines are shared with
# builds). Each cell measures the CPU used by everything else ("other" = machine busy - server - wrk);
# a cell where it exceeds BENCH_OTHER_MAX % is measured again once the machine is quiet, within a
# total budget of BENCH_RETRY_BUDGET seconds; discarded attempts stay in raw/discarded/.
OTHER_MAX=${BENCH_OTHER_MAX:-25}
# BENCH_ROUNDS (1): how many times each (size, connections, kind) row measures every target, in
# turn; the report shows each target's median round and the median of the per-round ratios (a
# shared virtual machine's speed drifts by tens of percent from one minute to the next).
ROUNDS=${BENCH_ROUNDS:-1}
RETRY_BUDGET=${BENCH_RETRY_BUDGET:-300}
busy_since() {   # busy_since MB0 MT0 -> % of one CPU (all CPUs: up to nproc*100) since that snapshot
  local mb1 mt1
  read -r mb1 mt1 < <(machine_ticks)
  awk -v a="$1" -v b="$mb1" -v c="$2" -v d="$mt1" -v n="$(nproc)" 'BEGIN {printf "%.0f", (d>c ? (b-a)/(d-c)*100*n : 0)}'
}
# wait_quiet MAX_SECONDS: until the machine (our servers idle) has been under 10 % busy for 3 s.
wait_quiet() {
  local deadline=$((SECONDS + $1)) quiet=0 mb0 mt0 b
  while [ "$SECONDS" -lt "$deadline" ]; do
    read -r mb0 mt0 < <(machine_ticks)
    sleep 1
    b=$(busy_since "$mb0" "$mt0")
    if [ "$b" -lt 10 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$quiet" -ge 3 ] && return 0
  done
  return 1
}

read -r mb0 mt0 < <(machine_ticks)
sleep 3
idle_busy=$(busy_since "$mb0" "$mt0")
echo "before: CPU busy ${idle_busy}% (of $(nproc)00%) over 3 s with every server idle" | tee -a "$RESULTS/environment.txt"
if [ "$idle_busy" -gt 10 ]; then
  echo "the machine is busy; waiting up to 120 s for it to be quiet:" >&2
  ps -eo pid,pcpu,comm --sort=-pcpu | head -n 6 >&2
  if wait_quiet 120; then echo "quiet now" >&2; else echo "WARNING: still busy; measuring anyway (see the 'other CPU' column)" >&2; fi
fi

KSOFTIRQD=$(pgrep '^ksoftirqd/' | tr '\n' ' ' || true)
# measure_cell TARGET SIZE CONNS KIND RAW_FILE: warm-up, measured wrk run; sets cpu_pct wrk_pct
# ksoftirqd_pct other_pct.
measure_cell() {
  local t=$1 s=$2 c=$3 k=$4 out=$5 url pids cpu0 cpu1 ks0 ks1 mb0 mt0 w0 w1 t0 t1 busy_pct
  local -a headers
  case $t in
    nginx)
      url=${URL[nginx,$s,$k]}
      headers=(-H "x-pixstore-proof: ${PROOF[ours,$s]}")
      [ "$k" = success ] && headers+=(-H "x-pixstore-token: ${TOKEN[ours,$s]}")
      ;;
    *)
      url=${URL[$t,$s]}
      headers=(-H "x-pixstore-proof: ${PROOF[$t,$s]}")
      [ "$k" = success ] && headers+=(-H "x-pixstore-token: ${TOKEN[$t,$s]}")
      ;;
  esac
  if [ "$WARMUP" != 0 ]; then
    run_wrk "$WORK/warmup.txt" -t"$THREADS" -c"$c" -d"$WARMUP" "${headers[@]}" "$url"
  fi
  pids=$(server_pids "$t")
  # shellcheck disable=SC2086
  cpu0=$(cpu_ticks $pids)
  # shellcheck disable=SC2086
  ks0=$(cpu_ticks $KSOFTIRQD)
  read -r mb0 mt0 < <(machine_ticks)
  snap_children
  w0=$(children_secs)
  t0=$(date +%s.%N)
  run_wrk "$out" -t"$THREADS" -c"$c" -d"$DURATION" --latency "${headers[@]}" "$url"
  t1=$(date +%s.%N)
  snap_children
  w1=$(children_secs)
  # shellcheck disable=SC2086
  cpu1=$(cpu_ticks $pids)
  # shellcheck disable=SC2086
  ks1=$(cpu_ticks $KSOFTIRQD)
  busy_pct=$(busy_since "$mb0" "$mt0")
  cpu_pct=$(awk -v a="$cpu0" -v b="$cpu1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f", (b-a)/hz/(t1-t0)*100}')
  wrk_pct=$(awk -v a="$w0" -v b="$w1" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.0f", (b-a)/(t1-t0)*100}')
  # Loopback packets that the kernel defers to its ksoftirqd threads: network cost of this cell, not "other".
  ksoftirqd_pct=$(awk -v a="$ks0" -v b="$ks1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f", (b-a)/hz/(t1-t0)*100}')
  other_pct=$((busy_pct - cpu_pct - wrk_pct - ksoftirqd_pct))
}

printf 'target\tsize\tconns\tkind\traw\tserver_cpu_pct\twrk_cpu_pct\tksoftirqd_cpu_pct\tother_cpu_pct\tattempts\tpayload_len\tround\n' >"$RESULTS/cells.tsv"
ncells=0
for s in $SIZES; do for c in $CONNECTIONS; do for k in $KINDS; do for t in $TARGETS; do ncells=$((ncells + ROUNDS)); done; done; done; done
step "measure: $ncells cells ($ROUNDS round(s)), $DURATION each (+ $WARMUP warm-up); re-measured if other CPU > $OTHER_MAX %"
cell=0
retry_spent=0
for s in $SIZES; do
  n=${SIZE_BYTES[$s]}
  for c in $CONNECTIONS; do
    for k in $KINDS; do
      # Targets interleaved within each (size, connections, kind), so drift hits all three alike;
      # with BENCH_ROUNDS > 1 the interleaving repeats and the report takes medians.
      for round in $(seq 1 "$ROUNDS"); do for t in $TARGETS; do
        cell=$((cell + 1))
        payload=$([ "$k" = success ] && echo $((n + 2)) || echo $((n + 70)))
        raw="raw/$t-$s-c$c-$k.txt"
        [ "$ROUNDS" = 1 ] || raw="raw/$t-$s-c$c-$k.r$round.txt"
        attempt=1
        measure_cell "$t" "$s" "$c" "$k" "$RESULTS/$raw"
        while [ "$other_pct" -gt "$OTHER_MAX" ] && [ "$retry_spent" -lt "$RETRY_BUDGET" ]; do
          mkdir -p "$RESULTS/raw/discarded"
          mv "$RESULTS/$raw" "$RESULTS/raw/discarded/$t-$s-c$c-$k.attempt$attempt-other$other_pct.txt"
          echo "        (other processes used ${other_pct}% CPU: waiting for a quiet machine, then measuring again)"
          started=$SECONDS
          wait_quiet 60 || true
          attempt=$((attempt + 1))
          measure_cell "$t" "$s" "$c" "$k" "$RESULTS/$raw"
          retry_spent=$((retry_spent + SECONDS - started))
        done
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$s" "$c" "$k" "$raw" "$cpu_pct" "$wrk_pct" "$ksoftirqd_pct" "$other_pct" \
          "$attempt" "$payload" "$round" >>"$RESULTS/cells.tsv"
        printf '[%2d/%d] %-5s %-4s c=%-3s %-7s %12s req/s  p99 %-9s CPU: server %3s%%  wrk %3s%%  ksoftirqd %2s%%  other %3s%%\n' \
          "$cell" "$ncells" "$t" "$s" "$c" "$k" "$(awk '/^Requests\/sec:/ {print $2}' "$RESULTS/$raw")" \
          "$(awk '$1 == "99%" {print $2}' "$RESULTS/$raw")" "$cpu_pct" "$wrk_pct" "$ksoftirqd_pct" "$other_pct"
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "a server (pid $pid) died during $raw"; done
      done; done
    done
  done
done
echo "re-measuring took ${retry_spent} s of the ${RETRY_BUDGET} s budget" | tee -a "$RESULTS/environment.txt"

step "verify payloads after measuring (the servers still answer correctly)"
if has ours; then verify ours; fi
if has main; then verify main; fi
if has node; then verify node; fi
if has nginx; then verify nginx; fi

step "report: $RESULTS/results.md"
BENCH_PIN=$PIN BENCH_OTHER_MAX=$OTHER_MAX python3 "$BENCH_DIR/report.py" "$RESULTS"
