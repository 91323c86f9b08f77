#!/usr/bin/env bash
# Everything against a real S3-compatible engine (Ceph RGW from .ci/ceph.sh, started here and
# stopped by PID on exit, also on failure):
#   1. the Store contract tests (FsStore and S3Store), RGW's quirks, two instances over one
#      bucket (read-after-write, readers vs writers, SIGKILL, admin tokens): cargo test with
#      PIXSTORE_REQUIRE_S3=1, so a skipped S3 test fails the step;
#   2. the conformance suite against two server processes sharing one bucket, authenticated with
#      --control-header 'Authorization: Bearer ...': (a) writes through instance A's admin API,
#      every image request to instance B (--endpoint-template), then the other way round, then
#      every request alternating between A and B (.ci/round-robin-proxy.py in front of both);
#      (b) the whole suite (test clock included) against A alone over S3;
#   3. the admin API with a missing, wrong and right token (curl).
# Each step prints its time. Reports: target/conformance/s3-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/target/conformance"
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bash "$root/.ci/ceph.sh" stop || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

. "$root/.ci/lib.sh"

begin "0. Ceph: install (if missing) and start mon, OSD, radosgw on loopback"
bash .ci/ceph.sh start
# shellcheck disable=SC1091
. "$root/target/ceph/env"
export PIXSTORE_REQUIRE_S3=1
done_step

begin "1. cargo test: Store contract (FsStore, S3Store), RGW quirks, two instances over one bucket"
# --workspace: the feature set of the workspace's test step, whose build this reuses.
cargo test -q --locked --workspace --test store_contract --test s3_instances
done_step

begin "2. the conformance suite against two instances sharing one bucket"
# The README's one release build (the default members), reused from the earlier steps.
cargo build -q --locked --release
server_bin="$root/target/release/pixstore-server"
suite="$root/target/release/pixstore-conformance"
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
auth="Authorization: Bearer $token"
keys="$work/keys"
mkdir -p "$keys"
# Proof keys and KEKs made once and shared by every instance (never made implicitly for S3).
"$server_bin" --data-dir "$keys" keys init
"$server_bin" --data-dir "$keys" kek init
prefix="conformance-$(date +%s)-$$"

# start_instance NAME [SERVE ARGS...]: sets $line. Both instances: the same bucket and prefix,
# keys and window (2 s, no skew: with the endpoint on another instance the suite cannot use a
# test clock, and waits for proofs to expire).
start_instance() {
  local name=$1
  shift
  PIXSTORE_ADMIN_TOKENS="$token" "$server_bin" --data-dir "$keys" --store "s3://$PIXSTORE_TEST_S3_BUCKET/$prefix" \
    --s3-endpoint "$PIXSTORE_TEST_S3_ENDPOINT" --s3-path-style --window-ms=2000 --skew-ms 0 \
    serve --listen-host 127.0.0.1 --port 0 --control --control-listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 \
    --print-addresses "$@" >"$work/$name.log" 2>"$work/$name.log.err" &
  pids+=($!)
  line=$(json_line "$work/$name.log")
}
start_instance a --test-clock
a_control="http://$(field "$line" control)"
a_endpoint="$(field "$line" endpoint)"
start_instance b
b_control="http://$(field "$line" control)"
b_endpoint="$(field "$line" endpoint)"
summary() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
assert s["failed"] == 0, (sys.argv[2], s, [c["id"] for c in r["checks"] if c["outcome"] == "fail"])
print(sys.argv[2], s)
EOF
}
"$suite" --control "$a_control" --control-header "$auth" --endpoint-template "http://${b_endpoint}/pixstore-image/{id}" \
  --format json --output "$out/s3-a-writes-b-serves.json"
summary "$out/s3-a-writes-b-serves.json" "S3, writes through A, image requests to B:"
"$suite" --control "$b_control" --control-header "$auth" --endpoint-template "http://${a_endpoint}/pixstore-image/{id}" \
  --format json --output "$out/s3-b-writes-a-serves.json"
summary "$out/s3-b-writes-a-serves.json" "S3, writes through B, image requests to A:"
# Requests alternating between the instances: a round-robin TCP proxy in front of both endpoints
# (the suite opens one connection per request); the updates go through A's control interface.
python3 .ci/round-robin-proxy.py "$work/rr-counts.json" "$a_endpoint" "$b_endpoint" >"$work/rr.log" 2>"$work/rr.log.err" &
pids+=($!)
rr="$(field "$(json_line "$work/rr.log")" listen)"
"$suite" --control "$a_control" --control-header "$auth" --endpoint-template "http://${rr}/pixstore-image/{id}" \
  --format json --output "$out/s3-alternating.json"
summary "$out/s3-alternating.json" "S3, writes through A, image requests alternating between A and B:"
python3 - "$work/rr-counts.json" <<'EOF'
import json, sys
counts = json.load(open(sys.argv[1]))
assert len(counts) == 2 and min(counts.values()) >= 20, counts
print("connections per instance through the round-robin proxy:", counts)
EOF
"$suite" --control "$a_control" --control-header "$auth" --format json --output "$out/s3-a.json"
summary "$out/s3-a.json" "S3, the whole suite against A (test clock on):"
done_step

begin "3. the admin API's bearer tokens: missing, wrong, right"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$b_control/info")" = 401 ] || { echo "no token: expected 401" >&2; exit 1; }
[ "$(code -H 'Authorization: Bearer wrong-token-0123456789' "$b_control/info")" = 401 ] || { echo "wrong token: expected 401" >&2; exit 1; }
[ "$(code -H "$auth" "$b_control/info")" = 200 ] || { echo "right token: expected 200" >&2; exit 1; }
echo "admin API: 401 without a token, 401 with a wrong one, 200 with the right one"
done_step
