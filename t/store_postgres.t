#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The real weft control on a real PostgreSQL server (Debian's postgresql, started here as an unprivileged
# user): nodes register and see each other; PostgreSQL restarted under the running control (requests fail
# cleanly meanwhile, control recovers); `weft db migrate` from a populated SQLite file, and a control
# started on the copy serving the same nodes. Also control.database / database_dsn_file at check-config.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/pg_lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3 psql
pg_need
cd "$TMP" || exit 1

# --- check-config: the keys are checked with FILE:LINE:COL ---
printf 'roles: [control]\ncontrol:\n  database: "mysql://x/y"\n' > bad1.yaml
out=$("$WEFT" check-config -c bad1.yaml 2>&1)
like "$out" 'bad1.yaml:3:[0-9]+: .*control.database.*not a database control knows' "check-config: an unknown DSN scheme, with FILE:LINE:COL"
printf 'postgres:///weft?host=/x\n' > open.dsn; chmod 644 open.dsn
printf 'roles: [control]\ncontrol:\n  database_dsn_file: %s/open.dsn\n' "$TMP" > bad2.yaml
out=$("$WEFT" check-config -c bad2.yaml 2>&1)
like "$out" 'bad2.yaml:3:[0-9]+: .*database_dsn_file.*readable by every user' "check-config: a DSN file others can read is refused"
printf 'roles: [control]\ncontrol:\n  database: x.db\n  database_dsn_file: %s/open.dsn\n' "$TMP" > bad3.yaml
chmod 600 open.dsn
out=$("$WEFT" check-config -c bad3.yaml 2>&1)
like "$out" 'bad3.yaml:4:[0-9]+: .*set database or database_dsn_file, not both' "check-config: not both keys"
printf 'roles: [control]\ncontrol:\n  database_dsn_file: %s/open.dsn\n' "$TMP" > good.yaml
"$WEFT" check-config -c good.yaml >/dev/null 2>&1; ok $? "check-config: a good DSN file passes"

pg_start; ok $? "PostgreSQL starts (initdb, pg_ctl as $PG_USER)" || { done_testing; }

port=$(free_port)
url=http://127.0.0.1:$port
state=$TMP/state
printf '%s&password=s3cret-pw\n' "$PG_DSN" > pg.dsn; chmod 600 pg.dsn # trust auth: the password goes unused
args=(-o state_dir=$state -o control.listen=127.0.0.1:$port -o control.server_url=$url -o control.keepalive=1s
      -o control.database_dsn_file=$TMP/pg.dsn -o control.derp_map_file=)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }

start_weft serve serve control "${args[@]}"
wait_for 20 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft control starts on PostgreSQL"
like "$(grep 'event=store' serve.log)" 'database="postgres:///weft\?.*password=\*\*\*' "it logs the database with the password hidden"
unlike "$(cat serve.log)" 's3cret-pw' "the password is nowhere in the log"
is "$(pg_sql weft 'SELECT version FROM weft_schema')" "$(pg_sql weft 'SELECT max(version) FROM weft_schema')" "schema version kept in weft_schema"

w users create alice >/dev/null; ok $? "weft users create"
key=$(w authkeys create --user alice --reusable | tail -1)
like "$key" '^weft-auth-' "an auth key"
like "$(node node1 register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node1 registers"
node node1 map 100 60 > n1.map 2>n1.err &
n1pid=$!
on_exit "kill $n1pid"
wait_for 10 test -s n1.map; ok $? "node1's map stream opens"
like "$(node node2 register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node2 registers"
wait_for 5 grep -q '"PeersChanged":\[{"ID":2,' n1.map; ok $? "node2 reaches node1's stream"
like "$(node node2 map 1 10 | head -1)" '"Peers":\[\{"ID":1,' "node2's map has node1"
is "$(pg_sql weft 'SELECT count(*) FROM nodes')" 2 "both nodes are rows in PostgreSQL"

# --- PostgreSQL restarted under the running control ---
pg_stop fast; ok $? "PostgreSQL stopped under the running control"
out=$(node node3 register --authkey "$key")
like "$out" '^5[0-9][0-9] ' "a registration meanwhile fails cleanly with a 5xx"
out=$(node node4 register --authkey "$key")
like "$out" '^5[0-9][0-9] ' "and the next one too, at once (backoff)"
kill -0 "$(weft_pid serve)"; ok $? "control is still running"
out=$(w nodes list); ok $? "the admin API still answers (from memory)"
like "$out" 'node2' "and lists the nodes"
grep -q '"PeersChanged":\[{"ID":2,' n1.map && kill -0 $n1pid 2>/dev/null; ok $? "node1's map stream stayed open"
pg_start; ok $? "PostgreSQL started again"
reg_ok() { node node3 register --authkey "$key" | grep -q '^200 .*"MachineAuthorized":true'; }
wait_for 40 reg_ok; ok $? "control recovers: node3 registers (reconnected after the backoff)"
wait_for 5 grep -q '"PeersChanged":\[{"ID":3,' n1.map; ok $? "node3 reaches node1's stream"
like "$(grep 'event=register_failed' serve.log | head -1)" 'unavailable|connection|terminating|closed' "the failures were logged with the reason"
is "$(pg_sql weft 'SELECT count(*) FROM nodes')" 3 "three nodes stored"
stop_weft serve; is "$WEFT_RC" 0 "control stops cleanly"
kill $n1pid 2>/dev/null; wait $n1pid 2>/dev/null

