#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The packet filter, end to end (root, namespaces; DERP-only topology of t/node.t): control sends every
# node a hand-written filter (control.packet_filter_file): node1 (100.64.0.1) is open to everyone, node2
# (100.64.0.2) takes TCP port 8000 and nothing else.
#   - TCP to port 8000 passes, to port 8001 does not (counted per peer, logged);
#   - ICMP echo passes (a rule lets the source reach the address), as Tailscale reads rules;
#   - replies to the node's own connections pass: TCP (not a SYN) and UDP (connection tracking),
#     while the same UDP port is closed to a peer that did not hear from it first.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_netns
need_cmd ip ping python3
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
node_topology 2 || skip_all "cannot create network namespaces and veth pairs"

cat >"$TMP/filter.json" <<'JSON'
[{"SrcIPs":["*"],"DstPorts":[{"IP":"100.64.0.1","Ports":{"First":0,"Last":65535}}]},
 {"SrcIPs":["*"],"DstPorts":[{"IP":"100.64.0.2","Ports":{"First":8000,"Last":8000}}],"IPProto":[6]}]
JSON
srvargs+=(-o control.packet_filter_file="$TMP/filter.json")
start_srv; ok $? "control runs with a hand-written packet filter"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
for i in 1 2; do
    start_node "$i" -o node.log_filter_drops=true
    cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" >/dev/null 2>&1
    ok $? "node$i is up"
done
v4_1=$(cli 1 ip -4); v4_2=$(cli 2 ip -4)
wait_for 10 sees 1 2 online
is "$v4_1 $v4_2" "100.64.0.1 100.64.0.2" "the nodes have the addresses the filter names"
like "$(cli 2 status --json)" '"Rules": ?2,' "node2 compiled the filter control sent"

# a tiny TCP/UDP toolbox (one python per call: slow to start, so few calls)
cat >"$TMP/net.py" <<'PY'
import socket, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
if mode == "tcp-serve":          # accept connections, answer "hi"
    s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(8); open(sys.argv[4], "w").close()
    while True:
        c, _ = s.accept(); c.sendall(b"hi"); c.close()
elif mode == "udp-echo":         # echo datagrams
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((host, port)); open(sys.argv[4], "w").close()
    while True:
        d, a = s.recvfrom(2048); s.sendto(d, a)
elif mode == "tcp-get":          # exit 0 if the server said hi within 3 s
    s = socket.create_connection((host, port), timeout=3); sys.exit(0 if s.recv(2) == b"hi" else 1)
elif mode == "udp-ask":          # exit 0 if an echo came back within 3 s (from port 9999 of ours)
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind(("", int(sys.argv[4]) if len(sys.argv) > 4 else 0))
    s.settimeout(3); s.sendto(b"ping", (host, port))
    try: sys.exit(0 if s.recvfrom(2048)[0] == b"ping" else 1)
    except socket.timeout: sys.exit(1)
PY
ip netns exec "wn${$}2" python3 "$TMP/net.py" tcp-serve 0.0.0.0 8000 "$TMP/s8000" >/dev/null 2>&1 & on_exit "kill $! 2>/dev/null"
ip netns exec "wn${$}2" python3 "$TMP/net.py" tcp-serve 0.0.0.0 8001 "$TMP/s8001" >/dev/null 2>&1 & on_exit "kill $! 2>/dev/null"
ip netns exec "wn${$}1" python3 "$TMP/net.py" udp-echo 0.0.0.0 9999 "$TMP/u9999" >/dev/null 2>&1 & on_exit "kill $! 2>/dev/null"
ip netns exec "wn${$}2" python3 "$TMP/net.py" udp-echo 0.0.0.0 9999 "$TMP/u2_9999" >/dev/null 2>&1 & on_exit "kill $! 2>/dev/null"
ip netns exec "wn${$}1" python3 "$TMP/net.py" tcp-serve 0.0.0.0 8000 "$TMP/s1_8000" >/dev/null 2>&1 & on_exit "kill $! 2>/dev/null"
wait_for 30 test -e "$TMP/s8000" -a -e "$TMP/s8001" -a -e "$TMP/u9999" -a -e "$TMP/s1_8000" -a -e "$TMP/u2_9999"
ok $? "the test's TCP and UDP servers listen in the node namespaces"

in_ns 1 python3 "$TMP/net.py" tcp-get "$v4_2" 8000; ok $? "allowed: node1 -> node2 TCP port 8000"
drops0=$(peer_field 2 1 FilterDrops)
in_ns 1 python3 "$TMP/net.py" tcp-get "$v4_2" 8001
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "denied: node1 -> node2 TCP port 8001"
drops1=$(peer_field 2 1 FilterDrops)
ok "$([ "${drops1:-0}" -gt "${drops0:-0}" ] && echo 0 || echo 1)" \
    "node2 counts the drops against node1 in status --json ($drops0 -> $drops1)"
wait_for 5 grep -q 'event=filter_drop peer=1 .*dport=8001 reason=no-rule' "$TMP/n2.log"
ok $? "and logs them (node.log_filter_drops)"
in_ns 1 ping -c 1 -W 3 "$v4_2" >/dev/null; ok $? "ICMP echo passes (a rule lets node1 reach node2's address)"
in_ns 2 python3 "$TMP/net.py" tcp-get "$v4_1" 8000; ok $? "TCP: node2's connection to node1 gets its replies"
in_ns 2 python3 "$TMP/net.py" udp-ask "$v4_1" 9999; ok $? "UDP: node1's echo reaches node2 (a reply to node2's flow)"
in_ns 1 python3 "$TMP/net.py" udp-ask "$v4_2" 9999
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "UDP: node1 -> node2 port 9999, not a reply, is dropped"
like "$(cli 2 status --json)" '"Replies": ?[1-9]' "node2's filter counted the tracked UDP reply"

for n in n1 n2; do
    stop_weft "$n" TERM
    is "$WEFT_RC" 0 "$n exits 0 on SIGTERM"
done
unlike "$(cat "$TMP"/n?.log)" 'level=error' "no errors logged by the nodes"
done_testing
