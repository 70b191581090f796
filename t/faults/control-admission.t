#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 10 item 9 (control's parts). Deleting, expiring or re-keying a node drops the connections it already
# has to the in-process DERP relay (new ones were refused, existing ones kept relaying). /verify, which
# tells whether a node key is one of ours, answers only control.verify_allow (default loopback), this host
# when a relay runs here, or holders of control.verify_secret_file. A store error never sends the
# database's path or SQL to a client: the log has the detail, the client a generic message.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/faults/control_lib.sh"
DERPC="$WEFT_BUILDDIR/t/tools/derpc"
[ -x "$DERPC" ] || skip_all "t/tools/derpc is not built"
cd "$TMP" || exit 1

P=$(free_port)
ROLES="control derp" start_control s "$P" -o derp.listen=127.0.0.1:"$P" -o derp.stun_listen=
ok $? "control and derp in one process"
SURL=$URL
w() { "$WEFT" "$@" -o state_dir="$TMP/s" -o control.listen=127.0.0.1:"$P"; }
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
node() { "$TSNODE" "$URL" "$TMP" "$@"; }
for n in n1 n2 n3; do node "$n" register --authkey "$key" >/dev/null; done
# relay NAME: a DERP client with node NAME's key, in the background, until it is dropped
relay() {
    "$DERPC" --key-file "$TMP/$1.node" --exit-on disconnected --timeout 30 "$URL/derp" >"$TMP/$1.derp" 2>&1 &
    echo $! >"$TMP/$1.dpid"
    on_exit "kill -9 $! 2>/dev/null"
    wait_for 10 grep -q '^connected' "$TMP/$1.derp"
}
dropped() { wait_for 5 grep -q '^disconnected' "$TMP/$1.derp"; }
relay n1; ok $? "n1 is connected to the relay"
relay n2; ok $? "n2 too"
relay n3; ok $? "n3 too"
w nodes delete n1 >/dev/null; ok $? "weft nodes delete n1"
dropped n1; ok $? "its relay connection is dropped" || diag "$(cat "$TMP/n1.derp")"
w nodes expire n2 >/dev/null; ok $? "weft nodes expire n2"
dropped n2; ok $? "its relay connection is dropped" || diag "$(cat "$TMP/n2.derp")"
cp n3.node n3.oldnode
rm n3.node
like "$(node n3 register --authkey "$key")" '"MachineAuthorized":true' "n3 registers a new node key"
dropped n3; ok $? "the connection made with its old key is dropped"
like "$(grep 'reason="the node is no longer admitted by control"' "$TMP/s.log" | wc -l)" '^3$' \
    "the relay logs each drop with the reason"
out=$("$DERPC" --key-file n3.node --ping --timeout 5 "$URL/derp" 2>&1)
like "$out" 'pong ok' "its new key is admitted"

