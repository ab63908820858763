#!/usr/bin/env bash
# Runs every test Zvon has, installing what the tests need when it is missing.
# Usage: bash tests/run-all.sh        (from the repository root; root or sudo for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v sipp >/dev/null || need_pkgs+=(sip-tester)
command -v baresip >/dev/null || need_pkgs+=(baresip-core)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
# audiopus links the system libopus; without it audiopus_sys tries to build Opus from source
# (needs autoreconf) and fails.
[ -e /usr/include/opus/opus.h ] || need_pkgs+=(libopus-dev)
command -v cc >/dev/null || need_pkgs+=(build-essential)
command -v python3 >/dev/null || need_pkgs+=(python3)   # report tests read CSV/JSON with it
# The HTML report is rendered in headless Chromium by tests/e2e/report.rs.
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

echo "== layering: no IO or clock reads in the sans-IO modules"
pure=""
for d in src/sip src/sdp src/media src/call src/dialplan src/ivr src/acd src/trunk; do [ -d "$d" ] && pure="$pure $d"; done
if grep -rnE 'tokio::|std::net::(UdpSocket|TcpStream|TcpListener)|rusqlite|Instant::now|SystemTime::now|thread::sleep|std::fs::' $pure \
     | grep -vE '^\S+:\s*//' | grep -v '#\[cfg(test)\]' | grep -vE 'include_bytes|tests\.rs|/tests/' ; then
  echo "layering violation: IO or clock in a sans-IO module (ARCHITECTURE.md rule 1)" >&2
  exit 1
fi

echo "== shipped config"
cargo run --locked --quiet -- check --config config

echo "== unit, world and black-box tests (SIPp, baresip)"
cargo test --locked --all-targets

echo "== fuzz smoke"
bash tests/fuzz/smoke.sh
