#!/bin/bash
# Call set-up rate through Zvon and, in the same run, through Kamailio as a record-routing
# stateful proxy (/work/shared/bench). Not run by CI.
#
#   call_setup.sh [RATES]            RATES: comma list, default 200,500,1000,1500,2000,2500,3000
#
# Per server and rate: a 10 s step of SIPp calls (-r RATE -m RATE*10), INVITE->180->200->ACK,
# HOLD_MS (default 100 ms) of call, BYE->200. Zvon: the caller authenticates (INVITE -> 407 ->
# ACK -> INVITE with credentials, tests/sipp/uac_call.xml.in without pcap) as 1001 and the
# callee is a SIPp UAS registered as 1002 answering with SDP, so Zvon allocates two media ports
# per call and relays (nothing is sent on them). Kamailio: shared sipp/uac_rr.xml ->
# kamailio-registrar.cfg -> sipp/uas_rr.xml (no auth on INVITE, no media: a proxy).
# A step passes with 0 failed calls, 0 retransmissions and >= 95 % of the rate; a server's
# ladder stops after two failing steps. Server on core 1, SIPp on core 0 (taskset). CPU per call
# = utime+stime of the server's process(es) from /proc over the step / successful calls.
# Output: $BENCH_WORK/callsetup-<time>/ (summary.txt, per-step SIPp CSV, server logs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${BENCH_SHARED:-/work/shared/bench}
rates=${1:-200,500,1000,1500,2000,2500,3000}
hold_ms=${HOLD_MS:-100}
step_s=${STEP_S:-10}
work=${BENCH_WORK:-/tmp/zvon-bench-calls}
zvon_port=${ZVON_PORT:-5260} zuas_port=5281
kam_port=${KAM_PORT:-5170} kuas_port=5180
zvon_bin=${ZVON_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/zvon}
out="$work/callsetup-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
command -v sipp >/dev/null && command -v kamailio >/dev/null || apt-get install -y sip-tester kamailio
cp "$zvon_bin" "$out/zvon"
log() { echo "$*" | tee -a "$out/summary.txt"; }
hz=$(getconf CLK_TCK)

