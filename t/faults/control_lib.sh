#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Helpers for the control role's fault tests (t/faults/control-*.t): start control on a free port, its
# control key, its memory, the test clients (t/tools/ctlc, t/tools/tsnode) and an admin CLI bound to it.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
: "${WEFT_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
CTLC="$WEFT_BUILDDIR/t/tools/ctlc"
TSNODE="$WEFT_BUILDDIR/t/tools/tsnode"
[ -x "$CTLC" ] && [ -x "$TSNODE" ] || skip_all "t/tools/ctlc and t/tools/tsnode are not built"
need_cmd curl python3

# start_control NAME PORT [ARGS...]: weft serve $ROLES (default: control), state in $TMP/NAME (or as ARGS
# say), listening on 127.0.0.1:PORT, /metrics on a port of its own; waits until started. Sets URL and MK
# (the control key).
start_control() {
    local name=$1 port=$2 mport; shift 2
    URL=http://127.0.0.1:$port
    mport=$(free_port)
    echo "$mport" >"$TMP/$name.mport"
    # shellcheck disable=SC2086
    start_weft "$name" serve ${ROLES:-control} -o state_dir="$TMP/$name" -o control.listen=127.0.0.1:"$port" \
        -o control.server_url="$URL" -o metrics_listen=127.0.0.1:"$mport" "$@"
    wait_for 10 grep -q 'event=started' "$TMP/$name.log" || return 1
    MK=$(curl -s -m 5 "$URL/key?v=97" | sed -n 's/.*"publicKey":"\(mkey:[0-9a-f]*\)".*/\1/p')
    [ -n "$MK" ]
}

# Memory bounds are for the plain build; under AddressSanitizer (its shadow memory and allocator) they are
# scaled, and the quarantine of freed blocks, which would count everything ever freed, is kept small.
MEMSCALE=1
if ldd "$WEFT" 2>/dev/null | grep -q libasan; then
    MEMSCALE=3
    export ASAN_OPTIONS="quarantine_size_mb=8:${ASAN_OPTIONS:-}"
fi

# metric NAME SERIES: the value of one series (name with its labels) in the server NAME's /metrics.
metric() {
    curl -s -m 5 "http://127.0.0.1:$(cat "$TMP/$1.mport")/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

# rss_kb NAME: resident memory of the weft process NAME, in KiB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(weft_pid "$1")/status"; }
# fds NAME: its open file descriptors; fds_le NAME N: whether they are at most N (for wait_for).
fds() { ls "/proc/$(weft_pid "$1")/fd" | wc -l; }
fds_le() { [ "$(fds "$1")" -le "$2" ]; }

# no_errors NAME...: no error lines or sanitizer reports in the logs.
no_errors() {
    local n text=""
    for n in "$@"; do text+=$(cat "$TMP/$n.log"); done
    unlike "$text" "^level=error|Sanitizer|runtime error" "no errors or sanitizer reports in the logs ($*)"
}
