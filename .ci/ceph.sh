#!/usr/bin/env bash
# A single-node Ceph cluster with the RADOS Gateway (S3) on loopback, for the S3 tests and the
# S3 benchmark: one monitor, one OSD (bluestore on a sparse file), one radosgw (beast).
#
#   bash .ci/ceph.sh start   # installs Debian's packages if missing, starts the daemons, creates
#                            # a user and a bucket; writes $CEPH_DIR/env (variables for the tests)
#   bash .ci/ceph.sh stop    # stops radosgw, then the OSD, then the monitor, by PID
#   bash .ci/ceph.sh status  # whether the daemons of $CEPH_DIR run
#
# $CEPH_DIR (default target/ceph) holds the configuration, keyrings, data, logs and PID files;
# `start` wipes it first. The env file sets PIXSTORE_TEST_S3_ENDPOINT, PIXSTORE_TEST_S3_BUCKET,
# PIXSTORE_TEST_S3_ENGINE (rgw), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION: the tests that need S3 read them
# (they are skipped loudly without them, and fail instead when PIXSTORE_REQUIRE_S3=1).
# Facts behind the settings: single-node pools of size 1 with 8 PGs and no autoscaler, a fast
# paxos (radosgw creates its pools on its first start), tcp_nodelay on the beast frontend
# (without it small GETs wait 40 ms for Nagle), messenger v2 only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CEPH_DIR:-$root/target/ceph}
conf="$dir/ceph.conf"
say() { echo "== ceph: $*"; }
ceph_cmd() { ceph -c "$conf" -n client.admin -k "$dir/client.admin.keyring" --connect-timeout 20 "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The log file each daemon writes (log_file = $dir/log/$name.log, $name as Ceph names it).
daemon_log() {
  case $1 in
    mon) echo "$dir/log/mon.a.log" ;;
    osd) echo "$dir/log/osd.0.log" ;;
    rgw) echo "$dir/log/client.rgw.pixstore.log" ;;
  esac
}

