#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Direct paths through real NATs (nftables masquerade in router namespaces), as root: the server
# namespace is "the internet" (control + DERP + STUN at 10.77.0.1, a second STUN address 10.77.0.2);
# routers with an easy NAT (one mapping for every destination) or a hard one (a random port per
# destination); nodes behind them, or on the internet itself.
#   - two nodes behind two easy NATs go direct within 5 s of traffic starting (CallMeMaybe: both NATs
#     opened by simultaneous pings), traffic rides DERP while the direct path is blocked and goes direct
#     again once it is unblocked;
#   - netcheck sees the hard NAT (mapping varies by destination), and the easy one not;
#   - hard NAT <-> open node: direct, through the open side; hard <-> hard: stays on DERP, and works;
#   - two nodes on one LAN use their LAN addresses;
#   - the NAT's public address changes: the new endpoint is reported, the direct path comes back.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_netns
need_cmd ip ping nft
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
netns_add "$S" || skip_all "cannot create network namespaces"
ip -n "$S" addr add "$SRV/32" dev lo
nat_internet
# routers: 1 and 2 easy, 3 and 4 hard; nodes 1, 2 behind 1 and 2; 3 behind hard 3; 4 open; 5 behind hard 4;
# 6 on router 1's LAN next to node 1
router_add 1 eim && router_add 2 eim && router_add 3 hard && router_add 4 hard || skip_all "cannot build routers (nftables NAT)"
node_behind 1 1 && node_behind 2 2 && node_behind 3 3 && node_open 4 && node_behind 5 4 && node_behind 6 1 ||
    skip_all "cannot create the node namespaces"

derp_map_file "$TMP/derpmap.json"
srvargs=(-o state_dir=$TMP/srv -o control.listen=0.0.0.0:8080 -o derp.listen=0.0.0.0:8080
         -o derp.stun_listen=10.77.0.1:3478 -o control.server_url=$url -o control.derp_map_file=$TMP/derpmap.json)
start_srv; ok $? "the internet namespace runs control, DERP and STUN at 10.77.0.1"
# a second STUN server bound to 10.77.0.2 (a wildcard-bound one answers from its route's address, which a
# NAT would not let back in)
start_weft stun2 --ns "$S" serve derp -o state_dir="$TMP/stun2" -o derp.listen=10.77.0.2:8081 \
    -o derp.stun_listen=10.77.0.2:3478
wait_for 10 grep -q 'event=started' "$TMP/stun2.log"; ok $? "a second STUN server at 10.77.0.2"
in_ns 1 ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; ok $? "node1 reaches the internet through its NAT"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)

up_node() { # up_node I: start node I and log it in
    start_node "$1"
    cli "$1" up --login-server "$url" --authkey "$key" --hostname "node$1" >/dev/null 2>&1
}
up_node 1; ok $? "node1 (behind easy NAT 1) is up"
up_node 2; ok $? "node2 (behind easy NAT 2) is up"
v4_1=$(cli 1 ip -4); v4_2=$(cli 2 ip -4)
nc=$(cli 1 netcheck); ok $? "weft netcheck on node1"
like "$nc" '\* UDP: true' "netcheck: UDP works for node1"
like "$nc" '\* MappingVariesByDestIP: false' "netcheck: an easy NAT maps every destination alike"
like "$nc" '\* IPv4: yes, 10\.78\.1\.2:41641' "netcheck: node1's public address is its router's, port kept"
like "$nc" 'Nearest DERP: weft test relay' "netcheck: the nearest DERP region"
like "$nc" '- weft: [0-9.]+ms' "netcheck: the latency to it"

# ---- easy <-> easy: direct within 5 s of traffic ----
wait_for 10 sees 1 2 online
both_direct() { direct 1 2 10.78.2.2: && direct 2 1 10.78.1.2:; }
t0=$(($(date +%s%N) / 1000000))
in_ns 1 ping -c 1 -W 2 "$v4_2" >/dev/null 2>&1
wait_for 20 both_direct; rc=$?
# when each side chose the path, by its own clock: robust however slowly this script polls
s1=$(peer_field 1 2 DirectSince); s2=$(peer_field 2 1 DirectSince)
dt=$(( (s1 > s2 ? s1 : s2) - t0 ))
ok "$([ $rc = 0 ] && [ $dt -lt 5000 ] && echo 0 || echo 1)" \
    "easy NAT <-> easy NAT: both sides direct through the NATs within 5 s (${dt} ms after the first packet)"
diag "node1 -> node2: $(peer_path 1 2); node2 -> node1: $(peer_path 2 1)"
out=$(cli 1 ping node2); ok $? "weft ping node2"
like "$out" "pong from node2 \(100\.64\.0\.2\) via 10\.78\.2\.2:[0-9]+ in" "weft ping shows the direct endpoint"
like "$(cli 1 status)" "node2 .* direct 10\.78\.2\.2:[0-9]+" "weft status shows the direct endpoint"

