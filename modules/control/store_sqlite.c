// SPDX-License-Identifier: BSD-3-Clause
/* The SQLite storage backend (store.h).
 *
 * One connection, used only from control's event-loop thread. That connection is the only writer in the
 * daemon, so registrations that arrive "at the same time" are serialized by the loop before they reach
 * SQLite and can never meet SQLITE_BUSY from each other (the `database is locked` errors Headscale users
 * report come from pools of connections competing for SQLite's single write lock). busy_timeout is only
 * for outside readers/writers such as an admin running the sqlite3 shell or a backup tool.
 *
 * Durability: WAL journal with synchronous=NORMAL. A transaction is committed once its frames are in the
 * WAL file; the WAL is not fsynced at each commit, but the data sits in the OS page cache, so a crash of
 * the process (kill -9) loses nothing committed; only an OS crash or power cut may lose the last commits
 * (never corrupt the database). */
#include "config.h"
#include "modules/control/store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* PRAGMA application_id: "weft" in ASCII; tells a weft database from some other SQLite file. */
#define SQ_APPLICATION_ID 0x77656674
#define SQ_BUSY_TIMEOUT_MS 5000

/* Numbered schema migrations: entry i brings the schema from version i to i + 1. Each one runs in its own
 * transaction together with the user_version update, so a failed or interrupted step leaves the previous
 * version intact. Never edit a released entry: append a new one. */
static const char *const sq_migrations[] = {
    /* 1: users, pre-auth keys, nodes. */
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " display_name TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL);"
    "CREATE TABLE preauth_keys ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " prefix TEXT NOT NULL,"
    " hash BLOB NOT NULL UNIQUE,"
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " reusable INTEGER NOT NULL DEFAULT 0,"
    " ephemeral INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0,"
    " expiration INTEGER NOT NULL DEFAULT 0,"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " used_count INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE nodes ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " stable_id TEXT NOT NULL UNIQUE,"
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " machine_key TEXT NOT NULL UNIQUE,"
    " node_key TEXT NOT NULL UNIQUE,"
    " disco_key TEXT NOT NULL DEFAULT '',"
    " hostname TEXT NOT NULL DEFAULT '',"
    " given_name TEXT NOT NULL UNIQUE,"
    " ipv4 TEXT UNIQUE,"
    " ipv6 TEXT UNIQUE,"
    " endpoints TEXT NOT NULL DEFAULT '[]',"
    " hostinfo TEXT,"
    " home_derp INTEGER NOT NULL DEFAULT 0,"
    " expiry INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL DEFAULT 0,"
    " ephemeral INTEGER NOT NULL DEFAULT 0,"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " authkey_id INTEGER REFERENCES preauth_keys(id) ON DELETE SET NULL);",

    /* 2: the client's capability version (MapResponse Node.Cap), and indexes on the foreign keys: listing
     * a user's nodes and the foreign-key checks when deleting a user or a key would scan without them. */
    "ALTER TABLE nodes ADD COLUMN capver INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX nodes_user_id ON nodes(user_id);"
    "CREATE INDEX nodes_authkey_id ON nodes(authkey_id);"
    "CREATE INDEX preauth_keys_user_id ON preauth_keys(user_id);",

    /* 3: whether an admin gave the node its name: then the client's hostname no longer renames it. */
    "ALTER TABLE nodes ADD COLUMN renamed INTEGER NOT NULL DEFAULT 0;",

    /* 4: the tailnet policy when control.policy.mode is database (one row: the text as uploaded). */
    "CREATE TABLE policy ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " text TEXT NOT NULL,"
    " updated INTEGER NOT NULL);",

    /* 5: subnet routes and exit nodes: the routes a node advertises (its Hostinfo.RoutableIPs, kept
     * apart from the raw Hostinfo so that listing and approving never re-parse it) and the routes an
     * admin or the policy's autoApprovers approved. JSON arrays of CIDR text. */
    "ALTER TABLE nodes ADD COLUMN routes_advertised TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE nodes ADD COLUMN routes_approved TEXT NOT NULL DEFAULT '[]';",

    /* 6: REST API credentials: API keys and OAuth clients (kind 1 and 2), hashed secrets. */
    "CREATE TABLE api_credentials ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind INTEGER NOT NULL,"
    " key_id TEXT NOT NULL UNIQUE,"
    " hash BLOB NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " scopes TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL,"
    " expiration INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    /* and a description on pre-auth keys (the REST API's keys have one) */
    "ALTER TABLE preauth_keys ADD COLUMN description TEXT NOT NULL DEFAULT '';",

    /* 7: settings changed at run time (the REST API's DNS settings): one row per control key they
     * override, its value as JSON (modules/control/dnsover.c); and the identity at an OpenID provider
     * (issuer, subject) each user logging in through it is bound to, one per user. */
    "CREATE TABLE settings ("
    " name TEXT PRIMARY KEY,"
    " value TEXT NOT NULL,"
    " updated INTEGER NOT NULL);"
    "CREATE TABLE user_identities ("
    " issuer TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " user_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL,"
    " PRIMARY KEY (issuer, subject));",

    /* 8: interactive registrations waiting for approval (they were held in memory: lost on a restart, and
     * out of reach of the other control instances on a database): one per machine key, found by AuthID,
     * removed through the expiry index; and their count in a row of its own, kept by the operations that
     * add and remove them, so that the cap (control.max_pending) is checked without counting rows. */
    "CREATE TABLE pending_registrations ("
    " id TEXT PRIMARY KEY,"
    " machine_key TEXT NOT NULL UNIQUE,"
    " node_key TEXT NOT NULL,"
    " hostname TEXT NOT NULL DEFAULT '',"
    " hostinfo TEXT,"
    " ephemeral INTEGER NOT NULL DEFAULT 0,"
    " capver INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " user_id INTEGER NOT NULL DEFAULT 0,"
    " node_id INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX pending_registrations_expires ON pending_registrations(expires);"
    "CREATE TABLE pending_count ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " n INTEGER NOT NULL);"
    "INSERT INTO pending_count (id, n) VALUES (1, 0);",
};
#define SQ_LATEST ((int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])))

#define NODE_COLS                                                                                      \
    "id, stable_id, user_id, machine_key, node_key, disco_key, hostname, given_name, ipv4, ipv6, "     \
    "endpoints, hostinfo, home_derp, capver, expiry, created, last_seen, ephemeral, tags, authkey_id, "     \
    "renamed, routes_advertised, routes_approved"
#define AUTHKEY_COLS                                                                                        \
    "id, prefix, hash, user_id, reusable, ephemeral, revoked, expiration, tags, used_count, created, " \
    "description"
#define USER_COLS "id, name, display_name, created"
#define CRED_COLS "id, kind, key_id, hash, description, scopes, created, expiration, revoked"
#define PENDING_COLS                                                                                   \
    "id, machine_key, node_key, hostname, hostinfo, ephemeral, capver, created, expires, user_id, node_id"

/* Prepared once (lazily) and kept for the life of the connection. */
enum sq_stmt {
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
    Q_USER_INSERT, Q_USER_BY_ID, Q_USER_BY_NAME, Q_USER_LIST, Q_USER_RENAME, Q_USER_DELETE,
    Q_USER_COUNT_NODES, Q_USER_COUNT_KEYS, Q_USER_DELETE_NODES, Q_USER_DELETE_KEYS,
    Q_NODE_INSERT, Q_NODE_UPDATE, Q_NODE_BY_ID, Q_NODE_BY_NODE_KEY, Q_NODE_BY_MACHINE_KEY,
    Q_NODE_BY_GIVEN_NAME, Q_NODE_LIST, Q_NODE_LIST_BY_USER, Q_NODE_DELETE, Q_NODE_LAST_SEEN, Q_ADDRS,
    Q_KEY_INSERT, Q_KEY_BY_ID, Q_KEY_BY_HASH, Q_KEY_LIST, Q_KEY_MARK_USED, Q_KEY_EXPIRE, Q_KEY_REVOKE,
    Q_CRED_INSERT, Q_CRED_GET, Q_CRED_LIST, Q_CRED_EXPIRE, Q_CRED_REVOKE, Q_CRED_DELETE,
    Q_POLICY_GET, Q_POLICY_SET,
    Q_SETTING_LIST, Q_SETTING_SET, Q_SETTING_DELETE,
    Q_IDENTITY_GET, Q_IDENTITY_BIND, Q_IDENTITY_LIST,
    Q_PENDING_INSERT, Q_PENDING_GET, Q_PENDING_BY_MKEY, Q_PENDING_DONE, Q_PENDING_DELETE, Q_PENDING_DELETE_MKEY,
    Q_PENDING_EXPIRE, Q_PENDING_COUNT, Q_PENDING_ADD,
    Q_COUNT
};

