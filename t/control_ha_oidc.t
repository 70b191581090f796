#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# OpenID logins across two control instances on one real PostgreSQL server (issue 17), as behind a load
# balancer (both have the same server_url; each request may land on either): a console session opened
# through one instance is taken by the other, and a logout through either ends it on both; a login begun
# through one instance (the redirect to the provider) completes when the provider's callback lands on the
# other, for a node (it is registered, its client waiting on the first is answered) and for the console;
# the login's state still works only once and only in its browser. The provider is
# the real one of t/oidc.t (t/oidc/provider.mjs); curl is the browser, its cookie jar shared by both
# instances (cookies are per host, not per port).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/pg_lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
PLUGIN=${WEFT_BUILDDIR:-$(dirname "$0")/..}/plugins/auth_oidc/.libs
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
[ -f "$PLUGIN/auth_oidc.so" ] || skip_all "the auth_oidc plugin is not built (configure found no libcjose-dev)"
need_cmd psql curl python3 node npm
OIDC_PROVIDER_DIR=${OIDC_PROVIDER_DIR:-$(npm root -g 2>/dev/null)/oidc-provider}
[ -f "$OIDC_PROVIDER_DIR/package.json" ] || skip_all "needs the npm package oidc-provider (npm install -g oidc-provider@8, .ci/deps)"
export OIDC_PROVIDER_DIR
export WEFT_MODULE_PATH="$WEFT_MODULE_PATH:$PLUGIN"
pg_need
cd "$TMP" || exit 1

pg_start; ok $? "PostgreSQL starts (initdb, pg_ctl as $PG_USER)" || { done_testing; }

HA_PORT1=$(free_port); HA_PORT2=$(free_port); HA_ONE_URL=1
url=http://127.0.0.1:$HA_PORT1 # the public URL, which the provider sends browsers back to
node "$WEFT_SRCDIR/t/oidc/provider.mjs" "$TMP/idp.port" weft weft-test-secret "$url/oidc/callback" >idp.log 2>&1 &
on_exit "kill $! 2>/dev/null"
wait_for 30 test -s idp.port; ok $? "the OpenID provider (oidc-provider) starts" || { cat idp.log >&2; done_testing; }
idp=http://127.0.0.1:$(cat idp.port)
printf 'weft-test-secret\n' >secret
idp_set() { curl -s -m 5 "$idp/__test/$1" >/dev/null; }

ha_pair -o control.oidc.issuer=$idp -o control.oidc.client_id=weft -o control.oidc.client_secret_file=$TMP/secret \
    -o control.oidc.scopes=openid,email,profile,groups -o control.oidc.allowed_domains=example.com \
    -o control.oidc.console_groups=admins
wait_for 20 grep -q 'event=oidc_jwks result=ok' c1.log && wait_for 20 grep -q 'event=oidc_jwks result=ok' c2.log
ok $? "both instances load the provider's keys"
code() { local u=$1; shift; curl -s -m 10 -o body.json -w '%{http_code}' "$@" "$u"; }

# ---- a console session through instance 1, used and ended through instance 2 ----
idp_set user?u=alice
out=$(curl -s -m 20 -L -b jc -c jc -o page.html -w '%{http_code} %{url_effective}' "$url1/admin/login/oidc?next=/admin/machines")
like "$out" " $url1/admin/machines$" "a console login through instance 1 lands on ?next="
csrf=$(awk '$6 == "weft_csrf" {print $7}' jc)
sess=$(awk '$6 == "weft_session" {print $7}' jc)
like "$sess" '^[0-9a-f]{64}$' "sets a session cookie"
is "$(code "$url2/api/v2/weft/whoami" -b jc)" 200 "instance 2 takes the session cookie"
like "$(cat body.json)" '"kind":"session".*"id":"alice@example.com"' "as alice's console session"
is "$(code "$url2/api/v2/weft/users" -b jc -X POST -H 'Content-Type: application/json' -d '{"loginName":"eve"}')" 403 \
    "a POST through instance 2 without the CSRF token: 403"
is "$(code "$url2/api/v2/weft/users" -b jc -X POST -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d '{"loginName":"eve"}')" 200 "with the CSRF token instance 1 gave: 200"
is "$(code "$url1/api/v2/tailnet/-/devices" -b jc)" 200 "instance 1 takes it too"
is "$(pg_sql weft "SELECT count(*) FROM login_state WHERE kind = 's'")" 1 "the session is in the database"
is "$(pg_sql weft "SELECT count(*) FROM login_state WHERE data LIKE '%$sess%' OR encode(hash, 'hex') = '$sess'")" 0 \
    "but not its cookie"
