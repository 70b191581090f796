#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Map streams whose client stops reading or goes away (spec control-ts2021.md §7.3, netmap.md: OnlineChange):
# a client that stops reading (SIGSTOP) while peers' changes keep coming falls behind by more than
# control.stream_queue_max: its stream is ended, the node is marked offline and its peers are told; the
# others' streams go on; when it reads again it finds its stream ended, and reconnecting gives it a full
# map. A client killed outright (its stream gone mid-write) is marked offline the same way. The changes
# are endpoint updates from t/tools/tsnode churn (random endpoints, so the deltas do not compress away).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3

port=$(free_port)
url=http://127.0.0.1:$port
args=(-o state_dir=$TMP/state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.keepalive=1s
      -o control.batch_delay=0 -o control.stream_queue_max=65536)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; } # (run in the background as "$TSNODE" itself, so $! is its PID)
online() { # online ID: the node's online flag in `weft nodes list --json`
    w nodes list --json | python3 -c 'import json,sys
print(next(str(n["online"]) for n in json.load(sys.stdin)["nodes"] if str(n["id"]) == sys.argv[1]))' "$1"
}
first_id() { sed -n '1s/^[0-9]* {"Node":{"ID":\([0-9]*\),.*/\1/p' "$1"; }
messages() { grep -c '^[0-9]* {' "$1"; }
cd "$TMP" || exit 1

start_weft serve serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve starts with stream_queue_max=65536"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
for n in watch slow gone churn; do node "$n" register --authkey "$key" >/dev/null; done

"$TSNODE" "$url" "$TMP" watch map 1000000 600 > watch.map 2>watch.err & # a peer that keeps reading
watch=$!
"$TSNODE" "$url" "$TMP" slow map 1000000 600 > slow.map 2>slow.err &    # the one that will stop reading
slow=$!
"$TSNODE" "$url" "$TMP" gone map 1000000 600 > gone.map 2>gone.err &    # the one that will be killed
gone=$!
on_exit "kill -9 $watch $slow $gone"
wait_for 10 sh -c "test -s watch.map && test -s slow.map && test -s gone.map"; ok $? "three nodes hold map streams"
slow_id=$(first_id slow.map) gone_id=$(first_id gone.map) watch_id=$(first_id watch.map)
like "$slow_id $gone_id $watch_id" '^[0-9]+ [0-9]+ [0-9]+$' "their IDs: slow $slow_id, gone $gone_id, watch $watch_id"
all_online() { [ "$(online "$slow_id") $(online "$gone_id") $(online "$watch_id")" = "True True True" ]; }
wait_for 5 all_online
is "$(online "$slow_id") $(online "$gone_id")" "True True" "control lists them online"

# a client that goes away: its stream is gone, the node is offline, peers are told
kill -9 $gone; wait $gone 2>/dev/null
wait_for 10 told watch.map "m.get('OnlineChange', {}).get('$gone_id') is False"
ok $? "a killed client: peers get OnlineChange {$gone_id: false}"
is "$(online "$gone_id")" False "and control lists it offline"

# a client that stops reading while changes keep coming
kill -STOP $slow
before=$(messages watch.map)
"$TSNODE" "$url" "$TMP" churn churn 100000 200 > churn.out 2>&1 &
churn=$!
on_exit "kill $churn"
wait_for 120 grep -q "event=stream_slow node=$slow_id " serve.log
ok $? "a client that stops reading is ended once it falls behind (event=stream_slow node=$slow_id)"
wait_for 10 told watch.map "m.get('OnlineChange', {}).get('$slow_id') is False"
ok $? "peers get OnlineChange {$slow_id: false}"
is "$(online "$slow_id")" False "control lists it offline"
kill $churn 2>/dev/null; wait $churn 2>/dev/null
n=$(messages watch.map)
ok "$([ "$n" -gt $((before + 100)) ] && echo 0 || echo 1)" "the reading peer kept getting the deltas ($((n - before)) messages)"
is "$(online "$watch_id")" True "and stays online"
unlike "$(grep stream_slow serve.log)" "node=$watch_id " "its stream was not ended"

# the stopped client reads again: it finds its stream ended, and a reconnect gives it a full map
kill -CONT $slow
wait_for 20 sh -c "! kill -0 $slow 2>/dev/null"; ok $? "the stopped client, reading again, sees its stream end"
like "$(cat slow.err)" 'the server ended the stream after [0-9]+ message' "ended by the server (not a transport error)"
out=$(node slow map 1 10)
like "$out" '^[0-9]+ \{"Node":\{"ID":'"$slow_id"',.*"Peers":\[' "reconnecting, it gets a full map"

stop_weft serve TERM
is "$WEFT_RC" 0 "clean stop"
unlike "$(cat "$TMP/serve.log")" 'level=error' "no errors logged"
done_testing
