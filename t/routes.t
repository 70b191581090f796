#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Subnet routers and exit nodes with weft nodes, as root in network namespaces (real kernel routing, real
# nftables). The topology of t/node_lib.sh (every node reaches only the server namespace; node traffic
# goes through the DERP relay), plus:
#   - a LAN namespace (bridge, host 192.168.50.10 and fd00:50::10) behind node1 (192.168.50.1,
#     fd00:50::1) and node2 (.2, ::2), both `weft up --advertise-routes=192.168.50.0/24,fd00:50::/64`;
#     IP forwarding is switched on for them and put back as it was by down, exit and a restart after
#     kill -9;
#   - node3, `weft up --accept-routes`: the LAN is reachable only once an admin approved the routes
#     (ping, TCP, over IPv4 and IPv6); the LAN host sees node1's LAN address (SNAT), or node3's tailnet
#     address with --snat-subnet-routes=false;
#   - failover: node1 killed (kill -9), node3's traffic to the LAN flows through node2, timed from the
#     kill to the first echo reply; then node2 stopped (weft down), back to node1 (restarted: the stale
#     table of the killed daemon is removed at its start);
#   - node4 `--advertise-exit-node` in front of an "internet" namespace (198.51.100.1): node3 with
#     `--exit-node=node4` reaches it (seen from there as node4's address), still reaches control and the
#     relay, and with --exit-node-allow-lan-access its own LAN;
#   - weft down and exit leave no route, rule or nft table of weft's, and another table untouched.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_root
need_cmd ip ping nft python3
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
node_topology 4 || skip_all "cannot create network namespaces and veth pairs"
L=wl$$ I=wi$$

# ---- the LAN behind node1 and node2, the internet behind node4 ----
netns_add "$L" || skip_all "cannot create network namespaces"
ip -n "$L" link add br0 type bridge && ip -n "$L" link set br0 up
ip -n "$L" addr add 192.168.50.10/24 dev br0
ip -n "$L" addr add fd00:50::10/64 dev br0 nodad
for r in 1 2; do
    ip link add "wla$$$r" type veth peer name "wlb$$$r"
    ip link set "wla$$$r" netns "$L"
    ip link set "wlb$$$r" netns "wn$$$r"
    ip -n "$L" link set "wla$$$r" master br0 up
    ip -n "wn$$$r" addr add "192.168.50.$r/24" dev "wlb$$$r"
    ip -n "wn$$$r" addr add "fd00:50::$r/64" dev "wlb$$$r" nodad
    ip -n "wn$$$r" link set "wlb$$$r" up
done
ip -n "$L" route add 100.64.0.0/10 via 192.168.50.1 # the way back for tailnet sources (no SNAT)
ip -n "$L" -6 route add fd7a:115c:a1e0::/48 via fd00:50::1
netns_add "$I" || skip_all "cannot create network namespaces"
ip link add "wia$$" type veth peer name "wib$$"
ip link set "wia$$" netns "$I"
ip link set "wib$$" netns "wn$$4"
ip -n "$I" addr add 198.51.100.1/24 dev "wia$$" && ip -n "$I" link set "wia$$" up
ip -n "wn$$4" addr add 198.51.100.2/24 dev "wib$$" && ip -n "wn$$4" link set "wib$$" up
ip -n "wn$$4" route add default via 198.51.100.1

