#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# OpenID Connect login (plugins/auth_oidc) against a real OpenID provider: the npm package oidc-provider
# run by the system Node.js (t/oidc/provider.mjs), everything on loopback. curl is the browser (following
# redirects, keeping cookies); t/tools/tsnode is the node, logging in interactively over the real protocol.
# Proves: a node's AuthURL leads to the provider and back, and the node is registered to the user the ID
# token names (created at the first login); the console login sets a session the REST API takes (and its
# CSRF rule) and survives a restart; refusals: another audience, an expired token, a tampered signature, changed claims, a state
# used twice, a login finished in another browser, an e-mail address not allowed (page and log line);
# key rotation fetches the key set again, and only once per jwks_refresh_min for unknown keys.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
PLUGIN=${WEFT_BUILDDIR:-$(dirname "$0")/..}/plugins/auth_oidc/.libs
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
[ -f "$PLUGIN/auth_oidc.so" ] || skip_all "the auth_oidc plugin is not built (configure found no libcjose-dev)"
need_cmd curl python3 node npm
OIDC_PROVIDER_DIR=${OIDC_PROVIDER_DIR:-$(npm root -g 2>/dev/null)/oidc-provider}
[ -f "$OIDC_PROVIDER_DIR/package.json" ] || skip_all "needs the npm package oidc-provider (npm install -g oidc-provider@8, .ci/deps)"
export OIDC_PROVIDER_DIR
export WEFT_MODULE_PATH="$WEFT_MODULE_PATH:$PLUGIN"
cd "$TMP" || exit 1

port=$(free_port)
url=http://127.0.0.1:$port
node "$WEFT_SRCDIR/t/oidc/provider.mjs" "$TMP/idp.port" weft weft-test-secret "$url/oidc/callback" >idp.log 2>&1 &
on_exit "kill $! 2>/dev/null"
wait_for 30 test -s idp.port; ok $? "the OpenID provider (oidc-provider) starts" || { cat idp.log >&2; done_testing; }
idp=http://127.0.0.1:$(cat idp.port)
printf 'weft-test-secret\n' >secret

args=(-o state_dir=$TMP/state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url
      -o control.oidc.issuer=$idp -o control.oidc.client_id=weft -o control.oidc.client_secret_file=$TMP/secret
      -o control.oidc.scopes=openid,email,profile,groups -o control.oidc.allowed_domains=example.com
      -o control.oidc.console_groups=admins -o control.oidc.jwks_refresh_min=10m)
w() { "$WEFT" "$@" "${args[@]}"; }
tsnode() { "$TSNODE" "$url" "$TMP" "$@"; }

like "$("$WEFT" check-config --doc 2>&1 | grep -A2 '^  oidc:')" "OpenID provider's issuer URL" "check-config --doc lists control.oidc.*"
like "$("$WEFT" check-config -o control.oidc.issuer=$idp 2>&1)" 'control\.oidc\.issuer.*needs control\.oidc\.client_id' \
    "an issuer without a client_id is a config error"
like "$("$WEFT" check-config -o control.oidc.algorithms=HS256 2>&1)" 'control\.oidc\.algorithms.*HS256.*not an accepted' \
    "HMAC is no accepted ID token algorithm"

start_weft serve serve "${args[@]}"
wait_for 20 grep -q 'event=oidc_jwks result=ok' serve.log; ok $? "weft serve discovers the provider and loads its keys"
like "$(grep 'event=oidc_discovery' serve.log)" "result=ok issuer=$idp authorization_endpoint=$idp/auth" "discovery: the endpoints"

idp_set() { curl -s -m 5 "$idp/__test/$1" >/dev/null; }
# browse URL JAR: follow redirects like a browser with its cookie jar; prints "STATUS FINAL-URL", the page is
# left in page.html and the last response's headers in hdr.txt
browse() {
    curl -s -m 20 -L -b "$2" -c "$2" -D hdr.txt -o page.html -w '%{http_code} %{url_effective}' "$1"
}
# authurl NAME: a new interactive registration of tsnode NAME; its AuthURL
authurl() { tsnode "$1" register --hostname "$1" | sed -n 's/.*"AuthURL":"\([^"]*\)".*/\1/p'; }

# ---- a node logs in interactively ----
idp_set user?u=alice
a1=$(authurl laptop)
like "$a1" "^$url/register/[0-9a-f]{24}$" "a node without an auth key gets an AuthURL"
tsnode laptop register --hostname laptop --followup "$a1" >laptop.out 2>&1 &
f=$!
first=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' -c j0 "$a1")
like "$first" "^302 $idp/auth\?response_type=code&client_id=weft&redirect_uri=" "the AuthURL sends the browser to the provider"
like "$first" "&code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256" "with a PKCE challenge"
like "$(cat j0)" "weft_oidc" "and a cookie binding the login to this browser"
rm -f j0
out=$(browse "$a1" j1)
like "$out" "^200 $url/oidc/callback\?code=[^&]+&state=[^&]+&iss=" "the browser comes back through the provider's login to weft's callback"
like "$(cat page.html)" "laptop is now registered to alice@example.com" "which says the machine is registered"
wait $f
like "$(cat laptop.out)" '^200 .*"MachineAuthorized":true' "the waiting node is authorized"
like "$(w users list 2>&1)" "alice@example.com" "the user alice@example.com was created at the first login"
like "$(w nodes list --json 2>&1)" '"user":"alice@example.com"' "the node belongs to alice@example.com"
like "$(grep 'event=login purpose=node result=registered' serve.log)" 'user="alice@example.com"' "and the log says so"

