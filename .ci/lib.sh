# Shell helpers shared by the .ci scripts (source it: `. "$root/.ci/lib.sh"`).

# Timed parts of a step: `begin "1. what"` ... `done_step`.
step_start=0
begin() { printf '\n--- %s\n' "$*"; step_start=$(date +%s); }
done_step() { echo "--- done in $(( $(date +%s) - step_start )) s"; }

# Waits (up to 20 s) for the first JSON line a background process prints to the file $1 (a
# server's --print-addresses line), then prints it; otherwise shows $1 and $1.err and fails.
json_line() {
  for _ in $(seq 1 200); do
    if grep -q '^{' "$1" 2>/dev/null; then grep '^{' "$1" | head -n 1; return 0; fi
    sleep 0.1
  done
  cat "$1" "$1.err" >&2 2>/dev/null || true
  echo "no address line in $1" >&2
  return 1
}

# field JSON NAME: the value of NAME in the JSON object (empty for null).
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]] or "")' "$1" "$2"; }
