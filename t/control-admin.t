#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The admin verbs end to end against the running server (weft users | nodes | authkeys over the admin
# socket), each checked by what the server then holds (the listings) and what nodes are told (their map
# streams, through t/tools/tsnode): users rename / delete (refused without --force while the user owns
# nodes, and what --force takes with it), nodes expire / delete, authkeys list / expire; the refusals'
# exit status and message; usage errors (exit 2, the message, nothing sent).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3

port=$(free_port)
url=http://127.0.0.1:$port
args=(-o state_dir=$TMP/state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.keepalive=1s
      -o control.dns.base_domain=example.com)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
# jq-like: py EXPR reads JSON on stdin as d and prints EXPR
py() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
node_field() { w nodes list --json | py "next((str(n['$2']) for n in d['nodes'] if str(n['id']) == '$1'), '')"; }
node_id() { w nodes list --json | py "next((str(n['id']) for n in d['nodes'] if n['name'] == '$1'), '')"; }
user_field() { w users list --json | py "next((str(u['$2']) for u in d['users'] if u['name'] == '$1'), '')"; }
# told FILE EXPR: some message m of a map stream file ("<ms> <JSON>" lines) makes EXPR true
told() {
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: m = json.loads(line.split(" ", 1)[1])
    except Exception: continue
    if eval(sys.argv[2]): sys.exit(0)
sys.exit(1)' "$1" "$2"
}
key_field() { w authkeys list --json | py "next((str(k['$2']) for k in d['authkeys'] if str(k['id']) == '$1'), '')"; }
cd "$TMP" || exit 1

start_weft serve serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve (control + derp) starts"

# ---- users ----
out=$(w users create alice); ok $? "users create alice"
is "$out" "user alice: created" "it says so"
out=$(w users create alice 2>&1); rc=$?
is "$rc" 1 "creating an existing user is refused (exit 1)"
is "$out" "weft users: that user exists" "and says why"
w users create bob >/dev/null
alice=$(user_field alice id)
like "$alice" '^[0-9]+$' "users list --json lists alice with her ID"
like "$(w users list)" "^$alice +alice +0 " "users list: a table row with her node count"

akey=$(w authkeys create --user alice --reusable | tail -1)
bkey=$(w authkeys create --user bob --reusable | tail -1)
for n in a1 a2; do node "$n" register --authkey "$akey" >/dev/null; done
node b1 register --authkey "$bkey" >/dev/null
a1=$(node_id a1) a2=$(node_id a2) b1=$(node_id b1)
like "$a1 $a2 $b1" '^[0-9]+ [0-9]+ [0-9]+$' "three nodes registered (alice: a1 $a1, a2 $a2; bob: b1 $b1)"
is "$(user_field alice nodes)" 2 "alice owns 2 nodes"

"$TSNODE" "$url" "$TMP" b1 map 100000 900 > b1.map 2>&1 & # bob's node watches everything that follows
b1pid=$!
on_exit "kill $b1pid"
wait_for 5 test -s b1.map; ok $? "bob's node holds a map stream"

w users rename alice alicia >/dev/null; ok $? "users rename alice alicia"
is "$(user_field alicia id)" "$alice" "the listing shows user $alice as alicia"
is "$(user_field alice id)" "" "and no user alice"
wait_for 5 grep -q '"LoginName":"alicia"' b1.map; ok $? "peers get the new name in UserProfiles"
out=$(w users rename alicia bob 2>&1); rc=$?
is "$rc $out" "1 weft users: that name is taken" "renaming onto an existing user is refused, and says why"
out=$(w users rename nobody x 2>&1); rc=$?
is "$rc $out" "1 weft users: no user nobody" "renaming an unknown user is refused, and says why"

out=$(w users delete alicia 2>&1); rc=$?
is "$rc" 1 "deleting a user who owns nodes, without --force, is refused (exit 1)"
is "$out" "weft users: user alicia owns 2 node(s): delete them first, or use --force" "and says why"
is "$(user_field alicia id)" "$alice" "the user is still there"
is "$(node_field "$a1" name) $(node_field "$a2" name)" "a1 a2" "and so are her nodes"
like "$(node a3 register --authkey "$akey")" '"MachineAuthorized":true' "and her keys still work"
a3=$(node_id a3)

# ---- nodes ----
w nodes expire a2 >/dev/null; ok $? "nodes expire a2"
is "$(node_field "$a2" expired)" True "the listing shows node $a2 expired"
is "$(node_field "$a1" expired)" False "and not the others"
wait_for 5 told b1.map "any(p['ID'] == $a2 and p.get('Expired') for p in m.get('PeersChanged', []))"
ok $? "peers are told node $a2 expired"
node a2 map 1 5 > a2.map 2>&1
told a2.map "m['Node']['ID'] == $a2 and m['Node'].get('Expired') is True"; ok $? "the node's own map says it expired"

