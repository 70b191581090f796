#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# weft wireguard against Debian's wireguard-go, two namespaces over a veth, both driven by wg(8):
# handshakes started by either side, ping and iperf3 both ways, `wg show` figures, a restarted peer on
# either side, an endpoint that moves, rekeying (weft's timers shortened 20x), garbage and replayed
# datagrams dropped without disturbing the session, and cookie replies under load.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/wglib.sh"
need_netns
need_cmd ip wg wireguard-go iperf3 ping python3
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"

wg_topology 1 || skip_all "cannot create namespaces"

# --- wireguard-go starts the handshake ---
wg_start a weft; ok $? "weft wireguard creates $IFA and its UAPI socket"
wg_start b wggo; ok $? "wireguard-go runs $IFB"
wg_config a && wg_config b; ok $? "wg set configures both"
wg_ping b 3; ok $? "wireguard-go -> weft: handshake and ping"
wg_ping a 3; ok $? "weft -> wireguard-go: ping on the same session"
show=$(ip netns exec "$NSA" wg show "$IFA")
like "$show" "peer: $(re_quote "$PUBB")" "wg show lists the peer"
like "$show" "endpoint: $VB:51820" "... its endpoint"
like "$show" "allowed ips: $TB/32" "... its allowed IPs"
like "$show" "latest handshake: (Now|[0-9]+ seconds? ago)" "... its latest handshake"
like "$show" "transfer: [0-9.]+ [KMG]?i?B received, [0-9.]+ [KMG]?i?B sent" "... its transfer counters"
like "$show" "listening port: 51820" "... and the listening port"

# the bytes carried, counted and hashed at both ends (a rate alone passed on any trickle)
out=$(wg_carry a 31457280); ok $? "TCP weft -> wireguard-go carries 30 MiB intact (sent | received: $out)"
out=$(wg_carry b 31457280); ok $? "TCP wireguard-go -> weft carries 30 MiB intact (sent | received: $out)"
read -r _ rx tx <<<"$(ip netns exec "$NSA" wg show "$IFA" transfer)"
ok "$([ "${rx:-0}" -gt 10000000 ] && [ "${tx:-0}" -gt 10000000 ] && echo 0 || echo 1)" \
    "transfer counters grew both ways (rx $rx, tx $tx bytes)"

# --- garbage and replays do not disturb the session ---
ip netns exec "$NSB" python3 "$WEFT_SRCDIR/t/wgjunk.py" capture veth0 51820 "$TMP/pkt" &
cap=$!
wait_for 30 test -e "$TMP/pkt.ready" # a loaded machine starts python slowly: ping only once it listens
for _ in $(seq 30); do # and keep pinging until it has its datagram (it exits then, or after 30 s)
    kill -0 "$cap" 2>/dev/null || break
    wg_ping b 1
done
wait "$cap"; ok $? "captured a transport datagram from wireguard-go"
rx0=$(ip netns exec "$NSA" cat "/sys/class/net/$IFA/statistics/rx_packets")
ip netns exec "$NSB" python3 "$WEFT_SRCDIR/t/wgjunk.py" replay "$VA" 51820 "$TMP/pkt" 50
ip netns exec "$NSB" python3 "$WEFT_SRCDIR/t/wgjunk.py" garbage "$VA" 51820 500
sleep 0.5
rx1=$(ip netns exec "$NSA" cat "/sys/class/net/$IFA/statistics/rx_packets")
is "$rx1" "$rx0" "50 replays and 500 garbage datagrams delivered nothing"
like "$(ip netns exec "$NSA" wg show "$IFA" endpoints)" "$VB:51820" "the endpoint did not move to the attacker's port"
wg_ping a 3; ok $? "the session still works"

# --- weft restarted with timers shortened 20x: it initiates, then rekeys every 6 s ---
wg_stop a
wg_start a weft WEFT_WG_TEST_TIMER_SCALE=20 && wg_config a
wg_ping a 3; ok $? "restarted weft initiates, wireguard-go accepts the new session"
h1=$(wg_latest a)
ip netns exec "$NSA" ping -q -c 40 -i 0.2 -W 2 "$TB" >"$TMP/ping.out" 2>&1
like "$(cat "$TMP/ping.out")" " 0% packet loss" "8 s of pings across rekeys lose nothing"
h2=$(wg_latest a)
ok "$([ "$h2" -gt "$h1" ] && echo 0 || echo 1)" "weft rekeyed after REKEY_AFTER_TIME (handshake $h1 -> $h2)"

# --- wireguard-go restarted: it handshakes with the running weft again ---
wg_stop b
wg_start b wggo && wg_config b
wg_ping b 3; ok $? "restarted wireguard-go initiates, weft accepts"

# --- the endpoint moves: weft follows the authenticated packets ---
ip netns exec "$NSB" wg set "$IFB" listen-port 51821
wg_ping b 3; ok $? "ping from wireguard-go on its new port"
like "$(ip netns exec "$NSA" wg show "$IFA" endpoints)" "$VB:51821" "weft's endpoint for it followed (roaming)"
wg_ping a 3; ok $? "weft's traffic goes to the new endpoint"

# --- under load weft answers with a cookie; wireguard-go retries with mac2 and gets in ---
wg_stop a
WG_LOG=debug wg_start a weft WEFT_WG_TEST_UNDER_LOAD=1 && wg_config a
wg_stop b
wg_start b wggo && wg_config b 51821
ip netns exec "$NSB" ping -q -c 1 -W 12 "$TA" >/dev/null 2>&1
ok $? "handshake under load completes (cookie reply, then an initiation with mac2)"
like "$(cat "$TMP/$IFA.log")" "cookie reply" "weft sent a cookie reply"

wg_stop a
wait_for 5 test ! -e "/var/run/wireguard/$IFA.sock"; ok $? "SIGTERM removes the UAPI socket"
wg_stop b
unlike "$(cat "$TMP/$IFA.log")" "level=error" "weft logged no errors"
done_testing
