// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/store_sqlite/sq.h"

/* ---- nodes ---- */

int sq_bind_node(struct sq_store *q, sqlite3_stmt *st, const struct model_node *n)
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

int sq_row_node(struct sq_store *q, sqlite3_stmt *st, struct model_node *n)
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
void sq_stable_id(char out[MODEL_STABLE_ID_MAX + 1])
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

int sq_node_conflict(struct sq_store *q, const struct model_node *n)
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

int sq_node_insert(struct store *s, struct model_node *n)
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

int sq_node_update(struct store *s, const struct model_node *n)
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

int sq_node_get(struct sq_store *q, sqlite3_stmt *st, struct model_node *out, const char *what)
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

int sq_node_get_by_id(struct store *s, int64_t id, struct model_node *out)
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

int sq_node_get_by_key(struct store *s, enum sq_stmt id, const char *prefix, const uint8_t *key,
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

int sq_node_get_by_node_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out)
{
    return sq_node_get_by_key(s, Q_NODE_BY_NODE_KEY, "nodekey:", key, out, "node key");
}

int sq_node_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN],
                                      struct model_node *out)
{
    return sq_node_get_by_key(s, Q_NODE_BY_MACHINE_KEY, "mkey:", key, out, "machine key");
}

int sq_node_get_by_given_name(struct store *s, const char *name, struct model_node *out)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_BY_GIVEN_NAME);
    if (!st)
        return STORE_IO;
    sq_bind_text_copy(st, 1, name);
    return sq_node_get(q, st, out, "name");
}

int sq_node_list_stmt(struct sq_store *q, sqlite3_stmt *st, struct model_node **out, size_t *n)
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

int sq_node_list(struct store *s, struct model_node **out, size_t *n)
{
    struct sq_store *q = SQ(s);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, Q_NODE_LIST);
    return st ? sq_node_list_stmt(q, st, out, n) : STORE_IO;
}

int sq_node_list_by_user(struct store *s, int64_t user_id, struct model_node **out, size_t *n)
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

int sq_node_delete(struct store *s, int64_t id)
{
    struct sq_store *q = SQ(s);
    int rc = sq_run_id(q, Q_NODE_DELETE, id, "delete node");
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        return store_fail(s, STORE_NOTFOUND, "no node with id %lld", (long long)id);
    return rc;
}

int sq_node_set_last_seen(struct store *s, int64_t id, int64_t last_seen)
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

int sq_addrs_in_use(struct store *s, store_addr_cb cb, void *ctx)
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