static const char *const sq_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_USER_INSERT] = "INSERT INTO users (id, name, display_name, created) VALUES (NULLIF(?4, 0), ?1, ?2, ?3)",
    [Q_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [Q_USER_BY_NAME] = "SELECT " USER_COLS " FROM users WHERE name = ?1",
    [Q_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY id",
    [Q_USER_RENAME] = "UPDATE users SET name = ?2 WHERE id = ?1",
    [Q_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [Q_USER_COUNT_NODES] = "SELECT count(*) FROM nodes WHERE user_id = ?1",
    [Q_USER_COUNT_KEYS] = "SELECT count(*) FROM preauth_keys WHERE user_id = ?1",
    [Q_USER_DELETE_NODES] = "DELETE FROM nodes WHERE user_id = ?1",
    [Q_USER_DELETE_KEYS] = "DELETE FROM preauth_keys WHERE user_id = ?1",
    [Q_NODE_INSERT] = "INSERT INTO nodes (id, stable_id, user_id, machine_key, node_key, disco_key, hostname, "
                      "given_name, ipv4, ipv6, endpoints, hostinfo, home_derp, capver, expiry, created, "
                      "last_seen, ephemeral, tags, authkey_id, renamed, routes_advertised, routes_approved) "
                      "VALUES (NULLIF(?1, 0), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
                      "?19, ?20, ?21, ?22, ?23)",
    [Q_NODE_UPDATE] = "UPDATE nodes SET user_id = ?3, machine_key = ?4, node_key = ?5, disco_key = ?6, "
                      "hostname = ?7, given_name = ?8, ipv4 = ?9, ipv6 = ?10, endpoints = ?11, "
                      "hostinfo = ?12, home_derp = ?13, capver = ?14, expiry = ?15, last_seen = ?17, "
                      "ephemeral = ?18, tags = ?19, authkey_id = ?20, renamed = ?21, routes_advertised = ?22, "
                      "routes_approved = ?23 WHERE id = ?1",
    [Q_NODE_BY_ID] = "SELECT " NODE_COLS " FROM nodes WHERE id = ?1",
    [Q_NODE_BY_NODE_KEY] = "SELECT " NODE_COLS " FROM nodes WHERE node_key = ?1",
    [Q_NODE_BY_MACHINE_KEY] = "SELECT " NODE_COLS " FROM nodes WHERE machine_key = ?1",
    [Q_NODE_BY_GIVEN_NAME] = "SELECT " NODE_COLS " FROM nodes WHERE given_name = ?1",
    [Q_NODE_LIST] = "SELECT " NODE_COLS " FROM nodes ORDER BY id",
    [Q_NODE_LIST_BY_USER] = "SELECT " NODE_COLS " FROM nodes WHERE user_id = ?1 ORDER BY id",
    [Q_NODE_DELETE] = "DELETE FROM nodes WHERE id = ?1",
    [Q_NODE_LAST_SEEN] = "UPDATE nodes SET last_seen = ?2 WHERE id = ?1",
    [Q_ADDRS] = "SELECT ipv4, ipv6 FROM nodes WHERE ipv4 IS NOT NULL OR ipv6 IS NOT NULL",
    [Q_KEY_INSERT] = "INSERT INTO preauth_keys (id, prefix, hash, user_id, reusable, ephemeral, revoked, "
                     "expiration, tags, used_count, created, description) "
                     "VALUES (NULLIF(?12, 0), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_KEY_BY_ID] = "SELECT " AUTHKEY_COLS " FROM preauth_keys WHERE id = ?1",
    [Q_KEY_BY_HASH] = "SELECT " AUTHKEY_COLS " FROM preauth_keys WHERE hash = ?1",
    [Q_KEY_LIST] = "SELECT " AUTHKEY_COLS " FROM preauth_keys ORDER BY id",
    [Q_KEY_MARK_USED] = "UPDATE preauth_keys SET used_count = used_count + 1 WHERE id = ?1",
    [Q_KEY_EXPIRE] = "UPDATE preauth_keys SET expiration = ?2 WHERE id = ?1",
    [Q_KEY_REVOKE] = "UPDATE preauth_keys SET revoked = 1 WHERE id = ?1",
    [Q_CRED_INSERT] = "INSERT INTO api_credentials (kind, key_id, hash, description, scopes, created, "
                      "expiration, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_CRED_GET] = "SELECT " CRED_COLS " FROM api_credentials WHERE key_id = ?1",
    [Q_CRED_LIST] = "SELECT " CRED_COLS " FROM api_credentials WHERE kind = ?1 ORDER BY id",
    [Q_CRED_EXPIRE] = "UPDATE api_credentials SET expiration = ?2 WHERE key_id = ?1",
    [Q_CRED_REVOKE] = "UPDATE api_credentials SET revoked = 1 WHERE key_id = ?1",
    [Q_CRED_DELETE] = "DELETE FROM api_credentials WHERE key_id = ?1",
    [Q_POLICY_GET] = "SELECT text, updated FROM policy WHERE id = 1",
    [Q_POLICY_SET] = "INSERT INTO policy (id, text, updated) VALUES (1, ?1, ?2) "
                     "ON CONFLICT(id) DO UPDATE SET text = excluded.text, updated = excluded.updated",
    [Q_SETTING_LIST] = "SELECT name, value FROM settings ORDER BY name",
    [Q_SETTING_SET] = "INSERT INTO settings (name, value, updated) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated = excluded.updated",
    [Q_SETTING_DELETE] = "DELETE FROM settings WHERE name = ?1",
    [Q_IDENTITY_GET] = "SELECT user_id FROM user_identities WHERE issuer = ?1 AND subject = ?2",
    [Q_IDENTITY_BIND] = "INSERT INTO user_identities (issuer, subject, user_id, created) VALUES (?1, ?2, ?3, ?4)",
    [Q_IDENTITY_LIST] = "SELECT issuer, subject, user_id FROM user_identities ORDER BY user_id",
    [Q_PENDING_INSERT] = "INSERT INTO pending_registrations (" PENDING_COLS ") "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 0)",
    [Q_PENDING_GET] = "SELECT " PENDING_COLS " FROM pending_registrations WHERE id = ?1",
    [Q_PENDING_BY_MKEY] = "SELECT " PENDING_COLS " FROM pending_registrations WHERE machine_key = ?1",
    [Q_PENDING_DONE] = "UPDATE pending_registrations SET user_id = ?2, node_id = ?3, hostinfo = NULL "
                       "WHERE id = ?1 AND node_id = 0",
    [Q_PENDING_DELETE] = "DELETE FROM pending_registrations WHERE id = ?1",
    [Q_PENDING_DELETE_MKEY] = "DELETE FROM pending_registrations WHERE machine_key = ?1",
    [Q_PENDING_EXPIRE] = "DELETE FROM pending_registrations WHERE expires <= ?1",
    [Q_PENDING_COUNT] = "SELECT n FROM pending_count WHERE id = 1",
    [Q_PENDING_ADD] = "UPDATE pending_count SET n = max(n + ?1, 0) WHERE id = 1",
};

struct sq_store {
    struct store base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[Q_COUNT];
};

static struct sq_store *SQ(struct store *s) { return (struct sq_store *)s; }

static int64_t sq_now(void) { return (int64_t)time(NULL); }

/* ---- errors ---- */

static int sq_fail(struct sq_store *q, const char *what)
{
    int ext = sqlite3_extended_errcode(q->db);
    int rc = STORE_IO;
    switch (ext & 0xff) {
    case SQLITE_CONSTRAINT:
        if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            rc = STORE_CONFLICT;
        else
            rc = STORE_INVALID; /* foreign key (no such user/key), NOT NULL */
        break;
    case SQLITE_NOMEM: case SQLITE_BUSY: case SQLITE_LOCKED: default:
        rc = STORE_IO;
    }
    return store_fail(&q->base, rc, "sqlite %s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
}

static sqlite3_stmt *sq_stmt(struct sq_store *q, enum sq_stmt id)
{
    if (!q->stmts[id] &&
        sqlite3_prepare_v3(q->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &q->stmts[id], NULL) !=
            SQLITE_OK) {
        sq_fail(q, "prepare");
        q->stmts[id] = NULL;
        return NULL;
    }
    return q->stmts[id];
}

static void sq_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
static int sq_exec_stmt(struct sq_store *q, sqlite3_stmt *st, const char *what)
{
    int r = sqlite3_step(st);
    int rc = r == SQLITE_DONE ? STORE_OK : sq_fail(q, what);
    sq_done(st);
    return rc;
}

static int sq_exec(struct sq_store *q, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sq_fail(q, what);
        sqlite3_free(msg);
        return rc;
    }
    return STORE_OK;
}

static int sq_pragma_int(struct sq_store *q, const char *sql, int *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sq_fail(q, sql);
    int r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        int rc = sq_fail(q, sql);
        sqlite3_finalize(st);
        return rc;
    }
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return STORE_OK;
}

