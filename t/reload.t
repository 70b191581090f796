#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# SIGHUP (issue 11 item 5, issue 18 items 4 and 5): every check here looks at the effect of a changed setting,
# never only at the log line that announces the reload. DERP map and DNS changes reach a connected node on
# its open map stream; a new MagicDNS domain renames every node on that stream; derp limits apply to new and
# running connections without dropping them; new certificate files are served to new handshakes while an
# open TLS connection goes on; keys that cannot change are named with the reason while the rest applies; a
# configuration with errors changes nothing and the daemon keeps running.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
: "${WEFT_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
DERPC=$WEFT_BUILDDIR/t/tools/derpc
TSNODE=$WEFT_BUILDDIR/t/tools/tsnode
[ -x "$DERPC" ] && [ -x "$TSNODE" ] || skip_all "t/tools/derpc and t/tools/tsnode are not built"
need_cmd curl openssl
cd "$TMP" || exit 1

P=$(free_port)
url=http://127.0.0.1:$P
conf() { # conf NAMESERVER REGION BASE_DOMAIN LOG_LEVEL [LISTEN]
    cat >"$TMP/weft.yaml" <<YAML
state_dir: $TMP/state
log_level: $4
control:
  listen: ${5:-127.0.0.1:$P}
  server_url: $url
  dns:
    nameservers: [$1]
    base_domain: $3
  derp_region_id: $2
  batch_delay: 50ms
derp:
  stun_listen:
YAML
}
w() { "$WEFT" -c "$TMP/weft.yaml" "$@"; }
reloads_ge() { [ "$(grep -c 'event=reload result=\(done\|refused\)' "$TMP/serve.log")" -ge "$1" ]; }
hup_and_wait() { # hup_and_wait N: SIGHUP, then wait for the N-th finished reload
    kill -HUP "$(weft_pid serve)"
    wait_for 10 reloads_ge "$1"
}

conf 192.0.2.53 999 one.example warn
start_weft serve -c "$TMP/weft.yaml" serve
wait_for 10 curl -sf -m 2 "$url/health"; ok $? "control + derp start from a file (log_level warn)"

# log_level: at warn an admin action logs nothing; after the reload to info it does
w users create alice >/dev/null 2>&1
key=$(w authkeys create --user alice --reusable | tail -1)
unlike "$(cat "$TMP/serve.log")" 'event=admin action=' "at log_level warn, admin actions are not logged"

"$TSNODE" "$url" "$TMP" n1 register --authkey "$key" >/dev/null
"$TSNODE" "$url" "$TMP" n1 map 50 60 >n1.map 2>n1.err &
mpid=$!
on_exit "kill $mpid"
wait_for 20 test -s n1.map; ok $? "a node's map stream is open"
like "$(head -1 n1.map)" '"DNSConfig":\{"Resolvers":\[\{"Addr":"192\.0\.2\.53"\}\]' "first map: the configured nameserver"

# DNS and DERP map: one delta on the open stream; control.listen cannot change and says why; the rest applies
conf 198.51.100.53 998 one.example info 127.0.0.2:$P
hup_and_wait 1; ok $? "reload finishes"
log=$(cat "$TMP/serve.log")
like "$log" 'event=reload key=control\.listen result=kept msg="cannot change while running: the listening socket is opened at start; restart to apply"' \
    "a key that cannot change is named, with the reason"
like "$log" 'key=control\.dns\.nameservers result=applied' "the others apply"
# other deltas may come first (user profiles): the reload's is the one with the DERP map
after_first() { tail -n +2 n1.map | grep -m1 -E "$1"; }
wait_for 20 after_first '"DERPMap"' >/dev/null; ok $? "the connected node gets a message on the same stream"
delta=$(after_first '"DERPMap"')
like "$delta" '"DERPMap":\{"Regions":\{"998":' "it carries the new DERP map (region 998)"
like "$delta" '"DNSConfig":\{"Resolvers":\[\{"Addr":"198\.51\.100\.53"\}\]' "and the new DNS config"
unlike "$delta" '"Peers":|"Node":' "as a delta, not a new full map"
w authkeys create --user alice >/dev/null 2>&1 # an action that sends the node nothing
wait_for 20 grep -q 'event=admin action=authkey_create .*user=alice' "$TMP/serve.log"
ok $? "log_level info took effect (admin actions are logged)"
like "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/health")" 200 "still serving on the listener it kept"

# a new MagicDNS domain renames every node: a new full map on the same stream
conf 198.51.100.53 998 two.example info
hup_and_wait 2
wait_for 20 after_first 'two\.example' >/dev/null; ok $? "base_domain: the node gets another message on its stream"
like "$(after_first 'two\.example')" '"Node":\{"ID":1,.*"Name":"n1\.two\.example\."' "a whole map with its new name"
kill -0 $mpid; ok $? "the map stream was never dropped"

# a configuration with errors changes nothing and the daemon keeps running
printf 'control:\n  dns:\n    nameservers: [not-an-address]\n    base_domain: three.example\n' >"$TMP/weft.yaml"
hup_and_wait 3
log=$(cat "$TMP/serve.log")
like "$log" "level=error event=reload error=\"$TMP/weft.yaml:3:19: control.dns.nameservers: 'not-an-address' is not a DNS server" \
    "a broken reload logs each error with FILE:LINE:COL"
