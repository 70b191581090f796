#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Login state across two control instances on one real PostgreSQL server (issue 17), as behind a load
# balancer where each request may land on either: an OAuth access token issued by one instance is taken by
# the other, and revoking its client through one ends it on both; only a hash of it is in the database.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/pg_lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
need_cmd psql curl python3
pg_need
cd "$TMP" || exit 1

pg_start; ok $? "PostgreSQL starts (initdb, pg_ctl as $PG_USER)" || { done_testing; }

ha_pair
# code URL ARGS...: the HTTP status of a request (the body in body.json)
code() { local u=$1; shift; curl -s -m 10 -o body.json -w '%{http_code}' "$@" "$u"; }
j() { python3 -c "import json,sys; d=json.load(open('body.json')); print($1)"; }

# ---- OAuth access tokens ----
out=$(w1 oauth-clients create --scopes devices:core:read --description ha); ok $? "an OAuth client"
cid=$(printf '%s\n' "$out" | tail -2 | head -1); csec=$(printf '%s\n' "$out" | tail -1)
is "$(code "$url1/api/v2/oauth/token" -u "$cid:$csec" -d grant_type=client_credentials)" 200 \
    "instance 1 issues an access token"
tok=$(j 'd["access_token"]')
T=(-H "Authorization: Bearer $tok")
is "$(code "$url2/api/v2/tailnet/-/devices" "${T[@]}")" 200 "instance 2 takes the token instance 1 issued"
is "$(code "$url1/api/v2/tailnet/-/devices" "${T[@]}")" 200 "and so does instance 1"
is "$(code "$url2/api/v2/tailnet/-/keys" "${T[@]}")" 403 "with the token's scopes only (403 beyond them)"
is "$(pg_sql weft "SELECT count(*) FROM login_state WHERE kind = 't' AND expires > extract(epoch FROM now())")" 1 \
    "the token is in the database"
is "$(pg_sql weft "SELECT count(*) FROM login_state WHERE data LIKE '%${tok##*-}%' OR encode(hash, 'escape') LIKE '%${tok##*-}%'")" 0 \
    "but not its secret"
is "$(code "$url2/api/v2/tailnet/-/devices" -H "Authorization: Bearer ${tok%?}0")" 401 "a made-up token: 401"
w1 oauth-clients delete "$cid" >/dev/null; ok $? "the client is deleted through instance 1"
is "$(code "$url2/api/v2/tailnet/-/devices" "${T[@]}")" 401 "instance 2 refuses its token (401)"
is "$(code "$url1/api/v2/tailnet/-/devices" "${T[@]}")" 401 "and so does instance 1"

stop_weft c2; is "$WEFT_RC" 0 "instance 2 stops cleanly"
stop_weft c1; is "$WEFT_RC" 0 "instance 1 stops cleanly"
done_testing