/* ---- value codecs: keys as "nodekey:<hex>" text, addresses as text (readable in the sqlite3 shell) ---- */

static void sq_key_text(char out[80], const char *prefix, const uint8_t k[MODEL_KEY_LEN])
{
    static const char hx[] = "0123456789abcdef";
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    for (int i = 0; i < MODEL_KEY_LEN; i++) {
        out[p + 2 * i] = hx[k[i] >> 4];
        out[p + 2 * i + 1] = hx[k[i] & 15];
    }
    out[p + 2 * MODEL_KEY_LEN] = 0;
}

static int sq_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int sq_key_parse(uint8_t k[MODEL_KEY_LEN], const char *prefix, const unsigned char *txt)
{
    size_t p = strlen(prefix);
    if (!txt || strncmp((const char *)txt, prefix, p) != 0 || strlen((const char *)txt) != p + 64)
        return -1;
    for (int i = 0; i < MODEL_KEY_LEN; i++) {
        int hi = sq_hexval(txt[p + 2 * i]), lo = sq_hexval(txt[p + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        k[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int sq_is_zero(const uint8_t *b, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

static int sq_bind_text_copy(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* ---- open / close / transactions / migrations ---- */

static void sq_close(struct store *s)
{
    struct sq_store *q = SQ(s);
    if (!q)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(q->stmts[i]);
    if (q->db) {
        sqlite3_exec(q->db, "PRAGMA optimize", NULL, NULL, NULL);
        sqlite3_close_v2(q->db);
    }
    free(q->path);
    free(q);
}

/* The database holds every node's keys and the auth keys: it is created 0600, and SQLite gives its -wal and
 * -shm the database's own mode. One left 0644 by an earlier version is tightened (with its companions). */
static void sq_own_files(const char *path)
{
    if (path[0] == ':' || strncmp(path, "file:", 5) == 0) /* ":memory:", URIs: not a plain file */
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
    if (fd < 0)
        return; /* sqlite3_open says why */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077)) {
        fchmod(fd, 0600);
        static const char *const sfx[] = {"-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
            char p[4200];
            if (snprintf(p, sizeof p, "%s%s", path, sfx[i]) < (int)sizeof p)
                chmod(p, 0600);
        }
    }
    close(fd);
}

static int sq_open(const char *dsn, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *path = dsn;
    if (strncmp(path, "sqlite:", 7) == 0) {
        path += 7;
        if (strncmp(path, "//", 2) == 0) /* sqlite:///abs/path */
            path += 2;
    }
    if (!*path) {
        snprintf(err, errlen, "sqlite: no database path in '%s'", dsn);
        return STORE_INVALID;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "sqlite: libsodium initialisation failed");
        return STORE_IO;
    }
    struct sq_store *q = calloc(1, sizeof(*q));
    if (!q || !(q->path = strdup(path))) {
        free(q);
        snprintf(err, errlen, "sqlite: out of memory");
        return STORE_IO;
    }
    q->base.ops = store_sqlite_ops();
    sq_own_files(path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc = STORE_IO;
    int appid = 0, ver = 0;
    if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite %s: open: %s", path, q->db ? sqlite3_errmsg(q->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, SQ_BUSY_TIMEOUT_MS);
    /* Reading the header first also tells a non-database file from an empty one. */
    if (sq_pragma_int(q, "PRAGMA application_id", &appid) != STORE_OK ||
        sq_pragma_int(q, "PRAGMA user_version", &ver) != STORE_OK) {
        snprintf(err, errlen, "%s", q->base.err);
        goto fail;
    }
    if (appid != 0 && appid != SQ_APPLICATION_ID) {
        snprintf(err, errlen, "sqlite %s: not a weft database (application_id 0x%08x)", path,
                 (unsigned)appid);
        rc = STORE_SCHEMA;
        goto fail;
    }
    if (ver > SQ_LATEST) {
        snprintf(err, errlen,
                 "sqlite %s: database schema %d is newer than this weft understands (%d): it was written by "
                 "a newer weft; run that version, or restore a backup made before the upgrade",
                 path, ver, SQ_LATEST);
        rc = STORE_SCHEMA;
        goto fail;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite %s: journal_mode: %s", path, sqlite3_errmsg(q->db));
        goto fail;
    }
    const char *mode = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int wal_ok = mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
    char modebuf[16];
    snprintf(modebuf, sizeof(modebuf), "%s", mode ? mode : "?");
    sqlite3_finalize(st);
    if (!wal_ok) {
        snprintf(err, errlen, "sqlite %s: cannot switch to WAL mode (journal_mode is %s)", path, modebuf);
        goto fail;
    }
    if (sq_exec(q, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", "pragmas") != STORE_OK) {
        snprintf(err, errlen, "%s", q->base.err);
        goto fail;
    }
    *out = &q->base;
    return STORE_OK;
fail:
    sq_close(&q->base);
    return rc;
}

static int sq_begin(struct store *s)
{
    struct sq_store *q = SQ(s);
    if (!sqlite3_get_autocommit(q->db))
        return store_fail(s, STORE_INVALID, "sqlite %s: begin: a transaction is already open", q->path);
    sqlite3_stmt *st = sq_stmt(q, Q_BEGIN);
    return st ? sq_exec_stmt(q, st, "begin") : STORE_IO;
}

static int sq_commit(struct store *s)
{
    struct sq_store *q = SQ(s);
    if (sqlite3_get_autocommit(q->db))
        return store_fail(s, STORE_INVALID, "sqlite %s: commit: no transaction is open", q->path);
    sqlite3_stmt *st = sq_stmt(q, Q_COMMIT);
    int rc = st ? sq_exec_stmt(q, st, "commit") : STORE_IO;
    if (rc != STORE_OK && !sqlite3_get_autocommit(q->db))
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int sq_rollback(struct store *s)
{
    struct sq_store *q = SQ(s);
    if (sqlite3_get_autocommit(q->db))
        return STORE_OK; /* nothing open (SQLite may already have rolled back after an error) */
    sqlite3_stmt *st = sq_stmt(q, Q_ROLLBACK);
    return st ? sq_exec_stmt(q, st, "rollback") : STORE_IO;
}

static int sq_schema_version(struct store *s, int *current, int *latest)
{
    *latest = SQ_LATEST;
    return sq_pragma_int(SQ(s), "PRAGMA user_version", current);
}

/* A copy of the database as it was before an upgrade ("PATH.schema-N.bak"), so that a migration that
 * turns out wrong can be undone by hand. An existing copy of the same version is kept. */
static int sq_backup_before_migrate(struct sq_store *q, int cur)
{
    if (strcmp(q->path, ":memory:") == 0 || strncmp(q->path, "file:", 5) == 0)
        return STORE_OK;
    char bak[4096];
    if (snprintf(bak, sizeof(bak), "%s.schema-%d.bak", q->path, cur) >= (int)sizeof(bak))
        return store_fail(&q->base, STORE_IO, "sqlite %s: path too long for a backup name", q->path);
    if (access(bak, F_OK) == 0)
        return STORE_OK;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, "VACUUM INTO ?1", -1, &st, NULL) != SQLITE_OK)
        return sq_fail(q, "backup before migration");
    sqlite3_bind_text(st, 1, bak, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(q, "backup before migration");
}

/* Migrations run with foreign-key enforcement off (a step may rebuild a table, which SQLite only allows
 * that way) and check the whole database with foreign_key_check before committing instead. */
static int sq_migrate(struct store *s, int target)
{
    struct sq_store *q = SQ(s);
    int cur, rc, n = 0;
    if (target <= 0 || target > SQ_LATEST)
        target = SQ_LATEST;
    if (!sqlite3_get_autocommit(q->db))
        return store_fail(s, STORE_INVALID, "sqlite %s: migrate inside a transaction", q->path);
    if ((rc = sq_pragma_int(q, "PRAGMA user_version", &cur)) != STORE_OK)
        return rc;
    if (cur > SQ_LATEST)
        return store_fail(s, STORE_SCHEMA,
                          "sqlite %s: database schema %d is newer than this weft understands (%d)", q->path,
                          cur, SQ_LATEST);
    if (cur >= target)
        return STORE_OK;
    if (cur == 0) {
        if ((rc = sq_pragma_int(q, "SELECT count(*) FROM sqlite_master", &n)) != STORE_OK)
            return rc;
        if (n > 0)
            return store_fail(s, STORE_SCHEMA,
                              "sqlite %s: the database has tables but no weft schema version; "
                              "refusing to touch it",
                              q->path);
    } else if ((rc = sq_backup_before_migrate(q, cur)) != STORE_OK) {
        return rc;
    }
    /* Statements prepared against the old schema would be re-prepared anyway; drop them to be clean. */
    for (int i = 0; i < Q_COUNT; i++) {
        sqlite3_finalize(q->stmts[i]);
        q->stmts[i] = NULL;
    }
    if ((rc = sq_exec(q, "PRAGMA foreign_keys=OFF", "migrate")) != STORE_OK)
        return rc;
    for (int v = cur; v < target; v++) {
        char what[64], setver[64], setapp[64];
        snprintf(what, sizeof(what), "migration %d -> %d", v, v + 1);
        snprintf(setver, sizeof(setver), "PRAGMA user_version=%d", v + 1);
        snprintf(setapp, sizeof(setapp), "PRAGMA application_id=%d", SQ_APPLICATION_ID);
        if ((rc = sq_exec(q, "BEGIN IMMEDIATE", what)) != STORE_OK)
            break;
        if ((rc = sq_exec(q, sq_migrations[v], what)) != STORE_OK ||
            (v == 0 && (rc = sq_exec(q, setapp, what)) != STORE_OK) ||
            (rc = sq_exec(q, setver, what)) != STORE_OK) {
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
        int bad = 0;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(q->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
            rc = sq_fail(q, what);
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
        bad = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (bad) {
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            rc = store_fail(s, STORE_SCHEMA, "sqlite %s: %s leaves broken foreign keys; rolled back, the "
                            "database stays at schema %d", q->path, what, v);
            break;
        }
        if ((rc = sq_exec(q, "COMMIT", what)) != STORE_OK) {
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
    }
    if (rc != STORE_OK && rc != STORE_SCHEMA) {
        char msg[STORE_ERR_MAX];
        snprintf(msg, sizeof(msg), "%s", s->err);
        rc = store_fail(s, STORE_SCHEMA, "%s (the database keeps its last complete schema)", msg);
    }
    sqlite3_exec(q->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    return rc;
}

/* Runs fn inside a savepoint: all of it or nothing, whether or not the caller has a transaction open. */
static int sq_atomically(struct sq_store *q, int (*fn)(struct sq_store *, void *), void *arg)
{
    int rc = sq_exec(q, "SAVEPOINT weft_op", "savepoint");
    if (rc != STORE_OK)
        return rc;
    rc = fn(q, arg);
    if (rc == STORE_OK) {
        rc = sq_exec(q, "RELEASE weft_op", "release savepoint");
        if (rc == STORE_OK)
            return rc;
    }
    sqlite3_exec(q->db, "ROLLBACK TO weft_op; RELEASE weft_op", NULL, NULL, NULL);
    return rc;
}

/* ---- users ---- */

static void sq_row_user(sqlite3_stmt *st, struct model_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(st, 0);
    const char *t = (const char *)sqlite3_column_text(st, 1);
    model_strlcpy(u->name, t ? t : "", sizeof(u->name));
    t = (const char *)sqlite3_column_text(st, 2);
    model_strlcpy(u->display_name, t ? t : "", sizeof(u->display_name));
    u->created = sqlite3_column_int64(st, 3);
}

static int sq_user_create(struct store *s, struct model_user *u)
{
    struct sq_store *q = SQ(s);
    if (!u->name[0])
        return store_fail(s, STORE_INVALID, "user name is empty");
    sqlite3_stmt *st = sq_stmt(q, Q_USER_INSERT);
    if (!st)
        return STORE_IO;
    if (!u->created)
        u->created = sq_now();
    sq_bind_text_copy(st, 1, u->name);
    sq_bind_text_copy(st, 2, u->display_name);
    sqlite3_bind_int64(st, 3, u->created);
    sqlite3_bind_int64(st, 4, q->base.keep_ids ? u->id : 0);
    int rc = sq_exec_stmt(q, st, "create user");
    if (rc == STORE_CONFLICT)
        return store_fail(s, rc, "user '%s' already exists", u->name);
    if (rc == STORE_OK)
        u->id = sqlite3_last_insert_rowid(q->db);
    return rc;
}

static int sq_user_get(struct sq_store *q, enum sq_stmt id, int64_t key, const char *name,
                       struct model_user *out)
{
    sqlite3_stmt *st = sq_stmt(q, id);
    if (!st)
        return STORE_IO;
    if (name)
        sq_bind_text_copy(st, 1, name);
    else
        sqlite3_bind_int64(st, 1, key);
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW) {
        sq_row_user(st, out);
        rc = STORE_OK;
    } else if (r == SQLITE_DONE) {
        rc = name ? store_fail(&q->base, STORE_NOTFOUND, "no user named '%s'", name)
                  : store_fail(&q->base, STORE_NOTFOUND, "no user with id %lld", (long long)key);
    } else {
        rc = sq_fail(q, "get user");
    }
    sq_done(st);
    return rc;
}

static int sq_user_get_by_id(struct store *s, int64_t id, struct model_user *out)
{
    return sq_user_get(SQ(s), Q_USER_BY_ID, id, NULL, out);
}

static int sq_user_get_by_name(struct store *s, const char *name, struct model_user *out)
{
    return sq_user_get(SQ(s), Q_USER_BY_NAME, 0, name, out);
}

static int sq_user_list(struct store *s, struct model_user **out, size_t *n)
{
    struct sq_store *q = SQ(s);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_USER_LIST);
    if (!st)
        return STORE_IO;
    struct model_user *v = NULL;
    size_t cnt = 0, cap = 0;
    int r, rc = STORE_OK;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct model_user *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                rc = store_fail(s, STORE_IO, "list users: out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        sq_row_user(st, &v[cnt++]);
    }
    if (rc == STORE_OK && r != SQLITE_DONE)
        rc = sq_fail(q, "list users");
    sq_done(st);
    if (rc != STORE_OK) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return STORE_OK;
}

static int sq_user_rename(struct store *s, int64_t id, const char *new_name)
{
    struct sq_store *q = SQ(s);
    if (!new_name || !*new_name)
        return store_fail(s, STORE_INVALID, "user name is empty");
    sqlite3_stmt *st = sq_stmt(q, Q_USER_RENAME);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, id);
    sq_bind_text_copy(st, 2, new_name);
    int rc = sq_exec_stmt(q, st, "rename user");
    if (rc == STORE_CONFLICT)
        return store_fail(s, rc, "user '%s' already exists", new_name);
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        return store_fail(s, STORE_NOTFOUND, "no user with id %lld", (long long)id);
    return rc;
}

static int sq_count(struct sq_store *q, enum sq_stmt id, int64_t arg, int64_t *out)
{
    sqlite3_stmt *st = sq_stmt(q, id);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, arg);
    int rc = STORE_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = sq_fail(q, "count");
    sq_done(st);
    return rc;
}

static int sq_run_id(struct sq_store *q, enum sq_stmt id, int64_t arg, const char *what)
{
    sqlite3_stmt *st = sq_stmt(q, id);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, arg);
    return sq_exec_stmt(q, st, what);
}

struct sq_user_del {
    int64_t id;
    bool force;
};

static int sq_user_delete_fn(struct sq_store *q, void *arg)
{
    const struct sq_user_del *d = arg;
    int64_t nodes = 0, keys = 0;
    int rc;
    if ((rc = sq_count(q, Q_USER_COUNT_NODES, d->id, &nodes)) != STORE_OK ||
        (rc = sq_count(q, Q_USER_COUNT_KEYS, d->id, &keys)) != STORE_OK)
        return rc;
    if ((nodes || keys) && !d->force)
        return store_fail(&q->base, STORE_INUSE,
                          "user %lld still owns %lld node(s) and %lld pre-auth key(s); "
                          "delete those first or force the deletion",
                          (long long)d->id, (long long)nodes, (long long)keys);
    if ((rc = sq_run_id(q, Q_USER_DELETE_NODES, d->id, "delete the user's nodes")) != STORE_OK ||
        (rc = sq_run_id(q, Q_USER_DELETE_KEYS, d->id, "delete the user's pre-auth keys")) != STORE_OK ||
        (rc = sq_run_id(q, Q_USER_DELETE, d->id, "delete user")) != STORE_OK)
        return rc;
    if (sqlite3_changes(q->db) == 0)
        return store_fail(&q->base, STORE_NOTFOUND, "no user with id %lld", (long long)d->id);
    return STORE_OK;
}

static int sq_user_delete(struct store *s, int64_t id, bool force)
{
    struct sq_user_del d = {id, force};
    return sq_atomically(SQ(s), sq_user_delete_fn, &d);
}

/* ---- nodes ---- */

static int sq_bind_node(struct sq_store *q, sqlite3_stmt *st, const struct model_node *n)
{
    char key[80], ip[INET6_ADDRSTRLEN];
    sqlite3_bind_int64(st, 1, n->id); /* update's key; insert: kept only with keep_ids (below) */
    sq_bind_text_copy(st, 2, n->stable_id);
    sqlite3_bind_int64(st, 3, n->user_id);
    sq_key_text(key, "mkey:", n->machine_key);
    sq_bind_text_copy(st, 4, key);
    sq_key_text(key, "nodekey:", n->node_key);
    sq_bind_text_copy(st, 5, key);
    if (sq_is_zero(n->disco_key, MODEL_KEY_LEN))
        key[0] = 0;
    else
        sq_key_text(key, "discokey:", n->disco_key);
    sq_bind_text_copy(st, 6, key);
    sq_bind_text_copy(st, 7, n->hostname);
    sq_bind_text_copy(st, 8, n->given_name);
    if (n->has_ipv4 && inet_ntop(AF_INET, n->ipv4, ip, sizeof(ip)))
        sq_bind_text_copy(st, 9, ip);
    else
        sqlite3_bind_null(st, 9);
    if (n->has_ipv6 && inet_ntop(AF_INET6, n->ipv6, ip, sizeof(ip)))
        sq_bind_text_copy(st, 10, ip);
    else
        sqlite3_bind_null(st, 10);
    char *eps = model_strlist_to_json(&n->endpoints);
    char *tags = model_strlist_to_json(&n->tags);
    char *radv = model_strlist_to_json(&n->routes_advertised);
    char *rapp = model_strlist_to_json(&n->routes_approved);
    if (!eps || !tags || !radv || !rapp) {
        free(eps);
        free(tags);
        free(radv);
        free(rapp);
        return store_fail(&q->base, STORE_IO, "node: out of memory");
    }
    sqlite3_bind_text(st, 22, radv, -1, free);
    sqlite3_bind_text(st, 23, rapp, -1, free);
    sqlite3_bind_text(st, 11, eps, -1, free);
    if (n->hostinfo)
        sq_bind_text_copy(st, 12, n->hostinfo);
    else
        sqlite3_bind_null(st, 12);
    sqlite3_bind_int(st, 13, n->home_derp);
    sqlite3_bind_int(st, 14, n->capver);
    sqlite3_bind_int64(st, 15, n->expiry);
    sqlite3_bind_int64(st, 16, n->created);
    sqlite3_bind_int64(st, 17, n->last_seen);
    sqlite3_bind_int(st, 18, n->ephemeral);
    sqlite3_bind_text(st, 19, tags, -1, free);
    if (n->authkey_id)
        sqlite3_bind_int64(st, 20, n->authkey_id);
    else
        sqlite3_bind_null(st, 20);
    sqlite3_bind_int(st, 21, n->renamed);
    return STORE_OK;
}

static int sq_row_node(struct sq_store *q, sqlite3_stmt *st, struct model_node *n)
{
    memset(n, 0, sizeof(*n));
    n->id = sqlite3_column_int64(st, 0);
    const char *t = (const char *)sqlite3_column_text(st, 1);
    model_strlcpy(n->stable_id, t ? t : "", sizeof(n->stable_id));
    n->user_id = sqlite3_column_int64(st, 2);
    const unsigned char *dk = sqlite3_column_text(st, 5);
    if (sq_key_parse(n->machine_key, "mkey:", sqlite3_column_text(st, 3)) < 0 ||
        sq_key_parse(n->node_key, "nodekey:", sqlite3_column_text(st, 4)) < 0 ||
        (dk && *dk && sq_key_parse(n->disco_key, "discokey:", dk) < 0))
        return store_fail(&q->base, STORE_IO, "sqlite %s: node %lld has a malformed key", q->path,
                          (long long)n->id);
    t = (const char *)sqlite3_column_text(st, 6);
    model_strlcpy(n->hostname, t ? t : "", sizeof(n->hostname));
    t = (const char *)sqlite3_column_text(st, 7);
    model_strlcpy(n->given_name, t ? t : "", sizeof(n->given_name));
    t = (const char *)sqlite3_column_text(st, 8);
    if (t && !(n->has_ipv4 = inet_pton(AF_INET, t, n->ipv4) == 1))
        return store_fail(&q->base, STORE_IO, "sqlite %s: node %lld has a malformed IPv4 '%s'", q->path,
                          (long long)n->id, t);
    t = (const char *)sqlite3_column_text(st, 9);
    if (t && !(n->has_ipv6 = inet_pton(AF_INET6, t, n->ipv6) == 1))
        return store_fail(&q->base, STORE_IO, "sqlite %s: node %lld has a malformed IPv6 '%s'", q->path,
                          (long long)n->id, t);
    if (model_strlist_from_json(&n->endpoints, (const char *)sqlite3_column_text(st, 10)) < 0 ||
        model_strlist_from_json(&n->tags, (const char *)sqlite3_column_text(st, 18)) < 0 ||
        model_strlist_from_json(&n->routes_advertised, (const char *)sqlite3_column_text(st, 21)) < 0 ||
        model_strlist_from_json(&n->routes_approved, (const char *)sqlite3_column_text(st, 22)) < 0) {
        model_node_clear(n);
        return store_fail(&q->base, STORE_IO, "sqlite %s: node has malformed endpoints, tags or routes",
                          q->path);
    }
    t = (const char *)sqlite3_column_text(st, 11);
    if (t && !(n->hostinfo = strdup(t))) {
        model_node_clear(n);
        return store_fail(&q->base, STORE_IO, "node: out of memory");
    }
    n->home_derp = sqlite3_column_int(st, 12);
    n->capver = sqlite3_column_int(st, 13);
    n->expiry = sqlite3_column_int64(st, 14);
    n->created = sqlite3_column_int64(st, 15);
    n->last_seen = sqlite3_column_int64(st, 16);
    n->ephemeral = sqlite3_column_int(st, 17) != 0;
    n->authkey_id = sqlite3_column_int64(st, 19);
    n->renamed = sqlite3_column_int(st, 20) != 0;
    return STORE_OK;
}

/* "n" + 12 hex digits + "CNTRL", the shape of Tailscale's stable node IDs. */
static void sq_stable_id(char out[MODEL_STABLE_ID_MAX + 1])
{
    static const char hx[] = "0123456789abcdef";
    uint8_t r[6];
    randombytes_buf(r, sizeof(r));
    out[0] = 'n';
    for (int i = 0; i < 6; i++) {
        out[1 + 2 * i] = hx[r[i] >> 4];
        out[2 + 2 * i] = hx[r[i] & 15];
    }
    memcpy(out + 13, "CNTRL", 6);
}

static int sq_node_conflict(struct sq_store *q, const struct model_node *n)
{
    const char *msg = sqlite3_errmsg(q->db), *what = "a unique value";
    if (strstr(msg, "nodes.machine_key"))
        what = "the machine key";
    else if (strstr(msg, "nodes.node_key"))
        what = "the node key";
    else if (strstr(msg, "nodes.given_name"))
        what = "the name";
    else if (strstr(msg, "nodes.ipv4"))
        what = "the IPv4 address";
    else if (strstr(msg, "nodes.ipv6"))
        what = "the IPv6 address";
    else if (strstr(msg, "nodes.stable_id"))
        what = "the stable ID";
    return store_fail(&q->base, STORE_CONFLICT, "node '%s': %s is already held by another node",
                      n->given_name, what);
}

static int sq_node_insert(struct store *s, struct model_node *n)
{
    struct sq_store *q = SQ(s);
    if (!n->given_name[0])
        return store_fail(s, STORE_INVALID, "node has no given name");
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_INSERT);
    if (!st)
        return STORE_IO;
    bool made_id = false;
    if (!n->stable_id[0]) {
        sq_stable_id(n->stable_id);
        made_id = true;
    }
    if (!n->created)
        n->created = sq_now();
    int rc = sq_bind_node(q, st, n);
    if (!q->base.keep_ids)
        sqlite3_bind_int64(st, 1, 0);
    if (rc == STORE_OK)
        rc = sq_exec_stmt(q, st, "insert node");
    else
        sq_done(st);
    if (rc == STORE_CONFLICT)
        rc = sq_node_conflict(q, n);
    if (rc == STORE_OK)
        n->id = sqlite3_last_insert_rowid(q->db);
    else if (made_id)
        n->stable_id[0] = 0;
    return rc;
}

static int sq_node_update(struct store *s, const struct model_node *n)
{
    struct sq_store *q = SQ(s);
    if (!n->given_name[0])
        return store_fail(s, STORE_INVALID, "node has no given name");
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_UPDATE);
    if (!st)
        return STORE_IO;
    int rc = sq_bind_node(q, st, n);
    if (rc == STORE_OK)
        rc = sq_exec_stmt(q, st, "update node");
    else
        sq_done(st);
    if (rc == STORE_CONFLICT)
        return sq_node_conflict(q, n);
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        return store_fail(s, STORE_NOTFOUND, "no node with id %lld", (long long)n->id);
    return rc;
}

static int sq_node_get(struct sq_store *q, sqlite3_stmt *st, struct model_node *out, const char *what)
{
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = sq_row_node(q, st, out);
    else if (r == SQLITE_DONE)
        rc = store_fail(&q->base, STORE_NOTFOUND, "no node with that %s", what);
    else
        rc = sq_fail(q, "get node");
    sq_done(st);
    return rc;
}

static int sq_node_get_by_id(struct store *s, int64_t id, struct model_node *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_BY_ID);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sq_node_get(q, st, out, "id");
    if (rc == STORE_NOTFOUND)
        store_fail(s, rc, "no node with id %lld", (long long)id);
    return rc;
}

static int sq_node_get_by_key(struct store *s, enum sq_stmt id, const char *prefix, const uint8_t *key,
                              struct model_node *out, const char *what)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, id);
    if (!st)
        return STORE_IO;
    char txt[80];
    sq_key_text(txt, prefix, key);
    sq_bind_text_copy(st, 1, txt);
    return sq_node_get(q, st, out, what);
}

