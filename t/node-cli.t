#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The node daemon and its CLI without privileges (no TUN: node.tun=none): identity files, the local API
# socket, `weft status` before login, clear errors (no daemon, control unreachable, login refused), then
# a real login to weft control on loopback: Running, peers listed, `weft ip`, restart keeps the identity
# and the addresses, down / up, logout.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
need_cmd python3
cd "$TMP" || exit 1

port=$(free_port)
url=http://127.0.0.1:$port
srv=(-o state_dir=$TMP/srv -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
     -o derp.stun_listen= -o control.server_url=$url)
w() { "$WEFT" "$@" "${srv[@]}"; }

# node NAME: the daemon's options; cli NAME VERB ARGS: the CLI against its socket
nodeargs() { echo "-o state_dir=$TMP/$1 -o node.socket=$TMP/$1.sock -o node.tun=none -o node.port=0"; }
cli() { local n=$1 v=$2; shift 2; "$WEFT" "$v" --socket "$TMP/$n.sock" "$@"; }
start_node() { start_weft "$1" serve node $(nodeargs "$1"); wait_for 10 test -S "$TMP/$1.sock"; }
has() { cli "$1" status | grep -Eq -- "$2"; } # has NAME REGEX: its `weft status` matches

# no daemon
out=$(cli nobody status 2>&1); rc=$?
is "$rc" 1 "status without a daemon fails"
like "$out" "cannot reach the node daemon: no socket at $TMP/nobody.sock" "and says there is no daemon at the socket"

start_node a; ok $? "weft serve node starts and opens its socket"
is "$(stat -c %a "$TMP/a.sock")" 600 "the socket is 0600"
for f in node-machine.key node-nodekey.key node-disco.key; do
    is "$(stat -c %a "$TMP/a/$f")" 600 "$f is 0600"
done
out=$(cli a status); rc=$?
is "$rc" 1 "status exits 1 when not running"
like "$out" '^# NoState' "a fresh node is in NoState"
like "$out" '^# not logged in to a tailnet yet: weft up --login-server=URL' "and status says what to do"
json=$(cli a status --json)
like "$json" '"NodeKey":"nodekey:[0-9a-f]{64}"' "status --json shows the node key"
mkey=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Self"]["MachineKey"])')

