#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The node tests' topology (sourced by t/node.t and bench/node.sh after t/lib.sh; needs root): a server
# namespace $S with 10.77.0.1 on its loopback, and node namespaces wn$$I, each joined to the server by
# its own veth (10.77.I.2 <-> 10.77.I.1) with a route to 10.77.0.1 only. The server does not forward, so
# nodes reach the server and never each other: every packet between nodes goes through the DERP relay.
export WEFT_CONFIG=/nonexistent/weft.yaml
S=wn$$s
SRV=10.77.0.1
url=http://$SRV:8080

# node_topology N: the server namespace and N node namespaces. Non-zero if they cannot be made.
node_topology() {
    netns_add "$S" || return 1
    ip -n "$S" addr add "$SRV/32" dev lo
    local i
    for i in $(seq 1 "$1"); do
        local ns=wn$$$i
        netns_add "$ns" || return 1
        ip link add "wv$$$i" type veth peer name "wp$$$i" || return 1
        ip link set "wv$$$i" netns "$S"
        ip link set "wp$$$i" netns "$ns"
        ip -n "$S" addr add "10.77.$i.1/24" dev "wv$$$i"
        ip -n "$S" link set "wv$$$i" up
        ip -n "$ns" addr add "10.77.$i.2/24" dev "wp$$$i"
        ip -n "$ns" link set "wp$$$i" up
        ip -n "$ns" route add "$SRV/32" via "10.77.$i.1"
    done
}

srvargs=(-o state_dir=$TMP/srv -o control.listen=0.0.0.0:8080 -o derp.listen=0.0.0.0:8080
         -o derp.stun_listen=0.0.0.0:3478 -o control.server_url=$url)
