#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 10 item 11: the disk under control's state_dir fills up while nodes register (a 4 MiB tmpfs). A
# registration that cannot be stored gets a clear, generic error (no path, no SQL), the log says the disk
# is full, nothing half-made stays in memory or on disk, and registrations work again once space returns.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/faults/control_lib.sh"
need_root
cd "$TMP" || exit 1
mkdir -p state
mount -t tmpfs -o size=4m,mode=0700 weft-test-disk "$TMP/state" 2>/dev/null || skip_all "cannot mount a tmpfs"
on_exit "umount -l '$TMP/state'"

P=$(free_port)
start_control c "$P" -o state_dir="$TMP/state"; ok $? "control starts with its state on a 4 MiB tmpfs"
w() { "$WEFT" "$@" -o state_dir="$TMP/state" -o control.listen=127.0.0.1:"$P"; }
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
node() { "$TSNODE" "$URL" "$TMP" "$@"; }
for i in 1 2 3; do node "a$i" register --authkey "$key" >/dev/null; done
is "$(w nodes list --json | grep -o '"id":' | wc -l)" 3 "three nodes registered"

dd if=/dev/zero of="$TMP/state/filler" bs=64k 2>/dev/null
like "$(df -k "$TMP/state" | awk 'NR == 2 { print $4 }')" '^0$' "the disk is full"
# SQLite may still write in place into its WAL for a while: register until it cannot
failed="" good=0
for i in $(seq 1 60); do
    out=$(node "b$i" register --authkey "$key" 2>&1)
    if [[ $out == 500* ]]; then failed=$out; break; fi
    good=$((good + 1))
done
like "$failed" '^500 the server could not register this node \(see its log\)$' \
    "a registration the disk cannot take: a generic 500 (after $good more that fit)"
unlike "$failed" "sqlite|$TMP|control\.db" "without the path or SQLite's words"
like "$(grep 'event=register_failed' "$TMP/c.log")" 'database or disk is full' "the log says the disk is full"
kill -0 "$(weft_pid c)"; ok $? "the server keeps running"
out=$(node a1 register --authkey "$key")
like "$out" '"MachineAuthorized":true' "known nodes still log in (nothing to write)"

rm -f "$TMP/state/filler"
out=$(node c1 register --authkey "$key")
like "$out" '^200 .*"MachineAuthorized":true' "once space returns, registrations work again"
total=$((3 + good + 1))
is "$(w nodes list --json | grep -o '"id":' | wc -l)" $total "the nodes are those answered 200 ($total)"
stop_weft c KILL
start_control c2 "$P" -o state_dir="$TMP/state"; ok $? "control restarts on that state"
is "$(w nodes list --json | grep -o '"id":' | wc -l)" $total "the same $total nodes after a restart: none half-made"
integrity=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$TMP/state/control.db")
is "$integrity" ok "PRAGMA integrity_check: ok"
like "$(node "b$((good + 1))" register --authkey "$key")" '"MachineAuthorized":true' \
    "the registration that failed succeeds now"
stop_weft c2 TERM; is "$WEFT_RC" 0 "clean exit"
unlike "$(grep -v 'event=register_failed\|event=last_seen' "$TMP/c.log" "$TMP/c2.log")" \
    "^level=error|Sanitizer|runtime error" "no other errors or sanitizer reports"
done_testing
