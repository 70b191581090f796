#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A real PostgreSQL server for the tests (Debian's postgresql package): initdb into a temporary directory,
# pg_ctl to start, stop and restart it, listening only on a unix socket in that directory. initdb refuses to
# run as root, so as root the server runs as `nobody` (runuser); unprivileged, as the user running the test.
# Source after t/lib.sh. pg_need skips the whole test (TAP reason) when the server or the plugin is missing.

pg_bindir() {
    local d
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

# pg_need: the server binaries, and weft's store_postgres plugin (built when configure found libpq).
pg_need() {
    PG_BIN=$(pg_bindir) || skip_all "needs PostgreSQL's initdb and pg_ctl (Debian package postgresql)"
    if ! "$WEFT" modules 2>/dev/null | grep -q '^store_postgres'; then
        skip_all "weft has no store_postgres plugin (configure did not find libpq: install libpq-dev)"
    fi
    PG_USER=$(id -un)
    if is_root; then
        command -v runuser >/dev/null 2>&1 || skip_all "needs runuser to run PostgreSQL as nobody"
        PG_USER=nobody
    fi
}

_pg_as() { if is_root; then (cd / && runuser -u "$PG_USER" -- "$@"); else "$@"; fi; }

# pg_start: initdb (once) and start; sets PG_DIR, PG_PORT and PG_DSN (database weft, user weft).
pg_start() {
    if [ -z "${PG_DIR:-}" ]; then
        PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weft-pg.XXXXXX")
        on_exit "pg_stop immediate; rm -rf '$PG_DIR'"
        chmod 755 "$PG_DIR"
        is_root && chown "$PG_USER" "$PG_DIR"
        PG_PORT=$(free_port)
        if ! _pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U weft -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1; then
            diag "initdb failed:"; diag "$(tail -5 "$PG_DIR/initdb.log")"
            return 1
        fi
        PG_DSN="postgres:///weft?host=$PG_DIR&port=$PG_PORT&user=weft"
        PG_ADMIN_DSN="postgres:///postgres?host=$PG_DIR&port=$PG_PORT&user=weft"
    fi
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-k $PG_DIR -c listen_addresses= -p $PG_PORT -c fsync=off -c full_page_writes=off" start >/dev/null ||
        { diag "pg_ctl start failed:"; diag "$(tail -5 "$PG_DIR/server.log")"; return 1; }
    if [ -z "${_pg_created:-}" ]; then
        _pg_created=1
        pg_sql postgres "CREATE DATABASE weft" >/dev/null || return 1
    fi
}

# pg_stop [fast|immediate]
pg_stop() {
    [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w -t 60 stop >/dev/null 2>&1
}

pg_restart() { pg_stop fast && pg_start; }

# pg_sql DB SQL: run SQL with psql when there is one (it comes with the server package), tuples only.
pg_sql() {
    local db=$1; shift
    psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U weft -d "$db" -c "$*"
}

# ha_pair OPTION...: two weft control instances on $PG_DSN (run from $TMP: state in s1/ and s2/, logs c1.log and
# c2.log) sharing one control key (a file copied to each), with the given -o options besides keepalive 1s and
# no DERP map. Sets url1/url2 and args1/args2; w1/w2 run the CLI against each, node1/node2 t/tools/tsnode
# ($TSNODE). Two checks: each instance starts. HA_PORT1/HA_PORT2 choose the ports; with HA_ONE_URL set both
# have url1 as their control.server_url, as behind a load balancer.
ha_pair() {
    local p1 p2
    p1=${HA_PORT1:-$(free_port)}; p2=${HA_PORT2:-$(free_port)}
    url1=http://127.0.0.1:$p1; url2=http://127.0.0.1:$p2
    local su2=$url2
    [ -n "${HA_ONE_URL:-}" ] && su2=$url1
    local common=(-o control.keepalive=1s -o control.derp_map_file= -o "control.database=$PG_DSN" "$@")
    args1=(-o state_dir=$TMP/s1 -o control.listen=127.0.0.1:$p1 -o control.server_url=$url1 "${common[@]}")
    args2=(-o state_dir=$TMP/s2 -o control.listen=127.0.0.1:$p2 -o control.server_url=$su2 "${common[@]}")
    start_weft c1 serve control "${args1[@]}"
    wait_for 20 grep -q 'event=started' c1.log; ok $? "instance 1 starts on PostgreSQL"
    mkdir -p "$TMP/s2" && cp "$TMP/s1/control.key" "$TMP/s2/control.key" && chmod 600 "$TMP/s2/control.key"
    start_weft c2 serve control "${args2[@]}"
    wait_for 20 grep -q 'event=started' c2.log; ok $? "instance 2 starts on the same database with the same key"
}
w1() { "$WEFT" "$@" "${args1[@]}"; }
w2() { "$WEFT" "$@" "${args2[@]}"; }
node1() { "$TSNODE" "$url1" "$TMP" "$@"; }
node2() { "$TSNODE" "$url2" "$TMP" "$@"; }

# online_states FILE ID: "MS true|false" each time the map stream logged in FILE (t/tools/tsnode's "MS JSON"
# lines) is told of node ID's online state
online_states() {
    python3 - "$1" "$2" <<'PY'
import json, sys
want = int(sys.argv[2])
for line in open(sys.argv[1]):
    ms, _, js = line.partition(" ")
    try:
        m = json.loads(js)
    except ValueError:
        continue
    for p in m.get("Peers", []) + m.get("PeersChanged", []):
        if p.get("ID") == want and "Online" in p:
            print(ms, "true" if p["Online"] else "false")
    v = m.get("OnlineChange", {}).get(str(want))
    if v is not None:
        print(ms, "true" if v else "false")
PY
}
