// SPDX-License-Identifier: BSD-3-Clause
/* The PostgreSQL backend's operations (store.h): the same rows, encodings and answers as store_sqlite/
 * (keys as "nodekey:<hex>" text, addresses as text, lists as JSON text), so that both backends hold a
 * tailnet alike and the store tests run unchanged against either. */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/store_postgres/pg.h"

#define NODE_COLS                                                                                      \
    "id, stable_id, user_id, machine_key, node_key, disco_key, hostname, given_name, ipv4, ipv6, "     \
    "endpoints, hostinfo, home_derp, capver, expiry, created, last_seen, ephemeral, tags, authkey_id, "  \
    "renamed, routes_advertised, routes_approved"
#define AUTHKEY_COLS                                                                                   \
    "id, prefix, encode(hash, 'hex'), user_id, reusable, ephemeral, revoked, expiration, tags, used_count, "      \
    "created, description"
#define USER_COLS "id, name, display_name, created"
#define CRED_COLS "id, kind, key_id, encode(hash, 'hex'), description, scopes, created, expiration, revoked"
#define PENDING_COLS                                                                                   \
    "id, machine_key, node_key, hostname, hostinfo, ephemeral, capver, created, expires, user_id, node_id"
/* Serialises what changes the pending registrations' count, across instances (held to the transaction's end) */
#define PG_PENDING_LOCK "2003199607"
/* An explicit id (weft db migrate) or the next one; the sequence is moved past explicit ones afterwards. */
#define NEXT_ID(table, p) "COALESCE(NULLIF(" p "::bigint, 0), nextval(pg_get_serial_sequence('" table "', 'id')))"
#define SEQ_PAST(table)                                                                                \
    "SELECT setval(pg_get_serial_sequence('" table "', 'id'), GREATEST((SELECT max(id) FROM " table "), 1))"

enum { RO = PG_IDEMPOTENT, SET = PG_IDEMPOTENT | PG_WRITE, ONCE = PG_WRITE };

