#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# MagicDNS through the TUN (issue 14): queries per second that a node's resolver at 100.100.100.100 answers
# from the tailnet's own names, asked by dnsperf from the node's namespace (UDP, then TCP), the node in a
# tailnet of 2 + WEFT_BENCH_PEERS peers (default 20: real `weft serve node` daemons with node.tun=none,
# registered with a pre-auth key, in a third namespace). Every query is for
# a real peer's name (short and full, A and AAAA, PTR), so none is forwarded. Needs root and dnsperf;
# skips otherwise. WEFT_BENCH_SECS: seconds per dnsperf run (default 5).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
secs=${WEFT_BENCH_SECS:-5}
peers=${WEFT_BENCH_PEERS:-20}
if ! is_root || ! command -v dnsperf >/dev/null || [ ! -c /dev/net/tun ]; then
    echo "bench/dns: skipped (needs root, dnsperf, /dev/net/tun)"
    exit 0
fi
cd "$TMP" || exit 1
node_topology 3 || { echo "bench/dns: cannot create namespaces"; exit 0; }
start_srv || { echo "bench/dns: weft control + derp did not start"; exit 1; }
w users create bench >/dev/null
key=$(w authkeys create --user bench --reusable | tail -1)
for i in 1 2; do
    start_node "$i"
    cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" >/dev/null || {
        echo "bench/dns: node$i did not come up"; exit 1; }
done
# more peers: daemons without a TUN in namespace 3
for j in $(seq 1 "$peers"); do
    start_weft "p$j" --ns "wn$$3" serve node -o state_dir="$TMP/p$j" -o node.socket="$TMP/p$j.sock" -o node.tun=none \
        -o node.port=0
done
ups=()
for j in $(seq 1 "$peers"); do
    wait_for 10 test -S "$TMP/p$j.sock"
    "$WEFT" up --socket "$TMP/p$j.sock" --login-server "$url" --authkey "$key" --hostname "peer$j" >/dev/null 2>&1 &
    ups+=($!)
done
wait "${ups[@]}" # only the `weft up`s: the daemons run on
have() { [ "$(cli 1 status | grep -c ' peer[0-9]* ')" -ge "$peers" ]; }
wait_for 30 have || echo "bench/dns: node1 sees $(cli 1 status | grep -c ' peer[0-9]* ') of $peers extra peers"
# the queries: every peer's short and full name (A), full name (AAAA), its IPv4 address (PTR)
: >queries
cli 1 status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
for p in s["Peers"]:
    full = p["Name"].rstrip(".")
    short = full.split(".")[0]
    v4 = [a for a in p["Addresses"] if "." in a]
    print(short, "A"); print(full, "A"); print(full, "AAAA")
    if v4:
        o = v4[0].split("/")[0].split(".")
        print(".".join(reversed(o)) + ".in-addr.arpa", "PTR")
' >queries
n=$(wc -l <queries)
in_ns 1 dig +short @100.100.100.100 node2 | grep -q 100.64 || { echo "bench/dns: the resolver does not answer"; exit 1; }
run() { # run MODE: dnsperf from node1, prints its summary lines
    in_ns 1 dnsperf -s 100.100.100.100 -m "$1" -d queries -l "$secs" -c 8 -q 200 2>&1 |
        grep -E 'Queries (sent|completed|lost)|Queries per second|Average Latency'
}
echo "MagicDNS through the TUN: dnsperf in node1's namespace -> 100.100.100.100, $n names of $(cli 1 status | grep -c '^[0-9]') nodes, ${secs}s per run"
echo "-- UDP"; run udp
echo "-- TCP (8 connections, queries pipelined)"; run tcp
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "(load average while measured: $load on $(nproc) cores)"
