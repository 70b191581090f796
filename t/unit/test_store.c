// SPDX-License-Identifier: BSD-3-Clause
/* The control store on a real SQLite file, or on a real PostgreSQL server when WEFT_TEST_PG_DSN is set
 * (t/store_postgres_unit.t): CRUD round trips, transactions, user deletion rules, schema migration from
 * version 1, refusal of a newer schema, kill -9 durability, 10,000-node timing; on PostgreSQL also the same
 * tables and columns as SQLite at the latest schema, and surviving a dropped connection. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "modules/control/ipalloc.h"
#include "modules/control/model.h"
#include "modules/control/store.h"
#include "t/tap.h"
#include "t/unit/store_backend.h"

static char dir[256];

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A node whose keys, name and addresses are all derived from i (unique per i). */
static void fill_node(struct model_node *n, int64_t user_id, uint32_t i)
{
    memset(n, 0, sizeof(*n));
    n->user_id = user_id;
    for (int b = 0; b < 32; b++) {
        n->machine_key[b] = (uint8_t)(0xA0 + b);
        n->node_key[b] = (uint8_t)(0x10 + b);
    }
    memcpy(n->machine_key, &i, 4);
    memcpy(n->node_key, &i, 4);
    snprintf(n->hostname, sizeof(n->hostname), "Host %u", i);
    snprintf(n->given_name, sizeof(n->given_name), "host-%u", i);
    n->has_ipv4 = n->has_ipv6 = true;
    uint8_t v4[4] = {100, (uint8_t)(96 + (i >> 16 & 31)), (uint8_t)(i >> 8), (uint8_t)i};
    memcpy(n->ipv4, v4, 4);
    uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
    v6[11] = 1;
    v6[12] = (uint8_t)(i >> 24), v6[13] = (uint8_t)(i >> 16), v6[14] = (uint8_t)(i >> 8), v6[15] = (uint8_t)i;
    memcpy(n->ipv6, v6, 16);
}

static int node_equal(const struct model_node *a, const struct model_node *b)
{
    if (a->id != b->id || strcmp(a->stable_id, b->stable_id) || a->user_id != b->user_id ||
        memcmp(a->machine_key, b->machine_key, 32) || memcmp(a->node_key, b->node_key, 32) ||
        memcmp(a->disco_key, b->disco_key, 32) || strcmp(a->hostname, b->hostname) ||
        strcmp(a->given_name, b->given_name) || a->has_ipv4 != b->has_ipv4 || a->has_ipv6 != b->has_ipv6 ||
        (a->has_ipv4 && memcmp(a->ipv4, b->ipv4, 4)) || (a->has_ipv6 && memcmp(a->ipv6, b->ipv6, 16)) ||
        a->home_derp != b->home_derp || a->capver != b->capver || a->expiry != b->expiry ||
        a->created != b->created || a->last_seen != b->last_seen || a->ephemeral != b->ephemeral ||
        a->authkey_id != b->authkey_id || a->endpoints.n != b->endpoints.n || a->tags.n != b->tags.n)
        return 0;
    if ((a->hostinfo == NULL) != (b->hostinfo == NULL) || (a->hostinfo && strcmp(a->hostinfo, b->hostinfo)))
        return 0;
    for (size_t i = 0; i < a->endpoints.n; i++)
        if (strcmp(a->endpoints.v[i], b->endpoints.v[i]))
            return 0;
    for (size_t i = 0; i < a->tags.n; i++)
        if (strcmp(a->tags.v[i], b->tags.v[i]))
            return 0;
    return 1;
}

static struct store *open_db(const char *name, bool migrate)
{
    char p[1024], err[STORE_ERR_MAX];
    tb_dsn(dir, name, p, sizeof p);
    struct store *s = store_open(p, migrate, err, sizeof(err));
    if (!s)
        diag("open %s: %s", p, err);
    return s;
}

static void test_open_and_users(void)
{
    struct store *s = open_db("crud.db", true);
    ok(s != NULL, "open + migrate a new database");
    if (!s)
        exit(1);
    int cur = -1, latest = -1;
    is_int(store_schema_version(s, &cur, &latest), STORE_OK, "schema_version");
    is_int(cur, latest, "new database is at the latest schema");
    ok(latest >= 2, "at least two migrations exist (the upgrade path is exercised)");

    struct model_user a = {0}, b = {0}, g = {0};
    strcpy(a.name, "alice@example.com");
    strcpy(a.display_name, "Alice");
    strcpy(b.name, "bob");
    is_int(store_user_create(s, &a), STORE_OK, "create alice");
    ok(a.id > 0 && a.created > 0, "id and created assigned");
    is_int(store_user_create(s, &b), STORE_OK, "create bob");
    ok(b.id > a.id, "ids increase");
    struct model_user dup = {0};
    strcpy(dup.name, "alice@example.com");
    is_int(store_user_create(s, &dup), STORE_CONFLICT, "duplicate user name: conflict");
    ok(strstr(store_errmsg(s), "already exists") != NULL, "conflict message: %s", store_errmsg(s));
    struct model_user empty = {0};
    is_int(store_user_create(s, &empty), STORE_INVALID, "empty user name refused");

    is_int(store_user_get_by_name(s, "alice@example.com", &g), STORE_OK, "get by name");
    ok(g.id == a.id && !strcmp(g.display_name, "Alice") && g.created == a.created, "fields round-trip");
    is_int(store_user_get_by_id(s, b.id, &g), STORE_OK, "get by id");
    is_str(g.name, "bob", "name by id");
    is_int(store_user_get_by_id(s, 9999, &g), STORE_NOTFOUND, "missing id: not found");
    is_int(store_user_get_by_name(s, "nobody", &g), STORE_NOTFOUND, "missing name: not found");

    is_int(store_user_rename(s, b.id, "carol"), STORE_OK, "rename bob -> carol");
    is_int(store_user_get_by_id(s, b.id, &g), STORE_OK, "get renamed");
    is_str(g.name, "carol", "new name stored");
    is_int(store_user_rename(s, b.id, "alice@example.com"), STORE_CONFLICT, "rename onto a taken name");
    is_int(store_user_rename(s, 9999, "x"), STORE_NOTFOUND, "rename a missing user");

    struct model_user *list;
    size_t n;
    is_int(store_user_list(s, &list, &n), STORE_OK, "list users");
    ok(n == 2 && list[0].id == a.id && list[1].id == b.id, "two users, by id");
    free(list);
    store_close(s);
}

