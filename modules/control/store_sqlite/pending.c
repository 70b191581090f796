// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/store_sqlite/sq.h"

/* ---- pending interactive registrations ---- */

int sq_row_pending(struct sq_store *q, sqlite3_stmt *st, struct store_pending *p)
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

int sq_pending_get_stmt(struct sq_store *q, sqlite3_stmt *st, struct store_pending *out)
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

int sq_pending_get(struct store *s, const char *id, struct store_pending *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_PENDING_GET);
    if (!st)
        return STORE_IO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    return sq_pending_get_stmt(q, st, out);
}

int sq_pending_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN],
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
int sq_pending_remove(struct sq_store *q, enum sq_stmt id, const char *text, int64_t num, int64_t *gone)
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

int sq_pending_put_fn(struct sq_store *q, void *arg)
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

int sq_pending_put(struct store *s, const struct store_pending *p, size_t max)
{
    if (!p->id[0])
        return store_fail(s, STORE_INVALID, "a pending registration needs an id");
    struct sq_pending_put a = {p, max};
    return sq_atomically(SQ(s), sq_pending_put_fn, &a);
}

int sq_pending_done(struct store *s, const char *id, int64_t user_id, int64_t node_id)
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

int sq_pending_delete_fn(struct sq_store *q, void *arg)
{
    struct sq_pending_rm *a = arg;
    return a->id ? sq_pending_remove(q, Q_PENDING_DELETE, a->id, 0, &a->gone)
                 : sq_pending_remove(q, Q_PENDING_EXPIRE, NULL, a->now, &a->gone);
}

int sq_pending_delete(struct store *s, const char *id)
{
    struct sq_pending_rm a = {id, 0, 0};
    int rc = sq_atomically(SQ(s), sq_pending_delete_fn, &a);
    if (rc == STORE_OK && !a.gone)
        rc = store_fail(s, STORE_NOTFOUND, "no pending registration %s", id);
    return rc;
}

int sq_pending_expire(struct store *s, int64_t now, int64_t *n)
{
    struct sq_pending_rm a = {NULL, now, 0};
    int rc = sq_atomically(SQ(s), sq_pending_delete_fn, &a);
    if (n)
        *n = rc == STORE_OK ? a.gone : 0;
    return rc;
}