static int sq_node_get_by_node_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out)
{
    return sq_node_get_by_key(s, Q_NODE_BY_NODE_KEY, "nodekey:", key, out, "node key");
}

static int sq_node_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN],
                                      struct model_node *out)
{
    return sq_node_get_by_key(s, Q_NODE_BY_MACHINE_KEY, "mkey:", key, out, "machine key");
}

static int sq_node_get_by_given_name(struct store *s, const char *name, struct model_node *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_BY_GIVEN_NAME);
    if (!st)
        return STORE_IO;
    sq_bind_text_copy(st, 1, name);
    return sq_node_get(q, st, out, "name");
}

static int sq_node_list_stmt(struct sq_store *q, sqlite3_stmt *st, struct model_node **out, size_t *n)
{
    struct model_node *v = NULL;
    size_t cnt = 0, cap = 0;
    int r, rc = STORE_OK;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct model_node *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                rc = store_fail(&q->base, STORE_IO, "list nodes: out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((rc = sq_row_node(q, st, &v[cnt])) != STORE_OK)
            break;
        cnt++;
    }
    if (rc == STORE_OK && r != SQLITE_DONE)
        rc = sq_fail(q, "list nodes");
    sq_done(st);
    if (rc != STORE_OK) {
        model_nodes_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return STORE_OK;
}

static int sq_node_list(struct store *s, struct model_node **out, size_t *n)
{
    struct sq_store *q = SQ(s);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_LIST);
    return st ? sq_node_list_stmt(q, st, out, n) : STORE_IO;
}

