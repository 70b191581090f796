#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A region of three relays meshed with a shared key: clients on different relays reach each other through
# ForwardPacket, PeerGone crosses the mesh, and the mesh recovers after one relay restarts.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"

P1=$(free_port); P2=$(free_port); P3=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
while [ "$P3" = "$P1" ] || [ "$P3" = "$P2" ]; do P3=$(free_port); done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/mesh.key"; echo >>"$TMP/mesh.key"
# one list for the whole region: each relay skips itself
MESH="http://127.0.0.1:$P1/derp,http://127.0.0.1:$P2/derp,http://127.0.0.1:$P3/derp"
for i in 1 2 3; do
    eval "p=\$P$i"
    start_relay "s$i" "$p" -o derp.mesh_key="$TMP/mesh.key" -o derp.mesh_with="$MESH"; ok $? "relay $i starts"
done
for i in 1 2 3; do
    eval "p=\$P$i"
    wait_for 10 metric_is "$p" derp_mesh_peers_up 2; ok $? "relay $i has its two mesh links up"
done
for i in 1 2 3; do
    eval "p=\$P$i"
    is "$(metric "$p" 'derp_connections{kind="mesh"}')" 2 "relay $i has the two others connected as mesh peers"
done
like "$(cat "$TMP/s1.log")" "event=mesh_self" "a relay finds itself in mesh_with and skips it"

A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
C=$("$DERPC" --key-file "$TMP/c.key" --pubkey)
U1=http://127.0.0.1:$P1/derp U2=http://127.0.0.1:$P2/derp U3=http://127.0.0.1:$P3/derp

derpc_bg b --key-file "$TMP/b.key" --expect 50 --from "$A" --timeout 20 "$U2"
derpc_bg c --key-file "$TMP/c.key" --expect 50 --from "$A" --timeout 20 "$U3"
wait_for 5 out_has b connected && wait_for 5 out_has c connected; ok $? "B on relay 2 and C on relay 3 connect"
wait_for 5 metric_ge "$P1" derp_known_keys 2; ok $? "relay 1 learns them through WatchConns/PeerPresent"
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 50 --size 1000 --timeout 10 "$U1" >/dev/null 2>&1
ok $? "A on relay 1 sends 50 packets to B"
"$DERPC" --key-file "$TMP/a.key" --send-to "$C" --count 50 --size 1000 --timeout 10 "$U1" >/dev/null 2>&1
ok $? "and 50 to C"
derpc_wait b; ok $? "B (relay 2) receives A's 50 packets through the mesh, each once, in order"
derpc_wait c; ok $? "C (relay 3) too"
like "$(metric "$P1" derp_packets_forwarded_total)" '^(100|[1-9][0-9][0-9])$' "relay 1 forwarded them"

# PeerGone across the mesh: A on relay 1 talks to B on relay 2, then leaves
# (A keeps sending for a while: the relays learn of B and of A through the mesh at their own pace)
derpc_bg pg --key-file "$TMP/b.key" --exit-on peer_gone --timeout 15 "$U2"
wait_for 5 out_has pg connected
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 20 --interval 100 --timeout 10 "$U1" >/dev/null 2>&1
derpc_wait pg; ok $? "B hears PeerGone(A) when A leaves the region"

# relay 2 restarts (same state dir, same key): the mesh comes back and delivers again
stop_weft s2 TERM; is "$WEFT_RC" 0 "relay 2 stops"
wait_for 10 metric_is "$P1" derp_mesh_peers_up 1; ok $? "relay 1 sees its link to relay 2 go down"
start_weft s2 serve derp -o state_dir="$TMP/s2" -o derp.listen=127.0.0.1:"$P2" -o derp.stun_listen= \
    -o derp.mesh_key="$TMP/mesh.key" -o derp.mesh_with="$MESH" \
    -o metrics_listen=127.0.0.1:"$(cat "$TMP/metrics-port-$P2")"
wait_for 10 grep -q 'event=started' "$TMP/s2.log"; ok $? "relay 2 starts again"
for i in 1 2 3; do
    eval "p=\$P$i"
    wait_for 15 metric_is "$p" derp_mesh_peers_up 2; ok $? "relay $i has its two mesh links up again"
done
# (the relays' keys count too: what they know before B comes, plus B)
k1=$(metric "$P1" derp_known_keys) k3=$(metric "$P3" derp_known_keys)
derpc_bg b2 --key-file "$TMP/b.key" --expect 80 --from "$A" --from "$C" --timeout 20 "$U2"
wait_for 5 out_has b2 connected
wait_for 10 metric_is "$P1" derp_known_keys $((k1 + 1)) && wait_for 10 metric_is "$P3" derp_known_keys $((k3 + 1))
ok $? "relays 1 and 3 learn of B on relay 2 again" ||
    diag "known keys: $(metric "$P1" derp_known_keys) $(metric "$P3" derp_known_keys), were $k1 $k3"
derpc_bg sa --key-file "$TMP/a.key" --send-to "$B" --count 40 --timeout 10 "$U3"
derpc_bg sc --key-file "$TMP/c.key" --send-to "$B" --count 40 --timeout 10 "$U1"
derpc_wait b2; ok $? "after the restart both routes work: B gets all 40 from A (relay 3) and all 40 from C (relay 1)" ||
    diag "$(cat "$TMP/b2.out")"
derpc_wait sa; derpc_wait sc

# A mesh link that breaks without a goodbye (relay 2 killed, so no PeerGone comes over the watch): B on
# relay 2 was sending to A on relay 1 through it, so relay 1 tells A that B is gone from the region.
derpc_bg pg2 --key-file "$TMP/a.key" --events --exit-on peer_gone --timeout 20 "$U1"
wait_for 5 out_has pg2 connected
derpc_bg sb --key-file "$TMP/b.key" --send-to "$A" --count 150 --interval 100 --timeout 20 "$U2"
wait_for 10 out_has pg2 "packet $B"; ok $? "A on relay 1 gets B's packets from relay 2"
stop_weft s2 KILL
derpc_wait pg2; ok $? "A hears PeerGone when the link to relay 2 drops"
like "$(cat "$TMP/pg2.out")" "peer_gone $B 0" "PeerGone(B, disconnected)"
derpc_wait sb

for i in 1 3; do stop_weft "s$i" TERM; done
clean_logs s1 s2 s3
done_testing
