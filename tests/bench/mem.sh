#!/bin/bash
# Memory per relayed call: VmRSS of the Zvon process with 0 calls and with N calls up
# (set up by media_setup.sh), before and after 5 s of G.711 media both ways (rtpload).
# Not run by CI.
#   mem.sh [N...]          default: 1000 2000; a fresh Zvon per N
# Needs rtpload built by media.sh ($BENCH_WORK/media/rtpload) or builds it from the shared copy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export BENCH_WORK=${BENCH_WORK:-/tmp/zvon-bench-mem}
export ZVON_SIP=${ZVON_SIP:-127.0.0.1:5260}
export RATE=${RATE:-200}
zvon_bin=${ZVON_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/zvon}
ns=("${@:-1000 2000}"); [ $# -eq 0 ] && ns=(1000 2000)
mkdir -p "$BENCH_WORK"
rtpload=${RTPLOAD:-$BENCH_WORK/rtpload}
[ -x "$rtpload" ] || cc -O2 -Wall -o "$rtpload" /work/shared/bench/media/rtpload.c -lopus -lm
cp "$zvon_bin" "$BENCH_WORK/zvon"
"$here/zvon_config.sh" "$BENCH_WORK/cfg" "${ZVON_SIP##*:}" 10000 20000 10 warn
rss() { awk '/^VmRSS/ { print $2 }' /proc/"$1"/status; }
zpid=
trap '[ -n "$zpid" ] && kill "$zpid" 2>/dev/null; "$here/media_setup.sh" --teardown' EXIT
printf '| N calls | VmRSS 0 calls (KiB) | VmRSS N calls, set up (KiB) | after 5 s media (KiB) | KiB per call (set up / with media) |\n|---|---|---|---|---|\n' > "$BENCH_WORK/mem.md"
for n in "${ns[@]}"; do
    "$BENCH_WORK/zvon" run --config "$BENCH_WORK/cfg/config" > "$BENCH_WORK/zvon-$n.log" 2>&1 &
    zpid=$!
    sleep 2
    r0=$(rss "$zpid")
    HOLD_S=$((n / RATE + 40)) "$here/media_setup.sh" "$n" 4000 4002 "$BENCH_WORK/legs-$n.txt" pcmu
    sleep 2
    r1=$(rss "$zpid")
    "$rtpload" -l "$BENCH_WORK/legs-$n.txt" -w 1 -d 4 -q > "$BENCH_WORK/rtpload-$n.json"
    r2=$(rss "$zpid")
    loss=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['loss_pct'], r['rx_unknown'])" "$BENCH_WORK/rtpload-$n.json")
    awk -v n="$n" -v a="$r0" -v b="$r1" -v c="$r2" 'BEGIN { printf "| %d | %d | %d | %d | %.1f / %.1f |\n", n, a, b, c, (b-a)/n, (c-a)/n }' \
        | tee -a "$BENCH_WORK/mem.md"
    echo "  (media check at N=$n: loss % and unknown packets: $loss)"
    "$here/media_setup.sh" --teardown
    kill -TERM "$zpid"; wait "$zpid" 2>/dev/null || true; zpid=
    grep -E ' (WARN|ERROR) ' "$BENCH_WORK/zvon-$n.log" | grep -v 'no music' | head -5 || true
done
cat "$BENCH_WORK/mem.md"