# Waits up to $2 s for the daemon whose PID file is $1 to do what $3... checks. When the daemon
# exits first it says how (exit status or signal) and shows the end of its log and its stderr;
# returns 1 (not ready in time) or 2 (exited).
wait_for() {
  local pidfile=$1 secs=$2 name pid status
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile")
  shift 2
  for _ in $(seq 1 $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      status=0
      wait "$pid" 2>/dev/null || status=$?
      if [ "$status" -gt 128 ]; then status="signal $((status - 128))"; else status="exit status $status"; fi
      say "FAIL: $name exited during start-up ($status); the end of $(daemon_log "$name"):"
      tail -n 40 "$(daemon_log "$name")" 2>/dev/null || echo "(no log file)"
      say "its stderr ($dir/log/$name.out):"
      tail -n 20 "$dir/log/$name.out" 2>/dev/null || echo "(none)"
      say "free space and memory: $(df -h "$dir" | tail -n 1 | awk '{print $4 " free of " $2}'), $(free -m | awk '/^Mem:/ {print $7 " MiB available"}')"
      return 2
    fi
    sleep 0.1
  done
  say "FAIL: $name not ready within $secs s; the end of $(daemon_log "$name"):"
  tail -n 40 "$(daemon_log "$name")" 2>/dev/null || true
  return 1
}

# SIGTERM, then SIGKILL after $2 s; waits until the process is gone.
stop_pid() {
  local name=$1 secs=$2 pidfile="$dir/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((secs * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name ($pid) still running after $secs s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidfile"
}

install() {
  if command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || { say "FAIL: radosgw, ceph-mon and ceph-osd are missing; installing them needs root"; exit 1; }
  say "installing Debian's radosgw, ceph-mon and ceph-osd (about 270 MB)"
  local lock=()
  command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
  "${lock[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd uuid-runtime curl >/dev/null
}

start() {
  local t0
  t0=$(date +%s)
  install
  stop_all quiet
  rm -rf "$dir"
  mkdir -p "$dir"/{log,run,mon,osd/ceph-0,rgw}
  local fsid mon_port rgw_port
  fsid=$(uuidgen)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$mon_port
ms_bind_msgr1 = false
ms_bind_msgr2 = true
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
log_to_stderr = false
err_to_stderr = true
mon_data = $dir/mon/\$cluster-\$id
osd_data = $dir/osd/\$cluster-\$id
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
paxos_propose_interval = 0.05
mon_osd_min_up_ratio = 0
# A test cluster on a build machine's disk: the monitor's default refuses to start below 5 % free.
mon_data_avail_crit = 0
mon_data_avail_warn = 1
[mon]
keyring = $dir/mon.keyring
[osd]
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 8589934592
bluestore_fsck_on_mkfs = false
osd_memory_target = 536870912
[client.admin]
keyring = $dir/client.admin.keyring
[client.rgw.pixstore]
keyring = $dir/rgw.keyring
rgw_data = $dir/rgw
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw_thread_pool_size = 64
EOF
  say "keyrings and the monitor map (mon on 127.0.0.1:$mon_port, msgr v2)"
  ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$dir/client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool --create-keyring "$dir/rgw.keyring" --gen-key -n client.rgw.pixstore \
    --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
  ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/client.admin.keyring" >/dev/null
  ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/rgw.keyring" >/dev/null
  monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" >"$dir/log/mon.out" 2>&1

  say "starting the monitor"
  ceph-mon -c "$conf" -i a -f >>"$dir/log/mon.out" 2>&1 &
  echo $! >"$dir/mon.pid"
  wait_for "$dir/mon.pid" 60 ceph_cmd mon stat

  say "creating and starting the OSD (bluestore on a sparse file)"
  local uuid secret
  uuid=$(uuidgen)
  secret=$(ceph-authtool --gen-print-key)
  printf '{"cephx_secret": "%s"}\n' "$secret" >"$dir/osd-secret.json"
  local id
  id=$(ceph_cmd osd new "$uuid" -i "$dir/osd-secret.json")
  [ "$id" = 0 ] || { say "FAIL: expected OSD id 0, got $id"; exit 1; }
  ceph-authtool --create-keyring "$dir/osd/ceph-0/keyring" --name osd.0 --add-key "$secret" >/dev/null
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >"$dir/log/osd.out" 2>&1
  ceph-osd -c "$conf" -i 0 -f >>"$dir/log/osd.out" 2>&1 &
  echo $! >"$dir/osd.pid"
  osd_up() { ceph_cmd osd dump | grep -q '^osd.0 up'; }
  wait_for "$dir/osd.pid" 120 osd_up

  say "starting radosgw (beast on 127.0.0.1:$rgw_port)"
  radosgw -c "$conf" -n client.rgw.pixstore -f >"$dir/log/rgw.out" 2>&1 &
  echo $! >"$dir/rgw.pid"
  rgw_up() { curl -sf -o /dev/null "http://127.0.0.1:$rgw_port/"; }
  wait_for "$dir/rgw.pid" 180 rgw_up

  local access secret_key
  access="PIXSTORECI$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
  secret_key=$(head -c 30 /dev/urandom | base64 | tr -d '/+=' | head -c 40)
  radosgw-admin -c "$conf" -n client.admin user create --uid=pixstore --display-name=pixstore \
    --access-key="$access" --secret-key="$secret_key" >/dev/null
  local bucket=pixstore-ci
  local created=0
  for _ in $(seq 1 50); do
    if curl -sf -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret_key" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$rgw_port/$bucket"; then
      created=1
      break
    fi
    sleep 0.2
  done
  [ "$created" = 1 ] || { say "FAIL: cannot create bucket $bucket"; tail -n 20 "$dir/log/client.rgw.pixstore.log"; exit 1; }
  cat >"$dir/env" <<EOF
export PIXSTORE_TEST_S3_ENDPOINT=http://127.0.0.1:$rgw_port
export PIXSTORE_TEST_S3_BUCKET=$bucket
export PIXSTORE_TEST_S3_ENGINE=rgw
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=us-east-1
EOF
  say "ready in $(( $(date +%s) - t0 )) s: S3 at http://127.0.0.1:$rgw_port, bucket $bucket; variables in $dir/env"
}

stop_all() {
  # radosgw first (it waits up to 120 s on SIGTERM once the OSD is gone), then the OSD, then the mon.
  stop_pid rgw 30
  stop_pid osd 30
  stop_pid mon 15
  [ "${1:-}" = quiet ] || say "stopped"
}

status() {
  local rc=0 name
  for name in mon osd rgw; do
    if [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
      echo "$name: running (pid $(cat "$dir/$name.pid"))"
    else
      echo "$name: not running"
      rc=1
    fi
  done
  return $rc
}

# A daemon that exits during start-up (a port taken between free_port and its bind, a hiccup of
# the machine) gets two more tries, each on fresh ports in a wiped $dir. Each try is its own
# bash process so that `set -e` holds inside it.
start_with_retries() {
  local attempt
  for attempt in 1 2 3; do
    if bash "$0" start-once; then return 0; fi
    stop_all quiet
    [ "$attempt" = 3 ] || say "start-up failed (try $attempt of 3); trying again on fresh ports"
  done
  say "FAIL: Ceph did not start in 3 tries (the logs above say why)"
  return 1
}

case "${1:-}" in
  start) start_with_retries ;;
  start-once) start ;;
  stop) stop_all ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
