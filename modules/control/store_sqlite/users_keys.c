// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/store_sqlite/sq.h"

/* ---- users ---- */

void sq_row_user(sqlite3_stmt *st, struct model_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(st, 0);
    const char *t = (const char *)sqlite3_column_text(st, 1);
    model_strlcpy(u->name, t ? t : "", sizeof(u->name));
    t = (const char *)sqlite3_column_text(st, 2);
    model_strlcpy(u->display_name, t ? t : "", sizeof(u->display_name));
    u->created = sqlite3_column_int64(st, 3);
}

int sq_user_create(struct store *s, struct model_user *u)
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

int sq_user_get(struct sq_store *q, enum sq_stmt id, int64_t key, const char *name,
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

int sq_user_get_by_id(struct store *s, int64_t id, struct model_user *out)
{
    return sq_user_get(SQ(s), Q_USER_BY_ID, id, NULL, out);
}

int sq_user_get_by_name(struct store *s, const char *name, struct model_user *out)
{
    return sq_user_get(SQ(s), Q_USER_BY_NAME, 0, name, out);
}

int sq_user_list(struct store *s, struct model_user **out, size_t *n)
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

int sq_user_rename(struct store *s, int64_t id, const char *new_name)
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

int sq_count(struct sq_store *q, enum sq_stmt id, int64_t arg, int64_t *out)
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

int sq_run_id(struct sq_store *q, enum sq_stmt id, int64_t arg, const char *what)
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

int sq_user_delete_fn(struct sq_store *q, void *arg)
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

int sq_user_delete(struct store *s, int64_t id, bool force)
{
    struct sq_user_del d = {id, force};
    return sq_atomically(SQ(s), sq_user_delete_fn, &d);
}

/* ---- pre-auth keys ---- */

int sq_row_key(struct sq_store *q, sqlite3_stmt *st, struct model_authkey *k)
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

int sq_authkey_create(struct store *s, struct model_authkey *k)
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

int sq_key_get(struct sq_store *q, sqlite3_stmt *st, struct model_authkey *out)
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

int sq_authkey_get_by_id(struct store *s, int64_t id, struct model_authkey *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_KEY_BY_ID);
    if (!st)
        return STORE_IO;
    sqlite3_bind_int64(st, 1, id);
    return sq_key_get(q, st, out);
}

int sq_authkey_get_by_hash(struct store *s, const uint8_t hash[32], struct model_authkey *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_KEY_BY_HASH);
    if (!st)
        return STORE_IO;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
    return sq_key_get(q, st, out);
}

int sq_authkey_list(struct store *s, struct model_authkey **out, size_t *n)
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

int sq_key_update(struct store *s, enum sq_stmt id, int64_t key_id, int64_t arg, const char *what)
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

int sq_authkey_mark_used(struct store *s, int64_t id)
{
    return sq_key_update(s, Q_KEY_MARK_USED, id, 0, "mark pre-auth key used");
}

int sq_authkey_expire(struct store *s, int64_t id, int64_t when)
{
    return sq_key_update(s, Q_KEY_EXPIRE, id, when, "expire pre-auth key");
}

int sq_authkey_revoke(struct store *s, int64_t id)
{
    return sq_key_update(s, Q_KEY_REVOKE, id, 0, "revoke pre-auth key");
}