# the same user again: no second user
idp_set user?u=alice
a2=$(authurl desk)
tsnode desk register --hostname desk --followup "$a2" >desk.out 2>&1 &
f=$!
browse "$a2" j2 >/dev/null
wait $f
like "$(cat desk.out)" '"MachineAuthorized":true' "a second node of the same user logs in"
is "$(w users list --json 2>&1 | grep -o '"alice@example.com"' | wc -l)" 1 "and the user is not created twice"
like "$(grep 'action=identity_bind' serve.log)" "user=\"alice@example.com\" id=[0-9]+ issuer=\"$idp\" sub=\"alice\"" \
    "the user is bound to the identity (issuer, subject) at the first login"

# ---- users are bound to (issuer, subject), not to the e-mail address ----
idp_set 'email?u=alice&e=alice.liddell@example.com'
at=$(authurl tablet)
tsnode tablet register --hostname tablet --followup "$at" >tablet.out 2>&1 &
f=$!
browse "$at" j-tablet >/dev/null
wait $f
like "$(cat tablet.out)" '"MachineAuthorized":true' "alice logs in after her address changed at the provider"
like "$(cat page.html)" "tablet is now registered to alice@example.com" "as the same user alice@example.com"
unlike "$(w users list 2>&1)" "alice.liddell" "no user is created for the new address"
idp_set 'email?u=alice&e=alice@example.com'
idp_set user?u=alice2
ai=$(authurl intruder)
out=$(browse "$ai" j-intruder)
idp_set user?u=alice
like "$out" "^409 $url/oidc/callback" "another subject showing alice's address is refused (409)"
like "$(cat page.html)" "alice@example.com belongs to another identity" "the page says why"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$ai")" 302 "the machine is not registered"
like "$(grep 'reason="the user is bound to another identity' serve.log)" 'sub="alice2"' "and the log says so"

# ---- refusals ----
# refused NAME MODE WANT-PAGE-REGEX: a login under the provider's MODE; the page must say WANT and the node
# must still be waiting
refused() {
    local a
    idp_set "mode?m=$2"
    a=$(authurl "$1")
    out=$(browse "$a" "j-$1")
    idp_set mode?m=normal
    like "$out" "^403 $url/oidc/callback" "$3: refused (403)"
    like "$(cat page.html)" "$4" "$3: the page says why"
    is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$a")" 302 "$3: the machine is not registered (its AuthURL still leads to the provider)"
}
refused aud wrong_aud "a token for another audience" "another audience"
refused exp expired "an expired token" "expired"
refused sig tampered "a tampered signature" "bad signature"
refused claims claims_changed "changed claims under the old signature" "bad signature"
like "$(grep -c 'event=oidc_login result=refused' serve.log)" '^[4-9]' "each refusal is logged"

# a state used twice: the callback URL replayed (after a successful login)
# to_callback URL JAR: follow the redirects by hand up to weft's callback; prints the callback URL
to_callback() {
    local loc=$1
    while [ -n "$loc" ] && [[ $loc != "$url/oidc/callback"* ]]; do
        loc=$(curl -s -m 10 -o /dev/null -w '%{redirect_url}' -b "$2" -c "$2" "$loc") || break
    done
    echo "$loc"
}
idp_set user?u=alice
a4=$(authurl replay)
loc=$(to_callback "$a4" j4)
like "$loc" "^$url/oidc/callback\?code=[^&]+&state=" "the provider sends the browser back with a code and the state"
is "$(curl -s -m 20 -o page.html -w '%{http_code}' -b j4 -c j4 "$loc")" 200 "the callback registers the machine"
is "$(curl -s -m 20 -o page.html -w '%{http_code}' -b j4 -c j4 "$loc")" 400 "the same callback again (a replayed state): 400"
like "$(cat page.html)" "unknown, expired or already used" "the page says the login is used up"

# the callback finished in another browser (no binding cookie)
idp_set user?u=alice
a5=$(authurl other)
loc=$(to_callback "$a5" j5)
is "$(curl -s -m 20 -o page.html -w '%{http_code}' "$loc")" 400 "a callback without the browser's binding cookie: 400"
like "$(cat page.html)" "started in another browser" "the page says so"

# the answer of another provider (RFC 9207's iss parameter names someone else: a mix-up)
idp_set user?u=alice
a9=$(authurl mixup)
loc=$(to_callback "$a9" j9)
is "$(curl -s -m 20 -o page.html -w '%{http_code}' -b j9 "${loc%%&iss=*}&iss=http%3A%2F%2Fidp.evil.example")" 400 \
    "a callback whose iss names another provider: 400"