like "$log" 'event=reload result=refused errors=1 msg="the configuration has errors; keeping the running one"' \
    "and keeps the running configuration"
kill -0 "$(weft_pid serve)"; ok $? "the daemon keeps running"
"$TSNODE" "$url" "$TMP" n1 map 1 10 >n1b.map 2>/dev/null
like "$(cat n1b.map)" '"Name":"n1\.two\.example\.".*"DNSConfig":\{"Resolvers":\[\{"Addr":"198\.51\.100\.53"\}\]' \
    "a new map still has the last good settings"
printf 'control: [\n' >"$TMP/weft.yaml"
hup_and_wait 4
like "$(cat "$TMP/serve.log")" "event=reload error=\"$TMP/weft.yaml:2:1: YAML syntax" "so does a YAML syntax error"
kill -0 "$(weft_pid serve)"; ok $? "still running"
kill $mpid 2>/dev/null
stop_weft serve TERM; is "$WEFT_RC" 0 "clean exit"

# derp: limits apply at once, to new and running connections; nothing is dropped
R=$(free_port)
cat >"$TMP/derp.yaml" <<YAML
state_dir: $TMP/derp
derp:
  listen: 127.0.0.1:$R
  stun_listen:
YAML
start_weft relay -c "$TMP/derp.yaml" serve derp
wait_for 10 grep -q 'event=started' "$TMP/relay.log"; ok $? "a relay starts"
now_ms() { date +%s%3N; }
# in_time T0: the reload was applied within 7 s of T0, before the held client's ping at 8 s
in_time() { [ $(($(now_ms) - $1)) -lt 7000 ]; }
"$DERPC" --hold 10 --ping-after 8000 --timeout 15 "http://127.0.0.1:$R/derp" >held.out 2>&1 &
hpid=$!
wait_for 20 grep -q connected held.out; ok $? "a client holds a connection"
t0=$(now_ms)
printf '  max_conns: 1\n' >>"$TMP/derp.yaml"
kill -HUP "$(weft_pid relay)"
wait_for 10 grep -q 'key=derp\.max_conns result=applied' "$TMP/relay.log"; ok $? "derp.max_conns applied"
intime=$(in_time "$t0" && echo 1)
out=$("$DERPC" --ping --timeout 5 "http://127.0.0.1:$R/derp" 2>&1)
like "$out" '503' "a second client is refused: the new limit holds"
wait $hpid
if [ -n "$intime" ]; then
    like "$(cat held.out)" 'pong ok' "the running connection was not dropped (it answers a ping sent after the reload)"
else
    skip "the machine is too slow to reload within the held client's 8 s"
fi
stop_weft relay TERM

# TLS: new certificate files are served to new handshakes; an open TLS connection goes on
T=$(free_port)
mkcert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
        -addext "subjectAltName=DNS:localhost" -keyout "$TMP/$1.key" -out "$TMP/$1.crt" >/dev/null 2>&1
}
served() { openssl s_client -connect 127.0.0.1:$T -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'; }
mkcert certA && mkcert certB || skip_all "openssl cannot make test certificates"
cp certA.crt tls.crt && cp certA.key tls.key
cat >"$TMP/tls.yaml" <<YAML
state_dir: $TMP/tls
derp:
  listen:
  tls_listen: 127.0.0.1:$T
  tls_cert: $TMP/tls.crt
  tls_key: $TMP/tls.key
  stun_listen:
YAML
start_weft tls -c "$TMP/tls.yaml" serve derp
wait_for 10 grep -q 'event=started' "$TMP/tls.log"; ok $? "a relay on TLS starts"
is "$(served)" certA "it serves the first certificate"
"$DERPC" --pin certA.crt --hold 10 --ping-after 8000 --timeout 15 "https://localhost:$T/derp" >tls.out 2>&1 &
tpid=$!
wait_for 20 grep -q connected tls.out; ok $? "a client holds a TLS connection"
t0=$(now_ms)
cp certB.crt tls.crt && cp certB.key tls.key
kill -HUP "$(weft_pid tls)"
wait_for 10 grep -q 'event=tls_reload addr=127.0.0.1:'$T' result=applied' "$TMP/tls.log"; ok $? "SIGHUP re-reads the files"
is "$(served)" certB "new handshakes get the new certificate"
cp certA.key tls.key # a key that does not match: refused, the running certificate stays
kill -HUP "$(weft_pid tls)"
wait_for 10 grep -q 'event=tls_reload .*result=kept error=".*does not match' "$TMP/tls.log"
ok $? "a certificate and key that do not match are refused, with the reason"
is "$(served)" certB "and the running certificate stays"
intime=$(in_time "$t0" && echo 1)
wait $tpid
if [ -n "$intime" ]; then
    like "$(cat tls.out)" 'pong ok' "the TLS connection opened before the reloads goes on"
else
    skip "the machine is too slow to reload twice within the held client's 8 s"
fi
stop_weft tls TERM; is "$WEFT_RC" 0 "clean exit"
done_testing
