#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# PostgreSQL restarted under two weft control instances while nodes stream from both and endpoint updates
# and registrations keep coming (issue 17 item 4): both instances reconnect and resync their change feed;
# the nodes' streams stay open and no node shows offline to a peer; a change made through the first
# instance after the restart reaches a stream on the second; registrations work again through both.
# WEFT_TEST_GRACE overrides control.offline_grace (0s: marks missed while the feed was down are not held).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/pg_lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3 psql
pg_need
cd "$TMP" || exit 1

pg_start; ok $? "PostgreSQL starts (initdb, pg_ctl as $PG_USER)" || { done_testing; }

ha_pair -o "control.offline_grace=${WEFT_TEST_GRACE:-10s}"

w1 users create alice >/dev/null; ok $? "a user"
key=$(w1 authkeys create --user alice --reusable | tail -1)
like "$(node1 na register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node A registers through instance 1"
like "$(node2 nb register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node B registers through instance 2"
node1 na map 1000 600 > a.map 2>a.err &
apid=$!
node2 nb map 1000 600 > b.map 2>b.err &
bpid=$!
on_exit "kill $apid $bpid 2>/dev/null"
wait_for 10 test -s a.map; ok $? "A streams from instance 1"
wait_for 10 test -s b.map; ok $? "B streams from instance 2"
a_id=$(pg_sql weft "SELECT id FROM nodes WHERE given_name = 'na'")
b_id=$(pg_sql weft "SELECT id FROM nodes WHERE given_name = 'nb'")
online_log() { online_states "$1" "$2"; }
both_online() { online_log b.map "$a_id" | tail -1 | grep -q true && online_log a.map "$b_id" | tail -1 | grep -q true; }
wait_for 10 both_online; ok $? "each sees the other online"

# --- load: endpoint updates through both instances and registrations, all along ---
load() {
    local i=0
    while [ ! -e stop-load ]; do
        i=$((i + 1))
        node1 na lite "192.0.2.1:$((10000 + i))" >/dev/null 2>&1
        node2 nb lite "192.0.2.2:$((10000 + i))" >/dev/null 2>&1
        node$((i % 2 + 1)) "l$i" register --authkey "$key" >>regs.out 2>/dev/null
    done
}
load &
lpid=$!
on_exit "touch '$TMP/stop-load'; kill $lpid 2>/dev/null"
sleep 2
tstop=$(date +%s%3N)
pg_stop fast; ok $? "PostgreSQL stopped (fast) under load"
# instance 2 is paused while the database comes back, so that instance 1 resyncs and (leading) withdraws
# instance 2's marks, which the database kept, before instance 2 has written them again: its nodes must
# stay online meanwhile (control.offline_grace)
kill -STOP "$(weft_pid c2)"
sleep 2
pg_start; ok $? "and started again"
tstart=$(date +%s%3N)
resynced() { [ "$(grep -c 'event=cluster_resync' "$1")" -ge 1 ]; }
wait_for 40 resynced c1.log; ok $? "instance 1 reconnected and resynced its change feed"
one_instance() { [ "$(pg_sql weft 'SELECT count(*) FROM weft_ha.instances')" = 1 ]; }
wait_for 20 one_instance; ok $? "and withdrew the instances whose sessions the restart ended (instance 2 is paused)"
sleep 1
kill -CONT "$(weft_pid c2)"
wait_for 40 resynced c2.log; ok $? "instance 2, resumed, reconnected and resynced too"
diag "pg_ctl start returned -> resynced: instance 1 $(( $(date -d "$(grep -m1 'event=cluster_resync' c1.log | sed 's/^time=\([^ ]*\).*/\1/')" +%s%3N) - tstart )) ms," \
     "instance 2 $(( $(date -d "$(grep -m1 'event=cluster_resync' c2.log | sed 's/^time=\([^ ]*\).*/\1/')" +%s%3N) - tstart )) ms"
sleep 3 # the load goes on after the restart
touch stop-load; wait $lpid
ok "$(kill -0 $apid 2>/dev/null && kill -0 $bpid 2>/dev/null; echo $?)" "A's and B's streams stayed open"
offline_since_stop() { online_log "$1" "$2" | awk -v t="$tstop" '$1 >= t && $2 == "false"' | grep -q .; }
offline_since_stop b.map "$a_id"; ok $((!$?)) "B never saw A offline since the restart"
offline_since_stop a.map "$b_id"; ok $((!$?)) "A never saw B offline since the restart"

# --- a change through instance 1 after the restart reaches B's stream on instance 2 ---
t0=$(date +%s%3N)
w1 nodes rename na ayy >/dev/null; ok $? "A renamed through instance 1"
wait_for 5 grep -q '"Name":"ayy\.' b.map; ok $? "the new name reaches B's stream on instance 2"
t1=$(grep -m1 '"Name":"ayy\.' b.map | cut -d' ' -f1)
diag "rename through instance 1 after the restart -> B's stream on instance 2: $((t1 - t0)) ms (includes the weft CLI's start)"
like "$(node2 after2 register --authkey "$key")" '^200 .*"MachineAuthorized":true' "a registration through instance 2 after the restart"
wait_for 5 grep -q '"Name":"after2\.' a.map; ok $? "reaches A's stream on instance 1"
like "$(node1 after1 register --authkey "$key")" '^200 .*"MachineAuthorized":true' "and one through instance 1"
wait_for 5 grep -q '"Name":"after1\.' b.map; ok $? "reaches B's stream on instance 2"
is "$(pg_sql weft 'SELECT count(*) - count(DISTINCT ipv4) FROM nodes')" 0 "no address given twice across the restart"
diag "$(grep -c '^200 ' regs.out) registrations under load succeeded, $(grep -vc '^200 ' regs.out) failed (while the database was down or instance 2 paused)"
stop_weft c1; is "$WEFT_RC" 0 "instance 1 stops cleanly"
stop_weft c2; is "$WEFT_RC" 0 "instance 2 stops cleanly"
done_testing
