#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# WireGuard data plane figures: two namespaces over a veth, iperf3 through weft <-> weft and through
# wireguard-go <-> wireguard-go in the same run (plus the bare veth for scale): TCP one way, TCP both
# ways at once, UDP packets/s at 64 and 1400 bytes; each as weft/wireguard-go ratios, with the CPU
# seconds the two WireGuard processes spent per GB carried. Needs root; skips otherwise.
# WEFT_BENCH_SECS sets the seconds per measurement (default 2). MTU 1420 on both (wg-quick's default).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/wglib.sh"
secs=${WEFT_BENCH_SECS:-2}
if ! netns_usable || ! command -v iperf3 >/dev/null || ! command -v wireguard-go >/dev/null; then
    echo "bench/wireguard: skipped (needs root, iperf3, wireguard-go)"
    exit 0
fi
wg_topology 9 || { echo "bench/wireguard: cannot create namespaces"; exit 0; }
HZ=$(getconf CLK_TCK)

cpu_ticks() { # utime+stime of the two WireGuard processes
    local t=0 p
    for p in $(cat "$TMP/a.pid" "$TMP/b.pid"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

# measure NAME IPERF_ARGS...: prints "value bytes_moved" (TCP Gbit/s, UDP kpps)
measure() {
    local kind=$1; shift
    local port=$((5301 + WG_N))
    ip netns exec "$NSB" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
    local spid=$!
    sleep 0.3
    ip netns exec "$NSA" timeout $((secs + 20)) iperf3 -c "$DST" -p "$port" -t "$secs" -J "$@" \
        >"$TMP/m.json" 2>/dev/null
    wait "$spid" 2>/dev/null
    python3 - "$TMP/m.json" "$kind" <<'EOF'
import json, sys
try:
    e = json.load(open(sys.argv[1]))["end"]
    if sys.argv[2] == "udp":
        s = e["sum"]
        got = s["packets"] - s["lost_packets"]
        secs = e["sum_received"]["seconds"]
        print("%.1f %d" % (got / secs / 1e3, e["sum_received"]["bytes"]))
    else:
        r = e["sum_received"]
        b = r["bytes"]
        bps = r["bits_per_second"]
        if "sum_received_bidir_reverse" in e:
            rr = e["sum_received_bidir_reverse"]
            b += rr["bytes"]
            bps += rr["bits_per_second"]
        print("%.2f %d" % (bps / 1e9, b))
except Exception:
    print("0 0")
EOF
}

declare -A R CPU
run_impl() { # IMPL
    local impl=$1
    wg_start a "$impl" && wg_start b "$impl" || return 1
    wg_config a && wg_config b || return 1
    ip -n "$NSA" link set "$IFA" mtu 1420 && ip -n "$NSB" link set "$IFB" mtu 1420
    DST=$TB
    wait_for 10 wg_ping a 1 || return 1
    local t name args v bytes c0 c1
    for t in "tcp|tcp|" "bidir|tcp|--bidir" "udp64|udp|-u -b 0 -l 64" "udp1400|udp|-u -b 0 -l 1400"; do
        IFS='|' read -r name kind args <<<"$t"
        c0=$(cpu_ticks)
        # shellcheck disable=SC2086
        read -r v bytes <<<"$(measure "$kind" $args)"
        c1=$(cpu_ticks)
        R[$impl.$name]=$v
        CPU[$impl.$name]=$(python3 -c "print('%.2f' % ((($c1 - $c0) / $HZ) / ($bytes / 1e9)) if $bytes else 'n/a')")
    done
    wg_stop a
    wg_stop b
}

# the bare veth, for scale
DST=$VB
read -r veth _ <<<"$(measure tcp)"

run_impl weft || echo "bench/wireguard: weft run failed"
run_impl wggo || echo "bench/wireguard: wireguard-go run failed"

ratio() { python3 -c "a, b = float('$1' or 0), float('$2' or 0); print('%.2fx' % (a / b) if b else 'n/a')"; }
echo "WireGuard through two namespaces on a veth, ${secs} s per figure, $(nproc) CPUs (bare veth TCP: $veth Gbit/s)"
printf '%-22s %10s %14s %8s %14s %14s\n' figure weft wireguard-go ratio "weft cpu-s/GB" "wg-go cpu-s/GB"
for t in "tcp|TCP one way Gbit/s" "bidir|TCP both ways Gbit/s" "udp64|UDP 64 B kpps" "udp1400|UDP 1400 B kpps"; do
    IFS='|' read -r name label <<<"$t"
    printf '%-22s %10s %14s %8s %14s %14s\n' "$label" "${R[weft.$name]}" "${R[wggo.$name]}" \
        "$(ratio "${R[weft.$name]}" "${R[wggo.$name]}")" "${CPU[weft.$name]}" "${CPU[wggo.$name]}"
done