const struct pg_stmt pg_stmts[Q_COUNT] = {
    [Q_USER_INSERT] = {"INSERT INTO users (id, name, display_name, created) VALUES (" NEXT_ID("users", "$4")
                       ", $1, $2, $3) RETURNING id", 4, ONCE},
    [Q_USER_BY_ID] = {"SELECT " USER_COLS " FROM users WHERE id = $1", 1, RO},
    [Q_USER_BY_NAME] = {"SELECT " USER_COLS " FROM users WHERE name = $1", 1, RO},
    [Q_USER_LIST] = {"SELECT " USER_COLS " FROM users ORDER BY id", 0, RO},
    [Q_USER_RENAME] = {"UPDATE users SET name = $2 WHERE id = $1", 2, SET},
    [Q_USER_DELETE] = {"DELETE FROM users WHERE id = $1", 1, ONCE},
    [Q_USER_COUNT_NODES] = {"SELECT count(*) FROM nodes WHERE user_id = $1", 1, RO},
    [Q_USER_COUNT_KEYS] = {"SELECT count(*) FROM preauth_keys WHERE user_id = $1", 1, RO},
    [Q_USER_DELETE_NODES] = {"DELETE FROM nodes WHERE user_id = $1", 1, ONCE},
    [Q_USER_DELETE_KEYS] = {"DELETE FROM preauth_keys WHERE user_id = $1", 1, ONCE},
    [Q_NODE_INSERT] = {"INSERT INTO nodes (id, stable_id, user_id, machine_key, node_key, disco_key, hostname, "
                       "given_name, ipv4, ipv6, endpoints, hostinfo, home_derp, capver, expiry, created, "
                       "last_seen, ephemeral, tags, authkey_id, renamed, routes_advertised, routes_approved) "
                       "VALUES (" NEXT_ID("nodes", "$1") ", $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                       "$14, $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING id", 23, ONCE},
    [Q_NODE_UPDATE] = {"UPDATE nodes SET user_id = $3, machine_key = $4, node_key = $5, disco_key = $6, "
                       "hostname = $7, given_name = $8, ipv4 = $9, ipv6 = $10, endpoints = $11, "
                       "hostinfo = $12, home_derp = $13, capver = $14, expiry = $15, last_seen = $17, "
                       "ephemeral = $18, tags = $19, authkey_id = $20, renamed = $21, routes_advertised = $22, "
                       "routes_approved = $23 WHERE id = $1 AND $2::text IS NOT NULL AND $16::bigint IS NOT NULL",
                       23, SET},
    [Q_NODE_BY_ID] = {"SELECT " NODE_COLS " FROM nodes WHERE id = $1", 1, RO},
    [Q_NODE_BY_NODE_KEY] = {"SELECT " NODE_COLS " FROM nodes WHERE node_key = $1", 1, RO},
    [Q_NODE_BY_MACHINE_KEY] = {"SELECT " NODE_COLS " FROM nodes WHERE machine_key = $1", 1, RO},
    [Q_NODE_BY_GIVEN_NAME] = {"SELECT " NODE_COLS " FROM nodes WHERE given_name = $1", 1, RO},
    [Q_NODE_LIST] = {"SELECT " NODE_COLS " FROM nodes ORDER BY id", 0, RO},
    [Q_NODE_LIST_BY_USER] = {"SELECT " NODE_COLS " FROM nodes WHERE user_id = $1 ORDER BY id", 1, RO},
    [Q_NODE_DELETE] = {"DELETE FROM nodes WHERE id = $1", 1, ONCE},
    [Q_NODE_LAST_SEEN] = {"UPDATE nodes SET last_seen = $2 WHERE id = $1", 2, SET},
    [Q_ADDRS] = {"SELECT ipv4, ipv6 FROM nodes WHERE ipv4 IS NOT NULL OR ipv6 IS NOT NULL", 0, RO},
    [Q_KEY_INSERT] = {"INSERT INTO preauth_keys (id, prefix, hash, user_id, reusable, ephemeral, revoked, "
                      "expiration, tags, used_count, created, description) VALUES (" NEXT_ID("preauth_keys", "$12")
                      ", $1, decode($2, 'hex'), $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id", 12, ONCE},
    [Q_KEY_BY_ID] = {"SELECT " AUTHKEY_COLS " FROM preauth_keys WHERE id = $1", 1, RO},
    [Q_KEY_BY_HASH] = {"SELECT " AUTHKEY_COLS " FROM preauth_keys WHERE hash = decode($1, 'hex')", 1, RO},
    [Q_KEY_LIST] = {"SELECT " AUTHKEY_COLS " FROM preauth_keys ORDER BY id", 0, RO},
    [Q_KEY_MARK_USED] = {"UPDATE preauth_keys SET used_count = used_count + 1 WHERE id = $1", 1, ONCE},
    [Q_KEY_EXPIRE] = {"UPDATE preauth_keys SET expiration = $2 WHERE id = $1", 2, SET},
    [Q_KEY_REVOKE] = {"UPDATE preauth_keys SET revoked = true WHERE id = $1", 1, SET},
    [Q_CRED_INSERT] = {"INSERT INTO api_credentials (kind, key_id, hash, description, scopes, created, "
                       "expiration, revoked) VALUES ($1, $2, decode($3, 'hex'), $4, $5, $6, $7, $8) RETURNING id",
                       8, ONCE},
    [Q_CRED_GET] = {"SELECT " CRED_COLS " FROM api_credentials WHERE key_id = $1", 1, RO},
    [Q_CRED_LIST] = {"SELECT " CRED_COLS " FROM api_credentials WHERE kind = $1 ORDER BY id", 1, RO},
    [Q_CRED_EXPIRE] = {"UPDATE api_credentials SET expiration = $2 WHERE key_id = $1", 2, SET},
    [Q_CRED_REVOKE] = {"UPDATE api_credentials SET revoked = true WHERE key_id = $1", 1, SET},
    [Q_CRED_DELETE] = {"DELETE FROM api_credentials WHERE key_id = $1", 1, ONCE},
    [Q_SETTING_LIST] = {"SELECT name, value FROM settings ORDER BY name", 0, RO},
    [Q_SETTING_SET] = {"INSERT INTO settings (name, value, updated) VALUES ($1, $2, $3) "
                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated", 3, SET},
    [Q_SETTING_DELETE] = {"DELETE FROM settings WHERE name = $1", 1, SET},
    [Q_IDENTITY_GET] = {"SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2", 2, RO},
    [Q_IDENTITY_BIND] = {"INSERT INTO user_identities (issuer, subject, user_id, created) VALUES ($1, $2, $3, $4)",
                         4, ONCE},
    [Q_IDENTITY_LIST] = {"SELECT issuer, subject, user_id FROM user_identities ORDER BY user_id", 0, RO},
    [Q_POLICY_GET] = {"SELECT text, updated FROM policy WHERE id = 1", 0, RO},
    [Q_POLICY_SET] = {"INSERT INTO policy (id, text, updated) VALUES (1, $1, $2) "
                      "ON CONFLICT (id) DO UPDATE SET text = excluded.text, updated = excluded.updated", 2, SET},
    [Q_FEED_ONLINE] = {"INSERT INTO weft_ha.online (instance, node_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       2, SET},
    [Q_FEED_OFFLINE] = {"DELETE FROM weft_ha.online WHERE instance = $1 AND node_id = $2", 2, SET},
    [Q_FEED_ONLINE_LIST] = {"SELECT instance, node_id FROM weft_ha.online", 0, RO},
    [Q_SEQ_USERS] = {SEQ_PAST("users"), 0, SET},
    [Q_SEQ_NODES] = {SEQ_PAST("nodes"), 0, SET},
    [Q_SEQ_KEYS] = {SEQ_PAST("preauth_keys"), 0, SET},
    [Q_PENDING_LOCK] = {"SELECT pg_advisory_xact_lock(" PG_PENDING_LOCK ")", 0, ONCE},
    [Q_PENDING_INSERT] = {"INSERT INTO pending_registrations (" PENDING_COLS ") "
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 0)", 9, ONCE},
    [Q_PENDING_GET] = {"SELECT " PENDING_COLS " FROM pending_registrations WHERE id = $1", 1, RO},
    [Q_PENDING_BY_MKEY] = {"SELECT " PENDING_COLS " FROM pending_registrations WHERE machine_key = $1", 1, RO},
    [Q_PENDING_DONE] = {"UPDATE pending_registrations SET user_id = $2, node_id = $3, hostinfo = NULL "
                        "WHERE id = $1 AND node_id = 0", 3, ONCE},
    [Q_PENDING_DELETE] = {"DELETE FROM pending_registrations WHERE id = $1", 1, ONCE},
    [Q_PENDING_DELETE_MKEY] = {"DELETE FROM pending_registrations WHERE machine_key = $1", 1, ONCE},
    [Q_PENDING_EXPIRE] = {"DELETE FROM pending_registrations WHERE expires <= $1", 1, ONCE},
    [Q_PENDING_COUNT] = {"SELECT n FROM pending_count WHERE id = 1", 0, RO},
    [Q_PENDING_ADD] = {"UPDATE pending_count SET n = GREATEST(n + $1, 0) WHERE id = 1", 1, ONCE},
    [Q_LOGIN_PUT] = {"INSERT INTO login_state (hash, kind, data, expires) VALUES (decode($1, 'hex'), $2, $3, $4)",
                     4, ONCE},
    [Q_LOGIN_GET] = {"SELECT data FROM login_state WHERE hash = decode($1, 'hex') AND kind = $2 AND expires > $3",
                     3, RO},
    /* one statement: of two instances taking the same entry, one gets the row, the other none */
    [Q_LOGIN_TAKE] = {"DELETE FROM login_state WHERE hash = decode($1, 'hex') AND kind = $2 AND expires > $3 "
                      "RETURNING data", 3, ONCE},
    [Q_LOGIN_DELETE] = {"DELETE FROM login_state WHERE hash = decode($1, 'hex') AND kind = $2", 2, ONCE},
    [Q_LOGIN_EXPIRE] = {"DELETE FROM login_state WHERE expires <= $1", 1, ONCE},
};

static int64_t pg_now(void) { return (int64_t)time(NULL); }

/* ---- parameters and values ---- */

#define PG_MAXP 24
struct pg_args {
    const char *v[PG_MAXP];
    char num[PG_MAXP][24];
};

static void arg_int(struct pg_args *a, int i, int64_t x)
{
    snprintf(a->num[i], sizeof a->num[i], "%lld", (long long)x);
    a->v[i] = a->num[i];
}

static void arg_bool(struct pg_args *a, int i, bool b) { a->v[i] = b ? "t" : "f"; }

static void hex(char *out, const uint8_t *b, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unhex(uint8_t *out, size_t n, const char *txt)
{
    if (!txt || strlen(txt) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(txt[2 * i]), lo = hexval(txt[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static void key_text(char out[80], const char *prefix, const uint8_t k[MODEL_KEY_LEN])
{
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    hex(out + p, k, MODEL_KEY_LEN);
}

static int key_parse(uint8_t k[MODEL_KEY_LEN], const char *prefix, const char *txt)
{
    size_t p = strlen(prefix);
    if (!txt || strncmp(txt, prefix, p) != 0)
        return -1;
    return unhex(k, MODEL_KEY_LEN, txt + p);
}

static bool is_zero(const uint8_t *b, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

static const char *val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
static int64_t val_int(const PGresult *r, int row, int col)
{
    const char *v = val(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}
static bool val_bool(const PGresult *r, int row, int col)
{
    const char *v = val(r, row, col);
    return v && (v[0] == 't' || v[0] == '1');
}
static int64_t affected(const PGresult *r) { return strtoll(PQcmdTuples((PGresult *)r), NULL, 10); }

/* After an insert with an explicit id, later inserts must not be handed that id by the sequence. */
static int seq_past(struct pg_store *q, enum pg_q id)
{
    PGresult *r;
    int rc = pg_query(q, id, NULL, &r, "advance the id sequence");
    PQclear(r);
    return rc;
}

/* ---- users ---- */

static void row_user(const PGresult *r, int i, struct model_user *u)
{
    memset(u, 0, sizeof *u);
    u->id = val_int(r, i, 0);
    const char *t = val(r, i, 1);
    model_strlcpy(u->name, t ? t : "", sizeof u->name);
    t = val(r, i, 2);
    model_strlcpy(u->display_name, t ? t : "", sizeof u->display_name);
    u->created = val_int(r, i, 3);
}

static int pg_user_create(struct store *s, struct model_user *u)
{
    struct pg_store *q = PG(s);
    if (!u->name[0])
        return store_fail(s, STORE_INVALID, "user name is empty");
    if (!u->created)
        u->created = pg_now();
    struct pg_args a = {0};
    a.v[0] = u->name;
    a.v[1] = u->display_name;
    arg_int(&a, 2, u->created);
    arg_int(&a, 3, q->base.keep_ids ? u->id : 0);
    PGresult *r;
    int rc = pg_query(q, Q_USER_INSERT, a.v, &r, "create user");
    if (rc == STORE_CONFLICT)
        return store_fail(s, rc, "user '%s' already exists", u->name);
    if (rc != STORE_OK)
        return rc;
    bool given = q->base.keep_ids && u->id != 0;
    u->id = val_int(r, 0, 0);
    PQclear(r);
    return given ? seq_past(q, Q_SEQ_USERS) : STORE_OK;
}

static int user_get(struct pg_store *q, enum pg_q id, const char *arg, struct model_user *out, int64_t key)
{
    PGresult *r;
    const char *v[1] = {arg};
    int rc = pg_query(q, id, v, &r, "get user");
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 1)
        row_user(r, 0, out);
    else
        rc = id == Q_USER_BY_NAME ? store_fail(&q->base, STORE_NOTFOUND, "no user named '%s'", arg)
                                  : store_fail(&q->base, STORE_NOTFOUND, "no user with id %lld", (long long)key);
    PQclear(r);
    return rc;
}

static int pg_user_get_by_id(struct store *s, int64_t id, struct model_user *out)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)id);
    return user_get(PG(s), Q_USER_BY_ID, b, out, id);
}

static int pg_user_get_by_name(struct store *s, const char *name, struct model_user *out)
{
    return user_get(PG(s), Q_USER_BY_NAME, name, out, 0);
}

static int pg_user_list(struct store *s, struct model_user **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    PGresult *r;
    int rc = pg_query(PG(s), Q_USER_LIST, NULL, &r, "list users");
    if (rc != STORE_OK)
        return rc;
    int cnt = PQntuples(r);
    struct model_user *v = calloc(cnt ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return store_fail(s, STORE_IO, "list users: out of memory");
    }
    for (int i = 0; i < cnt; i++)
        row_user(r, i, &v[i]);
    PQclear(r);
    *out = v;
    *n = (size_t)cnt;
    return STORE_OK;
}

static int pg_user_rename(struct store *s, int64_t id, const char *new_name)
{
    if (!new_name || !*new_name)
        return store_fail(s, STORE_INVALID, "user name is empty");
    struct pg_args a = {0};
    arg_int(&a, 0, id);
    a.v[1] = new_name;
    PGresult *r;
    int rc = pg_query(PG(s), Q_USER_RENAME, a.v, &r, "rename user");
    if (rc == STORE_CONFLICT)
        return store_fail(s, rc, "user '%s' already exists", new_name);
    if (rc != STORE_OK)
        return rc;
    if (affected(r) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "no user with id %lld", (long long)id);
    PQclear(r);
    return rc;
}

static int run_id(struct pg_store *q, enum pg_q id, int64_t arg, const char *what, int64_t *n)
{
    struct pg_args a = {0};
    arg_int(&a, 0, arg);
    PGresult *r;
    int rc = pg_query(q, id, a.v, &r, what);
    if (rc != STORE_OK)
        return rc;
    if (n)
        *n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? val_int(r, 0, 0) : affected(r);
    PQclear(r);
    return STORE_OK;
}

struct user_del {
    int64_t id;
    bool force;
};

static int user_delete_fn(struct pg_store *q, void *arg)
{
    const struct user_del *d = arg;
    int64_t nodes = 0, keys = 0, gone = 0;
    int rc;
    if ((rc = run_id(q, Q_USER_COUNT_NODES, d->id, "count the user's nodes", &nodes)) != STORE_OK ||
        (rc = run_id(q, Q_USER_COUNT_KEYS, d->id, "count the user's keys", &keys)) != STORE_OK)
        return rc;
    if ((nodes || keys) && !d->force)
        return store_fail(&q->base, STORE_INUSE,
                          "user %lld still owns %lld node(s) and %lld pre-auth key(s); "
                          "delete those first or force the deletion",
                          (long long)d->id, (long long)nodes, (long long)keys);
    if ((rc = run_id(q, Q_USER_DELETE_NODES, d->id, "delete the user's nodes", NULL)) != STORE_OK ||
        (rc = run_id(q, Q_USER_DELETE_KEYS, d->id, "delete the user's pre-auth keys", NULL)) != STORE_OK ||
        (rc = run_id(q, Q_USER_DELETE, d->id, "delete user", &gone)) != STORE_OK)
        return rc;
    if (gone == 0)
        return store_fail(&q->base, STORE_NOTFOUND, "no user with id %lld", (long long)d->id);
    return STORE_OK;
}

static int pg_user_delete(struct store *s, int64_t id, bool force)
{
    struct user_del d = {id, force};
    return pg_atomically(PG(s), user_delete_fn, &d);
}

/* ---- nodes ---- */

/* The 23 parameters of Q_NODE_INSERT / Q_NODE_UPDATE; bufs holds what they point at until the query ran. */
struct node_bufs {
    char mkey[80], nkey[80], dkey[80], ip4[INET6_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN];
    char *eps, *tags, *radv, *rapp;
};

static void node_bufs_free(struct node_bufs *b)
{
    free(b->eps);
    free(b->tags);
    free(b->radv);
    free(b->rapp);
}

static int bind_node(struct pg_store *q, struct pg_args *a, struct node_bufs *b, const struct model_node *n)
{
    memset(b, 0, sizeof *b);
    arg_int(a, 0, n->id);
    a->v[1] = n->stable_id;
    arg_int(a, 2, n->user_id);
    key_text(b->mkey, "mkey:", n->machine_key);
    a->v[3] = b->mkey;
    key_text(b->nkey, "nodekey:", n->node_key);
    a->v[4] = b->nkey;
    if (!is_zero(n->disco_key, MODEL_KEY_LEN))
        key_text(b->dkey, "discokey:", n->disco_key);
    a->v[5] = b->dkey;
    a->v[6] = n->hostname;
    a->v[7] = n->given_name;
    a->v[8] = n->has_ipv4 && inet_ntop(AF_INET, n->ipv4, b->ip4, sizeof b->ip4) ? b->ip4 : NULL;
    a->v[9] = n->has_ipv6 && inet_ntop(AF_INET6, n->ipv6, b->ip6, sizeof b->ip6) ? b->ip6 : NULL;
    b->eps = model_strlist_to_json(&n->endpoints);
    b->tags = model_strlist_to_json(&n->tags);
    b->radv = model_strlist_to_json(&n->routes_advertised);
    b->rapp = model_strlist_to_json(&n->routes_approved);
    if (!b->eps || !b->tags || !b->radv || !b->rapp) {
        node_bufs_free(b);
        return store_fail(&q->base, STORE_IO, "node: out of memory");
    }
    a->v[10] = b->eps;
    a->v[11] = n->hostinfo;
    arg_int(a, 12, n->home_derp);
    arg_int(a, 13, n->capver);
    arg_int(a, 14, n->expiry);
    arg_int(a, 15, n->created);
    arg_int(a, 16, n->last_seen);
    arg_bool(a, 17, n->ephemeral);
    a->v[18] = b->tags;
    if (n->authkey_id)
        arg_int(a, 19, n->authkey_id);
    else
        a->v[19] = NULL;
    arg_bool(a, 20, n->renamed);
    a->v[21] = b->radv;
    a->v[22] = b->rapp;
    return STORE_OK;
}

static int row_node(struct pg_store *q, const PGresult *r, int i, struct model_node *n)
{
    memset(n, 0, sizeof *n);
    n->id = val_int(r, i, 0);
    const char *t = val(r, i, 1);
    model_strlcpy(n->stable_id, t ? t : "", sizeof n->stable_id);
    n->user_id = val_int(r, i, 2);
    const char *dk = val(r, i, 5);
    if (key_parse(n->machine_key, "mkey:", val(r, i, 3)) < 0 || key_parse(n->node_key, "nodekey:", val(r, i, 4)) < 0 ||
        (dk && *dk && key_parse(n->disco_key, "discokey:", dk) < 0))
        return store_fail(&q->base, STORE_IO, "%s: node %lld has a malformed key", q->label, (long long)n->id);
    t = val(r, i, 6);
    model_strlcpy(n->hostname, t ? t : "", sizeof n->hostname);
    t = val(r, i, 7);
    model_strlcpy(n->given_name, t ? t : "", sizeof n->given_name);
    if ((t = val(r, i, 8)) && !(n->has_ipv4 = inet_pton(AF_INET, t, n->ipv4) == 1))
        return store_fail(&q->base, STORE_IO, "%s: node %lld has a malformed IPv4 '%s'", q->label,
                          (long long)n->id, t);
    if ((t = val(r, i, 9)) && !(n->has_ipv6 = inet_pton(AF_INET6, t, n->ipv6) == 1))
        return store_fail(&q->base, STORE_IO, "%s: node %lld has a malformed IPv6 '%s'", q->label,
                          (long long)n->id, t);
    if (model_strlist_from_json(&n->endpoints, val(r, i, 10)) < 0 ||
        model_strlist_from_json(&n->tags, val(r, i, 18)) < 0 ||
        model_strlist_from_json(&n->routes_advertised, val(r, i, 21)) < 0 ||
        model_strlist_from_json(&n->routes_approved, val(r, i, 22)) < 0) {
        model_node_clear(n);
        return store_fail(&q->base, STORE_IO, "%s: node has malformed endpoints, tags or routes", q->label);
    }
    if ((t = val(r, i, 11)) && !(n->hostinfo = strdup(t))) {
        model_node_clear(n);
        return store_fail(&q->base, STORE_IO, "node: out of memory");
    }
    n->home_derp = (int)val_int(r, i, 12);
    n->capver = (int)val_int(r, i, 13);
    n->expiry = val_int(r, i, 14);
    n->created = val_int(r, i, 15);
    n->last_seen = val_int(r, i, 16);
    n->ephemeral = val_bool(r, i, 17);
    n->authkey_id = val_int(r, i, 19);
    n->renamed = val_bool(r, i, 20);
    return STORE_OK;
}

/* "n" + 12 hex digits + "CNTRL", the shape of Tailscale's stable node IDs (as store_sqlite/). */
static void stable_id(char out[MODEL_STABLE_ID_MAX + 1])
{
    uint8_t r[6];
    randombytes_buf(r, sizeof r);
    out[0] = 'n';
    hex(out + 1, r, 6);
    memcpy(out + 13, "CNTRL", 6);
}

/* Which unique value a node conflicted on, from PostgreSQL's constraint name (nodes_<column>_key). */
static int node_conflict(struct pg_store *q, const struct model_node *n)
{
    const char *msg = q->base.err, *what = "a unique value";
    if (strstr(msg, "nodes_machine_key_key"))
        what = "the machine key";
    else if (strstr(msg, "nodes_node_key_key"))
        what = "the node key";
    else if (strstr(msg, "nodes_given_name_key"))
        what = "the name";
    else if (strstr(msg, "nodes_ipv4_key"))
        what = "the IPv4 address";
    else if (strstr(msg, "nodes_ipv6_key"))
        what = "the IPv6 address";
    else if (strstr(msg, "nodes_stable_id_key"))
        what = "the stable ID";
    return store_fail(&q->base, STORE_CONFLICT, "node '%s': %s is already held by another node", n->given_name,
                      what);
}

static int pg_node_insert(struct store *s, struct model_node *n)
{
    struct pg_store *q = PG(s);
    if (!n->given_name[0])
        return store_fail(s, STORE_INVALID, "node has no given name");
    bool made_id = false;
    if (!n->stable_id[0]) {
        stable_id(n->stable_id);
        made_id = true;
    }
    if (!n->created)
        n->created = pg_now();
    struct pg_args a = {0};
    struct node_bufs b;
    PGresult *r = NULL;
    int rc = bind_node(q, &a, &b, n);
    if (!q->base.keep_ids)
        arg_int(&a, 0, 0);
    if (rc == STORE_OK) {
        rc = pg_query(q, Q_NODE_INSERT, a.v, &r, "insert node");
        node_bufs_free(&b);
    }
    if (rc == STORE_CONFLICT)
        rc = node_conflict(q, n);
    if (rc == STORE_OK) {
        bool given = q->base.keep_ids && n->id != 0;
        n->id = val_int(r, 0, 0);
        PQclear(r);
        return given ? seq_past(q, Q_SEQ_NODES) : STORE_OK;
    }
    if (made_id)
        n->stable_id[0] = 0;
    return rc;
}

static int pg_node_update(struct store *s, const struct model_node *n)
{
    struct pg_store *q = PG(s);
    if (!n->given_name[0])
        return store_fail(s, STORE_INVALID, "node has no given name");
    struct pg_args a = {0};
    struct node_bufs b;
    PGresult *r = NULL;
    int rc = bind_node(q, &a, &b, n);
    if (rc != STORE_OK)
        return rc;
    rc = pg_query(q, Q_NODE_UPDATE, a.v, &r, "update node");
    node_bufs_free(&b);
    if (rc == STORE_CONFLICT)
        return node_conflict(q, n);
    if (rc != STORE_OK)
        return rc;
    if (affected(r) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "no node with id %lld", (long long)n->id);
    PQclear(r);
    return rc;
}

static int node_get(struct pg_store *q, enum pg_q id, const char *arg, struct model_node *out, const char *what)
{
    const char *v[1] = {arg};
    PGresult *r;
    int rc = pg_query(q, id, v, &r, "get node");
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 1)
        rc = row_node(q, r, 0, out);
    else
        rc = store_fail(&q->base, STORE_NOTFOUND, "no node with that %s", what);
    PQclear(r);
    return rc;
}

static int pg_node_get_by_id(struct store *s, int64_t id, struct model_node *out)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)id);
    int rc = node_get(PG(s), Q_NODE_BY_ID, b, out, "id");
    if (rc == STORE_NOTFOUND)
        store_fail(s, rc, "no node with id %lld", (long long)id);
    return rc;
}

static int pg_node_get_by_node_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out)
{
    char k[80];
    key_text(k, "nodekey:", key);
    return node_get(PG(s), Q_NODE_BY_NODE_KEY, k, out, "node key");
}

static int pg_node_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out)
{
    char k[80];
    key_text(k, "mkey:", key);
    return node_get(PG(s), Q_NODE_BY_MACHINE_KEY, k, out, "machine key");
}