static void test_nodes(void)
{
    struct store *s = open_db("crud.db", true);
    struct model_user alice, carol;
    store_user_get_by_name(s, "alice@example.com", &alice);
    store_user_get_by_name(s, "carol", &carol);

    struct model_node n = {0}, g, h;
    /* Keys from the spec's worked examples (keys.md, RFC 7748 "alice"/"bob" public keys). */
    unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", n.machine_key, 32);
    unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", n.node_key, 32);
    memset(n.disco_key, 0x42, 32);
    n.user_id = alice.id;
    strcpy(n.hostname, "Alice's \"Laptop\" ünïcode");
    strcpy(n.given_name, "alices-laptop");
    n.has_ipv4 = n.has_ipv6 = true;
    uint8_t v4[4] = {100, 64, 0, 1};
    uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    memcpy(n.ipv4, v4, 4);
    memcpy(n.ipv6, v6, 16);
    model_strlist_add(&n.endpoints, "192.0.2.1:41641");
    model_strlist_add(&n.endpoints, "[2001:db8::1]:41641");
    model_strlist_add(&n.tags, "tag:server");
    n.hostinfo = strdup(
        "{\"Hostname\":\"Alice's \\\"Laptop\\\"\",\"OS\":\"linux\",\"NetInfo\":{\"PreferredDERP\":999}}");
    n.home_derp = 999;
    n.capver = 145;
    n.expiry = 1900000000;
    n.last_seen = 1700000000;
    n.ephemeral = true;
    n.online = true;
    is_int(store_node_insert(s, &n), STORE_OK, "insert node");
    ok(n.id > 0, "node id assigned (%lld)", (long long)n.id);
    ok(strlen(n.stable_id) == 18 && n.stable_id[0] == 'n' && !strcmp(n.stable_id + 13, "CNTRL"),
       "stable id assigned: %s", n.stable_id);
    ok(n.created > 0, "created set");

    is_int(store_node_get_by_id(s, n.id, &g), STORE_OK, "get by id");
    n.online = false; /* runtime only: not stored */
    ok(node_equal(&n, &g), "every field round-trips (by id)");
    ok(!g.online, "online is not stored");
    model_node_clear(&g);
    is_int(store_node_get_by_node_key(s, n.node_key, &g), STORE_OK, "get by node key");
    ok(node_equal(&n, &g), "same node by node key");
    model_node_clear(&g);
    is_int(store_node_get_by_machine_key(s, n.machine_key, &g), STORE_OK, "get by machine key");
    ok(node_equal(&n, &g), "same node by machine key");
    model_node_clear(&g);
    is_int(store_node_get_by_given_name(s, "alices-laptop", &g), STORE_OK, "get by given name");
    model_node_clear(&g);

    /* Conflicts on every unique column. */
    fill_node(&h, carol.id, 1);
    memcpy(h.machine_key, n.machine_key, 32);
    is_int(store_node_insert(s, &h), STORE_CONFLICT, "same machine key: conflict");
    ok(strstr(store_errmsg(s), "machine key") != NULL, "message names it: %s", store_errmsg(s));
    fill_node(&h, carol.id, 1);
    memcpy(h.node_key, n.node_key, 32);
    is_int(store_node_insert(s, &h), STORE_CONFLICT, "same node key: conflict");
    fill_node(&h, carol.id, 1);
    strcpy(h.given_name, "alices-laptop");
    is_int(store_node_insert(s, &h), STORE_CONFLICT, "same given name: conflict");
    ok(strstr(store_errmsg(s), "name") != NULL, "message names it: %s", store_errmsg(s));
    fill_node(&h, carol.id, 1);
    memcpy(h.ipv4, v4, 4);
    is_int(store_node_insert(s, &h), STORE_CONFLICT, "same IPv4: conflict");
    ok(strstr(store_errmsg(s), "IPv4") != NULL, "message names it: %s", store_errmsg(s));
    fill_node(&h, carol.id, 1);
    memcpy(h.ipv6, v6, 16);
    is_int(store_node_insert(s, &h), STORE_CONFLICT, "same IPv6: conflict");
    ok(h.stable_id[0] == 0 && h.id == 0, "failed insert leaves no id behind");
    fill_node(&h, 777, 1);
    is_int(store_node_insert(s, &h), STORE_INVALID, "node of a missing user refused (foreign key)");

    fill_node(&h, carol.id, 2);
    h.has_ipv6 = false; /* an IPv4-only node (NULLs do not collide) */
    is_int(store_node_insert(s, &h), STORE_OK, "insert carol's node");
    struct model_node h2;
    fill_node(&h2, carol.id, 3);
    h2.has_ipv6 = false;
    is_int(store_node_insert(s, &h2), STORE_OK, "second IPv6-less node");

    /* Key rotation: update the node key and endpoints, keep id/name/addresses. */
    uint8_t newkey[32];
    memset(newkey, 0x77, 32);
    uint8_t oldkey[32];
    memcpy(oldkey, n.node_key, 32);
    memcpy(n.node_key, newkey, 32);
    model_strlist_free(&n.endpoints);
    model_strlist_add(&n.endpoints, "198.51.100.7:1234");
    memset(n.disco_key, 0, 32);
    n.expiry = 0;
    n.last_seen = 1700000100;
    is_int(store_node_update(s, &n), STORE_OK, "update (key rotation)");
    is_int(store_node_get_by_node_key(s, oldkey, &g), STORE_NOTFOUND, "old node key gone");
    is_int(store_node_get_by_node_key(s, newkey, &g), STORE_OK, "new node key found");
    ok(node_equal(&n, &g), "updated fields round-trip (zero disco key, one endpoint)");
    model_node_clear(&g);
    struct model_node ghost;
    fill_node(&ghost, carol.id, 50);
    ghost.id = 12345;
    is_int(store_node_update(s, &ghost), STORE_NOTFOUND, "update of a missing node");
    strcpy(h2.given_name, "alices-laptop");
    is_int(store_node_update(s, &h2), STORE_CONFLICT, "update onto a taken name");

    is_int(store_node_set_last_seen(s, h.id, 1234567), STORE_OK, "set last seen");
    store_node_get_by_id(s, h.id, &g);
    is_int(g.last_seen, 1234567, "last seen stored");
    model_node_clear(&g);

    struct model_node *list;
    size_t cnt;
    is_int(store_node_list(s, &list, &cnt), STORE_OK, "list nodes");
    ok(cnt == 3 && list[0].id == n.id && list[1].id == h.id && list[2].id == h2.id, "three nodes, by id");
    model_nodes_free(list, cnt);
    is_int(store_node_list_by_user(s, carol.id, &list, &cnt), STORE_OK, "list carol's nodes");
    ok(cnt == 2 && list[0].user_id == carol.id && list[1].user_id == carol.id, "two, both carol's");
    model_nodes_free(list, cnt);

    /* Addresses in use feed the allocator. */
    char err[160];
    struct ipalloc *ia = ipalloc_new(IPALLOC_DEFAULT_V4, IPALLOC_DEFAULT_V6, err, sizeof(err));
    is_int(store_addrs_in_use(s, ipalloc_load_cb, ia), STORE_OK, "addrs_in_use");
    ok(ipalloc_held(ia, 4) == 3 && ipalloc_held(ia, 6) == 1, "allocator holds 3 IPv4 + 1 IPv6");
    ok(ipalloc_is_held(ia, 4, v4) && ipalloc_is_held(ia, 6, v6), "alice's addresses are held");
    ipalloc_free(ia);

    is_int(store_node_delete(s, h2.id), STORE_OK, "delete node");
    is_int(store_node_get_by_id(s, h2.id, &g), STORE_NOTFOUND, "deleted node is gone");
    is_int(store_node_delete(s, h2.id), STORE_NOTFOUND, "delete again: not found");
    /* Node IDs are never reused (AUTOINCREMENT). */
    fill_node(&h2, carol.id, 4);
    store_node_insert(s, &h2);
    ok(h2.id > h.id + 1, "a new node does not reuse a deleted node's id (%lld)", (long long)h2.id);

    model_node_clear(&n);
    model_node_clear(&h);
    model_node_clear(&h2);
    store_close(s);
}

