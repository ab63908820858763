#!/usr/bin/env bash
# Registrar benchmark: REGISTER with digest auth (REGISTER → 401 → REGISTER → 200), Kamailio 5.6
# (the reference, ../shared/bench) and Zvon measured in the same run, one after the other.
#
# For each server the REGISTER rate is stepped; a step passes with 0 failed calls,
# 0 retransmissions and ≥ 95 % of the target rate achieved; the run stops after two failing
# steps. The server is pinned to one core, SIPp to the other; the server's CPU time (all its
# processes and threads) during each step is divided by the successful registrations.
#
# Loopback only, bounded in count and time, stops by itself. Not run by CI.
#
# Usage: bash tests/bench/registrar.sh [options]
#   --users N          users / extensions (default 20000), numbered 3000000…
#   --step-secs S      seconds per rate step (default 10); each step sends rate*S registrations
#   --rates "R1 R2 …"  REGISTER rates per second to step through (default 1000 … 40000)
#   --quick            short sanity run: rates "1000 2000", 3 s per step
#   --servers "…"      which servers, in order (default "kamailio zvon")
#   --zvon PATH        zvon binary (default $ZVON, /work/target-release/release/zvon,
#                      then target/release/zvon of this checkout)
#   --bench-dir DIR    Kamailio cfg and SIPp scenarios (default $BENCH_DIR or /work/shared/bench)
#   --sipp-buff BYTES  SIPp's socket buffers (-buff_size; default 4194304, the same 4 MiB the
#                      servers get; 0 = SIPp's own default of 64 KiB, with which SIPp's socket
#                      drops bursts of responses and counts retransmissions the server did not cause)
#   --keep             keep the temp dir (configs, logs, SIPp stats) and print its path
#   --perf             run `perf record -g` on Zvon during each of its steps (diagnosis only:
#                      it perturbs the figures); data files are kept in the temp dir
# Environment: SERVER_CPU (0), SIPP_CPU (1), KAM_PORT (5070), ZVON_PORT (5072),
#              SIPP_PORT (5090), QUIET_PCT (15: wait before each step until the whole machine
#              uses less than this % of one core, at most QUIET_MAX s, default 60),
#              NOISE_PCT (25: a step during which other processes used more than this % of
#              one core is repeated, at most NOISE_RETRIES times, default 2).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

USERS=20000
STEP_SECS=10
RATES="1000 2000 4000 6000 8000 10000 12000 15000 18000 21000 24000 28000 32000 36000 40000"
SERVERS="kamailio zvon"
ZVON=${ZVON:-}
BENCH_DIR=${BENCH_DIR:-/work/shared/bench}
KEEP=0
PERF=0
SIPP_BUFF=4194304
SERVER_CPU=${SERVER_CPU:-0}
SIPP_CPU=${SIPP_CPU:-1}
KAM_PORT=${KAM_PORT:-5070}
ZVON_PORT=${ZVON_PORT:-5072}
SIPP_PORT=${SIPP_PORT:-5090}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_MAX=${QUIET_MAX:-60}
NOISE_PCT=${NOISE_PCT:-25}
NOISE_RETRIES=${NOISE_RETRIES:-2}
PASSWORD=bench-secret
FIRST_USER=3000000

die() { echo "registrar.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS=$2; shift 2 ;;
    --step-secs) STEP_SECS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --quick) RATES="1000 2000"; STEP_SECS=3; shift ;;
    --servers) SERVERS=$2; shift 2 ;;
    --zvon) ZVON=$2; shift 2 ;;
    --bench-dir) BENCH_DIR=$2; shift 2 ;;
    --sipp-buff) SIPP_BUFF=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --perf) PERF=1; KEEP=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
  esac
done

[[ $USERS =~ ^[0-9]+$ ]] && [ "$USERS" -ge 1 ] && [ "$USERS" -le 1000000 ] || die "--users: 1..1000000"
[[ $STEP_SECS =~ ^[0-9]+$ ]] && [ "$STEP_SECS" -ge 1 ] && [ "$STEP_SECS" -le 120 ] || die "--step-secs: 1..120"
for r in $RATES; do [[ $r =~ ^[0-9]+$ ]] && [ "$r" -ge 1 ] && [ "$r" -le 200000 ] || die "bad rate: $r"; done
[[ $SIPP_BUFF =~ ^[0-9]+$ ]] || die "--sipp-buff: bytes"
for s in $SERVERS; do case $s in kamailio|zvon) ;; *) die "unknown server: $s" ;; esac; done

