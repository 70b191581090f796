#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The web admin console (/admin/) end to end: the real `weft serve` (control + derp) on a real SQLite file
# serving the console from the source tree, nodes registered over the real protocol by t/tools/tsnode, an
# API key made with the CLI, and headless Chromium (Debian's chromium, driven by the npm package
# playwright-core) logging in and using every page (t/console.js). Screenshots of each page are left in
# $WEFT_BUILDDIR/t/console-artifacts/. Then with curl: content types, the Content-Security-Policy and
# cache headers, and that nothing outside the console's directory can be had (traversal, hidden files,
# unknown types, a symbolic link pointing out).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
SRC=${WEFT_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
TSNODE=${WEFT_BUILDDIR:-$(dirname "$0")/..}/t/tools/tsnode
[ -x "$TSNODE" ] || skip_all "t/tools/tsnode not built"
need_cmd curl python3
CONSOLE=$SRC/modules/control/console
ART=${WEFT_BUILDDIR:-$SRC}/t/console-artifacts

port=$(free_port)
url=http://127.0.0.1:$port
state=$TMP/state
args=(-o state_dir=$state -o control.listen=127.0.0.1:$port -o derp.listen=127.0.0.1:$port
      -o derp.stun_listen=127.0.0.1:0 -o control.server_url=$url -o control.keepalive=1s
      -o control.dns.base_domain=example.com -o control.dns.nameservers=192.0.2.53
      -o control.dns.search_domains=corp.example -o control.admin.console_dir=$CONSOLE
      -o control.policy.mode=database)
w() { "$WEFT" "$@" "${args[@]}"; }
tsn() { "$TSNODE" "$url" "$TMP" "$@"; }
cd "$TMP" || exit 1
# hdr PATH [CURL ARGS]: the response's status line and headers (lower-case names) into $TMP/h, status out
hdr() { local p=$1; shift; curl -s -m 10 -o "$TMP/b" -D "$TMP/h" -w '%{http_code}' "$@" "$url$p"; tr -d '\r' <"$TMP/h" | tr 'A-Z' 'a-z' >"$TMP/hl"; }
header() { sed -n "s/^$1: //p" "$TMP/hl" | head -1; }

out=$("$WEFT" check-config -o control.admin.console_dir=$TMP 2>&1)
is "$?" 1 "check-config refuses a console directory without index.html"
like "$out" "control.admin.console_dir: $TMP has no readable index.html" "naming the key and the directory"
start_weft serve serve "${args[@]}"
wait_for 10 grep -q 'event=started' serve.log; ok $? "weft serve starts"

# ---- serving: curl ----
is "$(hdr /admin/)" 200 "GET /admin/ is the console"
is "$(header content-type)" "text/html; charset=utf-8" "as HTML"
cmp -s "$TMP/b" "$CONSOLE/index.html"; ok $? "its index.html, byte for byte"
csp=$(header content-security-policy)
like "$csp" "script-src 'self'" "with a Content-Security-Policy allowing scripts from the server only"
unlike "$csp" "unsafe-inline|unsafe-eval" "and no inline script or eval"
like "$csp" "frame-ancestors 'none'" "and not framed"
is "$(header x-content-type-options)" nosniff "X-Content-Type-Options: nosniff"
is "$(header cache-control)" no-cache "Cache-Control: no-cache (revalidated: file names do not change between versions)"
etag=$(header etag)
like "$etag" '^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$' "an ETag"
is "$(hdr /admin/index.html -H "If-None-Match: $etag")" 304 "If-None-Match with it: 304"
is "$(hdr /admin/app.js)" 200 "app.js"
is "$(header content-type)" "text/javascript; charset=utf-8" "as JavaScript"
is "$(hdr /admin/style.css)" 200 "style.css"
is "$(header content-type)" "text/css; charset=utf-8" "as CSS"
is "$(hdr /admin/favicon.svg)" 200 "favicon.svg"
is "$(header content-type)" "image/svg+xml" "as SVG"
! grep -qiE '<script>|<script [^>]*>[^<]|<style| style=| on[a-z]+=' "$CONSOLE/index.html"; ok $? "index.html has no inline script, style or event handler (the CSP would block them)"
is "$(hdr /admin)" 308 "/admin redirects"
is "$(header location)" /admin/ "to /admin/"
is "$(hdr /admin/ -X POST)" 405 "POST: 405"
is "$(hdr /admin/ -I)" 200 "HEAD: 200"
is "$(hdr /admin/nosuch.html)" 404 "a file that is not there: 404"

# traversal: the database and anything outside the directory must never come out
for p in '/admin/../state/control.db' '/admin/..%2f..%2fstate%2fcontrol.db' '/admin/%2e%2e/%2e%2e/etc/passwd' \
         '/admin/..%2F..%2F..%2F..%2Fetc%2Fpasswd' '/admin/%252e%252e/etc/passwd' '/admin//etc/passwd' \
         '/admin/.%2e/.%2e/etc/passwd' '/admin/....//....//etc/passwd' '/admin/..\..\etc\passwd' \
         "/admin/..%00/index.html" "/admin/index.html%00.js" '/admin/./../../etc/passwd'; do
    code=$(hdr "$p" --path-as-is)
    if [ "$code" = 200 ] && ! cmp -s "$TMP/b" "$CONSOLE/index.html"; then st=leak; else st=$code; fi
    grep -q 'root:\|SQLite format' "$TMP/b" && st=leak
    like "$st" '^(404|400|308)$' "traversal $p: $code, nothing leaks"
done
is "$(hdr "/admin$CONSOLE/index.html" --path-as-is)" 404 "an absolute path below /admin/: 404"

# a copy of the console with a hidden file, a file of an unknown type and links pointing out of it
port2=$(free_port)
mkdir -p "$TMP/console2/sub" && cp "$CONSOLE"/* "$TMP/console2/"
echo secret >"$TMP/outside.txt"; echo secret >"$TMP/console2/.hidden.txt"; echo secret >"$TMP/console2/notes.db"
ln -s "$TMP/outside.txt" "$TMP/console2/link.txt"; ln -s "$TMP" "$TMP/console2/sub/up"
echo inside >"$TMP/console2/sub/in.txt"
start_weft serve2 serve -o state_dir=$TMP/state2 -o control.listen=127.0.0.1:$port2 -o derp.listen=127.0.0.1:$port2 \
    -o derp.stun_listen=127.0.0.1:0 -o control.server_url=http://127.0.0.1:$port2 -o control.admin.console_dir=$TMP/console2
wait_for 10 grep -q 'event=started' serve2.log; ok $? "a second server with a console directory holding traps starts"
u2=http://127.0.0.1:$port2
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' $u2/admin/sub/in.txt)" 200 "a file in a subdirectory: 200"
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' $u2/admin/.hidden.txt)" 404 "a hidden file: 404"
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' $u2/admin/notes.db)" 404 "a file of a type the console has none of: 404"
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' $u2/admin/link.txt)" 404 "a symbolic link to a file outside: 404"
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' $u2/admin/sub/up/outside.txt)" 404 "through a linked directory outside: 404"
stop_weft serve2 2>/dev/null || kill "$(weft_pid serve2)" 2>/dev/null

# ---- the console in a browser ----
w users create alice >/dev/null && w users create bob >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
like "$(tsn node1 register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node1 registers (tsnode, the real protocol)"
like "$(tsn node2 register --authkey "$key")" '^200 .*"MachineAuthorized":true' "node2 registers"
TSNODE_ROUTES=10.20.0.0/24,0.0.0.0/0,::/0 tsn node1 map 1 10 >/dev/null # node1 advertises a route and offers itself as exit node
K=$(w apikeys create --description console | tail -1)
like "$K" '^tskey-api-' "an API key from weft apikeys create"

# browser SCRIPT ARGS...: runs a t/console*.js and turns its lines into TAP
browser() {
    timeout 300 node "$@" >"$TMP/browser.out" 2>"$TMP/browser.err"
    local rc=$? what name detail
    while IFS=$'\t' read -r what name detail; do
        case $what in
            ok) ok 0 "browser: $name" ;;
            fail) ok 1 "browser: $name"; diag "$detail" ;;
            skip) skip "browser: $name: $detail" ;;
            key) eval "key_$name=\$detail" ;;
            shots) diag "screenshots: $name" ;;
        esac
    done <"$TMP/browser.out"
    ok $rc "the browser session ($(basename "$1")) ran to its end"
    [ $rc = 0 ] || diag "$(tail -20 "$TMP/browser.err")"
}

NODE_PATH=$(npm root -g 2>/dev/null)${NODE_PATH:+:$NODE_PATH}
export NODE_PATH
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
if ! command -v node >/dev/null; then
    skip "the browser tests: needs node (Node.js)"
elif ! node -e 'require.resolve("playwright-core")' 2>/dev/null; then
    skip "the browser tests: needs the npm package playwright-core (npm install -g playwright-core)"
elif [ -z "$CHROMIUM" ]; then
    skip "the browser tests: needs chromium"
else
    rm -rf "$ART"; mkdir -p "$ART"
    export CHROMIUM
    browser "$SRC/t/console.js" "$url" "$K" "$ART"
    # what the browser did, seen from the server
    nl=$(w nodes list --json)
    like "$nl" '"name":"web1"' "the server has node1 renamed web1"
    like "$(printf '%s' "$nl" | python3 -c 'import json,sys; print([(n["name"], n["user"]) for n in json.load(sys.stdin)["nodes"]])')" \
        "\('node2', 'bob'\)" "and node2 moved to bob"
    like "$(w users list)" carol "and the user carol"
    is "$(w nodes routes web1 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["approved_routes"], d["exit_node"])')" \
        "['0.0.0.0/0', '10.20.0.0/24', '::/0'] True" "and web1's route and exit routes approved (weft nodes routes)"
    is "$(curl -s -m 5 -H "Authorization: Bearer $K" $url/api/v2/tailnet/-/dns/nameservers)" \
        '{"dns":["192.0.2.53","192.0.2.54"],"magicDNS":true}' "and the nameservers saved on the DNS page"
    like "$(tsn node3 register --authkey "${key_reusable:-none}")" '^200 .*"MachineAuthorized":true' \
        "node3 registers with the key the console showed"
    unlike "$(tsn node4 register --authkey "${key_revoked:-none}")" '"MachineAuthorized":true' \
        "the key revoked in the console is refused"
    # ---- single sign-on: a real OpenID provider (t/oidc/provider.mjs, as t/oidc.t runs it) ----
    PLUGIN=${WEFT_BUILDDIR:-$SRC}/plugins/auth_oidc/.libs
    OIDC_PROVIDER_DIR=${OIDC_PROVIDER_DIR:-$(npm root -g 2>/dev/null)/oidc-provider}
    if [ ! -f "$PLUGIN/auth_oidc.so" ]; then
        skip "browser: single sign-on: the auth_oidc plugin is not built (configure found no libcjose-dev)"
    elif [ ! -f "$OIDC_PROVIDER_DIR/package.json" ]; then
        skip "browser: single sign-on: needs the npm package oidc-provider (.ci/deps)"
    else
        export OIDC_PROVIDER_DIR
        port3=$(free_port); u3=http://127.0.0.1:$port3
        node "$SRC/t/oidc/provider.mjs" "$TMP/idp.port" weft weft-test-secret "$u3/oidc/callback" >idp.log 2>&1 &
        on_exit "kill $! 2>/dev/null"
        wait_for 30 test -s idp.port; ok $? "the OpenID provider (oidc-provider) starts"
        idp=http://127.0.0.1:$(cat idp.port)
        curl -s -m 5 "$idp/__test/user?u=alice" >/dev/null
        printf 'weft-test-secret\n' >secret
        WEFT_MODULE_PATH="$WEFT_MODULE_PATH:$PLUGIN" start_weft serve3 serve -o state_dir=$TMP/state3 \
            -o control.listen=127.0.0.1:$port3 -o derp.listen=127.0.0.1:$port3 -o derp.stun_listen=127.0.0.1:0 \
            -o control.server_url=$u3 -o control.admin.console_dir=$CONSOLE -o control.oidc.issuer=$idp \
            -o control.oidc.client_id=weft -o control.oidc.client_secret_file=$TMP/secret \
            -o control.oidc.scopes=openid,email,profile,groups -o control.oidc.console_groups=admins
        wait_for 20 grep -q 'event=oidc_jwks result=ok' serve3.log; ok $? "a weft with control.oidc.* starts and reaches the provider"
        is "$(curl -s -m 5 $u3/api/v2/weft/console/login-methods)" \
            '{"apiKey":true,"oidc":{"url":"/admin/login/oidc","label":"Log in with single sign-on"}}' \
            "GET /api/v2/weft/console/login-methods offers it"
        browser "$SRC/t/console-oidc.js" "$u3" "$ART"
    fi
    is "$(curl -s -m 5 $url/api/v2/weft/console/login-methods)" '{"apiKey":true}' \
        "without control.oidc.* login-methods offers the API key only"
    n=$(ls "$ART"/*.png 2>/dev/null | wc -l)
    [ "$n" -ge 10 ]; ok $? "screenshots of each page in $ART ($n)"
fi
done_testing
