#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 10 item 11: kill -9 of control while 200 registrations arrive at once. Every registration that was
# answered is in the database after a restart, nothing is there that nobody asked for (no node twice, no
# address twice), SQLite's integrity_check is ok, and the restarted server takes the rest.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/faults/control_lib.sh"
cd "$TMP" || exit 1

P=$(free_port)
start_control c "$P"; ok $? "control starts"
w() { "$WEFT" "$@" -o state_dir="$TMP/c" -o control.listen=127.0.0.1:"$P"; }
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
node() { "$TSNODE" "$URL" "$TMP" "$@"; }

pids=()
for i in $(seq 1 200); do node "c$i" register --authkey "$key" >"c$i.out" 2>&1 & pids+=($!); done
wait_for 30 sh -c "[ \$(grep -c event=node_registered '$TMP/c.log') -ge 20 ]"
kill -9 "$(weft_pid c)"
ok $? "kill -9 with $(grep -c event=node_registered "$TMP/c.log") of 200 registrations logged"
wait "${pids[@]}" 2>/dev/null
answered=$(grep -l '"MachineAuthorized":true' c*.out | sed 's/\.out$//' | sort)
n=$(wc -w <<<"$answered")
ok $((n > 0 ? 0 : 1)) "$n were answered before the kill, the rest lost their connection"
[ "$n" -lt 200 ] || diag "(on this loaded machine all of them were answered before the kill landed)"

integrity=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$TMP/c/control.db")
is "$integrity" ok "PRAGMA integrity_check after the kill: ok"

start_control c2 "$P" -o state_dir="$TMP/c"; ok $? "control restarts on the same state"
json=$(w nodes list --json)
stored=$(python3 -c 'import json,sys; print("\n".join(sorted(n["hostname"] for n in json.load(sys.stdin)["nodes"])))' <<<"$json")
missing=$(comm -23 <(tr ' ' '\n' <<<"$answered" | sort) <(sort <<<"$stored"))
is "$missing" "" "every answered registration is there"
invented=$(comm -13 <(seq 1 200 | sed 's/^/c/' | sort) <(sort <<<"$stored"))
is "$invented" "" "no node nobody asked for"
python3 - "$json" <<'PY'
import json, sys
nodes = json.loads(sys.argv[1])["nodes"]
names = [n["name"] for n in nodes]
bad = [n for n in nodes if n["name"] != n["hostname"]]
v4 = [n["ipv4"] for n in nodes]
sys.exit(0 if not bad and len(set(names)) == len(names) and len(set(v4)) == len(v4) else 1)
PY
ok $? "each machine once (no c5-1), each address once"
# the ones not answered, and those answered, log in again: all 200 end up registered
pids=()
for i in $(seq 1 200); do node "c$i" register --authkey "$key" >"c$i.again" 2>&1 & pids+=($!); done
wait "${pids[@]}"
# a client that gave up (its 10 s timeout, on a loaded machine) tries again, as a real one does
for f in $(grep -L '"MachineAuthorized":true' c*.again); do node "${f%.again}" register --authkey "$key" >"$f" 2>&1; done
is "$(grep -l '"MachineAuthorized":true' c*.again | wc -l)" 200 "after the restart all 200 log in (again)"
is "$(w nodes list --json | grep -o '"id":' | wc -l)" 200 "200 nodes, one per machine"
stop_weft c2 TERM; is "$WEFT_RC" 0 "clean exit"
no_errors c c2
done_testing
