#!/bin/bash
# --ext-setup / --ext-teardown step of /work/shared/bench/media/rtpengine_bench.py for Zvon
# (see that README, "Measuring another relay"). Not run by CI.
#
#   media_setup.sh CALLS A_PORT B_PORT LEGS_FILE [pcmu|opus]
#   media_setup.sh --teardown
#
# Setup: registers a SIPp UAS as extension 1002, starts it (it answers every INVITE with
# `m=audio B_PORT` PCMU, or Opus with the PT Zvon offered), then a SIPp UAC as 1001
# (digest auth on 407) places CALLS calls with `m=audio A_PORT RTP/AVP 0`. The UAC tags each
# call with its number in the From display name ("b<n>"), which Zvon copies into the INVITE
# towards B, so the two sides are joined per call. Zvon's port facing A comes from each 200 OK,
# the one facing B from each INVITE the UAS receives. SIPp only signals (no media; its own -mp
# ports are 7000+/7100+, away from the generator's 4000-4003). The calls are held HOLD_S
# seconds (default 40 + CALLS/RATE) and SIPp stops by itself after that (-timeout).
# Teardown: ends the SIPp processes this step started, by their PIDs.
#
# Environment: ZVON_SIP (default 127.0.0.1:5260), BENCH_WORK (default /tmp/zvon-bench-media),
# RATE (call set-up rate, default 200/s), HOLD_S, UAS_PORT (default 5281).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_WORK:-/tmp/zvon-bench-media}
zvon=${ZVON_SIP:-127.0.0.1:5260}
uas_port=${UAS_PORT:-5281}
mkdir -p "$work"

stop_pids() {
    [ -f "$work/sipp.pids" ] || return 0
    for p in $(cat "$work/sipp.pids"); do
        kill -TERM "$p" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        alive=0
        for p in $(cat "$work/sipp.pids"); do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in $(cat "$work/sipp.pids"); do kill -KILL "$p" 2>/dev/null || true; done
    rm -f "$work/sipp.pids"
}

if [ "${1:-}" = "--teardown" ]; then
    stop_pids
    exit 0
fi

