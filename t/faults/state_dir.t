#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Faults around the state directory (issue 10, items 6 and 8). A second `weft serve control` on the same
# state_dir started, re-created the admin socket, split the state and on exit deleted the socket, leaving the
# first server unadministrable. A state_dir writable by others was accepted (a local user replaced the admin
# socket and received the admin CLI's request); a 0600 key file owned by another user was used; control.db and
# its -wal/-shm were created 0644.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
need_cmd python3
cd "$TMP" || exit 1

ctl() { # ctl NAME STATE_DIR [ARGS]: a control server on a free port
    local name=$1 st=$2; shift 2
    local p; p=$(free_port)
    start_weft "$name" serve control -o state_dir="$st" -o control.listen=127.0.0.1:"$p" \
        -o control.server_url=http://127.0.0.1:"$p" "$@"
}
adm() { "$WEFT" "$@" -o state_dir="$TMP/st"; }

# --- one state_dir, one server ---
ctl a "$TMP/st"
wait_for 20 grep -q 'event=started' "$TMP/a.log"; ok $? "the first server starts"
adm users create alice >/dev/null; ok $? "and is administrable"
is "$(cat "$TMP/st/weft.lock" 2>/dev/null)" "$(weft_pid a)" "state_dir/weft.lock names its pid"
out=$(timeout 30 "$WEFT" serve control -o state_dir="$TMP/st" -o control.listen=127.0.0.1:"$(free_port)" 2>&1); rc=$?
is "$rc" 1 "a second server on the same state_dir refuses to start"
like "$out" "in use by another weft \\(pid $(weft_pid a) " "naming the pid that holds it"
test -S "$TMP/st/control.sock"; ok $? "the first server's admin socket is still there"
like "$(adm users list)" alice "and it still answers the admin CLI"

# --- a socket something answers on is never replaced, nor removed by whoever did not bind it ---
ctl b "$TMP/st2" -o control.admin_socket="$TMP/st/control.sock"
wait_for 20 sh -c "grep -q 'event=started' '$TMP/b.log' || ! kill -0 $(weft_pid b) 2>/dev/null"
stop_weft b
like "$(cat "$TMP/b.log")" 'control.sock: another process answers on this socket' \
    "another state_dir pointing at a live admin socket: refused"
like "$(adm users list)" alice "the live socket was left alone"

# the admin socket replaced under a running server: at its exit it leaves the new one alone
rm "$TMP/st/control.sock"
python3 -c 'import socket,sys,time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print("up", flush=True); time.sleep(60)' \
    "$TMP/st/control.sock" >"$TMP/py.out" 2>&1 &
pypid=$!
on_exit "kill $pypid 2>/dev/null"
wait_for 20 grep -q up "$TMP/py.out"
stop_weft a TERM
is "$WEFT_RC" 0 "the first server exits 0"
test -S "$TMP/st/control.sock"; ok $? "and did not delete the socket another process bound since"
kill "$pypid"; wait "$pypid" 2>/dev/null

# --- node: its local API socket ---
nodes() { start_weft "$1" serve node -o state_dir="$TMP/$1" -o node.socket="$TMP/n.sock" -o node.tun=none \
              -o node.port=0; }
nodes n1
wait_for 20 test -S "$TMP/n.sock"; ok $? "a node daemon opens its socket"
nodes n2
wait_for 20 sh -c "! kill -0 $(weft_pid n2) 2>/dev/null"; ok $? "a second node daemon on the same socket exits"
like "$(cat "$TMP/n2.log")" "another daemon answers on $TMP/n.sock" "saying another daemon answers there"
like "$("$WEFT" status --socket "$TMP/n.sock")" '^# ' "the first one still answers"
rm "$TMP/n.sock"
python3 -c 'import socket,sys,time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print("up", flush=True); time.sleep(60)' \
    "$TMP/n.sock" >"$TMP/py2.out" 2>&1 &
pypid=$!
on_exit "kill $pypid 2>/dev/null"
wait_for 20 grep -q up "$TMP/py2.out"
stop_weft n1
test -S "$TMP/n.sock"; ok $? "at its exit the node leaves a socket another process bound since"
kill "$pypid"; wait "$pypid" 2>/dev/null

# --- control.db and its companions are the service user's only ---
ctl c "$TMP/st3"
wait_for 20 grep -q 'event=started' "$TMP/c.log"
"$WEFT" users create bob -o state_dir="$TMP/st3" >/dev/null
for f in control.db control.db-wal control.db-shm control.key weft.lock; do
    is "$(stat -c %a "$TMP/st3/$f" 2>&1)" 600 "$f is 0600"
done
stop_weft c
chmod 644 "$TMP/st3/control.db"
ctl c "$TMP/st3"
wait_for 20 grep -q 'event=started' "$TMP/c.log"
is "$(stat -c %a "$TMP/st3/control.db")" 600 "a control.db left 0644 is made 0600"
stop_weft c

# --- who may write in the state_dir ---
for m in 770 757 777; do
    mkdir -p "$TMP/open$m"; chmod "$m" "$TMP/open$m"
    out=$(timeout 30 "$WEFT" serve control -o state_dir="$TMP/open$m" -o control.listen=127.0.0.1:0 2>&1); rc=$?
    is "$rc" 1 "a state_dir of mode $m is refused"
    like "$out" "writable by .*chmod 700 $TMP/open$m" "saying how to fix it"
done
if is_root && id nobody >/dev/null 2>&1; then
    mkdir -p "$TMP/theirs"; chmod 700 "$TMP/theirs"; chown nobody "$TMP/theirs"
    out=$(timeout 30 "$WEFT" serve control -o state_dir="$TMP/theirs" -o control.listen=127.0.0.1:0 2>&1); rc=$?
    is "$rc" 1 "a state_dir owned by another user is refused"
    like "$out" "owned by uid [0-9]+, not by uid 0 .*chown 0 $TMP/theirs" "saying how to fix it"
    mkdir -p "$TMP/kst"; chmod 700 "$TMP/kst"
    "$WEFT" serve derp -o state_dir="$TMP/kst" -o derp.listen=127.0.0.1:0 -o derp.stun_listen= >/dev/null 2>&1 &
    dpid=$!
    wait_for 20 test -s "$TMP/kst/derp.key"; kill "$dpid"; wait "$dpid" 2>/dev/null
    chown nobody "$TMP/kst/derp.key"
    out=$(timeout 30 "$WEFT" serve derp -o state_dir="$TMP/kst" -o derp.listen=127.0.0.1:0 -o derp.stun_listen= 2>&1)
    rc=$?
    is "$rc" 1 "a 0600 key file owned by another user is refused"
    like "$out" "derp.key: owned by uid [0-9]+, not by uid 0 .*chown 0 " "saying how to fix it"
else
    skip "ownership: needs root and a 'nobody' user"; skip "ownership"; skip "ownership"; skip "ownership"
fi
done_testing