if [ -z "$ZVON" ]; then
  for c in /work/target-release/release/zvon "$repo/target/release/zvon"; do
    [ -x "$c" ] && { ZVON=$c; break; }
  done
fi
command -v sipp >/dev/null || die "sipp missing (apt-get install -y sip-tester)"
command -v taskset >/dev/null || die "taskset missing (util-linux)"
SCEN="$BENCH_DIR/sipp/reg_auth.xml"
KAM_CFG="$BENCH_DIR/kamailio-registrar.cfg"
[ -r "$SCEN" ] || die "no scenario $SCEN"
case " $SERVERS " in *" kamailio "*)
  command -v kamailio >/dev/null || die "kamailio missing (apt-get install -y kamailio)"
  [ -r "$KAM_CFG" ] || die "no $KAM_CFG" ;;
esac
case " $SERVERS " in *" zvon "*)
  [ -n "$ZVON" ] && [ -x "$ZVON" ] || die "no zvon binary (cargo build --release, or --zvon PATH)" ;;
esac

TICK=$(getconf CLK_TCK)
NCPU=$(nproc)
WORK=$(mktemp -d /tmp/zvon-bench-reg.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private copy of the binary: a shared target dir may be rebuilt by someone else mid-run.
if [[ " $SERVERS " == *" zvon "* ]]; then
  ZVON_ID="$ZVON, built $(date -r "$ZVON" '+%F %T'), sha256 $(sha256sum "$ZVON" | cut -c1-12)"
  cp "$ZVON" "$WORK/zvon"; ZVON="$WORK/zvon"
fi

# ---------------------------------------------------------------- users and Zvon config
last_user=$((FIRST_USER + USERS - 1))
{
  echo SEQUENTIAL
  seq "$FIRST_USER" "$last_user" | awk -v pw="$PASSWORD" '{print $1";[authentication username="$1" password="pw"]"}'
} > "$WORK/users.csv"

ZCFG="$WORK/zvon-config"
mkdir -p "$ZCFG"
cat > "$ZCFG/zvon.toml" <<EOF
[server]
udp = ["127.0.0.1:$ZVON_PORT"]
tcp = []
domain = "127.0.0.1"
state_dir = "$WORK/zvon-state"
log_level = "warn"

[security]
ban_failures = 0

[registrar]
max_expires = 3600
EOF
seq "$FIRST_USER" "$last_user" | awk -v pw="$PASSWORD" \
  '{printf "[[extension]]\nnumber = \"%s\"\npassword = \"%s\"\n\n", $1, pw}' > "$ZCFG/extensions.toml"
if [[ " $SERVERS " == *" zvon "* ]]; then
  "$ZVON" check --config "$ZCFG" > "$WORK/zvon-check.log" 2>&1 || { cat "$WORK/zvon-check.log" >&2; die "zvon check failed"; }
fi

# ---------------------------------------------------------------- measurement helpers
# One line per process: "pid ppid ticks name own", ticks = utime+stime+cutime+cstime,
# own = utime+stime.
proc_snapshot() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk '
    { c = $0; sub(/^[0-9]+ \(/, "", c); sub(/\) .*$/, "", c); gsub(/ /, "_", c)
      line = $0; sub(/^[0-9]+ \(.*\) /, "", line); split(line, f, " ")
      print $1, f[2], f[12] + f[13] + f[14] + f[15], c, f[12] + f[13] }'
}
# CPU ticks of a process and all its descendants in a snapshot (Kamailio forks workers;
# Zvon's threads are already summed in its own stat line).
tree_ticks() {
  awk -v root="$2" '
    { ppid[$1] = $2; t[$1] = $3 }
    END {
      inset[root] = 1; changed = 1
      while (changed) { changed = 0
        for (p in ppid) if (!(p in inset) && (ppid[p] in inset)) { inset[p] = 1; changed = 1 } }
      s = 0; for (p in inset) s += t[p]; print s
    }' "$1"
}
# The other processes that used most CPU between two snapshots: "name:ms …" (noise check;
# own CPU only, so a process that started and ended within the step is not named).
top_others() {
  awk -v root="$3" -v self="$$" -v tick="$TICK" '
    NR == FNR { a[$1] = $5; next }
    { ppid[$1] = $2; t[$1] = $5; name[$1] = $4 }
    END {
      inset[root] = 1; inset[self] = 1; changed = 1
      while (changed) { changed = 0
        for (p in ppid) if (!(p in inset) && (ppid[p] in inset)) { inset[p] = 1; changed = 1 } }
      for (p in t) if (!(p in inset)) { d = t[p] - ((p in a) ? a[p] : 0); if (d * 1000 / tick >= 100) print d, name[p] }
    }' "$1" "$2" | sort -rn | head -3 | awk -v tick="$TICK" '{ printf "%s%s:%dms", (NR > 1 ? "," : ""), $2, $1 * 1000 / tick }'
}
# busy ticks of the whole machine (all cores): user+nice+system+irq+softirq+steal
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# reaped-children CPU of this shell (SIPp is run in the foreground, so this is SIPp's)
self_child_ticks() { awk '{ line = $0; sub(/^[0-9]+ \(.*\) /, "", line); split(line, f, " "); print f[14] + f[15] }' /proc/$$/stat; }
# "name ticks" per thread name of one process (Zvon: main = config + engine, tokio-rt-worker =
# socket IO, zvon-store = SQLite writer)
thread_ticks() {
  cat /proc/"$1"/task/[0-9]*/stat 2>/dev/null | awk '
    { c = $0; sub(/^[0-9]+ \(/, "", c); sub(/\) .*$/, "", c); gsub(/ /, "_", c)
      line = $0; sub(/^[0-9]+ \(.*\) /, "", line); split(line, f, " "); t[c] += f[12] + f[13] }
    END { for (c in t) print c, t[c] }' | sort
}
rcvbuf_errors() { awk '$1 == "Udp:" { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else { print $(c["RcvbufErrors"]); exit } }' /proc/net/snmp; }
now_ns() { date +%s%N; }
# receive-buffer drops of the UDP socket bound to a local port (ss skmem "d")
sock_drops() { ss -Huamn "sport = :$1" 2>/dev/null | grep -o 'skmem:([^)]*)' | head -1 | sed -n 's/.*,d\([0-9]*\)).*/\1/p' | grep . || echo 0; }

