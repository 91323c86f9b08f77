#!/usr/bin/env bash
# Conformance for clients and decoders (issue 12), as .ci/run runs it:
#   1. the client checks against the reference client (`pixstore-client adapter`): per step,
#      lines, and through the custom route; all 24 pass, SHOULD included (--strict)
#   2. the client checks against pixstore 3.2.1's browser frontend in Chromium
#      (interop/browser/adapter.mjs, lines mode): exactly its known-failing list (--strict)
#   3. (the broken-client self-test, the client without a bug passing every check and each bug
#      caught by the check it exists for, runs once in `cargo test --workspace`:
#      conformance-selftest/tests/broken_clients.rs; not again here)
#   4. fuzz-decoder with no disagreement: the vector generator's independent decoder and
#      pixstore-proto behind `decoder-adapter`; pixstore 3.2.1's decoder: only the disagreement
#      classes of its known-failing list
#   5. fuzz-decoder on a buggy decoder: found, minimised, written as a vector file that
#      validate.mjs accepts
# Each part prints its time. Reports and the finding go to target/clients/.
# Needs: Node 20, `npm ci --prefix interop` (3.2.1's decoder), Chromium (CHROMIUM, default
# /usr/bin/chromium; interop/browser/run.sh installs it) and interop/browser's npm packages (installed
# here when missing).
#
# Parameters (environment): FUZZ_DECODER_SECONDS (default 15) for each no-disagreement run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/target/clients"
rm -rf "$out"
mkdir -p "$out"
seconds=${FUZZ_DECODER_SECONDS:-15}

. "$root/.ci/lib.sh"

begin "0. build (pixstore-conformance, pixstore-client, the self-test binaries; one cargo invocation, one feature set)"
cargo build -q --locked -p conformance -p pixstore-client -p conformance-selftest \
  --bin pixstore-conformance --bin pixstore-client --bin pixstore-buggy-decoder
suite="$root/target/debug/pixstore-conformance"
client="$root/target/debug/pixstore-client"
done_step

# Asserts a JSON report: no failure, and (optionally) exactly N expected failures.
report_ok() {
  python3 - "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
want_xfail = int(sys.argv[2]) if len(sys.argv) > 2 else 0
assert s["failed"] == 0 and s["expectedFailures"] == want_xfail and s["skipped"] == 0, s
print(sys.argv[1].rsplit("/", 1)[-1], r["target"]["implementation"], "|", r["target"]["protocol"], "|", s)
EOF
}

begin "1. the client checks against the reference client: per step, lines, custom route (all pass, --strict)"
"$suite" client --strict --format json --output "$out/reference.json" -- "$client" adapter
report_ok "$out/reference.json"
"$suite" client --strict --lines --format json --output "$out/reference-lines.json" -- "$client" adapter --lines
report_ok "$out/reference-lines.json"
"$suite" client --strict --via-template --format json --output "$out/reference-template.json" -- "$client" adapter
report_ok "$out/reference-template.json"
done_step

begin "2. the client checks against pixstore 3.2.1's browser frontend in Chromium (exactly its known-failing list)"
if ! [ -d interop/browser/node_modules/playwright-core ]; then
  (cd interop/browser && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "$chromium is missing: run interop/browser/run.sh first (it installs Debian's chromium), or set CHROMIUM" >&2; exit 1; }
known321="$root/conformance/known-failing/pixstore-3.2.1-frontend.txt"
# A hard bound on the whole run, whatever hangs (the suite bounds every adapter call as well).
# Exit 0 only if the listed checks fail with their listed codes and no other check fails
# (--strict: SHOULD failures too); the HTML report is kept as an artifact.
timeout 600 "$suite" client --lines --strict --known-failing "$known321" --format html --output "$out/pixstore-3.2.1-frontend.html" \
  -- node interop/browser/adapter.mjs --chromium "$chromium"
echo "pixstore 3.2.1's frontend: exactly the $(grep -c '^PXC-' "$known321") known failures of $known321"
done_step

begin "4. fuzz-decoder, ${seconds} s each: independent decoders agree with pixstore-proto; 3.2.1 differs only in its known classes"
"$suite" fuzz-decoder --seconds "$seconds" --lines --out "$out/unexpected-generator.json" \
  -- node conformance/adapters/spec-generator/decoder.mjs --lines
"$suite" fuzz-decoder --seconds 5 --lines --out "$out/unexpected-proto.json" -- "$suite" decoder-adapter --lines
"$suite" fuzz-decoder --seconds "$seconds" --lines --keep-going --out "$out/unexpected-3.2.1.json" \
  --known-failing conformance/known-failing/pixstore-3.2.1-decoder.txt \
  -- node conformance/adapters/pixstore-3.2.1/decoder.mjs --lines | tee "$out/fuzz-3.2.1.txt"
done_step

begin "5. fuzz-decoder on a buggy decoder (trailing bytes ignored): found, minimised, a valid vector file"
code=0
"$suite" fuzz-decoder --seconds 60 --lines --out "$out/finding.json" \
  -- "$root/target/debug/pixstore-buggy-decoder" --bug trailing-bytes-ignored --lines | tee "$out/fuzz-buggy.txt" || code=$?
[ "$code" = 1 ] || { echo "fuzz-decoder exited $code on a buggy decoder, expected 1 (a disagreement)" >&2; exit 1; }
grep -q '^DISAGREEMENT error TrailingBytes -> accepted' "$out/fuzz-buggy.txt"
node spec/vectors/validate.mjs "$out/finding.json"
python3 - "$out/finding.json" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))["vectors"][0]
assert v["result"] == "invalid" and v["error"] == "TrailingBytes" and len(v["input_hex"]) == 4, v
print("finding:", v["id"], v["input_hex"], v["error"])
EOF
# The finding is a vector like any other: the suite's decoder command runs it (and refuses a
# folder without vectors rather than pass on nothing).
dir=$(mktemp -d)
if "$suite" decoder --vectors "$dir" -- true 2>/dev/null; then echo "decoder passed on a folder without vectors" >&2; exit 1; fi
cp "$out/finding.json" "$dir/wire_decode.json"
"$suite" decoder --vectors "$dir" -- "$suite" decoder-adapter | tail -n 1
if "$suite" decoder --vectors "$dir" -- "$root/target/debug/pixstore-buggy-decoder" --bug trailing-bytes-ignored >/dev/null; then
  echo "the finding does not fail the buggy decoder" >&2
  exit 1
fi
rm -rf "$dir"
done_step