# --- weft db migrate: a populated SQLite control copied to PostgreSQL ---
port2=$(free_port)
url2=http://127.0.0.1:$port2
state2=$TMP/state2
args2=(-o state_dir=$state2 -o control.listen=127.0.0.1:$port2 -o control.server_url=$url2
       -o control.keepalive=1s -o control.derp_map_file=)
w2() { "$WEFT" "$@" "${args2[@]}"; }
node2() { "$TSNODE" "$url2" "$TMP" "$@"; }
start_weft sq serve control "${args2[@]}"
wait_for 20 grep -q 'event=started' "$TMP/sq.log"; ok $? "a control on SQLite starts"
w2 users create bob >/dev/null && w2 users create carol >/dev/null && w2 users delete carol >/dev/null
w2 users create dave >/dev/null
k2=$(w2 authkeys create --user bob --reusable | tail -1)
w2 authkeys create --user dave >/dev/null
for n in sa sb sc; do node2 $n register --authkey "$k2" >/dev/null; done
w2 nodes delete sb >/dev/null
node2 sd register --authkey "$k2" >/dev/null
w2 apikeys create --description "ci robot" >/dev/null
w2 oauth-clients create --scopes devices:core,dns --description "terraform" >/dev/null
creds_before=$(w2 apikeys list; w2 oauth-clients list)
before=$(w2 nodes list --json | python3 -c 'import json,sys; print(" ".join(sorted("%s:%s" % (n["id"], n["name"]) for n in json.load(sys.stdin)["nodes"])))')
is "$before" "1:sa 3:sc 4:sd" "three nodes on SQLite, with a gap in the ids"
stop_weft sq
# run-time settings (the REST API's DNS settings) and an OpenID identity, written as control writes them
python3 - "$state2/control.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO settings (name, value, updated) VALUES ('dns.nameservers', '[\"192.0.2.9\"]', 1)")
db.execute("INSERT INTO settings (name, value, updated) VALUES ('dns.magic_dns', 'false', 1)")
db.execute("INSERT INTO user_identities (issuer, subject, user_id, created) "
           "SELECT 'https://idp.example', 'sub-bob', id, 1 FROM users WHERE name = 'bob'")
db.commit()
PY

pg_sql postgres "CREATE DATABASE copy" >/dev/null
CP="postgres:///copy?host=$PG_DIR&port=$PG_PORT&user=weft"
out=$("$WEFT" db migrate --from "sqlite:$state2/control.db" --to "$CP" 2>&1); rc=$?
ok $rc "weft db migrate sqlite -> postgres"
diag "$out"
like "$out" 'users +2 +2' "users counted on both sides"
like "$out" 'pre-auth keys +2 +2' "pre-auth keys counted"
like "$out" 'nodes +3 +3' "nodes counted"
like "$out" 'API creds +2 +2' "API credentials counted"
like "$out" 'settings +2 +2' "settings counted"
like "$out" 'identities +1 +1' "identities counted"
like "$out" 'counts equal' "counts equal"
is "$(pg_sql copy "SELECT value FROM settings WHERE name = 'dns.nameservers'")" '["192.0.2.9"]' "a setting's value copied"
is "$(pg_sql copy "SELECT u.name FROM user_identities i JOIN users u ON u.id = i.user_id WHERE i.subject = 'sub-bob'")" bob "the identity names the same user"
is "$(pg_sql copy "SELECT description FROM api_credentials WHERE kind = 2")" terraform "an OAuth client's description copied"
out=$("$WEFT" db migrate --from "sqlite:$state2/control.db" --to "$CP" 2>&1); rc=$?
ok $((rc == 0)) "a second copy into the now non-empty target is refused"
like "$out" 'already holds a tailnet.*--force' "saying why and what to do"
"$WEFT" db migrate --from "sqlite:$state2/control.db" --to "$CP" --force >/dev/null 2>&1; ok $? "--force replaces it"
is "$(pg_sql copy 'SELECT count(*) FROM nodes')" 3 "still three nodes after --force"
is "$(pg_sql copy 'SELECT count(*) FROM api_credentials')" 2 "and two API credentials (replaced, not doubled)"
out=$("$WEFT" db migrate --from "$CP" --to "sqlite:$TMP/back.db" 2>&1); ok $? "and back: postgres -> a new SQLite file"
like "$out" 'nodes +3 +3' "three nodes back"
like "$out" 'identities +1 +1' "and the identity"

# the same control (state dir: its key) started on the copy serves the same nodes
start_weft pgc serve control "${args2[@]}" -o "control.database=$CP"
wait_for 20 grep -q 'event=started' "$TMP/pgc.log"; ok $? "control starts on the PostgreSQL copy"
after=$(w2 nodes list --json | python3 -c 'import json,sys; print(" ".join(sorted("%s:%s" % (n["id"], n["name"]) for n in json.load(sys.stdin)["nodes"])))')
is "$after" "$before" "the same nodes, ids and names"
is "$(w2 apikeys list; w2 oauth-clients list)" "$creds_before" "the same API keys and OAuth clients"
like "$(node2 sa map 1 10 | head -1)" '"Peers":\[\{"ID":3,.*"ID":4,' "a migrated node's map has its peers"
like "$(node2 se register --authkey "$k2")" '^200 .*"MachineAuthorized":true' "the migrated auth key registers a new node"
is "$(w2 nodes list --json | python3 -c 'import json,sys; print(max(n["id"] for n in json.load(sys.stdin)["nodes"]))')" 5 "which gets the next id (5), not a copied one"
stop_weft pgc
done_testing