# control unreachable
out=$(cli a up --login-server http://127.0.0.1:1 --timeout 5 2>&1); rc=$?
is "$rc" 1 "up against a closed port fails"
like "$out" 'control unreachable' "and says control is unreachable"
like "$(cli a status)" 'control unreachable' "status shows the last error"
out=$(cli a up --login-server ftp://x 2>&1)
like "$out" 'want http://HOST' "a malformed login server is refused"

# weft control on loopback
start_weft srv serve control derp "${srv[@]}"
wait_for 10 grep -q 'event=started' "$TMP/srv.log"; ok $? "weft control + derp start"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)

bad=weft-auth-000000000000000000000000000000000000000000000000
out=$(cli a up --login-server "$url" --authkey $bad 2>&1); rc=$?
is "$rc" 1 "up with an unknown key fails"
like "$out" 'login refused: .*invalid auth key' "and says the login was refused, and why"

out=$(cli a up --login-server "$url" --authkey "$key" --hostname alpha 2>&1); rc=$?
is "$rc" 0 "up with a pre-auth key"
out=$(cli a status)
like "$out" '^# Running' "the node is Running"
like "$out" '^# no peers yet: the other nodes of the tailnet appear here as they join$' "alone, status says so"
is "$(cli a ip -4)" 100.64.0.1 "weft ip -4"
is "$(cli a ip -6)" fd7a:115c:a1e0::1 "weft ip -6"

start_node b
out=$(cli b up --login-server "$url" --authkey "$key" --hostname beta 2>&1)
ok $? "a second node logs in" || diag "$out" "$(grep -E "warn|error" "$TMP/b.log" | head -5)"
wait_for 3 has a 'beta .*online'; ok $? "the first sees the second online"
# through relay region 999, or directly when this host has an address both nodes can use (disco)
like "$(cli b status)" 'alpha +linux +online +(relay "weft" \(999\)|direct [^ ]+, handshake)' \
    "and the second sees the first, through relay region 999 or directly"
is "$(cli a ip beta)" "$(printf '100.64.0.2\nfd7a:115c:a1e0::2')" "weft ip PEER"
out=$(cli a ip nosuch 2>&1)
like "$out" "no peer 'nosuch'" "weft ip with an unknown peer says so"

# a restart keeps the identity and the addresses, and logs in again by itself
stop_weft a
start_node a
wait_for 10 has a '^# Running'; ok $? "after a restart the node is Running again"
json=$(cli a status --json)
like "$json" "\"MachineKey\":\"$mkey\"" "same machine key"
is "$(cli a ip -4)" 100.64.0.1 "same address"

# down: peers see it offline; up: back
cli a down; ok $? "weft down"
like "$(cli a status)" '^# Stopped' "the node is Stopped"
wait_for 3 has b 'alpha .*offline'; ok $? "the peer sees it offline"
stop_weft a
start_node a
like "$(cli a status)" '^# Stopped' "it stays down across a restart"
cli a up >/dev/null 2>&1; ok $? "weft up (the stored login server)"
wait_for 3 has b 'alpha .*online'; ok $? "the peer sees it online again"

# logout: control expires the node, the peer sees it, the node forgets its key
old=$(cli a status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Self"]["NodeKey"])')
cli a logout; ok $? "weft logout"
like "$(cli a status)" '^# NeedsLogin' "the node needs a login"
wait_for 3 has b 'alpha .*expired'; ok $? "the peer sees it expired"
new=$(cli a status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Self"]["NodeKey"])')
ok "$([ "$old" != "$new" ] && echo 0 || echo 1)" "a new node key after logout"

# interactive login: `up` prints the URL and waits; an admin approves it; `up` returns Running
start_node c
cli c up --login-server "$url" --hostname gamma --timeout 20 >"$TMP/c.up" 2>&1 &
uppid=$!
wait_for 5 grep -q 'To authenticate, visit' "$TMP/c.up"; ok $? "interactive up prints where to log in"
authurl=$(grep -Eo 'https?://[^ ]+/register/[^ ]+' "$TMP/c.up" | head -1)
like "$authurl" "^$url/register/" "a URL on the login server"
like "$(cli c status)" '^# NeedsLogin' "the node waits in NeedsLogin"
w nodes register --user alice "$authurl" >/dev/null; ok $? "the admin approves it"
wait $uppid; ok $? "and up finishes"
like "$(cli c status)" '^# Running' "the node is Running"
stop_weft c

# node-key rotation: keys that expire 6 s after registration are renewed before they do, same node
stop_weft srv
start_weft srv serve control derp "${srv[@]}" -o control.node_expiry=6s
wait_for 10 grep -q 'event=started' "$TMP/srv.log"
start_node d
cli d up --login-server "$url" --authkey "$key" --hostname delta >/dev/null 2>&1; ok $? "a node with expiring keys"
k1=$(cli d status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Self"]["NodeKey"])')
ip1=$(cli d ip -4)
newkey() { [ "$(cli d status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Self"]["NodeKey"])')" != "$k1" ]; }
wait_for 10 newkey; ok $? "its node key is rotated before it expires"
wait_for 5 has d '^# Running'; ok $? "still Running"
sleep 3
like "$(cli d status)" '^# Running' "and Running past the first key's expiry"
is "$(cli d ip -4)" "$ip1" "the same node (same address)"
like "$(cat "$TMP/d.log")" 'event=node_key_rotated' "the rotation is logged"
stop_weft d

stop_weft b TERM
is "$WEFT_RC" 0 "the daemon exits 0 on SIGTERM"
ok "$([ ! -e "$TMP/b.sock" ] && echo 0 || echo 1)" "and removes its socket"
unlike "$(cat "$TMP/b.log")" 'level=error' "no errors logged by the second node"
[ -n "${WEFT_KEEP_LOGS:-}" ] && cp "$TMP"/*.log "$WEFT_KEEP_LOGS"/ # debugging: keep the daemons' logs
done_testing
