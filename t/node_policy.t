#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The access policy enforced, end to end (root, namespaces; the DERP-only topology of t/node.t): control
# runs with a policy file, three weft nodes (alice's node1, bob's node2, carol's node3) get their packet
# filters and peers from it, and their packet filters decide what passes:
#   - alice may reach bob on TCP 8000 only: 8000 passes, 8001 is dropped by node2, and nothing may reach
#     alice (bob's connection to her is dropped by node1); carol sees nobody and reaches nobody;
#   - the file is replaced by a policy that opens bob's 8001 to alice, alice's 8000 to bob and bob's 8000
#     to carol: the same connections now go the other way, and carol learns of bob (PeersChanged).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_root
need_cmd ip python3
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
node_topology 3 || skip_all "cannot create network namespaces and veth pairs"

cat >"$TMP/policy.hujson" <<'EOF'
{
    // alice may reach bob's port 8000 over TCP; nothing else is allowed
    "acls": [
        {"action": "accept", "src": ["alice@"], "dst": ["bob@:8000"], "proto": "tcp"},
    ],
}
EOF
srvargs+=(-o control.policy.path="$TMP/policy.hujson")
start_srv; ok $? "control runs with a policy file"
like "$(cat "$TMP/srv.log")" "event=policy result=loaded source=$TMP/policy.hujson" "the policy is in force"
i=0
for u in alice bob carol; do
    i=$((i + 1))
    w users create $u >/dev/null
    key=$(w authkeys create --user $u | tail -1)
    start_node "$i" -o node.log_filter_drops=true
    cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" >/dev/null 2>&1
    ok $? "$u's node$i is up"
    wait_for 10 holds '[ "$(cli "$i" ip -4)" = "100.64.0.$i" ]'
done
v4_1=$(cli 1 ip -4); v4_2=$(cli 2 ip -4); v4_3=$(cli 3 ip -4)
is "$v4_1 $v4_2 $v4_3" "100.64.0.1 100.64.0.2 100.64.0.3" "the nodes have addresses in registration order"
wait_for 10 sees 1 2 online; ok $? "alice sees bob (she may reach him)"
wait_for 10 sees 2 1 online; ok $? "bob sees alice (she may reach him)"
ok "$(cli 3 status | grep -q 'node[12]' && echo 1 || echo 0)" "carol sees nobody"
ok "$(cli 1 status | grep -q 'node3' && echo 1 || echo 0)" "alice does not see carol"
like "$(cli 2 status --json)" '"Rules": ?1,' "bob's node compiled one rule (alice to port 8000)"
like "$(cli 1 status --json)" '"Rules": ?0,' "alice's node compiled none (nothing may reach her)"

cat >"$TMP/net.py" <<'PY'
import socket, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "tcp-serve":          # accept connections, answer "hi"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(8); open(sys.argv[4], "w").close()
    while True:
        c, _ = s.accept(); c.sendall(b"hi"); c.close()
elif mode == "tcp-get":          # exit 0 if the server said hi within 3 s
    s = socket.create_connection((host, port), timeout=3); sys.exit(0 if s.recv(2) == b"hi" else 1)
PY
for n in 1 2; do
    for p in 8000 8001; do
        in_ns $n python3 "$TMP/net.py" tcp-serve 0.0.0.0 $p "$TMP/s$n-$p" >/dev/null 2>&1 &
        on_exit "kill $! 2>/dev/null"
    done
done
wait_for 30 test -e "$TMP/s1-8000" -a -e "$TMP/s1-8001" -a -e "$TMP/s2-8000" -a -e "$TMP/s2-8001"
ok $? "the test's TCP servers listen in node1's and node2's namespaces"

get() { in_ns "$1" python3 "$TMP/net.py" tcp-get "$2" "$3" 2>/dev/null; }
refused() { ! get "$@"; }

get 1 "$v4_2" 8000; ok $? "allowed: alice -> bob TCP 8000"
drops0=$(peer_field 2 1 FilterDrops)
refused 1 "$v4_2" 8001; ok $? "denied: alice -> bob TCP 8001 (not in the policy)"
drops1=$(peer_field 2 1 FilterDrops)
ok "$([ "${drops1:-0}" -gt "${drops0:-0}" ] && echo 0 || echo 1)" \
    "bob's node dropped it: counted against alice ($drops0 -> $drops1)"
wait_for 5 grep -q 'event=filter_drop peer=1 .*dport=8001 reason=no-rule' "$TMP/n2.log"
ok $? "and logged it with the port"
refused 2 "$v4_1" 8000; ok $? "denied: bob -> alice TCP 8000 (one direction only)"
wait_for 5 grep -q 'event=filter_drop peer=2 .*dport=8000 reason=no-rule' "$TMP/n1.log"
ok $? "alice's node dropped it"
refused 3 "$v4_2" 8000; ok $? "denied: carol -> bob (carol has no peers)"

# the policy replaced (written beside and renamed over it, as editors do): the directions turn around
cat >"$TMP/policy.new" <<'EOF'
{
    "acls": [
        {"action": "accept", "src": ["alice@"], "dst": ["bob@:8001"], "proto": "tcp"},
        {"action": "accept", "src": ["bob@"],   "dst": ["alice@:8000"], "proto": "tcp"},
        {"action": "accept", "src": ["carol@"], "dst": ["bob@:8000"], "proto": "tcp"},
    ],
}
EOF
mv "$TMP/policy.new" "$TMP/policy.hujson"
loaded() { [ "$(grep -c "event=policy result=loaded source=$TMP/policy.hujson" "$TMP/srv.log")" -ge 2 ]; }
wait_for 20 loaded
ok $? "control loads the changed file"
wait_for 20 get 1 "$v4_2" 8001; ok $? "allowed now: alice -> bob TCP 8001"
refused 1 "$v4_2" 8000; ok $? "denied now: alice -> bob TCP 8000"
wait_for 20 get 2 "$v4_1" 8000; ok $? "allowed now: bob -> alice TCP 8000"
refused 2 "$v4_1" 8001; ok $? "still denied: bob -> alice TCP 8001"
wait_for 20 sees 3 2 online; ok $? "carol now sees bob (PeersChanged)"
wait_for 20 get 3 "$v4_2" 8000; ok $? "allowed now: carol -> bob TCP 8000"
ok "$(cli 3 status | grep -q 'node1' && echo 1 || echo 0)" "carol still does not see alice"
like "$(cli 1 status --json)" '"Rules": ?1,' "alice's node now compiled one rule (bob to port 8000)"

for n in n1 n2 n3; do
    stop_weft "$n" TERM
    is "$WEFT_RC" 0 "$n exits 0 on SIGTERM"
done
unlike "$(cat "$TMP"/n?.log)" 'level=error' "no errors logged by the nodes"
unlike "$(cat "$TMP/srv.log")" 'level=error' "no errors logged by control"
done_testing