# A TCP server in a namespace: answers each connection with the address it came from.
whoami_srv() {
    ip netns exec "$1" python3 -c 'import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7070)); s.listen(8)
while True:
    c, a = s.accept(); c.sendall((a[0] + "\n").encode()); c.close()' &
    on_exit "kill $!"
}
# the same over IPv6 on port 7071
whoami_srv6() {
    ip netns exec "$1" python3 -c 'import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", 7071)); s.listen(8)
while True:
    c, a = s.accept(); c.sendall((a[0] + "\n").encode()); c.close()' &
    on_exit "kill $!"
}
# seen_from I HOST [PORT]: connect from node I's namespace to HOST:PORT (7070), print what the server saw
seen_from() {
    in_ns "$1" python3 -c 'import socket,sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); print(c.recv(100).decode().strip())' "$2" "${3:-7070}" 2>/dev/null
}
whoami_srv "$L"
whoami_srv6 "$L"
whoami_srv "$I"
# fwd I: IPv4 and IPv6 forwarding in node I's namespace
fwd() { echo "$(in_ns "$1" sysctl -n net.ipv4.ip_forward) $(in_ns "$1" sysctl -n net.ipv6.conf.all.forwarding)"; }
fwd1_before=$(fwd 1) fwd2_before=$(fwd 2)
# other: a table that is not weft's, in node1's and node3's namespaces; it must stay as it is
for i in 1 3; do
    in_ns "$i" nft -f - <<'NFT'
table inet other {
    chain c { type filter hook forward priority 10; policy accept; counter; }
}
NFT
done
other1=$(in_ns 1 nft list table inet other | grep -v packets)
# ping_fails I ADDR: how a ping from node I fails: "no reply" (sent, nothing came back), "no route" (the
# kernel has no route to send it by), or anything else verbatim (a crash or a dead namespace is not the
# "cannot reach" being checked)
ping_fails() {
    local out rc
    out=$(in_ns "$1" ping -c 1 -W 1 "$2" 2>&1); rc=$?
    case "$rc:$out" in
        1:*) echo "no reply" ;;
        2:*"Network is unreachable"*) echo "no route" ;;
        *) echo "rc=$rc: $out" ;;
    esac
}
t52() { in_ns "$1" ip route show table 52 2>/dev/null; }
rules() { in_ns "$1" ip rule show; in_ns "$1" ip -6 rule show; }
weft_table() { in_ns "$1" nft list table inet weft 2>/dev/null; }

start_srv; ok $? "the server runs"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
upargs=(--login-server "$url" --authkey "$key")
LANS=192.168.50.0/24,fd00:50::/64
start_node 1
cli 1 up "${upargs[@]}" --hostname node1 --advertise-routes=$LANS >/dev/null; ok $? "node1: up --advertise-routes=$LANS"
start_node 2
cli 2 up "${upargs[@]}" --hostname node2 --advertise-routes=$LANS >/dev/null; ok $? "node2: the same"
start_node 3
cli 3 up "${upargs[@]}" --hostname node3 --accept-routes >/dev/null; ok $? "node3: up --accept-routes"
start_node 4
cli 4 up "${upargs[@]}" --hostname node4 --advertise-exit-node >/dev/null; ok $? "node4: up --advertise-exit-node"

out=$(cli 3 up --advertise-routes=192.168.50.1/24 2>&1)
like "$out" 'host bits set \(the prefix is 192.168.50.0/24\)' "a route with host bits is refused by weft up"
out=$(cli 3 up --advertise-routes=0.0.0.0/0 2>&1)
like "$out" 'advertise-exit-node' "a default route is offered with --advertise-exit-node, not as a route"
out=$(cli 3 up --snat-subnet-routes=maybe 2>&1)
like "$out" 'takes =true or =false' "a boolean flag takes true or false"

wait_for 5 holds '[ "$(w nodes routes node1 --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"advertised_routes\"])")" = "['"'"'192.168.50.0/24'"'"', '"'"'fd00:50::/64'"'"']" ]'
ok $? "control has node1's advertised routes"
like "$(weft_table 1)" 'ip saddr 100.64.0.0/10 oifname != "weft0" masquerade' "node1: table inet weft masquerades tailnet sources"
is "$fwd1_before|$fwd2_before" "0 0|0 0" "(IP forwarding is off in fresh namespaces)"
is "$(fwd 1)" "1 1" "node1: IPv4 and IPv6 forwarding are on"
like "$(cat n1.log)" 'event=forwarding state=on ipv4_before=0 ipv6_before=0' "node1 logs what they were"
is "$(in_ns 1 nft list table inet other | grep -v packets)" "$other1" "node1: the other table is untouched"