static int sq_node_list_by_user(struct store *s, int64_t user_id, struct model_node **out, size_t *n)
{
    struct sq_store *q = SQ(s);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_LIST_BY_USER);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, user_id);
    return sq_node_list_stmt(q, st, out, n);
}

static int sq_node_delete(struct store *s, int64_t id)
{
    struct sq_store *q = SQ(s);
    int rc = sq_run_id(q, Q_NODE_DELETE, id, "delete node");
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        return store_fail(s, STORE_NOTFOUND, "no node with id %lld", (long long)id);
    return rc;
}

static int sq_node_set_last_seen(struct store *s, int64_t id, int64_t last_seen)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_LAST_SEEN);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, last_seen);
    int rc = sq_exec_stmt(q, st, "set last seen");
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        return store_fail(s, STORE_NOTFOUND, "no node with id %lld", (long long)id);
    return rc;
}

static int sq_addrs_in_use(struct store *s, store_addr_cb cb, void *ctx)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_ADDRS);
    if (!st)
        return STORE_IO;
    int r, rc = STORE_OK;
    uint8_t a[16];
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t4 = (const char *)sqlite3_column_text(st, 0);
        const char *t6 = (const char *)sqlite3_column_text(st, 1);
        if (t4 && inet_pton(AF_INET, t4, a) == 1)
            cb(ctx, 4, a);
        if (t6 && inet_pton(AF_INET6, t6, a) == 1)
            cb(ctx, 6, a);
    }
    if (r != SQLITE_DONE)
        rc = sq_fail(q, "list addresses");
    sq_done(st);
    return rc;
}

