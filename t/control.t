#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The control role end to end: the real binary (control + derp), the admin CLI, and test nodes speaking
# the real protocol (t/tools/tsnode: /key, Noise, HTTP/2, zstd map stream).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"

port=$(free_port)
url=http://127.0.0.1:$port
state=$TMP/state
args=(-o state_dir=$state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.keepalive=1s
      -o control.ephemeral_timeout=2s -o control.dns.base_domain=example.com)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
need_cmd python3
# node_by NAME FIELD: FIELD of the node called NAME in `weft nodes list --json` (empty if there is none)
node_by() {
    w nodes list --json | python3 -c 'import json,sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == sys.argv[1]: print(n[sys.argv[2]])' "$1" "$2"
}
# node_name ID: the name of node ID (empty if there is none)
node_name() {
    w nodes list --json | python3 -c 'import json,sys
print("".join(n["name"] for n in json.load(sys.stdin)["nodes"] if str(n["id"]) == sys.argv[1]))' "$1"
}
cd "$TMP" || exit 1

start_weft serve serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve (control + derp) starts"
is "$(stat -c %a "$state/control.sock")" 660 "admin socket is 0660"

out=$(w users create alice); ok $? "weft users create"
key=$(w authkeys create --user alice --reusable | tail -1)
like "$key" '^weft-auth-[0-9a-f]{48}$' "weft authkeys create prints the key on its last line"
single=$(w authkeys create --user alice | tail -1)
expired=$(w authkeys create --user alice --reusable --expiration 1s | tail -1)
eph=$(w authkeys create --user alice --reusable --ephemeral | tail -1)

out=$(node node1 register --authkey "$key")
like "$out" '^200 .*"MachineAuthorized":true' "register with a pre-auth key"
node node1 map 100 30 > n1.map 2>n1.err & # stopped below; keep-alives (1 s) may come first on a loaded machine
n1pid=$!
wait_for 5 test -s n1.map; ok $? "node1's first map arrives"
first=$(head -1 n1.map)
like "$first" '"Node":\{"ID":1,.*"Name":"node1.example.com.".*"MachineAuthorized":true' "first map: Node with its FQDN, authorized"
like "$first" '"Addresses":\["100.64.0.1/32","fd7a:115c:a1e0::1/128"\]' "host-prefix addresses"
like "$first" '"DERPMap":\{"Regions":\{"999":.*"HostName":"127.0.0.1".*"DERPPort":'"$port" "DERP map: region 999 at server_url"
like "$first" '"PacketFilters":\{"base":\[\{"SrcIPs":\["\*"\]' "explicit allow-all filter"
like "$first" '"DNSConfig":\{.*"Domains":\["example.com"\],"Proxied":true' "MagicDNS config"

sleep 0.3
t0=$(date +%s%3N)
out=$(node node2 register --authkey "$key")
t1=$(date +%s%3N)
like "$out" '^200 .*"MachineAuthorized":true' "a second node registers"
wait_for 3 grep -q '"PeersChanged":\[{"ID":2,' n1.map; ok $? "it arrives on node1's stream as PeersChanged"
d=$(( $(grep '"PeersChanged":\[{"ID":2,' n1.map | head -1 | cut -d' ' -f1) - t1 ))
ok $([ "$d" -lt 1000 ] && echo 0 || echo 1) "within 1 s of the registration's answer (${d} ms; the register call took $((t1 - t0)) ms)"
out=$(node node2 lite 198.51.100.7:41641,10.1.1.2:41641 999)
is "$out" "200 " "lite endpoint update: 200, empty"
wait_for 3 grep -q PeersChangedPatch n1.map
like "$(grep PeersChangedPatch n1.map)" '"PeersChangedPatch":\[\{"NodeID":2,"DERPRegion":999,"Endpoints":\["198.51.100.7:41641","10.1.1.2:41641"\]' "endpoints reach node1 as a patch"
keepalive_after_patch() { sed -n '/PeersChangedPatch/,$p' n1.map | grep -Eq '^[0-9]+ \{"KeepAlive":true\}$'; }
wait_for 5 keepalive_after_patch; ok $? "a keep-alive follows on a quiet stream"
kill $n1pid 2>/dev/null; wait $n1pid 2>/dev/null

