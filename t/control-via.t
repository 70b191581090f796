#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Via grants and per-node routes on the control server, with nodes shaped like official clients
# (t/tools/tsnode): two routers advertise one prefix (ra registers first: the primary; rb the other); a
# node granted the prefix the ordinary way gets it at the primary, a node granted it "via": ["tag:rb"]
# gets it at rb (AllowedIPs and PrimaryRoutes), a node the policy does not let reach it is not offered
# it at all; when the primary goes, the ordinary node follows the new primary.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3

port=$(free_port)
url=http://127.0.0.1:$port
cd "$TMP" || exit 1
cat >policy.hujson <<'EOT'
{
  "tagOwners": {"tag:ra": ["alice@"], "tag:rb": ["alice@"], "tag:ca": ["alice@"], "tag:cb": ["alice@"],
                "tag:cn": ["alice@"]},
  "autoApprovers": {"routes": {"10.44.0.0/16": ["tag:ra", "tag:rb"]}},
  "grants": [
    {"src": ["tag:ca", "tag:cb", "tag:cn"], "dst": ["tag:ra", "tag:rb"], "ip": ["*"]},
    {"src": ["tag:ca"], "dst": ["10.44.0.0/16"], "ip": ["*"]},
    {"src": ["tag:cb"], "dst": ["10.44.0.0/16"], "ip": ["*"], "via": ["tag:rb"]},
  ],
}
EOT
args=(-o state_dir=$TMP/state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.keepalive=1s
      -o control.policy.path=$TMP/policy.hujson)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
# peer_in FILE ID: the last entry of peer ID in the map lines of FILE, as "ALLOWEDIPS|PRIMARYROUTES"
# (the routes beyond the peer's own addresses)
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
    own = set(last.get("Addresses") or [])
    print(",".join(a for a in last.get("AllowedIPs") or [] if a not in own) + "|" +
          ",".join(last.get("PrimaryRoutes") or []))
else:
    print("absent")
PY
}
# routes NODE FIELD: a field of `weft nodes routes NODE --json` (lists as a,b,c)
routes() {
    w nodes routes "$1" --json | python3 -c 'import json,sys
v = json.load(sys.stdin)[sys.argv[1]]
print(",".join(v) if isinstance(v, list) else v)' "$2"
}
nid() { w nodes list --json | python3 -c 'import json,sys
print("".join(str(n["id"]) for n in json.load(sys.stdin)["nodes"] if n["name"] == sys.argv[1]))' "$1"; }

start_weft serve serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve starts with a policy with a via grant"
w users create alice >/dev/null
for n in ra rb ca cb cn; do
    k=$(w authkeys create --user alice --tags tag:$n | tail -1)
    like "$(node $n register --authkey "$k")" '^200 .*"MachineAuthorized":true' "$n registers"
done
ra=$(nid ra) rb=$(nid rb)

# the routers stay online, advertising the prefix (ra first: it is the primary)
TSNODE_ROUTES=10.44.0.0/16 "$TSNODE" "$url" "$TMP" ra map 100000 900 >ra.map 2>ra.err &
rapid=$!
on_exit "kill $rapid 2>/dev/null"
wait_for 10 holds '[ "$(routes ra primary_routes)" = 10.44.0.0/16 ]'
ok $? "ra advertises 10.44.0.0/16, autoApproved, primary"
TSNODE_ROUTES=10.44.0.0/16 "$TSNODE" "$url" "$TMP" rb map 100000 900 >rb.map 2>rb.err &
rbpid=$!
on_exit "kill $rbpid 2>/dev/null"
wait_for 10 holds '[ "$(routes rb approved_routes)" = 10.44.0.0/16 ]'
ok $? "rb advertises it too, approved"

# ca: the ordinary grant; cb: the via grant; cn: sees the routers, may not reach the prefix
"$TSNODE" "$url" "$TMP" ca map 100000 900 >ca.map 2>ca.err &
capid=$!
on_exit "kill $capid 2>/dev/null"
node cb map 1 20 >cb.map 2>cb.err
node cn map 1 20 >cn.map 2>cn.err
wait_for 10 test -s ca.map
is "$(peer_in ca.map "$ra")" "10.44.0.0/16|10.44.0.0/16" "ca (ordinary grant) gets the prefix at the primary ra"
is "$(peer_in ca.map "$rb")" "|" "and not at rb"
is "$(peer_in cb.map "$rb")" "10.44.0.0/16|10.44.0.0/16" "cb (via tag:rb) gets the prefix at rb, not the primary"
is "$(peer_in cb.map "$ra")" "|" "and not at ra"
is "$(peer_in cn.map "$ra")|$(peer_in cn.map "$rb")" "|||" "cn (no grant to the prefix) sees both routers, the prefix at neither"

# the primary goes: ca follows the new primary (rb); cb stays with rb
kill "$rapid"
wait_for 20 holds '[ "$(peer_in ca.map "$rb")" = "10.44.0.0/16|10.44.0.0/16" ]'
ok $? "ra's stream ends: ca's stream gets the prefix at rb"
is "$(peer_in ca.map "$ra")" "|" "and no longer at ra"
node cb map 1 20 >cb2.map 2>/dev/null
is "$(peer_in cb2.map "$rb")" "10.44.0.0/16|10.44.0.0/16" "cb still gets it at rb"

# ra comes back: it does not take the prefix back (no flapping), and cb keeps rb
TSNODE_ROUTES=10.44.0.0/16 "$TSNODE" "$url" "$TMP" ra map 100000 900 >ra2.map 2>/dev/null &
rapid=$!
on_exit "kill $rapid 2>/dev/null"
wait_for 10 test -s ra2.map
node cb map 1 20 >cb3.map 2>/dev/null
is "$(peer_in cb3.map "$ra")|$(peer_in cb3.map "$rb")" "||10.44.0.0/16|10.44.0.0/16" "ra back: cb's map still has the prefix at rb only"
stop_weft serve TERM
is "$WEFT_RC" 0 "clean stop"
done_testing
