#!/bin/bash
# Writes a Zvon config dir for the benchmarks (not run by CI).
#   usage: zvon_config.sh DIR [SIP_PORT] [RTP_MIN] [RTP_MAX] [EXTENSIONS] [LOG_LEVEL]
# Loopback only; RTP range away from the generator (4000-4003), rtpengine (20000-32700),
# SIPp's -mp ports (6xxxx-free range below) and the ephemeral range (32768-60999);
# brute-force ban off; EXTENSIONS numbers 2000.. with password pw<number> (callers and
# callees); 1001 (caller) / 1002 (callee) with demo passwords as in the tests.
set -euo pipefail
dir=${1:?config dir}
sip_port=${2:-5260}
rtp_min=${3:-10000}
rtp_max=${4:-20000}
n_ext=${5:-10}
log_level=${6:-warn}
mkdir -p "$dir/config" "$dir/state"
cat > "$dir/config/zvon.toml" <<TOML
[server]
udp = ["127.0.0.1:$sip_port"]
tcp = []
domain = "zvon.bench"
state_dir = "../state"
log_level = "$log_level"

[rtp]
port_min = $rtp_min
port_max = $rtp_max
address = "127.0.0.1"

[registrar]
min_expires = 60
max_expires = 3600
default_expires = 3600

[security]
ban_failures = 0
trusted = ["127.0.0.0/8"]

[calls]
no_answer = "30s"
rtp_timeout = "0s"
codecs = ["PCMU", "PCMA", "G722", "opus"]
TOML
{
    for n in 1001 1002; do
        printf '[[extension]]\nnumber = "%s"\npassword = "demo%s"\nmax_contacts = 10\n\n' "$n" "$n"
    done
    i=0
    while [ "$i" -lt "$n_ext" ]; do
        n=$((2000 + i))
        printf '[[extension]]\nnumber = "%s"\npassword = "pw%s"\n\n' "$n" "$n"
        i=$((i + 1))
    done
} > "$dir/config/extensions.toml"
