#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Failover between two weft control instances on one real PostgreSQL (issue 17 item 3): kill -9 of the
# instance (the leader) that nodes stream from. A node that reconnects to the other instance within
# control.offline_grace never shows offline to a peer watching through the survivor; a node that does not
# come back shows offline once the grace is over; an ephemeral node that does not come back is removed by
# the survivor (the singleton job moved with the leader lock).
# WEFT_TEST_GRACE overrides the grace (0s shows what peers saw before it: the test then fails).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/pg_lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3 psql
pg_need
cd "$TMP" || exit 1

pg_start; ok $? "PostgreSQL starts (initdb, pg_ctl as $PG_USER)" || { done_testing; }

GRACE=${WEFT_TEST_GRACE:-6s}
grace_ms=$(( ${GRACE%s} * 1000 ))
ha_pair -o control.ephemeral_timeout=2s -o "control.offline_grace=$GRACE"
like "$(grep 'event=cluster_joined' c1.log)" 'leader=yes' "instance 1 leads"

w1 users create alice >/dev/null; ok $? "a user"
key=$(w1 authkeys create --user alice --reusable | tail -1)
ekey=$(w1 authkeys create --user alice --reusable --ephemeral | tail -1)
like "$ekey" '^weft-auth-' "a reusable key and an ephemeral one"

# back: reconnects to instance 2 within the grace; gone: never comes back; eph: ephemeral, never comes back
for n in back gone; do
    like "$(node1 $n register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node $n registers through instance 1"
done
like "$(node1 eph register --authkey "$ekey")" '^200 .*"MachineAuthorized":true' "ephemeral node eph registers through instance 1"
pids=()
for n in back gone eph; do
    node1 $n map 1000 600 > $n.map 2>$n.err &
    pids+=($!)
done
on_exit "kill ${pids[*]} 2>/dev/null"
like "$(node2 watcher register --authkey "$key")" '^200 .*"MachineAuthorized":true' "the watcher registers through instance 2"
node2 watcher map 1000 600 > w.map 2>w.err &
wpid=$!
on_exit "kill $wpid 2>/dev/null"
wait_for 10 test -s w.map; ok $? "the watcher's stream on instance 2 opens"
id_of() { pg_sql weft "SELECT id FROM nodes WHERE given_name = '$1'"; }
back=$(id_of back); gone=$(id_of gone); eph=$(id_of eph)
# the watcher's view of a node's online state, line by line: "MS true|false" each time it is told
online_log() { online_states w.map "$1"; }
all_online() { for i in $back $gone $eph; do [ "$(online_log $i | tail -1 | cut -d' ' -f2)" = true ] || return 1; done; }
wait_for 10 all_online; ok $? "the watcher sees back, gone and eph online (streaming from instance 1)"

# --- kill -9 of instance 1, the leader ---
t0=$(date +%s%3N)
kill -9 "$(weft_pid c1)"
wait "${pids[@]}" 2>/dev/null
reaped() { [ "$(pg_sql weft 'SELECT count(*) FROM weft_ha.instances')" = 1 ]; }
wait_for 10 reaped; ok $? "instance 2 took the leader lock and withdrew the dead instance (its row is gone)"
treap=$(date +%s%3N)
diag "instance 1 killed -> withdrawn by instance 2: $((treap - t0)) ms"
grep -q 'event=cluster_leader instance=[0-9]* leader=yes' c2.log; ok $? "instance 2 says it leads"
sleep 0.5 # the withdrawal's changes reach instance 2's streams (batch_delay)
node2 back map 1000 600 > back2.map 2>back2.err &
bpid=$!
on_exit "kill $bpid 2>/dev/null"
wait_for 10 test -s back2.map; ok $? "back reconnects to instance 2 after the withdrawal, within the grace"

went_offline() { online_log "$1" | grep -q ' false$'; }
wait_for 30 went_offline "$gone"; ok $? "gone (did not come back) shows offline to the watcher"
toff=$(online_log "$gone" | grep -m1 ' false$' | cut -d' ' -f1)
diag "instance 1 killed -> gone offline on the watcher's stream: $((toff - t0)) ms (grace $GRACE)"
[ $((toff - t0)) -ge "$grace_ms" ]; ok $? "not before the grace was over ($((toff - t0)) ms >= $grace_ms ms)"
went_offline "$back"; ok $((!$?)) "back never showed offline to the watcher"
is "$(online_log "$back" | tail -1 | cut -d' ' -f2)" true "and is online there"
grep -q "event=cluster_grace_over node=$gone " c2.log; ok $? "instance 2 logged the grace's end for gone"

# --- the ephemeral node: removed by instance 2, the new leader ---
removed() { [ "$(pg_sql weft "SELECT count(*) FROM nodes WHERE id = $eph")" = 0 ]; }
wait_for 30 removed; ok $? "eph (ephemeral, did not come back) is removed from the database by instance 2"
wait_for 5 grep -Eq '"PeersRemoved":\[([0-9]+,)*'"$eph"'[],]' w.map; ok $? "and the watcher hears it was removed"
is "$(pg_sql weft 'SELECT count(*) FROM nodes')" 3 "back, gone and the watcher stay"
stop_weft c2; is "$WEFT_RC" 0 "instance 2 stops cleanly"
done_testing
