#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Mesh authentication: only a client whose ClientInfo carries the region's mesh key is a mesh peer. It may
# watch the connections (WatchConns), close a peer's connection (ClosePeer) and relay packets for others
# (ForwardPacket); a client with a wrong or no mesh key sending any of the three is dropped, as derper does
# ("insufficient permissions"), and nothing it asked for happens. A relay with a wrong key never becomes
# another's mesh peer.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/mesh.key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/wrong.key"
P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.mesh_key="$TMP/mesh.key"; ok $? "relay starts with a mesh key"
C=$("$DERPC" --key-file "$TMP/c.key" --pubkey)
D=$("$DERPC" --key-file "$TMP/d.key" --pubkey)
F=$("$DERPC" --key-file "$TMP/f.key" --pubkey) # a client of another relay, on whose behalf packets come

dropped_for_mesh() { grep -c 'reason="mesh-only frame' "$TMP/r.log"; }
dropped_at_least() { [ "$(dropped_for_mesh)" -ge "$1" ]; } # (wait_for runs it again each time)

# --- the right key: all three work ---
derpc_bg c --key-file "$TMP/c.key" --events --exit-on disconnected --timeout 30 "$U"
wait_for 5 out_has c connected; ok $? "C, a regular client, connects"
out=$("$DERPC" --mesh-key "$TMP/mesh.key" --watch --exit-on peer_present --timeout 5 "$U")
like "$out" "peer_present $C" "with the mesh key: WatchConns is answered with PeerPresent(C)"
derpc_bg d --key-file "$TMP/d.key" --expect 3 --from "$F" --timeout 15 "$U"
wait_for 5 out_has d connected
"$DERPC" --mesh-key "$TMP/mesh.key" --forward-from "$F" --send-to "$D" --count 3 --timeout 5 "$U" >/dev/null 2>&1
derpc_wait d; ok $? "ForwardPacket(F -> D) reaches D as a packet from F"
"$DERPC" --mesh-key "$TMP/mesh.key" --close-peer "$C" --hold 1 --timeout 5 "$U" >/dev/null 2>&1
derpc_wait c; ok $? "ClosePeer(C) closes C's connection"
is "$(dropped_for_mesh)" 0 "no mesh peer was dropped"

# --- a wrong key, then none: each of the three drops the sender, and nothing happens ---
derpc_bg c2 --key-file "$TMP/c.key" --events --exit-on disconnected --timeout 60 "$U"
wait_for 5 out_has c2 connected
n=0
for who in wrong none; do
    mk=()
    [ $who = wrong ] && mk=(--mesh-key "$TMP/wrong.key")
    out=$("$DERPC" "${mk[@]}" --watch --events --exit-on disconnected --timeout 5 "$U"); rc=$?
    n=$((n + 1))
    is "$rc" 0 "$who mesh key: WatchConns drops the client" || diag "$out"
    like "$out" "^disconnected" "(disconnected)"
    unlike "$out" "peer_present" "before any PeerPresent"
    wait_for 5 dropped_at_least $n; ok $? "(the relay says why)"

    derpc_bg d2 --key-file "$TMP/d.key" --expect 1 --events --timeout 3 "$U"
    wait_for 5 out_has d2 connected
    out=$("$DERPC" "${mk[@]}" --forward-from "$F" --send-to "$D" --count 3 --events --exit-on disconnected \
        --timeout 5 "$U"); rc=$?
    n=$((n + 1))
    is "$rc" 0 "$who mesh key: ForwardPacket drops the client"; like "$out" "^disconnected" "(disconnected)"
    derpc_wait d2; like "$(cat "$TMP/d2.out")" "^timeout sent=0 received=0" "and D receives nothing"
    wait_for 5 dropped_at_least $n; ok $? "(the relay says why)"

    out=$("$DERPC" "${mk[@]}" --close-peer "$C" --events --exit-on disconnected --timeout 5 "$U"); rc=$?
    n=$((n + 1))
    is "$rc" 0 "$who mesh key: ClosePeer drops the client"; like "$out" "^disconnected" "(disconnected)"
    wait_for 5 dropped_at_least $n; ok $? "(the relay says why)"
    kill -0 "$(cat "$TMP/c2.cpid")" && ! out_has c2 disconnected; ok $? "and C is still connected"
done
is "$(metric "$P" 'derp_clients_dropped_total{reason="not_mesh"}')" 6 "/metrics counts the six"
is "$(metric "$P" 'derp_packets_dropped_total{reason="not_mesh"}')" 2 "and the two ForwardPackets as dropped"

# --- a relay with the wrong key never becomes a mesh peer ---
P2=$(free_port)
while [ "$P2" = "$P" ]; do P2=$(free_port); done
start_relay r2 "$P2" -o derp.mesh_key="$TMP/wrong.key" -o derp.mesh_with="$U"; ok $? "a relay with a wrong key starts"
wait_for 10 dropped_at_least $((n + 1)); ok $? "its WatchConns is refused (it is dropped)"
is "$(metric "$P" 'derp_connections{kind="mesh"}')" 0 "it is not counted as a mesh peer"
is "$(metric "$P2" derp_mesh_peers_up)" 0 "and its mesh link is not up"
stop_weft r2 TERM
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"
clean_logs r r2
done_testing
