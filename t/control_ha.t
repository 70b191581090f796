#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Two weft control instances on one real PostgreSQL server (issue 17 item 2): the same control key (a file
# given to each), the same database, different ports. A node registered through one is seen by a node
# streaming from the other; an admin change made through the second reaches a stream on the first;
# a DNS setting changed through the second's REST API reaches a stream on the first; concurrent
# registrations through both get distinct names and addresses; kill -9 of the first: its node
# goes offline on the second once the grace is over (t/control_ha_failover.t: within it), then reconnects
# to the second and gets its full map.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/pg_lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd python3 psql curl
pg_need
cd "$TMP" || exit 1

pg_start; ok $? "PostgreSQL starts (initdb, pg_ctl as $PG_USER)" || { done_testing; }

ha_pair -o control.ephemeral_timeout=600s -o control.offline_grace=2s
like "$(grep 'event=cluster_joined' c1.log)" 'instance=[0-9]+ leader=yes' "instance 1 joined the cluster and leads"
like "$(grep 'event=cluster_joined' c2.log)" 'instance=[0-9]+ leader=no' "instance 2 joined, not leading"

w1 users create alice >/dev/null; ok $? "a user created through instance 1"
key=$(w2 authkeys create --user alice --reusable | tail -1)
like "$key" '^weft-auth-' "an auth key for it made through instance 2 (the user reached its mirror)"

like "$(node1 na register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node A registers through instance 1"
node1 na map 1000 600 > a.map 2>a.err &
apid=$!
on_exit "kill $apid 2>/dev/null"
wait_for 10 test -s a.map; ok $? "A's map stream on instance 1 opens"
like "$(node2 nb register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node B registers through instance 2"
node2 nb map 1000 600 > b.map 2>b.err &
bpid=$!
on_exit "kill $bpid 2>/dev/null"
wait_for 10 test -s b.map; ok $? "B's map stream on instance 2 opens"
like "$(head -1 b.map)" '"Peers":\[\{"ID":1,' "B's first map (instance 2) has A (registered through instance 1)"
like "$(head -1 b.map)" '"Online":true' "and A is online there (its stream is on instance 1)"
wait_for 5 grep -q '"PeersChanged":\[{"ID":2,' a.map; ok $? "B reaches A's stream on instance 1"
# B online on A's stream: an OnlineChange, or (when B's stream opened before instance 1 sent B) B's entry
# in PeersChanged already marked online; either is how a client learns it
b_online_on_a() {
    python3 - a.map <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line.partition(" ")[2])
    except ValueError:
        continue
    if m.get("OnlineChange", {}).get("2") is True or \
            any(p.get("ID") == 2 and p.get("Online") is True for p in m.get("PeersChanged", [])):
        sys.exit(0)
sys.exit(1)
PY
}
wait_for 5 b_online_on_a; ok $? "and A hears that B came online (on instance 2)"

# --- an admin change through instance 2 reaches the stream on instance 1 ---
t0=$(date +%s%3N)
w2 nodes rename nb bee >/dev/null; ok $? "B renamed through instance 2"
wait_for 5 grep -q '"Name":"bee\.' a.map; ok $? "the new name reaches A's stream on instance 1"
t1=$(grep -m1 '"Name":"bee\.' a.map | cut -d' ' -f1)
diag "rename through instance 2 -> A's stream on instance 1: $((t1 - t0)) ms (includes the weft CLI's start)"
wait_for 5 grep -q '"Name":"bee\.' b.map; ok $? "and B's own stream on instance 2"
like "$(w1 nodes list)" 'bee' "instance 1's admin API lists the new name"

# --- a DNS setting changed through instance 2's REST API reaches the stream on instance 1 ---
K=$(w2 apikeys create | tail -1)
like "$K" '^tskey-api-' "an API key made through instance 2"
code=$(curl -s -m 10 -o dns.out -w '%{http_code}' -X POST -H "Authorization: Bearer $K" \
       "$url2/api/v2/tailnet/-/dns/nameservers" -d '{"dns":["192.0.2.77"]}')
is "$code" 200 "nameservers set through instance 2's API (the key reached through the database)"
wait_for 10 grep -q '"Addr":"192.0.2.77"' a.map; ok $? "the new nameserver reaches A's stream on instance 1"
wait_for 10 grep -q '"Addr":"192.0.2.77"' b.map; ok $? "and B's on instance 2"

# --- concurrent registrations through both: one hostname, distinct names and addresses ---
for i in 1 2 3 4 5 6; do
    node1 "c1x$i" register --authkey "$key" --hostname same > "r1x$i" &
    node2 "c2x$i" register --authkey "$key" --hostname same > "r2x$i" &
done
wait_regs() { [ "$(cat r1x* r2x* 2>/dev/null | grep -c '^200 ')" = 12 ]; }
wait_for 30 wait_regs; ok $? "12 concurrent registrations through both instances succeed"
is "$(pg_sql weft 'SELECT count(*) FROM nodes')" 14 "14 nodes stored"
is "$(pg_sql weft 'SELECT count(DISTINCT given_name) FROM nodes')" 14 "every name distinct"
is "$(pg_sql weft 'SELECT count(DISTINCT ipv4) FROM nodes')" 14 "every IPv4 distinct"
is "$(pg_sql weft 'SELECT count(DISTINCT ipv6) FROM nodes')" 14 "every IPv6 distinct"
same_names() { w1 nodes list --json | python3 -c 'import json,sys; print(" ".join(sorted(n["name"] for n in json.load(sys.stdin)["nodes"])))'; }
names2() { w2 nodes list --json | python3 -c 'import json,sys; print(" ".join(sorted(n["name"] for n in json.load(sys.stdin)["nodes"])))'; }
mirrors_agree() { [ "$(same_names)" = "$(names2)" ] && [ "$(same_names | wc -w)" = 14 ]; }
wait_for 10 mirrors_agree; ok $? "both instances' mirrors hold the same 14 nodes"

# --- kill -9 of instance 1 while A streams from it ---
kill -9 "$(weft_pid c1)"
wait $apid 2>/dev/null
offline() { grep -q '"OnlineChange":{"1":false}' b.map; }
wait_for 15 offline; ok $? "A goes offline on B's stream (instance 2 withdrew the dead instance's marks; the 2 s grace is over)"
grep -q 'event=cluster_leader instance=[0-9]* leader=yes' c2.log; ok $? "instance 2 took the leader lock"
node2 na map 1000 600 > a2.map 2>a2.err &
a2pid=$!
on_exit "kill $a2pid 2>/dev/null"
wait_for 10 test -s a2.map; ok $? "A reconnects to instance 2"
like "$(head -1 a2.map)" '"Peers":\[\{"ID":2,.*"Name":"bee\.' "and gets a full map with its peers"
wait_for 5 grep -q '"OnlineChange":{"1":true}' b.map; ok $? "B sees A online again"
like "$(node2 nd register --authkey "$key")" '^200 .*"MachineAuthorized":true' "instance 2 keeps registering nodes"
wait_for 5 grep -q '"PeersChanged":\[{"ID":[0-9]*,.*"Name":"nd\.' a2.map; ok $? "which reach A's stream on instance 2"
stop_weft c2; is "$WEFT_RC" 0 "instance 2 stops cleanly"
done_testing