w nodes delete "$a3" >/dev/null; ok $? "nodes delete by ID"
is "$(node_field "$a3" name)" "" "node $a3 is gone from the listing"
is "$(node_field "$a1" name)" a1 "the others stay"
wait_for 5 grep -q '"PeersRemoved":\['"$a3"'\]' b1.map; ok $? "peers get PeersRemoved [$a3]"
like "$(node a3 register)" '"AuthURL":' "the deleted node's machine must log in again"
out=$(w nodes expire nosuch 2>&1); rc=$?
is "$rc $out" "1 weft nodes: no node nosuch" "nodes expire of an unknown node is refused, and says why"
out=$(w nodes delete nosuch 2>&1); rc=$?
is "$rc $out" "1 weft nodes: no node nosuch" "nodes delete of an unknown node is refused, and says why"
out=$(w nodes rename nosuch x 2>&1); rc=$?
is "$rc $out" "1 weft nodes: no node nosuch" "nodes rename of an unknown node is refused, and says why"
out=$(w nodes rename a1 'Not A Name' 2>&1); rc=$?
is "$rc $out" "1 weft nodes: a name is 1-63 of a-z, 0-9 and '-', not starting or ending with '-'" \
    "an invalid node name is refused, and says why"
out=$(w nodes rename a1 b1 2>&1); rc=$?
is "$rc $out" "1 weft nodes: node $b1 is called b1" "a name another node has is refused, and says which"
is "$(node_field "$a1" name)" a1 "a1 keeps its name"

# ---- authkeys ----
list=$(w authkeys list --json)
kid=$(printf '%s' "$list" | py "next(str(k['id']) for k in d['authkeys'] if k['user'] == 'bob')")
like "$kid" '^[0-9]+$' "authkeys list --json: bob's key, with its ID"
is "$(key_field "$kid" reusable) $(key_field "$kid" usable)" "True True" "reusable and usable"
like "$(w authkeys list)" "^$kid +weft-auth-[0-9a-f]+ +bob +true +false " "authkeys list: a table row, prefix only"
unlike "$(w authkeys list)" "$bkey" "the list never shows a whole key"
out=$(w authkeys expire "$kid"); ok $? "authkeys expire $kid"
is "$out" "pre-auth key $kid expired" "it says so"
is "$(key_field "$kid" usable)" False "the listing shows it unusable"
like "$(node b2 register --authkey "$bkey")" '"Error":"auth key has expired' "a registration with it is refused"
out=$(w authkeys expire 9999 2>&1); rc=$?
is "$rc $out" "1 weft authkeys: no pre-auth key 9999" "expiring an unknown key is refused, and says why"

# ---- users delete --force: the user, her nodes, her keys ----
nkeys=$(w authkeys list --json | py "sum(1 for k in d['authkeys'] if k['user'] == 'alicia')")
ok "$([ "$nkeys" -ge 1 ] && echo 0 || echo 1)" "alicia has $nkeys key(s) before"
w users delete alicia --force >/dev/null; ok $? "users delete alicia --force"
is "$(user_field alicia id)" "" "the user is gone"
is "$(node_field "$a1" name)$(node_field "$a2" name)" "" "her nodes are gone"
is "$(w authkeys list --json | py "sum(1 for k in d['authkeys'] if k['user'] in ('alicia', ''))")" 0 \
    "her keys are gone"
wait_for 5 grep -Eq '"PeersRemoved":\[('"$a1,$a2|$a2,$a1"')\]' b1.map; ok $? "peers get PeersRemoved [$a1,$a2]"
like "$(user_field bob id)" '^[0-9]+$' "bob stays"
is "$(node_field "$b1" name)" b1 "and so does his node"
like "$(node a1 register --authkey "$akey")" '"Error":"invalid auth key' "her key no longer registers anyone"
w users create carol >/dev/null
w users delete carol >/dev/null; ok $? "a user without nodes is deleted without --force"
is "$(user_field carol id)" "" "and is gone"

# ---- usage errors: exit 2, the usage, nothing sent to the server ----
usage() { # usage VERB "ARGS" MESSAGE [SUBCOMMAND]: the message names the subcommand when there is one
    local out rc v="$1${4:+ $4}"
    out=$(w $1 $2 2>&1); rc=$?
    is "$rc $out" "2 weft $v: $3 (weft $v --help)" "weft $1 $2: usage error"
}
usage users "rename onlyone" "takes NAME and NEWNAME" rename
usage users "frob x" "create NAME | list | rename NAME NEW | delete NAME [--force]"
usage authkeys "create" "needs --user USER" create
usage authkeys "create --user bob --expiration soon" "--expiration wants a duration like 24h, 90m, 7d" create
usage authkeys "expire abc" "takes the key's ID (weft authkeys list)" expire
usage authkeys "frob" "create --user U [...] | list | expire ID"
usage nodes "register 0123abcd" "needs --user USER" register
usage nodes "rename a1" "takes NODE and NEWNAME" rename
is "$(w users list --json | py "len(d['users'])")" 1 "no usage error reached the server (bob is the only user left)"

stop_weft serve TERM
is "$WEFT_RC" 0 "clean stop"
unlike "$(cat "$TMP/serve.log")" 'level=error' "no errors logged"
done_testing
