#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# ACME (issue 11 item 3) against a real ACME server: Debian's pebble, with pebble-challtestsrv as the DNS
# server pebble resolves the test names with (every name is 127.0.0.1). weft gets a certificate by http-01
# and by tls-alpn-01, serves it to clients that verify it against pebble's root (control, and the relay that
# follows control onto its TLS listener), stores it and its keys 0600, serves the stored one after a restart,
# renews it without a restart (new handshakes get the new one, an open connection goes on), and reports a
# failed validation with the server's reason.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null ||
    skip_all "needs pebble and pebble-challtestsrv (Debian package pebble)"
need_cmd openssl curl python3
cd "$TMP" || exit 1

# nine distinct free ports in one go (python starts slowly on a loaded machine)
read -r PA PM HP TP DNS CM P T Q < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(9)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
[ -n "$Q" ] || skip_all "cannot find free ports"

# pebble's own listener needs a certificate: a throwaway CA for it, given to weft as tls.acme.ca_file
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=weft-test-ca \
    -keyout ca.key -out ca.pem >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout pebble.key \
        -out pebble.csr >/dev/null 2>&1 &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext &&
    openssl x509 -req -in pebble.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
        -out pebble.pem >/dev/null 2>&1 || skip_all "openssl cannot make the test CA"
cat >pebble.json <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$PA", "managementListenAddress": "127.0.0.1:$PM",
  "certificate": "$TMP/pebble.pem", "privateKey": "$TMP/pebble.key", "httpPort": $HP, "tlsPort": $TP,
  "ocspResponderURL": "", "externalAccountBindingRequired": false, "certificateValidityPeriod": 3600}}
JSON
pebble-challtestsrv -dns01 127.0.0.1:$DNS -http01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:$CM \
    -defaultIPv4 127.0.0.1 -defaultIPv6 "" >cts.log 2>&1 &
on_exit "kill $!"
# no artificial validation delays; every authorization validated again (no reuse); 5% of nonces refused
PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 pebble -config pebble.json -dnsserver 127.0.0.1:$DNS >pebble.log 2>&1 &
on_exit "kill $!"
wait_for 20 curl -sf --cacert ca.pem "https://127.0.0.1:$PA/dir" || { cat pebble.log; skip_all "pebble did not start"; }
curl -sf --cacert ca.pem "https://127.0.0.1:$PM/roots/0" >root.pem
grep -q 'BEGIN CERTIFICATE' root.pem || skip_all "cannot read pebble's root certificate"

issued() { [ "$(grep -c 'event=acme .*result=issued' "$TMP/$1.log")" -ge "$2" ]; }
served() { # served PORT NAME: SHA-256 fingerprint of the certificate a handshake for NAME gets
    openssl s_client -connect 127.0.0.1:"$1" -servername "$2" </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//; s/://g' | tr A-F a-f
}
https() { curl -s -m 5 -o /dev/null -w '%{http_code}' --cacert root.pem --resolve "$1:$2:127.0.0.1" "https://$1:$2$3"; }

# ---- http-01, single box: control and the relay that follows it onto the TLS listener ----
cat >box.yaml <<YAML
state_dir: $TMP/box
roles: [control, derp]
control:
  listen: 127.0.0.1:$P
  tls_listen: 127.0.0.1:$T
  server_url: https://ship.weft.test:$T
  tls:
    acme:
      domains: [ship.weft.test]
      email: admin@weft.test
      directory: https://127.0.0.1:$PA/dir
      ca_file: $TMP/ca.pem
      http_listen: 127.0.0.1:$HP
derp:
  stun_listen:
YAML
start_weft box -c box.yaml serve
wait_for 60 issued box 1; ok $? "a certificate is issued (http-01)"
like "$(cat box.log)" 'event=acme challenge=http-01 peer=127\.0\.0\.1:[0-9]+ msg="answered a validation request"' \
    "pebble's validation request was answered on tls.acme.http_listen"
is "$(https ship.weft.test "$T" /health)" 200 "a client verifying against the ACME CA reaches control over TLS"
is "$(https ship.weft.test "$T" /derp/probe)" 200 "and the relay that follows control onto its listener"
is "$(stat -c %a box/acme)" 700 "state_dir/acme is 0700"
is "$(stat -c %a box/acme/account.key box/acme/ship.weft.test.key box/acme/ship.weft.test.crt | sort -u)" 600 \
    "the account key, the certificate's key and the certificate are 0600"
fp1=$(served "$T" ship.weft.test)
is "$fp1" "$(openssl x509 -in box/acme/ship.weft.test.crt -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)" \
    "what is served is what is stored"

