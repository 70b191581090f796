#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 2,000 idle clients at once: all admitted and counted, relaying between two others unaffected, and all of
# them gone from the counts after they leave.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"
N=2000
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((N + 200)) ] || skip_all "needs $((N + 200)) file descriptors (ulimit -n is $(ulimit -n))"

P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P"; ok $? "relay starts"
derpc_bg idle --idle $N --hold 120 --timeout 120 "$U"
wait_for 90 out_has idle "connected $N"; ok $? "$N clients connect and finish the handshake"
wait_for 5 metric_is "$P" 'derp_connections{kind="client"}' $N; ok $? "the relay counts $N client connections"
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$(weft_pid r)/status")
diag "relay RSS with $N idle clients: ${rss} kB"

B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
derpc_bg b --key-file "$TMP/b.key" --expect 100 --from "$A" --timeout 10 "$U"
wait_for 5 out_has b connected
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 100 --size 1000 --timeout 10 "$U" >/dev/null 2>&1
derpc_wait b; ok $? "two more clients relay 100 packets meanwhile"

kill "$(cat "$TMP/idle.cpid")"
wait_for 10 metric_is "$P" 'derp_connections{kind="client"}' 0; ok $? "when they leave, the count drops back to 0"
is "$(metric "$P" derp_known_keys)" 0 "and the key table is empty"
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"
clean_logs r
done_testing