static int pg_node_get_by_given_name(struct store *s, const char *name, struct model_node *out)
{
    return node_get(PG(s), Q_NODE_BY_GIVEN_NAME, name, out, "name");
}

static int node_list(struct pg_store *q, enum pg_q id, const char *const *v, struct model_node **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    PGresult *r;
    int rc = pg_query(q, id, v, &r, "list nodes");
    if (rc != STORE_OK)
        return rc;
    int cnt = PQntuples(r);
    struct model_node *nv = calloc(cnt ? (size_t)cnt : 1, sizeof *nv);
    if (!nv) {
        PQclear(r);
        return store_fail(&q->base, STORE_IO, "list nodes: out of memory");
    }
    int i = 0;
    for (; i < cnt && rc == STORE_OK; i++)
        rc = row_node(q, r, i, &nv[i]);
    PQclear(r);
    if (rc != STORE_OK) {
        model_nodes_free(nv, (size_t)i);
        return rc;
    }
    *out = nv;
    *n = (size_t)cnt;
    return STORE_OK;
}

static int pg_node_list(struct store *s, struct model_node **out, size_t *n)
{
    return node_list(PG(s), Q_NODE_LIST, NULL, out, n);
}

static int pg_node_list_by_user(struct store *s, int64_t user_id, struct model_node **out, size_t *n)
{
    struct pg_args a = {0};
    arg_int(&a, 0, user_id);
    return node_list(PG(s), Q_NODE_LIST_BY_USER, a.v, out, n);
}

