#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The access policy end to end: the real binary, test nodes speaking the real protocol (t/tools/tsnode),
# the maps they receive. A policy file that lets one node reach another on one port in one direction;
# a reload that changes it (the file replaced: inotify; SIGHUP); a bad policy refused with the old one
# kept; the database mode and `weft policy get|set|check`.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"

port=$(free_port)
url=http://127.0.0.1:$port
state=$TMP/state
args=(-o state_dir=$state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.dns.base_domain=example.com)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
cd "$TMP" || exit 1

# the nodes get IDs and addresses in registration order: alice1 1 (100.64.0.1, fd7a:115c:a1e0::1), bob1 2,
# carol1 3
A4=100.64.0.1 A6=fd7a:115c:a1e0::1 B4=100.64.0.2 B6=fd7a:115c:a1e0::2 C4=100.64.0.3 C6=fd7a:115c:a1e0::3

cat > policy.hujson <<'EOF'
{
    // alice may reach bob's SSH port; nothing else is allowed
    "acls": [
        {"action": "accept", "src": ["alice@"], "dst": ["bob@:22"]},
    ],
}
EOF
start_weft serve serve "${args[@]}" -o control.policy.path="$TMP/policy.hujson"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve starts with a policy file"
like "$(cat serve.log)" "event=policy result=loaded source=$TMP/policy.hujson" "the policy is loaded"

for u in alice bob carol; do
    w users create $u >/dev/null
    key=$(w authkeys create --user $u | tail -1)
    like "$(node ${u}1 register --authkey "$key" --hostname ${u}1)" '^200 .*"MachineAuthorized":true' "$u's node registers"
done

node alice1 map 6 40 > a.map 2>a.err &
apid=$!
node bob1 map 6 40 > b.map 2>b.err &
bpid=$!
node carol1 map 6 40 > c.map 2>c.err &
cpid=$!
wait_for 10 test -s a.map -a -s b.map -a -s c.map; ok $? "the three streams open"
a=$(head -1 a.map); b=$(head -1 b.map); c=$(head -1 c.map)

like "$b" '"PacketFilters":\{"base":\[\{"SrcIPs":\["'$A4'","'$A6'"\],"DstPorts":\[\{"IP":"'$B4'","Ports":\{"First":22,"Last":22\}\},\{"IP":"'$B6'","Ports":\{"First":22,"Last":22\}\}\]\}\]\}' \
    "bob's filter: alice's addresses to bob's, port 22 only"
like "$b" '"Peers":\[\{"ID":1,' "bob sees alice (she may reach him)"
unlike "$b" 'carol1\.example\.com' "bob does not see carol"
like "$a" '"PacketFilters":\{"base":\[\]\}' "alice's filter: nothing may reach her"
like "$a" '"Peers":\[\{"ID":2,' "alice sees bob (she may reach him)"
unlike "$a" 'carol1\.example\.com' "alice does not see carol"
like "$c" '"PacketFilters":\{"base":\[\]\}' "carol's filter: nothing may reach her"
unlike "$c" '"Peers"' "carol sees nobody"

# a change of alice's endpoints reaches those who see her (bob), not carol
out=$(node alice1 lite 198.51.100.7:41641 999)
is "$out" "200 " "alice's lite endpoint update"
wait_for 10 grep -q '"PeersChangedPatch":\[{"NodeID":1,' b.map; ok $? "bob gets it as a patch"
sleep 0.5
unlike "$(tail -n +2 c.map)" 'PeersChangedPatch' "carol, who may not see alice, gets nothing"

# a new policy: bob may reach alice on 80, carol may reach bob on 443. Written beside and renamed over
# the file, as editors do: the server sees the change (inotify) and reloads.
cat > policy.new <<'EOF'
{
    "acls": [
        {"action": "accept", "src": ["bob@"], "dst": ["alice@:80"]},
        {"action": "accept", "src": ["carol@"], "dst": ["bob@:443"]},
    ],
}
EOF
mv policy.new policy.hujson
wait_for 10 grep -q '"First":80' a.map; ok $? "the changed file reaches alice's stream"
like "$(grep '"First":80' a.map)" '"PacketFilters":\{"base":\[\{"SrcIPs":\["'$B4'","'$B6'"\],"DstPorts":\[\{"IP":"'$A4'","Ports":\{"First":80,"Last":80\}\}' \
    "alice's new filter: bob's addresses to hers, port 80"
