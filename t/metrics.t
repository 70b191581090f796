#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Observability: /metrics on its own loopback listener (not the public one), scraped after real activity
# (registrations good and bad, map streams, a delta fanned out, admin commands), with values that must
# have moved; process metrics and build info; the admin actions and refused logins in the log with what
# changed and where from; log timestamps on, off, and off under the journal.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd curl
cd "$TMP" || exit 1

port=$(free_port)
mport=$(free_port)
url=http://127.0.0.1:$port
args=(-o state_dir=$TMP/state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen= -o control.server_url=$url -o control.dns.base_domain=example.com
      -o metrics_listen=127.0.0.1:$mport)
w() { "$WEFT" "$@" "${args[@]}"; }
node() { "$TSNODE" "$url" "$TMP" "$@"; }
scrape() { curl -s -m 5 "http://127.0.0.1:$mport/metrics"; }
metric() { scrape | awk -v m="$1" '$1 == m { print $2 }'; } # metric NAME_WITH_LABELS

start_weft serve serve "${args[@]}" -o log_timestamps=on
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve (control + derp) starts"
like "$(grep 'event=metrics' "$TMP/serve.log")" "addr=127.0.0.1:$mport path=/metrics" "it logs where /metrics is"
like "$(http_get "$url/metrics")" '^404' "no /metrics on the public listener"

m=$(scrape)
like "$m" '^weft_build_info\{version="[0-9][^"]*",abi="[0-9]+"\} 1$' "build info"
like "$m" '^process_resident_memory_bytes [1-9][0-9]{5,}$' "resident memory in bytes"
like "$m" '^process_open_fds [1-9][0-9]*$' "open fds"
like "$m" '^process_max_fds [1-9][0-9]*$' "max fds"
like "$m" '^process_cpu_seconds_total [0-9.e-]+$' "CPU seconds"
start=$(metric process_start_time_seconds); now=$(date +%s)
ok "$(awk -v s="${start:-0}" -v n="$now" 'BEGIN { exit !(s > n - 120 && s <= n + 1) }'; echo $?)" \
    "process start time is now-ish ($start, now $now)"
like "$m" '^# TYPE weft_control_registrations_total counter$' "counters are typed"
like "$m" '^# TYPE weft_control_delta_latency_seconds histogram$' "histograms are typed"
like "$m" '^derp_connections\{kind="client"\} 0$' "the relay's metrics are in the same exposition"
is "$(metric 'weft_control_registrations_total{result="authkey"}')" 0 "no registrations yet"
stores0=$(metric weft_control_store_operation_duration_seconds_count)

# activity: admin commands, a good registration and a refused one, map streams, a delta
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable --tags tag:srv | tail -1)
out=$(node n1 register --authkey "$key"); like "$out" '^200 ' "node n1 registers with a key"
out=$(node n2 register --authkey weft-auth-000000000000000000000000000000000000000000000000)
like "$out" 'invalid' "a bad key is refused"
"$TSNODE" "$url" "$TMP" n1 map 5 30 >n1.map 2>n1.err &
n1=$!
wait_for 5 test -s n1.map; ok $? "n1's map stream is open"
is "$(metric weft_control_map_streams)" 1 "one map stream open"
is "$(metric 'weft_control_nodes{state="online"}')" 1 "one node online"
bytes1=$(metric weft_control_map_bytes_total)
out=$(node n3 register --authkey "$key"); like "$out" '^200 ' "node n3 registers: n1 gets a delta"
w nodes rename n3 renamed >/dev/null; ok $? "an admin renames n3 (another delta)"
wait_for 5 sh -c "[ \"\$(curl -s -m 5 http://127.0.0.1:$mport/metrics | awk '\$1 == \"weft_control_delta_batch_nodes_count\" {print \$2}')\" -ge 1 ]"
ok $? "the fan-out counted its batches"
# n1's deltas may come a batch later than the first count (the policy's view of n3 is computed after its
# registration's batch): wait for them, then check they were counted
wait_for 5 sh -c "[ \"\$(curl -s -m 5 http://127.0.0.1:$mport/metrics | awk '\$1 == \"weft_control_map_bytes_total\" {print \$2}')\" -gt ${bytes1:-0} ]"