static int pg_node_delete(struct store *s, int64_t id)
{
    int64_t gone = 0;
    int rc = run_id(PG(s), Q_NODE_DELETE, id, "delete node", &gone);
    if (rc == STORE_OK && gone == 0)
        return store_fail(s, STORE_NOTFOUND, "no node with id %lld", (long long)id);
    return rc;
}

static int pg_node_set_last_seen(struct store *s, int64_t id, int64_t last_seen)
{
    struct pg_args a = {0};
    arg_int(&a, 0, id);
    arg_int(&a, 1, last_seen);
    PGresult *r;
    int rc = pg_query(PG(s), Q_NODE_LAST_SEEN, a.v, &r, "set last seen");
    if (rc != STORE_OK)
        return rc;
    if (affected(r) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "no node with id %lld", (long long)id);
    PQclear(r);
    return rc;
}

static int pg_addrs_in_use(struct store *s, store_addr_cb cb, void *ctx)
{
    PGresult *r;
    int rc = pg_query(PG(s), Q_ADDRS, NULL, &r, "list addresses");
    if (rc != STORE_OK)
        return rc;
    uint8_t a[16];
    for (int i = 0; i < PQntuples(r); i++) {
        const char *t4 = val(r, i, 0), *t6 = val(r, i, 1);
        if (t4 && inet_pton(AF_INET, t4, a) == 1)
            cb(ctx, 4, a);
        if (t6 && inet_pton(AF_INET6, t6, a) == 1)
            cb(ctx, 6, a);
    }
    PQclear(r);
    return STORE_OK;
}