unlike "$(tail -n +2 a.map)" '"Peers(Changed|Removed)"' "alice's peers did not change (she still sees bob)"
wait_for 10 grep -q '"First":443' b.map; ok $? "and bob's stream"
like "$(grep '"First":443' b.map)" '"SrcIPs":\["'$C4'","'$C6'"\]' "bob's new filter: carol's addresses, port 443"
like "$(tail -n +2 b.map)" '"PeersChanged":\[\{"ID":3,' "bob now sees carol: PeersChanged"
wait_for 10 grep -q '"PeersChanged":\[{"ID":2,' c.map; ok $? "carol now sees bob: PeersChanged on her stream"
unlike "$(tail -n +2 c.map)" '"PacketFilters"' "carol's filter did not change: nothing sent"

# a policy that does not parse: refused with its place, the one in force stays
lines_a=$(wc -l < a.map)
printf '{\n  "acls": [\n    {"action": "accept", "src": ["tag:nonexistent"], "dst": ["bob@:22"]},\n  ],\n}\n' > bad.hujson
cp bad.hujson policy.new && mv policy.new policy.hujson
wait_for 10 grep -q 'result=refused' serve.log; ok $? "a bad policy is refused"
like "$(cat serve.log)" 'policy.hujson:3:34: src=tag not found: .*tag:nonexistent' \
    "the log names the file, line and column and why"
sleep 1
is "$(wc -l < a.map)" "$lines_a" "the streams get nothing from a refused policy"
w policy get > got.hujson
grep -q '"carol@"' got.hujson; ok $? "weft policy get: the policy in force is still the previous one"
out=$(w policy set policy.hujson 2>&1); rc=$?
is "$rc" 1 "weft policy set is refused in file mode"
like "$out" "mode is file" "and says to edit the file"

# SIGHUP re-reads (the file is good again: the same text as in force changes nothing)
cat > policy.new <<'EOF'
{
    "acls": [
        {"action": "accept", "src": ["bob@"], "dst": ["alice@:80"]},
        {"action": "accept", "src": ["carol@"], "dst": ["bob@:443"]},
    ],
}
EOF
mv policy.new policy.hujson
sleep 0.5
kill -HUP "$(weft_pid serve)"
wait_for 10 grep -q 'event=reload module=control result=applied' serve.log; ok $? "SIGHUP: control reloads the policy"
# where SSH "check" rules send a node: refused with a message (weft has no re-authentication flow)
CTLC=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/ctlc
if [ -x "$CTLC" ]; then
    out=$("$CTLC" "$url" 'GET:/machine/ssh/action/1/to/2?local_user=root' 2>&1)
    like "$out" '^response GET:/machine/ssh/action/1/to/2\?local_user=root 200 .*"reject":true,"message":"weft: SSH check' \
        "an SSH check action is refused with a message"
else
    skip "t/tools/ctlc not built"
fi
kill "$apid" "$bpid" "$cpid" 2>/dev/null
wait "$apid" "$bpid" "$cpid" 2>/dev/null
stop_weft serve TERM
is "$WEFT_RC" 0 "clean stop"

# ---- database mode and weft policy get | set | check ----
start_weft db serve "${args[@]}" -o control.policy.mode=database
wait_for 10 grep -q 'event=started' "$TMP/db.log"; ok $? "weft serve starts in database mode"
out=$(w policy get 2>&1); rc=$?
ok $rc "weft policy get without a policy"
like "$out" "no policy" "says there is none (every node may reach every other)"
node bob1 map 1 10 > b2.map 2>/dev/null
like "$(head -1 b2.map)" '"PacketFilters":\{"base":\[\{"SrcIPs":\["\*"\]' "without a policy: allow-all"
like "$(head -1 b2.map)" '"Peers":\[\{"ID":1,.*\{"ID":3,' "and every node sees every other"

out=$(w policy set bad.hujson 2>&1); rc=$?
is "$rc" 1 "weft policy set refuses a bad policy (exit 1)"
like "$out" '^bad.hujson:3:34: src=tag not found: "tag:nonexistent"$' "with FILE:LINE:COL: message"
out=$(w policy check bad.hujson 2>&1); rc=$?
is "$rc" 1 "weft policy check finds the same offline"
like "$out" '^bad.hujson:3:34: src=tag not found' "with its place"