static void test_authkeys_and_user_delete(void)
{
    struct store *s = open_db("crud.db", true);
    struct model_user alice, carol;
    store_user_get_by_name(s, "alice@example.com", &alice);
    store_user_get_by_name(s, "carol", &carol);

    struct model_authkey k = {0}, g;
    strcpy(k.prefix, "weft-auth-00112233");
    memset(k.hash, 0xAB, 32);
    k.user_id = carol.id;
    k.reusable = false;
    k.ephemeral = true;
    k.expiration = 2000000000;
    model_strlist_add(&k.tags, "tag:ci");
    model_strlist_add(&k.tags, "tag:prod");
    is_int(store_authkey_create(s, &k), STORE_OK, "create pre-auth key");
    ok(k.id > 0 && k.created > 0, "id and created assigned");
    is_int(store_authkey_get_by_hash(s, k.hash, &g), STORE_OK, "get by hash");
    ok(g.id == k.id && !strcmp(g.prefix, k.prefix) && g.user_id == carol.id && !g.reusable && g.ephemeral &&
       !g.revoked && g.expiration == 2000000000 && g.used_count == 0 && g.created == k.created &&
       g.tags.n == 2 && !strcmp(g.tags.v[1], "tag:prod"), "every field round-trips");
    model_authkey_clear(&g);
    struct model_authkey d = k;
    d.tags = (struct model_strlist){0};
    is_int(store_authkey_create(s, &d), STORE_CONFLICT, "same hash twice: conflict");
    memset(d.hash, 0xCD, 32);
    d.user_id = 4242;
    is_int(store_authkey_create(s, &d), STORE_INVALID, "key for a missing user refused");

    is_int(store_authkey_mark_used(s, k.id), STORE_OK, "mark used");
    is_int(store_authkey_mark_used(s, k.id), STORE_OK, "mark used again");
    is_int(store_authkey_expire(s, k.id, 1600000000), STORE_OK, "expire");
    is_int(store_authkey_revoke(s, k.id), STORE_OK, "revoke");
    is_int(store_authkey_get_by_id(s, k.id, &g), STORE_OK, "get by id");
    ok(g.used_count == 2 && g.expiration == 1600000000 && g.revoked, "used twice, expired, revoked");
    model_authkey_clear(&g);
    is_int(store_authkey_mark_used(s, 999), STORE_NOTFOUND, "mark a missing key");
    uint8_t nohash[32] = {0};
    is_int(store_authkey_get_by_hash(s, nohash, &g), STORE_NOTFOUND, "unknown hash: not found");

    struct model_authkey *keys;
    size_t nk;
    is_int(store_authkey_list(s, &keys, &nk), STORE_OK, "list keys");
    ok(nk == 1 && keys[0].id == k.id, "one key");
    model_authkeys_free(keys, nk);

    /* A node registered with the key references it. */
    struct model_node n;
    fill_node(&n, carol.id, 90);
    n.authkey_id = k.id;
    is_int(store_node_insert(s, &n), STORE_OK, "node with authkey_id");
    model_node_clear(&n);

    /* Deleting users: refused while they own nodes or keys, unless forced. */
    is_int(store_user_delete(s, carol.id, false), STORE_INUSE, "delete a user with nodes: refused");
    ok(strstr(store_errmsg(s), "node(s)") != NULL, "message says why: %s", store_errmsg(s));
    struct model_user u;
    is_int(store_user_get_by_id(s, carol.id, &u), STORE_OK, "refused deletion left the user");
    is_int(store_user_delete(s, carol.id, true), STORE_OK, "forced deletion");
    is_int(store_user_get_by_id(s, carol.id, &u), STORE_NOTFOUND, "user gone");
    struct model_node *list;
    size_t cnt;
    store_node_list_by_user(s, carol.id, &list, &cnt);
    is_int((long long)cnt, 0, "her nodes are gone");
    model_nodes_free(list, cnt);
    is_int(store_authkey_get_by_id(s, k.id, &g), STORE_NOTFOUND, "her keys are gone");
    is_int(store_user_delete(s, carol.id, false), STORE_NOTFOUND, "delete a missing user");
    struct model_user e = {0};
    strcpy(e.name, "empty");
    store_user_create(s, &e);
    is_int(store_user_delete(s, e.id, false), STORE_OK, "a user without nodes is deleted without force");
    model_authkey_clear(&k);
    store_close(s);
}