/* ---- pre-auth keys ---- */

static int row_key(struct pg_store *q, const PGresult *r, int i, struct model_authkey *k)
{
    memset(k, 0, sizeof *k);
    k->id = val_int(r, i, 0);
    const char *t = val(r, i, 1);
    model_strlcpy(k->prefix, t ? t : "", sizeof k->prefix);
    if (unhex(k->hash, 32, val(r, i, 2)) < 0)
        return store_fail(&q->base, STORE_IO, "%s: pre-auth key %lld has a malformed hash", q->label,
                          (long long)k->id);
    k->user_id = val_int(r, i, 3);
    k->reusable = val_bool(r, i, 4);
    k->ephemeral = val_bool(r, i, 5);
    k->revoked = val_bool(r, i, 6);
    k->expiration = val_int(r, i, 7);
    if (model_strlist_from_json(&k->tags, val(r, i, 8)) < 0)
        return store_fail(&q->base, STORE_IO, "%s: pre-auth key %lld has malformed tags", q->label,
                          (long long)k->id);
    k->used_count = val_int(r, i, 9);
    k->created = val_int(r, i, 10);
    t = val(r, i, 11);
    model_strlcpy(k->description, t ? t : "", sizeof k->description);
    return STORE_OK;
}

static int pg_authkey_create(struct store *s, struct model_authkey *k)
{
    struct pg_store *q = PG(s);
    char *tags = model_strlist_to_json(&k->tags);
    if (!tags)
        return store_fail(s, STORE_IO, "pre-auth key: out of memory");
    if (!k->created)
        k->created = pg_now();
    char h[65];
    hex(h, k->hash, 32);
    struct pg_args a = {0};
    a.v[0] = k->prefix;
    a.v[1] = h;
    arg_int(&a, 2, k->user_id);
    arg_bool(&a, 3, k->reusable);
    arg_bool(&a, 4, k->ephemeral);
    arg_bool(&a, 5, k->revoked);
    arg_int(&a, 6, k->expiration);
    a.v[7] = tags;
    arg_int(&a, 8, k->used_count);
    arg_int(&a, 9, k->created);
    a.v[10] = k->description;
    arg_int(&a, 11, q->base.keep_ids ? k->id : 0);
    PGresult *r;
    int rc = pg_query(q, Q_KEY_INSERT, a.v, &r, "create pre-auth key");
    free(tags);
    if (rc == STORE_INVALID)
        return store_fail(s, STORE_INVALID, "pre-auth key: no user with id %lld", (long long)k->user_id);
    if (rc != STORE_OK)
        return rc;
    bool given = q->base.keep_ids && k->id != 0;
    k->id = val_int(r, 0, 0);
    PQclear(r);
    return given ? seq_past(q, Q_SEQ_KEYS) : STORE_OK;
}

static int key_get(struct pg_store *q, enum pg_q id, const char *arg, struct model_authkey *out)
{
    const char *v[1] = {arg};
    PGresult *r;
    int rc = pg_query(q, id, v, &r, "get pre-auth key");
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 1)
        rc = row_key(q, r, 0, out);
    else
        rc = store_fail(&q->base, STORE_NOTFOUND, "no such pre-auth key");
    PQclear(r);
    return rc;
}

static int pg_authkey_get_by_id(struct store *s, int64_t id, struct model_authkey *out)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)id);
    return key_get(PG(s), Q_KEY_BY_ID, b, out);
}

static int pg_authkey_get_by_hash(struct store *s, const uint8_t hash[32], struct model_authkey *out)
{
    char h[65];
    hex(h, hash, 32);
    return key_get(PG(s), Q_KEY_BY_HASH, h, out);
}

static int pg_authkey_list(struct store *s, struct model_authkey **out, size_t *n)
{
    struct pg_store *q = PG(s);
    *out = NULL;
    *n = 0;
    PGresult *r;
    int rc = pg_query(q, Q_KEY_LIST, NULL, &r, "list pre-auth keys");
    if (rc != STORE_OK)
        return rc;
    int cnt = PQntuples(r);
    struct model_authkey *v = calloc(cnt ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return store_fail(s, STORE_IO, "list pre-auth keys: out of memory");
    }
    int i = 0;
    for (; i < cnt && rc == STORE_OK; i++)
        rc = row_key(q, r, i, &v[i]);
    PQclear(r);
    if (rc != STORE_OK) {
        model_authkeys_free(v, (size_t)i);
        return rc;
    }
    *out = v;
    *n = (size_t)cnt;
    return STORE_OK;
}