# ---- renewal without a restart: an open connection goes on, new handshakes get the new certificate ----
cat >oldconn.py <<'PY'
# One keep-alive connection, asking every half second until told to stop: h2o closes an HTTP/1 connection
# idle for 10 s, and a renewal under a sanitizer on a loaded machine can take longer than that.
import hashlib, http.client, os, socket, ssl, sys, time
port, go = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile="root.pem")
class Conn(http.client.HTTPSConnection):
    def connect(self):
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                    server_hostname="ship.weft.test")
c = Conn("ship.weft.test", port, timeout=5, context=ctx)
c.connect()
sock = c.sock
print("connected", hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest(), flush=True)
end = time.time() + 120
status = None
try:
    while True:
        last = os.path.exists(go) or time.time() > end
        c.request("GET", "/health")
        r = c.getresponse(); r.read()
        if c.sock is not sock:
            print("reconnected", flush=True); break
        status = r.status
        if last: break
        time.sleep(0.5)
except Exception as e:
    print("lost", repr(e), flush=True)
print("answer HTTP/1.1", status, flush=True)
PY
python3 oldconn.py "$T" "$TMP/go" >oldconn.out 2>&1 &
opid=$!
wait_for 60 grep -q connected oldconn.out; ok $? "a client holds a TLS connection"
pid=$(weft_pid box)
# pebble's certificates live an hour here: renew 3590 s before expiry, i.e. now
sed -i 's|^      http_listen: .*|&\n      renew_before: 3590s|' box.yaml
kill -HUP "$pid"
wait_for 60 issued box 2; ok $? "renew_before changed by a reload: the certificate is renewed"
like "$(cat box.log)" 'msg="renewing the certificate"' "as a renewal"
fp2=$(served "$T" ship.weft.test)
ok "$([ -n "$fp2" ] && [ "$fp2" != "$fp1" ] && echo 0 || echo 1)" "new handshakes get the new certificate"
is "$(https ship.weft.test "$T" /health)" 200 "and it verifies"
kill -0 "$pid"; ok $? "with no restart (the same process)"
touch go
wait $opid
like "$(cat oldconn.out)" "connected $fp1" "the connection opened before the renewal had the first certificate"
like "$(cat oldconn.out)" "answer HTTP/1.1 200" "and still works after it"
sed -i '/renew_before/d' box.yaml
stop_weft box TERM; is "$WEFT_RC" 0 "clean exit"

# ---- a restart serves the stored certificate and orders nothing ----
stored=$(openssl x509 -in box/acme/ship.weft.test.crt -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
start_weft box2 -c box.yaml serve
wait_for 10 grep -q 'event=started' box2.log; ok $? "restarts"
like "$(cat box2.log)" 'msg="serving the stored certificate"' "it serves the stored certificate"
is "$(served "$T" ship.weft.test)" "$stored" "(the one on disk)"
like "$(cat box2.log)" 'msg="renewal scheduled" renew_at=[0-9]+ in_s=[0-9]+' "and schedules its renewal"
unlike "$(cat box2.log)" 'requesting a certificate' "without a new order"
stop_weft box2 TERM

# ---- tls-alpn-01, two names, on pebble's TLS validation port ----
cat >alpn.yaml <<YAML
state_dir: $TMP/alpn
control:
  listen: 127.0.0.1:$Q
  tls_listen: 127.0.0.1:$TP
  server_url: https://alpn.weft.test:$TP
  tls:
    acme:
      domains: [alpn.weft.test, www.alpn.weft.test]
      directory: https://127.0.0.1:$PA/dir
      ca_file: $TMP/ca.pem
      challenge: tls-alpn-01
YAML
start_weft alpn -c alpn.yaml serve control
wait_for 60 issued alpn 1; ok $? "a certificate for two names is issued (tls-alpn-01)"
is "$(grep -c 'challenge=tls-alpn-01 name=.*answered a validation handshake' alpn.log | awk '{print ($1 >= 2)}')" 1 \
    "pebble's acme-tls/1 handshakes for both names were answered on the TLS listener"
is "$(https www.alpn.weft.test "$TP" /health)" 200 "the certificate verifies for the second name"
stop_weft alpn TERM

# ---- a validation that fails: reported with the server's reason, retried later; the daemon runs on ----
cat >bad.yaml <<YAML
state_dir: $TMP/bad
control:
  listen: 127.0.0.1:$Q
  tls_listen: 127.0.0.1:$T
  server_url: https://bad.weft.test:$T
  tls:
    acme:
      domains: [bad.weft.test]
      directory: https://127.0.0.1:$PA/dir
      ca_file: $TMP/ca.pem
      http_listen: 127.0.0.1:$P
YAML
start_weft bad -c bad.yaml serve control
wait_for 60 grep -q 'result=failed' bad.log; ok $? "a validation pebble cannot complete (nothing answers on its http-01 port)"
like "$(cat bad.log)" 'level=error event=acme listener=127\.0\.0\.1:'"$T"' names=bad\.weft\.test result=failed error="bad\.weft\.test: the http-01 challenge failed \(authorization invalid\): .*(refused|connect).*" retry_in_s=120' \
    "is logged with the ACME server's reason and when it is tried again"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' --resolve bad.weft.test:$T:127.0.0.1 -k https://bad.weft.test:$T/health)" 200 \
    "meanwhile the listener serves (a placeholder certificate)"
kill -0 "$(weft_pid bad)"; ok $? "the daemon keeps running"
stop_weft bad TERM
done_testing
