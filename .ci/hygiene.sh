#!/usr/bin/env bash
# Dependency hygiene: `bash .ci/hygiene.sh` (from .ci/run, or alone).
#
# 1. pixstore-proto's feature powerset (cargo hack): every set that includes `alloc` (directly
#    or through `std`/`ring`) passes clippy -D warnings; every set without it stops at once
#    with the one compile_error! that names the feature.
# 2. No unused dependency (cargo machete) in any crate of the repository (the workspace's
#    members, fuzz/ and no-std-check/). No crate has an ignore list
#    (`[package.metadata.cargo-machete]`): none is needed.
# 3. cargo deny: licences, bans (duplicate versions are reported as warnings), sources
#    (deny.toml). The advisories check is left out: it needs the RustSec database from the
#    network, which CI does not reach.
#
# Missing tools are installed with `cargo install --locked` (measured on this 2-core machine,
# shared with other builds: cargo-hack 1 min, cargo-machete 1.5 min, cargo-deny 6 min of CPU,
# 13 min of wall time). With the tools present the script takes about 25 s to 1 min.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

need() {
  if ! command -v "cargo-$1" >/dev/null 2>&1; then
    echo "--- installing cargo-$1"
    cargo install --locked "cargo-$1"
  fi
}
need hack
need machete
need deny

echo "--- pixstore-proto: every feature set with alloc builds warning-free"
cargo hack clippy -p pixstore-proto --lib --locked --feature-powerset --at-least-one-of alloc,std,ring \
  -- -D warnings

echo "--- pixstore-proto: every feature set without alloc fails at once, naming it"
without=$(cargo hack check -p pixstore-proto --lib --locked --feature-powerset \
  --exclude-features alloc,std,ring,default --print-command-list)
[ -n "$without" ] || { echo "cargo hack listed no feature set without alloc" >&2; exit 1; }
while read -r command; do
  # The listed command line, with its own arguments (no shell expansion needed).
  read -r -a words <<<"$command"
  log=target/hygiene-no-alloc.log
  if "${words[@]}" >"$log" 2>&1; then
    echo "expected a compile error without alloc, but this built: $command" >&2
    exit 1
  fi
  errors=$(grep -c '^error' "$log" || true)
  # One compile_error!, then cargo's "could not compile ... due to 1 previous error".
  if ! grep -q 'pixstore-proto needs the `alloc` feature' "$log" || ! grep -q 'due to 1 previous error' "$log"; then
    cat "$log"
    echo "without alloc the build must stop with exactly the compile_error naming it ($errors errors): $command" >&2
    exit 1
  fi
  echo "ok (one compile_error naming alloc): ${command#cargo check }"
done <<<"$without"

echo "--- cargo machete (every crate of the repository)"
cargo machete

echo "--- cargo deny check licenses bans sources (advisories need the network: not checked)"
cargo deny --locked check licenses bans sources

echo "hygiene: feature sets, unused dependencies, licences, bans and sources ok"