static void test_transactions(void)
{
    struct store *s = open_db("crud.db", true);
    struct model_user alice;
    store_user_get_by_name(s, "alice@example.com", &alice);
    struct model_node n, g;

    is_int(store_begin(s), STORE_OK, "begin");
    is_int(store_begin(s), STORE_INVALID, "nested begin refused");
    fill_node(&n, alice.id, 100);
    is_int(store_node_insert(s, &n), STORE_OK, "insert inside the transaction");
    is_int(store_rollback(s), STORE_OK, "rollback");
    is_int(store_node_get_by_node_key(s, n.node_key, &g), STORE_NOTFOUND, "rolled-back insert is gone");

    store_begin(s);
    fill_node(&n, alice.id, 101);
    store_node_insert(s, &n);
    struct model_user u = {0};
    strcpy(u.name, "dave");
    store_user_create(s, &u);
    is_int(store_commit(s), STORE_OK, "commit");
    is_int(store_commit(s), STORE_INVALID, "commit without a transaction refused");
    is_int(store_node_get_by_node_key(s, n.node_key, &g), STORE_OK, "committed insert is there");
    model_node_clear(&g);

    /* A forced user deletion inside a caller's transaction joins it (savepoint) and rolls back with it. */
    fill_node(&n, u.id, 102);
    store_node_insert(s, &n);
    store_begin(s);
    is_int(store_user_delete(s, u.id, true), STORE_OK, "forced delete inside a transaction");
    store_rollback(s);
    is_int(store_user_get_by_id(s, u.id, &u), STORE_OK, "rolled back with the transaction");
    is_int(store_node_get_by_id(s, n.id, &g), STORE_OK, "and so was the node deletion");
    model_node_clear(&g);

    /* An outside reader (an admin's sqlite3 shell or psql, a backup) in the middle of a read transaction does
     * not block the store's writes: WAL readers never take the write lock, PostgreSQL readers see a snapshot. */
    if (!tb_pg()) {
        char rp[512];
        path_in(rp, sizeof(rp), "crud.db");
        sqlite3 *rdb;
        sqlite3_open(rp, &rdb);
        sqlite3_stmt *rst;
        sqlite3_exec(rdb, "BEGIN", NULL, NULL, NULL);
        if (sqlite3_prepare_v2(rdb, "SELECT count(*) FROM nodes", -1, &rst, NULL) != SQLITE_OK)
            diag("prepare: %s", sqlite3_errmsg(rdb));
        sqlite3_step(rst);
        int before = sqlite3_column_int(rst, 0);
        sqlite3_reset(rst);
        fill_node(&n, alice.id, 103);
        is_int(store_node_insert(s, &n), STORE_OK, "write while an outside reader holds a read transaction");
        sqlite3_step(rst);
        is_int(sqlite3_column_int(rst, 0), before, "the reader keeps its snapshot");
        sqlite3_finalize(rst);
        sqlite3_exec(rdb, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(rdb);
    } else {
#ifdef HAVE_PQ
        char rd[1024];
        tb_pg_dsn("t_crud_db", rd, sizeof rd);
        PGconn *rc = PQconnectdb(rd);
        PGresult *r = PQexec(rc, "BEGIN ISOLATION LEVEL REPEATABLE READ");
        PQclear(r);
        r = PQexec(rc, "SELECT count(*) FROM nodes");
        int before = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        fill_node(&n, alice.id, 103);
        is_int(store_node_insert(s, &n), STORE_OK, "write while an outside reader holds a read transaction");
        r = PQexec(rc, "SELECT count(*) FROM nodes");
        is_int(PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -2, before,
               "the reader keeps its snapshot");
        PQclear(r);
        PQfinish(rc);
#endif
    }
    store_node_delete(s, n.id);

    store_close(s);

    /* Everything above survives close and reopen. */
    s = open_db("crud.db", false);
    struct model_node *list;
    size_t cnt;
    store_node_list(s, &list, &cnt);
    is_int((long long)cnt, 3, "three nodes after reopen (alice's, 101, dave's)");
    model_nodes_free(list, cnt);
    store_close(s);

    if (tb_pg())
        return;
    char p[512];
    path_in(p, sizeof(p), "crud.db");
    sqlite3 *db;
    sqlite3_open(p, &db);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    sqlite3_step(st);
    is_str((const char *)sqlite3_column_text(st, 0), "wal", "database is in WAL mode");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int raw_exec_sqlite(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    int r = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (r != SQLITE_OK)
        diag("sql: %s", msg);
    sqlite3_free(msg);
    sqlite3_close(db);
    return r == SQLITE_OK ? 0 : -1;
}

/* SQL on the store named `name`, in the backend's dialect. */
static int raw_exec(const char *name, const char *sqlite_sql, const char *pg_sql)
{
#ifdef HAVE_PQ
    if (tb_pg()) {
        char db[64];
        snprintf(db, sizeof db, "t_%s", name);
        for (char *c = db; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
                *c = '_';
        return tb_pg_exec(db, pg_sql);
    }
#endif
    (void)pg_sql;
    char p[512];
    path_in(p, sizeof p, name);
    return raw_exec_sqlite(p, sqlite_sql);
}

static void test_migration_from_v1(void)
{
    char p[1024], bak[1100], err[STORE_ERR_MAX];
    tb_dsn(dir, "v1.db", p, sizeof p);
    struct store *s = store_open(p, false, err, sizeof(err));
    ok(s != NULL, "open an empty database without migrating");
    is_int(store_migrate(s, 1), STORE_OK, "apply only migration 1");
    int cur, latest;
    store_schema_version(s, &cur, &latest);
    is_int(cur, 1, "database is at schema 1");
    store_close(s);

    /* Data written the way a schema-1 weft wrote it (raw SQL: no column of later schemas). */
    ok(raw_exec("v1.db",
                "INSERT INTO users (id, name, display_name, created) VALUES (7, 'old@example.com', 'Old', "
                "1600000000);"
                "INSERT INTO preauth_keys (id, prefix, hash, user_id, reusable, tags, used_count, created) "
                "VALUES (3, 'weft-auth-deadbeef', x'"
                "1111111111111111111111111111111111111111111111111111111111111111"
                "', 7, 1, '[\"tag:old\"]', 5, 1600000001);"
                "INSERT INTO nodes (id, stable_id, user_id, machine_key, node_key, disco_key, hostname, "
                "given_name, "
                "ipv4, ipv6, endpoints, hostinfo, home_derp, expiry, created, last_seen, ephemeral, tags, "
                "authkey_id) "
                "VALUES (41, 'nOLD000000000CNTRL', 7, "
                "'mkey:8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', "
                "'nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', '', 'oldbox', "
                "'oldbox', '100.64.0.9', 'fd7a:115c:a1e0::9', '[\"192.0.2.9:41641\"]', "
                "'{\"OS\":\"linux\"}', 999, "
                "0, 1600000002, 1600000003, 0, '[]', 3);",
                "INSERT INTO users (id, name, display_name, created) VALUES (7, 'old@example.com', 'Old', "
                "1600000000);"
                "INSERT INTO preauth_keys (id, prefix, hash, user_id, reusable, tags, used_count, created) "
                "VALUES (3, 'weft-auth-deadbeef', decode('"
                "1111111111111111111111111111111111111111111111111111111111111111"
                "', 'hex'), 7, true, '[\"tag:old\"]', 5, 1600000001);"
                "INSERT INTO nodes (id, stable_id, user_id, machine_key, node_key, disco_key, hostname, "
                "given_name, "
                "ipv4, ipv6, endpoints, hostinfo, home_derp, expiry, created, last_seen, ephemeral, tags, "
                "authkey_id) "
                "VALUES (41, 'nOLD000000000CNTRL', 7, "
                "'mkey:8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', "
                "'nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', '', 'oldbox', "
                "'oldbox', '100.64.0.9', 'fd7a:115c:a1e0::9', '[\"192.0.2.9:41641\"]', "
                "'{\"OS\":\"linux\"}', 999, "
                "0, 1600000002, 1600000003, false, '[]', 3);"
                /* as a schema-1 weft's inserts would have left the id sequences */
                "SELECT setval(pg_get_serial_sequence('users', 'id'), 7);"
                "SELECT setval(pg_get_serial_sequence('preauth_keys', 'id'), 3);"
                "SELECT setval(pg_get_serial_sequence('nodes', 'id'), 41);") == 0,
       "insert a user, a key and a node into the schema-1 database");

    s = store_open(p, true, err, sizeof(err));
    ok(s != NULL, "open with the full store (migrates)");
    if (!s) {
        diag("%s", err);
        return;
    }
    store_schema_version(s, &cur, &latest);
    is_int(cur, latest, "upgraded to the latest schema");
    struct model_node n;
    uint8_t nk[32];
    unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", nk, 32);
    is_int(store_node_get_by_node_key(s, nk, &n), STORE_OK, "old node found by its key after the upgrade");
    ok(n.id == 41 && n.user_id == 7 && !strcmp(n.stable_id, "nOLD000000000CNTRL") &&
       !strcmp(n.given_name, "oldbox") && n.has_ipv4 && n.ipv4[3] == 9 && n.has_ipv6 && n.ipv6[15] == 9 &&
       n.endpoints.n == 1 && !strcmp(n.endpoints.v[0], "192.0.2.9:41641") && n.home_derp == 999 &&
       n.created == 1600000002 && n.last_seen == 1600000003 && n.authkey_id == 3 &&
       n.hostinfo && !strcmp(n.hostinfo, "{\"OS\":\"linux\"}"), "old node's fields kept");
    is_int(n.capver, 0, "new column (capver) has its default");
    n.capver = 130;
    is_int(store_node_update(s, &n), STORE_OK, "the new column can be written");
    model_node_clear(&n);
    struct model_user u;
    is_int(store_user_get_by_id(s, 7, &u), STORE_OK, "old user kept");
    is_str(u.name, "old@example.com", "old user's name");
    struct model_authkey k;
    is_int(store_authkey_get_by_id(s, 3, &k), STORE_OK, "old key kept");
    ok(k.used_count == 5 && k.reusable && k.tags.n == 1, "old key's fields kept");
    model_authkey_clear(&k);
    struct model_node *list;
    size_t cnt;
    is_int(store_node_list_by_user(s, 7, &list, &cnt), STORE_OK, "list by user uses the new index");
    is_int((long long)cnt, 1, "one node");
    model_nodes_free(list, cnt);
    /* Rows written with explicit ids (as schema 1 or weft db migrate wrote them) do not block new ones. */
    struct model_user nu = {0};
    strcpy(nu.name, "after-upgrade");
    is_int(store_user_create(s, &nu), STORE_OK, "a new user after rows with explicit ids");
    ok(nu.id > 7, "gets a fresh id (%lld)", (long long)nu.id);
    /* Copying a database (weft db migrate) keeps ids; inserts after the copy get ids above them. */
    s->keep_ids = true;
    struct model_user ku = {0};
    ku.id = 500;
    strcpy(ku.name, "kept-id");
    is_int(store_user_create(s, &ku), STORE_OK, "keep_ids: insert with a given id");
    is_int(ku.id, 500, "the id is kept");
    s->keep_ids = false;
    struct model_user nx = {0};
    nx.id = 3; /* ignored without keep_ids */
    strcpy(nx.name, "next-id");
    is_int(store_user_create(s, &nx), STORE_OK, "a regular insert after it");
    ok(nx.id > 500, "gets an id above the kept one (%lld)", (long long)nx.id);
    store_close(s);
    if (tb_pg()) {
#ifdef HAVE_PQ
        ok(raw_exec("v1.db", "", "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = "
                                 "'nodes_user_id') THEN RAISE 'missing'; END IF; END $$") == 0,
           "migration 2's index exists");
#endif
        return;
    }
    snprintf(bak, sizeof(bak), "%s.schema-1.bak", p);
    ok(access(bak, F_OK) == 0, "a copy of the schema-1 database was kept before upgrading");

    sqlite3 *db;
    sqlite3_open(p, &db);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'nodes_user_id'",
                       -1, &st, NULL);
    sqlite3_step(st);
    is_int(sqlite3_column_int(st, 0), 1, "migration 2's index exists");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The tailnet policy (control.policy.mode: database): none at first, then the text as stored, replaced
 * whole, kept across a reopen. */
static void test_policy(void)
{
    struct store *s = open_db("policy.db", true);
    char *t = NULL;
    size_t len = 1;
    int64_t updated = 1;
    is_int(store_policy_get(s, &t, &len, &updated), STORE_NOTFOUND, "no policy stored yet");
    ok(t == NULL && len == 0 && updated == 0, "and nothing returned");
    static const char p1[] = "{\n  // comments are kept\n  \"acls\": [],\n}\n";
    is_int(store_policy_set(s, p1, sizeof p1 - 1), STORE_OK, "store a policy");
    is_int(store_policy_get(s, &t, &len, &updated), STORE_OK, "read it back");
    ok(t && len == sizeof p1 - 1 && !memcmp(t, p1, len) && updated > 0, "byte for byte, with its time");
    free(t);
    static const char p2[] = "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}]}";
    is_int(store_policy_set(s, p2, sizeof p2 - 1), STORE_OK, "replace it");
    store_close(s);
    s = open_db("policy.db", false);
    is_int(store_policy_get(s, &t, &len, &updated), STORE_OK, "after a reopen");
    ok(t && len == sizeof p2 - 1 && !memcmp(t, p2, len), "the replacement is what is stored");
    free(t);
    store_close(s);
}


static void setting_collect(void *ctx, const char *name, const char *value)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s=%s;", name, value);
}

static void identity_collect(void *ctx, const char *issuer, const char *subject, int64_t user_id)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s|%s|%lld;", issuer, subject, (long long)user_id);
}

/* Schema 6 and 7's tables (the REST API's credentials, run-time settings, OpenID identities) and the pre-auth
 * keys' description: the same answers from either backend. */
static void test_api_tables(void)
{
    struct store *s = open_db("api.db", true);
    struct model_user u = {0};
    model_strlcpy(u.name, "ann", sizeof u.name);
    is_int(store_user_create(s, &u), STORE_OK, "a user for the API tables");

    struct model_authkey k = {0};
    k.user_id = u.id;
    model_strlcpy(k.prefix, "desc", sizeof k.prefix);
    memset(k.hash, 0x5a, 32);
    model_strlcpy(k.description, "laptops of the ops team", sizeof k.description);
    is_int(store_authkey_create(s, &k), STORE_OK, "a pre-auth key with a description");
    struct model_authkey kr;
    is_int(store_authkey_get_by_id(s, k.id, &kr), STORE_OK, "read back");
    is_str(kr.description, "laptops of the ops team", "its description is kept");
    model_authkey_clear(&kr);

    struct model_cred c = {0}, c2 = {0}, o;
    c.kind = MODEL_CRED_APIKEY;
    model_strlcpy(c.key_id, "kAPI1CNTRL", sizeof c.key_id);
    memset(c.hash, 0xa1, 32);
    model_strlcpy(c.description, "ci", sizeof c.description);
    model_strlcpy(c.scopes, "all", sizeof c.scopes);
    c.expiration = 2000000000;
    is_int(store_cred_create(s, &c), STORE_OK, "create an API key");
    ok(c.id > 0 && c.created > 0, "it gets an id and a creation time");
    c2 = c;
    c2.id = 0;
    is_int(store_cred_create(s, &c2), STORE_CONFLICT, "the same key id again: STORE_CONFLICT");
    c2.kind = MODEL_CRED_OAUTH;
    model_strlcpy(c2.key_id, "kOAUTH1CNTRL", sizeof c2.key_id);
    model_strlcpy(c2.scopes, "devices:core:read dns", sizeof c2.scopes);
    memset(c2.hash, 0xb2, 32);
    is_int(store_cred_create(s, &c2), STORE_OK, "an OAuth client");
    is_int(store_cred_get(s, "kAPI1CNTRL", &o), STORE_OK, "get the API key");
    ok(o.id == c.id && o.kind == MODEL_CRED_APIKEY && !memcmp(o.hash, c.hash, 32) && !strcmp(o.description, "ci") &&
           !strcmp(o.scopes, "all") && o.created == c.created && o.expiration == 2000000000 && !o.revoked,
       "every field read back");
    is_int(store_cred_get(s, "nosuch", &o), STORE_NOTFOUND, "an unknown key id: STORE_NOTFOUND");
    struct model_cred *v = NULL;
    size_t n = 0;
    is_int(store_cred_list(s, MODEL_CRED_OAUTH, &v, &n), STORE_OK, "list OAuth clients");
    ok(n == 1 && !strcmp(v[0].key_id, "kOAUTH1CNTRL") && !strcmp(v[0].scopes, "devices:core:read dns"),
       "only the OAuth client, with its scopes");
    free(v);
    is_int(store_cred_expire(s, "kAPI1CNTRL", 1234), STORE_OK, "expire the API key");
    is_int(store_cred_revoke(s, "kAPI1CNTRL"), STORE_OK, "revoke it");
    is_int(store_cred_get(s, "kAPI1CNTRL", &o), STORE_OK, "read again");
    ok(o.expiration == 1234 && o.revoked, "expired and revoked");
    is_int(store_cred_expire(s, "nosuch", 1), STORE_NOTFOUND, "expire an unknown one: STORE_NOTFOUND");
    is_int(store_cred_revoke(s, "nosuch"), STORE_NOTFOUND, "revoke an unknown one: STORE_NOTFOUND");
    is_int(store_cred_delete(s, "kOAUTH1CNTRL"), STORE_OK, "delete the OAuth client");
    is_int(store_cred_delete(s, "kOAUTH1CNTRL"), STORE_NOTFOUND, "twice: STORE_NOTFOUND");
    is_int(store_cred_list(s, MODEL_CRED_OAUTH, &v, &n), STORE_OK, "list OAuth clients again");
    is_int((long long)n, 0, "none left");
    free(v);

    char got[512] = "";
    is_int(store_setting_list(s, setting_collect, got), STORE_OK, "no settings yet");
    is_str(got, "", "an empty list");
    is_int(store_setting_set(s, "dns.nameservers", "[\"1.1.1.1\"]"), STORE_OK, "store a setting");
    is_int(store_setting_set(s, "dns.magic_dns", "true"), STORE_OK, "another");
    is_int(store_setting_set(s, "dns.nameservers", "[\"9.9.9.9\"]"), STORE_OK, "replace the first");
    is_int(store_setting_list(s, setting_collect, got), STORE_OK, "list them");
    is_str(got, "dns.magic_dns=true;dns.nameservers=[\"9.9.9.9\"];", "by name, the replacement kept");
    is_int(store_setting_set(s, "dns.magic_dns", NULL), STORE_OK, "remove one");
    is_int(store_setting_set(s, "dns.never_set", NULL), STORE_OK, "removing one never set is not an error");
    got[0] = 0;
    store_setting_list(s, setting_collect, got);
    is_str(got, "dns.nameservers=[\"9.9.9.9\"];", "one left");

    int64_t uid = 0;
    is_int(store_identity_get(s, "https://idp.example", "sub-1", &uid), STORE_NOTFOUND, "no identity bound yet");
    is_int(store_identity_bind(s, "https://idp.example", "sub-1", u.id), STORE_OK, "bind one to ann");
    is_int(store_identity_get(s, "https://idp.example", "sub-1", &uid), STORE_OK, "look it up");
    is_int(uid, u.id, "it names ann");
    struct model_user u2 = {0};
    model_strlcpy(u2.name, "bo", sizeof u2.name);
    store_user_create(s, &u2);
    is_int(store_identity_bind(s, "https://idp.example", "sub-1", u2.id), STORE_CONFLICT,
           "the same identity for another user: STORE_CONFLICT");
    is_int(store_identity_bind(s, "https://other.example", "sub-9", u.id), STORE_CONFLICT,
           "a second identity for ann: STORE_CONFLICT");
    is_int(store_identity_bind(s, "https://other.example", "sub-1", u2.id), STORE_OK,
           "the same subject at another issuer is another identity");
    got[0] = 0;
    is_int(store_identity_list(s, identity_collect, got), STORE_OK, "list identities");
    char want[512];
    snprintf(want, sizeof want, "https://idp.example|sub-1|%lld;https://other.example|sub-1|%lld;",
             (long long)u.id, (long long)u2.id);
    is_str(got, want, "both, by user");
    is_int(store_user_delete(s, u.id, true), STORE_OK, "delete ann (with her key)");
    is_int(store_identity_get(s, "https://idp.example", "sub-1", &uid), STORE_NOTFOUND,
           "her identity went with her");
    is_int(store_identity_bind(s, "https://idp.example", "sub-1", u2.id + 1000), STORE_INVALID,
           "binding to no user: STORE_INVALID");
    store_close(s);
}

/* Schema 8: interactive registrations waiting for approval (modules/control/register.c keeps them here so
 * that any instance can approve them and they survive a restart). */
static void fill_pending(struct store_pending *p, int i, int64_t now)
{
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%024x", 0xab0000 + i);
    memset(p->machine_key, 0xc0, 32);
    memset(p->node_key, 0xd0, 32);
    memcpy(p->machine_key, &i, sizeof i);
    memcpy(p->node_key, &i, sizeof i);
    snprintf(p->hostname, sizeof p->hostname, "laptop-%d", i);
    p->created = now;
    p->expires = now + 1800;
    p->capver = 100 + i;
}

static void test_pending(void)
{
    struct store *s = open_db("pending.db", true);
    if (!s)
        return;
    int64_t now = 1700000000;
    struct store_pending p, g;
    fill_pending(&p, 1, now);
    snprintf(p.hostinfo, sizeof p.hostinfo, "{\"OS\":\"linux\"}");
    p.ephemeral = true;
    is_int(store_pending_get(s, p.id, &g), STORE_NOTFOUND, "no pending registration yet");
    is_int(store_pending_put(s, &p, 3), STORE_OK, "put one");
    is_int(store_pending_get(s, p.id, &g), STORE_OK, "get it by id");
    ok(!strcmp(g.id, p.id) && !memcmp(g.machine_key, p.machine_key, 32) && !memcmp(g.node_key, p.node_key, 32) &&
           !strcmp(g.hostname, "laptop-1") && !strcmp(g.hostinfo, "{\"OS\":\"linux\"}") && g.ephemeral &&
           g.capver == 101 && g.created == now && g.expires == now + 1800 && !g.user_id && !g.node_id,
       "every field read back");
    memset(&g, 0, sizeof g);
    is_int(store_pending_get_by_machine_key(s, p.machine_key, &g), STORE_OK, "get it by machine key");
    is_str(g.id, p.id, "the same entry");

    /* one entry per machine: a new request replaces the old one, whatever its id */
    struct store_pending p2 = p;
    snprintf(p2.id, sizeof p2.id, "%024x", 0xee0001);
    memset(p2.node_key, 0x42, 32);
    p2.hostinfo[0] = 0;
    is_int(store_pending_put(s, &p2, 3), STORE_OK, "the same machine asks again");
    is_int(store_pending_get(s, p.id, &g), STORE_NOTFOUND, "its old entry is gone");
    is_int(store_pending_get_by_machine_key(s, p.machine_key, &g), STORE_OK, "the machine has one entry");
    ok(!strcmp(g.id, p2.id) && !memcmp(g.node_key, p2.node_key, 32) && !g.hostinfo[0], "the new one, no Hostinfo");
    is_int(store_pending_put(s, &p2, 1), STORE_OK, "the same entry again at the cap (it replaces itself)");

    /* the cap */
    struct store_pending p3, p4;
    fill_pending(&p3, 3, now);
    fill_pending(&p4, 4, now);
    is_int(store_pending_put(s, &p3, 3), STORE_OK, "a second machine");
    is_int(store_pending_put(s, &p4, 2), STORE_INUSE, "a third over a cap of 2: STORE_INUSE");
    ok(strstr(store_errmsg(s), "waiting") != NULL, "says why: %s", store_errmsg(s));
    is_int(store_pending_get(s, p4.id, &g), STORE_NOTFOUND, "the refused one is not stored");
    is_int(store_pending_put(s, &p4, 3), STORE_OK, "under a cap of 3 it fits");

    /* approval */
    is_int(store_pending_done(s, p3.id, 7, 42), STORE_OK, "approve one");
    is_int(store_pending_get(s, p3.id, &g), STORE_OK, "read it again");
    ok(g.user_id == 7 && g.node_id == 42, "its user and node are recorded");
    is_int(store_pending_done(s, p3.id, 8, 43), STORE_NOTFOUND, "a second approval: STORE_NOTFOUND");
    is_int(store_pending_done(s, "nosuch", 8, 43), STORE_NOTFOUND, "approving an unknown one: STORE_NOTFOUND");
    is_int(store_begin(s), STORE_OK, "begin");
    is_int(store_pending_done(s, p4.id, 7, 44), STORE_OK, "approve inside a transaction");
    is_int(store_rollback(s), STORE_OK, "roll it back");
    is_int(store_pending_get(s, p4.id, &g), STORE_OK, "read it");
    ok(g.node_id == 0, "still waiting after the rollback");

    /* delete, expiry */
    is_int(store_pending_delete(s, p4.id), STORE_OK, "delete one");
    is_int(store_pending_delete(s, p4.id), STORE_NOTFOUND, "twice: STORE_NOTFOUND");
    is_int(store_pending_put(s, &p4, 3), STORE_OK, "its place is free again under a cap of 3");
    int64_t gone = -1;
    is_int(store_pending_expire(s, now + 1799, &gone), STORE_OK, "expire before the time");
    is_int((long long)gone, 0, "nothing removed");
    is_int(store_pending_expire(s, now + 1800, &gone), STORE_OK, "expire at the time");
    is_int((long long)gone, 3, "all three removed");
    is_int(store_pending_get(s, p2.id, &g), STORE_NOTFOUND, "gone");
    struct store_pending q[3];
    for (int i = 0; i < 3; i++) {
        fill_pending(&q[i], 10 + i, now + 10);
        is_int(store_pending_put(s, &q[i], 3), STORE_OK, "after expiry the count is back to 0: a put");
    }
    struct store_pending late;
    fill_pending(&late, 20, now + 1809);
    is_int(store_pending_put(s, &late, 3), STORE_INUSE, "the cap is reached");
    fill_pending(&late, 20, now + 1810);
    is_int(store_pending_put(s, &late, 3), STORE_OK, "a put removes what expired by its time first");
    store_close(s);

    /* survives a restart (SQLite: a file; PostgreSQL: another connection) */
    s = open_db("pending.db", true);
    ok(s && store_pending_get(s, late.id, &g) == STORE_OK && !strcmp(g.hostname, "laptop-20"),
       "a pending registration survives reopening the store");
    if (s)
        store_close(s);
}

/* Schema 9: short-lived login state (access tokens, console sessions, OpenID logins under way), found by the
 * hash of its secret, so that every control instance honours it and it survives a restart. */
static void test_login_state(void)
{
    struct store *s = open_db("login.db", true);
    if (!s)
        return;
    int64_t now = 1700000000;
    uint8_t h1[32], h2[32], h3[32];
    memset(h1, 0x11, sizeof h1);
    memset(h2, 0x22, sizeof h2);
    memset(h3, 0x33, sizeof h3);
    char d[STORE_LOGIN_DATA_MAX + 1];
    is_int(store_login_get(s, STORE_LOGIN_TOKEN, h1, now, d), STORE_NOTFOUND, "no login state yet");
    is_int(store_login_put(s, STORE_LOGIN_TOKEN, h1, "c0123 devices:core", now + 3600), STORE_OK, "put a token");
    is_int(store_login_put(s, STORE_LOGIN_SESSION, h1, "x", now + 60), STORE_CONFLICT,
           "the same hash again: STORE_CONFLICT");
    is_int(store_login_get(s, STORE_LOGIN_TOKEN, h1, now, d), STORE_OK, "get it");
    is_str(d, "c0123 devices:core", "its data");
    is_int(store_login_get(s, STORE_LOGIN_SESSION, h1, now, d), STORE_NOTFOUND, "not as another kind");
    is_int(store_login_get(s, STORE_LOGIN_TOKEN, h1, now + 3600, d), STORE_NOTFOUND, "not once expired");
    is_int(store_login_get(s, 'x', h1, now, d), STORE_INVALID, "an unknown kind: STORE_INVALID");
    char big[STORE_LOGIN_DATA_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    is_int(store_login_put(s, STORE_LOGIN_FLOW, h2, big, now + 600), STORE_INVALID, "too much data: STORE_INVALID");
    big[STORE_LOGIN_DATA_MAX] = 0;
    is_int(store_login_put(s, STORE_LOGIN_FLOW, h2, big, now + 600), STORE_OK, "the most data");
    is_int(store_login_take(s, STORE_LOGIN_FLOW, h2, now, d), STORE_OK, "take it");
    is_int((long long)strlen(d), STORE_LOGIN_DATA_MAX, "all of it");
    is_int(store_login_take(s, STORE_LOGIN_FLOW, h2, now, d), STORE_NOTFOUND, "a second take: STORE_NOTFOUND");
    is_int(store_login_put(s, STORE_LOGIN_SESSION, h2, "alice@example.com", now + 60), STORE_OK, "put a session");
    is_int(store_login_delete(s, STORE_LOGIN_SESSION, h2), STORE_OK, "delete it (a logout)");
    is_int(store_login_delete(s, STORE_LOGIN_SESSION, h2), STORE_NOTFOUND, "twice: STORE_NOTFOUND");
    is_int(store_login_get(s, STORE_LOGIN_SESSION, h2, now, d), STORE_NOTFOUND, "gone");
    is_int(store_login_put(s, STORE_LOGIN_FLOW, h3, "f", now + 600), STORE_OK, "put a flow");
    is_int(store_login_take(s, STORE_LOGIN_FLOW, h3, now + 600, d), STORE_NOTFOUND, "an expired one is not taken");
    int64_t gone = -1;
    is_int(store_login_expire(s, now + 599, &gone), STORE_OK, "expire before the time");
    is_int((long long)gone, 0, "nothing removed");
    is_int(store_login_expire(s, now + 3600, &gone), STORE_OK, "expire later");
    is_int((long long)gone, 2, "the token and the flow removed");
    is_int(store_login_put(s, STORE_LOGIN_SESSION, h3, "bob", now + 60), STORE_OK, "its hash is free again");
    store_close(s);

    s = open_db("login.db", true);
    ok(s && store_login_get(s, STORE_LOGIN_SESSION, h3, now, d) == STORE_OK && !strcmp(d, "bob"),
       "login state survives reopening the store");
    if (s)
        store_close(s);
}

static void test_refusals(void)
{
    char p[1024], err[STORE_ERR_MAX];
    struct store *s = open_db("future.db", true);
    store_close(s);
    tb_dsn(dir, "future.db", p, sizeof p);
    raw_exec("future.db", "PRAGMA user_version = 99", "UPDATE weft_schema SET version = 99");
    s = store_open(p, true, err, sizeof(err));
    ok(s == NULL, "a database from a newer weft is refused");
    char want[64];
    int latest = 0, cur;
    struct store *t = open_db("crud.db", false);
    store_schema_version(t, &cur, &latest);
    store_close(t);
    snprintf(want, sizeof(want), "database schema 99 is newer than this weft understands (%d)", latest);
    ok(strstr(err, want) != NULL, "message names both versions: %s", err);
    s = store_open(p, false, err, sizeof(err));
    ok(s == NULL, "refused even without migrating");

    tb_dsn(dir, "foreign.db", p, sizeof p);
    raw_exec("foreign.db", "CREATE TABLE something (x)", "CREATE TABLE something (x int)");
    s = store_open(p, true, err, sizeof(err));
    ok(s == NULL && strstr(err, "no weft schema version"), "a database of something else is left alone: %s",
       err);

    s = store_open("nosuchscheme://x", true, err, sizeof(err));
    ok(s == NULL && strstr(err, "no storage backend"), "unknown DSN scheme: %s", err);
    if (tb_pg()) {
#ifdef HAVE_PQ
        /* libpq's own spelling opens too; a server that is not there is a clean error. */
        tb_dsn(dir, "crud.db", p, sizeof p);
        char alt[1200];
        snprintf(alt, sizeof alt, "postgresql%s", p + strlen("postgres"));
        s = store_open(alt, true, err, sizeof(err));
        ok(s != NULL, "postgresql:// DSN opens");
        store_close(s);
        s = store_open("postgres:///weft?host=/nonexistent&port=1", true, err, sizeof(err));
        ok(s == NULL && strstr(err, "cannot connect"), "no server: a clean refusal: %s", err);
#endif
        return;
    }
    path_in(p, sizeof(p), "garbage.db");
    FILE *f = fopen(p, "w");
    fputs("this is not an SQLite database, not even close; it is just long enough to have a header.....", f);
    fclose(f);
    s = store_open(p, true, err, sizeof(err));
    ok(s == NULL, "a non-database file is refused: %s", err);

    path_in(p, sizeof(p), "otherapp.db");
    raw_exec_sqlite(p, "PRAGMA application_id = 1234");
    s = store_open(p, true, err, sizeof(err));
    ok(s == NULL && strstr(err, "not a weft database"), "another application's database is refused: %s", err);

    path_in(p, sizeof(p), "dsn.db");
    char dsn[1100];
    snprintf(dsn, sizeof(dsn), "sqlite:%s", p);
    s = store_open(dsn, true, err, sizeof(err));
    ok(s != NULL, "sqlite:PATH DSN opens");
    store_close(s);
    ok(access(p, F_OK) == 0, "at that path");
}

/* The child commits registrations (node insert + key use, one transaction each) and reports each one on
 * the pipe only after its commit returned; the parent kills it with SIGKILL mid-stream. */
static void crash_child(const char *path, int fd, uint32_t base)
{
    char err[STORE_ERR_MAX];
    struct store *s = store_open(path, true, err, sizeof(err));
    if (!s)
        _exit(2);
    struct model_user u;
    if (store_user_get_by_name(s, "crash", &u) != STORE_OK)
        _exit(3);
    struct model_authkey *keys;
    size_t nk;
    store_authkey_list(s, &keys, &nk);
    int64_t kid = nk ? keys[0].id : 0;
    model_authkeys_free(keys, nk);
    for (uint32_t i = base;; i++) {
        struct model_node n;
        fill_node(&n, u.id, i);
        n.authkey_id = kid;
        if (store_begin(s) || store_node_insert(s, &n) || store_authkey_mark_used(s, kid) || store_commit(s))
            _exit(4);
        char line[32];
        int len = snprintf(line, sizeof(line), "%u\n", i);
        if (write(fd, line, (size_t)len) != len)
            _exit(5);
    }
}

static void test_kill9(void)
{
    char p[1024];
    tb_dsn(dir, "crash.db", p, sizeof p);
    struct store *s = open_db("crash.db", true);
    struct model_user u = {0};
    strcpy(u.name, "crash");
    store_user_create(s, &u);
    struct model_authkey k = {0};
    memset(k.hash, 0x5A, 32);
    k.user_id = u.id;
    k.reusable = true;
    store_authkey_create(s, &k);
    store_close(s);

    static const int kill_after[] = {1, 37, 400, 2500};
    uint32_t *reported = malloc(sizeof(uint32_t) * 1000000);
    size_t nrep = 0;
    for (int round = 0; round < 4; round++) {
        int pfd[2];
        if (pipe(pfd) < 0)
            break;
        uint32_t base = (uint32_t)round * 100000;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            crash_child(p, pfd[1], base);
            _exit(0);
        }
        close(pfd[1]);
        FILE *f = fdopen(pfd[0], "r");
        unsigned v;
        int seen = 0;
        while (seen < kill_after[round] && fscanf(f, "%u", &v) == 1) {
            reported[nrep++] = v;
            seen++;
        }
        kill(pid, SIGKILL);
        /* Lines already in the pipe were written after their commit: they count too. */
        while (fscanf(f, "%u", &v) == 1)
            reported[nrep++] = v;
        fclose(f);
        int status;
        waitpid(pid, &status, 0);
        ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: child killed by SIGKILL after %d+ "
           "reported registrations", round + 1, seen);
    }

    s = open_db("crash.db", true);
    ok(s != NULL, "database opens after the kills");
    size_t missing = 0;
    for (size_t i = 0; i < nrep; i++) {
        struct model_node n, g;
        fill_node(&n, u.id, reported[i]);
        if (store_node_get_by_node_key(s, n.node_key, &g) != STORE_OK)
            missing++;
        else
            model_node_clear(&g);
    }
    is_int((long long)missing, 0, "every registration reported committed is there");
    struct model_node *list;
    size_t cnt;
    store_node_list(s, &list, &cnt);
    ok(cnt >= nrep, "%zu nodes stored, %zu reported (at most one per round may be committed unreported)",
       cnt, nrep);
    ok(cnt <= nrep + 4, "no more than one unreported commit per round");
    model_nodes_free(list, cnt);
    struct model_authkey g;
    store_authkey_get_by_id(s, k.id, &g);
    is_int(g.used_count, (long long)cnt, "key use count matches the nodes: each registration was atomic");
    model_authkey_clear(&g);
    store_close(s);
    free(reported);
    if (tb_pg())
        return;

    sqlite3 *db;
    sqlite3_open(p, &db);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    sqlite3_step(st);
    is_str((const char *)sqlite3_column_text(st, 0), "ok", "integrity_check after the kills");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_10k(void)
{
    struct store *s = open_db("big.db", true);
    struct model_user u = {0};
    strcpy(u.name, "many");
    store_user_create(s, &u);
    struct model_node n;
    int fails = 0;
    double t0 = now_ms();
    for (uint32_t i = 0; i < 10000; i++) {
        fill_node(&n, u.id, i);
        model_strlist_add(&n.endpoints, "203.0.113.5:41641");
        n.hostinfo = strdup("{\"OS\":\"linux\",\"Hostname\":\"h\"}");
        if (store_node_insert(s, &n) != STORE_OK)
            fails++;
        model_node_clear(&n);
    }
    double t1 = now_ms();
    is_int(fails, 0, "10,000 node inserts");
    diag("10000 node inserts, one commit each: %.0f ms (%.0f inserts/s)", t1 - t0, 10000 / ((t1 - t0) / 1e3));
    struct model_node *list;
    size_t cnt;
    t0 = now_ms();
    store_node_list(s, &list, &cnt);
    t1 = now_ms();
    is_int((long long)cnt, 10000, "list returns 10,000");
    diag("list of 10000 nodes: %.1f ms", t1 - t0);
    model_nodes_free(list, cnt);
    t0 = now_ms();
    int found = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        struct model_node g;
        fill_node(&n, u.id, (i * 7919) % 10000);
        if (store_node_get_by_node_key(s, n.node_key, &g) == STORE_OK) {
            found++;
            model_node_clear(&g);
        }
    }
    t1 = now_ms();
    is_int(found, 10000, "10,000 lookups by node key");
    diag("10000 lookups by node key: %.0f ms (%.0f lookups/s)", t1 - t0, 10000 / ((t1 - t0) / 1e3));
    char err[160];
    struct ipalloc *ia = ipalloc_new(IPALLOC_DEFAULT_V4, IPALLOC_DEFAULT_V6, err, sizeof(err));
    t0 = now_ms();
    store_addrs_in_use(s, ipalloc_load_cb, ia);
    t1 = now_ms();
    /* Addresses the allocator reserves anyway (x.y.z.0, x.y.z.255) are not tracked as held. */
    size_t want4 = 0;
    for (uint32_t i = 0; i < 10000; i++)
        want4 += (i & 255) != 0 && (i & 255) != 255;
    ok(ipalloc_held(ia, 4) == want4 && ipalloc_held(ia, 6) == 10000, "allocator loaded %zu + 10000 addresses",
       want4);
    diag("loading 20000 held addresses into the allocator: %.1f ms", t1 - t0);
    ipalloc_free(ia);
    store_close(s);
}

