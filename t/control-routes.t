#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Subnet routes and exit nodes on the control server, seen by nodes shaped like official clients
# (t/tools/tsnode advertising Hostinfo.RoutableIPs as `tailscale up --advertise-routes` does): what a
# node advertises is stored (bad routes ignored with a logged reason), nothing is routed before an admin
# approves it, approved routes appear in the primary's AllowedIPs and PrimaryRoutes, exit routes in the
# exit node's AllowedIPs only; two routers for one prefix: the primary's stream ends (kill -9) and the
# other becomes primary on every peer's stream within 2 s (measured from the kill to the delta's arrival);
# a returning router does not take the prefix back; a router that hangs with its stream open loses the
# prefix to health probes; everything survives a restart; the policy's autoApprovers approve routes and
# exit nodes (by tag, user, group).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3

port=$(free_port)
url=http://127.0.0.1:$port
state=$TMP/state
args=(-o state_dir=$state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.keepalive=1s
      -o control.dns.base_domain=example.com -o control.route_probe_interval=2s -o control.route_probe_timeout=1500ms)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
# routes NODE FIELD: a field of `weft nodes routes NODE --json` (lists as a,b,c)
routes() {
    w nodes routes "$1" --json | python3 -c 'import json,sys
v = json.load(sys.stdin)[sys.argv[1]]
print(",".join(v) if isinstance(v, list) else v)' "$2"
}
# peer_in FILE ID: the last entry of peer ID in the map lines of FILE (Peers or PeersChanged), as
# "ALLOWEDIPS|PRIMARYROUTES" (comma-separated lists)
peer_in() {
    python3 - "$1" "$2" <<'PY'
import json, sys
last = None
for line in open(sys.argv[1]):
    ms, _, body = line.partition(" ")
    try:
        m = json.loads(body)
    except ValueError:
        continue
    for p in (m.get("Peers") or []) + (m.get("PeersChanged") or []):
        if str(p["ID"]) == sys.argv[2]:
            last = p
if last:
    print(",".join(last.get("AllowedIPs") or []) + "|" + ",".join(last.get("PrimaryRoutes") or []))
PY
}
# first_with FILE ID ROUTE AFTER_MS: the arrival time (ms) of the first message after AFTER_MS that gives
# peer ID the primary route ROUTE
first_with() {
    python3 - "$@" <<'PY'
import json, sys
f, pid, route, after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for line in open(f):
    ms, _, body = line.partition(" ")
    if int(ms) < after:
        continue
    try:
        m = json.loads(body)
    except ValueError:
        continue
    for p in (m.get("Peers") or []) + (m.get("PeersChanged") or []):
        if str(p["ID"]) == pid and route in (p.get("PrimaryRoutes") or []) and route in p.get("AllowedIPs", []):
            print(ms)
            sys.exit(0)
PY
}
cd "$TMP" || exit 1

start_weft serve serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve starts"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
for n in r1 r2 client; do
    like "$(node $n register --authkey "$key")" '^200 .*"MachineAuthorized":true' "$n registers"