static int key_update(struct store *s, enum pg_q id, int64_t key_id, int64_t arg, const char *what)
{
    struct pg_args a = {0};
    arg_int(&a, 0, key_id);
    arg_int(&a, 1, arg);
    PGresult *r;
    int rc = pg_query(PG(s), id, a.v, &r, what);
    if (rc != STORE_OK)
        return rc;
    if (affected(r) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "no pre-auth key with id %lld", (long long)key_id);
    PQclear(r);
    return rc;
}

static int pg_authkey_mark_used(struct store *s, int64_t id)
{
    return key_update(s, Q_KEY_MARK_USED, id, 0, "mark pre-auth key used");
}

static int pg_authkey_expire(struct store *s, int64_t id, int64_t when)
{
    return key_update(s, Q_KEY_EXPIRE, id, when, "expire pre-auth key");
}

static int pg_authkey_revoke(struct store *s, int64_t id)
{
    return key_update(s, Q_KEY_REVOKE, id, 0, "revoke pre-auth key");
}

/* ---- REST API credentials ---- */

static int row_cred(struct pg_store *q, const PGresult *r, int i, struct model_cred *c)
{
    memset(c, 0, sizeof *c);
    c->id = val_int(r, i, 0);
    c->kind = (int)val_int(r, i, 1);
    const char *t = val(r, i, 2);
    model_strlcpy(c->key_id, t ? t : "", sizeof c->key_id);
    if (unhex(c->hash, 32, val(r, i, 3)) < 0)
        return store_fail(&q->base, STORE_IO, "%s: API credential %lld has a malformed hash", q->label,
                          (long long)c->id);
    t = val(r, i, 4);
    model_strlcpy(c->description, t ? t : "", sizeof c->description);
    t = val(r, i, 5);
    model_strlcpy(c->scopes, t ? t : "", sizeof c->scopes);
    c->created = val_int(r, i, 6);
    c->expiration = val_int(r, i, 7);
    c->revoked = val_bool(r, i, 8);
    return STORE_OK;
}

static int pg_cred_create(struct store *s, struct model_cred *c)
{
    struct pg_store *q = PG(s);
    if (!c->created)
        c->created = pg_now();
    char h[65];
    hex(h, c->hash, 32);
    struct pg_args a = {0};
    arg_int(&a, 0, c->kind);
    a.v[1] = c->key_id;
    a.v[2] = h;
    a.v[3] = c->description;
    a.v[4] = c->scopes;
    arg_int(&a, 5, c->created);
    arg_int(&a, 6, c->expiration);
    arg_bool(&a, 7, c->revoked);
    PGresult *r;
    int rc = pg_query(q, Q_CRED_INSERT, a.v, &r, "create API credential");
    if (rc != STORE_OK)
        return rc;
    c->id = val_int(r, 0, 0);
    PQclear(r);
    return STORE_OK;
}

static int pg_cred_get(struct store *s, const char *key_id, struct model_cred *out)
{
    struct pg_store *q = PG(s);
    const char *v[1] = {key_id};
    PGresult *r;
    int rc = pg_query(q, Q_CRED_GET, v, &r, "get API credential");
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 1)
        rc = row_cred(q, r, 0, out);
    else
        rc = store_fail(s, STORE_NOTFOUND, "no API credential %s", key_id);
    PQclear(r);
    return rc;
}

static int pg_cred_list(struct store *s, int kind, struct model_cred **out, size_t *n)
{
    struct pg_store *q = PG(s);
    *out = NULL;
    *n = 0;
    struct pg_args a = {0};
    arg_int(&a, 0, kind);
    PGresult *r;
    int rc = pg_query(q, Q_CRED_LIST, a.v, &r, "list API credentials");
    if (rc != STORE_OK)
        return rc;
    int cnt = PQntuples(r);
    struct model_cred *v = calloc(cnt ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return store_fail(s, STORE_IO, "list API credentials: out of memory");
    }
    for (int i = 0; i < cnt && rc == STORE_OK; i++)
        rc = row_cred(q, r, i, &v[i]);
    PQclear(r);
    if (rc != STORE_OK) {
        free(v);
        return rc;
    }
    *out = v;
    *n = (size_t)cnt;
    return STORE_OK;
}

static int cred_update(struct store *s, enum pg_q id, const char *key_id, int64_t arg, const char *what)
{
    struct pg_args a = {0};
    a.v[0] = key_id;
    arg_int(&a, 1, arg);
    PGresult *r;
    int rc = pg_query(PG(s), id, a.v, &r, what);
    if (rc != STORE_OK)
        return rc;
    if (affected(r) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "no API credential %s", key_id);
    PQclear(r);
    return rc;
}

static int pg_cred_expire(struct store *s, const char *key_id, int64_t when)
{
    return cred_update(s, Q_CRED_EXPIRE, key_id, when, "expire API credential");
}

static int pg_cred_revoke(struct store *s, const char *key_id)
{
    return cred_update(s, Q_CRED_REVOKE, key_id, 0, "revoke API credential");
}

static int pg_cred_delete(struct store *s, const char *key_id)
{
    return cred_update(s, Q_CRED_DELETE, key_id, 0, "delete API credential");
}

/* ---- settings and OpenID identities ---- */

static int pg_setting_list(struct store *s, store_setting_cb cb, void *ctx)
{
    PGresult *r;
    int rc = pg_query(PG(s), Q_SETTING_LIST, NULL, &r, "read settings");
    if (rc != STORE_OK)
        return rc;
    for (int i = 0; i < PQntuples(r); i++)
        cb(ctx, val(r, i, 0), val(r, i, 1));
    PQclear(r);
    return STORE_OK;
}

static int pg_setting_set(struct store *s, const char *name, const char *value)
{
    struct pg_args a = {0};
    a.v[0] = name;
    a.v[1] = value;
    if (value)
        arg_int(&a, 2, pg_now());
    PGresult *r;
    int rc = pg_query(PG(s), value ? Q_SETTING_SET : Q_SETTING_DELETE, a.v, &r, "store setting");
    if (rc == STORE_OK)
        PQclear(r);
    return rc;
}

static int pg_identity_get(struct store *s, const char *issuer, const char *subject, int64_t *user_id)
{
    const char *v[2] = {issuer, subject};
    PGresult *r;
    int rc = pg_query(PG(s), Q_IDENTITY_GET, v, &r, "read identity");
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 1)
        *user_id = val_int(r, 0, 0);
    else
        rc = store_fail(s, STORE_NOTFOUND, "no user has that identity");
    PQclear(r);
    return rc;
}

static int pg_identity_bind(struct store *s, const char *issuer, const char *subject, int64_t user_id)
{
    struct pg_args a = {0};
    a.v[0] = issuer;
    a.v[1] = subject;
    arg_int(&a, 2, user_id);
    arg_int(&a, 3, pg_now());
    PGresult *r;
    int rc = pg_query(PG(s), Q_IDENTITY_BIND, a.v, &r, "bind identity");
    if (rc == STORE_OK)
        PQclear(r);
    return rc;
}

