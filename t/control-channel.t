#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The control channel against the real binary: `weft serve control`, then t/tools/ctlc
# (core/control_client) does GET /key, the ts2021 upgrade and Noise handshake, reads the early payload and
# calls endpoints; malformed handshakes and garbage are refused while good clients keep working; 200
# clients at once.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
need_cmd curl
CTLC=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/ctlc
[ -x "$CTLC" ] || skip_all "t/tools/ctlc is not built"
export WEFT_CONFIG=/nonexistent/weft.yaml

port=$(free_port)
url=http://127.0.0.1:$port
cd "$TMP" || exit 1
start_weft ctl serve control -o control.listen=127.0.0.1:$port -o state_dir="$TMP/state" \
    -o control.server_url=$url
wait_for 10 grep -q 'event=started' "$TMP/ctl.log"; ok $? "weft serve control starts"
is "$(stat -c %a "$TMP/state/control.key" 2>/dev/null)" 600 "the control key is created 0600 in the state dir"

out=$(http_get "$url/key?v=97")
like "$out" '^200 \{"legacyPublicKey":"mkey:0{64}","publicKey":"mkey:[0-9a-f]{64}"\}$' \
    "GET /key?v=97: 200 and both keys"
mkey=$(printf '%s' "$out" | sed -n 's/.*"publicKey":"\(mkey:[0-9a-f]*\)".*/\1/p')
like "$(grep event=control_key "$TMP/ctl.log")" "public=$mkey" "it is the key the server logged"
like "$(http_get "$url/key")" '^400 ' "GET /key without v: 400"
like "$(curl -s -D - -o /dev/null "$url/key?v=97")" '[Cc]ontent-[Tt]ype: application/json' \
    "/key is application/json"

out=$("$CTLC" -e "$mkey" "$url" POST:/machine/nothing-here:{} POST:/machine/set-dns:{} GET:/machine/whoami \
      POST:/machine/register:{} 2>&1); rc=$?
is "$rc" 0 "ctlc: /key, handshake, requests"
like "$out" "^key $mkey\$" "the Noise handshake succeeds with the key /key gave"
like "$out" '^early \{"nodeKeyChallenge":"chalpub:[0-9a-f]{64}"\}$' "the early payload has a node-key challenge"
like "$out" '^response POST:/machine/nothing-here:\{\} 404 19 404 page not found' "an unknown path: 404"
like "$out" '^response POST:/machine/set-dns:\{\} 501 ' "an optional endpoint: 501"
like "$out" '^response GET:/machine/whoami 501 ' "another optional one: 501"
like "$out" '^response POST:\/machine\/register:\{\} 400 ' "register is routed (an empty RegisterRequest: 400)"

out=$("$CTLC" -V 40 "$url" POST:/machine/x 2>&1)
like "$out" '^early none$' "capability 40 (< 49) gets no early payload"
like "$out" '^response POST:/machine/x 404' "and works"
out=$("$CTLC" -V 20 "$url" 2>&1)
like "$out" 'server error: "unsupported client version"' "capability 20 is refused with the Noise error frame"
other=mkey:2f3c1a9e5c2d8e7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa99
out=$("$CTLC" -c $other "$url" 2>&1)
like "$out" 'server error: "handshake failed"' "a handshake for another control key is refused"

# malformed upgrades
out=$("$CTLC" -r AAAA "$url" 2>&1)
like "$out" '^status 101' "a short initiation: 101 ..."
like "$out" '^error-frame wrong handshake initiation size$' "... then the error frame"
out=$("$CTLC" -r 'not*base64' "$url" 2>&1)
like "$out" '^status 400' "an undecodable handshake header: 400"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Upgrade: websocket-nope' \
    -H 'X-Tailscale-Handshake: AAAA' "$url/ts2021")
is "$code" 400 "a wrong Upgrade header: 400"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/ts2021")" 400 "no Upgrade header: 400"
out=$("$CTLC" -g -c "$mkey" "$url" 2>&1)
like "$out" '^handshake ok' "garbage after a good handshake ..."
like "$out" '^closed$' "... gets the connection dropped"
printf 'POST /ts2021 HTTP/1.1\r\nHost: x\r\nUpgrade: tailscale-control-protocol\r\n%s\r\n\r\n%s' \
    "Connection: upgrade\r\nX-Tailscale-Handshake: $(head -c 101 /dev/urandom | base64 -w0)" \
    "$(head -c 500 /dev/urandom | base64 -w0)" |
    curl -s -m 3 telnet://127.0.0.1:$port >/dev/null 2>&1
out=$("$CTLC" "$url" POST:/machine/x 2>&1)
like "$out" '^response POST:/machine/x 404' "a good client still works after all that"

# many at once
out=$("$CTLC" -c "$mkey" -n 200 -t 30000 "$url" POST:/machine/set-dns:{} 2>&1); rc=$?
is "$rc" 0 "200 clients at once"
like "$out" '^clients 200 ready 200 answered 200$' "all 200 handshake and get their answer"

kill -0 "$(weft_pid ctl)"; ok $? "the server is still running"
stop_weft ctl TERM
is "$WEFT_RC" 0 "SIGTERM: a clean exit"
unlike "$(cat "$TMP/ctl.log")" 'level=error' "no errors logged"
done_testing
