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
#include "modules/control/store_sqlite/sq.h"
#include "core/json/json_util.h"


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

    /* 9: short-lived login state (OAuth access tokens, console sessions, OpenID logins under way), which was
     * held in memory: a restart logged every console user out and ended every access token, and another
     * control instance on the database did not know them. Found by the hash of the secret (never the secret),
     * removed through the expiry index. */
    "CREATE TABLE login_state ("
    " hash BLOB PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " data TEXT NOT NULL DEFAULT '',"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX login_state_expires ON login_state(expires);",
};
#define SQ_LATEST ((int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])))

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
    [Q_LOGIN_PUT] = "INSERT INTO login_state (hash, kind, data, expires) VALUES (?1, ?2, ?3, ?4)",
    [Q_LOGIN_GET] = "SELECT data FROM login_state WHERE hash = ?1 AND kind = ?2 AND expires > ?3",
    [Q_LOGIN_DELETE] = "DELETE FROM login_state WHERE hash = ?1 AND kind = ?2",
    [Q_LOGIN_EXPIRE] = "DELETE FROM login_state WHERE expires <= ?1",
};


/* ---- errors ---- */

int sq_fail(struct sq_store *q, const char *what)
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

sqlite3_stmt *sq_stmt(struct sq_store *q, enum sq_stmt id)
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

void sq_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
int sq_exec_stmt(struct sq_store *q, sqlite3_stmt *st, const char *what)
{
    int r = sqlite3_step(st);
    int rc = r == SQLITE_DONE ? STORE_OK : sq_fail(q, what);
    sq_done(st);
    return rc;
}

int sq_exec(struct sq_store *q, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sq_fail(q, what);
        sqlite3_free(msg);
        return rc;
    }
    return STORE_OK;
}

int sq_pragma_int(struct sq_store *q, const char *sql, int *out)
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

/* (the wire's own codec, core/json/json_util.c: the text is what Tailscale's JSON carries) */
_Static_assert(MODEL_KEY_LEN == TC_KEY_LEN, "a store key is a wire key");
void sq_key_text(char out[80], const char *prefix, const uint8_t k[MODEL_KEY_LEN])
{
    tc_key t;
    memcpy(t.b, k, MODEL_KEY_LEN);
    if (tc_key_format(&t, prefix, out) < 0)
        out[0] = 0; /* (a prefix too long for 80 bytes: none of the store's are) */
}

int sq_key_parse(uint8_t k[MODEL_KEY_LEN], const char *prefix, const unsigned char *txt)
{
    tc_key t;
    /* an empty text is no key here (tc_key_parse reads it as the zero key, as JSON's "" is) */
    if (!txt || !*txt || tc_key_parse((const char *)txt, strlen((const char *)txt), prefix, &t) < 0)
        return -1;
    memcpy(k, t.b, MODEL_KEY_LEN);
    return 0;
}

int sq_is_zero(const uint8_t *b, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

int sq_bind_text_copy(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* ---- open / close / transactions / migrations ---- */

void sq_close(struct store *s)
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
void sq_own_files(const char *path)
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

int sq_open(const char *dsn, struct store **out, char *err, size_t errlen)
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

int sq_begin(struct store *s)
{
    struct sq_store *q = SQ(s);
    if (!sqlite3_get_autocommit(q->db))
        return store_fail(s, STORE_INVALID, "sqlite %s: begin: a transaction is already open", q->path);
    sqlite3_stmt *st = sq_stmt(q, Q_BEGIN);
    return st ? sq_exec_stmt(q, st, "begin") : STORE_IO;
}

int sq_commit(struct store *s)
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

int sq_rollback(struct store *s)
{
    struct sq_store *q = SQ(s);
    if (sqlite3_get_autocommit(q->db))
        return STORE_OK; /* nothing open (SQLite may already have rolled back after an error) */
    sqlite3_stmt *st = sq_stmt(q, Q_ROLLBACK);
    return st ? sq_exec_stmt(q, st, "rollback") : STORE_IO;
}

int sq_schema_version(struct store *s, int *current, int *latest)
{
    *latest = SQ_LATEST;
    return sq_pragma_int(SQ(s), "PRAGMA user_version", current);
}

/* A copy of the database as it was before an upgrade ("PATH.schema-N.bak"), so that a migration that
 * turns out wrong can be undone by hand. An existing copy of the same version is kept. */
int sq_backup_before_migrate(struct sq_store *q, int cur)
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
int sq_migrate(struct store *s, int target)
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
int sq_atomically(struct sq_store *q, int (*fn)(struct sq_store *, void *), void *arg)
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
    .login_put = sq_login_put,
    .login_get = sq_login_get,
    .login_take = sq_login_take,
    .login_delete = sq_login_delete,
    .login_expire = sq_login_expire,
};

const struct store_ops *store_sqlite_ops(void) { return &sq_ops; }
