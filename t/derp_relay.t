#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The relay against the real binary: two clients exchange packets, ping/pong, PeerGone on disconnect, NotHere
# for disco to an unknown key, duplicate connections (the last that sent is active), keep-alives, the HTTP
# endpoints, WebSocket, STUN bytes exactly as the spec says, metrics, Restarting on a graceful stop.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"

P=$(free_port); S=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.stun_listen=:"$S" -o derp.keepalive=1s; ok $? "weft serve derp starts"
is "$(stat -c %a "$TMP/r/derp.key")" 600 "the relay's key is kept in the state dir, mode 0600"
SERVER=$(sed -n 's/.*event=key public=nodekey:\([0-9a-f]*\).*/\1/p' "$TMP/r.log")

A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)

# two clients exchange packets
derpc_bg b --key-file "$TMP/b.key" --expect 200 --from "$A" --timeout 20 "$U"
wait_for 5 out_has b connected; ok $? "B connects"
like "$(cat "$TMP/b.out")" "connected $SERVER" "B learns the relay's key from ServerKey"
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 200 --size 1200 --timeout 10 "$U" >"$TMP/a.out" 2>&1
ok $? "A sends 200 packets of 1200 bytes to B"
derpc_wait b; ok $? "B receives them"
like "$(cat "$TMP/b.out")" "received 200" "all 200 of them (from A, each once, in order: derpc checks)"
derpc_bg a2 --key-file "$TMP/a.key" --expect 1 --from "$B" --timeout 5 "$U"
wait_for 5 out_has a2 connected
"$DERPC" --key-file "$TMP/b.key" --send-to "$A" --count 1 --timeout 5 "$U" >/dev/null 2>&1
derpc_wait a2; ok $? "and back: B to A"

# derpc's checks can fail: a second run of A numbers from 0 again, which a receiver that already has A's
# 0..4 flags as arriving twice; and a packet from a source it does not expect
derpc_bg dup --key-file "$TMP/b.key" --expect 10 --from "$A" --timeout 10 "$U"
wait_for 5 out_has dup connected
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 5 --timeout 5 "$U" >/dev/null 2>&1
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 5 --timeout 5 "$U" >/dev/null 2>&1
derpc_wait dup; is "$?" 3 "a receiver fails (exit 3) when packets arrive twice"
like "$(cat "$TMP/dup.out")" "bad-seq $A got 0 want 5" "and says which"
derpc_bg src --key-file "$TMP/b.key" --expect 1 --from "$B" --timeout 10 "$U"
wait_for 5 out_has src connected
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 1 --timeout 5 "$U" >/dev/null 2>&1
derpc_wait src; is "$?" 3 "and when one comes from a source it does not expect"
like "$(cat "$TMP/src.out")" "bad-source $A" "naming it"

# ping / pong
out=$("$DERPC" --ping --timeout 5 "$U"); like "$out" "pong ok" "Ping is answered with a Pong carrying the same 8 bytes"

# keep-alives (1 s here, plus up to 0.1 s jitter)
out=$("$DERPC" --exit-on keepalive --timeout 5 "$U"); like "$out" "keepalive" "the relay sends KeepAlive frames"

# PeerGone: A talked to B, A leaves, B hears it
derpc_bg pg --key-file "$TMP/b.key" --exit-on peer_gone --timeout 10 "$U"
wait_for 5 out_has pg connected
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 3 --timeout 5 "$U" >/dev/null 2>&1
derpc_wait pg; ok $? "B gets PeerGone when A disconnects"
like "$(cat "$TMP/pg.out")" "peer_gone $A 0" "PeerGone(A, disconnected)"

# NotHere: a disco packet to a key nobody has
NOBODY=$("$DERPC" --key-file "$TMP/nobody.key" --pubkey)
out=$("$DERPC" --send-to "$NOBODY" --count 1 --disco --size 80 --exit-on not_here --timeout 5 "$U")
like "$out" "not_here $NOBODY 1" "a disco packet to an unknown key gets PeerGone(NotHere)"
out=$("$DERPC" --send-to "$NOBODY" --count 1 --size 80 --hold 1 --events --timeout 5 "$U")
unlike "$out" "not_here" "a non-disco packet to an unknown key is dropped quietly"