static int pg_identity_list(struct store *s, store_identity_cb cb, void *ctx)
{
    PGresult *r;
    int rc = pg_query(PG(s), Q_IDENTITY_LIST, NULL, &r, "list identities");
    if (rc != STORE_OK)
        return rc;
    for (int i = 0; i < PQntuples(r); i++)
        cb(ctx, val(r, i, 0), val(r, i, 1), val_int(r, i, 2));
    PQclear(r);
    return STORE_OK;
}

/* ---- pending interactive registrations ---- */

static int row_pending(struct pg_store *q, const PGresult *r, int i, struct store_pending *p)
{
    memset(p, 0, sizeof *p);
    const char *v = val(r, i, 0);
    model_strlcpy(p->id, v ? v : "", sizeof p->id);
    if (key_parse(p->machine_key, "mkey:", val(r, i, 1)) < 0 || key_parse(p->node_key, "nodekey:", val(r, i, 2)) < 0)
        return store_fail(&q->base, STORE_IO, "%s: a pending registration holds a malformed key", q->label);
    v = val(r, i, 3);
    model_strlcpy(p->hostname, v ? v : "", sizeof p->hostname);
    v = val(r, i, 4);
    model_strlcpy(p->hostinfo, v ? v : "", sizeof p->hostinfo);
    p->ephemeral = val_bool(r, i, 5);
    p->capver = (int)val_int(r, i, 6);
    p->created = val_int(r, i, 7);
    p->expires = val_int(r, i, 8);
    p->user_id = val_int(r, i, 9);
    p->node_id = val_int(r, i, 10);
    return STORE_OK;
}

static int pending_get(struct pg_store *q, enum pg_q id, const char *arg, struct store_pending *out)
{
    const char *v[1] = {arg};
    PGresult *r;
    int rc = pg_query(q, id, v, &r, "read pending registration");
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 1)
        rc = row_pending(q, r, 0, out);
    else
        rc = store_fail(&q->base, STORE_NOTFOUND, "no such pending registration");
    PQclear(r);
    return rc;
}

static int pg_pending_get(struct store *s, const char *id, struct store_pending *out)
{
    return pending_get(PG(s), Q_PENDING_GET, id, out);
}

static int pg_pending_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct store_pending *out)
{
    char k[80];
    key_text(k, "mkey:", key);
    return pending_get(PG(s), Q_PENDING_BY_MKEY, k, out);
}

/* Runs a DELETE of pending registrations (bound to one text value) and takes what it removed off the count;
 * the caller holds the pending lock. */
static int pending_remove(struct pg_store *q, enum pg_q id, const char *arg, int64_t *gone)
{
    const char *v[1] = {arg};
    PGresult *r;
    int rc = pg_query(q, id, v, &r, "remove pending registrations");
    if (rc != STORE_OK)
        return rc;
    int64_t n = affected(r);
    PQclear(r);
    if (gone)
        *gone = n;
    if (!n)
        return STORE_OK;
    struct pg_args a = {0};
    arg_int(&a, 0, -n);
    if ((rc = pg_query(q, Q_PENDING_ADD, a.v, &r, "count pending registrations")) == STORE_OK)
        PQclear(r);
    return rc;
}

static int pending_lock(struct pg_store *q)
{
    PGresult *r;
    int rc = pg_query(q, Q_PENDING_LOCK, NULL, &r, "lock pending registrations");
    if (rc == STORE_OK)
        PQclear(r);
    return rc;
}

struct pending_put {
    const struct store_pending *p;
    size_t max;
};

/* Under the lock, so that two instances cannot both take the last place under the cap. */
static int pending_put_fn(struct pg_store *q, void *arg)
{
    const struct pending_put *a = arg;
    const struct store_pending *p = a->p;
    char mk[80], nk[80], now[24];
    key_text(mk, "mkey:", p->machine_key);
    key_text(nk, "nodekey:", p->node_key);
    snprintf(now, sizeof now, "%lld", (long long)p->created);
    int rc;
    if ((rc = pending_lock(q)) != STORE_OK || (rc = pending_remove(q, Q_PENDING_EXPIRE, now, NULL)) != STORE_OK ||
        (rc = pending_remove(q, Q_PENDING_DELETE_MKEY, mk, NULL)) != STORE_OK)
        return rc;
    PGresult *r;
    if ((rc = pg_query(q, Q_PENDING_COUNT, NULL, &r, "count pending registrations")) != STORE_OK)
        return rc;
    int64_t n = PQntuples(r) ? val_int(r, 0, 0) : 0;
    PQclear(r);
    if (n >= (int64_t)a->max)
        return store_fail(&q->base, STORE_INUSE,
                          "%lld interactive registrations are waiting already (the most allowed)", (long long)n);
    struct pg_args v = {0};
    v.v[0] = p->id;
    v.v[1] = mk;
    v.v[2] = nk;
    v.v[3] = p->hostname;
    v.v[4] = p->hostinfo[0] ? p->hostinfo : NULL;
    arg_bool(&v, 5, p->ephemeral);
    arg_int(&v, 6, p->capver);
    arg_int(&v, 7, p->created);
    arg_int(&v, 8, p->expires);
    if ((rc = pg_query(q, Q_PENDING_INSERT, v.v, &r, "store pending registration")) != STORE_OK)
        return rc;
    PQclear(r);
    struct pg_args one = {0};
    arg_int(&one, 0, 1);
    if ((rc = pg_query(q, Q_PENDING_ADD, one.v, &r, "count pending registrations")) == STORE_OK)
        PQclear(r);
    return rc;
}

static int pg_pending_put(struct store *s, const struct store_pending *p, size_t max)
{
    if (!p->id[0])
        return store_fail(s, STORE_INVALID, "a pending registration needs an id");
    struct pending_put a = {p, max};
    return pg_atomically(PG(s), pending_put_fn, &a);
}

static int pg_pending_done(struct store *s, const char *id, int64_t user_id, int64_t node_id)
{
    struct pg_args a = {0};
    a.v[0] = id;
    arg_int(&a, 1, user_id);
    arg_int(&a, 2, node_id);
    PGresult *r;
    int rc = pg_query(PG(s), Q_PENDING_DONE, a.v, &r, "approve pending registration");
    if (rc != STORE_OK)
        return rc;
    if (affected(r) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "registration %s is not waiting (approved already, or gone)", id);
    PQclear(r);
    return rc;
}

struct pending_rm {
    const char *id;
    int64_t now, gone;
};

static int pending_rm_fn(struct pg_store *q, void *arg)
{
    struct pending_rm *a = arg;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)a->now);
    int rc = pending_lock(q);
    if (rc != STORE_OK)
        return rc;
    return a->id ? pending_remove(q, Q_PENDING_DELETE, a->id, &a->gone)
                 : pending_remove(q, Q_PENDING_EXPIRE, now, &a->gone);
}

static int pg_pending_delete(struct store *s, const char *id)
{
    struct pending_rm a = {id, 0, 0};
    int rc = pg_atomically(PG(s), pending_rm_fn, &a);
    if (rc == STORE_OK && !a.gone)
        rc = store_fail(s, STORE_NOTFOUND, "no pending registration %s", id);
    return rc;
}

static int pg_pending_expire(struct store *s, int64_t now, int64_t *n)
{
    struct pending_rm a = {NULL, now, 0};
    int rc = pg_atomically(PG(s), pending_rm_fn, &a);
    if (n)
        *n = rc == STORE_OK ? a.gone : 0;
    return rc;
}