# Waits until the machine is quiet (less than QUIET_PCT % of one core busy over 1 s).
wait_quiet() {
  local waited=0 a b pct
  while :; do
    a=$(machine_ticks); sleep 1; b=$(machine_ticks)
    pct=$(( (b - a) * 100 / TICK ))
    [ "$pct" -lt "$QUIET_PCT" ] && return 0
    waited=$((waited + 1))
    if [ "$waited" -ge "$QUIET_MAX" ]; then
      echo "   (machine not quiet after ${QUIET_MAX}s: ${pct}% of a core busy; measuring anyway)" >&2
      return 0
    fi
  done
}

wait_udp_port() {
  local port=$1
  for _ in $(seq 100); do
    if ss -Hlun "sport = :$port" 2>/dev/null | grep -q .; then return 0; fi
    sleep 0.1
  done
  return 1
}
port_free() { ! ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }

# ---------------------------------------------------------------- servers
start_kamailio() {
  port_free "$KAM_PORT" || die "UDP port $KAM_PORT is in use (stray kamailio?)"
  taskset -c "$SERVER_CPU" kamailio -f "$KAM_CFG" -DD -E -m 1024 -M 16 \
    -A WITH_AUTH -A "LPORT=$KAM_PORT" -A "CTL_SOCK=\"unix:$WORK/kamailio_ctl\"" \
    > "$WORK/kamailio.log" 2>&1 &
  SERVER_PID=$!
  wait_udp_port "$KAM_PORT" || { tail -20 "$WORK/kamailio.log" >&2; die "kamailio did not start"; }
  sleep 1
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/kamailio.log" >&2; die "kamailio exited"; }
}
start_zvon() {
  port_free "$ZVON_PORT" || die "UDP port $ZVON_PORT is in use"
  local t0; t0=$(now_ns)
  taskset -c "$SERVER_CPU" "$ZVON" run --config "$ZCFG" > "$WORK/zvon.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 600); do ! port_free "$ZVON_PORT" && break; sleep 0.1; done
  port_free "$ZVON_PORT" && { tail -20 "$WORK/zvon.log" >&2; die "zvon did not start within 60 s"; }
  ZVON_START_MS=$(( ($(now_ns) - t0) / 1000000 ))
  sleep 1
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/zvon.log" >&2; die "zvon exited"; }
}
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# ---------------------------------------------------------------- one server, all steps
# results: $WORK/<server>.results, one line per step:
#   rate ok failed retrans achieved_per_s cpu_us_per_reg sipp_us_per_reg other_pct
#   server_sock_drops other_drops resp_ms pass
# One step: SIPp at rate r against the server; sets STEP_LINE (a results line) and STEP_NOISE.
run_step() {
  local srv=$1 port=$2 r=$3
  local n=$((r * STEP_SECS)) stf="$WORK/$srv-$r.csv" sipp_buff=""
  [ "$SIPP_BUFF" -gt 0 ] && sipp_buff="-buff_size $SIPP_BUFF"
  rm -f "$stf"
  local c0 m0 s0 e0 d0 t0 c1 m1 s1 e1 d1 t1 noise perf_pid=""
  if [ "$PERF" = 1 ] && [ "$srv" = zvon ] && command -v perf >/dev/null; then
    perf record -g -o "$WORK/perf-zvon-$r.data" -p "$SERVER_PID" > "$WORK/perf-$r.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  [ "$srv" = zvon ] && thread_ticks "$SERVER_PID" > "$WORK/$srv-$r.thr0"
  proc_snapshot > "$WORK/snap0"
  c0=$(tree_ticks "$WORK/snap0" "$SERVER_PID"); m0=$(machine_ticks); s0=$(self_child_ticks); e0=$(rcvbuf_errors); d0=$(sock_drops "$port"); t0=$(now_ns)
  # -timeout bounds a step that does not finish (a lost final response retransmits for ~32 s).
  timeout -k 5 $((STEP_SECS * 4 + 60)) taskset -c "$SIPP_CPU" sipp "127.0.0.1:$port" \
    -sf "$SCEN" -inf "$WORK/users.csv" -r "$r" -m "$n" \
    -i 127.0.0.1 -p "$SIPP_PORT" -nostdin $sipp_buff -timeout $((STEP_SECS * 3 + 40))s \
    -trace_stat -stf "$stf" -fd 1 > "$WORK/$srv-$r.sipp.out" 2>&1 || true
  t1=$(now_ns); m1=$(machine_ticks); s1=$(self_child_ticks); e1=$(rcvbuf_errors); d1=$(sock_drops "$port")
  proc_snapshot > "$WORK/snap1"
  c1=$(tree_ticks "$WORK/snap1" "$SERVER_PID")
  noise=$(top_others "$WORK/snap0" "$WORK/snap1" "$SERVER_PID")
  [ "$srv" = zvon ] && thread_ticks "$SERVER_PID" > "$WORK/$srv-$r.thr1"
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  local line
  line=$(awk -F';' -v rate="$r" -v n="$n" -v srvt=$((c1 - c0)) -v sippt=$((s1 - s0)) \
             -v mach=$((m1 - m0)) -v tick="$TICK" -v wall_ns=$((t1 - t0)) -v rcv=$((e1 - e0)) -v sd=$((d1 - d0)) '
    function epoch(s,  a) { split(s, a, "\t"); return a[3] + 0 }
    function ms(s,  a) { split(s, a, ":"); return a[1] * 3600000 + a[2] * 60000 + a[3] * 1000 + a[4] / 1000 }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { last = $0 }
    END {
      if (last == "") { ok = 0; failed = n; retr = 0; ach = 0; resp = 0 }
      else {
        $0 = last
        ok = $(col["SuccessfulCall(C)"]) + 0; failed = $(col["FailedCall(C)"]) + 0
        retr = $(col["Retransmissions(C)"]) + 0
        el = epoch($(col["CurrentTime"])) - epoch($(col["StartTime"]))
        ach = (el > 0) ? ok / el : 0
        resp = ms($(col["ResponseTime1(C)"]))
        created = $(col["TotalCallCreated"]) + 0
        if (ok + failed < n) failed += n - ok - failed   # calls never created or never finished
      }
      wall = wall_ns / 1e9
      cpu = (ok > 0) ? srvt * 1e6 / tick / ok : 0
      sipp = (ok > 0) ? sippt * 1e6 / tick / ok : 0
      other = (mach - srvt - sippt) * 100 / tick / wall; if (other < 0) other = 0
      pass = (failed == 0 && retr == 0 && ach >= 0.95 * rate) ? "pass" : "FAIL"
      od = rcv - sd; if (od < 0) od = 0
      printf "%d %d %d %d %.0f %.1f %.1f %.0f %d %d %.2f %s\n", rate, ok, failed, retr, ach, cpu, sipp, other, sd, od, resp, pass
    }' "$stf" 2>/dev/null || echo "$r 0 $n 0 0 0 0 0 0 0 0 FAIL")
  STEP_LINE=$line
  STEP_NOISE=$noise
  if [ "$srv" = zvon ]; then
    # per-thread CPU µs per registration for this step
    awk -v ok="$(echo "$line" | awk '{ print $2 }')" -v tick="$TICK" -v rate="$r" '
      NR == FNR { a[$1] = $2; next }
      { d = $2 - a[$1]; if (d > 0 && ok > 0) out = out sprintf("  %s %.1f", $1, d * 1e6 / tick / ok) }
      END { print rate ":" out }' "$WORK/$srv-$r.thr0" "$WORK/$srv-$r.thr1" > "$WORK/$srv-$r.threads"
  fi
}

run_server() {
  local srv=$1 port res fails=0 r attempt
  res="$WORK/$srv.results"; : > "$res"
  case $srv in
    kamailio) port=$KAM_PORT; start_kamailio ;;
    zvon) port=$ZVON_PORT; start_zvon ;;
  esac
  echo "== $srv (pid $SERVER_PID, core $SERVER_CPU; SIPp core $SIPP_CPU; ${STEP_SECS}s per step)"
  for r in $RATES; do
    for attempt in $(seq $((NOISE_RETRIES + 1))); do
      wait_quiet
      kill -0 "$SERVER_PID" 2>/dev/null || { echo "   $srv died" >&2; break 2; }
      run_step "$srv" "$port" "$r"
      set -- $STEP_LINE
      # a step during which other work used much CPU is repeated (NOISE_RETRIES times at most)
      if [ "$8" -gt "$NOISE_PCT" ] && [ "$attempt" -le "$NOISE_RETRIES" ]; then
        echo "   ${r}/s: other processes used ${8}% of a core (${STEP_NOISE:-?}); repeating the step"
        continue
      fi
      break
    done
    echo "$STEP_LINE" >> "$res"
    [ -n "$STEP_NOISE" ] && echo "$srv $r: other ${8}%: $STEP_NOISE" >> "$WORK/noise"
    [ -f "$WORK/$srv-$r.threads" ] && cat "$WORK/$srv-$r.threads" >> "$WORK/$srv.threads"
    printf '   %6s/s  ok %7s  failed %6s  retrans %6s  achieved %6s/s  cpu %6s us/reg  %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "${12}"
    if [ "${12}" != pass ]; then
      fails=$((fails + 1))
      [ "$fails" -ge 2 ] && break
    fi
  done
  if [ "$srv" = zvon ]; then
    ZVON_RSS=$(awk '/^VmRSS|^VmHWM/ { printf "%s %s %s  ", $1, $2, $3 }' /proc/"$SERVER_PID"/status 2>/dev/null || true)
  fi
  stop_server
}

