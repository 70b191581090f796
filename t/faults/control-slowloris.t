#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 10 item 11: 2,000 slowloris connections on control's listener (an HTTP request head, one byte a
# second), and 500 more that finish the Noise handshake and then say nothing, while a normal client keeps
# registering nodes and polling maps. The normal client keeps working; the silent channels are dropped
# after control.first_request_timeout; the server's descriptors come back once it is over.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/faults/control_lib.sh"
cd "$TMP" || exit 1
# 2,500 connections on each side, plus what the server and the test need
if [ "$(ulimit -n)" -lt 8192 ]; then ulimit -n 8192 2>/dev/null || skip_all "needs ulimit -n 8192 (have $(ulimit -n))"; fi

P=$(free_port)
start_control c "$P" -o control.first_request_timeout=3s; ok $? "control starts (first request within 3 s)"
w() { "$WEFT" "$@" -o state_dir="$TMP/c" -o control.listen=127.0.0.1:"$P"; }
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
node() { "$TSNODE" "$URL" "$TMP" "$@"; }
base=$(fds c)

"$CTLC" -L 2000 -t 25000 "$URL" >slow.out 2>&1 &
slow=$!
on_exit "kill $slow 2>/dev/null"
wait_for 20 grep -q '^slowloris connected' slow.out
like "$(grep '^slowloris connected' slow.out)" '^slowloris connected 2000$' "2000 slowloris connections are open"
"$CTLC" -L 500 -S -c "$MK" -t 8000 "$URL" >silent.out 2>&1 &
silent=$!
on_exit "kill $silent 2>/dev/null"
wait_for 20 grep -q '^slowloris connected' silent.out
like "$(grep '^slowloris connected' silent.out)" '^slowloris connected 500$' \
    "and 500 silent Noise channels (handshake, then nothing)"
n=$(fds c)
ok $((n > 2000 ? 0 : 1)) "the server holds them ($n descriptors)"

fails=0
for i in $(seq 1 10); do
    out=$(node "n$i" register --authkey "$key" 2>&1) && [[ $out == *'"MachineAuthorized":true'* ]] || fails=$((fails + 1))
    node "n$i" map 1 10 >"n$i.map" 2>&1 && grep -q '"Node":{' "n$i.map" || fails=$((fails + 1))
done
is "$fails" 0 "meanwhile 10 nodes register and get their map"
wait $silent
like "$(tail -1 silent.out)" '^slowloris 500 dropped 500$' "every silent channel was dropped"
still=$(sed -n 's/^slowloris open \([0-9]*\) .*/\1/p' slow.out | tail -1)
diag "slowloris connections still open after $(grep -c '^slowloris open' slow.out) s: $still"
wait $slow
wait_for 15 fds_le c $((base + 5)); ok $? "the server's descriptors are back ($(fds c), started with $base)"
like "$(node n1 register --authkey "$key")" '"MachineAuthorized":true' "and it still works"
stop_weft c TERM; is "$WEFT_RC" 0 "clean exit"
no_errors c
done_testing