cat > tests.hujson <<'EOF'
{
    "acls": [{"action": "accept", "src": ["alice@"], "dst": ["bob@:22"]}],
    // a test that holds, and one that does not
    "tests": [
        {"src": "alice@", "accept": ["bob@:22"], "deny": ["bob@:80"]},
        {"src": "carol@", "accept": ["bob@:22"]},
    ],
}
EOF
out=$(w policy check tests.hujson 2>&1); ok $? "weft policy check without --topology: the file is well-formed"
like "$out" "tests need a tailnet" "and says its tests need a tailnet"
out=$(w policy check tests.hujson --topology current 2>&1); rc=$?
is "$rc" 1 "with --topology current the failing test fails it"
like "$out" '^tests.hujson:6:9: test failed: carol@ -> bob@:22' "naming the test and what failed"
unlike "$out" 'alice@' "the passing test is not reported"
out=$(w policy set tests.hujson 2>&1); rc=$?
is "$rc" 1 "weft policy set refuses a policy whose tests fail"

node bob1 map 3 6 > b3.map 2>/dev/null &
bpid=$!
node alice1 map 3 6 > a3.map 2>/dev/null &
apid=$!
wait_for 5 test -s b3.map -a -s a3.map
out=$(w policy set policy.hujson); ok $? "weft policy set puts a good policy in force"
like "$out" "in force" "and says so"
wait $bpid $apid
like "$(tail -n +2 b3.map)" '"PacketFilters":\{"base":\[\{"SrcIPs":\["'$C4'","'$C6'"\]' "bob's open stream gets his new filter"
like "$(tail -n +2 a3.map)" '"PeersRemoved":\[3\]' "carol is no longer visible to alice: PeersRemoved"
unlike "$(tail -n +2 b3.map)" '"PeersRemoved"' "bob still sees both"
like "$(w policy get)" '"carol@"' "weft policy get prints it"
stop_weft db TERM
start_weft db2 serve "${args[@]}" -o control.policy.mode=database
wait_for 10 grep -q 'event=started' "$TMP/db2.log"
like "$(cat db2.log)" 'event=policy result=loaded source=database' "after a restart the stored policy is in force"
stop_weft db2 TERM
is "$WEFT_RC" 0 "clean stop"

# ---- control.packet_filter_file: every node's filter while no policy is in force ----
echo '[{"SrcIPs":["'$A4'"],"DstPorts":[{"IP":"*","Ports":{"First":7,"Last":7}}]}]' > filter.json
start_weft pf serve "${args[@]}" -o control.packet_filter_file="$TMP/filter.json"
wait_for 10 grep -q 'event=started' "$TMP/pf.log"; ok $? "weft serve starts with a packet filter file and no policy"
node bob1 map 1 10 > b4.map 2>/dev/null
like "$(head -1 b4.map)" '"PacketFilters":\{"base":\[\{"SrcIPs":\["'$A4'"\],"DstPorts":\[\{"IP":"\*","Ports":\{"First":7,"Last":7\}\}\]\}\]\}' \
    "without a policy: the file's filter, as written"
like "$(head -1 b4.map)" '"Peers":\[\{"ID":1,.*\{"ID":3,' "and every node is a peer (the file says nothing of visibility)"
stop_weft pf TERM
start_weft pf2 serve "${args[@]}" -o control.policy.mode=database -o control.packet_filter_file="$TMP/filter.json"
wait_for 10 grep -q 'event=started' "$TMP/pf2.log"; ok $? "weft serve starts with both the stored policy and the file"
node bob1 map 1 10 > b5.map 2>/dev/null
like "$(head -1 b5.map)" '"PacketFilters":\{"base":\[\{"SrcIPs":\["'$C4'","'$C6'"\]' "the policy in force wins over the file"
like "$(cat pf2.log)" 'level=warn.*a policy is in force: nodes get its filters, not control.packet_filter_file' \
    "and control warns that the file is not used"
stop_weft pf2 TERM
is "$WEFT_RC" 0 "clean stop"
echo '{"SrcIPs": "*"}' > notarray.json
start_weft pf3 serve "${args[@]}" -o control.packet_filter_file="$TMP/notarray.json"
wait_for 10 sh -c "! kill -0 $(weft_pid pf3) 2>/dev/null"; ok $? "a packet filter file that is not an array stops the server"
like "$(cat pf3.log)" "control.packet_filter_file: $TMP/notarray.json: not a JSON array of FilterRules" "saying why"

# a policy the server cannot load at startup stops it (it does not fall back to allow-all)
start_weft bad serve "${args[@]}" -o control.policy.path="$TMP/bad.hujson"
wait_for 10 grep -q 'policy is refused' "$TMP/bad.log"; ok $? "a bad policy file at startup is an error"
like "$(cat bad.log)" 'bad.hujson:3:34: src=tag not found' "naming its place"
wait_for 10 sh -c "! kill -0 $(weft_pid bad) 2>/dev/null"; ok $? "and the server does not run"
done_testing