ZVON_RSS=""
ZVON_START_MS=""
echo "registrar benchmark: $USERS users, rates: $RATES, ${STEP_SECS}s per step, $NCPU cores"
echo "  sipp: $(sipp -v 2>&1 | grep -o 'v[0-9][0-9.]*' | head -1)"
[[ " $SERVERS " == *" kamailio "* ]] && echo "  kamailio: $(kamailio -v 2>/dev/null | awk '/^version/ { print $3 }')"
[[ " $SERVERS " == *" zvon "* ]] && echo "  zvon: $ZVON_ID ($("$ZVON" --version 2>/dev/null || true))"
echo "  work dir: $WORK"
for s in $SERVERS; do run_server "$s"; done

# ---------------------------------------------------------------- report
echo
for s in $SERVERS; do
  echo "### $s"
  printf '| %7s | %8s | %6s | %7s | %9s | %10s | %7s | %6s | %8s | %9s | %7s | %s |\n' \
    "rate/s" "ok" "failed" "retrans" "achieved" "cpu us/reg" "sipp us" "other%" "srv drop" "sipp drop" "resp ms" "step"
  printf '|%s|\n' "---------|----------|--------|---------|-----------|------------|---------|--------|----------|-----------|---------|------"
  while read -r rate ok failed retr ach cpu sipp other sd od resp pass; do
    printf '| %7s | %8s | %6s | %7s | %9s | %10s | %7s | %6s | %8s | %9s | %7s | %s |\n' \
      "$rate" "$ok" "$failed" "$retr" "$ach" "$cpu" "$sipp" "$other" "$sd" "$od" "$resp" "$pass"
  done < "$WORK/$s.results"
  echo
