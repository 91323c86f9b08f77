#!/usr/bin/env bash
# Browser interop test (issue 6): pixstore 3.2.1's own browser frontend against our reference
# server, in Debian's Chromium. Installs what it needs on a fresh Debian machine (the chromium
# package, the pinned npm packages), builds the server and the custom route example, and runs
# test.mjs twice:
#   1. against the release server: every step must pass;
#   2. against a server that flips one ciphertext byte in every image payload (the `test-faults`
#      build with PIXSTORE_TEST_FAULTS=flip-ciphertext-byte): the test must fail, at the first
#      getImage, with a screenshot. This shows the test notices a broken server.
# Output (logs, screenshots, server events): $PIXSTORE_BROWSER_OUT, default target/browser-interop.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${PIXSTORE_BROWSER_OUT:-$root/target/browser-interop}
chromium=${CHROMIUM:-/usr/bin/chromium}
say() { echo "== browser-interop: $*"; }

if ! [ -x "$chromium" ]; then
  say "installing Debian's chromium package (playwright's own browser downloads are not used)"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      say "FAIL: $chromium is missing, and installing it needs root or passwordless sudo" \
        "(or set CHROMIUM to a Chromium binary)"
      exit 1
    fi
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
fi
"$chromium" --version

say "npm ci (pixstore 3.2.1, esbuild, playwright-core; pinned by package-lock.json)"
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

say "building pixstore-server and the custom route example (release)"
(cd "$root" && cargo build --release --locked -q && cargo build --release --locked -q -p pixstore-server --example custom_endpoint_warp)

rm -rf "$out"
mkdir -p "$out"
say "run 1: the reference server as shipped; every step must pass"
# A hard bound on the whole run, whatever hangs (each step also has its own timeout).
timeout 480 node "$here/test.mjs" --server "$root/target/release/pixstore-server" \
  --custom "$root/target/release/examples/custom_endpoint_warp" --chromium "$chromium" --out "$out/pass" \
  2>&1 | tee "$out/pass.log"

say "run 2: a server that flips one ciphertext byte; the test must fail"
(cd "$root" && cargo build --locked -q -p pixstore-server --features test-faults --bin pixstore-server)
set +e
PIXSTORE_TEST_FAULTS=flip-ciphertext-byte timeout 480 node "$here/test.mjs" --server "$root/target/debug/pixstore-server" \
  --custom "$root/target/release/examples/custom_endpoint_warp" --chromium "$chromium" --out "$out/broken" \
  >"$out/broken.log" 2>&1
status=$?
set -e
tail -n 4 "$out/broken.log"
if [ "$status" -eq 0 ]; then
  say "FAIL: the test passed against a server that corrupts every ciphertext"
  exit 1
fi
# Caught where it must be: the first image, by WebCrypto refusing the ciphertext.
if ! grep -q "FAILED at step [0-9]*: getImage(png small): .*getImage threw OperationError" "$out/broken.log" \
  || ! ls "$out"/broken/failure-step-*.png >/dev/null 2>&1; then
  say "FAIL: the broken server was not caught where expected (first getImage), or no screenshot was taken"
  exit 1
fi
say "ok: passes against the reference server, and fails (with a screenshot) against a broken one"
