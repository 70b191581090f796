#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# `weft serve` on its embedded default: starts control + derp, listens on 127.0.0.1:8080, reloads on
# SIGHUP, exits 0 on SIGTERM. As root it runs in a fresh network namespace so the default port is free.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
need_cmd curl
export WEFT_CONFIG=$TMP/weft.yaml # absent at start (the embedded default); written before the reload

ns=() args=()
if netns_usable && ip netns add "weft-serve-$$" 2>/dev/null; then
    on_exit "ip netns del weft-serve-$$"
    ip -n "weft-serve-$$" link set lo up
    ns=(--ns "weft-serve-$$")
    port=8080
else # not root: the default port may be taken, so move both roles to a free one
    port=$(free_port)
    args=(-o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port -o derp.stun_listen=127.0.0.1:0
          -o control.server_url=http://127.0.0.1:$port)
fi

cd "$TMP" || exit 1
start_weft serve "${ns[@]}" serve "${args[@]}"
wait_for 10 grep -q 'event=started' "$TMP/serve.log"; ok $? "weft serve starts on the embedded default"
like "$(cat "$TMP/serve.log")" 'modules=(store_postgres,)?control,derp' "it runs control and derp"
ok "$([ -d "$TMP/weft-state" ] && echo 0 || echo 1)" "it creates ./weft-state"
is "$(stat -c %a "$TMP/weft-state")" 700 "state_dir is 0700"

out=$(http_get "${ns[@]}" "http://127.0.0.1:$port/health")
like "$out" '^200 ' "it listens on 127.0.0.1:$port (control's /health answers 200)"
out=$(http_get "${ns[@]}" "http://127.0.0.1:$port/derp/probe")
like "$out" '^200' "derp shares the listener (/derp/probe answers 200)"
like "$(cat "$TMP/serve.log")" 'login-server=http://127\.0\.0\.1:'"$port" "it prints how to join a client"

# SIGHUP: a changed setting takes effect (shutdown_timeout is what the next SIGTERM waits); a broken file
# afterwards changes nothing
printf 'shutdown_timeout: 7s\n' >"$WEFT_CONFIG"
kill -HUP "$(weft_pid serve)"
wait_for 5 grep -q 'event=reload result=done' "$TMP/serve.log"; ok $? "SIGHUP reloads the configuration"
like "$(cat "$TMP/serve.log")" 'event=reload key=shutdown_timeout result=applied' "the changed key is applied"
printf 'shutdown_timeout: 7 s\n' >"$WEFT_CONFIG"
kill -HUP "$(weft_pid serve)"
wait_for 5 grep -q 'event=reload result=refused' "$TMP/serve.log"; ok $? "a broken file is refused"
like "$(cat "$TMP/serve.log")" "level=error event=reload error=\"$WEFT_CONFIG:1:19: shutdown_timeout: '7 s' is not a duration" \
    "naming FILE:LINE:COL"
kill -0 "$(weft_pid serve)"; ok $? "still running after SIGHUP"

stop_weft serve TERM
is "$WEFT_RC" 0 "SIGTERM: a clean exit with status 0"
like "$(cat "$TMP/serve.log")" 'event=shutdown timeout_ms=7000' "the shutdown used the reloaded timeout (not the broken file's)"
rm -f "$WEFT_CONFIG"
like "$(cat "$TMP/serve.log")" 'event=stopped' "it logs that it stopped"
unlike "$(grep -v 'event=reload' "$TMP/serve.log")" 'level=error' "no errors logged (but the broken reload's)"

# a config that cannot start (bad listen address) fails with status 1 and says why
out=$("$WEFT" serve -o control.listen=999.1.1.1:80 -o derp.listen=127.0.0.1:0 -o derp.stun_listen= 2>&1); rc=$?
is "$rc" 1 "a listener that cannot open makes serve exit 1"
like "$out" '999\.1\.1\.1:80' "and names the address"
done_testing
