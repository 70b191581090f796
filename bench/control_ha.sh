#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Propagation across control instances (issue 17): two `weft serve control` on one real PostgreSQL, a
# tailnet of WEFT_BENCH_NODES nodes (default 50) registered through both, one watcher node streaming from
# instance 1. WEFT_BENCH_ROUNDS times (default 30) a node registered through instance 2 sends an endpoint
# update to instance 2 (tsnode lite); the figure is the time from that change's row in the change log
# (weft_ha.changes.at: PostgreSQL's clock when the update statement ran on instance 2's connection) to the
# watcher's stream on instance 1 receiving the patch (tsnode map's receive time). It includes: the commit,
# NOTIFY delivery, instance 1 reading the node (one row), its fan-out batch (control.batch_delay, set by
# WEFT_BENCH_BATCH, default 100ms as shipped) and the stream write. The same through instance 1 (change and
# stream on one instance) is printed for comparison. WEFT_BENCH_INSTANCES=1 runs instance 1 alone (every
# node registered and updated through it): the same path without a second instance to tell. Needs
# PostgreSQL's initdb/pg_ctl and psql. Also printed: the time to admit the nodes (registrations with an auth
# key, 8 at a time, each a tsnode process: its start is included).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/pg_lib.sh"
nodes=${WEFT_BENCH_NODES:-50}
rounds=${WEFT_BENCH_ROUNDS:-30}
batch=${WEFT_BENCH_BATCH:-100ms}
instances=${WEFT_BENCH_INSTANCES:-2}
TSNODE=${WEFT_BUILDDIR:-$WEFT_SRCDIR}/t/tools/tsnode
PG_BIN=$(pg_bindir) || { echo "bench/control_ha: skipped (needs PostgreSQL's initdb and pg_ctl)"; exit 0; }
"$WEFT" modules 2>/dev/null | grep -q '^store_postgres' || { echo "bench/control_ha: skipped (no store_postgres)"; exit 0; }
[ -x "$TSNODE" ] && command -v psql >/dev/null || { echo "bench/control_ha: skipped (needs t/tools/tsnode, psql)"; exit 0; }
PG_USER=$(id -un)
is_root && PG_USER=nobody
cd "$TMP" || exit 1
pg_start || { echo "bench/control_ha: PostgreSQL did not start"; exit 1; }

p1=$(free_port); p2=$(free_port)
url1=http://127.0.0.1:$p1; url2=http://127.0.0.1:$p2
common=(-o control.keepalive=30s -o control.derp_map_file= -o "control.database=$PG_DSN" -o "control.batch_delay=$batch")
start_weft c1 serve control -o state_dir=$TMP/s1 -o control.listen=127.0.0.1:$p1 -o control.server_url=$url1 "${common[@]}"
wait_for 20 grep -q 'event=started' c1.log || { echo "bench/control_ha: instance 1 did not start"; exit 1; }
if ((instances == 2)); then
    mkdir -p s2 && cp s1/control.key s2/ && chmod 600 s2/control.key
    start_weft c2 serve control -o state_dir=$TMP/s2 -o control.listen=127.0.0.1:$p2 -o control.server_url=$url2 "${common[@]}"
    wait_for 20 grep -q 'event=started' c2.log || { echo "bench/control_ha: instance 2 did not start"; exit 1; }
else
    url2=$url1
fi
w1() { "$WEFT" "$@" -o state_dir=$TMP/s1 -o control.database=$PG_DSN; }
w1 users create bench >/dev/null
key=$(w1 authkeys create --user bench --reusable | tail -1)
"$TSNODE" "$url1" "$TMP" watcher register --authkey "$key" >/dev/null
regs=()
t_admit=$(date +%s%3N)
for i in $(seq 1 "$nodes"); do
    if ((i % 2)); then u=$url2; else u=$url1; fi
    "$TSNODE" "$u" "$TMP" "n$i" register --authkey "$key" >/dev/null &
    regs+=($!)
    if ((${#regs[@]} == 8)); then wait "${regs[@]}"; regs=(); fi
done
((${#regs[@]})) && wait "${regs[@]}"
t_admit=$(( $(date +%s%3N) - t_admit ))
"$TSNODE" "$url1" "$TMP" watcher map 100000 3600 > watch.map 2>/dev/null &
on_exit "kill $! 2>/dev/null"
wait_for 10 test -s watch.map || { echo "bench/control_ha: the watcher's stream did not open"; exit 1; }

# measure URL NODE BASE: one endpoint update per round (ports from BASE); the latencies in ms, one a line
measure() {
    local url=$1 name=$2 base=$3 r id at got port
    id=$(pg_sql weft "SELECT id FROM nodes WHERE given_name = '$name'")
    for r in $(seq 1 "$rounds"); do
        port=$((base + r))
        "$TSNODE" "$url" "$TMP" "$name" lite "192.0.2.1:$port" >lite.out 2>&1 ||
            { echo "bench/control_ha: the update failed: $(head -c 200 lite.out)" >&2; continue; }
        wait_for 10 grep -q "192.0.2.1:$port" watch.map ||
            { echo "bench/control_ha: an update did not reach the watcher within 10 s" >&2; continue; }
        got=$(grep -m1 "192.0.2.1:$port" watch.map | cut -d' ' -f1)
        at=$(pg_sql weft "SELECT (extract(epoch from at) * 1000)::bigint FROM weft_ha.changes WHERE kind = 'N' AND obj = $id ORDER BY seq DESC LIMIT 1")
        echo $((got - at))
    done
}
stats() {
    sort -n | awk '{v[NR] = $1; s += $1}
        END {if (!NR) exit; p = int(NR * 0.9 + 0.5); if (p < 1) p = 1;
             printf "n=%d min=%d median=%d p90=%d max=%d mean=%.1f ms\n", NR, v[1], v[int((NR + 1) / 2)], v[p], v[NR], s / NR}'
}
total=$(pg_sql weft "SELECT count(*) FROM nodes")
echo "bench/control_ha: $instances instance(s) on one PostgreSQL, $total nodes, batch_delay $batch, $rounds rounds"
how="8 registrations at a time"
((instances == 2)) && how="$how, through both instances in turn"
echo "  admitted $nodes nodes ($how) in $t_admit ms:" \
     "$(awk -v n="$nodes" -v t="$t_admit" 'BEGIN {printf "%.0f nodes/s, %.1f ms a node", n * 1000 / t, t / n}')"
((instances == 2)) &&
    echo "  change through instance 2 -> watcher's stream on instance 1: $(measure "$url2" n1 20000 | stats)"
echo "  change through instance 1 -> watcher's stream on instance 1: $(measure "$url1" n2 30000 | stats)"
stop_weft c1
((instances == 2)) && stop_weft c2
