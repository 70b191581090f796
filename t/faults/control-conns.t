#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 10 item 3: what one peer may hold of the control channel. Clients that finish the Noise handshake
# and then send nothing were kept forever, idle channels too, 1000 of them took 1000 fds in a second, and
# each channel could buffer 8 MiB of request bodies. Now: control.first_request_timeout (from the upgrade
# to the first request), control.idle_timeout (no open request), control.channel_buffer (request bytes per
# channel), control.max_conns (503) and control.accept_rate (429), the refusals logged once a minute.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/faults/control_lib.sh"
cd "$TMP" || exit 1

P=$(free_port)
start_control a "$P" -o control.first_request_timeout=1s -o control.idle_timeout=2s -o control.max_conns=100
ok $? "control starts (first request within 1 s, idle channels closed after 2 s)"
base=$(fds a)

# 50 peers that finish the handshake and then send nothing (not even the HTTP/2 preface)
out=$("$CTLC" -L 50 -S -c "$MK" -t 6000 "$URL" 2>&1)
like "$out" '^slowloris connected 50$' "50 silent peers finish the Noise handshake"
like "$(tail -1 <<<"$out")" '^slowloris 50 dropped 50$' "all 50 are dropped (no request within 1 s)" || diag "$out"
like "$("$CTLC" -S -c "$MK" -t 5000 "$URL" 2>&1)" '^closed after (9[5-9][0-9]|[1-4][0-9]{3}) ms$' \
    "one of them: dropped 1 s after its handshake"
is "$(metric a 'weft_control_connections_closed_total{reason="first_request_timeout"}')" 51 \
    "/metrics counts the 51 dropped for their first request"

# idle channels: a request, then nothing open
out=$("$CTLC" -c "$MK" -H 5000 -n 20 "$URL" POST:/machine/x 2>&1)
like "$out" '^closed after (19[0-9][0-9]|[2-4][0-9]{3}) ms: closed by the server' \
    "a channel with no request open is closed after idle_timeout (2 s), with a GOAWAY" || diag "$out"
like "$out" '^held 20 closed 20$' "20 idle channels: all closed" || diag "$out"
# ctlc's first client (the one that prints) is held as well: 21 channels
is "$(metric a 'weft_control_connections_closed_total{reason="idle_timeout"}')" 21 \
    "/metrics counts the 21 closed for being idle (ctlc's first client and the 20)"
out=$("$CTLC" -c "$MK" -H 1000 "$URL" POST:/machine/x 2>&1)
unlike "$out" '^closed' "one that is quicker than that is not"
wait_for 5 fds_le a "$base"; ok $? "the server's descriptors are back to where they were ($(fds a) <= $base)"

P2=$(free_port)
start_control b "$P2" -o control.max_conns=10; ok $? "a second server with control.max_conns=10"
bbase=$(fds b)
# each channel buffers at most control.channel_buffer (2 MiB) of requests: 6 channels x 8 x 1 MB at once
# (on the second server: its first_request_timeout is the default 10 s, time enough under a slow build)
python3 -c 'import sys; sys.stdout.write("{\"pad\":\"" + "x" * 1000000 + "\"}")' > big.json
reqs=(); for i in 1 2 3 4 5 6 7 8; do reqs+=(POST:/machine/nothing:@big.json); done
before=$(rss_kb b)
out=$("$CTLC" -c "$MK" -s -n 5 -t 20000 "$URL" "${reqs[@]}" 2>&1)
after=$(rss_kb b)
like "$out" '^statuses .*503:[0-9]+' "requests past a channel's buffer get 503 (server busy)" || diag "$out"
n503=$(grep -o '503:[0-9]*' <<<"$out" | cut -d: -f2)
is "$(metric b weft_control_requests_busy_total)" "${n503:-0}" "/metrics counts them (${n503:-0})"
growth=$(((after - before) / 1024))
diag "RSS $((before / 1024)) MB -> $((after / 1024)) MB with 6 channels sending 8 x 1 MB each at once"
ok $((growth < 40 * MEMSCALE ? 0 : 1)) "the server grows by ${growth} MB (< $((40 * MEMSCALE)) MB)"

# max_conns
wait_for 10 fds_le b "$bbase"
out=$("$CTLC" -c "$MK" -s -H 1500 -n 15 "$URL" 2>&1)
like "$out" '^clients 15 ready 9 ' "with 10 channels open (1 + 9), the next ones ..." || diag "$out"
like "$out" '^errors upgrade refused: HTTP 503:6;' "... are refused with 503" || diag "$out"
is "$(grep -c 'event=channel_refused reason=max_conns' "$TMP/b.log")" 1 "logged once, not 6 times"
like "$(grep 'event=channel_refused' "$TMP/b.log")" 'max_conns=10 ' "naming the limit"
is "$(metric b 'weft_control_connections_refused_total{reason="max_conns"}')" 6 "/metrics counts the 6"
conns_zero() { [ "$(metric b weft_control_connections)" = 0 ]; }
wait_for 10 conns_zero; ok $? "the open-connections gauge falls back to 0 when they are gone"
out=$("$CTLC" -c "$MK" "$URL" POST:/machine/x 2>&1)
like "$out" '^response POST:/machine/x 404' "once they are gone, new channels are taken again"

# accept_rate
P3=$(free_port)
start_control r "$P3" -o control.accept_rate=2 -o control.accept_burst=2
ok $? "a third server with control.accept_rate=2 (burst 2)"
out=$("$CTLC" -c "$MK" -s -n 20 "$URL" POST:/machine/x 2>&1)
like "$out" 'upgrade refused: HTTP 429:([5-9]|1[0-9]);' "20 new channels at once: those past the burst get 429" ||
    diag "$out"
like "$(grep 'event=channel_refused' "$TMP/r.log")" 'reason=accept_rate' "logged with the reason"
n429=$(sed -n 's/.*upgrade refused: HTTP 429:\([0-9]*\);.*/\1/p' <<<"$out")
is "$(metric r 'weft_control_connections_refused_total{reason="accept_rate"}')" "${n429:-none}" \
    "/metrics counts them (${n429:-none}) by their reason"

for s in a b r; do stop_weft $s TERM; is "$WEFT_RC" 0 "$s: clean exit"; done
no_errors a b r
done_testing
