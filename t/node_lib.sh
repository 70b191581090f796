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
