#!/usr/bin/env bash
# The documentation of every crate, built as docs.rs builds it: `bash .ci/docs.sh`.
#
# docs.rs runs rustdoc on nightly with `--cfg docsrs` and the features of
# [package.metadata.docs.rs] (pixstore-proto: all features); here rustdoc warnings are errors
# (broken or unresolved links, links rendered as literal text, missing docs). Nightly is used
# when installed (it is what docs.rs runs, and it is where a removed unstable feature such as
# doc_auto_cfg fails first); otherwise stable with RUSTC_BOOTSTRAP=1. DOCS_TOOLCHAIN=stable
# forces the latter. Output: target/docsrs/doc/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

toolchain=${DOCS_TOOLCHAIN:-}
if [ -z "$toolchain" ]; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=nightly; else toolchain=stable; fi
fi
if [ "$toolchain" = nightly ]; then
  doc() { cargo +nightly doc "$@"; }
else
  doc() { RUSTC_BOOTSTRAP=1 cargo doc "$@"; }
fi
export RUSTDOCFLAGS="--cfg docsrs -D warnings"

# Every workspace member, with the features docs.rs would use for it.
packages=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
m = json.load(sys.stdin)
for p in m["packages"]:
    d = ((p.get("metadata") or {}).get("docs") or {}).get("rs") or {}
    flags = ["--all-features"] if d.get("all-features") else []
    if d.get("features"):
        flags += ["--features", ",".join(d["features"])]
    if d.get("no-default-features"):
        flags.append("--no-default-features")
    print(p["name"], " ".join(flags))
')
[ -n "$packages" ] || { echo "no packages found" >&2; exit 1; }
failed=()
while read -r name flags; do
  echo "--- $name ($toolchain, --cfg docsrs, -D warnings${flags:+, $flags})"
  # shellcheck disable=SC2086
  doc --locked --no-deps -p "$name" $flags --target-dir target/docsrs </dev/null || failed+=("$name")
done <<<"$packages"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "docs: rustdoc warnings in ${failed[*]} (above)" >&2
  exit 1
fi
echo "docs: every crate documents without a warning"
