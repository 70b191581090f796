// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/store_sqlite/sq.h"

/* ---- REST API credentials ---- */

int sq_row_cred(struct sq_store *q, sqlite3_stmt *st, struct model_cred *c)
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

int sq_cred_create(struct store *s, struct model_cred *c)
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

int sq_cred_get(struct store *s, const char *key_id, struct model_cred *out)
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

int sq_cred_list(struct store *s, int kind, struct model_cred **out, size_t *n)
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

int sq_cred_update(struct store *s, enum sq_stmt id, const char *key_id, int64_t arg, const char *what)
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

int sq_cred_expire(struct store *s, const char *key_id, int64_t when)
{
    return sq_cred_update(s, Q_CRED_EXPIRE, key_id, when, "expire API credential");
}

int sq_cred_revoke(struct store *s, const char *key_id)
{
    return sq_cred_update(s, Q_CRED_REVOKE, key_id, 0, "revoke API credential");
}

int sq_cred_delete(struct store *s, const char *key_id)
{
    return sq_cred_update(s, Q_CRED_DELETE, key_id, 0, "delete API credential");
}

/* ---- the policy ---- */

int sq_policy_get(struct store *s, char **text, size_t *len, int64_t *updated)
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

int sq_policy_set(struct store *s, const char *text, size_t len)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_POLICY_SET);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, text, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, sq_now());
    return sq_exec_stmt(q, st, "store policy");
}

int sq_setting_list(struct store *s, store_setting_cb cb, void *ctx)
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

int sq_setting_set(struct store *s, const char *name, const char *value)
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

int sq_identity_get(struct store *s, const char *issuer, const char *subject, int64_t *user_id)
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

int sq_identity_bind(struct store *s, const char *issuer, const char *subject, int64_t user_id)
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

int sq_identity_list(struct store *s, store_identity_cb cb, void *ctx)
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
