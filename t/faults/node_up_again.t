#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Fault: `weft up` on a node that is already Running killed the daemon (issue 10, item 1): the local API's
# waiter was freed before its timer was initialised (timer_stop <- waiter_free <- up_end <- handle_up), and
# the CLI said "the daemon closed the connection without answering". Running `up` twice is ordinary. Here a
# node (no TUN: node.tun=none) logs in to weft control on loopback, then gets `up`, `up` with the login
# server, and `up` with its auth key again: each answers, and the daemon lives on, still Running.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
cd "$TMP" || exit 1

port=$(free_port)
url=http://127.0.0.1:$port
srv=(-o state_dir=$TMP/srv -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
     -o derp.stun_listen= -o control.server_url=$url)
w() { "$WEFT" "$@" "${srv[@]}"; }
cli() { "$WEFT" "$1" --socket "$TMP/a.sock" "${@:2}"; }

start_weft srv serve control derp "${srv[@]}"
wait_for 20 grep -q 'event=started' "$TMP/srv.log"; ok $? "weft control + derp start"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
start_weft a serve node -o state_dir="$TMP/a" -o node.socket="$TMP/a.sock" -o node.tun=none -o node.port=0
wait_for 20 test -S "$TMP/a.sock"; ok $? "the node daemon starts"
out=$(cli up --login-server "$url" --authkey "$key" --hostname alpha 2>&1); ok $? "up: the node logs in" || diag "$out"
wait_for 10 sh -c "'$WEFT' status --socket '$TMP/a.sock' | grep -q '^# Running'"; ok $? "it is Running"

out=$(cli up 2>&1); ok $? "up again on the Running node succeeds" || diag "$out"
unlike "$out" 'closed the connection' "it answers (the daemon did not drop the request)"
kill -0 "$(weft_pid a)" 2>/dev/null; ok $? "the daemon is still alive"
out=$(cli up --login-server "$url" 2>&1); ok $? "up --login-server on the Running node succeeds" || diag "$out"
out=$(cli up --login-server "$url" --authkey "$key" 2>&1); ok $? "and up with the auth key again" || diag "$out"
kill -0 "$(weft_pid a)" 2>/dev/null; ok $? "the daemon is still alive"
like "$(cli status)" '^# Running' "and still Running"

stop_weft a TERM
is "$WEFT_RC" 0 "the node exits 0 on SIGTERM"
unlike "$(cat "$TMP/a.log")" 'level=error|AddressSanitizer|runtime error' "no errors or sanitizer reports"
done_testing
