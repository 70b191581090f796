#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The relay on a TLS listener (certificate and key from config): clients verify it against a CA file or pin
# its certificate; an unverifiable certificate is refused.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"
need_cmd openssl

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    >/dev/null 2>&1 || skip_all "openssl cannot make a test certificate"
P=$(free_port); T=$(free_port)
while [ "$T" = "$P" ]; do T=$(free_port); done
start_relay r "$P" -o derp.tls_listen=127.0.0.1:"$T" -o derp.tls_cert="$TMP/cert.pem" \
    -o derp.tls_key="$TMP/key.pem"; ok $? "relay starts with a TLS listener"

out=$("$DERPC" --ca-file "$TMP/cert.pem" --ping --timeout 20 "https://localhost:$T/derp")
like "$out" "pong ok" "a client verifying against a CA file relays over TLS"
out=$("$DERPC" --pin "$TMP/cert.pem" --ping --timeout 20 "https://127.0.0.1:$T/derp")
like "$out" "pong ok" "a client pinning the certificate too"
out=$("$DERPC" --ping --timeout 20 "https://localhost:$T/derp"); rc=$?
is "$rc" 1 "a client verifying against the system store refuses the self-signed certificate"
like "$out" "disconnected TLS handshake" "with a TLS error"
out=$(curl -s -m 5 -i --cacert "$TMP/cert.pem" "https://localhost:$T/derp/probe")
like "$out" "^HTTP/[12](\.1)? 200" "the HTTP endpoints answer on the TLS listener"
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
derpc_bg b --key-file "$TMP/b.key" --expect 100 --from "$A" --timeout 30 "http://127.0.0.1:$P/derp"
wait_for 5 out_has b connected
"$DERPC" --key-file "$TMP/a.key" --ca-file "$TMP/cert.pem" --send-to "$B" --count 100 --size 1300 --timeout 20 "https://localhost:$T/derp" \
    >/dev/null 2>&1
derpc_wait b; ok $? "a TLS client reaches a plain-HTTP client of the same relay"
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"
clean_logs r
done_testing