calls=${1:?calls} a_port=${2:?a_port} b_port=${3:?b_port} legs=${4:?legs} codec=${5:-pcmu}
rate=${RATE:-200}
hold_s=${HOLD_S:-$((40 + calls / rate))}
stop_pids   # a previous point's SIPp, if its teardown did not run
rm -f "$work"/uas.log "$work"/uac.log "$work"/*.out "$work"/*_errors.log

if [ "$codec" = opus ]; then
    b_sdp='m=audio '"$b_port"' RTP/AVP [$opt]
      a=rtpmap:[$opt] opus/48000/2
      a=fmtp:[$opt] useinbandfec=0'
    b_ereg='<ereg regexp="a=rtpmap:([0-9]+) opus/48000" search_in="body" check_it="true" assign_to="j3,opt"/>'
else
    b_sdp='m=audio '"$b_port"' RTP/AVP 0
      a=rtpmap:0 PCMU/8000'
    b_ereg=''
fi
log_msg='[$cn] [$zb]' ref3=''
[ "$codec" = opus ] && log_msg='[$cn] [$zb] [$opt]' ref3=',j3'

cat > "$work/uas.xml" <<XML
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench callee">
  <recv request="INVITE">
    <action>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="j1,zb"/>
      <ereg regexp="\"b([0-9]+)\"" search_in="hdr" header="From:" check_it="true" assign_to="j2,cn"/>
      $b_ereg
      <log message="$log_msg"/>
    </action>
  </recv>
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:1002@[local_ip]:[local_port]>
      Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:1002@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      $b_sdp
      a=sendrecv

  ]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
  <Reference variables="j1,j2$ref3"/>
</scenario>
XML

# The UAC: tests/sipp/uac_call.xml.in with PCMU at A_PORT, no pcap, a call tag, a long pause.
sed -e "s/@USER@/1001/g; s/@PASS@/demo1001/g; s/@TO@/1002/g; s/@PAUSE@/$((hold_s * 1000))/g" \
    -e "s/@INFO@//; s/\"Caller 1001\"/\"b[call_number]\"/g" \
    -e "s/m=audio \[media_port\] RTP\/AVP 8 101/m=audio $a_port RTP\/AVP 0/" \
    -e "s/a=rtpmap:8 PCMA\/8000/a=rtpmap:0 PCMU\/8000/" \
    -e '/telephone-event/d; /a=fmtp:101/d; /play_pcap_audio/d; /<nop>/d; /<\/nop>/d' \
    -e '/<pause milliseconds="1500"\/>/d' \
    -e 's|<recv response="200" rrs="true"/>|<recv response="200" rrs="true"><action><ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="j1,za"/><log message="[call_number] [$za]"/></action></recv>|' \
    "$here/../sipp/uac_call.xml.in" > "$work/uac.xml"
grep -q 'assign_to="j1,za"' "$work/uac.xml" || { echo "uac.xml: template changed" >&2; exit 2; }
sed -i 's|</scenario>|  <Reference variables="j1"/>\n</scenario>|' "$work/uac.xml"

# 1. register the UAS's port as 1002
printf 'SEQUENTIAL\n1002;[authentication username=1002 password=demo1002];3600;\n' > "$work/reg.csv"
sipp "$zvon" -sf "$here/../sipp/reg_ok.xml" -inf "$work/reg.csv" -m 1 -i 127.0.0.1 -p "$uas_port" \
    -nostdin -timeout 10s -timeout_error -max_retrans 3 > "$work/reg.out" 2>&1 \
    || { echo "REGISTER of 1002 failed; see $work/reg.out" >&2; exit 1; }

timeout_s=$((hold_s + calls / rate + 60))
# 2. the UAS
sipp -sf "$work/uas.xml" -i 127.0.0.1 -p "$uas_port" -m "$calls" -mp 7100 -nostdin \
    -timeout "${timeout_s}s" -trace_logs -log_file "$work/uas.log" -trace_err \
    -error_file "$work/uas_errors.log" > "$work/uas.out" 2>&1 &
echo $! > "$work/sipp.pids"
sleep 0.3
# 3. the UAC
sipp "$zvon" -sf "$work/uac.xml" -i 127.0.0.1 -m "$calls" -l "$calls" -r "$rate" -mp 7000 \
    -nostdin -timeout "${timeout_s}s" -trace_logs -log_file "$work/uac.log" -trace_err \
    -error_file "$work/uac_errors.log" > "$work/uac.out" 2>&1 &
echo $! >> "$work/sipp.pids"

# 4. wait (bounded) for every call on both sides
deadline=$((SECONDS + calls / rate + 60))
count() { local c=0; [ -f "$1" ] && c=$(grep -cE '^[0-9]+ [0-9]+' "$1" || true); echo "${c:-0}"; }
while :; do
    na=$(count "$work/uac.log"); nb=$(count "$work/uas.log")
    [ "$na" -ge "$calls" ] && [ "$nb" -ge "$calls" ] && break
    if [ $SECONDS -gt $deadline ]; then
        echo "set-up timed out: $na of $calls answered (A), $nb of $calls reached B" >&2
        tail -n 20 "$work"/uac_errors.log "$work"/uas_errors.log 2>/dev/null >&2 || true
        exit 1
    fi
    sleep 0.2
done
b_codec=pcmu
# Opus: the PT Zvon offered B (the UAS answered with it); read it from one captured INVITE.
if [ "$codec" = opus ]; then
    pt=$(awk 'NR==1{print $3}' "$work/uas.log")
    b_codec="opus:${pt:?no opus PT}"
fi
join <(grep -E '^[0-9]+ [0-9]+' "$work/uac.log" | sort -k1,1) \
     <(grep -E '^[0-9]+ [0-9]+' "$work/uas.log" | sort -k1,1) \
  | awk -v a="$a_port" -v b="$b_port" -v bc="$b_codec" \
      '{ printf "%s 127.0.0.1:%s pcmu %s 127.0.0.1:%s %s\n", a, $2, b, $3, bc }' > "$legs"
n=$(wc -l < "$legs")
[ "$n" -eq "$calls" ] || { echo "joined $n of $calls calls" >&2; exit 1; }
echo "media_setup: $calls calls up (hold ${hold_s}s), legs in $legs"