m=$(scrape)
like "$m" '^weft_control_registrations_total\{result="authkey"\} 2$' "registrations by key: 2"
like "$m" '^weft_control_registrations_refused_total\{reason="authkey_unknown"\} 1$' "refusals by reason: 1 unknown key"
like "$m" '^weft_control_nodes\{state="offline"\} 1$' "nodes by state: n3 offline"
bytes2=$(metric weft_control_map_bytes_total)
ok "$([ "${bytes2:-0}" -gt "${bytes1:-0}" ] && echo 0 || echo 1)" "map bytes grew with the delta ($bytes1 -> $bytes2)"
like "$m" '^weft_control_delta_latency_seconds_count [1-9]' "delta latencies observed"
like "$m" '^weft_control_delta_latency_seconds_bucket\{le="\+Inf"\} [1-9]' "with a +Inf bucket"
sum=$(printf '%s\n' "$m" | awk '$1 == "weft_control_delta_latency_seconds_sum" { print $2 }')
ok "$(awk -v s="${sum:-0}" 'BEGIN { exit !(s > 0 && s < 60) }'; echo $?)" "latency sum is in seconds ($sum)"
like "$m" '^weft_control_delta_batch_nodes_bucket\{le="1"\} [1-9]' "one-node batches"
stores1=$(metric weft_control_store_operation_duration_seconds_count)
ok "$([ "${stores1:-0}" -gt "${stores0:-0}" ] && echo 0 || echo 1)" "store calls were timed ($stores0 -> $stores1)"
kill "$n1" 2>/dev/null; wait "$n1" 2>/dev/null
wait_for 5 sh -c "[ \"\$(curl -s -m 5 http://127.0.0.1:$mport/metrics | awk '\$1 == \"weft_control_map_streams\" {print \$2}')\" = 0 ]"
ok $? "the stream gauge falls back to 0 when it closes"

# logs: admin actions with what changed, refusals with the source address, timestamps
log=$(cat "$TMP/serve.log")
like "$log" 'event=admin action=user_create user=alice id=1' "admin: user created, logged"
like "$log" 'event=admin action=authkey_create id=1 prefix=weft-auth-[0-9a-f]+ user=alice reusable=true ephemeral=false expiration=0 tags=1' \
    "admin: key created, logged with its settings"
unlike "$log" "$key" "the key itself is never logged"
like "$log" 'event=admin action=node_rename node=2 name=n3 new_name=renamed' "admin: rename, old and new name"
like "$log" 'event=register_refused src=127\.0\.0\.1:[0-9]+ reason="invalid auth key: no such key"' "a refused login names its source"
like "$(head -1 "$TMP/serve.log")" '^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z level=' "log_timestamps=on stamps lines"
stop_weft serve

# timestamps: auto is on for a file, off when stderr is the journal's stream (JOURNAL_STREAM=dev:ino)
quick=(serve control -o control.listen=127.0.0.1:0 -o metrics_listen=off)
timeout -s TERM 5 "$WEFT" "${quick[@]}" -o state_dir=$TMP/s2 >"$TMP/auto.log" 2>&1
like "$(head -1 "$TMP/auto.log")" '^time=' "auto: stamped when not under the journal"
python3 - "$WEFT" "$TMP" "${quick[@]}" <<'PY' >"$TMP/journal.out"
import os, subprocess, sys
weft, tmp, args = sys.argv[1], sys.argv[2], sys.argv[3:]
r, w = os.pipe()
st = os.fstat(w)
env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
p = subprocess.Popen([weft] + args + ["-o", "state_dir=" + tmp + "/s3"], stderr=w, stdout=subprocess.DEVNULL,
                     env=env)
os.close(w)
print(os.fdopen(r).readline().rstrip())
p.terminate()
p.wait()
PY
like "$(cat "$TMP/journal.out")" '^level=' "auto: not stamped under the journal (it stamps lines itself)"

# the default listener: loopback, on the role's port (taken or not, it says so)
cport=$(free_port)
start_weft dflt serve control -o state_dir=$TMP/s4 -o control.listen=127.0.0.1:$cport
wait_for 10 grep -q 'event=started' "$TMP/dflt.log"
like "$(grep 'event=metrics' "$TMP/dflt.log")" 'addr=127\.0\.0\.1:9871' "by default /metrics is on 127.0.0.1:9871 (control)"
out=$(timeout 10 "$WEFT" serve control -o state_dir=$TMP/s5 -o control.listen=127.0.0.1:0 \
    -o metrics_listen=127.0.0.1:$cport 2>&1); rc=$?
is "$rc" 1 "a metrics_listen that cannot be had stops the start"
like "$out" "event=metrics addr=127\.0\.0\.1:$cport error=" "and says why"
stop_weft dflt

done_testing