# ---- not approved: not routed ----
wait_for 5 sees 3 1 online
is "$(t52 3)" "" "node3: nothing in table 52 before approval"
is "$(ping_fails 3 192.168.50.10)" "no route" "node3 cannot reach the LAN host before approval (no route)"

# ---- approved by hand ----
w nodes approve-routes node1 192.168.50.0/24 fd00:50::/64 >/dev/null; ok $? "weft nodes approve-routes node1 192.168.50.0/24 fd00:50::/64"
wait_for 5 sh -c "ip -n wn$$3 route show table 52 | grep -q '^192.168.50.0/24 dev weft0'"
ok $? "node3: 192.168.50.0/24 through weft0 in table 52"
wait_for 5 sh -c "ip -n wn$$3 -6 route show table 52 | grep -q '^fd00:50::/64 dev weft0'"
ok $? "node3: fd00:50::/64 through weft0 in table 52 (IPv6)"
like "$(in_ns 3 ip -6 rule show)" '^5270:.*lookup 52' "node3: the IPv6 rule too"
like "$(in_ns 3 ip rule show)" '^5270:.*lookup 52' "node3: the rule that looks table 52 up"
like "$(t52 3)" 'throw 10.77.0.1 ' "node3: control and the relay keep the physical path (throw)"
like "$(cli 3 status)" '# node1 offers (192.168.50.0/24, fd00:50::/64|fd00:50::/64, 192.168.50.0/24) \(accepted\)' "weft status: node1's routes, accepted"
like "$(cli 1 status)" '# offering: 192.168.50.0/24, fd00:50::/64 \(routed to us: [^)]*192.168.50.0/24' "weft status on node1: offered and routed"
like "$(cli 1 status)" '# offering: .*routed to us: [^)]*fd00:50::/64' "both of them"
wait_for 5 in_ns 3 ping -c 1 -W 1 192.168.50.10 >/dev/null; ok $? "node3 pings the LAN host through node1"
is "$(seen_from 3 192.168.50.10)" 192.168.50.1 "TCP from node3: the LAN host sees node1's LAN address (SNAT)"
wait_for 5 in_ns 3 ping -6 -c 1 -W 1 fd00:50::10 >/dev/null; ok $? "node3 pings the LAN host's IPv6 address through node1"
is "$(seen_from 3 fd00:50::10 7071)" fd00:50::1 "TCP over IPv6: the LAN host sees node1's LAN address (SNAT)"
in_ns 2 ping -c 1 -W 1 192.168.50.10 >/dev/null; ok $? "(node2 is on the LAN itself)"
is "$(ping_fails 4 192.168.50.10)" "no reply" "node4 (no --accept-routes) does not route to the LAN (sent by its default route, never answered)"

cli 1 up --snat-subnet-routes=false >/dev/null; ok $? "node1: up --snat-subnet-routes=false"
wait_for 3 sh -c "! ip netns exec wn$$1 nft list table inet weft | grep -q masquerade"
ok $? "node1: no masquerade rule any more"
is "$(seen_from 3 192.168.50.10)" 100.64.0.3 "TCP from node3: the LAN host sees node3's tailnet address"
is "$(seen_from 3 fd00:50::10 7071)" fd7a:115c:a1e0::3 "and over IPv6 its tailnet IPv6 address"
cli 1 up --snat-subnet-routes >/dev/null
wait_for 3 sh -c "ip netns exec wn$$1 nft list table inet weft | grep -q masquerade"
is "$(seen_from 3 192.168.50.10)" 192.168.50.1 "SNAT on again"

