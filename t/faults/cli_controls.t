#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Fault: peer strings reached terminals raw (issue 10, item 5). A tailnet member's Hostinfo.OS with escape
# sequences printed raw in other nodes' `weft status` (an OSC 52 clipboard write, a forged peer line). Here a
# hostile daemon (t/faults/hostile_api.py) fills every string of the node's local API and of control's admin
# API with terminal controls; nothing the CLIs print, tables, --json or error messages, may carry one.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
need_cmd python3
cd "$TMP" || exit 1

# controls FILE: what terminal controls FILE holds ("" when none). Our own layout uses \n and \t only.
controls() {
    python3 - "$1" <<'EOF'
import re, sys
b = open(sys.argv[1], "rb").read()
bad = re.findall(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", b)
bad += [bytes([c]) for c in re.sub(rb"[\xc2-\xf4][\x80-\xbf]+", b"", b) if 0x80 <= c <= 0x9f]
forged = re.findall(rb"(?m)^FORGED", b)
print(" ".join(x.hex() for x in bad) + (" forged-line" if forged else ""))
EOF
}

# run NAME CMD...: run a CLI, keep stdout and stderr in $TMP/NAME.out
run() { local n=$1; shift; "$@" >"$TMP/$n.out" 2>&1; }
check() { # check NAME WHAT [shown]: no control in its output; "shown": the hostile text was printed
    local c; c=$(controls "$TMP/$1.out")
    if [ "${3:-}" = shown ] && ! grep -q 'FORGED line' "$TMP/$1.out"; then c="the hostile text is not shown: $c"; fi
    is "$c" "" "$2 prints no terminal control"
    [ -z "$c" ] || diag "$(head -c 600 "$TMP/$1.out" | od -c | head -12)"
}

python3 "$WEFT_SRCDIR/t/faults/hostile_api.py" node "$TMP/node.sock" &
on_exit "kill $! 2>/dev/null"
python3 "$WEFT_SRCDIR/t/faults/hostile_api.py" control "$TMP/admin.sock" &
on_exit "kill $! 2>/dev/null"
wait_for 30 test -S "$TMP/node.sock" && wait_for 30 test -S "$TMP/admin.sock"
ok $? "two hostile daemons listen"

n() { "$WEFT" "$@" --socket "$TMP/node.sock"; }
run status n status;             check status "weft status" shown
run status_json n status --json; check status_json "weft status --json" shown
run ip n ip;                     check ip "weft ip"
run ping n ping somepeer;        check ping "weft ping" shown
run up n up --timeout 2;         check up "weft up (streamed login URL and error)" shown
run down n down;                 check down "weft down"
run logout n logout;             check logout "weft logout (an error answer)" shown

c() { "$WEFT" "$@" -o state_dir="$TMP" -o control.admin_socket="$TMP/admin.sock"; }
run nodes c nodes list;             check nodes "weft nodes list" shown
run nodes_json c nodes list --json; check nodes_json "weft nodes list --json" shown
run users c users list;             check users "weft users list" shown
run authkeys c authkeys list;       check authkeys "weft authkeys list" shown
run expire c nodes expire somenode; check expire "weft nodes expire (an error answer)" shown
done_testing
