#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Helpers shared by the t/derp_*.t tests: start a relay on free ports, read its metrics, run derpc.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
: "${WEFT_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
DERPC="$WEFT_BUILDDIR/t/tools/derpc"
[ -x "$DERPC" ] || skip_all "t/tools/derpc is not built"
need_cmd curl python3

# start_relay NAME PORT [ARGS...]: weft serve derp with its state in $TMP/NAME, HTTP on 127.0.0.1:PORT, STUN off
# unless ARGS set it, /metrics on a port of its own (metrics_url PORT); waits until it has started (returns
# non-zero if it did not).
start_relay() {
    local name=$1 port=$2 mport; shift 2
    mport=$(free_port)
    echo "$mport" >"$TMP/metrics-port-$port"
    start_weft "$name" serve derp -o state_dir="$TMP/$name" -o derp.listen=127.0.0.1:"$port" \
        -o derp.stun_listen= -o metrics_listen=127.0.0.1:"$mport" "$@"
    wait_for 10 grep -q 'event=started' "$TMP/$name.log"
}

# metrics_url PORT: the /metrics of the relay listening on PORT (metrics are not on the public listener).
metrics_url() { echo "http://127.0.0.1:$(cat "$TMP/metrics-port-$1")/metrics"; }
# metric PORT NAME_WITH_LABELS: its value on the relay's /metrics (empty if absent).
metric() {
    curl -s -m 5 "$(metrics_url "$1")" | awk -v m="$2" '$1 == m { print $2 }'
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
metric_ge() { local v; v=$(metric "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }

# derpc_bg NAME ARGS...: derpc in the background, output in $TMP/NAME.out, pid in $TMP/NAME.cpid.
derpc_bg() {
    local name=$1; shift
    : >"$TMP/$name.out" # (truncated before it starts: see start_weft)
    "$DERPC" "$@" >>"$TMP/$name.out" 2>&1 &
    echo $! >"$TMP/$name.cpid"
    on_exit "kill -9 $! 2>/dev/null"
}
# derpc_wait NAME: wait for it to exit; its status.
derpc_wait() { wait "$(cat "$TMP/$1.cpid")"; }
out_has() { grep -q -- "$2" "$TMP/$1.out"; }

# clean_logs NAME...: no relay logged an error or a sanitizer report (ASan/UBSan builds write them to stderr).
clean_logs() {
    local n text=""
    for n in "$@"; do text+=$(cat "$TMP/$n.log"); done
    unlike "$text" "level=error|Sanitizer|runtime error" "no errors or sanitizer reports in the relay logs ($*)"
}
