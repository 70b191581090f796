#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# weft wireguard against itself, two namespaces over a veth, driven by wg(8): handshakes from either
# side, ping and iperf3 both ways, wg showconf / syncconf, rekeying and a restarted peer detected by the
# timers (shortened 20x), an endpoint that moves, and the detached mode (no -f) that ends when its
# interface is deleted.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/wglib.sh"
need_netns
need_cmd ip wg iperf3 ping python3
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"

wg_topology 2 || skip_all "cannot create namespaces"

wg_start a weft WEFT_WG_TEST_TIMER_SCALE=20 && wg_start b weft WEFT_WG_TEST_TIMER_SCALE=20
ok $? "two weft wireguard interfaces"
wg_config a && wg_config b; ok $? "wg set configures both"
is "$(ip -n "$NSA" -o link show "$IFA" | grep -o 'mtu [0-9]*')" "mtu 1280" "MTU 1280 by default"
wg_ping a 3; ok $? "a -> b: handshake and ping"
wg_ping b 3; ok $? "b -> a: ping"
ok "$([ "$(wg_latest a)" -gt 0 ] && [ "$(wg_latest b)" -gt 0 ] && echo 0 || echo 1)" "both list a latest handshake"

# The bytes carried, not a rate (any trickle had a rate): 50 MiB each way over TCP, counted and hashed at
# both ends; UDP at 50 Mbit/s, where some loss is UDP's right on a busy machine but most must arrive.
out=$(wg_carry a 52428800); ok $? "TCP a -> b carries 50 MiB intact (sent | received: $out)"
out=$(wg_carry b 52428800); ok $? "TCP b -> a carries 50 MiB intact (sent | received: $out)"
read -r rc sent got <<<"$(wg_udp a 12M 1200 50M)"
ok "$([ "$rc" = 0 ] && [ "$sent" -ge 10000 ] && [ "$got" -ge $((sent / 2)) ] && echo 0 || echo 1)" \
    "iperf3 UDP a -> b: of $sent 1200-byte datagrams (12 MiB) $got arrive, at least half (exit $rc)"

# --- rekeying: 8 s of pings span at least one REKEY_AFTER_TIME (6 s here) ---
h1=$(wg_latest a)
ip netns exec "$NSA" ping -q -c 40 -i 0.2 -W 2 "$TB" >"$TMP/ping.out" 2>&1
like "$(cat "$TMP/ping.out")" " 0% packet loss" "8 s of pings across rekeys lose nothing"
h2=$(wg_latest a)
ok "$([ "$h2" -gt "$h1" ] && echo 0 || echo 1)" "rekeyed after REKEY_AFTER_TIME (handshake $h1 -> $h2)"

# --- showconf and syncconf ---
conf=$(ip netns exec "$NSA" wg showconf "$IFA")
like "$conf" "ListenPort = 51820" "showconf: ListenPort"
like "$conf" "PrivateKey = $(re_quote "$(cat "$TMP/key.a")")" "showconf: PrivateKey"
like "$conf" "PublicKey = $(re_quote "$PUBB")" "showconf: the peer"
like "$conf" "AllowedIPs = $TB/32" "showconf: its AllowedIPs"
like "$conf" "Endpoint = $VB:51820" "showconf: its Endpoint"
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat "$TMP/key.a")" >"$TMP/empty.conf"
ip netns exec "$NSA" wg syncconf "$IFA" "$TMP/empty.conf"
is "$(ip netns exec "$NSA" wg show "$IFA" peers)" "" "syncconf without the peer removes it"
ip netns exec "$NSA" wg syncconf "$IFA" <(echo "$conf")
is "$(ip netns exec "$NSA" wg show "$IFA" peers)" "$PUBB" "syncconf with it adds it back"
wg_ping a 3; ok $? "the re-added peer handshakes and pings"
psk=$(wg genpsk)
(umask 077 && echo "$psk" >"$TMP/psk")
ip netns exec "$NSA" wg set "$IFA" peer "$PUBB" preshared-key "$TMP/psk"
ip netns exec "$NSB" wg set "$IFB" peer "$PUBA" preshared-key "$TMP/psk"
is "$(ip netns exec "$NSA" wg show "$IFA" preshared-keys | awk '{print $2}')" "$psk" "a preshared key is set"
wg_stop b && wg_start b weft WEFT_WG_TEST_TIMER_SCALE=20 && wg_config b &&
    ip netns exec "$NSB" wg set "$IFB" peer "$PUBA" preshared-key "$TMP/psk"
wait_for 10 wg_ping a 1; ok $? "with the PSK, a restarted peer is found again by a's timers (stale session)"

# --- the endpoint moves ---
ip netns exec "$NSA" wg set "$IFA" listen-port 51830
is "$(ip netns exec "$NSA" wg show "$IFA" listen-port)" 51830 "listen port changed at run time"
wg_ping a 3; ok $? "ping from the new port"
like "$(ip netns exec "$NSB" wg show "$IFB" endpoints)" "$VA:51830" "b's endpoint for a followed (roaming)"
wg_ping b 3; ok $? "b's traffic goes to the new endpoint"

# --- detached: returns once ready; deleting the interface ends it ---
ifd=wd$$
ip netns exec "$NSA" "$WEFT" wireguard "$ifd" 2>"$TMP/detached.log"
ok $? "weft wireguard without -f returns 0 once ready"
ok "$([ -S "/var/run/wireguard/$ifd.sock" ] && echo 0 || echo 1)" "its UAPI socket exists"
ip netns exec "$NSA" wg set "$ifd" listen-port 51840 private-key "$TMP/key.a"
is "$(ip netns exec "$NSA" wg show "$ifd" listen-port)" 51840 "the detached daemon answers wg"
ip -n "$NSA" link del "$ifd"
wait_for 5 test ! -e "/var/run/wireguard/$ifd.sock"; ok $? "deleting the interface stops it and removes the socket"

wg_stop a && wg_stop b
unlike "$(cat "$TMP/$IFA.log" "$TMP/$IFB.log")" "level=error" "no errors logged"
done_testing