/* ---- short-lived login state ---- */

/* (The kind and the data's size were checked by store.h.) */
static void login_args(struct pg_args *a, char h[65], char k[2], int kind, const uint8_t hash[32])
{
    hex(h, hash, 32);
    k[0] = (char)kind;
    k[1] = 0;
    a->v[0] = h;
    a->v[1] = k;
}

static int pg_login_put(struct store *s, int kind, const uint8_t hash[32], const char *data, int64_t expires)
{
    struct pg_args a = {0};
    char h[65], k[2];
    login_args(&a, h, k, kind, hash);
    a.v[2] = data;
    arg_int(&a, 3, expires);
    PGresult *r;
    int rc;
    if ((rc = pg_query(PG(s), Q_LOGIN_PUT, a.v, &r, "store login state")) == STORE_OK)
        PQclear(r);
    return rc;
}

static int login_read(struct store *s, enum pg_q id, int kind, const uint8_t hash[32], int64_t now,
                      char data[STORE_LOGIN_DATA_MAX + 1])
{
    struct pg_args a = {0};
    char h[65], k[2];
    data[0] = 0;
    login_args(&a, h, k, kind, hash);
    arg_int(&a, 2, now);
    PGresult *r;
    int rc;
    if ((rc = pg_query(PG(s), id, a.v, &r, "read login state")) != STORE_OK)
        return rc;
    if (PQntuples(r) == 1)
        snprintf(data, STORE_LOGIN_DATA_MAX + 1, "%s", val(r, 0, 0) ? val(r, 0, 0) : "");
    else
        rc = store_fail(s, STORE_NOTFOUND, "no such login state (unknown or expired)");
    PQclear(r);
    return rc;
}

static int pg_login_get(struct store *s, int kind, const uint8_t hash[32], int64_t now,
                        char data[STORE_LOGIN_DATA_MAX + 1])
{
    return login_read(s, Q_LOGIN_GET, kind, hash, now, data);
}

static int pg_login_take(struct store *s, int kind, const uint8_t hash[32], int64_t now,
                         char data[STORE_LOGIN_DATA_MAX + 1])
{
    return login_read(s, Q_LOGIN_TAKE, kind, hash, now, data);
}

static int pg_login_delete(struct store *s, int kind, const uint8_t hash[32])
{
    struct pg_args a = {0};
    char h[65], k[2];
    login_args(&a, h, k, kind, hash);
    PGresult *r;
    int rc;
    if ((rc = pg_query(PG(s), Q_LOGIN_DELETE, a.v, &r, "remove login state")) != STORE_OK)
        return rc;
    if (affected(r) == 0)
        rc = store_fail(s, STORE_NOTFOUND, "no such login state");
    PQclear(r);
    return rc;
}

static int pg_login_expire(struct store *s, int64_t now, int64_t *n)
{
    struct pg_args a = {0};
    arg_int(&a, 0, now);
    if (n)
        *n = 0;
    PGresult *r;
    int rc = pg_query(PG(s), Q_LOGIN_EXPIRE, a.v, &r, "remove expired login state");
    if (rc == STORE_OK) {
        if (n)
            *n = affected(r);
        PQclear(r);
    }
    return rc;
}

/* ---- the policy ---- */

static int pg_policy_get(struct store *s, char **text, size_t *len, int64_t *updated)
{
    *text = NULL;
    *len = 0;
    if (updated)
        *updated = 0;
    PGresult *r;
    int rc = pg_query(PG(s), Q_POLICY_GET, NULL, &r, "read policy");
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return store_fail(s, STORE_NOTFOUND, "no policy stored");
    }
    const char *t = PQgetvalue(r, 0, 0);
    size_t n = (size_t)PQgetlength(r, 0, 0);
    if (!(*text = malloc(n + 1))) {
        PQclear(r);
        return store_fail(s, STORE_IO, "out of memory");
    }
    memcpy(*text, t, n);
    (*text)[n] = 0;
    *len = n;
    if (updated)
        *updated = val_int(r, 0, 1);
    PQclear(r);
    return STORE_OK;
}

static int pg_policy_set(struct store *s, const char *text, size_t len)
{
    /* Parameters are NUL-terminated text: a policy with a NUL in it is refused rather than cut short. */
    if (memchr(text, 0, len))
        return store_fail(s, STORE_INVALID, "policy: the text holds a NUL byte");
    char *t = strndup(text, len);
    if (!t)
        return store_fail(s, STORE_IO, "out of memory");
    struct pg_args a = {0};
    a.v[0] = t;
    arg_int(&a, 1, pg_now());
    PGresult *r;
    int rc = pg_query(PG(s), Q_POLICY_SET, a.v, &r, "store policy");
    free(t);
    if (rc == STORE_OK)
        PQclear(r);
    return rc;
}

const struct store_ops pg_store_ops = {
    .scheme = "postgres",
    .feed = &pg_feed_ops,
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .schema_version = pg_schema_version,
    .migrate = pg_migrate,
    .user_create = pg_user_create,
    .user_get_by_id = pg_user_get_by_id,
    .user_get_by_name = pg_user_get_by_name,
    .user_list = pg_user_list,
    .user_rename = pg_user_rename,
    .user_delete = pg_user_delete,
    .node_insert = pg_node_insert,
    .node_update = pg_node_update,
    .node_get_by_id = pg_node_get_by_id,
    .node_get_by_node_key = pg_node_get_by_node_key,
    .node_get_by_machine_key = pg_node_get_by_machine_key,
    .node_get_by_given_name = pg_node_get_by_given_name,
    .node_list = pg_node_list,
    .node_list_by_user = pg_node_list_by_user,
    .node_delete = pg_node_delete,
    .node_set_last_seen = pg_node_set_last_seen,
    .addrs_in_use = pg_addrs_in_use,
    .authkey_create = pg_authkey_create,
    .authkey_get_by_id = pg_authkey_get_by_id,
    .authkey_get_by_hash = pg_authkey_get_by_hash,
    .authkey_list = pg_authkey_list,
    .authkey_mark_used = pg_authkey_mark_used,
    .authkey_expire = pg_authkey_expire,
    .authkey_revoke = pg_authkey_revoke,
    .cred_create = pg_cred_create,
    .cred_get = pg_cred_get,
    .cred_list = pg_cred_list,
    .cred_expire = pg_cred_expire,
    .cred_revoke = pg_cred_revoke,
    .cred_delete = pg_cred_delete,
    .policy_get = pg_policy_get,
    .policy_set = pg_policy_set,
    .setting_list = pg_setting_list,
    .setting_set = pg_setting_set,
    .identity_get = pg_identity_get,
    .identity_bind = pg_identity_bind,
    .identity_list = pg_identity_list,
    .pending_put = pg_pending_put,
    .pending_get = pg_pending_get,
    .pending_get_by_machine_key = pg_pending_get_by_machine_key,
    .pending_done = pg_pending_done,
    .pending_delete = pg_pending_delete,
    .pending_expire = pg_pending_expire,
    .login_put = pg_login_put,
    .login_get = pg_login_get,
    .login_take = pg_login_take,
    .login_delete = pg_login_delete,
    .login_expire = pg_login_expire,
};

const struct store_ops *store_postgres_ops(void) { return &pg_store_ops; }
