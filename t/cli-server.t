#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The CLI finds the server as installed, and says exactly why when it cannot: the admin verbs look in
# state_dir, then in the runtime directory the systemd units give control (/run/weft; $RUNTIME_DIRECTORY
# here), or where --socket says; no socket, nothing answering and permission denied are told apart, with
# the path. Every verb refuses options it does not know (`weft nodes list --user alice` listed every node).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
cd "$TMP" || exit 1

# ---- unknown options are refused, by every verb ----
refuses() { # refuses NAME ARGS...: exit 2, naming the option, and nothing done
    local name=$1; shift
    local out rc
    out=$("$WEFT" "$@" 2>&1); rc=$?
    is "$rc" 2 "$name: exits 2"
    like "$out" "unknown option '--bogus'|unknown option '--user'|unexpected argument" "$name: says what it refuses"
}
refuses "nodes list --user alice" nodes list --user alice
refuses "nodes --user alice" nodes --user alice
for v in "serve" "check-config" "modules" "help" "version" "users" "users list" "users create x" \
         "users delete x" "authkeys" "authkeys create --user x" "authkeys expire 1" "nodes" "nodes expire x" \
         "nodes register --user a x" "up" "down" "logout" "status" "ip" "ping x" "wireguard wg9"; do
    # shellcheck disable=SC2086
    refuses "$v --bogus" $v --bogus
done
out=$("$WEFT" users create a b 2>&1); is $? 2 "users create with two names exits 2"
like "$out" "unexpected argument 'b'" "and names the word too many"
out=$("$WEFT" users create 2>&1); is $? 2 "users create without a name exits 2"
like "$out" "takes one user NAME" "and says what it takes"
out=$("$WEFT" users list --json=yes 2>&1); is $? 2 "a flag given a value is refused"
out=$("$WEFT" ping --count lots x 2>&1); is $? 2 "ping --count that is not a number is refused"
like "$out" "--count takes a whole number" "and says what it takes"
out=$("$WEFT" up --timeout 1s 2>&1); is $? 2 "up --timeout that is not a number is refused"
out=$("$WEFT" authkeys create 2>&1); is $? 2 "authkeys create without --user exits 2"
out=$("$WEFT" serve --bogus 2>&1)
unlike "$out" "no role" "serve --bogus is an unknown option, not a role"

# ---- finding the admin socket ----
export RUNTIME_DIRECTORY=$TMP/run # the CLI's well-known directory, as /run/weft is for the units
mkdir -p "$TMP/run" "$TMP/elsewhere"
port=$(free_port)
net=(-o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port -o derp.stun_listen=)

out=$("$WEFT" users list 2>&1); rc=$?
is "$rc" 1 "no server: exits 1"
like "$out" "no socket at $TMP/weft-state/control.sock$" "no server: names the state_dir socket (absolute)"
like "$out" "no socket at $TMP/run/control.sock$" "no server: names the runtime socket"
like "$out" "systemctl start weft@control" "no server: says how to start it"

# as under systemd: STATE_DIRECTORY and RUNTIME_DIRECTORY set, no configuration naming either
STATE_DIRECTORY=$TMP/unit-state start_weft unit serve "${net[@]}"
wait_for 10 test -S "$TMP/run/control.sock"; ok $? "under systemd's directories the admin socket is in the runtime directory"
[ -e "$TMP/unit-state/control.sock" ]; ok $((!$?)) "and not in the state directory"
out=$(cd "$TMP/elsewhere" && "$WEFT" users create alice 2>&1); ok $? "users create from another directory finds it" || diag "$out"
out=$("$WEFT" users list --socket "$TMP/run/control.sock"); like "$out" "alice" "--socket PATH names it"
out=$("$WEFT" users list --socket "$TMP/nope.sock" 2>&1); is $? 1 "--socket to nothing exits 1"
like "$out" "cannot reach the control server: no socket at $TMP/nope.sock$" "and names only that path"
stop_weft unit

# nothing answers: a socket left behind (the server was killed)
STATE_DIRECTORY=$TMP/unit-state start_weft unit serve "${net[@]}"
wait_for 10 test -S "$TMP/run/control.sock"
stop_weft unit KILL
out=$("$WEFT" users list 2>&1); is $? 1 "a dead server: exits 1"
like "$out" "nothing answers at $TMP/run/control.sock" "a dead server: says nothing answers there"

# a server run by hand with a configuration file: the CLI reading the same file finds state_dir's socket
export RUNTIME_DIRECTORY=$TMP/run-unused # the CLI's; the server below runs without one
cat >"$TMP/weft.yaml" <<YAML
state_dir: $TMP/cfg-state
roles: [control, derp]
control:
  listen: 127.0.0.1:$port
derp:
  listen: 127.0.0.1:$port
  stun_listen: ""
YAML
RUNTIME_DIRECTORY= start_weft cfg serve -c "$TMP/weft.yaml"
wait_for 10 test -S "$TMP/cfg-state/control.sock"; ok $? "with state_dir in the file the socket is in state_dir"
out=$(cd "$TMP/elsewhere" && "$WEFT" -c "$TMP/weft.yaml" users create bob 2>&1); ok $? "-c FILE finds it" || diag "$out"
out=$(cd "$TMP/elsewhere" && WEFT_CONFIG=$TMP/weft.yaml "$WEFT" users list 2>&1)
like "$out" "bob" "the default configuration file finds it too"
out=$(cd "$TMP/elsewhere" && "$WEFT" nodes list 2>&1); is $? 1 "without the file: not found"
like "$out" "name that with -c FILE" "and says to name the configuration"

# permission denied, told apart (as another user)
if is_root && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    chmod 755 "$TMP" "$TMP/cfg-state"
    as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
    out=$(as_nobody "$WEFT" -c "$TMP/weft.yaml" users list 2>&1); is $? 1 "another user: exits 1"
    like "$out" "permission denied at $TMP/cfg-state/control.sock \(srw-rw---- root:root\): run as root or as a member of group root" \
        "another user: permission denied, with the socket's owner and what to do"
    unlike "$out" "systemctl start" "another user: not told to start a running server"
    chmod 700 "$TMP/cfg-state"
    out=$(as_nobody "$WEFT" -c "$TMP/weft.yaml" users list 2>&1)
    like "$out" "permission denied at $TMP/cfg-state/control.sock: the directory $TMP/cfg-state \(drwx------ root:root\) is closed to you" \
        "a closed directory on the way is named"
    out=$(as_nobody "$WEFT" status --socket "$TMP/cfg-state/control.sock" 2>&1)
    like "$out" "weft status: cannot reach the node daemon: permission denied" "node verbs tell permission apart too"
else
    skip "permission checks need root, the user nobody and setpriv"
fi
stop_weft cfg

# the node verbs: no socket / nothing answers
out=$("$WEFT" status --socket "$TMP/none.sock" 2>&1); is $? 1 "status without a daemon exits 1"
like "$out" "cannot reach the node daemon: no socket at $TMP/none.sock" "status: no socket, with the path"
like "$out" "systemctl start weft@node" "status: says how to start it"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$TMP/dead.sock"
out=$("$WEFT" status --socket "$TMP/dead.sock" 2>&1)
like "$out" "nothing answers at $TMP/dead.sock" "status: a socket nobody listens on"

done_testing
