#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# TAP helpers for the shell tests: plan, ok, is, like, skip, and the fixtures they share (a temp dir,
# network namespaces when root, a weft process in the background, waiting for a port).
# Sourced by t/*.t; `make check` sets WEFT (the binary), WEFT_SRCDIR, WEFT_BUILDDIR and WEFT_MODULE_PATH.

: "${WEFT:=$(cd "$(dirname "$0")/.." && pwd)/weft}"
: "${WEFT_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
export WEFT WEFT_SRCDIR

_tap_n=0
_tap_failed=0
_cleanup_cmds=()

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

ok() { # ok COND_EXIT_STATUS NAME
    local rc=$1; shift
    _tap_n=$((_tap_n + 1))
    if [ "$rc" -eq 0 ]; then echo "ok $_tap_n - $*"; else echo "not ok $_tap_n - $*"; _tap_failed=$((_tap_failed + 1)); fi
    return "$rc"
}
is() { # is GOT WANT NAME
    local got=$1 want=$2; shift 2
    if [ "$got" = "$want" ]; then ok 0 "$*"; else ok 1 "$*"; diag "got:  '$got'" "want: '$want'"; fi
}
like() { # like TEXT REGEX NAME  (grep -E)
    local text=$1 re=$2; shift 2
    if printf '%s\n' "$text" | grep -Eq -- "$re"; then ok 0 "$*"; else ok 1 "$*"; diag "no match for /$re/ in:" "$text"; fi
}
unlike() {
    local text=$1 re=$2; shift 2
    if printf '%s\n' "$text" | grep -Eq -- "$re"; then ok 1 "$*"; diag "unexpected /$re/ in:" "$text"; else ok 0 "$*"; fi
}
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $*"; }
done_testing() { [ -n "${_planned:-}" ] || echo "1..$_tap_n"; exit $((_tap_failed > 0)); }

on_exit() { _cleanup_cmds+=("$*"); }
_run_cleanup() {
    local i
    for ((i = ${#_cleanup_cmds[@]} - 1; i >= 0; i--)); do eval "${_cleanup_cmds[$i]}" >/dev/null 2>&1; done
}
trap _run_cleanup EXIT

TMP=$(mktemp -d "${TMPDIR:-/tmp}/weft-test.XXXXXX")
on_exit "rm -rf '$TMP'"

is_root() { [ "$(id -u)" = 0 ]; }
need_root() { is_root || skip_all "needs root (network namespaces, TUN)"; }
need_cmd() { local c; for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip_all "needs $c"; done; }

# netns_usable: 0 when network namespaces can be made *and used* here. A build chroot (pbuilder and the like)
# may let `ip netns add` succeed while `ip netns exec` fails (it cannot mount /sys in the namespace): a test
# then takes its unprivileged path or skips. Probed once per script, by running a command in a scratch one.
netns_usable() {
    if [ -z "${_netns_ok:-}" ]; then
        _netns_ok=1
        if is_root && command -v ip >/dev/null 2>&1; then
            local ns=weft-probe-$$
            if ip netns add "$ns" >/dev/null 2>&1; then
                ip netns exec "$ns" ip link set lo up >/dev/null 2>&1 && _netns_ok=0
                ip netns del "$ns" >/dev/null 2>&1
            fi
        fi
    fi
    return "$_netns_ok"
}
# need_netns: skip the whole script unless network namespaces can be used (root, ip, a working `ip netns exec`).
need_netns() {
    need_root
    need_cmd ip
    netns_usable || skip_all "network namespaces cannot be used here (ip netns exec fails: a build chroot?)"
}

# A network namespace with loopback up, removed at exit. Prints nothing; the name is $1.
netns_add() {
    ip netns add "$1" || return 1
    on_exit "ip netns del '$1'"
    ip -n "$1" link set lo up
}

# A free TCP port on 127.0.0.1 (racy by nature, good enough for tests outside a namespace).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}

# holds 'SHELL TEST': true when the test (evaluated afresh on each call) holds. For wait_for, whose command
# runs again on every try: `wait_for 5 test "$(cmd)" = x` would compare one output, taken before waiting.
holds() { eval "$1"; }
# wait_for TIMEOUT_S CMD...: retry CMD every 0.1 s until it succeeds; non-zero on timeout.
wait_for() { # (the bound is scaled by WEFT_WAIT_SCALE: 3 in an ASan build, see Makefile.am)
    local t=$1; shift
    local end=$((SECONDS + t * ${WEFT_WAIT_SCALE:-1}))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.1
    done
}

# told FILE EXPR: some message m of a map stream file ("<ms> <JSON>" lines, as t/tools/tsnode writes them)
# makes the Python expression EXPR true (needs python3)
told() {
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: m = json.loads(line.split(" ", 1)[1])
    except Exception: continue
    if eval(sys.argv[2]): sys.exit(0)
sys.exit(1)' "$1" "$2"
}

# start_weft NAME [--ns NS] ARGS...: run weft in the background, log in $TMP/NAME.log, pid in $TMP/NAME.pid.
start_weft() {
    local name=$1; shift
    local pre=()
    if [ "${1:-}" = --ns ]; then pre=(ip netns exec "$2"); shift 2; fi
    # truncated here, not by the child's redirection: a wait_for on the log that follows must not find the
    # lines of an earlier run under the same name before the child gets to open it
    : >"$TMP/$name.log"
    "${pre[@]}" "$WEFT" "$@" >>"$TMP/$name.log" 2>&1 &
    echo $! >"$TMP/$name.pid"
    on_exit "kill -9 $! 2>/dev/null"
}
weft_pid() { cat "$TMP/$1.pid"; }

# stop_weft NAME [SIGNAL]: signal it (TERM) and wait up to 10 s; its exit status is left in $WEFT_RC
# (137 when it had to be killed). Not in a subshell: only the shell that started it can wait for it.
stop_weft() {
    local pid; pid=$(weft_pid "$1")
    kill -"${2:-TERM}" "$pid" 2>/dev/null
    local i
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; wait "$pid" 2>/dev/null; WEFT_RC=137; return; fi
    wait "$pid"; WEFT_RC=$?
}

# http_get [--ns NS] URL: prints "STATUS BODY" (curl when there is one, else bash /dev/tcp).
http_get() {
    local pre=()
    if [ "${1:-}" = --ns ]; then pre=(ip netns exec "$2"); shift 2; fi
    "${pre[@]}" curl -s -m 5 -o "$TMP/.body" -w '%{http_code}' "$1" && printf ' %s' "$(cat "$TMP/.body")"
}