like "$(node n3 register --authkey weft-auth-000000000000000000000000000000000000000000000000)" '"Error":"invalid auth key' "unknown key refused"
sleep 1.2
like "$(node n3 register --authkey "$expired")" '"Error":"auth key has expired' "expired key refused"
like "$(node n3 register --authkey "$single")" '"MachineAuthorized":true' "single-use key: first use"
like "$(node n4 register --authkey "$single")" '"Error":"auth key has already been used' "spent single-use key refused"
cp node1.node n5.node
like "$(node n5 register --authkey "$key")" '^401 ' "a node key registered under another machine key: 401"

out=$(node n6 register --hostname laptop)
like "$out" '"AuthURL":"'"$url"'/register/[0-9a-f]{24}"' "no auth key: an AuthURL"
authurl=$(echo "$out" | sed 's/.*"AuthURL":"\([^"]*\)".*/\1/')
out=$(http_get "$authurl")
like "$out" '^200 ' "the AuthURL page answers"
like "$out" 'weft nodes register --user USER [0-9a-f]{24}' "it shows the approving command"
node n6 register --hostname laptop --followup "$authurl" > n6.out &
f=$!
sleep 0.5
kill -0 $f; ok $? "the Followup request waits"
out=$(w nodes register --user alice "${authurl##*/}"); ok $? "weft nodes register approves it"
wait $f
like "$(cat n6.out)" '^200 .*"MachineAuthorized":true' "the waiting client is authorized"

"$TSNODE" "$url" "$TMP" node1 map 100 60 > n1b.map 2>&1 & # node1 watches the logout, the ephemeral node come and go
n1pid=$!
wait_for 5 test -s n1b.map
like "$(node node2 logout)" '"NodeKeyExpired":true' "logout"
wait_for 5 grep -q '"ID":2,.*"Expired":true' n1b.map; ok $? "the logout reaches peers"
like "$(node n7 register --authkey "$eph" --hostname eph)" '"MachineAuthorized":true' "an ephemeral node registers"
"$TSNODE" "$url" "$TMP" n7 map 100 60 > n7.map 2>&1 & # online until it is stopped
n7pid=$!
wait_for 30 grep -q '"Node":{"ID"' n7.map # (a loaded ASan build takes seconds to connect)
sleep 0.5
kill -0 $n7pid 2>/dev/null; ok $? "it connects and holds its stream"
t_offline=$(date +%s%3N) # (taken before the stop: the removal cannot come earlier than grace after it)
kill $n7pid 2>/dev/null; wait $n7pid 2>/dev/null
eph_id=$(sed -n 's/^[0-9]* {"Node":{"ID":\([0-9]*\),.*/\1/p' n7.map | head -1)
like "$eph_id" '^[0-9]+$' "its first map names its ID"
wait_for 10 grep -q '"PeersRemoved"' n1b.map
kill $n1pid 2>/dev/null; wait $n1pid 2>/dev/null
removed=$(grep -E '"PeersRemoved":\[' n1b.map | head -1)
like "$removed" '"PeersRemoved":\['"$eph_id"'\]' "the ephemeral node (ID $eph_id) is removed, peers told"
dt=$(( ${removed%% *} - t_offline ))
ok "$([ -n "$removed" ] && [ "$dt" -ge 2000 ] && echo 0 || echo 1)" \
    "no earlier than its grace period (2 s) after it went offline (${dt} ms after)"
is "$(node_by eph id)" "" "it is gone from the node list"
is "$(node_name 1)" node1 "the other nodes stay"