/* ---- pre-auth keys ---- */

static int sq_row_key(struct sq_store *q, sqlite3_stmt *st, struct model_authkey *k)
{
    memset(k, 0, sizeof(*k));
    k->id = sqlite3_column_int64(st, 0);
    const char *t = (const char *)sqlite3_column_text(st, 1);
    model_strlcpy(k->prefix, t ? t : "", sizeof(k->prefix));
    if (sqlite3_column_bytes(st, 2) != 32)
        return store_fail(&q->base, STORE_IO, "sqlite %s: pre-auth key %lld has a malformed hash", q->path,
                          (long long)k->id);
    memcpy(k->hash, sqlite3_column_blob(st, 2), 32);
    k->user_id = sqlite3_column_int64(st, 3);
    k->reusable = sqlite3_column_int(st, 4) != 0;
    k->ephemeral = sqlite3_column_int(st, 5) != 0;
    k->revoked = sqlite3_column_int(st, 6) != 0;
    k->expiration = sqlite3_column_int64(st, 7);
    if (model_strlist_from_json(&k->tags, (const char *)sqlite3_column_text(st, 8)) < 0)
        return store_fail(&q->base, STORE_IO, "sqlite %s: pre-auth key %lld has malformed tags", q->path,
                          (long long)k->id);
    k->used_count = sqlite3_column_int64(st, 9);
    k->created = sqlite3_column_int64(st, 10);
    t = (const char *)sqlite3_column_text(st, 11);
    model_strlcpy(k->description, t ? t : "", sizeof(k->description));
    return STORE_OK;
}

static int sq_authkey_create(struct store *s, struct model_authkey *k)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_KEY_INSERT);
    if (!st)
        return STORE_IO;
    char *tags = model_strlist_to_json(&k->tags);
    if (!tags)
        return store_fail(s, STORE_IO, "pre-auth key: out of memory");
    if (!k->created)
        k->created = sq_now();
    sq_bind_text_copy(st, 1, k->prefix);
    sqlite3_bind_blob(st, 2, k->hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, k->user_id);
    sqlite3_bind_int(st, 4, k->reusable);
    sqlite3_bind_int(st, 5, k->ephemeral);
    sqlite3_bind_int(st, 6, k->revoked);
    sqlite3_bind_int64(st, 7, k->expiration);
    sqlite3_bind_text(st, 8, tags, -1, free);
    sqlite3_bind_int64(st, 9, k->used_count);
    sqlite3_bind_int64(st, 10, k->created);
    sq_bind_text_copy(st, 11, k->description);
    sqlite3_bind_int64(st, 12, q->base.keep_ids ? k->id : 0);
    int rc = sq_exec_stmt(q, st, "create pre-auth key");
    if (rc == STORE_INVALID)
        return store_fail(s, STORE_INVALID, "pre-auth key: no user with id %lld", (long long)k->user_id);
    if (rc == STORE_OK)
        k->id = sqlite3_last_insert_rowid(q->db);
    return rc;
}

static int sq_key_get(struct sq_store *q, sqlite3_stmt *st, struct model_authkey *out)
{
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = sq_row_key(q, st, out);
    else if (r == SQLITE_DONE)
        rc = store_fail(&q->base, STORE_NOTFOUND, "no such pre-auth key");
    else
        rc = sq_fail(q, "get pre-auth key");
    sq_done(st);
    return rc;
}

static int sq_authkey_get_by_id(struct store *s, int64_t id, struct model_authkey *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_KEY_BY_ID);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, id);
    return sq_key_get(q, st, out);
}

static int sq_authkey_get_by_hash(struct store *s, const uint8_t hash[32], struct model_authkey *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_KEY_BY_HASH);
    if (!st)
        return STORE_IO;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
    return sq_key_get(q, st, out);
}

