#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Upgrading a database written by the first released schema: t/data/control-schema-1/control.db is frozen
# (made once with schema 1, never rebuilt from today's code; see its README). weft serve on a copy of it
# migrates to the latest schema, keeps a copy of the schema-1 file, and serves what was there: users,
# keys (each still usable or refused as before), nodes (an old node logs in again with its own keys, a
# new one gets the next free address and ID). A migration that fails half-way (its first statement done,
# the next refused) leaves the file at schema 1 with nothing of the failed step, says so, and exits 1;
# the backup copy made before it restores the pre-upgrade database, which then upgrades.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd sqlite3 python3
D=$WEFT_SRCDIR/t/data/control-schema-1
cd "$TMP" || exit 1

port=$(free_port)
url=http://127.0.0.1:$port
args() { echo "-o state_dir=$TMP/$1 -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port" \
    "-o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.keepalive=1s"; }
w() { local s=$1; shift; "$WEFT" "$@" $(args "$s"); }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
q() { sqlite3 "$@"; }
py() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
key() { awk -v i="$1" '$1 == i {print $2}' "$D/authkeys.txt"; }
# rows FILE: every row of the three tables, in order (what a migration must keep)
rows() { q "$1" 'SELECT * FROM users ORDER BY id; SELECT * FROM preauth_keys ORDER BY id;
                 SELECT id, stable_id, user_id, machine_key, node_key, disco_key, hostname, given_name, ipv4, ipv6,
                        endpoints, hostinfo, home_derp, expiry, created, last_seen, ephemeral, tags, authkey_id
                 FROM nodes ORDER BY id;'; }
for n in oldbox laptop phone; do for k in machine node disco; do
    cp "$D/$n.$k" "$TMP/$n.$k" && chmod 600 "$TMP/$n.$k"
done; done
frozen=$(rows "$D/control.db")

is "$(q "$D/control.db" 'PRAGMA user_version')" 1 "the frozen database is at schema 1"
is "$(q "$D/control.db" 'SELECT count(*) FROM nodes')" 3 "with 3 nodes"

# ---- the upgrade ----
mkdir -m 700 s1 && cp "$D/control.db" s1/control.db && chmod 600 s1/control.db
start_weft serve serve $(args s1)
wait_for 10 grep -q 'event=started' serve.log; ok $? "weft serve starts on a copy of it"
latest=$(q s1/control.db 'PRAGMA user_version')
ok "$([ "$latest" -gt 1 ] && echo 0 || echo 1)" "the database is migrated (schema $latest)"
is "$(q s1/control.db "SELECT count(*) FROM pragma_table_info('nodes') WHERE name = 'capver'")" 1 \
    "with schema 2's column"
is "$(q s1/control.db "SELECT group_concat(name) FROM pragma_table_info('nodes') WHERE name LIKE 'routes_%'")" \
    "routes_advertised,routes_approved" "and schema 5's (advertised and approved routes)"
is "$(q s1/control.db "SELECT DISTINCT routes_advertised || routes_approved FROM nodes")" "[][]" \
    "old nodes advertise and have approved no route"
is "$(q s1/control.db 'PRAGMA integrity_check')" ok "integrity_check: ok"
is "$(rows s1/control.db)" "$frozen" "every row of schema 1 is kept as it was"
ok "$([ -f s1/control.db.schema-1.bak ] && echo 0 || echo 1)" "a copy of the schema-1 file is kept (control.db.schema-1.bak)"
is "$(q s1/control.db.schema-1.bak 'PRAGMA user_version') $(rows s1/control.db.schema-1.bak)" "1 $frozen" \
    "the copy is the schema-1 database, every row"

users=$(w s1 users list --json)
is "$(printf '%s' "$users" | py "[(u['id'], u['name'], u['nodes']) for u in d['users']]")" \
    "[(1, 'alice', 2), (2, 'bob', 1)]" "weft users list: the old users and their node counts"
nodes=$(w s1 nodes list --json)
is "$(printf '%s' "$nodes" | py "[(n['id'], n['name'], n['user'], n['ipv4'], n['expired']) for n in d['nodes']]")" \
    "[(1, 'oldbox', 'alice', '100.64.0.1', False), (2, 'bobs-laptop', 'bob', '100.64.0.2', True), (3, 'phone', 'alice', '100.64.0.3', False)]" \
    "weft nodes list: the old nodes, names, owners, addresses, expiry"
keys=$(w s1 authkeys list --json)
is "$(printf '%s' "$keys" | py "[(k['id'], k['user'], k['usable']) for k in d['authkeys']]")" \
    "[(1, 'alice', True), (2, 'alice', False), (3, 'bob', False), (4, 'bob', False)]" \
    "weft authkeys list: the old keys, usable only key 1 (2 used, 3 expired, 4 revoked)"

out=$(node oldbox register)
like "$out" '^200 .*"MachineAuthorized":true' "an old node logs in again with its own keys, no auth key"
out=$(node oldbox map 1 10)
like "$out" '"Node":\{"ID":1,.*"Name":"oldbox\.' "its map: the same node (ID 1, oldbox)"
like "$out" '"Addresses":\["100\.64\.0\.1/32","fd7a:115c:a1e0::1/128"\]' "with its old addresses"
like "$out" '"Name":"bobs-laptop\..*"Expired":true' "its peers include bob's expired laptop"
like "$(node new1 register --authkey "$(key 1)")" '"MachineAuthorized":true' "old key 1 registers a new node"
is "$(w s1 nodes list --json | py "[(n['id'], n['ipv4']) for n in d['nodes'] if n['name'] == 'new1']")" \
    "[(4, '100.64.0.4')]" "which gets the next ID and the next free address"
like "$(node new2 register --authkey "$(key 2)")" '"Error":"auth key has already been used' "old single-use key 2 stays used"
like "$(node new2 register --authkey "$(key 3)")" '"Error":"auth key has expired' "old key 3 stays expired"
like "$(node new2 register --authkey "$(key 4)")" '"Error":"auth key has been revoked' "old key 4 stays revoked"
stop_weft serve TERM
is "$WEFT_RC" 0 "clean stop"
unlike "$(cat serve.log)" 'level=error' "no errors logged"
start_weft serve2 serve $(args s1)
wait_for 10 grep -q 'event=started' serve2.log; ok $? "the upgraded database opens again"
is "$(w s1 nodes list --json | py "len(d['nodes'])")" 4 "with its 4 nodes"
stop_weft serve2 TERM

# ---- a migration that fails half-way ----
mkdir -m 700 s2 && cp "$D/control.db" s2/control.db && chmod 600 s2/control.db
# An index with the name migration 2 creates: its ALTER TABLE runs, then its CREATE INDEX is refused.
q s2/control.db 'CREATE INDEX nodes_user_id ON users(name)'
before=$(rows s2/control.db)
out=$("$WEFT" serve $(args s2) 2>&1); rc=$?
is "$rc" 1 "weft serve exits 1 when a migration fails"
like "$out" 'migration 1 -> 2.*index nodes_user_id already exists' "the error names the migration and the cause"
like "$out" 'the database keeps its last complete schema' "and says the database is left as it was"
is "$(q s2/control.db 'PRAGMA user_version')" 1 "the database stays at schema 1"
is "$(q s2/control.db "SELECT count(*) FROM pragma_table_info('nodes') WHERE name = 'capver'")" 0 \
    "nothing of the failed step is left (no capver column)"
is "$(q s2/control.db 'PRAGMA integrity_check') $(rows s2/control.db)" "ok $before" "integrity ok, every row kept"
ok "$([ -f s2/control.db.schema-1.bak ] && echo 0 || echo 1)" "the backup copy was made before the attempt"
# restore from the backup copy, as an operator would, remove the cause, upgrade
cp s2/control.db.schema-1.bak s2/control.db && rm -f s2/control.db-wal s2/control.db-shm
is "$(q s2/control.db 'PRAGMA user_version') $(rows s2/control.db)" "1 $before" "the restored file is the schema-1 database"
q s2/control.db 'DROP INDEX nodes_user_id'
start_weft serve3 serve $(args s2)
wait_for 10 grep -q 'event=started' serve3.log; ok $? "with the cause removed, the restored database upgrades"
is "$(q s2/control.db 'PRAGMA user_version') $(w s2 nodes list --json | py "len(d['nodes'])")" "$latest 3" \
    "to schema $latest, with its 3 nodes"
stop_weft serve3 TERM
done_testing
