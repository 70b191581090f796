#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Single box (issue 11 item 2): in one process the DERP relay follows control's listeners (plain and TLS,
# with control's certificate) unless derp's own keys say otherwise, STUN follows to the same host, and a relay
# missing from the port the DERP map names is an error at start. As root, conf/examples/lan.yaml and the
# README's one-liner serve a LAN address in a network namespace, checked with real clients (curl, derpc,
# a STUN request, a test node's DERP map). /metrics does not follow: it stays on loopback and never shares a
# public listener.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
: "${WEFT_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
DERPC=$WEFT_BUILDDIR/t/tools/derpc
TSNODE=$WEFT_BUILDDIR/t/tools/tsnode
[ -x "$DERPC" ] && [ -x "$TSNODE" ] || skip_all "t/tools/derpc and t/tools/tsnode are not built"
need_cmd curl python3 openssl
cd "$TMP" || exit 1

# stun HOST PORT: "ok" if a binding request gets a binding success response
stun() {
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
tx = b"weft-test-12"
s.sendto(struct.pack(">HHI", 1, 0, 0x2112A442) + tx, (sys.argv[1], int(sys.argv[2])))
try:
    r = s.recv(200)
    print("ok" if r[:2] == b"\x01\x01" and r[8:20] == tx else "bad")
except socket.timeout:
    print("no answer")
PY
}

# first_map NAME URL: register a test node with a fresh auth key (admin CLI args in ${admin[@]}), print its
# first map
first_map() {
    "$WEFT" users create alice "${admin[@]}" >/dev/null 2>&1
    local key; key=$("$WEFT" authkeys create --user alice --reusable "${admin[@]}" | tail -1)
    "${pre[@]}" "$TSNODE" "$2" "$TMP" "$1" register --authkey "$key" >/dev/null &&
        "${pre[@]}" "$TSNODE" "$2" "$TMP" "$1" map 1 10 | head -1
}

