#!/usr/bin/env bash
# Short fuzz smoke run of every target (CI): builds the targets so they never rot, and runs
# each for FUZZ_SECS seconds (default 20) on a scratch copy of its corpus. Longer campaigns:
#   cd tests/fuzz && cargo fuzz run --sanitizer none sip_parse -- -max_total_time=600
set -euo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECS:-20}
if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}
for t in $(cargo fuzz list --fuzz-dir .); do
  scratch=$(mktemp -d)
  echo "== fuzz $t for ${secs}s"
  # The first corpus directory receives new inputs; the committed corpus is read only.
  cargo fuzz run --fuzz-dir . --sanitizer none "$t" "$scratch" "corpus/$t" -- -max_total_time="$secs" 2>&1 | tail -n 3
  rm -rf "$scratch"
done