#ifdef HAVE_PQ
/* Lines "table.column" of a database's tables, sorted, joined by spaces. */
static void columns_sqlite(const char *path, char *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    out[0] = 0;
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db,
                       "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p "
                       "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1",
                       -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out + strlen(out), cap - strlen(out), "%s ", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void columns_pg(const char *dsn, char *out, size_t cap)
{
    out[0] = 0;
    PGconn *c = PQconnectdb(dsn);
    PGresult *r = PQexec(c, "SELECT table_name || '.' || column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name <> 'weft_schema' ORDER BY 1");
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s ", PQgetvalue(r, i, 0));
    PQclear(r);
    PQfinish(c);
}

/* Migration N exists in both backends and makes the same tables and columns: a migration added to one
 * backend only fails here. */
static void test_schema_parity(void)
{
    char sp[512], dsn[1024], err[STORE_ERR_MAX];
    path_in(sp, sizeof sp, "parity.db");
    struct store *sq = store_open(sp, true, err, sizeof err);
    tb_dsn(dir, "parity.db", dsn, sizeof dsn);
    struct store *pg = store_open(dsn, true, err, sizeof err);
    ok(sq && pg, "both backends open and migrate");
    if (!sq || !pg)
        return;
    int c1, l1, c2, l2;
    store_schema_version(sq, &c1, &l1);
    store_schema_version(pg, &c2, &l2);
    ok(l2 == l1, "PostgreSQL knows as many migrations as SQLite (%d and %d)", l2, l1);
    store_close(sq);
    store_close(pg);
    static char a[16384], b[16384];
    columns_sqlite(sp, a, sizeof a);
    columns_pg(dsn, b, sizeof b);
    ok(strlen(a) > 100, "SQLite's columns listed");
    is_str(b, a, "the same tables and columns in both backends");
}

static int terminate_backend(struct store *s)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(PG(s)->conn));
    int rc = tb_pg_exec("", sql);
    /* the server closes the connection asynchronously: wait until the backend is gone */
    for (int i = 0; i < 200; i++) {
        snprintf(sql, sizeof sql,
                 "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %d) THEN RAISE 'alive'; "
                 "END IF; END $$", PQbackendPID(PG(s)->conn));
        PGconn *c = PQconnectdb(tb_pg());
        PGresult *r = PQexec(c, sql);
        int gone = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        PQfinish(c);
        if (gone)
            break;
        usleep(10000);
    }
    return rc;
}

