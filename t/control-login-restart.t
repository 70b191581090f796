#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Login state survives a restart of control on SQLite (issue 17, schema 9): an OAuth access token issued
# before `weft serve control` restarts is still taken after it (it used to live in memory: a restart ended
# it), and deleting its client still ends it. Only a hash of the token is in the database.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
need_cmd curl python3 sqlite3
cd "$TMP" || exit 1

port=$(free_port)
url=http://127.0.0.1:$port
args=(-o state_dir=$TMP/state -o control.listen=127.0.0.1:$port -o control.server_url=$url
      -o control.derp_map_file=)
w() { "$WEFT" "$@" "${args[@]}"; }
code() { local u=$1; shift; curl -s -m 10 -o body.json -w '%{http_code}' "$@" "$u"; }
j() { python3 -c "import json,sys; d=json.load(open('body.json')); print($1)"; }

start_weft c serve control "${args[@]}"
wait_for 20 grep -q 'event=started' c.log; ok $? "control starts (SQLite)"
out=$(w oauth-clients create --scopes devices:core:read); ok $? "an OAuth client"
cid=$(printf '%s\n' "$out" | tail -2 | head -1); csec=$(printf '%s\n' "$out" | tail -1)
is "$(code "$url/api/v2/oauth/token" -u "$cid:$csec" -d grant_type=client_credentials)" 200 "an access token"
tok=$(j 'd["access_token"]')
T=(-H "Authorization: Bearer $tok")
is "$(code "$url/api/v2/tailnet/-/devices" "${T[@]}")" 200 "it is taken"
is "$(sqlite3 "$TMP/state/control.db" "SELECT count(*) FROM login_state WHERE kind = 't'")" 1 "it is in the database"
is "$(sqlite3 "$TMP/state/control.db" "SELECT count(*) FROM login_state WHERE instr(data, '${tok##*-}') OR instr(hash, '${tok##*-}')")" 0 \
    "but not its secret"

stop_weft c; is "$WEFT_RC" 0 "control stops"
start_weft c serve control "${args[@]}"
wait_for 20 grep -q 'event=started' c.log; ok $? "control starts again"
is "$(code "$url/api/v2/tailnet/-/devices" "${T[@]}")" 200 "the token is still taken after the restart"
w oauth-clients delete "$cid" >/dev/null; ok $? "the client is deleted"
is "$(code "$url/api/v2/tailnet/-/devices" "${T[@]}")" 401 "its token is refused (401)"

stop_weft c; is "$WEFT_RC" 0 "control stops cleanly"
done_testing
