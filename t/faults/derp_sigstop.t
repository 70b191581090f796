#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Fault: a DERP client stopped (SIGSTOP) while a peer sends to it, then continued (SIGCONT). A short stop is
# ridden out: the client carries on with the same connection. A stop longer than the relay's write timeout
# gets it dropped (as designed), and once continued it notices, reconnects and receives again. Throughout,
# the relay keeps running, the sender is never disconnected, and another pair relays every packet in order.
: "${WEFT_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}" "${WEFT_BUILDDIR:=$WEFT_SRCDIR}" "${WEFT:=$WEFT_BUILDDIR/weft}"
export WEFT_SRCDIR WEFT_BUILDDIR WEFT
. "$WEFT_SRCDIR/t/derp_lib.sh"

P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.write_timeout=2s; ok $? "relay starts (write timeout 2 s)"
A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
V=$("$DERPC" --key-file "$TMP/v.key" --pubkey)
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
C=$("$DERPC" --key-file "$TMP/c.key" --pubkey)

# V receives A's stream (losses allowed while it is stopped; never twice, never out of order), reconnecting
# when dropped; C must get all of B's packets
derpc_bg v --key-file "$TMP/v.key" --from "$A" --allow-loss --reconnect --expect 1000000000 --progress 100 \
    --timeout 60 "$U"
derpc_bg c --key-file "$TMP/c.key" --from "$B" --expect 4000 --timeout 60 "$U"
wait_for 5 out_has v connected && wait_for 5 out_has c connected; ok $? "V and C connect"
VPID=$(cat "$TMP/v.cpid")
on_exit "kill -CONT $VPID 2>/dev/null"
derpc_bg a --key-file "$TMP/a.key" --send-to "$V" --count 1000000 --size 1000 --interval 2 --timeout 60 "$U"
derpc_bg b --key-file "$TMP/b.key" --send-to "$C" --count 4000 --size 1000 --interval 3 --timeout 60 "$U"

# V's count of received packets, from its latest progress line
vgot() { sed -n 's/^progress received=\([0-9]*\).*/\1/p' "$TMP/v.out" | tail -1; }
vgot_over() { [ "$(vgot)" -gt "$1" ] 2>/dev/null; }
wait_for 10 vgot_over 100; ok $? "A's packets reach V"

# --- a short stop: V keeps its connection ---
kill -STOP "$VPID"
sleep 0.5
n=$(vgot)
kill -CONT "$VPID"
wait_for 10 vgot_over $((n + 100)); ok $? "after a 0.5 s stop V receives again"
unlike "$(cat "$TMP/v.out")" "^disconnected" "on the same connection (not dropped)"
unlike "$(cat "$TMP/r.log")" 'reason="write timeout"' "the relay did not drop it"

# --- a long stop: the relay drops V after its write timeout, V reconnects when continued ---
kill -STOP "$VPID"
wait_for 20 grep -q 'reason="write timeout"' "$TMP/r.log"; ok $? "stopped past the write timeout, V is dropped"
n=$(vgot)
kill -CONT "$VPID"
wait_for 10 out_has v "^disconnected"; ok $? "continued, V sees its connection gone"
reconnected() { [ "$(grep -c '^connected' "$TMP/v.out")" -ge 2 ]; }
wait_for 10 reconnected; ok $? "and reconnects" || diag "$(grep -v progress "$TMP/v.out")"
# (what it read after the reconnect, not what was left in its socket from before)
n=$(vgot)
wait_for 10 vgot_over $((n + 100)); ok $? "and receives A's packets again"

derpc_wait c; ok $? "meanwhile C got all 4000 of B's packets, in order"
kill -0 "$(cat "$TMP/a.cpid")" && ! out_has a disconnected; ok $? "A is still sending, never disconnected"
kill "$(cat "$TMP/a.cpid")" "$VPID" 2>/dev/null
unlike "$(cat "$TMP/v.out")" "bad-seq|bad-source" "nothing reached V twice, out of order or from elsewhere"
kill -0 "$(weft_pid r)"; ok $? "the relay is still running"
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"
clean_logs r
done_testing