static int sq_authkey_list(struct store *s, struct model_authkey **out, size_t *n)
{
    struct sq_store *q = SQ(s);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_KEY_LIST);
    if (!st)
        return STORE_IO;
    struct model_authkey *v = NULL;
    size_t cnt = 0, cap = 0;
    int r, rc = STORE_OK;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct model_authkey *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                rc = store_fail(s, STORE_IO, "list pre-auth keys: out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((rc = sq_row_key(q, st, &v[cnt])) != STORE_OK)
            break;
        cnt++;
    }
    if (rc == STORE_OK && r != SQLITE_DONE)
        rc = sq_fail(q, "list pre-auth keys");
    sq_done(st);
    if (rc != STORE_OK) {
        model_authkeys_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return STORE_OK;
}

static int sq_key_update(struct store *s, enum sq_stmt id, int64_t key_id, int64_t arg, const char *what)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, id);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, key_id);
    if (id == Q_KEY_EXPIRE)
        sqlite3_bind_int64(st, 2, arg);
    int rc = sq_exec_stmt(q, st, what);
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        return store_fail(s, STORE_NOTFOUND, "no pre-auth key with id %lld", (long long)key_id);
    return rc;
}

static int sq_authkey_mark_used(struct store *s, int64_t id)
{
    return sq_key_update(s, Q_KEY_MARK_USED, id, 0, "mark pre-auth key used");
}

static int sq_authkey_expire(struct store *s, int64_t id, int64_t when)
{
    return sq_key_update(s, Q_KEY_EXPIRE, id, when, "expire pre-auth key");
}

static int sq_authkey_revoke(struct store *s, int64_t id)
{
    return sq_key_update(s, Q_KEY_REVOKE, id, 0, "revoke pre-auth key");
}

/* ---- REST API credentials ---- */

static int sq_row_cred(struct sq_store *q, sqlite3_stmt *st, struct model_cred *c)
{
    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(st, 0);
    c->kind = sqlite3_column_int(st, 1);
    const char *t = (const char *)sqlite3_column_text(st, 2);
    model_strlcpy(c->key_id, t ? t : "", sizeof(c->key_id));
    if (sqlite3_column_bytes(st, 3) != 32)
        return store_fail(&q->base, STORE_IO, "sqlite %s: API credential %lld has a malformed hash", q->path,
                          (long long)c->id);
    memcpy(c->hash, sqlite3_column_blob(st, 3), 32);
    t = (const char *)sqlite3_column_text(st, 4);
    model_strlcpy(c->description, t ? t : "", sizeof(c->description));
    t = (const char *)sqlite3_column_text(st, 5);
    model_strlcpy(c->scopes, t ? t : "", sizeof(c->scopes));
    c->created = sqlite3_column_int64(st, 6);
    c->expiration = sqlite3_column_int64(st, 7);
    c->revoked = sqlite3_column_int(st, 8) != 0;
    return STORE_OK;
}

static int sq_cred_create(struct store *s, struct model_cred *c)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_CRED_INSERT);
    if (!st)
        return STORE_IO;
    if (!c->created)
        c->created = sq_now();
    sqlite3_bind_int(st, 1, c->kind);
    sq_bind_text_copy(st, 2, c->key_id);
    sqlite3_bind_blob(st, 3, c->hash, 32, SQLITE_TRANSIENT);
    sq_bind_text_copy(st, 4, c->description);
    sq_bind_text_copy(st, 5, c->scopes);
    sqlite3_bind_int64(st, 6, c->created);
    sqlite3_bind_int64(st, 7, c->expiration);
    sqlite3_bind_int(st, 8, c->revoked);
    int rc = sq_exec_stmt(q, st, "create API credential");
    if (rc == STORE_OK)
        c->id = sqlite3_last_insert_rowid(q->db);
    return rc;
}

static int sq_cred_get(struct store *s, const char *key_id, struct model_cred *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_CRED_GET);
    if (!st)
        return STORE_IO;
    sq_bind_text_copy(st, 1, key_id);
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = sq_row_cred(q, st, out);
    else if (r == SQLITE_DONE)
        rc = store_fail(s, STORE_NOTFOUND, "no API credential %s", key_id);
    else
        rc = sq_fail(q, "get API credential");
    sq_done(st);
    return rc;
}

static int sq_cred_list(struct store *s, int kind, struct model_cred **out, size_t *n)
{
    struct sq_store *q = SQ(s);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_CRED_LIST);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int(st, 1, kind);
    struct model_cred *v = NULL;
    size_t cnt = 0, cap = 0;
    int r, rc = STORE_OK;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct model_cred *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                rc = store_fail(s, STORE_IO, "list API credentials: out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((rc = sq_row_cred(q, st, &v[cnt])) != STORE_OK)
            break;
        cnt++;
    }
    if (rc == STORE_OK && r != SQLITE_DONE)
        rc = sq_fail(q, "list API credentials");
    sq_done(st);
    if (rc != STORE_OK) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return STORE_OK;
}

static int sq_cred_update(struct store *s, enum sq_stmt id, const char *key_id, int64_t arg, const char *what)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, id);
    if (!st)
        return STORE_IO;
    sq_bind_text_copy(st, 1, key_id);
    if (id == Q_CRED_EXPIRE)
        sqlite3_bind_int64(st, 2, arg);
    int rc = sq_exec_stmt(q, st, what);
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        return store_fail(s, STORE_NOTFOUND, "no API credential %s", key_id);
    return rc;
}

static int sq_cred_expire(struct store *s, const char *key_id, int64_t when)
{
    return sq_cred_update(s, Q_CRED_EXPIRE, key_id, when, "expire API credential");
}

static int sq_cred_revoke(struct store *s, const char *key_id)
{
    return sq_cred_update(s, Q_CRED_REVOKE, key_id, 0, "revoke API credential");
}

static int sq_cred_delete(struct store *s, const char *key_id)
{
    return sq_cred_update(s, Q_CRED_DELETE, key_id, 0, "delete API credential");
}

/* ---- the policy ---- */

static int sq_policy_get(struct store *s, char **text, size_t *len, int64_t *updated)
{
    struct sq_store *q = SQ(s);
    *text = NULL;
    *len = 0;
    if (updated)
        *updated = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_POLICY_GET);
    if (!st)
        return STORE_IO;
    int r = sqlite3_step(st), rc = STORE_OK;
    if (r == SQLITE_ROW) {
        const void *t = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        *text = malloc((size_t)n + 1);
        if (!*text) {
            rc = store_fail(s, STORE_IO, "out of memory");
        } else {
            if (n)
                memcpy(*text, t, (size_t)n);
            (*text)[n] = 0;
            *len = (size_t)n;
            if (updated)
                *updated = sqlite3_column_int64(st, 1);
        }
    } else if (r == SQLITE_DONE) {
        rc = store_fail(s, STORE_NOTFOUND, "no policy stored");
    } else {
        rc = sq_fail(q, "read policy");
    }
    sq_done(st);
    return rc;
}

static int sq_policy_set(struct store *s, const char *text, size_t len)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_POLICY_SET);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, text, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, sq_now());
    return sq_exec_stmt(q, st, "store policy");
}

static int sq_setting_list(struct store *s, store_setting_cb cb, void *ctx)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_SETTING_LIST);
    if (!st)
        return STORE_IO;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        cb(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
    int rc = r == SQLITE_DONE ? STORE_OK : sq_fail(q, "read settings");
    sq_done(st);
    return rc;
}

static int sq_setting_set(struct store *s, const char *name, const char *value)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, value ? Q_SETTING_SET : Q_SETTING_DELETE);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (value) {
        sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, sq_now());
    }
    return sq_exec_stmt(q, st, "store setting");
}

static int sq_identity_get(struct store *s, const char *issuer, const char *subject, int64_t *user_id)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_IDENTITY_GET);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, issuer, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st), rc = STORE_OK;
    if (r == SQLITE_ROW)
        *user_id = sqlite3_column_int64(st, 0);
    else if (r == SQLITE_DONE)
        rc = store_fail(s, STORE_NOTFOUND, "no user has that identity");
    else
        rc = sq_fail(q, "read identity");
    sq_done(st);
    return rc;
}

static int sq_identity_bind(struct store *s, const char *issuer, const char *subject, int64_t user_id)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_IDENTITY_BIND);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, issuer, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, user_id);
    sqlite3_bind_int64(st, 4, sq_now());
    return sq_exec_stmt(q, st, "bind identity");
}

static int sq_identity_list(struct store *s, store_identity_cb cb, void *ctx)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_IDENTITY_LIST);
    if (!st)
        return STORE_IO;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        cb(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           sqlite3_column_int64(st, 2));
    int rc = r == SQLITE_DONE ? STORE_OK : sq_fail(q, "list identities");
    sq_done(st);
    return rc;
}

/* ---- pending interactive registrations ---- */