# duplicates: the connection that sent last gets the packets
derpc_bg d1 --key-file "$TMP/b.key" --expect 3 --from "$A" --timeout 30 "$U"
wait_for 20 out_has d1 connected
derpc_bg d2 --key-file "$TMP/b.key" --expect 3 --from "$A" --timeout 10 "$U"
wait_for 20 out_has d2 connected
kill -USR1 "$(cat "$TMP/d1.cpid")" # d1 pings (sends a frame) after d2 connected
wait_for 20 out_has d1 pong
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 3 --timeout 5 "$U" >/dev/null 2>&1
derpc_wait d1; ok $? "with two connections for a key, the one that sent last receives"
derpc_wait d2; rc=$?
is "$rc" 1 "and the other one does not"; like "$(cat "$TMP/d2.out")" "^timeout sent=0 received=0" \
    "(it ran to its timeout with nothing received)"

# HTTP endpoints
out=$(curl -s -m 5 -i "$U"); like "$out" "^HTTP/1.1 426" "/derp without an upgrade: 426"
like "$out" "DERP requires connection upgrade" "with derper's body"
out=$(curl -s -m 5 -i "http://127.0.0.1:$P/derp/probe")
like "$out" "^HTTP/1.1 200" "/derp/probe: 200"; like "$out" "[Aa]ccess-[Cc]ontrol-[Aa]llow-[Oo]rigin: \*" "with CORS *"
out=$(curl -s -m 5 -I "http://127.0.0.1:$P/derp/latency-check"); like "$out" "^HTTP/1.1 200" "HEAD /derp/latency-check: 200"
out=$(curl -s -m 5 -i -X POST "http://127.0.0.1:$P/derp/probe"); like "$out" "^HTTP/1.1 405" "POST /derp/probe: 405"
out=$(curl -s -m 5 -i -H "X-Tailscale-Challenge: abc-123.x" "http://127.0.0.1:$P/generate_204")
like "$out" "^HTTP/1.1 204" "/generate_204: 204"
like "$out" "[Xx]-[Tt]ailscale-[Rr]esponse: response abc-123.x" "it answers the challenge"
out=$(curl -s -m 5 -i -H "X-Tailscale-Challenge: bad/char" "http://127.0.0.1:$P/generate_204")
unlike "$out" "[Xx]-[Tt]ailscale-[Rr]esponse" "not a challenge with a bad character"
is "$(curl -s -m 5 "http://127.0.0.1:$P/robots.txt")" "$(printf 'User-agent: *\nDisallow: /')" "/robots.txt"
out=$(http_get "http://127.0.0.1:$P/"); like "$out" "^200 " "/ answers 200"; like "$out" "<h1>DERP</h1>" "with a home page"

# WebSocket: upgrade with the derp subprotocol, then the DERP stream in binary messages
ws=$(python3 - "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          b"Sec-WebSocket-Protocol: derp\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, rest = buf.split(b"\r\n\r\n", 1)
print(head.decode().split("\r\n")[0])
for l in head.decode().split("\r\n")[1:]:
    print(l.lower())
while len(rest) < 2 + 45:
    rest += s.recv(4096)
print("frame", rest[:2].hex(), rest[2:2 + 45].hex())
PY
)
like "$ws" "HTTP/1.1 101" "WebSocket upgrade: 101"
like "$ws" "sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk\+xoo=" "Sec-WebSocket-Accept per RFC 6455"
like "$ws" "sec-websocket-protocol: derp" "the derp subprotocol is selected"
like "$ws" "frame 822d 010000002844455250f09f9491$SERVER" "ServerKey arrives in a binary message"

# a WebSocket client's burst (400 packets, ~500 kB in one write, more than the relay buffers unwrapped at
# once) is relayed whole and in order, and the client is not dropped for it
W=$("$DERPC" --key-file "$TMP/w.key" --pubkey)
derpc_bg wb --key-file "$TMP/b.key" --expect 400 --from "$W" --timeout 15 "$U"
wait_for 5 out_has wb connected
out=$("$DERPC" --key-file "$TMP/w.key" --raw ws-burst --send-to "$B" --count 400 --size 1200 --timeout 3 "$U"); rc=$?
is "$rc" 0 "a WebSocket client writing 400 packets at once stays connected" || diag "$out"
like "$out" "still-open" "(still open afterwards)"
derpc_wait wb; ok $? "and B gets all 400, each once, in order"

