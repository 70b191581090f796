#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# UPnP IGD port mapping against a real miniupnpd (Debian's miniupnpd-nftables) in a router namespace, as
# root. The server namespace is "the internet" (control + DERP + STUN at 10.77.0.1, as t/node_nat.t).
# miniupnpd refuses a WAN address that is private or reserved (it would map nothing reachable), so the
# UPnP routers' WAN sides use 80.80.I.0/24: a public-looking prefix that exists only inside these
# namespaces (the server namespace routes it; nothing leaves them).
#   - router 1: a hard NAT (a random port per destination) whose miniupnpd speaks UPnP only. node1 behind
#     it, on a random local port P: it finds the IGD, maps 80.80.1.2:P to itself, the mapping is in
#     miniupnpd (upnpc -l) and in its nftables DNAT chain, node1 offers 80.80.1.2:P as an endpoint and
#     control hands it to its peers; netcheck shows UPnP;
#   - node3 behind another hard NAT (no UPnP): hard <-> hard stays on DERP in t/node_nat.t; with node1's
#     mapping the path is direct, to 80.80.1.2:P;
#   - `weft down` deletes the mapping; up again, it comes back; the daemon's exit deletes it too;
#   - router 2's miniupnpd speaks UPnP, NAT-PMP and PCP: node2 maps over PCP or NAT-PMP, not UPnP.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_netns
need_cmd ip nft
command -v miniupnpd >/dev/null 2>&1 || [ -x /usr/sbin/miniupnpd ] ||
    skip_all "needs miniupnpd (Debian package miniupnpd-nftables)"
command -v upnpc >/dev/null 2>&1 || skip_all "needs upnpc (Debian package miniupnpc)"
MINIUPNPD=$(command -v miniupnpd || echo /usr/sbin/miniupnpd)
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
netns_add "$S" || skip_all "cannot create network namespaces"
ip -n "$S" addr add "$SRV/32" dev lo
nat_internet

# upnp_router I KIND NATPMP: router namespace wr$$I, WAN 80.80.I.2 (gateway 80.80.I.1 in $S), LAN bridge
# 192.168.I.1/24, NAT as router_add's KIND, and miniupnpd on the LAN (NATPMP: yes/no for NAT-PMP + PCP)
upnp_router() {
    local i=$1 kind=$2 pmp=$3 r=wr$$$1
    netns_add "$r" || return 1
    ip link add "wrw$$$i" type veth peer name "wrr$$$i" || return 1
    ip link set "wrw$$$i" netns "$S"
    ip link set "wrr$$$i" netns "$r"
    ip -n "$S" addr add "80.80.$i.1/24" dev "wrw$$$i"
    ip -n "$S" link set "wrw$$$i" up
    ip -n "$r" addr add "80.80.$i.2/24" dev "wrr$$$i"
    ip -n "$r" link set "wrr$$$i" up
    ip -n "$r" link set lo up
    ip -n "$r" route add default via "80.80.$i.1"
    ip -n "$r" link add br0 type bridge
    ip -n "$r" addr add "192.168.$i.1/24" dev br0
    ip -n "$r" link set br0 up
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
    local how="masquerade"
    [ "$kind" = hard ] && how="masquerade random,fully-random"
    # miniupnpd's chains (its nftables backend adds rules to them, never makes them)
    ip netns exec "$r" nft -f - <<NFT || return 1
table ip nat {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname "wrr$$$i" $how
    }
}
table inet filter {
    chain forward {
        type filter hook forward priority 0; policy accept;
        jump miniupnpd
    }
    chain miniupnpd {
    }
    chain prerouting {
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting_miniupnpd {
    }
}
NFT
    cat >"$TMP/upnp$i.conf" <<CONF
ext_ifname=wrr$$$i
listening_ip=br0
http_port=0
enable_upnp=yes
enable_natpmp=$pmp
secure_mode=yes
system_uptime=yes
uuid=3d3cec3a-8cf0-11e0-98ee-00000000000$i
upnp_table_name=filter
upnp_nat_table_name=filter
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 192.168.$i.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
    ip netns exec "$r" "$MINIUPNPD" -f "$TMP/upnp$i.conf" -P "$TMP/upnp$i.pid" -d >"$TMP/upnp$i.log" 2>&1 &
    echo $! >"$TMP/upnpd$i.pid"
    on_exit "kill $! 2>/dev/null"
    wait_for 10 grep -q 'HTTP listening on port' "$TMP/upnp$i.log"
}
upnp_router 1 hard no || skip_all "cannot start miniupnpd in a router namespace ($(tail -3 "$TMP/upnp1.log" 2>/dev/null | tr '\n' ' '))"
ok 0 "miniupnpd (UPnP only) runs on router 1, a hard NAT with WAN 80.80.1.2"
upnp_router 2 eim yes; ok $? "miniupnpd (UPnP, NAT-PMP, PCP) runs on router 2, WAN 80.80.2.2"
router_add 3 hard || skip_all "cannot build routers (nftables NAT)"
node_behind 1 1 && node_behind 2 2 && node_behind 3 3 || skip_all "cannot create the node namespaces"

derp_map_file "$TMP/derpmap.json"
srvargs=(-o state_dir=$TMP/srv -o control.listen=0.0.0.0:8080 -o derp.listen=0.0.0.0:8080
         -o derp.stun_listen=10.77.0.1:3478 -o control.server_url=$url -o control.derp_map_file=$TMP/derpmap.json)
start_srv; ok $? "the internet namespace runs control, DERP and STUN at 10.77.0.1"
start_weft stun2 --ns "$S" serve derp -o state_dir="$TMP/stun2" -o derp.listen=10.77.0.2:8081 \
    -o derp.stun_listen=10.77.0.2:3478
