#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Client admission through derp.verify_clients: a known key is admitted, an unknown one refused; with the URL
# down the relay fails closed (default) or open (verify_fail_open).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/derp_lib.sh"

KNOWN=$("$DERPC" --key-file "$TMP/known.key" --pubkey)
STRANGER=$("$DERPC" --key-file "$TMP/stranger.key" --pubkey)
V=$(free_port)
# the admission service: Allow only the known key, and log what it was asked
cat >"$TMP/verify.py" <<PY
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open("$TMP/asked", "a") as f:
            f.write(json.dumps(body) + "\n")
        ans = json.dumps({"Allow": body.get("NodePublic") == "nodekey:$KNOWN"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ans)))
        self.end_headers()
        self.wfile.write(ans)
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", $V), H).serve_forever()
PY
python3 "$TMP/verify.py" &
VPID=$!
on_exit "kill $VPID"
wait_for 5 curl -s -o /dev/null "http://127.0.0.1:$V/"

P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.verify_clients="http://127.0.0.1:$V/verify"; ok $? "relay starts with verify_clients"
out=$("$DERPC" --key-file "$TMP/known.key" --ping --timeout 5 "$U"); rc=$?
ok $rc "a known key is admitted"; like "$out" "pong ok" "and relays (ping answered)"
like "$(cat "$TMP/asked")" "\"NodePublic\": \"nodekey:$KNOWN\", \"Source\": \"127.0.0.1\"" \
    "the relay POSTs {NodePublic, Source}"
out=$("$DERPC" --key-file "$TMP/stranger.key" --ping --timeout 5 "$U"); rc=$?
is "$rc" 1 "an unknown key is refused"; like "$out" "disconnected" "its connection is closed"
like "$(cat "$TMP/r.log")" "event=refused key=nodekey:$STRANGER reason=\"admission URL said no\"" \
    "the relay refused it on the admission URL's answer"
unlike "$out" "pong" "before anything is relayed"
is "$(metric "$P" derp_admission_denied_total)" 1 "/metrics counts the refusal"

kill "$VPID"; wait "$VPID" 2>/dev/null
out=$("$DERPC" --key-file "$TMP/known.key" --ping --timeout 5 "$U"); rc=$?
is "$rc" 1 "admission URL down: fail closed by default"; unlike "$out" "pong" "(nothing relayed)"
like "$(cat "$TMP/r.log")" "event=refused key=nodekey:$KNOWN reason=\"admission URL unreachable\"" \
    "refused because the admission URL could not be reached"
stop_weft r TERM

P2=$(free_port)
start_relay r2 "$P2" -o derp.verify_clients="http://127.0.0.1:$V/verify" -o derp.verify_fail_open=true
out=$("$DERPC" --key-file "$TMP/stranger.key" --ping --timeout 5 "http://127.0.0.1:$P2/derp"); rc=$?
ok $rc "admission URL down and verify_fail_open: admitted"
like "$(cat "$TMP/r2.log")" "event=verify_error" "the failure is logged"
stop_weft r2 TERM
clean_logs r r2
done_testing