done
echo "(cpu us/reg: server CPU time per authenticated registration = 2 transactions; sipp us: the"
echo " generator's; other%: CPU of everything else on the machine during the step, % of one core;"
echo " srv drop: datagrams the server's socket dropped (receive buffer full); sipp drop: other"
echo " UDP receive-buffer drops on the machine, i.e. SIPp's socket; resp ms: SIPp mean time"
echo " REGISTER→200, ms resolution)"
echo "  SIPp buffers: $([ "$SIPP_BUFF" -gt 0 ] && echo "-buff_size $SIPP_BUFF" || echo "SIPp default")"
if [ -s "$WORK/noise" ]; then
  echo "  other processes using ≥ 100 ms CPU during a step (the figures of these steps are less clean):"
  sed 's/^/    /' "$WORK/noise"
fi
echo

best() { awk '$12 == "pass" && $1 > b { b = $1 } END { print b + 0 }' "$WORK/$1.results"; }
cpu_at() { awk -v r="$2" '$1 == r && $12 == "pass" { print $6 }' "$WORK/$1.results"; }
echo "== summary"
for s in $SERVERS; do printf '  %-9s highest passing rate: %s/s\n' "$s" "$(best "$s")"; done
if [[ " $SERVERS " == *" kamailio "* && " $SERVERS " == *" zvon "* ]]; then
  kb=$(best kamailio); zb=$(best zvon)
  common=$(awk 'NR == FNR { if ($12 == "pass") k[$1] = 1; next } $12 == "pass" && ($1 in k) && $1 > c { c = $1 } END { print c + 0 }' \
    "$WORK/kamailio.results" "$WORK/zvon.results")
  if [ "$kb" -gt 0 ]; then
    awk -v z="$zb" -v k="$kb" 'BEGIN { printf "  rate ratio zvon/kamailio: %.2f\n", z / k }'
  fi
  if [ "$common" -gt 0 ]; then
    kc=$(cpu_at kamailio "$common"); zc=$(cpu_at zvon "$common")
    echo "  at $common/s (highest rate both pass): kamailio $kc us/reg, zvon $zc us/reg"
    awk -v z="$zc" -v k="$kc" 'BEGIN { if (k > 0) printf "  cpu ratio zvon/kamailio: %.2f\n", z / k }'
  else
    echo "  no rate passed on both servers"
  fi
fi
if [[ " $SERVERS " == *" zvon "* ]]; then
  echo "  zvon CPU us/reg by thread (zvon = main thread: engine; tokio-rt-worker: sockets; zvon-store: SQLite):"
  sed 's/^/    /' "$WORK/zvon.threads" 2>/dev/null || true
  echo "  zvon start (until its UDP port is bound, $USERS extensions): ${ZVON_START_MS} ms"
  echo "  zvon memory at the end: ${ZVON_RSS:-unknown}"
  nlog=$(grep -c . "$WORK/zvon.log" || true)
  echo "  zvon log (level warn): $nlog lines"
  [ "$nlog" -gt 0 ] && sed -n '1,10p' "$WORK/zvon.log" | sed 's/^/    /'
fi
if [[ " $SERVERS " == *" kamailio "* ]]; then
  nerr=$(grep -ciE 'error|warn' "$WORK/kamailio.log" || true)
  echo "  kamailio log: $nerr error/warning lines"
fi