if netns_usable && ip netns add "weft-sb-$$" 2>/dev/null; then
    # two machines on a LAN: the box (192.168.1.10) and a client (192.168.1.20), a veth pair between them
    ns=weft-sb-$$ cl=weft-sbc-$$
    on_exit "ip netns del $ns"
    ip netns add $cl && on_exit "ip netns del $cl"
    ip -n $ns link set lo up && ip -n $cl link set lo up
    ip link add "sb$$a" netns $ns type veth peer name "sb$$b" netns $cl
    ip -n $ns addr add 192.168.1.10/24 dev "sb$$a" && ip -n $ns link set "sb$$a" up
    ip -n $cl addr add 192.168.1.20/24 dev "sb$$b" && ip -n $cl link set "sb$$b" up
    pre=(ip netns exec $cl)

    # the LAN example, as shipped
    admin=(-c "$WEFT_SRCDIR/conf/examples/lan.yaml" -o state_dir="$TMP/lan")
    start_weft lan --ns $ns serve "${admin[@]}"
    wait_for 10 grep -q 'event=started' "$TMP/lan.log"; ok $? "conf/examples/lan.yaml starts"
    like "$(cat "$TMP/lan.log")" 'module=derp event=follow listen=0\.0\.0\.0:8080 .*stun_listen=0\.0\.0\.0:3478' \
        "the relay follows control.listen, STUN the same host"
    like "$(http_get --ns $cl http://192.168.1.10:8080/health)" '^200 ' "control answers another machine on the LAN"
    like "$(http_get --ns $cl http://192.168.1.10:8080/derp/probe)" '^200' "so does the relay"
    is "$("${pre[@]}" bash -c "$(declare -f stun); stun 192.168.1.10 3478")" ok "STUN answers on the LAN address"
    map=$(first_map lan1 http://192.168.1.10:8080)
    like "$map" '"DERPMap":\{"Regions":\{"999":.*"HostName":"192\.168\.1\.10".*"STUNPort":3478,.*"DERPPort":8080' \
        "a node's DERP map sends it to the relay at the LAN address, STUN port 3478"
    like "$("${pre[@]}" "$DERPC" --key-file "$TMP/lan1.node" --ping --timeout 5 http://192.168.1.10:8080/derp 2>&1)" \
        "pong ok" "that node relays through it from the other machine"
    unlike "$(cat "$TMP/lan.log")" 'level=(error|warn)' "no warnings or errors"
    stop_weft lan TERM; is "$WEFT_RC" 0 "clean exit"

    # the README's one-liner, on the embedded default
    mkdir -p "$TMP/rd" && cd "$TMP/rd" || exit 1
    start_weft readme --ns $ns serve -o control.listen=0.0.0.0:8080
    wait_for 10 grep -q 'event=started' "$TMP/readme.log"
    ok $? "weft serve -o control.listen=0.0.0.0:8080 starts (the relay no longer keeps 127.0.0.1:8080)"
    like "$(http_get --ns $cl http://192.168.1.10:8080/derp/probe)" '^200' "the relay is on the LAN address"
    is "$("${pre[@]}" bash -c "$(declare -f stun); stun 192.168.1.10 3478")" ok "and STUN"
    like "$(cat "$TMP/readme.log")" 'level=warn .*key=control\.server_url .*loopback.*set control\.server_url=http://THIS-HOST:8080' \
        "a loopback server_url with a LAN listener is pointed out, with the key to set"
    # /metrics does not follow control onto the LAN: the process's one listener stays on loopback
    is "$(http_get --ns $ns http://127.0.0.1:9871/metrics | grep -cE '^(200 |derp_connections\{kind="client"\} |weft_control_nodes\{state="online"\} )')" 3 \
        "/metrics (control's and the relay's) on the box's loopback, 127.0.0.1:9871"
    like "$(http_get --ns $cl http://192.168.1.10:8080/metrics)" '^404' "not on the public port"
    like "$(http_get --ns $cl http://192.168.1.10:9871/metrics)" '^000' "and not reachable from the LAN"
    stop_weft readme TERM; is "$WEFT_RC" 0 "clean exit"

    # control asked to listen where the default /metrics would go: it keeps its port, /metrics is skipped
    start_weft mdef --ns $ns serve -o control.listen=127.0.0.1:9871 -o control.server_url=http://127.0.0.1:9871 \
        -o derp.stun_listen= -o state_dir="$TMP/mdef"
    wait_for 10 grep -q 'event=started' "$TMP/mdef.log"; ok $? "control.listen on the default metrics port: starts"
    like "$(cat "$TMP/mdef.log")" 'level=warn event=metrics addr=127\.0\.0\.1:9871 .*public listener.*set metrics_listen' \
        "the default /metrics listener is skipped with a warning naming metrics_listen"
    like "$(http_get --ns $ns http://127.0.0.1:9871/metrics)" '^404' "no /metrics on control's listener"
    stop_weft mdef TERM; is "$WEFT_RC" 0 "clean exit"
    cd "$TMP" || exit 1
else
    skip "needs root and network namespaces: the LAN example on a LAN address"
fi
pre=()

# TLS configured under control only: the relay follows onto the TLS listener with control's certificate
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout key.pem -out cert.pem >/dev/null 2>&1 ||
    skip_all "openssl cannot make a test certificate"
P=$(free_port); T=$(free_port); Q=$(free_port)
admin=(-o state_dir="$TMP/tls" -o control.listen=127.0.0.1:$P -o control.tls_listen=127.0.0.1:$T
       -o control.tls_cert="$TMP/cert.pem" -o control.tls_key="$TMP/key.pem" -o control.server_url=https://localhost:$T
       -o derp.stun_listen=127.0.0.1:0)
start_weft tls serve "${admin[@]}"
wait_for 10 grep -q 'event=started' "$TMP/tls.log"; ok $? "control with TLS, derp with no TLS keys: starts"
map=$(first_map tls1 "http://127.0.0.1:$P")
like "$map" '"DERPMap":\{"Regions":\{"999":.*"HostName":"localhost".*"DERPPort":'"$T" \
    "the DERP map names control's TLS port"
like "$("$DERPC" --key-file "$TMP/tls1.node" --ca-file cert.pem --ping --timeout 5 "https://localhost:$T/derp" 2>&1)" \
    "pong ok" "the relay answers the node there, with control's certificate"
like "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/derp/probe")" '^200' "and on the plain port"
stop_weft tls TERM; is "$WEFT_RC" 0 "clean exit"

# a relay configured away from the port the DERP map names: refused at start, naming the keys
out=$("$WEFT" serve "${admin[@]}" -o state_dir="$TMP/mm" -o derp.tls_listen=127.0.0.1:$Q \
    -o derp.tls_cert="$TMP/cert.pem" -o derp.tls_key="$TMP/key.pem" 2>&1); rc=$?
