#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Faults in the configuration file (issue 10, items 7 and 9). `log_level: ` followed by 100,000 '[' crashed
# check-config (rc 139: the reader recursed once per level) and a SIGHUP with that file killed a running
# daemon; a config path that is a directory said "YAML syntax: input error"; a FIFO blocked forever. Each
# must be a clear error, and a running daemon that reloads such a file keeps running on the old one.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/lib.sh"
need_cmd python3 curl
cd "$TMP" || exit 1

python3 -c "print('log_level: ' + '[' * 100000)" >deep-seq.yaml
python3 -c "print('log_level: ' + '{a: ' * 100000)" >deep-map.yaml
for f in deep-seq deep-map; do
    out=$(timeout 60 "$WEFT" check-config -c "$f.yaml" 2>&1); rc=$?
    is "$rc" 1 "check-config on $f.yaml exits 1 (not a crash)"
    like "$out" "^$f\.yaml:1:[0-9]+: .*nest more than [0-9]+ deep" "and says where the nesting goes too deep"
done
mkdir adir
out=$(timeout 60 "$WEFT" check-config -c adir 2>&1); rc=$?
is "$rc" 1 "a directory as the config file: exit 1"
like "$out" 'is a directory' "it says the path is a directory"
mkfifo fifo.yaml
out=$(timeout 20 "$WEFT" check-config -c fifo.yaml 2>&1); rc=$?
is "$rc" 1 "a FIFO as the config file: exit 1 at once (no blocking)"
like "$out" 'fifo\.yaml: .*not a regular file' "it says it is not a regular file"

# a running daemon reloads bad files and keeps the configuration it runs
port=$(free_port)
good="state_dir: $TMP/st
roles: [derp]
derp:
  listen: 127.0.0.1:$port
  stun_listen:
"
printf '%s' "$good" >weft.yaml
start_weft d serve -c "$TMP/weft.yaml"
wait_for 20 grep -q 'event=started' "$TMP/d.log"; ok $? "a relay runs from weft.yaml"
reloads=0
hup_with() { # hup_with WHAT: SIGHUP, wait for the reload's verdict, the daemon must still answer
    reloads=$((reloads + 1))
    kill -HUP "$(weft_pid d)"
    wait_for 30 sh -c "[ \$(grep -c 'event=reload source' '$TMP/d.log') -ge $reloads ] &&
                       [ \$(grep -c 'keeping the running one' '$TMP/d.log') -ge $reloads ]"
    ok $? "SIGHUP with $1: the reload is refused"
    kill -0 "$(weft_pid d)" 2>/dev/null; ok $? "and the daemon lives on"
    like "$(http_get "http://127.0.0.1:$port/derp/probe")" '^200' "and still answers"
}
cp deep-seq.yaml weft.yaml; hup_with "100,000 '['"
rm weft.yaml; mkfifo weft.yaml; hup_with "a FIFO"
rm weft.yaml; mkdir weft.yaml; hup_with "a directory"
stop_weft d TERM
is "$WEFT_RC" 0 "it exits 0 on SIGTERM"
done_testing