# ---- block the direct path: DERP carries the traffic; unblock: direct again ----
ip netns exec "wn${$}1" ping -i 0.2 -W 1 -w 60 "$v4_2" >"$TMP/ping12.out" 2>&1 &
pinger=$!
on_exit "kill $pinger 2>/dev/null"
ip netns exec "$S" nft -f - <<'NFT'
table inet blockdirect {
    chain direct_block {
        type filter hook forward priority 0;
        ip saddr 10.78.1.2 ip daddr 10.78.2.2 udp dport != 3478 drop
        ip saddr 10.78.2.2 ip daddr 10.78.1.2 udp dport != 3478 drop
    }
}
NFT
t0=$(date +%s%N)
wait_for 15 relay 1 2; rc=$?
dt=$((($(date +%s%N) - t0) / 1000000))
ok $rc "direct path blocked: node1 falls back to DERP (after ${dt} ms; Tailscale trusts a path 6.5 s)"
in_ns 1 ping -c 3 -W 2 "$v4_2" >/dev/null 2>&1; ok $? "and traffic goes on through DERP"
ip netns exec "$S" nft delete table inet blockdirect
t0=$(date +%s%N)
wait_for 20 both_direct; rc=$?
dt=$((($(date +%s%N) - t0) / 1000000))
ok $rc "unblocked: both sides direct again (${dt} ms)"
sleep 1
kill -INT $pinger 2>/dev/null; wait $pinger 2>/dev/null
loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$TMP/ping12.out")
diag "ping through block and unblock: ${loss:-?}% lost ($(grep -c 'bytes from' "$TMP/ping12.out") replies)"

# ---- the NAT's public address changes ----
# Nothing changes on node1's own interfaces: only a STUN answer can tell it. A netcheck just before makes
# its endpoints fresh, the hard case: for the next 20 s neither the periodic re-STUN nor a CallMeMaybe's
# freshness check would look again, and node1 would offer its peers the dead address. Losing its direct
# path must make it look at once (a re-STUN "path-lost"), and tell node2 (a CallMeMaybe).
cli 1 netcheck >/dev/null
ip -n "wr$$1" addr flush dev "wrr$$1"
ip -n "wr$$1" addr add 10.78.1.3/24 dev "wrr$$1"
ip -n "wr$$1" route add default via 10.78.1.1
ip netns exec "wr$$1" conntrack -F >/dev/null 2>&1 # what masqueraded with the old address goes
ip netns exec "wn${$}1" ping -i 0.5 -W 1 -w 60 "$v4_2" >/dev/null 2>&1 &
pinger=$!
t0=$(date +%s%N)
wait_for 60 direct 2 1 10.78.1.3:; rc=$?
dt=$((($(date +%s%N) - t0) / 1000000))
ok $rc "node1's NAT changed its public address: the path to it is direct again, at 10.78.1.3 (${dt} ms)"
grep -q 'event=endpoints endpoints=10\.78\.1\.3:41641.* why=path-lost' "$TMP/n1.log"
ok $? "node1 found its new address when its direct path stopped answering (re-STUN why=path-lost)"
like "$(cli 1 netcheck)" 'IPv4: yes, 10\.78\.1\.3:' "node1's netcheck reports the new public address"
wait_for 10 direct 1 2 10.78.2.2:; ok $? "and node1 -> node2 is direct too"
kill $pinger 2>/dev/null; wait $pinger 2>/dev/null

# ---- a new address on node1's interface (rtnetlink): a new endpoint, reported to control and peers ----
ip -n "wn${$}1" addr add 192.168.1.111/24 dev "wp${$}1"
wait_for 10 sh -c "$WEFT status --socket $TMP/n1.sock --json | grep -q '\"192\.168\.1\.111:41641\"'"
ok $? "node1 noticed its new interface address: a new endpoint"
wait_for 10 sh -c "$WEFT status --socket $TMP/n2.sock --json | grep -q '\"192\.168\.1\.111:41641\"'"
ok $? "and reported it: node2 has it from control"
ip -n "wn${$}1" addr del 192.168.1.111/24 dev "wp${$}1"

# ---- same LAN: node6 next to node1 ----
up_node 6; ok $? "node6 (on node1's LAN) is up"
wait_for 10 sees 1 6 online
in_ns 6 ping -c 1 -W 2 "$v4_1" >/dev/null 2>&1
lan_direct() { direct 6 1 192.168.1.11: && direct 1 6 192.168.1.16:; }
wait_for 10 lan_direct; ok $? "nodes on one LAN talk over their LAN addresses ($(peer_path 6 1))"

# ---- hard NAT <-> open node; hard <-> hard ----
up_node 3; ok $? "node3 (behind hard NAT 3) is up"
up_node 4; ok $? "node4 (open, on the internet) is up"
up_node 5; ok $? "node5 (behind hard NAT 4) is up"
like "$(cli 3 netcheck)" 'MappingVariesByDestIP: true' "netcheck: the hard NAT maps per destination"
wait_for 10 sees 3 4 online
in_ns 3 ping -c 1 -W 2 "$(cli 4 ip -4)" >/dev/null 2>&1
hard_open() { direct 3 4 10.79.4.2: && direct 4 3 10.78.3.2:; }
wait_for 10 hard_open; ok $? "hard NAT <-> open node: direct both ways ($(peer_path 3 4); $(peer_path 4 3))"
wait_for 10 sees 3 5 online
in_ns 3 ping -c 3 -W 2 "$(cli 5 ip -4)" >/dev/null 2>&1; ok $? "hard NAT <-> hard NAT: traffic flows"
sleep 6
relay 3 5 && relay 5 3; ok $? "and stays on DERP ($(peer_path 3 5); $(peer_path 5 3))"

for n in n1 n2 n3 n4 n5 n6; do
    stop_weft "$n" TERM
    is "$WEFT_RC" 0 "$n exits 0 on SIGTERM"
done
unlike "$(cat "$TMP"/n?.log)" 'level=error' "no errors logged by the nodes"
[ -n "${WEFT_KEEP_LOGS:-}" ] && cp "$TMP"/*.log "$WEFT_KEEP_LOGS"/ # debugging: keep the daemons' logs
done_testing
