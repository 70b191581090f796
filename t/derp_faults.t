#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Misbehaving clients are dropped without slowing anyone else: garbage after the upgrade, an oversized frame, a
# client that never finishes its handshake, one that stops reading while packets pile up for it, and a limit on
# connections. Meanwhile A keeps relaying to B, and loses nothing.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"

P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.handshake_timeout=1s -o derp.write_timeout=2s -o derp.max_conns=50; ok $? "relay starts"
A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
X=$("$DERPC" --key-file "$TMP/x.key" --pubkey)

derpc_bg b --key-file "$TMP/b.key" --expect 300 --from "$A" --timeout 20 "$U"
wait_for 5 out_has b connected
derpc_bg a --key-file "$TMP/a.key" --send-to "$B" --count 300 --size 1000 --interval 15 --timeout 20 "$U"

out=$("$DERPC" --raw garbage --timeout 5 "$U"); rc=$?
ok $rc "a client sending garbage after the upgrade is dropped"; like "$out" dropped "(connection closed)"
out=$("$DERPC" --raw oversize --timeout 5 "$U"); rc=$?
ok $rc "a client announcing a 2 MiB frame is dropped"
start=$(date +%s%N)
out=$("$DERPC" --raw stall-handshake --timeout 5 "$U"); rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
ok $rc "a client that never sends ClientInfo is dropped"; like "$out" "^dropped" "(the relay closed it)"
ok $((ms < 900)) "after the handshake timeout (1 s here, not before): ${ms} ms"
# not even HTTP: the HTTP layer answers 400 and closes (the reply itself, not just any end)
out=$(python3 - "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
d = b""
while True:
    x = s.recv(4096)
    if not x:
        break
    d += x
print(d.decode(errors="replace").split("\r\n")[0])
PY
)
like "$out" "^HTTP/1\.1 400 " "not even HTTP: refused by the HTTP layer with 400"

# X stops reading; F floods it: the relay's writes to X stall, X is dropped after write_timeout.
# X's receive buffer is tiny (set before connect), but the relay's send buffer to X autotunes up to tcp_wmem's
# maximum (4 MB here), so F sends until X has been dropped (then it is stopped) rather than a fixed count or
# time: on a slow, loaded machine F's rate only makes this take longer, never pass without a stall.
derpc_bg x --key-file "$TMP/x.key" --raw stall-read --timeout 300 "$U" # sleeps, never reads; killed at exit
wait_for 5 out_has x connected
derpc_bg f --key-file "$TMP/f.key" --send-to "$X" --count 1000000000 --size 1400 --timeout 300 "$U"
wait_for 120 grep -q 'reason="write timeout"' "$TMP/r.log"; ok $? "a client that stops reading is dropped (write timeout)" ||
    diag "relay log:" "$(tail -20 "$TMP/r.log")" "x:" "$(tail -5 "$TMP/x.out" 2>/dev/null)" "f:" "$(tail -5 "$TMP/f.out" 2>/dev/null)"
like "$(metric "$P" derp_backpressure_pauses_total)" '^[1-9]' "its flooder was paused first (back-pressure)"
like "$(metric "$P" derp_backpressure_overflows_total)" '^[1-9]' "for at most backpressure_wait"
like "$(metric "$P" 'derp_packets_dropped_total{reason="queue_head"}')" '^[1-9]' \
    "then its full queue dropped packets (head drop) instead of blocking"
kill -0 "$(cat "$TMP/f.cpid")" && ! grep -q disconnected "$TMP/f.out"
ok $? "the flooder was never disconnected" ||
    diag "f alive: $(kill -0 "$(cat "$TMP/f.cpid")" 2>&1 && echo yes)" "f:" "$(tail -5 "$TMP/f.out" 2>/dev/null)" \
        "relay log:" "$(grep -E 'drop|disconnect|error' "$TMP/r.log" | tail -10)"
kill "$(cat "$TMP/f.cpid")"; derpc_wait f

# a connection limit
out=$("$DERPC" --idle 60 --timeout 5 "$U")
like "$out" "disconnected upgrade refused: HTTP 503" "beyond max_conns, upgrades get 503"
ok "$([ "$(metric "$P" 'derp_accepts_refused_total{reason="max_conns"}')" -gt 0 ] && echo 0 || echo 1)" \
    "and /metrics counts them"

derpc_wait a; ok $? "A sent all its packets meanwhile"
derpc_wait b; ok $? "B received all 300 while the others misbehaved"
kill -0 "$(weft_pid r)"; ok $? "the relay is still running"
m=$(curl -s "$(metrics_url "$P")")
# the garbage's first bytes read as a frame header announcing 2 GiB: it counts as oversized too
like "$m" 'derp_clients_dropped_total\{reason="oversized"\} 2' "/metrics: both oversized clients counted"
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"
clean_logs r
done_testing