out=$(w nodes list --json)
like "$out" '"name":"laptop"' "weft nodes list --json"
laptop_id=$(node_by laptop id)
w nodes rename laptop desk >/dev/null; ok $? "weft nodes rename laptop desk"
is "$(node_name "$laptop_id")" desk "the node list shows node $laptop_id as desk"
is "$(node_by laptop id)" "" "and no node called laptop"
like "$(node node1 map 1 5)" '"Name":"desk\.example\.com\."' "peers' maps carry the new name"
like "$(w nodes list)" '^ID +NAME' "weft nodes list: a table"

# 200 registrations at once
pids=()
for i in $(seq 1 200); do node "c$i" register --authkey "$key" > "c$i.out" 2>&1 & pids+=($!); done
wait "${pids[@]}"
n=$(grep -l '"MachineAuthorized":true' c*.out | wc -l)
is "$n" 200 "200 concurrent registrations all succeed"
[ "$n" = 200 ] || diag "first failure: $(grep -L '"MachineAuthorized":true' c*.out | head -1 | xargs cat | head -5)"

# in-process DERP admission: the embedded relay asks control whether a node key is registered
DERPC=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/derpc
if [ -x "$DERPC" ]; then
    out=$("$DERPC" --key-file "$TMP/node1.node" --ping --timeout 5 "$url/derp"); rc=$?
    ok $rc "embedded relay admits a registered node key (asked in-process)"
    like "$out" "pong ok" "and relays for it"
    out=$("$DERPC" --key-file "$TMP/stranger.key" --ping --timeout 5 "$url/derp"); rc=$?
    stranger=$("$DERPC" --key-file "$TMP/stranger.key" --pubkey)
    is "$rc" 1 "embedded relay: a node key control does not know is turned away (derpc exit 1, not 2)"
    like "$out" '^disconnected' "its connection is closed"
    unlike "$out" "^connected|pong" "before it is admitted or anything is relayed"
    like "$(cat "$TMP/serve.log")" "module=derp event=refused key=nodekey:$stranger " "the relay logs the refusal of that key"
else
    skip "t/tools/derpc not built"
fi

before=$(w nodes list --json | grep -c '"id"')
# an interactive login shown its URL before the restart is approved after it (kept in the database)
out=$(node n9 register --hostname survivor)
like "$out" '"AuthURL":"'"$url"'/register/[0-9a-f]{24}"' "an interactive login before the restart"
authurl9=$(echo "$out" | sed 's/.*"AuthURL":"\([^"]*\)".*/\1/')
stop_weft serve TERM
is "$WEFT_RC" 0 "clean stop"
start_weft serve2 serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve2.log"
is "$(w nodes list --json | grep -c '"id"')" "$before" "all $before nodes after a restart"
like "$(node node1 register)" '"MachineAuthorized":true' "a known node logs in again without a key"
like "$(http_get "$authurl9" | tr '\n' ' ')" '^200 .*Register machine survivor' "its AuthURL page still answers after the restart"
node n9 register --hostname survivor --followup "$authurl9" > n9.out &
f9=$!
sleep 0.5
w nodes register --user alice "${authurl9##*/}" >/dev/null; ok $? "it is approved after the restart"
wait_for 5 grep -q '"MachineAuthorized":true' n9.out; ok $? "the client's Followup is answered"
kill $f9 2>/dev/null; wait $f9 2>/dev/null
before=$((before + 1))
for i in $(seq 201 230); do node "c$i" register --authkey "$key" > "c$i.out" 2>&1; done
stop_weft serve2 KILL
start_weft serve3 serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve3.log"
is "$(w nodes list --json | grep -c '"id"')" "$((before + 30))" "every registration answered before a kill -9 is kept"
stop_weft serve3 TERM
unlike "$(cat "$TMP/serve.log" "$TMP/serve3.log")" 'level=error' "no errors logged"
done_testing
