#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Back-pressure: a sender faster than its receiver is paused (its socket is not read), not dropped and not
# disconnected, so a slow receiver still gets every packet in order; a receiver that stops reading holds a
# sender for at most derp.backpressure_wait, after which the sender's traffic to others flows again and
# only the stalled receiver's packets are dropped (the last resort). Across a mesh the same holds hop by hop.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"

S=$("$DERPC" --key-file "$TMP/s.key" --pubkey)
R=$("$DERPC" --key-file "$TMP/r.key" --pubkey)
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
X=$("$DERPC" --key-file "$TMP/x.key" --pubkey)

# --- a slow receiver: everything arrives, in order, nothing dropped ---
# (a long backpressure_wait: the receiver reads slowly but steadily, the relay must only wait for it)
P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.backpressure_wait=20s -o derp.write_timeout=30s; ok $? "relay starts"
derpc_bg r --key-file "$TMP/r.key" --raw slow-read --read-rate 4000000 --expect 5000 --from "$S" --timeout 30 "$U"
wait_for 5 out_has r connected; ok $? "a receiver that reads at about 4 MB/s connects"
derpc_bg s --key-file "$TMP/s.key" --send-to "$R" --count 5000 --size 1200 --timeout 40 "$U"
derpc_wait r; ok $? "it receives all 5000 packets (6 MB, more than the kernel buffers hold) an unpaced sender sends it, each once, in order" ||
    diag "$(tail -5 "$TMP/r.out")"
derpc_wait s; ok $? "the sender sent them all and was not disconnected"
unlike "$(cat "$TMP/s.out")" "disconnected" "(no disconnection)"
is "$(metric "$P" 'derp_packets_dropped_total{reason="queue_head"}')" 0 "the relay dropped none of them"
like "$(metric "$P" derp_backpressure_pauses_total)" '^[1-9]' "it paused the sender instead"
is "$(metric "$P" derp_backpressure_overflows_total)" 0 "and every pause ended because the receiver drained"
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"

# --- a stalled receiver: the sender waits a bounded time, then its other traffic flows ---
P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r2 "$P" -o derp.backpressure_wait=300ms -o derp.write_timeout=60s; ok $? "relay starts"
derpc_bg x --key-file "$TMP/x.key" --raw stall-read --timeout 60 "$U"
derpc_bg b --key-file "$TMP/b.key" --expect 6000 --from "$S" --timeout 30 "$U"
wait_for 5 out_has x connected && wait_for 5 out_has b connected; ok $? "X (never reads) and B connect"
# S alternates X and B: once the kernel holds all it takes for X (a few MB), X's queue fills and S's
# packets for B wait behind them
derpc_bg s2 --key-file "$TMP/s.key" --send-to "$X" --send-to "$B" --count 12000 --size 1300 --timeout 30 "$U"
derpc_wait b; ok $? "B receives all 6000 of its packets, each once, in order, while X stalls" ||
    diag "$(tail -5 "$TMP/b.out")"
kill -0 "$(cat "$TMP/x.cpid")" 2>/dev/null && ! grep -q 'write timeout' "$TMP/r2.log"
ok $? "before X was dropped: the wait for X ended by its bound, not by X going"
derpc_wait s2; ok $? "the sender sent all 12000 and was not disconnected"
like "$(metric "$P" derp_backpressure_pauses_total)" '^[1-9]' "the relay paused the sender for X"
like "$(metric "$P" derp_backpressure_overflows_total)" '^[1-9]' "until backpressure_wait ran out"
like "$(metric "$P" 'derp_packets_dropped_total{reason="queue_head"}')" '^[1-9]' \
    "then X's packets were dropped (oldest first), the last resort"
like "$(metric "$P" 'derp_connections{kind="client"}')" '^[1-9]' "X is still connected (its write timeout is 60 s)"
stop_weft r2 TERM; is "$WEFT_RC" 0 "clean exit"

# --- across a mesh: the far relay stops reading (SIGSTOP), the near one holds its sender ---
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/mesh.key"
M1=$(free_port); M2=$(free_port)
while [ "$M2" = "$M1" ]; do M2=$(free_port); done
MESH="http://127.0.0.1:$M1/derp,http://127.0.0.1:$M2/derp"
for i in 1 2; do
    eval "p=\$M$i"
    start_relay "m$i" "$p" -o derp.mesh_key="$TMP/mesh.key" -o derp.mesh_with="$MESH" \
        -o derp.backpressure_wait=30s -o derp.write_timeout=30s -o derp.mesh_write_timeout=60s
done
wait_for 10 metric_is "$M1" derp_mesh_peers_up 1 && wait_for 10 metric_is "$M2" derp_mesh_peers_up 1
ok $? "two meshed relays"
derpc_bg mr --key-file "$TMP/r.key" --expect 1000 --from "$S" --timeout 60 "http://127.0.0.1:$M2/derp"
wait_for 5 out_has mr connected
known_r() { metric_ge "$M1" derp_known_keys 2; } # the other relay's key and R
wait_for 10 known_r; ok $? "relay 1 learns of R on relay 2"
M2PID=$(weft_pid m2)
kill -STOP "$M2PID"
on_exit "kill -CONT $M2PID"
# 60 MB: more than the kernel holds between the two relays, so relay 1's link backs up past 1 MiB
derpc_bg ms --key-file "$TMP/s.key" --send-to "$R" --count 1000 --size 60000 --timeout 60 "http://127.0.0.1:$M1/derp"
paused_s() { metric_ge "$M1" derp_backpressure_pauses_total 1; }
wait_for 30 paused_s; ok $? "relay 2 stopped: relay 1 pauses S while its mesh link is backed up"
kill -CONT "$M2PID"
derpc_wait mr; ok $? "relay 2 continued: R gets all 1000 of S's packets (60 MB), each once, in order" ||
    diag "$(tail -3 "$TMP/mr.out")"
derpc_wait ms; ok $? "S was never disconnected"
is "$(metric "$M1" 'derp_packets_dropped_total{reason="mesh_queue"}')" 0 "relay 1 dropped nothing at its mesh link"
is "$(metric "$M1" derp_backpressure_overflows_total)" 0 "(every pause ended with the link draining)"
for i in 1 2; do stop_weft "m$i" TERM; done
clean_logs r r2 m1 m2
done_testing