done
nid() { w nodes list --json | python3 -c 'import json,sys
print("".join(str(n["id"]) for n in json.load(sys.stdin)["nodes"] if n["name"] == sys.argv[1]))' "$1"; }
r1=$(nid r1) r2=$(nid r2) cl=$(nid client)

# the client's stream: every message with its arrival time (tsnode gives up after 900 s: a loaded machine
# takes minutes over this test)
"$TSNODE" "$url" "$TMP" client map 100000 900 >client.map 2>client.err &
clpid=$!
on_exit "kill $clpid 2>/dev/null"
wait_for 5 test -s client.map; ok $? "the client's stream is open"

# ---- r1 advertises: valid routes are kept, the rest ignored with a reason ----
TSNODE_ROUTES="10.9.0.0/24,0.0.0.0/0,::/0,10.9.0.128/25,100.64.5.0/24,10.9.1.1/24,bogus,10.9.0.0/24,fd7a:115c:a1e0:ab::/64" \
    "$TSNODE" "$url" "$TMP" r1 map 100000 900 >r1.map 2>r1.err &
r1pid=$!
on_exit "kill $r1pid 2>/dev/null"
wait_for 5 test -s r1.map; ok $? "r1's stream is open"
wait_for 5 holds '[ -n "$(routes r1 advertised_routes)" ]'
is "$(routes r1 advertised_routes)" "0.0.0.0/0,10.9.0.0/24,::/0" "r1's advertised routes: valid, canonical, deduplicated"
like "$(cat serve.log)" 'event=route_ignored node='"$r1"' route=10.9.0.128/25 reason="inside 10.9.0.0/24' "a route inside another of its routes: ignored, logged"
like "$(cat serve.log)" 'route="100.64.5.0/24" reason="overlaps the tailnet.s own range' "a route in the tailnet's range: ignored, logged"
like "$(cat serve.log)" 'route="fd7a:115c:a1e0:ab::/64" reason="overlaps the tailnet.s own range' "the same for IPv6"
like "$(cat serve.log)" 'route="10.9.1.1/24" reason="host bits set' "a route with host bits: ignored, logged"
like "$(cat serve.log)" 'route="bogus" reason="not an IP prefix' "not a prefix: ignored, logged"
is "$(routes r1 approved_routes)" "" "nothing is approved by itself (no autoApprovers)"
is "$(routes r1 primary_routes)" "" "so r1 is primary for nothing"
wait_for 5 holds '[ -n "$(peer_in client.map "$r1")" ]'
is "$(peer_in client.map "$r1")" "100.64.0.1/32,fd7a:115c:a1e0::1/128|" "the client sees r1 with its addresses only"

# ---- approval by hand ----
out=$(w nodes approve-routes r1 0.0.0.0/0 2>&1); rc=$?
ok $((rc == 0)) "approving 0.0.0.0/0 alone is refused"
like "$out" 'both 0.0.0.0/0 and ::/0' "saying that an exit node needs both"
out=$(w nodes approve-routes r1 10.9.0.1/24 2>&1)
like "$out" 'route 10.9.0.1/24: host bits set' "a prefix with host bits is refused"
out=$(w nodes approve-routes r1 100.64.0.0/24 2>&1)
like "$out" 'overlaps the tailnet' "a prefix in the tailnet's range is refused"
out=$(w nodes approve-routes r1 10.9.0.0/24); ok $? "weft nodes approve-routes r1 10.9.0.0/24"
like "$out" 'approved +10.9.0.0/24' "it prints the approved list"
like "$out" 'primary +10.9.0.0/24' "and r1 is primary for it"
wait_for 3 grep -q '"PrimaryRoutes":\["10.9.0.0/24"\]' client.map
is "$(peer_in client.map "$r1")" "100.64.0.1/32,fd7a:115c:a1e0::1/128,10.9.0.0/24|10.9.0.0/24" \
    "the client gets r1 with the route in AllowedIPs and PrimaryRoutes"
like "$(grep -c '"PrimaryRoutes"' r1.map)" '^[1-9]' "r1's own Node carries its PrimaryRoutes"

w nodes approve-routes r1 10.9.0.0/24 0.0.0.0/0 ::/0 >/dev/null; ok $? "approving the exit routes too"
is "$(routes r1 exit_node)" "True" "r1 is an exit node"
wait_for 3 grep -q '"0.0.0.0/0","::/0"' client.map
is "$(peer_in client.map "$r1")" "100.64.0.1/32,fd7a:115c:a1e0::1/128,10.9.0.0/24,0.0.0.0/0,::/0|10.9.0.0/24" \
    "the client gets r1's exit routes in AllowedIPs, not in PrimaryRoutes"

# ---- a second router for the same prefix ----
TSNODE_ROUTES="10.9.0.0/24" "$TSNODE" "$url" "$TMP" r2 map 100000 900 >r2.map 2>r2.err &
r2pid=$!
on_exit "kill $r2pid 2>/dev/null"
wait_for 5 holds '[ -n "$(routes r2 advertised_routes)" ]'
w nodes approve-routes r2 10.9.0.0/24 >/dev/null
is "$(routes r2 primary_routes)|$(routes r1 primary_routes)" "|10.9.0.0/24" "r2 approved too: r1 stays primary"
sleep 0.5
is "$(peer_in client.map "$r2")" "100.64.0.2/32,fd7a:115c:a1e0::2/128|" "the client does not get the route from r2"

# ---- failover: r1's stream ends ----
t_kill=$(date +%s%3N)
{ kill -9 "$r1pid"; wait "$r1pid"; } 2>/dev/null
wait_for 5 holds '[ -n "$(first_with client.map "$r2" 10.9.0.0/24 "$t_kill")" ]'
t_new=$(first_with client.map "$r2" 10.9.0.0/24 "$t_kill")
ms=$((${t_new:-99999999999999} - t_kill))
diag "failover: r1 killed, the client's stream had r2 as primary for 10.9.0.0/24 $ms ms later"
ok $((ms >= 2000)) "failover within 2 s ($ms ms)"
is "$(peer_in client.map "$r1")" "100.64.0.1/32,fd7a:115c:a1e0::1/128,0.0.0.0/0,::/0|" \
    "r1 is sent again without the subnet route (an offline exit node keeps its exit routes: clients choose)"
is "$(routes r2 primary_routes)" "10.9.0.0/24" "weft nodes routes r2: primary"
like "$(cat serve.log)" "event=route_primary route=10.9.0.0/24 node=$r2 was=$r1" "the change is logged"
like "$(cat serve.log)" "event=route_primary route=10.9.0.0/24 node=$r1 was=0" "as the first election was"

# r1 back: no flapping
TSNODE_ROUTES="10.9.0.0/24,0.0.0.0/0,::/0" "$TSNODE" "$url" "$TMP" r1 map 100000 900 >r1b.map 2>r1b.err &
r1pid=$!
on_exit "kill $r1pid 2>/dev/null"
wait_for 5 test -s r1b.map
sleep 0.5
is "$(routes r2 primary_routes)|$(routes r1 primary_routes)" "10.9.0.0/24|" "r1 back online: r2 stays primary"

# r2 stops (its stream ends cleanly this time): r1 again
t_stop=$(date +%s%3N)
kill -TERM "$r2pid"
wait_for 5 holds '[ -n "$(first_with client.map "$r1" 10.9.0.0/24 "$t_stop")" ]'
t_new=$(first_with client.map "$r1" 10.9.0.0/24 "$t_stop")
ms2=$((${t_new:-99999999999999} - t_stop))
diag "failover back: r2 stopped, r1 primary on the client's stream $ms2 ms later"
ok $((ms2 >= 2000)) "and back to r1 within 2 s ($ms2 ms)"

# ---- health probes: a primary whose stream stays open but that no longer answers ----
TSNODE_ROUTES="10.9.0.0/24" "$TSNODE" "$url" "$TMP" r2 map 100000 900 >r2b.map 2>r2b.err &
r2pid=$!
on_exit "kill -CONT $r2pid 2>/dev/null; kill $r2pid 2>/dev/null"
wait_for 5 test -s r2b.map
# both answer: after a few probe cycles (2 s each) nothing has moved
wait_for 15 holds '[ "$(grep -c "ping-response?id=" r1b.map)" -ge 3 ]'
like "$(grep -m1 PingRequest r1b.map)" '"KeepAlive":true,"PingRequest":\{"URL":"http://127.0.0.1:[0-9]+/machine/ping-response\?id=[0-9a-f]{32}","URLIsNoise":true\}' \
    "routers sharing a prefix get PingRequests (URLIsNoise, in a keep-alive)"
ok "$(grep -q 'PingRequest' client.map && echo 1 || echo 0)" "a node that routes nothing is not probed"
unlike "$(cat serve.log)" 'event=route_probe node=[0-9]+ result=unhealthy' "routers that answer stay healthy"
is "$(routes r1 primary_routes)|$(routes r2 primary_routes)" "10.9.0.0/24|" "r1 stays primary"
# r1 hangs (SIGSTOP): its TCP connection and map stream stay open, it just answers nothing any more
t_stop=$(date +%s%3N)
kill -STOP "$r1pid"
on_exit "kill -CONT $r1pid 2>/dev/null"
wait_for 15 holds '[ -n "$(first_with client.map "$r2" 10.9.0.0/24 "$t_stop")" ]'
t_new=$(first_with client.map "$r2" 10.9.0.0/24 "$t_stop")
ms3=$((${t_new:-99999999999999} - t_stop))
diag "failover by health probe: r1 stopped answering (SIGSTOP), r2 primary on the client's stream $ms3 ms later (probe interval 2 s + timeout 1.5 s)"
ok $((ms3 >= 2000 + 1500 + 2000)) "failover within interval + timeout + 2 s ($ms3 ms)"
like "$(cat serve.log)" "event=route_probe node=$r1 result=unhealthy" "the unanswered probe is logged"
is "$(w nodes list --json | python3 -c 'import json,sys
print([n["online"] for n in json.load(sys.stdin)["nodes"] if n["name"] == "r1"][0])')" "True" "r1's stream is still open (online)"
# r1 answers again: healthy, and r2 keeps the prefix (no flapping)
kill -CONT "$r1pid"
wait_for 15 grep -q "event=route_probe node=$r1 result=healthy" serve.log; ok $? "r1 answers again: healthy"
is "$(routes r2 primary_routes)|$(routes r1 primary_routes)" "10.9.0.0/24|" "r2 stays primary"
kill "$r2pid"
wait_for 5 holds '[ "$(routes r1 primary_routes)" = "10.9.0.0/24" ]'; ok $? "r2 gone: r1 (healthy again) is primary"

# ---- withdrawn: a route no longer advertised is no longer routed ----
kill "$r1pid"
TSNODE_ROUTES="0.0.0.0/0,::/0" "$TSNODE" "$url" "$TMP" r1 map 100000 900 >r1c.map 2>r1c.err &
r1pid=$!
on_exit "kill $r1pid 2>/dev/null"
wait_for 5 holds '[ "$(routes r1 advertised_routes)" = "0.0.0.0/0,::/0" ]'
is "$(routes r1 primary_routes)" "" "r1 stops advertising 10.9.0.0/24: no longer primary"
is "$(routes r1 approved_routes)" "0.0.0.0/0,10.9.0.0/24,::/0" "its approval stays (for when it advertises again)"

# ---- a restart keeps advertised and approved routes ----
kill "$r1pid" "$clpid" 2>/dev/null
stop_weft serve TERM
start_weft serve serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"
is "$(routes r1 advertised_routes)|$(routes r1 approved_routes)" "0.0.0.0/0,::/0|0.0.0.0/0,10.9.0.0/24,::/0" \
    "after a restart: r1's advertised and approved routes"
is "$(routes r2 approved_routes)" "10.9.0.0/24" "and r2's"
like "$(w nodes routes r1)" '^node [0-9]+ \(r1\), exit node' "weft nodes routes: the human form"
stop_weft serve TERM
is "$WEFT_RC" 0 "clean stop"

# ---- approval by the access policy's autoApprovers (a policy file) ----
cat >policy.hujson <<'EOT'
{
  "groups": {"group:ops": ["bob@"]},
  "tagOwners": {"tag:router": ["alice@"], "tag:exit": ["alice@"]},
  "autoApprovers": {
    "routes": {
      "10.10.0.0/16": ["tag:router"],   // a wider prefix approves what is inside it
      "10.20.0.0/24": ["alice@"],
      "10.30.0.0/24": ["group:ops"],
    },
    "exitNode": ["tag:exit"],
  },
  "acls": [
    {"action": "accept", "src": ["alice@"], "dst": ["autogroup:internet:*"]},
    {"action": "accept", "src": ["*"], "dst": ["tag:router:*", "alice@:*"]},
  ],
}
EOT
pargs=("${args[@]/#state_dir=*/state_dir=$TMP/pstate}" -o control.policy.path=$TMP/policy.hujson)
pw() { "$WEFT" "$@" "${pargs[@]}"; }
start_weft pserve serve "${pargs[@]}"
wait_for 10 grep -q 'event=started' "$TMP/pserve.log"; ok $? "weft serve starts with a policy file"
pw users create alice >/dev/null && pw users create bob >/dev/null
ka=$(pw authkeys create --user alice --reusable | tail -1)
kr=$(pw authkeys create --user alice --reusable --tags tag:router | tail -1)
ke=$(pw authkeys create --user alice --reusable --tags tag:exit | tail -1)
kb=$(pw authkeys create --user bob --reusable | tail -1)
proutes() {
    pw nodes routes "$1" --json | python3 -c 'import json,sys
print(",".join(json.load(sys.stdin)[sys.argv[1]]))' "$2"
}
for n in pr:$kr pa:$ka pb:$kb pe:$ke; do
    like "$(node "${n%%:*}" register --authkey "${n#*:}")" '^200 .*"MachineAuthorized":true' "${n%%:*} registers"
done
TSNODE_ROUTES=10.10.1.0/24,10.99.0.0/24 node pr map 1 10 >pr.map 2>/dev/null
TSNODE_ROUTES=10.20.0.0/24,10.10.2.0/24 node pa map 1 10 >pa.map 2>/dev/null
TSNODE_ROUTES=10.30.0.0/24 node pb map 1 10 >pb.map 2>/dev/null
TSNODE_ROUTES=0.0.0.0/0,::/0 node pe map 1 10 >pe.map 2>/dev/null
is "$(proutes pr approved_routes)" "10.10.1.0/24" "tag:router's node: 10.10.1.0/24 approved (inside 10.10.0.0/16), 10.99.0.0/24 not"
is "$(proutes pa approved_routes)" "10.20.0.0/24" "alice's node: 10.20.0.0/24 (alice@), not 10.10.2.0/24 (tag:router's)"
is "$(proutes pb approved_routes)" "10.30.0.0/24" "bob's node: 10.30.0.0/24 (group:ops)"
is "$(proutes pe approved_routes)" "0.0.0.0/0,::/0" "tag:exit's node: the exit routes (exitNode)"
is "$(pw nodes routes pe --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["exit_node"])')" True \
    "so it is an exit node"
like "$(cat pserve.log)" "event=route_auto_approved node=[0-9]+ route=10.10.1.0/24" "auto-approvals are logged"
# a new policy approves what was waiting
sed -i 's|"10.30.0.0/24": \["group:ops"\],|&\n      "10.99.0.0/24": ["tag:router"],|' policy.hujson
wait_for 10 holds '[ "$(proutes pr approved_routes)" = "10.10.1.0/24,10.99.0.0/24" ]'
ok $? "the policy file changes: 10.99.0.0/24 is approved for tag:router's node without it asking again"
is "$(proutes pa approved_routes)" "10.20.0.0/24" "and nothing else changes"
stop_weft pserve TERM
is "$WEFT_RC" 0 "clean stop"
done_testing
