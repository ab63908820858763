#!/bin/bash
# Media relay benchmark of Zvon against the plain C relay and rtpengine, in one run of
# /work/shared/bench/media/rtpengine_bench.py (see its README). Not run by CI.
#
#   media.sh [--quick] [relay|transcode|both]     (default: both)
#
# relay:     --relays external,plain-simple,rtpengine   (Zvon relaying PCMU<->PCMU)
# transcode: --relays external,rtpengine-transcode --ext-kind transcode (PCMU A <-> Opus B)
# The harness is copied to $BENCH_WORK/media (the shared copy is left untouched) and its
# results go to $BENCH_WORK/results-<kind>-<time>/. Zvon: $ZVON_BIN (default: the release build),
# copied so a rebuild during the run cannot change it; its media workers run on the one core
# it is pinned to (one worker). Set-up: tests/bench/media_setup.sh (SIPp, see there).
# Sweep: CALLS_RELAY (default 500,1000,1500,2000,2500), CALLS_TRANSCODE (default
# 25,50,100,125,150,175,200), REPS (2 / 1), WINDOW (15 s) — ~20 min on a 2-core machine;
# BENCH_EXTRA: more harness options (e.g. "--noise-pct 25 --retries 1" on a shared machine).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
quick=()
what=both
for a in "$@"; do
    case $a in
        --quick) quick=(--quick) ;;
        relay|transcode|both) what=$a ;;
        *) echo "usage: $0 [--quick] [relay|transcode|both]" >&2; exit 2 ;;
    esac
done
export BENCH_WORK=${BENCH_WORK:-/tmp/zvon-bench-media}
export ZVON_SIP=${ZVON_SIP:-127.0.0.1:5260}
export RATE=${RATE:-200}
shared=${BENCH_SHARED:-/work/shared/bench/media}
zvon_bin=${ZVON_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/zvon}

need=()
command -v rtpengine >/dev/null || need+=(rtpengine-daemon)
command -v sipp >/dev/null || need+=(sip-tester)
command -v cc >/dev/null || need+=(build-essential)
[ -e /usr/include/opus/opus.h ] || need+=(libopus-dev)
if [ ${#need[@]} -gt 0 ]; then apt-get install -y "${need[@]}"; fi
# the packaged service is not the one measured; stop it for a quiet machine
if command -v systemctl >/dev/null && systemctl is-active --quiet rtpengine-daemon 2>/dev/null; then
    systemctl stop rtpengine-daemon || true
fi

mkdir -p "$BENCH_WORK/media"
cp -r "$shared"/rtpengine_bench.py "$shared"/rtpload.c "$shared"/plainrelay.c "$shared"/examples \
    "$BENCH_WORK/media/"
cp "$zvon_bin" "$BENCH_WORK/zvon"
"$here/zvon_config.sh" "$BENCH_WORK/zvon-cfg" "${ZVON_SIP##*:}" 10000 20000 10 warn
"$BENCH_WORK/zvon" check --config "$BENCH_WORK/zvon-cfg/config"

run() {  # KIND EXTRA_ARGS...
    local kind=$1; shift
    local out="$BENCH_WORK/results-$kind-$(date +%Y%m%d-%H%M%S)"
    local codec=pcmu relays=external,plain-simple,rtpengine name=zvon
    if [ "$kind" = transcode ]; then codec=opus relays=external,rtpengine-transcode name=zvon-transcode; fi
    timeout 3600 python3 "$BENCH_WORK/media/rtpengine_bench.py" "${quick[@]}" --out "$out" \
        --relays "$relays" --ext-name "$name" --ext-kind "$kind" \
        --ext-start "$BENCH_WORK/zvon run --config $BENCH_WORK/zvon-cfg/config" \
        --ext-start-wait 1.5 \
        --ext-setup "$here/media_setup.sh {calls} {a_port} {b_port} {legs} $codec" \
        --ext-teardown "$here/media_setup.sh --teardown" ${BENCH_EXTRA:-} "$@"
    echo "== $kind: $out/summary.txt"
    # Zvon's warnings and errors during the run
    grep -hE ' (WARN|ERROR) ' "$out"/$name.log | grep -v 'no music on hold' | sort | uniq -c | sort -rn | head -20 || true
}

if [ "$what" != transcode ]; then
    run relay --calls-relay "${CALLS_RELAY:-500,1000,1500,2000,2500}" --reps "${REPS:-2}" \
        --window "${WINDOW:-15}"
fi
if [ "$what" != relay ]; then
    run transcode --calls-transcode "${CALLS_TRANSCODE:-25,50,100,125,150,175,200}" \
        --reps "${REPS_TRANSCODE:-1}" --window "${WINDOW:-15}"
fi