static int sq_row_pending(struct sq_store *q, sqlite3_stmt *st, struct store_pending *p)
{
    memset(p, 0, sizeof *p);
    const char *id = (const char *)sqlite3_column_text(st, 0);
    model_strlcpy(p->id, id ? id : "", sizeof p->id);
    if (sq_key_parse(p->machine_key, "mkey:", sqlite3_column_text(st, 1)) < 0 ||
        sq_key_parse(p->node_key, "nodekey:", sqlite3_column_text(st, 2)) < 0)
        return store_fail(&q->base, STORE_IO, "sqlite %s: a pending registration holds a malformed key", q->path);
    const char *h = (const char *)sqlite3_column_text(st, 3);
    model_strlcpy(p->hostname, h ? h : "", sizeof p->hostname);
    h = (const char *)sqlite3_column_text(st, 4);
    model_strlcpy(p->hostinfo, h ? h : "", sizeof p->hostinfo);
    p->ephemeral = sqlite3_column_int(st, 5) != 0;
    p->capver = sqlite3_column_int(st, 6);
    p->created = sqlite3_column_int64(st, 7);
    p->expires = sqlite3_column_int64(st, 8);
    p->user_id = sqlite3_column_int64(st, 9);
    p->node_id = sqlite3_column_int64(st, 10);
    return STORE_OK;
}

static int sq_pending_get_stmt(struct sq_store *q, sqlite3_stmt *st, struct store_pending *out)
{
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = sq_row_pending(q, st, out);
    else if (r == SQLITE_DONE)
        rc = store_fail(&q->base, STORE_NOTFOUND, "no such pending registration");
    else
        rc = sq_fail(q, "read pending registration");
    sq_done(st);
    return rc;
}

static int sq_pending_get(struct store *s, const char *id, struct store_pending *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_PENDING_GET);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    return sq_pending_get_stmt(q, st, out);
}

static int sq_pending_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN],
                                         struct store_pending *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_PENDING_BY_MKEY);
    if (!st)
        return STORE_IO;
    char k[80];
    sq_key_text(k, "mkey:", key);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
    return sq_pending_get_stmt(q, st, out);
}

/* Runs a DELETE bound to one value (text, or an integer when text is NULL) and takes what it removed off
 * the count. */
static int sq_pending_remove(struct sq_store *q, enum sq_stmt id, const char *text, int64_t num, int64_t *gone)
{
    sqlite3_stmt *st = sq_stmt(q, id);
    if (!st)
        return STORE_IO;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(st, 1, num);
    int rc = sq_exec_stmt(q, st, "remove pending registrations");
    if (rc != STORE_OK)
        return rc;
    int64_t n = sqlite3_changes(q->db);
    if (gone)
        *gone = n;
    if (!n)
        return STORE_OK;
    if (!(st = sq_stmt(q, Q_PENDING_ADD)))
        return STORE_IO;
    sqlite3_bind_int64(st, 1, -n);
    return sq_exec_stmt(q, st, "count pending registrations");
}

struct sq_pending_put {
    const struct store_pending *p;
    size_t max;
};

static int sq_pending_put_fn(struct sq_store *q, void *arg)
{
    const struct sq_pending_put *a = arg;
    const struct store_pending *p = a->p;
    char mk[80], nk[80];
    sq_key_text(mk, "mkey:", p->machine_key);
    sq_key_text(nk, "nodekey:", p->node_key);
    int rc;
    if ((rc = sq_pending_remove(q, Q_PENDING_EXPIRE, NULL, p->created, NULL)) != STORE_OK ||
        (rc = sq_pending_remove(q, Q_PENDING_DELETE_MKEY, mk, 0, NULL)) != STORE_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(q, Q_PENDING_COUNT);
    if (!st)
        return STORE_IO;
    int64_t n = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sq_done(st);
    if (n >= (int64_t)a->max)
        return store_fail(&q->base, STORE_INUSE, "%lld interactive registrations are waiting already (the most "
                          "allowed)", (long long)n);
    if (!(st = sq_stmt(q, Q_PENDING_INSERT)))
        return STORE_IO;
    sqlite3_bind_text(st, 1, p->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, mk, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, nk, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, p->hostname, -1, SQLITE_TRANSIENT);
    if (p->hostinfo[0])
        sqlite3_bind_text(st, 5, p->hostinfo, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, p->ephemeral);
    sqlite3_bind_int(st, 7, p->capver);
    sqlite3_bind_int64(st, 8, p->created);
    sqlite3_bind_int64(st, 9, p->expires);
    if ((rc = sq_exec_stmt(q, st, "store pending registration")) != STORE_OK)
        return rc;
    if (!(st = sq_stmt(q, Q_PENDING_ADD)))
        return STORE_IO;
    sqlite3_bind_int64(st, 1, 1);
    return sq_exec_stmt(q, st, "count pending registrations");
}

static int sq_pending_put(struct store *s, const struct store_pending *p, size_t max)
{
    if (!p->id[0])
        return store_fail(s, STORE_INVALID, "a pending registration needs an id");
    struct sq_pending_put a = {p, max};
    return sq_atomically(SQ(s), sq_pending_put_fn, &a);
}

static int sq_pending_done(struct store *s, const char *id, int64_t user_id, int64_t node_id)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_PENDING_DONE);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, node_id);
    int rc = sq_exec_stmt(q, st, "approve pending registration");
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "registration %s is not waiting (approved already, or gone)", id);
    return rc;
}

struct sq_pending_rm {
    const char *id;
    int64_t now, gone;
};

static int sq_pending_delete_fn(struct sq_store *q, void *arg)
{
    struct sq_pending_rm *a = arg;
    return a->id ? sq_pending_remove(q, Q_PENDING_DELETE, a->id, 0, &a->gone)
                 : sq_pending_remove(q, Q_PENDING_EXPIRE, NULL, a->now, &a->gone);
}

static int sq_pending_delete(struct store *s, const char *id)
{
    struct sq_pending_rm a = {id, 0, 0};
    int rc = sq_atomically(SQ(s), sq_pending_delete_fn, &a);
    if (rc == STORE_OK && !a.gone)
        rc = store_fail(s, STORE_NOTFOUND, "no pending registration %s", id);
    return rc;
}

static int sq_pending_expire(struct store *s, int64_t now, int64_t *n)
{
    struct sq_pending_rm a = {NULL, now, 0};
    int rc = sq_atomically(SQ(s), sq_pending_delete_fn, &a);
    if (n)
        *n = rc == STORE_OK ? a.gone : 0;
    return rc;
}

static const struct store_ops sq_ops = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .schema_version = sq_schema_version,
    .migrate = sq_migrate,
    .user_create = sq_user_create,
    .user_get_by_id = sq_user_get_by_id,
    .user_get_by_name = sq_user_get_by_name,
    .user_list = sq_user_list,
    .user_rename = sq_user_rename,
    .user_delete = sq_user_delete,
    .node_insert = sq_node_insert,
    .node_update = sq_node_update,
    .node_get_by_id = sq_node_get_by_id,
    .node_get_by_node_key = sq_node_get_by_node_key,
    .node_get_by_machine_key = sq_node_get_by_machine_key,
    .node_get_by_given_name = sq_node_get_by_given_name,
    .node_list = sq_node_list,
    .node_list_by_user = sq_node_list_by_user,
    .node_delete = sq_node_delete,
    .node_set_last_seen = sq_node_set_last_seen,
    .addrs_in_use = sq_addrs_in_use,
    .authkey_create = sq_authkey_create,
    .authkey_get_by_id = sq_authkey_get_by_id,
    .authkey_get_by_hash = sq_authkey_get_by_hash,
    .authkey_list = sq_authkey_list,
    .authkey_mark_used = sq_authkey_mark_used,
    .authkey_expire = sq_authkey_expire,
    .authkey_revoke = sq_authkey_revoke,
    .cred_create = sq_cred_create,
    .cred_get = sq_cred_get,
    .cred_list = sq_cred_list,
    .cred_expire = sq_cred_expire,
    .cred_revoke = sq_cred_revoke,
    .cred_delete = sq_cred_delete,
    .policy_get = sq_policy_get,
    .policy_set = sq_policy_set,
    .setting_list = sq_setting_list,
    .setting_set = sq_setting_set,
    .identity_get = sq_identity_get,
    .identity_bind = sq_identity_bind,
    .identity_list = sq_identity_list,
    .pending_put = sq_pending_put,
    .pending_get = sq_pending_get,
    .pending_get_by_machine_key = sq_pending_get_by_machine_key,
    .pending_done = sq_pending_done,
    .pending_delete = sq_pending_delete,
    .pending_expire = sq_pending_expire,
};

const struct store_ops *store_sqlite_ops(void) { return &sq_ops; }
