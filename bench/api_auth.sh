#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# What authenticating a REST API request costs now that OAuth access tokens are looked up in the store
# (issue 17, schema 9) rather than in memory: WEFT_BENCH_REQUESTS (default 2000) GET /api/v2/weft/whoami over
# one keep-alive connection, with an API key (one store read: the key) and with an access token (two: the
# token's row, then its client), on SQLite and, when PostgreSQL's initdb/pg_ctl are there and weft has the
# store_postgres plugin, on PostgreSQL over its unix socket. Prints requests per second and the mean time.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/pg_lib.sh"
n=${WEFT_BENCH_REQUESTS:-2000}
export WEFT_CONFIG=/nonexistent/weft.yaml
cd "$TMP" || exit 1

# run NAME DATABASE: one control on DATABASE, an API key and a token, n requests with each
run() {
    local port; port=$(free_port)
    local args=(-o state_dir=$TMP/$1 -o control.listen=127.0.0.1:$port -o control.server_url=http://127.0.0.1:$port
                -o control.derp_map_file= -o "control.database=$2")
    start_weft "$1" serve control "${args[@]}"
    wait_for 20 grep -q 'event=started' "$1.log" || { echo "bench/api_auth: control on $1 did not start"; return 1; }
    local key out cid csec tok
    key=$("$WEFT" apikeys create "${args[@]}" | tail -1)
    out=$("$WEFT" oauth-clients create --scopes all "${args[@]}")
    cid=$(printf '%s\n' "$out" | tail -2 | head -1); csec=$(printf '%s\n' "$out" | tail -1)
    tok=$(curl -s -m 10 -u "$cid:$csec" -d grant_type=client_credentials "http://127.0.0.1:$port/api/v2/oauth/token" |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    python3 - "$port" "$n" "$1" "$key" "$tok" <<'PY'
import http.client, sys, time
port, n, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for label, secret in (("API key", sys.argv[4]), ("access token", sys.argv[5])) * 2:  # twice: order effects show
    c = http.client.HTTPConnection("127.0.0.1", port)
    h = {"Authorization": "Bearer " + secret}
    for _ in range(50):  # warm up
        c.request("GET", "/api/v2/weft/whoami", headers=h); c.getresponse().read()
    t0 = time.monotonic()
    for _ in range(n):
        c.request("GET", "/api/v2/weft/whoami", headers=h)
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
    dt = time.monotonic() - t0
    print(f"bench/api_auth: {name:8s} {label:12s} {n / dt:8.0f} req/s  {dt / n * 1e6:7.0f} us/request")
PY
    stop_weft "$1"
}

run sqlite "$TMP/sqlite/control.db"
if PG_BIN=$(pg_bindir) && "$WEFT" modules 2>/dev/null | grep -q '^store_postgres'; then
    PG_USER=$(id -un)
    is_root && PG_USER=nobody
    pg_start && run postgres "$PG_DSN"
else
    echo "bench/api_auth: PostgreSQL skipped (needs initdb/pg_ctl and the store_postgres plugin)"
fi