# CPU ticks (utime+stime) of PID and its child processes (Kamailio's workers).
ticks() {
    local root=$1 sum=0 p f
    for p in $root $(cat /proc/"$root"/task/*/children 2>/dev/null); do
        f=$(cat /proc/"$p"/stat 2>/dev/null) || continue
        f=${f##*) }
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    echo $sum
}
busy_pct() {  # busy % of cpu0 and cpu1 over 1 s
    local a b
    a=$(grep -E '^cpu[01] ' /proc/stat); sleep 1; b=$(grep -E '^cpu[01] ' /proc/stat)
    paste <(echo "$a") <(echo "$b") | awk -v hz="$hz" '{ n=NF/2; i0=$5+$6; i1=$(5+n)+$(6+n);
        printf "%s=%.0f%% ", $1, 100*(1-(i1-i0)/hz) }'
}
wait_quiet() {  # bounded: at most 30 s
    local i b
    for i in $(seq 30); do
        b=$(busy_pct)
        echo "$b" | awk '{ for (i=1;i<=NF;i++) { split($i,x,"="); if (x[2]+0 > 15) exit 1 } }' && break
    done
    echo "$b"
}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# ---- scenarios
sed -e "s/@USER@/1001/g; s/@PASS@/demo1001/g; s/@TO@/1002/g; s/@PAUSE@/$hold_ms/g; s/@INFO@//" \
    -e '/<pause milliseconds="@PREPAUSE@"\/>/d; /play_pcap_audio/d; /<nop>/d; /<\/nop>/d; /<pause milliseconds="1500"\/>/d' \
    "$here/../sipp/uac_call.xml.in" > "$out/zvon_uac.xml"
sed -e "s/@RTP@/4100/" "$here/../sipp/uas_answer.xml.in" > "$out/zvon_uas.xml"

# one step: NAME SERVER_PID TARGET SCENARIO RATE EXTRA...  -> prints "pass|fail ..." line
step() {
    local name=$1 pid=$2 target=$3 sf=$4 rate=$5; shift 5
    local n=$((rate * step_s)) csv="$out/$name-$rate.csv" q t0 t1 c0 c1 w0 w1 rc
    q=$(wait_quiet)
    rm -f "$csv"
    c0=$(ticks "$pid"); w0=$(date +%s.%N)
    rc=0
    timeout $((step_s * 3 + 40)) taskset -c 0 sipp "$target" -sf "$sf" -i 127.0.0.1 -r "$rate" -m "$n" \
        -l $((rate * 4 + 100)) -mp 7200 -nostdin -timeout $((step_s * 3 + 30))s -max_retrans 5 \
        -trace_stat -stf "$csv" -fd 1 "$@" > "$out/$name-$rate.out" 2>&1 || rc=$?
    c1=$(ticks "$pid"); w1=$(date +%s.%N)
    python3 - "$csv" "$name" "$rate" "$n" "$((c1 - c0))" "$hz" "$w0" "$w1" "$hold_ms" "$rc" "$q" <<'PY' | tee -a "$out/summary.txt"
import csv, sys
f, name, rate, n, dt, hz, w0, w1, hold, rc, q = sys.argv[1:]
rate, n, dt, hz, hold = int(rate), int(n), int(dt), int(hz), int(hold)
rows = list(csv.reader(open(f), delimiter=";"))
h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)]
ok, failed, retr = int(g("SuccessfulCall(C)")), int(g("FailedCall(C)")), int(g("Retransmissions(C)"))
# achieved rate: calls over the time SIPp took to start them (elapsed minus one call's hold)
el = g("ElapsedTime(C)").split(":")
el = int(el[0]) * 3600 + int(el[1]) * 60 + float(el[2])
achieved = ok / max(0.001, el - hold / 1000.0)
passed = failed == 0 and retr == 0 and ok == n and achieved >= 0.95 * rate
us = 1e6 * dt / hz / ok if ok else float("nan")
print(f"{name:9s} rate {rate:5d}/s  {'PASS' if passed else 'FAIL'}  ok {ok}/{n}  failed {failed}  "
      f"retrans {retr}  achieved {achieved:7.0f}/s  server CPU {dt / hz:6.2f} s = {us:6.1f} us/call  "
      f"({100 * dt / hz / (float(w1) - float(w0)):.0f}% of a core)  sipp rc {rc}  before: {q}")
PY
}

ladder() {  # NAME PID TARGET SCENARIO EXTRA...
    local name=$1 pid=$2 target=$3 sf=$4; shift 4
    local fails=0 r res
    for r in ${rates//,/ }; do
        res=$(step "$name" "$pid" "$target" "$sf" "$r" "$@")
        echo "$res"
        if echo "$res" | grep -q ' PASS '; then
            fails=0
        else
            fails=$((fails + 1))
            [ $fails -ge 2 ] && break
        fi
        sleep 4   # let retransmission timers and dialogs drain
    done
}

log "# call set-up benchmark $(date -u +%FT%TZ)  rates=$rates step=${step_s}s hold=${hold_ms}ms $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1) $(kamailio -v 2>/dev/null | head -1)"

# ---- Zvon
"$here/zvon_config.sh" "$out/zvon-cfg" "$zvon_port" 10000 20000 10 warn
taskset -c 1 "$out/zvon" run --config "$out/zvon-cfg/config" > "$out/zvon.log" 2>&1 &
zpid=$!; pids+=("$zpid")
sleep 1.5
printf 'SEQUENTIAL\n1002;[authentication username=1002 password=demo1002];3600;\n' > "$out/reg.csv"
sipp 127.0.0.1:$zvon_port -sf "$here/../sipp/reg_ok.xml" -inf "$out/reg.csv" -m 1 -i 127.0.0.1 \
    -p $zuas_port -nostdin -timeout 10s -timeout_error > "$out/reg.out" 2>&1
taskset -c 0 sipp -sf "$out/zvon_uas.xml" -i 127.0.0.1 -p $zuas_port -mp 7300 -nostdin \
    -timeout 1800s > "$out/zvon_uas.out" 2>&1 &
pids+=("$!")
sleep 0.5
log "## zvon (pid $zpid, 1 UAS registered as 1002 on :$zuas_port)"
ladder zvon "$zpid" 127.0.0.1:$zvon_port "$out/zvon_uac.xml"
log "zvon RSS after the ladder: $(grep VmRSS /proc/$zpid/status)"
kill -TERM "$zpid"; wait "$zpid" 2>/dev/null || true
kill "${pids[1]}" 2>/dev/null || true
log "zvon log, WARN/ERROR lines (count, text without timestamp):"
grep -E ' (WARN|ERROR) ' "$out/zvon.log" | grep -v 'no music on hold' | cut -c29- | sed -E 's/call=[0-9a-f]+/call=…/g' \
    | sort | uniq -c | sort -rn | head -15 | tee -a "$out/summary.txt" || true

# ---- Kamailio
taskset -c 1 kamailio -f "$shared/kamailio-registrar.cfg" -DD -E -m 1024 -M 16 -A CHILDREN=4 \
    -A LPORT=$kam_port -A UAS_PORT=$kuas_port > "$out/kamailio.log" 2>&1 &
kpid=$!; pids+=("$kpid")
taskset -c 0 sipp -sf "$shared/sipp/uas_rr.xml" -i 127.0.0.1 -p $kuas_port -mp 7400 -nostdin \
    -timeout 1800s > "$out/kam_uas.out" 2>&1 &
pids+=("$!")
sleep 2
log "## kamailio (pid $kpid, 4 UDP workers)"
ladder kamailio "$kpid" 127.0.0.1:$kam_port "$shared/sipp/uac_rr.xml" -s callee -d "$hold_ms"
kill -TERM "$kpid"; wait "$kpid" 2>/dev/null || true
log "results: $out"