like "$(cat page.html)" "another identity provider" "the page says so"

# an e-mail address not allowed (bob@other.org; allowed_domains is example.com)
idp_set user?u=bob
a6=$(authurl bobs)
out=$(browse "$a6" j6)
like "$out" "^403 " "an e-mail address outside allowed_domains: 403"
like "$(cat page.html)" "bob@other.org is not allowed to log in" "a page saying so"
like "$(grep 'reason="not allowed"' serve.log)" 'user="bob@other.org"' "and a log line naming the address"
unlike "$(w users list 2>&1)" "bob@other.org" "no user is created for it"

# ---- key rotation ----
before=$(curl -s -m 5 "$idp/__test/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwks"])')
idp_set user?u=alice
idp_set mode?m=rotate
a7=$(authurl rotated)
tsnode rotated register --hostname rotated --followup "$a7" >rotated.out 2>&1 &
f=$!
out=$(browse "$a7" j7)
wait $f
like "$out" "^200 $url/oidc/callback\?" "a token signed with a new key: the key set is fetched again and the login succeeds"
like "$(cat rotated.out)" '"MachineAuthorized":true' "the node is authorized"
idp_set mode?m=unknown_kid
a8=$(authurl unknown)
out=$(browse "$a8" j8)
idp_set mode?m=normal
like "$out" "^403 " "a key the provider never published: refused"
like "$(cat page.html)" "unknown key" "the page says the key is unknown"
after=$(curl -s -m 5 "$idp/__test/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwks"])')
is "$((after - before))" 1 "one fetch of the key set for both unknown keys (jwks_refresh_min)"

# ---- console login ----
api=$url/api/v2
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$api/weft/whoami")" 401 "the API without credentials: 401"
idp_set user?u=alice
out=$(curl -s -m 20 -L -b jc -c jc -o page.html -w '%{http_code} %{url_effective}' "$url/admin/login/oidc?next=/admin/machines")
like "$out" " $url/admin/machines$" "GET /admin/login/oidc goes through the provider and lands on ?next="
like "$(cat jc)" "HttpOnly_127.0.0.1.*weft_session" "the session cookie is HttpOnly"
csrf=$(awk '$6 == "weft_csrf" {print $7}' jc)
like "$csrf" '^[0-9a-f]{32}$' "and a weft_csrf cookie the console's script can read"
is "$(curl -s -m 5 -o body -w '%{http_code}' -b jc "$api/weft/whoami")" 200 "the API takes the session cookie"
is "$(python3 -c 'import json; d=json.load(open("body")); print(d["kind"], d["id"])')" "session alice@example.com" \
    "as the console user"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -b jc "$api/tailnet/-/devices")" 200 "GET devices with the session"
# sessions are kept in the database (schema 9): a restart logs nobody out
stop_weft serve; is "$WEFT_RC" 0 "weft serve stops"
start_weft serve serve "${args[@]}"
wait_for 20 grep -q 'event=oidc_jwks result=ok' serve.log; ok $? "and starts again"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -b jc "$api/weft/whoami")" 200 "the session is still taken after the restart"
is "$(curl -s -m 5 -o body -w '%{http_code}' -b jc -X POST -H 'Content-Type: application/json' -d '{"loginName":"eve"}' \
    "$api/weft/users")" 403 "a POST with the session but no X-CSRF-Token: 403"
is "$(curl -s -m 5 -o body -w '%{http_code}' -b jc -X POST -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d '{"loginName":"eve"}' "$api/weft/users")" 200 "with it: 200"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -b "weft_session=$(printf 'ab%.0s' $(seq 32))" "$api/weft/whoami")" 401 \
    "a made-up session: 401"
sess=$(awk '$6 == "weft_session" {print $7}' jc)
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -b jc -X POST "$url/admin/logout")" 403 "logout needs the CSRF token too"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -b jc -c jc -X POST -H "X-CSRF-Token: $csrf" "$url/admin/logout")" 204 \
    "POST /admin/logout"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -b "weft_session=$sess" "$api/weft/whoami")" 401 \
    "the session is over (its old cookie: 401)"
# dave@example.com may log in nodes (allowed_domains) but is not in console_groups
idp_set user?u=dave
out=$(curl -s -m 20 -L -b jd -c jd -o page.html -w '%{http_code}' "$url/admin/login/oidc")
is "$out" 403 "a user outside console_users/console_groups gets no console session"
like "$(cat page.html)" "may not use the admin console" "the page says so"
idp_set user?u=alice
out=$(curl -s -m 20 -L -b je -c je -o /dev/null -w '%{url_effective}' "$url/admin/login/oidc?next=//evil.example/")
is "$out" "$url/admin/" "?next= naming another site is ignored (no open redirect): /admin/"

stop_weft serve
is "$WEFT_RC" 0 "weft serve stops cleanly with the plugin loaded"
done_testing