start_srv() {
    start_weft srv --ns "$S" serve control derp "${srvargs[@]}"
    wait_for 10 grep -q 'event=started' "$TMP/srv.log"
}
w() { "$WEFT" "$@" "${srvargs[@]}"; }
# start_node I [ARGS...]: `weft serve node` in namespace I (state $TMP/nI, socket $TMP/nI.sock). MagicDNS
# sets up a resolv.conf of the node's own ($TMP/nI.resolv.conf): `ip netns exec` shares the host's /etc.
start_node() {
    local i=$1; shift
    [ -e "$TMP/n$i.resolv.conf" ] || printf 'nameserver 192.0.2.53\n' >"$TMP/n$i.resolv.conf"
    start_weft "n$i" --ns "wn$$$i" serve node -o state_dir="$TMP/n$i" -o node.socket="$TMP/n$i.sock" \
        -o node.resolv_conf="$TMP/n$i.resolv.conf" ${WEFT_NODE_DEBUG:+--log-level debug} "$@"
    wait_for 10 test -S "$TMP/n$i.sock"
}
cli() { local i=$1 v=$2; shift 2; "$WEFT" "$v" --socket "$TMP/n$i.sock" "$@"; }
in_ns() { local i=$1; shift; ip netns exec "wn$$$i" "$@"; }
sees() { cli "$1" status | grep -Eq "^[^ ]+ +node$2 .*$3"; } # sees I J STATE: node I lists node J so
has() { cli "$1" status | grep -Eq -- "$2"; }                   # has I REGEX: node I's status matches
# json_get PATH: a value of the JSON document on stdin ("end.sum_sent.bytes")
json_get() { python3 -c 'import json,sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$1" 2>/dev/null; }

# ---- NAT topologies (t/node_nat.t, bench/node.sh): the server namespace is "the internet" ----
# nat_internet: $S forwards; 10.77.0.2 on its loopback is a second STUN address (netcheck needs two
# destinations to see a NAT that maps per destination).
nat_internet() {
    ip -n "$S" addr add 10.77.0.2/32 dev lo
    ip netns exec "$S" sysctl -qw net.ipv4.ip_forward=1
}
# router_add I KIND: router namespace wr$$I with WAN 10.78.I.2 (gateway 10.78.I.1 in $S) and a LAN bridge
# 192.168.I.1/24. KIND: eim (MASQUERADE: the port kept, one mapping for every destination - an
# "easy" NAT) or hard (a random port per destination - mapping varies by destination). Unsolicited
# packets to the router itself are dropped, as home routers do: dropped before conntrack confirms them,
# they leave no entry behind that would take the port a later outbound mapping wants to keep.
router_add() {
    local i=$1 kind=$2 r=wr$$$1
    netns_add "$r" || return 1
    ip link add "wrw$$$i" type veth peer name "wrr$$$i" || return 1
    ip link set "wrw$$$i" netns "$S"
    ip link set "wrr$$$i" netns "$r"
    ip -n "$S" addr add "10.78.$i.1/24" dev "wrw$$$i"
    ip -n "$S" link set "wrw$$$i" up
    ip -n "$r" addr add "10.78.$i.2/24" dev "wrr$$$i"
    ip -n "$r" link set "wrr$$$i" up
    ip -n "$r" route add default via "10.78.$i.1"
    ip -n "$r" link add br0 type bridge
    ip -n "$r" addr add "192.168.$i.1/24" dev br0
    ip -n "$r" link set br0 up
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
    local how="masquerade"
    [ "$kind" = hard ] && how="masquerade random,fully-random"
    ip netns exec "$r" nft -f - <<NFT || return 1
table ip nat {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname "wrr$$$i" $how
    }
}
table ip fw {
    chain in {
        type filter hook input priority filter;
        iifname "wrr$$$i" ct state new drop
    }
}
NFT
}
# node_behind N I: node namespace wn$$N on router I's LAN as 192.168.I.(10+N), default route via the router.
node_behind() {
    local n=$1 i=$2 ns=wn$$$1
    netns_add "$ns" || return 1
    ip link add "wv$$$n" type veth peer name "wp$$$n" || return 1
    ip link set "wv$$$n" netns "wr$$$i"
    ip link set "wp$$$n" netns "$ns"
    ip -n "wr$$$i" link set "wv$$$n" master br0
    ip -n "wr$$$i" link set "wv$$$n" up
    ip -n "$ns" addr add "192.168.$i.$((10 + n))/24" dev "wp$$$n"
    ip -n "$ns" link set "wp$$$n" up
    ip -n "$ns" route add default via "192.168.$i.1"
}
# node_open N: node namespace wn$$N on the internet itself (10.79.N.2, no NAT, no firewall).
node_open() {
    local n=$1 ns=wn$$$1
    netns_add "$ns" || return 1
    ip link add "wv$$$n" type veth peer name "wp$$$n" || return 1
    ip link set "wv$$$n" netns "$S"
    ip link set "wp$$$n" netns "$ns"
    ip -n "$S" addr add "10.79.$n.1/24" dev "wv$$$n"
    ip -n "$S" link set "wv$$$n" up
    ip -n "$ns" addr add "10.79.$n.2/24" dev "wp$$$n"
    ip -n "$ns" link set "wp$$$n" up
    ip -n "$ns" route add default via "10.79.$n.1"
}
# derp_map_file FILE: region 999 = the relay (and STUN) at 10.77.0.1, plus a STUN-only node at 10.77.0.2
derp_map_file() {
    cat >"$1" <<JSON
{"Regions":{"999":{"RegionID":999,"RegionCode":"weft","RegionName":"weft test relay","Nodes":[
 {"Name":"999a","RegionID":999,"HostName":"10.77.0.1","IPv4":"10.77.0.1","DERPPort":8080,"STUNPort":3478},
 {"Name":"999b","RegionID":999,"HostName":"10.77.0.2","IPv4":"10.77.0.2","STUNPort":3478,"STUNOnly":true}]}}}
JSON
}
# peer_path I J: how node I reaches node J, from `weft status`: "direct ADDR" or "relay"
peer_path() {
    cli "$1" status | awk -v n="node$2" '$2 == n { if ($5 == "direct") { sub(/,$/, "", $6); print "direct " $6 } else print "relay" }'
}
direct() { peer_path "$1" "$2" | grep -q "^direct ${3:-}"; }   # direct I J [ADDR-PREFIX]
relay() { peer_path "$1" "$2" | grep -q "^relay"; }
# netcheck_field I NAME: a line of node I's `weft netcheck` ("UDP", "IPv4", "MappingVariesByDestIP", ...)
netcheck_field() { cli "$1" netcheck | sed -n "s/^.*\* $2: //p"; }
# peer_field I J FIELD: a field of node J's entry in node I's `weft status --json` (a number or a string)
peer_field() {
    cli "$1" status --json | awk -v n="\"node$2\"" -v f="\"$3\":" '
        index($0, "\"HostName\":") && index($0, n) { on = 1 }
        on && index($0, f) { sub(/^[^:]*: */, ""); sub(/,$/, ""); gsub(/"/, ""); print; exit }'
}