# /verify
verify() { # verify URL [CURL ARGS...]: the status
    local u=$1; shift
    curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$@" \
        -d "{\"NodePublic\":\"$("$DERPC" --key-file "$TMP/n3.node" --pubkey | sed 's/^/nodekey:/')\"}" "$u"
}
is "$(verify "$URL/verify")" 200 "/verify answers loopback by default"
P2=$(free_port)
printf 'a-long-enough-shared-secret\n' > secret
start_control v "$P2" -o control.verify_allow=192.0.2.0/24 -o control.verify_secret_file="$TMP/secret"
ok $? "control alone with control.verify_allow=192.0.2.0/24 and a secret file"
is "$(verify "$URL/verify")" 403 "/verify refuses an address outside verify_allow"
is "$(verify "$URL/verify?secret=a-long-enough-shared-secret")" 200 "unless it has the secret (?secret=)"
is "$(verify "$URL/verify" -H 'Authorization: Bearer a-long-enough-shared-secret')" 200 "or (Bearer)"
is "$(verify "$URL/verify?secret=a-long-enough-shared-secreT")" 403 "a wrong secret does not do"
is "$(metric v weft_control_verify_refused_total)" 2 "/metrics counts the 2 refused"
stop_weft v TERM
URL=$SURL
out=$("$WEFT" check-config -o control.verify_allow=10.0.0.0/33 2>&1); rc=$?
ok $((rc == 0)) "check-config refuses a bad verify_allow ..."
like "$out" "control.verify_allow: '10.0.0.0/33' is not an address or CIDR prefix" "... naming the key and value"
printf 'short\n' > short
out=$("$WEFT" serve control -o state_dir="$TMP/v" -o control.listen=127.0.0.1:"$P2" \
    -o control.verify_secret_file="$TMP/short" 2>&1); rc=$?
ok $((rc == 0)) "a secret shorter than 16 characters is refused at start ..."
like "$out" 'verify_secret_file.*at least 16 characters' "... saying so"

# the same-host rule needs an address that is not loopback: two namespaces joined by a veth
if is_root && ip netns add "wfa$$" 2>/dev/null && ip netns exec "wfa$$" true 2>/dev/null; then
    on_exit "ip netns del wfa$$"
    netns_add "wfb$$"
    ip link add "wfa$$" type veth peer name "wfb$$"
    ip link set "wfa$$" netns "wfa$$"; ip link set "wfb$$" netns "wfb$$"
    ip -n "wfa$$" link set lo up
    ip -n "wfa$$" addr add 10.98.0.1/24 dev "wfa$$"; ip -n "wfa$$" link set "wfa$$" up
    ip -n "wfb$$" addr add 10.98.0.2/24 dev "wfb$$"; ip -n "wfb$$" link set "wfb$$" up
    start_weft ns --ns "wfa$$" serve control derp -o state_dir="$TMP/ns" -o control.listen=0.0.0.0:8080 \
        -o derp.listen=0.0.0.0:8080 -o derp.stun_listen= -o control.server_url=http://10.98.0.1:8080 \
        -o control.verify_allow=192.0.2.0/24
    wait_for 10 grep -q 'event=started' "$TMP/ns.log"; ok $? "control and derp in a namespace at 10.98.0.1"
    is "$(ip netns exec "wfa$$" bash -c "$(declare -f verify); DERPC=$DERPC TMP=$TMP verify http://10.98.0.1:8080/verify")" \
        200 "/verify from this host's own address (a relay here reaching its public URL): allowed"
    is "$(ip netns exec "wfb$$" bash -c "$(declare -f verify); DERPC=$DERPC TMP=$TMP verify http://10.98.0.1:8080/verify")" \
        403 "from another host: refused"
    stop_weft ns TERM
else
    skip "needs root and usable network namespaces (the same-host rule)"
    skip "needs root and usable network namespaces"
    skip "needs root and usable network namespaces"
fi

# a store error: another process holds the database's write lock longer than busy_timeout (5 s)
if command -v sqlite3 >/dev/null; then
    (echo 'BEGIN EXCLUSIVE;'; sleep 8; echo 'COMMIT;') | sqlite3 "$TMP/s/control.db" &
    lock=$!
    sleep 0.5
    out=$(node n4 register --authkey "$key")
    wait $lock
    like "$out" '^500 the server could not register this node \(see its log\)$' \
        "a registration the store cannot take: a generic 500"
    unlike "$out" "sqlite|control\.db|$TMP|locked" "without the database's path or SQLite's words"
    like "$(grep 'event=register_failed' "$TMP/s.log")" 'control\.db.*locked' "the log has the detail"
    like "$(node n4 register --authkey "$key")" '"MachineAuthorized":true' "and the next attempt succeeds"
else
    skip "needs sqlite3"; skip "needs sqlite3"; skip "needs sqlite3"; skip "needs sqlite3"
fi

stop_weft s TERM; is "$WEFT_RC" 0 "clean exit"
unlike "$(grep -v 'event=register_failed' "$TMP/s.log")" "^level=error|Sanitizer|runtime error" \
    "no other errors or sanitizer reports"
done_testing
