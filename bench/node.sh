#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Node figures (issue 7, issue 18): iperf3 throughput node <-> node through the DERP relay (weft control +
# derp in a server namespace; the nodes' namespaces reach only the server), and the memory of an idle node
# daemon with 100 peers that are online and have WireGuard sessions up with it. Needs root; skips
# otherwise. WEFT_BENCH_SECS: seconds per iperf3 run (default 5); WEFT_BENCH_PEERS: peers (default 100).
#
# Every node here runs as installed: all the build's modules are on the module path (bench_node sets
# WEFT_MODULE_PATH to the three module directories), so `weft serve node` checks the whole configuration
# with control, derp and the plugins loaded (in a child process), as a package install does. The measured node (node3) carries no traffic
# of its own; its peers are real `weft serve node` daemons (node.tun=none: the WireGuard engine answers
# handshakes without a TUN device) in one more namespace, and node3 sends each a packet so that a
# WireGuard handshake completes with every one. Memory is RSS and PSS (/proc/PID/smaps_rollup), split
# into anonymous and file-backed, and the largest mappings (/proc/PID/smaps).
# Issue 15 adds, in the same run, iperf3 over a direct path: nodes 5 and 6, each behind its own NAT
# router (nftables), find each other with disco and STUN (needs nft; skipped without).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
secs=${WEFT_BENCH_SECS:-5}
peers=${WEFT_BENCH_PEERS:-100}
if ! netns_usable || ! command -v iperf3 >/dev/null || [ ! -c /dev/net/tun ]; then
    echo "bench/node: skipped (needs root, usable network namespaces, iperf3, /dev/net/tun)"
    exit 0
fi
cd "$TMP" || exit 1
node_topology 4 || { echo "bench/node: cannot create namespaces"; exit 0; } # 4: the peers' namespace
# two NAT routers on the server namespace ("the internet"), a node behind each; STUN bound to the
# server's address (a wildcard-bound one answers from its route's address, which a NAT drops)
direct_ok=
if command -v nft >/dev/null && nat_internet && router_add 1 eim && router_add 2 eim && node_behind 5 1 &&
    node_behind 6 2; then
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

kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; } # KiB -> MiB
# mem PID: "RSS PSS ANON FILE PSS_ANON PSS_FILE HEAP" in KiB
mem() {
    awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Pss_Anon:/ {pa=$2} /^Pss_File:/ {pf=$2} END {printf "%d %d %d %d ", r, p, pa, pf}' \
        "/proc/$1/smaps_rollup"
    awk '/^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {printf "%d %d ", a, f}' "/proc/$1/status"
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name=$6} /^Rss:/ && name == "[heap]" {h+=$2} END {print h+0}' "/proc/$1/smaps"
}
# report LABEL PID: one line of figures
report() {
    local r p pa pf a f h
    read -r r p pa pf a f h <<<"$(mem "$2")"
    echo "$1: RSS $(kib "$r") MiB (anon $(kib "$a"), files $(kib "$f")), PSS $(kib "$p") MiB" \
        "(anon $(kib "$pa"), files $(kib "$pf")); heap $(kib "$h") MiB"
}
# mappings PID: the resident mappings, largest first (KiB, name; a file's mappings summed; anonymous
# ones each on its own line with its size, e.g. "[anon 2372 KiB]", so that a buffer can be told by size)
mappings() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / {split($1, a, "-"); name=$6; anon=(name == "")}
         /^Size:/ {if (anon) name=sprintf("[anon %d KiB #%d]", $2, ++k)}
         /^Rss:/ {r[name]+=$2}
         END {for (n in r) if (r[n] > 0) {m=n; sub(/ #[0-9]+\]/, "]", m); printf "%6d KiB  %s\n", r[n], m}}' \
        "/proc/$1/smaps" | sort -rn
}

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
    for i in 5 6; do
        start_node "$i"
        cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" >/dev/null || {
            echo "bench/node: node$i did not come up"; exit 1; }
    done
    v4_6=$(cli 6 ip -4)
    in_ns 6 iperf3 -s -p 5201 >/dev/null 2>&1 &
    on_exit "kill $! 2>/dev/null"
    wait_for 5 sh -c "ip netns exec wn$$6 ss -ltn | grep -q ':5201 '"
    wait_for 5 sees 5 6 online
    in_ns 5 ping -c 1 -W 2 "$v4_6" >/dev/null 2>&1
    both_direct() { cli 5 status | grep -q 'node6 .* direct ' && cli 6 status | grep -q 'node5 .* direct '; }
    if wait_for 20 both_direct; then
        fwd=$(in_ns 5 iperf3 -c "$v4_6" -p 5201 -t "$secs" -J 2>/dev/null | gbps)
        rev=$(in_ns 5 iperf3 -c "$v4_6" -p 5201 -t "$secs" -R -J 2>/dev/null | gbps)
        path=$(cli 5 status | awk '$2 == "node6" { print $6 }' | tr -d ,)
        echo "node->node direct through two NATs ($path), TCP 1 stream: ${fwd:-?} Gbit/s (node5 -> node6)," \
            "${rev:-?} Gbit/s (node6 -> node5)"
    else
        echo "node->node direct: no direct path within 20 s (skipped)"
    fi
    stop_weft n5 TERM
    stop_weft n6 TERM
else
    echo "node->node direct: skipped (needs nft for the NAT routers)"
fi

# memory: node3 joins and idles with 2 peers; then $peers more nodes join, online, and node3 brings a
# WireGuard session up with each
start_node 3
cli 3 up --login-server "$url" --authkey "$key" --hostname node3 >/dev/null ||
    { echo "bench/node: node3 did not come up"; exit 1; }
count() { cli "$1" status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Peers"]))'; }
sleep 3
report "idle node3 with $(count 3) peers (all modules installed)" "$(weft_pid n3)"
read -r r0 p0 pa0 _ <<<"$(mem "$(weft_pid n3)")"

# the peers: `weft serve node` daemons without TUN in namespace 4, logged in 10 at a time
peer() { local i=$1 v=$2; shift 2; "$WEFT" "$v" --socket "$TMP/p$i.sock" "$@"; }
for i in $(seq 1 "$peers"); do
    start_weft "p$i" --ns "wn$$4" serve node -o state_dir="$TMP/p$i" -o node.socket="$TMP/p$i.sock" \
        -o node.tun=none -o node.port=0
done
for i in $(seq 1 "$peers"); do wait_for 10 test -S "$TMP/p$i.sock" || { echo "bench/node: peer $i did not start"; exit 1; }; done
pids=()
for i in $(seq 1 "$peers"); do
    peer "$i" up --login-server "$url" --authkey "$key" --hostname "$(printf 'peer%03d' "$i")" \
        --timeout 60 >/dev/null 2>&1 &
    pids+=($!)
    if [ ${#pids[@]} -ge 10 ]; then wait "${pids[@]}" || { echo "bench/node: a peer did not come up"; exit 1; }; pids=(); fi
done
[ ${#pids[@]} -eq 0 ] || wait "${pids[@]}" || { echo "bench/node: a peer did not come up"; exit 1; }
# peers_in N FIELD: how many of node3's peers have FIELD true (Online) or non-zero (LastHandshake)
peers_in() {
    cli 3 status --json | python3 -c 'import json,sys
print(sum(1 for p in json.load(sys.stdin)["Peers"] if p.get(sys.argv[1])))' "$1"
}
all_online() { [ "$(peers_in Online)" -ge "$((peers + 2))" ]; }
wait_for 30 all_online || { echo "bench/node: node3 sees $(peers_in Online) of $((peers + 2)) peers online"; exit 1; }
# one UDP packet to each peer's tailnet address: node3 initiates a WireGuard handshake with every peer
ips=$(cli 3 status --json | python3 -c 'import json,sys
for p in json.load(sys.stdin)["Peers"]:
    print(next(a.split("/")[0] for a in p["Addresses"] if ":" not in a))')
poke() { in_ns 3 bash -c 'for ip in '"$(echo $ips)"'; do echo x 2>/dev/null >/dev/udp/$ip/9; done'; }
all_sessions() { [ "$(peers_in LastHandshake)" -ge "$((peers + 2))" ]; }
poke
wait_for 30 all_sessions || { poke; wait_for 30 all_sessions; } ||
    { echo "bench/node: sessions with $(peers_in LastHandshake) of $((peers + 2)) peers"; exit 1; }
sleep 3 # idle
pid3=$(weft_pid n3)
report "idle node3 with $(peers_in Online) peers online, $(peers_in LastHandshake) WireGuard sessions up (all modules installed)" \
    "$pid3"
echo "  target: RSS < 8 MiB"
read -r r p pa _ <<<"$(mem "$pid3")"
echo "  the $peers more peers with sessions cost $(kib $((r - r0))) MiB RSS, $(kib $((pa - pa0))) MiB anon PSS" \
    "($(( (pa - pa0) * 1024 / peers )) bytes each)"
echo "  largest resident mappings of node3:"
mappings "$pid3" | head -12 | sed 's/^/    /'
left=$(awk '{print $6}' "/proc/$pid3/maps" | grep -E '/(control|derp)\.so$|libsqlite3|libcurl|libgnutls|libp11-kit|libldap' | sort -u)
echo "  mapped from the modules only the config check loads (control, derp) or only they need:" \
    "${left:-nothing}" | tr '\n' ' '
echo
report "node1 after the transfers, $(count 1) peers (all modules installed)" "$(weft_pid n1)"
echo "  largest resident mappings of node1 (the engine's packet arenas go back to the kernel after 10 s idle):"
mappings "$(weft_pid n1)" | head -6 | sed 's/^/    /'