wait_for 10 grep -q 'event=started' "$TMP/stun2.log"
in_ns 1 ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; ok $? "node1 reaches the internet through router 1"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
up_node() { # up_node I [ARGS]: start node I and log it in
    local i=$1; shift
    start_node "$i" "$@"
    cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" >/dev/null 2>&1
}
# upnp_list I: the port mappings miniupnpd holds, as seen from node I's LAN ("UDP EXT->IP:INT 'DESC' ...")
upnp_list() { in_ns "$1" upnpc -l 2>/dev/null | grep -E '^ *[0-9]+ (UDP|TCP) '; }

# ---- node1: UPnP only ----
up_node 1 -o node.port=0; ok $? "node1 (behind router 1, random local port) is up"
wait_for 30 grep -q 'event=portmap protocol=upnp external=80\.80\.1\.2:' "$TMP/n1.log"
ok $? "node1 maps a port over UPnP at 80.80.1.2"
ext=$(sed -n 's/.*event=portmap protocol=upnp external=\(80\.80\.1\.2:[0-9]*\).*/\1/p' "$TMP/n1.log" | head -1)
[ -n "$ext" ] || ext=none # a mapping not seen fails the checks that follow, not matches them all
port=${ext##*:}
diag "node1's mapping: $ext"
like "$(upnp_list 1)" "UDP +$port->192\.168\.1\.11:$port +'weft'" "miniupnpd holds the mapping UDP $port -> 192.168.1.11:$port (upnpc -l)"
like "$(ip netns exec "wr$$1" nft list chain inet filter prerouting_miniupnpd)" \
    "dport $port dnat ip to 192\.168\.1\.11:$port" "and its DNAT rule is in the router's nftables"
has_ep() { [ "$2" != none ] && cli "$1" status --json | grep -q "\"$2\""; } # has_ep I ADDR: node I's status --json lists ADDR
wait_for 30 has_ep 1 "$ext"; ok $? "node1 offers $ext as an endpoint"
wait_for 20 sh -c "$WEFT netcheck --socket $TMP/n1.sock | grep -q 'PortMapping: UPnP'"
ok $? "netcheck on node1: PortMapping: UPnP"
like "$(cli 1 netcheck)" '\* MappingVariesByDestIP: true' "netcheck on node1: router 1 maps per destination (hard NAT)"

# ---- node3 behind a hard NAT without UPnP: direct to node1 through the mapping ----
up_node 3; ok $? "node3 (behind hard NAT 3, no UPnP) is up"
wait_for 30 has_ep 3 "$ext"; ok $? "control gave node3 node1's mapped endpoint"
wait_for 10 sees 3 1 online
in_ns 3 ping -c 1 -W 2 "$(cli 1 ip -4)" >/dev/null 2>&1
wait_for 30 direct 3 1 "$ext"; ok $? "hard NAT <-> hard NAT with UPnP on one side: node3 goes direct to $ext ($(peer_path 3 1))"
wait_for 10 direct 1 3 10.78.3.2:; ok $? "and node1 goes direct back to node3's NAT ($(peer_path 1 3))"
in_ns 3 ping -c 3 -W 2 "$(cli 1 ip -4)" >/dev/null 2>&1; ok $? "traffic flows on it"

# ---- down deletes the mapping; up maps again; exit deletes it ----
cli 1 down >/dev/null 2>&1; ok $? "weft down on node1"
gone() { ! upnp_list 1 | grep -q "'weft'"; }
wait_for 10 gone; ok $? "weft down deleted the mapping from miniupnpd"
like "$(cat "$TMP/n1.log")" 'protocol=upnp msg="mapping deleted"' "node1 logged the deletion"
cli 1 up --login-server "$url" --authkey "$key" --hostname node1 >/dev/null 2>&1; ok $? "weft up again"
wait_for 30 sh -c "upnpc_l() { ip netns exec wn$$1 upnpc -l 2>/dev/null; }; upnpc_l | grep -q \"'weft'\""
ok $? "the mapping is back"
stop_weft n1 TERM
is "$WEFT_RC" 0 "node1 exits 0 on SIGTERM"
wait_for 10 gone; ok $? "its exit deleted the mapping"
unlike "$(ip netns exec "wr$$1" nft list chain inet filter prerouting_miniupnpd)" "dnat" \
    "and the router's DNAT chain is empty"

# ---- node2: the gateway speaks NAT-PMP/PCP too: those win ----
up_node 2; ok $? "node2 (behind router 2: UPnP, NAT-PMP and PCP) is up"
wait_for 30 grep -Eq 'event=portmap protocol=(pcp|nat-pmp) external=80\.80\.2\.2:' "$TMP/n2.log"
ok $? "node2 maps over PCP or NAT-PMP ($(grep -o 'event=portmap protocol=[a-z-]*' "$TMP/n2.log" | head -1))"
sleep 3 # time for a UPnP mapping, were one (wrongly) asked for
unlike "$(cat "$TMP/n2.log")" 'protocol=upnp external=' "node2 asks no UPnP mapping when NAT-PMP/PCP answer"
wait_for 20 sh -c "$WEFT netcheck --socket $TMP/n2.sock | grep -Eq 'PortMapping: .*UPnP.*(NAT-PMP|PCP)'"
ok $? "netcheck on node2 shows UPnP and NAT-PMP/PCP ($(netcheck_field 2 PortMapping))"

for n in n2 n3; do
    stop_weft "$n" TERM
    is "$WEFT_RC" 0 "$n exits 0 on SIGTERM"
done
unlike "$(cat "$TMP"/n?.log)" 'level=error' "no errors logged by the nodes"
[ -n "${WEFT_KEEP_LOGS:-}" ] && cp "$TMP"/*.log "$WEFT_KEEP_LOGS"/ # debugging: keep the logs
done_testing