# ---- two routers: failover ----
w nodes approve-routes node2 192.168.50.0/24 fd00:50::/64 >/dev/null
like "$(w nodes routes node1)" 'primary +192.168.50.0/24' "node1 stays primary when node2 is approved"
in_ns 3 ping -D -i 0.05 -W 1 192.168.50.10 >ping.log 2>&1 &
pingpid=$!
on_exit "kill $pingpid"
wait_for 3 grep -q 'bytes from' ping.log
t_kill=$(date +%s.%N)
kill -9 "$(weft_pid n1)"
wait_for 15 python3 -c 'import re,sys
t = float(sys.argv[1])
sys.exit(0 if any(float(m) > t + 0.1 for m in re.findall(r"^\[([0-9.]+)\] .*bytes from", open("ping.log").read(), re.M)) else 1)' "$t_kill"
ms=$(python3 -c 'import re,sys
t = float(sys.argv[1])
r = [float(m) for m in re.findall(r"^\[([0-9.]+)\] .*bytes from", open("ping.log").read(), re.M) if float(m) > t + 0.1]
print(int((r[0] - t) * 1000) if r else 99999)' "$t_kill")
diag "failover (node1 killed -9): node3's first echo reply through node2 came $ms ms after the kill"
ok $((ms == 99999)) "node3 reaches the LAN through node2 after node1's death ($ms ms; the time is a figure, not a bound)"
is "$(seen_from 3 192.168.50.10)" 192.168.50.2 "TCP now comes from node2's LAN address"
like "$(weft_table 1)" masquerade "node1 killed: its table is left behind"
is "$(fwd 1)" "1 1" "and forwarding stays on"
is "$(seen_from 3 fd00:50::10 7071)" fd00:50::2 "IPv6 fails over too"
like "$(w nodes routes node2)" 'primary +192.168.50.0/24' "control: node2 is primary"

start_node 1
wait_for 5 grep -q 'action=deleted_stale' n1.log; ok $? "node1 restarted: the killed daemon's nft table is removed first"
like "$(cat n1.log)" 'event=forwarding state=restored family=ipv4 value=0 reason="a killed daemon had switched it on"' \
    "and the forwarding it had switched on is put back"
wait_for 5 sees 3 1 online
sleep 0.5
like "$(w nodes routes node2)" 'primary +192.168.50.0/24' "node1 back: node2 stays primary"
: >ping.log
t_stop=$(date +%s.%N)
cli 2 down; ok $? "node2: weft down"
wait_for 15 python3 -c 'import re,sys
t = float(sys.argv[1])
sys.exit(0 if any(float(m) > t + 0.1 for m in re.findall(r"^\[([0-9.]+)\] .*bytes from", open("ping.log").read(), re.M)) else 1)' "$t_stop"
ms2=$(python3 -c 'import re,sys
t = float(sys.argv[1])
r = [float(m) for m in re.findall(r"^\[([0-9.]+)\] .*bytes from", open("ping.log").read(), re.M) if float(m) > t + 0.1]
print(int((r[0] - t) * 1000) if r else 99999)' "$t_stop")
diag "failover (node2 weft down): first echo reply through node1 $ms2 ms after the command"
ok $((ms2 == 99999)) "back through node1 ($ms2 ms)"
is "$(weft_table 2)" "" "node2 down: its nft table is gone"
is "$(fwd 2)" "$fwd2_before" "node2 down: IPv4 and IPv6 forwarding as they were before ($fwd2_before)"
kill "$pingpid" 2>/dev/null

# ---- exit node ----
is "$(ping_fails 3 198.51.100.1)" "no route" "node3 cannot reach the internet address without an exit node (no route)"
out=$(cli 3 up --exit-node=node1 2>&1)
like "$out" 'node1 is not an exit node' "--exit-node=node1 (not approved as one) is refused"
w nodes approve-routes node4 0.0.0.0/0 ::/0 >/dev/null; ok $? "approve node4's exit routes"
wait_for 5 sh -c "$WEFT status --socket $TMP/n3.sock | grep -q 'node4 offers 0.0.0.0/0, ::/0'"
cli 3 up --exit-node=node4 >/dev/null; ok $? "node3: up --exit-node=node4"
wait_for 5 sh -c "ip -n wn$$3 route show table 52 | grep -q '^default dev weft0'"
ok $? "node3: the default route through weft0 in table 52"
wait_for 5 in_ns 3 ping -c 1 -W 1 198.51.100.1 >/dev/null; ok $? "node3 pings the internet address through node4"
is "$(seen_from 3 198.51.100.1)" 198.51.100.2 "TCP: the internet host sees node4's address (masquerade)"
like "$(cli 3 status)" '# exit node: node4' "weft status: the exit node in use"
in_ns 3 ping -c 1 -W 1 10.77.0.1 >/dev/null; ok $? "node3 still reaches the control server directly"
like "$(cli 3 status)" 'login server .* \(connected\), home relay 999 \(connected\)' "and stays connected to control and the relay"
in_ns 3 ping -c 1 -W 1 192.168.50.10 >/dev/null; ok $? "the LAN behind node1 still comes through node1 (the longer prefix)"
is "$(ping_fails 3 10.77.3.1)" "no reply" "node3's own LAN (10.77.3.0/24) goes to the exit node too (which cannot reach it)"
cli 3 up --exit-node-allow-lan-access >/dev/null
wait_for 5 sh -c "ip -n wn$$3 route show table 52 | grep -q '^throw 10.77.3.0/24'"
ok $? "--exit-node-allow-lan-access: a throw route for node3's LAN"
in_ns 3 ping -c 1 -W 1 10.77.3.1 >/dev/null; ok $? "node3 reaches its own LAN directly"
cli 3 up --exit-node=100.64.0.4 >/dev/null; ok $? "--exit-node by tailnet address"
in_ns 3 ping -c 1 -W 1 198.51.100.1 >/dev/null; ok $? "the internet address still through node4"
cli 3 up --exit-node= >/dev/null; ok $? "--exit-node= stops using it"
wait_for 5 sh -c "! ip -n wn$$3 route show table 52 | grep -q '^default'"
ok $? "the default route is gone from table 52"
is "$(ping_fails 3 198.51.100.1)" "no route" "the internet address is unreachable again (no route)"

# ---- a crashed user of routes is cleaned at its next start ----
cli 3 up --exit-node=node4 >/dev/null
wait_for 5 sh -c "ip -n wn$$3 route show table 52 | grep -q '^default'"
kill -9 "$(weft_pid n3)"
like "$(rules 3)" '5270:' "node3 killed: its rule is left behind"
start_node 3
wait_for 5 grep -q 'event=stale_routes_removed routes=[1-9][0-9]* rules=[12]' n3.log
ok $? "node3 restarted: the stale routes and rules are removed first"
wait_for 10 sh -c "ip -n wn$$3 route show table 52 | grep -q '^default'"
ok $? "and its routes are back"

# ---- down and exit leave nothing behind ----
cli 3 down; ok $? "node3: weft down"
is "$(t52 3)" "" "node3: table 52 is empty"
unlike "$(rules 3)" '5270:' "node3: no rule of weft's"
is "$(in_ns 3 nft list table inet other | grep -c 'chain c')" 1 "node3: the other table is still there"
stop_weft n1 TERM
is "$WEFT_RC" 0 "node1 stops cleanly (SIGTERM)"
is "$(weft_table 1)" "" "node1's nft table is gone at exit"
is "$(fwd 1)" "$fwd1_before" "node1 exited: forwarding as it was before"
is "$(in_ns 1 nft list table inet other | grep -v packets)" "$other1" "node1: the other table is as it was"
stop_weft n4 TERM
is "$(weft_table 4)" "" "node4 (exit node): nft table gone at exit"
unlike "$(cat n1.log n3.log n4.log)" 'level=error' "no errors logged"
done_testing
