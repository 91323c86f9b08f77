#!/usr/bin/env bash
# The README's walkthrough ("Try it"), as written: every fenced block marked ```sh walkthrough in
# README.md, in order, run by bash (-e, -u, pipefail, traced) from the repository root, as a
# newcomer pastes them. Then nothing may be left in the repository: `git status --porcelain`
# must be as empty as before (on CI's clean clone: empty).
#
#   bash .ci/readme.sh     (needs jq, installed here with apt-get when missing and run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

script=$(awk '/^```sh walkthrough$/ { on = 1; next } on && /^```$/ { on = 0; next } on' README.md)
if [ -z "$script" ]; then
  echo "readme.sh: README.md has no \`\`\`sh walkthrough block" >&2
  exit 1
fi
if ! command -v jq >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    flock /tmp/apt.lock apt-get install -y -qq jq >/dev/null
  else
    echo "readme.sh: the walkthrough needs jq (apt-get install jq)" >&2
    exit 1
  fi
fi

before=$(git status --porcelain)
# Its own session, so that whatever it leaves running when it fails (its server in the
# background) is stopped by its process group, and nothing else. A hang is cut at 40 minutes:
# the bound includes the walkthrough's release build of the workspace (more than 10 minutes on a
# loaded 2-core machine from nothing; it shares target/release with the main job's build).
setsid bash -c 'exec timeout 2400 bash -euxo pipefail -c "$1"' walkthrough "$script" &
pid=$!
rc=0
wait "$pid" || rc=$?
kill -- "-$pid" 2>/dev/null || true
if [ "$rc" != 0 ]; then
  echo "readme.sh: the README walkthrough failed (exit $rc)" >&2
  exit 1
fi

after=$(git status --porcelain)
if [ "$after" != "$before" ]; then
  echo "readme.sh: the walkthrough left files in the repository:" >&2
  diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
  exit 1
fi
if [ -n "$before" ]; then
  echo "readme.sh: (the working tree was not clean before; compared against that)"
fi
echo "readme.sh: the README walkthrough ran as written and left the repository as it was ($((SECONDS - started)) s)"
