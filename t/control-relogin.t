#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Control behaviours seen with official clients (issue 10 item 14): LAST SEEN advances while a node is
# online; logging in again with an ephemeral key does not make an existing node ephemeral; a new
# hostname at a re-login (or in a map request) renames the node unless an admin named it, which
# survives a restart; optional endpoints answer 501 with {"error":"... not supported by this server"},
# the body the official client shows.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
B=${WEFT_BUILDDIR:-$(dirname "$0")/..}
TSNODE=$B/t/tools/tsnode CTLC=$B/t/tools/ctlc
[ -x "$TSNODE" ] && [ -x "$CTLC" ] || skip_all "t/tools/tsnode and t/tools/ctlc are not built"
need_cmd python3
cd "$TMP" || exit 1

port=$(free_port)
url=http://127.0.0.1:$port
args=(-o state_dir="$TMP/state" -o control.listen=127.0.0.1:$port -o control.server_url=$url
      -o control.keepalive=1s -o control.ephemeral_timeout=2s)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
# field NAME KEY: a node's field in weft nodes list --json
field() { w nodes list --json | python3 -c 'import json,sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == sys.argv[1] or str(n["id"]) == sys.argv[1]: print(n[sys.argv[2]])' "$@"; }
epoch() { python3 -c 'import sys,datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")).timestamp()))' "$1"; }

start_weft ctl serve control "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/ctl.log"; ok $? "weft serve control starts"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
eph=$(w authkeys create --user alice --reusable --ephemeral | tail -1)

# LAST SEEN while online
like "$(node a register --authkey "$key")" '"MachineAuthorized":true' "node a registers"
sleep 1.1
node a map 100 100 >a.map 2>&1 &
mp=$!
on_exit "kill $mp 2>/dev/null"
wait_for 5 test -s a.map
first=$(epoch "$(field a last_seen)")
sleep 3.2
second=$(epoch "$(field a last_seen)")
is "$(field a online)" True "a is online (its stream is open)"
ok $((second >= first + 2 ? 0 : 1)) "LAST SEEN advances while it streams ($first -> $second)"
kill $mp; wait $mp 2>/dev/null
like "$(w nodes list)" '^ID +NAME .*LAST SEEN' "weft nodes list has the column"

# an ephemeral key at a re-login
like "$(node b register --authkey "$key")" '"MachineAuthorized":true' "node b registers with a regular key"
rm b.node
like "$(node b register --authkey "$eph")" '"MachineAuthorized":true' "it logs in again (a new node key) with an ephemeral key"
is "$(field b ephemeral)" False "it is still not ephemeral"
node b map 1 5 >/dev/null 2>&1
sleep 3
is "$(field b id)" 2 "nor is it removed when it has been offline past ephemeral_timeout"

# a new hostname at an interactive re-login
node c register --authkey "$key" --hostname laptop >/dev/null
is "$(field 3 name)" laptop "node c registers as laptop"
rm c.node
out=$(node c register --hostname desk)
like "$out" '"AuthURL":"' "an interactive re-login with --hostname desk"
authurl=$(sed 's/.*"AuthURL":"\([^"]*\)".*/\1/' <<<"$out")
w nodes register --user alice "${authurl##*/}" >/dev/null; ok $? "approved"
is "$(field 3 name)" desk "the node is now called desk"
is "$(field 3 hostname)" desk "and its hostname is desk"
like "$(node c register --hostname desk2)" '"MachineAuthorized":true' "logging in again with the same key as desk2"
is "$(field 3 name)" desk2 "renames it too"
node c map 1 5 >c.map 2>&1
like "$(cat c.map)" '"Name":"desk2\.' "the node's own map has its new name"

# unless an admin named it
w nodes rename desk2 mybox >/dev/null; ok $? "an admin renames it mybox"
node c register --hostname other >/dev/null
is "$(field 3 name)" mybox "a new hostname no longer renames it"
is "$(field 3 hostname)" other "(the hostname it reports is still recorded)"
stop_weft ctl TERM
start_weft ctl2 serve control "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/ctl2.log"
node c register --hostname third >/dev/null
is "$(field 3 name)" mybox "an admin's name survives a restart"

# optional endpoints
out=$("$CTLC" "$url" 'POST:/machine/feature/query:{"Feature":"serve"}' POST:/machine/set-dns:{} 2>&1)
like "$out" '^response POST:/machine/feature/query:\S+ 501 [0-9]+ \{"error":"the feature \\"serve\\" is not supported by this server \(weft\)"\}' \
    "/machine/feature/query: 501 with the error the client shows" || diag "$out"
like "$out" '^response POST:/machine/set-dns:\{\} 501 [0-9]+ \{"error":"/machine/set-dns is not supported by this server \(weft\)"\}' \
    "/machine/set-dns: the same form" || diag "$out"

stop_weft ctl2 TERM; is "$WEFT_RC" 0 "clean exit"
unlike "$(cat "$TMP/ctl.log" "$TMP/ctl2.log")" '^level=error' "no errors logged"
done_testing
