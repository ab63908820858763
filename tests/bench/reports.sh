#!/bin/bash
# Report benchmark: a year of synthetic traffic (default 1,000,000 calls with their queue
# events, tests/bench/report_data.py), then every report over a day, a month and the whole
# year, timed (wall clock and peak memory, GNU time). Not run by CI.
#
#   reports.sh [CALLS]          CALLS: default 1000000
#
# The database is kept in $BENCH_WORK/reports-<calls>/state (re-used when it exists).
# Zvon: $ZVON_BIN (default: the release build). Results: $BENCH_WORK/reports-<calls>/summary.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
calls=${1:-1000000}
work=${BENCH_WORK:-/tmp/zvon-bench-reports}/reports-$calls
zvon_bin=${ZVON_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/zvon}
mkdir -p "$work/state"
cd "$work"   # no ./config here: the reports run on --state-dir alone (20 s service levels)
db=$work/state/zvon.db
if [ ! -s "$db" ]; then
    rm -f "$db" "$db-wal" "$db-shm"
    touch "$db"
    # zvon creates the schema (its migrations) on first open; the report itself is empty.
    "$zvon_bin" report queue-log --state-dir "$work/state" --since 0 --until 1 >/dev/null
    echo "== generating $calls calls"
    start=$(date +%s)
    python3 "$here/report_data.py" "$db" "$calls"
    echo "generated in $(( $(date +%s) - start )) s"
fi
# The generator writes rows, not packs (the daemon's writer packs the queue log and the CDRs
# as it goes): the first report that reads them packs them. Done here, untimed by the table.
for r in queues calls; do
    start=$(date +%s%N)
    "$zvon_bin" report $r --state-dir "$work/state" --from 2023-01-01 --to 2023-01-01 \
        --format csv > /dev/null 2>&1
    echo "packed for $r (if it was not) in $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
ls -l "$db" | awk '{printf "database: %.0f MB\n", $5 / 1e6}'
out=$work/summary.txt
: > "$out"
printf '%-10s %-6s %9s %9s\n' report period wall_s max_MB | tee -a "$out"
for period in "--from 2023-06-14 --to 2023-06-14:day" "--from 2023-06-01 --to 2023-06-30:month" \
              "--from 2023-01-01 --to 2023-12-31:year"; do
    args=${period%:*} name=${period##*:}
    for r in summary queues agents hourly calls abandoned ivr forecast; do
        if [ "$r" = forecast ]; then cmd=(forecast); else cmd=(report "$r"); fi
        /usr/bin/time -o "$work/time" -f "%e %M" "$zvon_bin" "${cmd[@]}" \
            --state-dir "$work/state" $args --format csv > /dev/null 2> "$work/$r-$name.err"
        t=$(tail -1 "$work/time")
        printf '%-10s %-6s %9s %9.0f\n' "$r" "$name" "${t% *}" "$(( ${t#* } / 1024 ))" | tee -a "$out"
    done
done
echo "results: $out"
