#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Fixtures shared by the WireGuard tests and the benchmark: two network namespaces joined by a veth pair
# (10.200.<n>.1 and .2), a WireGuard interface in each run by weft or by wireguard-go, configured with
# wg(8) through the UAPI socket exactly as a user would.
#
#   wg_topology N            namespaces $NSA $NSB, veth 10.200.N.1/24 <-> 10.200.N.2/24
#   wg_start SIDE IMPL [ENV=VAL...]   SIDE a|b, IMPL weft|wggo; interface $IFA / $IFB
#   wg_config SIDE [PORT]    keys, listen port, the other side as peer, inner address 10.201.N.{1,2}/24, up
#   wg_stop SIDE             SIGTERM and wait
# Names carry the test's pid: the UAPI directory (/var/run/wireguard) is shared by every namespace.

wg_topology() {
    WG_N=$1
    NSA=wga$$-$1 NSB=wgb$$-$1 IFA=wa$$x$1 IFB=wb$$x$1
    IFA=${IFA:0:15} IFB=${IFB:0:15}
    VA=10.200.$WG_N.1 VB=10.200.$WG_N.2 TA=10.201.$WG_N.1 TB=10.201.$WG_N.2
    netns_add "$NSA" && netns_add "$NSB" || return 1
    ip link add "va$$" netns "$NSA" type veth peer name "vb$$" netns "$NSB" || return 1
    ip -n "$NSA" link set "va$$" name veth0 && ip -n "$NSB" link set "vb$$" name veth0
    ip -n "$NSA" addr add "$VA/24" dev veth0 && ip -n "$NSB" addr add "$VB/24" dev veth0
    ip -n "$NSA" link set veth0 up && ip -n "$NSB" link set veth0 up
    (umask 077 && wg genkey >"$TMP/key.a" && wg genkey >"$TMP/key.b")
    PUBA=$(wg pubkey <"$TMP/key.a") PUBB=$(wg pubkey <"$TMP/key.b")
    on_exit "ip netns pids $NSA | xargs -r kill -9; ip netns pids $NSB | xargs -r kill -9"
}

_side() { # SIDE -> ns ifname
    if [ "$1" = a ]; then echo "$NSA $IFA"; else echo "$NSB $IFB"; fi
}

wg_start() {
    local side=$1 impl=$2; shift 2
    local ns ifname
    read -r ns ifname <<<"$(_side "$side")"
    rm -f "/var/run/wireguard/$ifname.sock"
    if [ "$impl" = weft ]; then
        ip netns exec "$ns" env "$@" "$WEFT" --log-level "${WG_LOG:-info}" wireguard -f "$ifname" \
            >>"$TMP/$ifname.log" 2>&1 &
    else
        ip netns exec "$ns" env LOG_LEVEL="${WG_LOG_GO:-error}" "$@" wireguard-go -f "$ifname" \
            >>"$TMP/$ifname.log" 2>&1 &
    fi
    local pid=$!
    echo "$pid" >"$TMP/$side.pid"
    on_exit "kill -9 $pid"
    wait_for 10 test -S "/var/run/wireguard/$ifname.sock"
}

wg_stop() {
    local pid
    pid=$(cat "$TMP/$1.pid")
    kill "$pid" 2>/dev/null
    local i
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

wg_config() { # SIDE [LISTEN_PORT]
    local side=$1 port=${2:-51820} ns ifname key peer ep inner
    read -r ns ifname <<<"$(_side "$side")"
    if [ "$side" = a ]; then key=$TMP/key.a peer=$PUBB ep=$VB:51820 inner=$TA allowed=$TB/32
    else key=$TMP/key.b peer=$PUBA ep=$VA:51820 inner=$TB allowed=$TA/32; fi
    ip netns exec "$ns" wg set "$ifname" private-key "$key" listen-port "$port" \
        peer "$peer" endpoint "$ep" allowed-ips "$allowed" || return 1
    ip -n "$ns" addr add "$inner/24" dev "$ifname" 2>/dev/null
    ip -n "$ns" link set "$ifname" up
}

# The peer's latest handshake (unix seconds, 0 = never) as SIDE sees it.
wg_latest() {
    local ns ifname
    read -r ns ifname <<<"$(_side "$1")"
    ip netns exec "$ns" wg show "$ifname" latest-handshakes 2>/dev/null | awk '{print $2}'
}

wg_ping() { # SIDE COUNT: ping the other side's inner address; 0 if every reply came back
    local ns dst
    if [ "$1" = a ]; then ns=$NSA dst=$TB; else ns=$NSB dst=$TA; fi
    ip netns exec "$ns" ping -q -c "${2:-3}" -i 0.2 -W 2 "$dst" >/dev/null 2>&1
}

# wg_carry SIDE BYTES: BYTES random bytes over TCP from SIDE to the other through the tunnel, counted and
# hashed at both ends; prints "SENT SHA256 | RECEIVED SHA256"; 0 when all of them arrived intact.
wg_carry() {
    local side=$1 bytes=$2 cns sns dst port=$((5401 + WG_N)) out
    if [ "$side" = a ]; then cns=$NSA sns=$NSB dst=$TB; else cns=$NSB sns=$NSA dst=$TA; fi
    ip netns exec "$sns" python3 "$WEFT_SRCDIR/t/tcpcarry.py" recv "$port" >/dev/null 2>&1 &
    local rpid=$!
    wait_for 5 sh -c "ip netns exec $sns ss -ltn | grep -q ':$port '"
    out=$(ip netns exec "$cns" timeout 120 python3 "$WEFT_SRCDIR/t/tcpcarry.py" send "$dst" "$port" "$bytes" 2>&1)
    wait "$rpid" 2>/dev/null
    echo "$out"
    [ -n "$out" ] && [ "${out%% | *}" = "${out#* | }" ] && [ "${out%% *}" = "$bytes" ]
}

# wg_udp SIDE BYTES LEN RATE: iperf3 UDP from SIDE to the other, BYTES in LEN-byte datagrams at RATE;
# prints "EXIT SENT_DATAGRAMS RECEIVED_DATAGRAMS" (received as the receiving iperf3 counted them).
wg_udp() {
    local side=$1 bytes=$2 len=$3 rate=$4 cns sns dst port=$((5201 + WG_N)) rc
    if [ "$side" = a ]; then cns=$NSA sns=$NSB dst=$TB; else cns=$NSB sns=$NSA dst=$TA; fi
    ip netns exec "$sns" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
    local spid=$!
    wait_for 5 sh -c "ip netns exec $sns ss -ltn | grep -q ':$port '"
    ip netns exec "$cns" timeout 60 iperf3 -c "$dst" -p "$port" -u -n "$bytes" -l "$len" -b "$rate" -J \
        >"$TMP/iperf.json" 2>/dev/null
    rc=$?
    wait "$spid" 2>/dev/null
    python3 - "$TMP/iperf.json" "$rc" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))["end"]["sum"]
    print(sys.argv[2], s["packets"], s["packets"] - s["lost_packets"])
except Exception:
    print(sys.argv[2], 0, 0)
EOF
}

# A string as a literal grep -E pattern (base64 keys carry '+' and '/').
re_quote() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }
