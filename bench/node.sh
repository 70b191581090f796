#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Node figures (issues 7, 15): iperf3 throughput node <-> node through the DERP relay (weft control + derp
# in a server namespace; nodes 1 and 2 reach only the server) and, in the same run, over a direct path
# (nodes 4 and 5, each behind its own NAT router, find each other with disco and STUN), and the resident
# memory of an idle node daemon with 100 peers. Needs root (and nft for the NATs; without it the direct
# figure is skipped). WEFT_BENCH_SECS: seconds per iperf3 run (default 5).
# The idle node measured (node3) carried no traffic and loads only the node module, as a node-only install
# would; node2 loads every module of the build, as `weft serve node` does when control and derp are
# installed next to it, and carried the iperf3 runs (the engine's batch buffers are resident after that).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
secs=${WEFT_BENCH_SECS:-5}
peers=${WEFT_BENCH_PEERS:-100}
if ! is_root || ! command -v iperf3 >/dev/null || [ ! -c /dev/net/tun ]; then
    echo "bench/node: skipped (needs root, iperf3, /dev/net/tun)"
    exit 0
fi
cd "$TMP" || exit 1
node_topology 3 || { echo "bench/node: cannot create namespaces"; exit 0; }
# two NAT routers on the server namespace ("the internet"), a node behind each; STUN bound to the
# server's address (a wildcard-bound one answers from its route's address, which a NAT drops)
direct_ok=
if command -v nft >/dev/null && nat_internet && router_add 1 eim && router_add 2 eim && node_behind 4 1 &&
    node_behind 5 2; then
    direct_ok=1
fi
srvargs+=(-o derp.stun_listen=10.77.0.1:3478)
start_srv || { echo "bench/node: weft control + derp did not start"; exit 1; }
w users create bench >/dev/null
key=$(w authkeys create --user bench --reusable | tail -1)
start_node 1
start_node 2
for i in 1 2; do
    cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" >/dev/null || {
        echo "bench/node: node$i did not come up"; exit 1; }
done
wait_for 5 sees 1 2 online

rss() { # rss PID: "VmRSS anon file" in KiB
    awk '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {print r, a, f}' "/proc/$1/status"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# throughput: TCP, one stream each way in turn
v4_2=$(cli 2 ip -4)
in_ns 2 iperf3 -s -p 5201 >/dev/null 2>&1 &
on_exit "kill $! 2>/dev/null"
wait_for 5 sh -c "ip netns exec wn$$2 ss -ltn | grep -q ':5201 '"
cli 1 ping "$v4_2" >/dev/null
gbps() { json_get end.sum_received.bits_per_second | awk '{ printf "%.2f", $1 / 1e9 }'; }
fwd=$(in_ns 1 iperf3 -c "$v4_2" -p 5201 -t "$secs" -J 2>/dev/null | gbps)
rev=$(in_ns 1 iperf3 -c "$v4_2" -p 5201 -t "$secs" -R -J 2>/dev/null | gbps)
echo "node->node via DERP relay, TCP 1 stream: ${fwd:-?} Gbit/s (node1 -> node2)," \
    "${rev:-?} Gbit/s (node2 -> node1)"

# the same over a direct path through two NATs
if [ -n "$direct_ok" ]; then
    for i in 4 5; do
        start_node "$i"
        cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" >/dev/null || {
            echo "bench/node: node$i did not come up"; exit 1; }
    done
    v4_5=$(cli 5 ip -4)
    in_ns 5 iperf3 -s -p 5201 >/dev/null 2>&1 &
    on_exit "kill $! 2>/dev/null"
    wait_for 5 sh -c "ip netns exec wn$$5 ss -ltn | grep -q ':5201 '"
    wait_for 5 sees 4 5 online
    in_ns 4 ping -c 1 -W 2 "$v4_5" >/dev/null 2>&1
    both_direct() { cli 4 status | grep -q 'node5 .* direct ' && cli 5 status | grep -q 'node4 .* direct '; }
    if wait_for 20 both_direct; then
        fwd=$(in_ns 4 iperf3 -c "$v4_5" -p 5201 -t "$secs" -J 2>/dev/null | gbps)
        rev=$(in_ns 4 iperf3 -c "$v4_5" -p 5201 -t "$secs" -R -J 2>/dev/null | gbps)
        path=$(cli 4 status | awk '$2 == "node5" { print $6 }' | tr -d ,)
        echo "node->node direct through two NATs ($path), TCP 1 stream: ${fwd:-?} Gbit/s (node4 -> node5)," \
            "${rev:-?} Gbit/s (node5 -> node4)"
    else
        echo "node->node direct: no direct path within 20 s (skipped)"
    fi
    stop_weft n4 TERM
    stop_weft n5 TERM
else
    echo "node->node direct: skipped (needs nft for the NAT routers)"
fi
read -r r a f <<<"$(rss "$(weft_pid n1)")"
echo "node1 after the transfers (every module loaded): RSS $(mib "$r") MiB" \
    "(anon $(mib "$a"), files $(mib "$f"))"

# memory: node3 (node module only) joins, idles; then 100 more machines are registered and it idles again
WEFT_MODULE_PATH=$WEFT_BUILDDIR/modules/node/.libs start_node 3
cli 3 up --login-server "$url" --authkey "$key" --hostname node3 >/dev/null ||
    { echo "bench/node: node3 did not come up"; exit 1; }
count() { cli "$1" status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Peers"]))'; }
sleep 3
read -r r0 a0 f0 <<<"$(rss "$(weft_pid n3)")"
echo "idle node with $(count 3) peers (node module only): RSS $(mib "$r0") MiB" \
    "(anon $(mib "$a0"), files $(mib "$f0"))"
in_ns 3 "$WEFT_BENCH_NODE_TOOL" register "$url" "$key" "$peers" >/dev/null ||
    { echo "bench/node: registering failed"; exit 1; }
has_peers() { [ "$(count 3)" -ge "$((peers + 2))" ]; }
wait_for 20 has_peers
sleep 3 # idle
read -r r a f <<<"$(rss "$(weft_pid n3)")"
echo "idle node with $(count 3) peers (node module only): RSS $(mib "$r") MiB (anon $(mib "$a") MiB," \
    "shared-library files $(mib "$f") MiB); target < 8 MiB"
echo "  the $peers more peers cost $(mib $((a - a0))) MiB anon ($(( (a - a0) * 1024 / peers )) bytes each)"
read -r r2 a2 f2 <<<"$(rss "$(weft_pid n2)")"
echo "node2 with $(count 2) peers after the transfers (every module loaded): RSS $(mib "$r2") MiB" \
    "(anon $(mib "$a2"), files $(mib "$f2"))"
