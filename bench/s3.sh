#!/usr/bin/env bash
# Requests/s and p99 of the default endpoint over the filesystem store, one instance over S3
# (Ceph RGW on loopback), and two instances over the same bucket, in one run with one script:
#
#   bash bench/s3.sh      # starts Ceph with .ci/ceph.sh (stops it at the end), ~2 minutes
#
# Knobs: BENCH_DURATION (8s), BENCH_CONNECTIONS (16; split over the instances in the two-instance
# rows), BENCH_SIZE (10240 bytes), BENCH_KEEP_CEPH=1 (use a running .ci/ceph.sh cluster, leave it),
# BENCH_BIN (a pixstore-server binary; default: cargo build --release).
# Each cell: a 2 s warm-up, then wrk --latency. Success rows send the current token (the answer
# is the ciphertext); Updated rows send none (the header is unsealed under the KEK per answer).
# Every request revalidates with RGW (If-None-Match, 304) on the S3 rows: that round trip is the
# cost of read-after-write across instances. Results: bench/results/s3.md; load beside them.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
cd "$ROOT"
DURATION=${BENCH_DURATION:-8s}
CONNS=${BENCH_CONNECTIONS:-16}
SIZE=${BENCH_SIZE:-10240}
OUT="$BENCH_DIR/results/s3.md"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "${BENCH_KEEP_CEPH:-0}" = 1 ] || bash "$ROOT/.ci/ceph.sh" stop || true
  rm -rf "$work"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "bench/s3.sh needs wrk" >&2; exit 1; }
[ "${BENCH_KEEP_CEPH:-0}" = 1 ] || bash .ci/ceph.sh start
# shellcheck disable=SC1091
. "$ROOT/target/ceph/env"
bin=${BENCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build -q --release --locked -p pixstore-server --bin pixstore-server
  bin="$ROOT/target/release/pixstore-server"
fi
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
keys="$work/keys"
mkdir -p "$keys"
"$bin" --data-dir "$keys" keys init 2>/dev/null
"$bin" --data-dir "$keys" kek init 2>/dev/null
python3 "$BENCH_DIR/make_png.py" "$SIZE" "$work/img.png"
prefix="bench-$(date +%s)-$$"

# json_line and field: the helpers of the CI scripts.
. "$ROOT/.ci/lib.sh"
start() { # start NAME STORE-ARGS...: sets endpoint_NAME, control_NAME
  local name=$1
  shift
  PIXSTORE_ADMIN_TOKENS="$token" PIXSTORE_LOG=warn "$bin" "$@" --window-ms 3600000 \
    serve --listen-host 127.0.0.1 --port 0 --control --control-listen 127.0.0.1:0 --ops=false \
    --access-log=false --print-addresses >"$work/$name.log" 2>"$work/$name.log.err" &
  pids+=($!)
  local line
  line=$(json_line "$work/$name.log")
  printf -v "endpoint_$name" '%s' "$(field "$line" endpoint)"
  printf -v "control_$name" '%s' "$(field "$line" control)"
}
s3=(--data-dir "$keys" --store "s3://$PIXSTORE_TEST_S3_BUCKET/$prefix" --s3-endpoint "$PIXSTORE_TEST_S3_ENDPOINT" --s3-path-style)
start fs --data-dir "$work/fs"
start a "${s3[@]}"
start b "${s3[@]}"

record() { # record CONTROL: stores the image, prints "PATH PROOF TOKEN"
  curl -sf -H "Authorization: Bearer $token" --data-binary "@$work/img.png" "http://$1/images" | python3 -c '
import json, sys, urllib.parse
r = json.load(sys.stdin)
print("/pixstore-image/" + urllib.parse.quote(r["id"], safe=""), r["statelessProof"], r["token"])'
}
read -r fs_path fs_proof fs_token < <(record "$control_fs")
read -r s3_path s3_proof s3_token < <(record "$control_a")

# cell ENDPOINTS PATH PROOF TOKEN|-: wrk on each endpoint at once (connections split); prints
# "REQ/S P99_MS" (sum of requests/s, the highest p99).
cell() {
  local endpoints=$1 path=$2 proof=$3 tok=$4
  local n
  n=$(wc -w <<<"$endpoints")
  local c=$((CONNS / n)) headers=(-H "x-pixstore-proof: $proof")
  [ "$tok" = - ] || headers+=(-H "x-pixstore-token: $tok")
  local i=0 files=()
  for e in $endpoints; do
    wrk -t1 -c"$c" -d2s "${headers[@]}" "http://$e$path" >/dev/null 2>&1 &
  done
  wait
  for e in $endpoints; do
    i=$((i + 1))
    wrk -t1 -c"$c" -d"$DURATION" --latency "${headers[@]}" "http://$e$path" >"$work/wrk.$i" 2>&1 &
    files+=("$work/wrk.$i")
  done
  wait
  python3 - "${files[@]}" <<'EOF'
import re, sys
rps, p99 = 0.0, 0.0
for f in sys.argv[1:]:
    t = open(f).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", t)
    assert m, t
    rps += float(m.group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", t, re.M)
    v = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    p99 = max(p99, v)
    if re.search(r"Non-2xx", t):
        sys.exit("non-2xx answers in " + f + ":\n" + t)
print(f"{rps:.0f} {p99:.2f}")
EOF
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=()
for kind in success updated; do
  if [ $kind = success ]; then ft=$fs_token; st=$s3_token; else ft=-; st=-; fi
  read -r fs_rps fs_p99 < <(cell "$endpoint_fs" "$fs_path" "$fs_proof" "$ft")
  read -r one_rps one_p99 < <(cell "$endpoint_a" "$s3_path" "$s3_proof" "$st")
  read -r two_rps two_p99 < <(cell "$endpoint_a $endpoint_b" "$s3_path" "$s3_proof" "$st")
  rows+=("| $kind | $fs_rps | $fs_p99 | $one_rps | $one_p99 | $two_rps | $two_p99 | $(python3 -c "print(f'{$one_rps/$fs_rps:.2f}')") | $(python3 -c "print(f'{$two_rps/$one_rps:.2f}')") |")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$(dirname "$OUT")"
{
  echo "# bench/s3.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, image $SIZE bytes, $CONNS connections, $DURATION cells"
  echo
  echo "Load average before: $load_before; after: $load_after (other processes share the machine)."
  echo
  echo "| answer | FsStore req/s | FsStore p99 ms | S3 x1 req/s | S3 x1 p99 ms | S3 x2 req/s | S3 x2 p99 ms | S3 x1 / Fs | S3 x2 / S3 x1 |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$OUT"
