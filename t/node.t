#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The node role end to end, as root in network namespaces: a server namespace runs `weft serve control
# derp`; node namespaces reach only the server (each over its own veth, no forwarding), never each other,
# so every packet between nodes goes through the DERP relay. Two nodes log in with a pre-auth key, see
# each other, ping both ways over IPv4 and IPv6 tailnet addresses, carry 50 MB of iperf3; a third joins
# and is seen within 2 s; a restarted node keeps its addresses; a restarted control server is rejoined and
# traffic resumes; `weft down` and `weft logout` do what they say and the peers see it.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_netns
need_cmd ip ping iperf3 python3
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
node_topology 3 || skip_all "cannot create network namespaces and veth pairs"

start_srv; ok $? "the server namespace runs weft serve control derp"
out=$(in_ns 1 ping -c 1 -W 1 10.77.2.2 2>&1); rc=$?
like "$rc $out" '^2 .*Network is unreachable' "node namespaces cannot reach each other directly (no route: ping exits 2)"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
like "$key" '^weft-auth-' "a reusable pre-auth key"

for i in 1 2; do
    start_node "$i"
    out=$(cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" 2>&1)
    ok $? "node$i: weft up with the pre-auth key" || diag "$out"
done
like "$(cli 1 status)" '^# Running' "node1 is Running"
is "$(cli 1 ip -4)" 100.64.0.1 "node1 has 100.64.0.1"
addrs=$(in_ns 1 ip -o addr show dev weft0)
like "$addrs" 'inet 100\.64\.0\.1/32' "weft0 carries node1's IPv4 address"
like "$addrs" 'inet6 fd7a:115c:a1e0::1/128' "and its IPv6 address"
like "$(in_ns 1 ip route show dev weft0)" '100\.64\.0\.0/10' "the tailnet's IPv4 range is routed into weft0"
like "$(in_ns 1 ip -6 route show dev weft0)" 'fd7a:115c:a1e0::/48' "and its IPv6 range"
wait_for 3 sees 1 2 online; ok $? "node1 sees node2 online"
wait_for 3 sees 2 1 online; ok $? "node2 sees node1 online"
like "$(cli 1 status)" 'node2 +linux +online +relay "weft" \(999\)' \
    "status: reached through relay region 999"
json=$(cli 1 status --json)
like "$json" '"HomeDERPConnected":true' "status --json: the home relay is connected"

v4_2=$(cli 2 ip -4); v6_2=$(cli 2 ip -6); v4_1=$(cli 1 ip -4); v6_1=$(cli 1 ip -6)
out=$(cli 1 ping node2); ok $? "weft ping node2 from node1"
like "$out" "pong from node2 \(100\.64\.0\.2\) via DERP\(weft, region 999\) in [0-9.]+ms" \
    "it reports the path and RTT"
out=$(cli 2 ping -6 node1); ok $? "weft ping -6 node1 from node2"
like "$out" "pong from node1 \(fd7a:115c:a1e0::1\) via DERP" "over IPv6"
in_ns 1 ping -c 2 -W 2 "$v4_2" >/dev/null; ok $? "ping(8) node1 -> node2 over IPv4"
in_ns 2 ping -c 2 -W 2 "$v4_1" >/dev/null; ok $? "ping(8) node2 -> node1 over IPv4"
in_ns 1 ping -c 2 -W 2 "$v6_2" >/dev/null; ok $? "ping(8) node1 -> node2 over IPv6"
in_ns 2 ping -c 2 -W 2 "$v6_1" >/dev/null; ok $? "ping(8) node2 -> node1 over IPv6"

# /metrics after that traffic, on each namespace's loopback (the default listeners: node 9873, control 9871)
m=$(in_ns 1 curl -s -m 5 http://127.0.0.1:9873/metrics)
like "$m" '^weft_node_state\{state="Running"\} 1$' "node metrics: the state"
like "$m" '^weft_node_peers 1$' "node metrics: its one peer (node2)"
like "$m" '^weft_node_handshakes_total [1-9]' "node metrics: WireGuard handshakes happened"
like "$m" '^weft_node_peer_sent_bytes_total\{peer="node2"\} [1-9][0-9]{2,}$' "node metrics: bytes sent to node2"
like "$m" '^weft_node_peer_received_bytes_total\{peer="node2"\} [1-9][0-9]{2,}$' "node metrics: bytes from node2"
like "$m" '^weft_node_peer_paths\{path="relay"\} [1-9]' "node metrics: peers reached through the relay"
like "$m" '^process_resident_memory_bytes [1-9][0-9]{5,}$' "process metrics: resident memory"
m=$(ip netns exec "$S" curl -s -m 5 http://127.0.0.1:9871/metrics)
like "$m" '^weft_control_nodes\{state="online"\} 2$' "control metrics: two nodes online"
like "$m" '^weft_control_registrations_total\{result="authkey"\} 2$' "control metrics: two registrations by key"
like "$m" '^weft_control_map_streams [2-9]$' "control metrics: their map streams"
like "$m" '^derp_packets_relayed_total [1-9]' "the embedded relay's metrics are in the same exposition"

in_ns 2 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
on_exit "kill $! 2>/dev/null"
wait_for 5 sh -c "ip netns exec wn$$2 ss -ltn | grep -q ':5201 '"
out=$(in_ns 1 timeout 60 iperf3 -c "$v4_2" -p 5201 -n 50M -J 2>&1); rc=$?
bytes=$(printf '%s' "$out" | json_get end.sum_sent.bytes)
ok "$([ $rc = 0 ] && [ "${bytes:-0}" -ge 52428800 ] && echo 0 || echo 1)" \
    "iperf3 carries 50 MB node1 -> node2 through the relay (${bytes:-0} bytes, exit $rc)"
bps=$(printf '%s' "$out" | json_get end.sum_received.bits_per_second)
diag "iperf3 through DERP: ${bps%.*} bit/s"
like "$(cli 1 status)" 'node2 .*handshake [0-9]+s ago, rx [0-9.]+ [KM]iB, tx [0-9.]+ MiB' \
    "status shows the last handshake and the bytes in and out"

# a third node joins: the others see it within 2 s and can ping it
start_node 3
t0=$(date +%s%N)
cli 3 up --login-server "$url" --authkey "$key" --hostname node3 >/dev/null 2>&1; ok $? "node3: weft up"
both_see_3() { sees 1 3 online && sees 2 3 online; }
wait_for 2 both_see_3
rc=$?; dt=$((($(date +%s%N) - t0) / 1000000))
ok $rc "node1 and node2 see node3 within 2 s of its login (${dt} ms after up began)"
cli 1 ping node3 >/dev/null; ok $? "node1 pings node3"
cli 3 ping -6 node2 >/dev/null; ok $? "node3 pings node2 over IPv6"

# a restarted node keeps its addresses
stop_weft n2
start_node 2
wait_for 10 has 2 '^# Running'; ok $? "node2 restarted is Running again"
is "$(cli 2 ip -4) $(cli 2 ip -6)" "$v4_2 $v6_2" "with the same addresses"
wait_for 3 sees 1 2 online
cli 1 ping node2 >/dev/null; ok $? "node1 pings the restarted node2"

# control restarted: nodes reconnect, traffic resumes
stop_weft srv
wait_for 5 has 1 '(not connected)'; ok $? "node1 notices control went away"
start_srv; ok $? "control restarted"
wait_for 20 has 1 'login server .*\(connected\), home relay 999 \(connected\)'
ok $? "node1 reconnects to control and to the relay"
wait_for 20 has 2 'login server .*\(connected\), home relay 999 \(connected\)'
ok $? "node2 too"
wait_for 10 sees 1 2 online
cli 1 ping node2 >/dev/null; ok $? "traffic resumes: node1 pings node2"
in_ns 2 ping -c 1 -W 3 "$v6_1" >/dev/null; ok $? "and node2 reaches node1 over IPv6"

# down: the node leaves (peers see it offline, its addresses go); up brings it back
cli 3 down; ok $? "node3: weft down"
like "$(cli 3 status)" '^# Stopped' "node3 is Stopped"
addrs=$(in_ns 3 ip -o addr show dev weft0 2>/dev/null)
unlike "$addrs" '100\.64\.|fd7a:' "its tailnet addresses are gone"
wait_for 3 sees 1 3 offline; ok $? "node1 sees node3 offline"
out=$(cli 1 ping --count 1 --timeout 1 node3 2>&1); rc=$?
like "$rc $out" '^1 weft ping: no reply from node3 \(100\.64\.0\.3\): timed out' "node3 no longer answers (the ping times out)"
cli 3 up >/dev/null 2>&1; ok $? "node3: weft up again"
wait_for 3 sees 1 3 online; ok $? "node1 sees node3 online again"
cli 1 ping node3 >/dev/null; ok $? "and pings it"

# logout: control expires the node; the peers see it and stop sending to it
cli 3 logout; ok $? "node3: weft logout"
like "$(cli 3 status)" '^# NeedsLogin' "node3 needs a login"
wait_for 3 sees 1 3 expired; ok $? "node1 sees node3 expired"
wait_for 3 sees 2 3 expired; ok $? "node2 too"
like "$(w nodes list)" 'node3 .* false +true ' "control lists node3 expired"

for n in n1 n2 n3; do
    stop_weft "$n" TERM
    is "$WEFT_RC" 0 "$n exits 0 on SIGTERM"
done
unlike "$(cat "$TMP/n1.log" "$TMP/n2.log" "$TMP/n3.log")" 'level=error' "no errors logged by the nodes"
[ -n "${WEFT_KEEP_LOGS:-}" ] && cp "$TMP"/*.log "$WEFT_KEEP_LOGS"/ # debugging: keep the daemons' logs
done_testing
