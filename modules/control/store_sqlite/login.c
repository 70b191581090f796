// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/store_sqlite/sq.h"

/* ---- short-lived login state (schema 9) ---- */

/* Statement which with its first two parameters bound (the hash, the kind), or NULL with *rc saying why. Every
 * statement on login_state is keyed by both. (The kind and the data's size were checked by store.h.) */
static sqlite3_stmt *login_stmt(struct store *s, int which, int kind, const uint8_t hash[32], int *rc)
{
    sqlite3_stmt *st = sq_stmt(SQ(s), which);
    if (!st) {
        *rc = STORE_IO;
        return NULL;
    }
    char k[2] = {(char)kind, 0};
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, k, -1, SQLITE_TRANSIENT);
    *rc = STORE_OK;
    return st;
}

int sq_login_put(struct store *s, int kind, const uint8_t hash[32], const char *data, int64_t expires)
{
    int rc;
    sqlite3_stmt *st = login_stmt(s, Q_LOGIN_PUT, kind, hash, &rc);
    if (!st)
        return rc;
    struct sq_store *q = SQ(s);
    sqlite3_bind_text(st, 3, data, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, expires);
    return sq_exec_stmt(q, st, "store login state");
}

int sq_login_get(struct store *s, int kind, const uint8_t hash[32], int64_t now, char data[STORE_LOGIN_DATA_MAX + 1])
{
    int rc;
    sqlite3_stmt *st = login_stmt(s, Q_LOGIN_GET, kind, hash, &rc);
    if (!st)
        return rc;
    struct sq_store *q = SQ(s);
    sqlite3_bind_int64(st, 3, now);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        snprintf(data, STORE_LOGIN_DATA_MAX + 1, "%s", d ? d : "");
        rc = STORE_OK;
    } else if (r == SQLITE_DONE) {
        rc = store_fail(s, STORE_NOTFOUND, "no such login state (unknown or expired)");
    } else {
        rc = sq_fail(q, "read login state");
    }
    sq_done(st);
    return rc;
}

int sq_login_delete(struct store *s, int kind, const uint8_t hash[32])
{
    int rc;
    sqlite3_stmt *st = login_stmt(s, Q_LOGIN_DELETE, kind, hash, &rc);
    if (!st)
        return rc;
    struct sq_store *q = SQ(s);
    rc = sq_exec_stmt(q, st, "remove login state");
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "no such login state");
    return rc;
}

/* One process owns a SQLite database, on one thread: the read and the delete cannot interleave with
 * another take. */
int sq_login_take(struct store *s, int kind, const uint8_t hash[32], int64_t now, char data[STORE_LOGIN_DATA_MAX + 1])
{
    int rc = sq_login_get(s, kind, hash, now, data);
    if (rc == STORE_OK && (rc = sq_login_delete(s, kind, hash)) != STORE_OK)
        data[0] = 0;
    return rc;
}

int sq_login_expire(struct store *s, int64_t now, int64_t *n)
{
    struct sq_store *q = SQ(s);
    if (n)
        *n = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_LOGIN_EXPIRE);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, now);
    int rc = sq_exec_stmt(q, st, "remove expired login state");
    if (rc == STORE_OK && n)
        *n = sqlite3_changes(q->db);
    return rc;
}
