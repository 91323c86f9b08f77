#!/usr/bin/env bash
# Packages that test themselves: `bash .ci/package.sh` (from .ci/run, or alone).
#
# 1. `cargo publish --dry-run` for every publishable crate, together: cargo packages them, puts
#    the packages in a temporary local registry (pixstore-client and pixstore-server need the
#    unpublished pixstore-proto, and pixstore-fs) and builds each from its package.
# 2. Each package is unpacked into a temporary folder outside the repository and its own tests
#    run there, with every feature (no ../spec, no workspace, no path dependency): what a user
#    of the published crate, or a distribution packager, runs.
# 3. The same unpacked packages resolve with the lowest versions their manifests allow for their
#    direct dependencies (`-Z direct-minimal-versions`, through RUSTC_BOOTSTRAP=1 on stable) and
#    `cargo check --all-targets --all-features` passes: every lower bound is true.
#
# The integration tests of pixstore-client and pixstore-server use the unpublished test-support
# crate and the reference server through path dev-dependencies, which packaging strips: those
# tests are left out of the two packages (`include`) and run in the repository only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

publishable=(pixstore-proto pixstore-fs pixstore-client pixstore-server)
version=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json,sys; print({p["name"]: p["version"] for p in json.load(sys.stdin)["packages"]}["pixstore-proto"])')

echo "--- cargo publish --dry-run ${publishable[*]}"
args=()
for p in "${publishable[@]}"; do args+=(-p "$p"); done
cargo publish --dry-run --locked "${args[@]}"
# The same packages, written where `cargo package` documents them (target/package/NAME-VERSION.crate);
# the dry run above has verified them.
cargo package --locked --no-verify "${args[@]}"

# Outside the repository: inside it, cargo would take the unpacked crates for members of this
# workspace. One fixed folder per checkout: the test binaries embed their CARGO_MANIFEST_DIR.
check="${TMPDIR:-/tmp}/pixstore-package-check-$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)"
rm -rf "$check"
mkdir -p "$check"
trap 'rm -rf "$check"' EXIT
for p in "${publishable[@]}"; do
  tar -xzf "target/package/$p-$version.crate" -C "$check"
done
# tar restores the files' old times; new ones make cargo rebuild the unpacked crates for sure.
find "$check" -type f -exec touch {} +
# The repository's target folder: dependencies already built for the workspace (same versions,
# features and profile) are reused.
export CARGO_TARGET_DIR="$PWD/target"
# pixstore-client's and pixstore-server's packages name pixstore-proto and pixstore-fs by version
# only, as on crates.io: point those names at the unpacked packages.
patch=(--config "patch.crates-io.pixstore-proto.path=\"$check/pixstore-proto-$version\""
  --config "patch.crates-io.pixstore-fs.path=\"$check/pixstore-fs-$version\"")

for p in "${publishable[@]}"; do
  dir="$check/$p-$version"
  echo "--- $p: cargo test --all-features in the unpacked package ($dir)"
  if [ "$p" = pixstore-client ] || [ "$p" = pixstore-server ]; then
    # The patch changes the lock's source of the two crates, so it is not --locked; every
    # other package stays at the version the package's Cargo.lock records.
    (cd "$dir" && cargo test --all-features "${patch[@]}")
  else
    (cd "$dir" && cargo test --all-features --locked)
  fi
done
for p in "${publishable[@]}"; do
  dir="$check/$p-$version"
  echo "--- $p: lowest direct dependency versions (-Z direct-minimal-versions), cargo check"
  extra=()
  if [ "$p" = pixstore-client ] || [ "$p" = pixstore-server ]; then extra=("${patch[@]}"); fi
  (cd "$dir" && RUSTC_BOOTSTRAP=1 cargo update -Z direct-minimal-versions "${extra[@]}" &&
    cargo check --all-targets --all-features "${extra[@]}")
done
echo "packages: ${publishable[*]} package, pass their own tests and build with their lowest dependency versions"
