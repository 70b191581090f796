#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# WireGuard data plane figures: two namespaces over a veth, iperf3 through weft <-> weft and through
# wireguard-go <-> wireguard-go in the same run, with the bare veth as the ceiling: TCP one way, TCP both
# ways at once, UDP packets/s at 64 and 1400 bytes; each as weft/wireguard-go ratios, with the CPU
# seconds the two WireGuard processes spent per GB carried. Every figure is measured WEFT_BENCH_RUNS times
# (default 3; the three setups take turns, so drift in the machine's load falls on all of them) and
# reported as the median and the spread (lowest-highest). The peer's version is printed: Debian's
# wireguard-go (0.0.20220316) predates the 2023 offload work that made later versions much faster on TCP.
# Needs root; skips otherwise. WEFT_BENCH_SECS sets the seconds per measurement (default 2). MTU 1420 on
# both (wg-quick's default).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/wglib.sh"
secs=${WEFT_BENCH_SECS:-2}
runs=${WEFT_BENCH_RUNS:-3}
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

# measure KIND IPERF_ARGS...: prints "value bytes_moved" (TCP Gbit/s, UDP kpps)
measure() {
    local kind=$1; shift
    local port=$((5301 + WG_N))
    ip netns exec "$NSB" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
    local spid=$!
    wait_for 5 sh -c "ip netns exec $NSB ss -ltn | grep -q ':$port '"
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

# record IMPL NAME VALUE [CPU]: one more measurement
record() {
    echo "$3" >>"$TMP/r.$1.$2"
    [ -n "${4:-}" ] && echo "$4" >>"$TMP/c.$1.$2"
    return 0
}

run_impl() { # IMPL
    local impl=$1
    wg_start a "$impl" && wg_start b "$impl" || return 1
    wg_config a && wg_config b || return 1
    ip -n "$NSA" link set "$IFA" mtu 1420 && ip -n "$NSB" link set "$IFB" mtu 1420
    DST=$TB
    wait_for 10 wg_ping a 1 || return 1
    local t name kind args v bytes c0 c1
    for t in "tcp|tcp|" "bidir|tcp|--bidir" "udp64|udp|-u -b 0 -l 64" "udp1400|udp|-u -b 0 -l 1400"; do
        IFS='|' read -r name kind args <<<"$t"
        c0=$(cpu_ticks)
        # shellcheck disable=SC2086
        read -r v bytes <<<"$(measure "$kind" $args)"
        c1=$(cpu_ticks)
        record "$impl" "$name" "$v" \
            "$(python3 -c "print('%.2f' % ((($c1 - $c0) / $HZ) / ($bytes / 1e9)) if $bytes else '')")"
    done
    wg_stop a
    wg_stop b
}

wggo_version=$(wireguard-go --version 2>/dev/null | awk '/^wireguard-go/ {print $2; exit}')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$runs"); do
    DST=$VB
    read -r v _ <<<"$(measure tcp)"
    record veth tcp "$v"
    run_impl weft || echo "bench/wireguard: weft run $i failed"
    run_impl wggo || echo "bench/wireguard: wireguard-go run $i failed"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "WireGuard through two namespaces on a veth, ${secs} s per figure, median of $runs runs (lowest-highest)"
echo "$(nproc) CPUs, load average $load0 at the start, $load1 at the end"
echo "weft: $("$WEFT" --version 2>/dev/null | head -1); peer: wireguard-go ${wggo_version:-unknown}" \
    "(Debian's package $(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null || echo '?'))"
case "$wggo_version" in
v0.0.2017* | v0.0.2018* | v0.0.2019* | v0.0.2020* | v0.0.2021* | v0.0.2022* | v0.0.20230[12]*)
    echo "note: this wireguard-go predates the 2023 offload work (v0.0.20230223 added TCP segmentation offload" \
        "and batched I/O on Linux, much faster on TCP): the ratios below compare against an old peer"
    ;;
esac
python3 - "$TMP" <<'EOF'
import os, statistics, sys
tmp = sys.argv[1]
def vals(kind, impl, name):
    p = os.path.join(tmp, "%s.%s.%s" % (kind, impl, name))
    if not os.path.exists(p):
        return []
    return [float(x) for x in open(p).read().split() if x and x != "n/a"]
def med(v):
    return statistics.median(v) if v else None
def cell(v, prec):
    if not v:
        return "n/a"
    return "%.*f (%.*f-%.*f)" % (prec, med(v), prec, min(v), prec, max(v))
veth = vals("r", "veth", "tcp")
print("bare veth TCP (the ceiling): %s Gbit/s" % cell(veth, 2))
print("%-22s %22s %22s %7s %16s %16s" % ("figure", "weft", "wireguard-go", "ratio", "weft cpu-s/GB",
                                         "wg-go cpu-s/GB"))
for name, label, prec in (("tcp", "TCP one way Gbit/s", 2), ("bidir", "TCP both ways Gbit/s", 2),
                          ("udp64", "UDP 64 B kpps", 1), ("udp1400", "UDP 1400 B kpps", 1)):
    w, g = vals("r", "weft", name), vals("r", "wggo", name)
    ratio = "%.2fx" % (med(w) / med(g)) if w and g and med(g) else "n/a"
    cw, cg = vals("c", "weft", name), vals("c", "wggo", name)
    print("%-22s %22s %22s %7s %16s %16s" % (label, cell(w, prec), cell(g, prec), ratio,
                                             "%.2f" % med(cw) if cw else "n/a", "%.2f" % med(cg) if cg else "n/a"))
EOF
