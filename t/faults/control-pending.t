#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 10 item 2: interactive registrations cannot make control hold unbounded memory. Anyone who
# reaches /ts2021 can send RegisterRequests without an auth key; each used to keep its whole Hostinfo
# (up to 1 MiB) for 30 minutes, with no cap per machine or overall (16 connections x 8 requests of a 1 MB
# Hostinfo took the server from 15 MB to ~1 GB in 20 s). Now: one pending registration per machine key
# (a new request replaces the old), control.max_pending in all (503 past it, logged once), a small
# cleaned Hostinfo each, at most 4 waiting Followups each.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/faults/control_lib.sh"
cd "$TMP" || exit 1

P=$(free_port)
start_control c "$P" -o control.max_pending=40; ok $? "control starts with control.max_pending=40"

# register_json FILE NODEKEY HOSTNAME PAD [FOLLOWUP]: a RegisterRequest without an auth key
register_json() {
    python3 - "$@" <<'PY'
import json, sys
f, nk, host, pad = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
follow = sys.argv[5] if len(sys.argv) > 5 else ""
hi = {"Hostname": host, "OS": "linux"}
if pad:
    hi["Padding"] = "x" * pad
body = {"Version": 97, "NodeKey": nk, "OldNodeKey": "nodekey:" + "0" * 64, "Expiry": "0001-01-01T00:00:00Z",
        "Followup": follow, "Hostinfo": hi, "NodeKeySignature": None}
open(f, "w").write(json.dumps(body))
PY
}
nodekey() { printf 'nodekey:%s' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
authurl() { sed -n 's/.*"AuthURL":"\([^"]*\)".*/\1/p'; }
printf 'privkey:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > m.key
chmod 600 m.key

# one entry per machine key
nk1=$(nodekey); nk2=$(nodekey)
register_json r1.json "$nk1" one 0; register_json r2.json "$nk2" two 0
u1=$("$CTLC" -k m.key -c "$MK" "$URL" POST:/machine/register:@r1.json | authurl)
like "$u1" "^$URL/register/[0-9a-f]{24}$" "an interactive registration gets an AuthURL"
like "$(http_get "$u1" | tr '\n' ' ')" '^200 .*Register machine one' "its page answers"
u1b=$("$CTLC" -k m.key -c "$MK" "$URL" POST:/machine/register:@r1.json | authurl)
is "$u1b" "$u1" "the same machine and node key asking again: the same AuthURL (an admin may have it already)"
u2=$("$CTLC" -k m.key -c "$MK" "$URL" POST:/machine/register:@r2.json | authurl)
ok $([ -n "$u2" ] && [ "$u2" != "$u1" ]; echo $?) "a new node key from the same machine: a new AuthURL"
like "$(http_get "$u1")" '^404 ' "and it replaced the machine's first registration"
like "$(http_get "$u2" | tr '\n' ' ')" '^200 .*Register machine two' "the new one is there"

# at most 4 Followups wait on one registration
register_json f2.json "$nk2" two 0 "$u2"
f=(); for i in 1 2 3 4 5 6; do f+=(POST:/machine/register:@f2.json); done
out=$("$CTLC" -k m.key -c "$MK" -s -n 1 -t 2000 "$URL" "${f[@]}" 2>&1)
like "$out" 'statuses 429:[2-9]' "Followups past 4 on one registration: 429" || diag "$out"
n429=$(grep -o '429:[0-9]*' <<<"$out" | cut -d: -f2)
is "$(metric c 'weft_control_registrations_refused_total{reason="too_many_followups"}')" "${n429:-0}" \
    "and counted in /metrics"

# the attack: 17 machines x 8 requests with a 1 MB Hostinfo each (one after the other on each connection:
# this is about what registrations keep, not what a connection buffers)
register_json big.json "$(nodekey)" attacker 1000000
size=$(stat -c %s big.json)
ok $((size > 1000000 && size <= 1048576 ? 0 : 1)) "a RegisterRequest of $size bytes (1 MB of Hostinfo)"
reqs=(); for i in 1 2 3 4 5 6 7 8; do reqs+=(POST:/machine/register:@big.json); done
before=$(rss_kb c)
statuses=""
for round in 1; do
    out=$("$CTLC" -c "$MK" -1 -s -n 16 -t 30000 "$URL" "${reqs[@]}" 2>&1)
    statuses+=" $(sed -n 's/^statuses //p' <<<"$out")"
done
after=$(rss_kb c)
growth=$(((after - before) / 1024))
diag "RSS $((before / 1024)) MB -> $((after / 1024)) MB after 17 x 8 registrations of a 1 MB Hostinfo" \
     "(answers:$statuses)"
ok $((growth < 40 * MEMSCALE ? 0 : 1)) \
    "the server's memory grows by ${growth} MB, not by what was sent (136 MB; < $((40 * MEMSCALE)) MB)"
codes=$(grep -o '[0-9]*:' <<<"$statuses" | sort -u | tr -d '\n')
like "$codes" '^(200:)?(503:)?$' "every answer is an AuthURL (200) or a refusal (503) ($codes)"

# the cap: 50 more machines with small requests; at most 40 wait in all
register_json r3.json "$(nodekey)" three 0
out=$("$CTLC" -c "$MK" -s -n 49 -t 20000 "$URL" POST:/machine/register:@r3.json 2>&1)
s=$(sed -n 's/^statuses //p' <<<"$out")
n200=$(grep -o '200:[0-9]*' <<<"$s" | cut -d: -f2); n503=$(grep -o '503:[0-9]*' <<<"$s" | cut -d: -f2)
ok $((${n200:-0} <= 39 && ${n503:-0} >= 11 && ${n200:-0} + ${n503:-0} == 50 ? 0 : 1)) \
    "50 new machines: ${n200:-0} get an AuthURL, ${n503:-0} get 503 (at most 40 wait, one is there already)"
n=$(grep -c 'event=register_refused reason=too_many_pending' "$TMP/c.log")
is "$n" 1 "the cap is logged once, not once per refusal"
like "$(grep 'reason=too_many_pending' "$TMP/c.log")" 'max_pending=40' "the log line names the limit"
out=$("$CTLC" -c "$MK" "$URL" POST:/machine/register:@r1.json 2>&1)
like "$out" 'response POST:/machine/register:@r1.json 503 .*waiting for approval' \
    "a new machine is refused with a readable 503 while the table is full"
n503all=$(grep -o '503:[0-9]*' <<<"$statuses" | awk -F: -v n="${n503:-0}" '{ s += $2 } END { print s + n + 1 }')
is "$(metric c 'weft_control_registrations_refused_total{reason="too_many_pending"}')" "$n503all" \
    "/metrics counts every refusal for the cap ($n503all), by its reason"
like "$(http_get "$u2")" '^200 ' "registrations already waiting are still there"

kill -0 "$(weft_pid c)"; ok $? "the server is still running"
stop_weft c TERM; is "$WEFT_RC" 0 "clean exit"
no_errors c
done_testing