is "$rc" 1 "derp on another TLS port than the DERP map's: serve exits 1"
like "$out" "level=error .*DERP map sends clients to this relay at https://localhost:$T \(control.server_url\), where control listens \(control.tls_listen 127\.0\.0\.1:$T\) but the relay does not \(derp.tls_listen is 127\.0\.0\.1:$Q\)" \
    "the error names the URL, control's listener and derp's key"
out=$("$WEFT" serve -o state_dir="$TMP/mm2" -o control.listen=127.0.0.1:$P -o control.server_url=http://127.0.0.1:$P \
    -o derp.listen=127.0.0.1:$Q -o derp.stun_listen= 2>&1); rc=$?
is "$rc" 1 "the same for plain HTTP"
like "$out" "where control listens \(control.listen 127\.0\.0\.1:$P\) but the relay does not \(derp.listen is 127\.0\.0\.1:$Q\)" \
    "naming derp.listen"

# /metrics never shares a public listener, in either order, and two metrics keys naming one address share it
M=$(free_port)
out=$("$WEFT" serve -o state_dir="$TMP/mp" -o control.listen=127.0.0.1:$P -o control.server_url=http://127.0.0.1:$P \
    -o derp.stun_listen= -o metrics_listen=127.0.0.1:$P 2>&1); rc=$?
is "$rc" 1 "metrics_listen on control's (and the relay's) listener: serve exits 1"
like "$out" "level=error event=metrics addr=127\.0\.0\.1:$P error=\"127\.0\.0\.1:$P is a public listener of this process; /metrics is only served on a listener of its own\"" \
    "saying why"
out=$("$WEFT" serve -o state_dir="$TMP/mp" -o control.listen=127.0.0.1:$P -o control.server_url=http://127.0.0.1:$P \
    -o derp.stun_listen= -o derp.metrics_listen=127.0.0.1:$P -o metrics_listen=127.0.0.1:$M 2>&1); rc=$?
is "$rc" 1 "derp.metrics_listen on the listener the relay follows: serve exits 1"
like "$out" "level=error module=derp event=listen addr=127\.0\.0\.1:$P key=derp\.metrics_listen error=\".*is a public listener" \
    "naming derp.metrics_listen"
out=$("$WEFT" serve -o state_dir="$TMP/mp" -o control.listen=127.0.0.1:$P -o control.server_url=https://vpn.example.com \
    -o derp.stun_listen= -o derp.listen=127.0.0.1:$M -o derp.metrics_listen=127.0.0.1:$M 2>&1); rc=$?
is "$rc" 1 "derp.metrics_listen on the relay's own listener: serve exits 1"
like "$out" "addr=127\.0\.0\.1:$M key=derp\.metrics_listen error=\".*is a public listener" "the same message"
start_weft msh serve -o state_dir="$TMP/msh" -o control.listen=127.0.0.1:$P -o control.server_url=http://127.0.0.1:$P \
    -o derp.stun_listen= -o derp.metrics_listen=127.0.0.1:$M -o metrics_listen=127.0.0.1:$M
wait_for 10 grep -q 'event=started' "$TMP/msh.log"; ok $? "metrics_listen and derp.metrics_listen the same: starts"
is "$(http_get "http://127.0.0.1:$M/metrics" | grep -cE '^(200 |derp_connections\{kind="client"\} |weft_control_nodes\{state="online"\} )')" 3 \
    "one listener serves /metrics (control's and the relay's)"
like "$(http_get "http://127.0.0.1:$M/derp/probe")" '^404' "and nothing else"
like "$(http_get "http://127.0.0.1:$P/metrics")" '^404' "not on the public port"
stop_weft msh TERM; is "$WEFT_RC" 0 "clean exit"

# derp's own keys win when they do not contradict the DERP map (e.g. a proxy in front of control)
start_weft own serve -o state_dir="$TMP/own" -o control.listen=127.0.0.1:$P -o control.server_url=https://vpn.example.com \
    -o derp.listen=127.0.0.1:$Q -o derp.stun_listen=
wait_for 10 grep -q 'event=started' "$TMP/own.log"; ok $? "derp.listen set and server_url elsewhere: starts"
like "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$Q/derp/probe")" '^200' "the relay is where derp.listen says"
like "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/derp/probe")" '^404' "and not on control's port"
stop_weft own TERM; is "$WEFT_RC" 0 "clean exit"
done_testing
