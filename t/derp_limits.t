#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Limits: the per-client receive token bucket slows a fast sender down (reading pauses, nothing is dropped),
# and the accept-rate limit refuses a burst of new connections with 429.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"

P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.rate_limit=200000 -o derp.rate_burst=65568 -o derp.accept_rate=20 \
    -o derp.accept_burst=20; ok $? "relay starts with a 200 kB/s per-client limit and 20 accepts/s"
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
derpc_bg b --key-file "$TMP/b.key" --expect 500 --from "$A" --timeout 20 "$U"
wait_for 5 out_has b connected
start=$(date +%s%N)
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 500 --size 1000 --timeout 20 "$U" >/dev/null 2>&1
derpc_wait b; ok $? "all 500 packets (about 520 kB) arrive: the limit delays, it does not drop"
ms=$((($(date +%s%N) - start) / 1000000))
ok $((ms < 2000)) "and it takes its time: ${ms} ms for 520 kB at 200 kB/s after a 64 kB burst (>= 2 s)"
like "$(metric "$P" derp_rate_limited_total)" '^[1-9]' "/metrics counts the pauses"

out=$("$DERPC" --idle 40 --timeout 3 "$U")
like "$out" "upgrade refused: HTTP 429" "a burst of 40 new connections: beyond 20 get 429"
like "$(metric "$P" 'derp_accepts_refused_total{reason="accept_rate"}')" '^[1-9]' "/metrics counts them"
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"
clean_logs r
done_testing