/* The connection dropping under the store (a server restart, a failover, an admin's pg_terminate_backend). */
static void test_connection_loss(void)
{
    struct store *s = open_db("crud.db", true);
    struct pg_store *q = PG(s);
    struct model_user u;
    unsigned long before = q->reconnects;

    is_int(terminate_backend(s), 0, "the store's connection is terminated by the server");
    is_int(store_user_get_by_name(s, "alice@example.com", &u), STORE_OK,
           "a read after the drop succeeds: reconnected and retried once");
    is_int((long long)(q->reconnects - before), 1, "one reconnect");

    terminate_backend(s);
    struct model_user nu = {0};
    strcpy(nu.name, "after-drop");
    int rc = store_user_create(s, &nu);
    is_int(rc, STORE_IO, "an insert that met the drop is not retried (it might have committed): STORE_IO");
    ok(strstr(store_errmsg(s), "postgres") != NULL, "the message says so: %s", store_errmsg(s));
    is_int(store_user_create(s, &nu), STORE_OK, "the next insert reconnects and succeeds");

    terminate_backend(s);
    struct model_node n;
    fill_node(&n, u.id, 555);
    is_int(store_begin(s), STORE_OK, "begin");
    /* begin's BEGIN went to a dead connection or reconnected first: either way the transaction is open */
    terminate_backend(s);
    is_int(store_node_insert(s, &n), STORE_IO, "a drop inside a transaction fails the statement");
    is_int(store_node_update(s, &n), STORE_IO, "and every later one in it (no silent retry outside it)");
    is_int(store_commit(s), STORE_IO, "commit fails: nothing of the transaction was stored");
    is_int(store_rollback(s), STORE_OK, "rollback after it is harmless");
    struct model_node g;
    is_int(store_node_get_by_node_key(s, n.node_key, &g), STORE_NOTFOUND, "the node is not there");
    model_node_clear(&n);

    /* The server away: requests fail at once, reconnects wait for the backoff, then it comes back. */
    char *real = q->dsn;
    q->dsn = strdup("postgres:///weft?host=/nonexistent&port=1");
    terminate_backend(s);
    is_int(store_user_get_by_name(s, "alice@example.com", &u), STORE_IO, "server gone: STORE_IO");
    ok(strstr(store_errmsg(s), "unavailable") != NULL, "says unavailable: %s", store_errmsg(s));
    double t0 = now_ms();
    is_int(store_user_get_by_name(s, "alice@example.com", &u), STORE_IO, "again at once: STORE_IO");
    ok(strstr(store_errmsg(s), "next reconnect in") != NULL, "without a new attempt (backoff): %s",
       store_errmsg(s));
    diag("a request while the database is away fails in %.3f ms", now_ms() - t0);
    double first = q->backoff;
    usleep((useconds_t)(first * 1e6) + 20000);
    store_user_get_by_name(s, "alice@example.com", &u);
    ok(q->backoff > first, "the backoff grows after another failed attempt (%.2f s -> %.2f s)", first, q->backoff);
    free(q->dsn);
    q->dsn = real;
    usleep((useconds_t)(q->backoff * 1e6) + 20000);
    is_int(store_user_get_by_name(s, "alice@example.com", &u), STORE_OK, "server back: the store reconnects");
    is_int((long long)q->backoff, 0, "and the backoff is reset");
    store_close(s);
}
#endif

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/weft-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP mkdtemp: %s\n", strerror(errno));
        return 0;
    }
    if (tb_setup())
        return printf("not ok - register the PostgreSQL backend\n"), 1;
    diag("backend: %s", tb_name());
    test_open_and_users();
    test_nodes();
    test_authkeys_and_user_delete();
    test_transactions();
    test_migration_from_v1();
    test_policy();
    test_api_tables();
    test_pending();
    test_login_state();
    test_refusals();
#ifdef HAVE_PQ
    if (tb_pg()) {
        test_schema_parity();
        test_connection_loss();
    }
#endif
    test_kill9();
    test_10k();
    if (!tap_failed) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            diag("could not remove %s", dir);
    } else {
        diag("files kept in %s", dir);
    }
    return done_testing();
}
