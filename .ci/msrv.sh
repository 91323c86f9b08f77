#!/usr/bin/env bash
# True MSRV per crate: `bash .ci/msrv.sh` (from .ci/run, or alone). docs/msrv.md says why each
# crate's rust-version is what it is.
#
# Only the installed stable and nightly toolchains exist here (no rustup downloads), so the
# MSRV is checked from three sides instead of by compiling with the old compiler:
# 1. every dependency a crate builds (normal and build dependencies, all features, as locked)
#    declares a rust-version no newer than the crate's own (this caught zeroize 1.9 needing 1.85
#    under a crate that said 1.81), and docs/msrv.md's table says the same as the manifest;
# 2. clippy's incompatible_msrv: no standard-library item newer than the crate's rust-version;
# 3. (in .ci/package.sh) the lowest direct dependency versions the manifests allow still build.
# What none of them sees: language features newer than the rust-version in our own code.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

echo "--- dependencies' rust-version against each crate's"
cargo metadata --format-version 1 --locked >target/msrv-metadata.json
members=$(python3 -c 'import json; m=json.load(open("target/msrv-metadata.json")); print(" ".join(p["name"] for p in m["packages"] if p["id"] in m["workspace_members"]))')
status=0
for member in $members; do
  cargo tree --locked -p "$member" --all-features -e normal,build --prefix none -f '{p}' >"target/msrv-tree-$member.txt"
  python3 - "$member" "target/msrv-tree-$member.txt" <<'EOF' || status=1
import json, sys
member, tree = sys.argv[1], sys.argv[2]
meta = json.load(open("target/msrv-metadata.json"))
by_key = {(p["name"], p["version"]): p for p in meta["packages"]}
def ver(s):
    parts = [int(x) for x in s.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))
own = next(p for p in meta["packages"] if p["name"] == member and p["id"] in meta["workspace_members"])
want = own.get("rust_version")
if not want:
    print(f"{member}: no rust-version in its manifest"); sys.exit(1)
worst, too_new = None, []
for line in open(tree):
    parts = line.split()
    if len(parts) < 2 or not parts[1].startswith("v"):
        continue
    p = by_key.get((parts[0], parts[1][1:]))
    rv = p and p.get("rust_version")
    if not rv or p["id"] == own["id"]:
        continue
    if worst is None or ver(rv) > ver(worst[0]):
        worst = (rv, f'{p["name"]} {p["version"]}')
    if ver(rv) > ver(want):
        too_new.append(f'{p["name"]} {p["version"]} needs {rv}')
newest = f"{worst[1]} needs {worst[0]}" if worst else "no dependency declares one"
if too_new:
    print(f"{member}: rust-version {want}, but: " + "; ".join(sorted(set(too_new))))
    sys.exit(1)
table_row = f"| `{member}` | {want}"
if table_row not in open("docs/msrv.md").read():
    print(f"{member}: docs/msrv.md has no row starting {table_row!r}: update its table"); sys.exit(1)
print(f"{member}: rust-version {want} ok (newest need: {newest})")
EOF
done
[ "$status" = 0 ] || { echo "a crate's rust-version is older than its dependencies need: raise it (docs/msrv.md)" >&2; exit 1; }

echo "--- clippy incompatible_msrv for the publishable crates, all features"
cargo clippy --locked -p pixstore-proto -p pixstore-fs -p pixstore-client -p pixstore-server --all-targets --all-features -- \
  -D clippy::incompatible_msrv
echo "msrv: every crate's rust-version covers its dependencies and its use of std"