is "$(code "$url2/admin/logout" -b jc -c jc -X POST -H "X-CSRF-Token: $csrf")" 204 "a logout through instance 2"
is "$(code "$url1/api/v2/weft/whoami" -b "weft_session=$sess")" 401 "instance 1 refuses the old cookie (401)"
is "$(code "$url2/api/v2/weft/whoami" -b "weft_session=$sess")" 401 "and so does instance 2"
is "$(pg_sql weft "SELECT count(*) FROM login_state WHERE kind = 's'")" 0 "the session is gone from the database"

# ---- a login begun through instance 1, its callback landing on instance 2 ----
# to_callback URL JAR: follow the redirects by hand up to weft's callback (the public URL); prints its URL
to_callback() {
    local loc=$1
    while [ -n "$loc" ] && [[ $loc != "$url/oidc/callback"* ]]; do
        loc=$(curl -s -m 10 -o /dev/null -w '%{redirect_url}' -b "$2" -c "$2" "$loc") || break
    done
    echo "$loc"
}
on2() { echo "$url2${1#"$url"}"; } # the same request, routed to instance 2 by the "load balancer"
out=$(node1 nl register --hostname laptop)
authurl=$(echo "$out" | sed -n 's/.*"AuthURL":"\([^"]*\)".*/\1/p')
like "$authurl" "^$url1/register/[0-9a-f]{24}$" "a node registering through instance 1 gets an AuthURL"
node1 nl register --hostname laptop --followup "$authurl" >nl.out 2>&1 &
f=$!
on_exit "kill $f 2>/dev/null"
loc=$(to_callback "$authurl" jn)
like "$loc" "^$url/oidc/callback\?code=[^&]+&state=" "instance 1 sends the browser to the provider, which sends it back"
like "$(grep 'event=oidc_login step=begin purpose=node' c1.log)" "begun=" "the login was begun on instance 1"
is "$(pg_sql weft "SELECT count(*) FROM login_state WHERE kind = 'f'")" 1 "the login under way is in the database"
state=$(echo "$loc" | sed 's/.*[?&]state=\([^&]*\).*/\1/')
verifier_leak=$(pg_sql weft "SELECT count(*) FROM login_state WHERE data LIKE '%$state%' OR encode(hash, 'escape') LIKE '%$state%'")
is "$verifier_leak" 0 "but not its state"
is "$(curl -s -m 20 -o page.html -w '%{http_code}' -b jn -c jn "$(on2 "$loc")")" 200 "the callback lands on instance 2: 200"
like "$(cat page.html)" "laptop is now registered to alice@example.com" "the machine is registered"
wait_for 10 grep -q '"MachineAuthorized":true' nl.out; ok $? "the node waiting on instance 1 is authorized"
like "$(grep 'event=login purpose=node result=registered' c2.log)" 'user="alice@example.com"' "by instance 2"
is "$(curl -s -m 20 -o page.html -w '%{http_code}' -b jn -c jn "$loc")" 400 "the same callback again, on instance 1: 400"
like "$(cat page.html)" "unknown, expired or already used" "the state works once across instances"

a2=$(node1 nm register --hostname other | sed -n 's/.*"AuthURL":"\([^"]*\)".*/\1/p')
loc=$(to_callback "$a2" jm)
is "$(curl -s -m 20 -o page.html -w '%{http_code}' "$(on2 "$loc")")" 400 \
    "a callback on instance 2 without the browser's cookie: 400"
like "$(cat page.html)" "started in another browser" "the page says so"

rm -f jc2
loc=$(to_callback "$url1/admin/login/oidc?next=/admin/users" jc2)
like "$loc" "^$url/oidc/callback\?" "a console login begun through instance 1"
out=$(curl -s -m 20 -o /dev/null -w '%{http_code} %{redirect_url}' -b jc2 -c jc2 "$(on2 "$loc")")
like "$out" "^302 ([a-z]+://[^/]+)?/admin/users$" "its callback on instance 2 opens the session and lands on ?next="
is "$(code "$url1/api/v2/weft/whoami" -b jc2)" 200 "the session is taken by instance 1"

stop_weft c2; is "$WEFT_RC" 0 "instance 2 stops cleanly"
stop_weft c1; is "$WEFT_RC" 0 "instance 1 stops cleanly"
done_testing
