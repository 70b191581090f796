#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Interactive registrations across two control instances on one real PostgreSQL server (issue 17): a
# registration started through the first is shown and approved through the second, and the client's
# request waiting on the first is answered (the approval travels in the change feed); the node then
# streams from the second. The cap on waiting registrations (control.max_pending) holds across both. A
# node the second instance has not heard of (its change not announced) is read from the database when
# it asks the second for its map or registers there, instead of being refused or sent to log in again.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/pg_lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd psql curl
pg_need
cd "$TMP" || exit 1

pg_start; ok $? "PostgreSQL starts (initdb, pg_ctl as $PG_USER)" || { done_testing; }

ha_pair -o control.max_pending=3
w1 users create alice >/dev/null; ok $? "a user"

# --- started through instance 1, approved through instance 2 ---
out=$(node1 nx register --hostname laptop)
like "$out" '"AuthURL":"'"$url1"'/register/[0-9a-f]{24}"' "an interactive registration through instance 1: an AuthURL"
authurl=$(echo "$out" | sed 's/.*"AuthURL":"\([^"]*\)".*/\1/')
id=${authurl##*/}
is "$(pg_sql weft "SELECT hostname FROM pending_registrations WHERE id = '$id'")" laptop "it is in the database"
out=$(http_get "$url2/register/$id")
like "$out" '^200 ' "instance 2 answers the AuthURL page"
like "$out" 'Register machine laptop' "with the machine started through instance 1"
node1 nx register --hostname laptop --followup "$authurl" > nx.out &
f=$!
on_exit "kill $f 2>/dev/null"
sleep 0.5
kill -0 $f; ok $? "the Followup request waits on instance 1"
t0=$(date +%s%3N)
w2 nodes register --user alice "$id" >/dev/null; ok $? "weft nodes register through instance 2 approves it"
wait_for 5 grep -q '^200 .*"MachineAuthorized":true' nx.out; ok $? "the client waiting on instance 1 is authorized"
t1=$(date +%s%3N)
diag "approval through instance 2 -> answer on instance 1: $((t1 - t0)) ms (includes the weft CLI's start)"
kill $f 2>/dev/null; wait $f 2>/dev/null # (still waiting only when the approval did not reach it)
like "$(pg_sql weft "SELECT node_id > 0 FROM pending_registrations WHERE id = '$id'")" '^t$' "the registration is marked done"
like "$(w2 nodes register --user alice "$id" 2>&1)" 'already approved|no pending' "a second approval is refused"
is "$(pg_sql weft "SELECT count(*) FROM nodes WHERE hostname = 'laptop'")" 1 "one node registered"
node2 nx map 1000 600 > nx.map 2>nx.err &
mpid=$!
on_exit "kill $mpid 2>/dev/null"
wait_for 10 test -s nx.map; ok $? "the node's map stream opens on instance 2"
like "$(head -1 nx.map)" '"Node":\{"ID":[0-9]+,.*"Name":"laptop\.' "with the node itself in it"
like "$(timeout 10 "$TSNODE" "$url1" "$TMP" nx register --hostname laptop --followup "$authurl")" '^200 .*"MachineAuthorized":true' \
    "a late Followup to instance 1 is answered from the database"

# --- the cap holds across instances (max_pending=3; the approved one counts until it expires) ---
like "$(node1 ny1 register)" '"AuthURL":"' "a second waiting registration through instance 1"
like "$(node2 ny2 register)" '"AuthURL":"' "a third through instance 2"
like "$(node1 ny3 register)" '^503 ' "a fourth through instance 1 is refused (the cap counts both instances)"
like "$(node2 ny3 register)" '^503 ' "and through instance 2"
like "$(node2 ny1 register)" '"AuthURL":"' "a machine asking again replaces its own entry (through the other instance)"
is "$(pg_sql weft 'SELECT count(*) FROM pending_registrations')" 3 "three entries stored"
is "$(pg_sql weft 'SELECT n FROM pending_count')" 3 "and counted"

# --- a node instance 2 has not heard of: its change not announced (as if it were still on its way) ---
key=$(w1 authkeys create --user alice --reusable | tail -1)
pg_sql weft 'ALTER TABLE nodes DISABLE TRIGGER weft_ha_change' >/dev/null
like "$(node1 nq register --authkey "$key")" '"MachineAuthorized":true' "node nq registers through instance 1"
like "$(node1 nr register --authkey "$key")" '"MachineAuthorized":true' "node nr registers through instance 1"
pg_sql weft 'ALTER TABLE nodes ENABLE TRIGGER weft_ha_change' >/dev/null
unlike "$(w2 nodes list)" '\bnq\b' "instance 2's mirror does not hold nq"
node2 nq map 1 10 > nq.map 2>nq.err
like "$(head -1 nq.map)" '"Node":\{"ID":[0-9]+,.*"Name":"nq\.' "nq's map request to instance 2 is served (read from the database)"
like "$(node2 nr register)" '^200 .*"MachineAuthorized":true' "nr registering again through instance 2 is known, not sent to log in"
like "$(w2 nodes list)" '\bnq\b' "instance 2's mirror holds nq now"

stop_weft c2; is "$WEFT_RC" 0 "instance 2 stops cleanly"
stop_weft c1; is "$WEFT_RC" 0 "instance 1 stops cleanly"
done_testing