# STUN: the spec's request (SOFTWARE tailnode + FINGERPRINT) and a plain RFC 5389 one, v4 and v6; junk ignored
stun=$(python3 - "$S" <<'PY'
import socket, struct, sys, zlib
port = int(sys.argv[1])
tx = bytes.fromhex("2360b11e3ec68ffa93e08007")
def req(tailnode):
    if not tailnode:
        return struct.pack(">HHI", 1, 0, 0x2112A442) + tx
    body = bytes.fromhex("802200087461696c6e6f6465")
    m = struct.pack(">HHI", 1, len(body) + 8, 0x2112A442) + tx + body
    return m + struct.pack(">HHI", 0x8028, 4, (zlib.crc32(m) ^ 0x5354554E) & 0xffffffff)
def expect(fam, ip, p):
    x = struct.pack(">H", p ^ 0x2112)
    key = struct.pack(">I", 0x2112A442) + tx
    a = bytes(b ^ k for b, k in zip(ip, key))
    attr = struct.pack(">HHBB", 0x20, 4 + len(ip), 0, fam) + x + a
    return struct.pack(">HHI", 0x0101, len(attr), 0x2112A442) + tx + attr
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.bind((host, 0))
    me = s.getsockname()
    ip = socket.inet_pton(fam, me[0])
    for tn in (True, False):
        r = req(tn)
        if tn and fam == socket.AF_INET:
            print("request", r.hex())
        s.sendto(r, (host, port))
        try:
            got = s.recv(100)
        except socket.timeout:
            print("no answer", fam, tn); continue
        print("ok" if got == expect(1 if fam == socket.AF_INET else 2, ip, me[1]) else "bad",
              "v4" if fam == socket.AF_INET else "v6", "tailnode" if tn else "plain", len(got))
    s.sendto(b"\x00\x01 not stun at all, longer than twenty bytes", (host, port))
    s.settimeout(0.5)
    try:
        s.recv(100); print("answered junk")
    except socket.timeout:
        print("ignored junk")
PY
)
# (derp.md §8 says "48 bytes, length 28"; header + SOFTWARE(4+8) + FINGERPRINT(4+4) is 40 bytes, length 20,
# which is what tailscaled sends)
like "$stun" "request 000100142112a4422360b11e3ec68ffa93e08007802200087461696c6e6f646580280004[0-9a-f]{8}$" \
    "the STUN request: header, SOFTWARE tailnode, FINGERPRINT (40 bytes)"
like "$stun" "ok v4 tailnode 32" "STUN: Tailscale's request answered with exactly the expected 32 bytes (IPv4)"
like "$stun" "ok v4 plain 32" "STUN: a plain RFC 5389 binding request too"
like "$stun" "ok v6 tailnode 44" "STUN over IPv6: the expected 44 bytes"
like "$stun" "ok v6 plain 44" "STUN over IPv6, plain request"
unlike "$stun" "answered junk" "anything else is ignored"

# metrics
like "$(http_get "http://127.0.0.1:$P/metrics")" '^404' "no /metrics on the public listener"
m=$(curl -s -m 5 "$(metrics_url "$P")")
like "$m" 'derp_packets_relayed_total (2[0-9][0-9]|[3-9][0-9][0-9])' "/metrics counts relayed packets"
like "$m" 'derp_stun_requests_total 4' "/metrics counts STUN requests"
like "$m" 'derp_packets_dropped_total\{reason="unknown_dest"\} [1-9]' "/metrics counts drops by reason"
like "$m" 'derp_connections\{kind="client"\} 0' "connections by kind"

# graceful stop: connected clients hear Restarting
derpc_bg rs --exit-on restarting --timeout 10 "$U"
wait_for 5 out_has rs connected
stop_weft r TERM
is "$WEFT_RC" 0 "SIGTERM: the relay exits 0"
derpc_wait rs; ok $? "clients get a Restarting frame on a graceful stop"
like "$(cat "$TMP/rs.out")" "restarting 1000 30000" "Restarting(reconnect in 1 s, try for 30 s)"
clean_logs r
done_testing
