// SPDX-License-Identifier: BSD-3-Clause
/* The SQLite storage backend's own parts, shared by its files: the connection, its prepared statements,
 * and the helpers every table's file uses (errors, statements, key codecs, transactions). db.c opens,
 * migrates and holds the ops table; users_keys.c, nodes.c, admin.c, pending.c and login.c are one
 * concern each. */
#ifndef WEFT_CONTROL_STORE_SQLITE_SQ_H
#define WEFT_CONTROL_STORE_SQLITE_SQ_H

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
    Q_LOGIN_PUT, Q_LOGIN_GET, Q_LOGIN_DELETE, Q_LOGIN_EXPIRE,
    Q_COUNT
};

struct sq_store {
    struct store base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[Q_COUNT];
};

static inline struct sq_store *SQ(struct store *s) { return (struct sq_store *)s; }
static inline int64_t sq_now(void) { return (int64_t)time(NULL); }

int sq_fail(struct sq_store *q, const char *what);
sqlite3_stmt *sq_stmt(struct sq_store *q, enum sq_stmt id);
void sq_done(sqlite3_stmt *st);
int sq_exec_stmt(struct sq_store *q, sqlite3_stmt *st, const char *what);
int sq_exec(struct sq_store *q, const char *sql, const char *what);
int sq_pragma_int(struct sq_store *q, const char *sql, int *out);
void sq_key_text(char out[80], const char *prefix, const uint8_t k[MODEL_KEY_LEN]);
int sq_key_parse(uint8_t k[MODEL_KEY_LEN], const char *prefix, const unsigned char *txt);
int sq_is_zero(const uint8_t *b, size_t n);
int sq_bind_text_copy(sqlite3_stmt *st, int i, const char *s);
void sq_close(struct store *s);
void sq_own_files(const char *path);
int sq_open(const char *dsn, struct store **out, char *err, size_t errlen);
int sq_begin(struct store *s);
int sq_commit(struct store *s);
int sq_rollback(struct store *s);
int sq_schema_version(struct store *s, int *current, int *latest);
int sq_backup_before_migrate(struct sq_store *q, int cur);
int sq_migrate(struct store *s, int target);
int sq_atomically(struct sq_store *q, int (*fn)(struct sq_store *, void *), void *arg);
void sq_row_user(sqlite3_stmt *st, struct model_user *u);
int sq_user_create(struct store *s, struct model_user *u);
int sq_user_get(struct sq_store *q, enum sq_stmt id, int64_t key, const char *name, struct model_user *out);
int sq_user_get_by_id(struct store *s, int64_t id, struct model_user *out);
int sq_user_get_by_name(struct store *s, const char *name, struct model_user *out);
int sq_user_list(struct store *s, struct model_user **out, size_t *n);
int sq_user_rename(struct store *s, int64_t id, const char *new_name);
int sq_count(struct sq_store *q, enum sq_stmt id, int64_t arg, int64_t *out);
int sq_run_id(struct sq_store *q, enum sq_stmt id, int64_t arg, const char *what);
int sq_user_delete_fn(struct sq_store *q, void *arg);
int sq_user_delete(struct store *s, int64_t id, bool force);
int sq_bind_node(struct sq_store *q, sqlite3_stmt *st, const struct model_node *n);
int sq_row_node(struct sq_store *q, sqlite3_stmt *st, struct model_node *n);
void sq_stable_id(char out[MODEL_STABLE_ID_MAX + 1]);
int sq_node_conflict(struct sq_store *q, const struct model_node *n);
int sq_node_insert(struct store *s, struct model_node *n);
int sq_node_update(struct store *s, const struct model_node *n);
int sq_node_get(struct sq_store *q, sqlite3_stmt *st, struct model_node *out, const char *what);
int sq_node_get_by_id(struct store *s, int64_t id, struct model_node *out);
int sq_node_get_by_key(struct store *s, enum sq_stmt id, const char *prefix, const uint8_t *key, struct model_node *out, const char *what);
int sq_node_get_by_node_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out);
int sq_node_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out);
int sq_node_get_by_given_name(struct store *s, const char *name, struct model_node *out);
int sq_node_list_stmt(struct sq_store *q, sqlite3_stmt *st, struct model_node **out, size_t *n);
int sq_node_list(struct store *s, struct model_node **out, size_t *n);
int sq_node_list_by_user(struct store *s, int64_t user_id, struct model_node **out, size_t *n);
int sq_node_delete(struct store *s, int64_t id);
int sq_node_set_last_seen(struct store *s, int64_t id, int64_t last_seen);
int sq_addrs_in_use(struct store *s, store_addr_cb cb, void *ctx);
int sq_row_key(struct sq_store *q, sqlite3_stmt *st, struct model_authkey *k);
int sq_authkey_create(struct store *s, struct model_authkey *k);
int sq_key_get(struct sq_store *q, sqlite3_stmt *st, struct model_authkey *out);
int sq_authkey_get_by_id(struct store *s, int64_t id, struct model_authkey *out);
int sq_authkey_get_by_hash(struct store *s, const uint8_t hash[32], struct model_authkey *out);
int sq_authkey_list(struct store *s, struct model_authkey **out, size_t *n);
int sq_key_update(struct store *s, enum sq_stmt id, int64_t key_id, int64_t arg, const char *what);
int sq_authkey_mark_used(struct store *s, int64_t id);
int sq_authkey_expire(struct store *s, int64_t id, int64_t when);
int sq_authkey_revoke(struct store *s, int64_t id);
int sq_row_cred(struct sq_store *q, sqlite3_stmt *st, struct model_cred *c);
int sq_cred_create(struct store *s, struct model_cred *c);
int sq_cred_get(struct store *s, const char *key_id, struct model_cred *out);
int sq_cred_list(struct store *s, int kind, struct model_cred **out, size_t *n);
int sq_cred_update(struct store *s, enum sq_stmt id, const char *key_id, int64_t arg, const char *what);
int sq_cred_expire(struct store *s, const char *key_id, int64_t when);
int sq_cred_revoke(struct store *s, const char *key_id);
int sq_cred_delete(struct store *s, const char *key_id);
int sq_policy_get(struct store *s, char **text, size_t *len, int64_t *updated);
int sq_policy_set(struct store *s, const char *text, size_t len);
int sq_setting_list(struct store *s, store_setting_cb cb, void *ctx);
int sq_setting_set(struct store *s, const char *name, const char *value);
int sq_identity_get(struct store *s, const char *issuer, const char *subject, int64_t *user_id);
int sq_identity_bind(struct store *s, const char *issuer, const char *subject, int64_t user_id);
int sq_identity_list(struct store *s, store_identity_cb cb, void *ctx);
int sq_row_pending(struct sq_store *q, sqlite3_stmt *st, struct store_pending *p);
int sq_pending_get_stmt(struct sq_store *q, sqlite3_stmt *st, struct store_pending *out);
int sq_pending_get(struct store *s, const char *id, struct store_pending *out);
int sq_pending_get_by_machine_key(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct store_pending *out);
int sq_pending_remove(struct sq_store *q, enum sq_stmt id, const char *text, int64_t num, int64_t *gone);
int sq_pending_put_fn(struct sq_store *q, void *arg);
int sq_pending_put(struct store *s, const struct store_pending *p, size_t max);
int sq_pending_done(struct store *s, const char *id, int64_t user_id, int64_t node_id);
int sq_pending_delete_fn(struct sq_store *q, void *arg);
int sq_pending_delete(struct store *s, const char *id);
int sq_pending_expire(struct store *s, int64_t now, int64_t *n);
int sq_login_put(struct store *s, int kind, const uint8_t hash[32], const char *data, int64_t expires);
int sq_login_get(struct store *s, int kind, const uint8_t hash[32], int64_t now, char data[STORE_LOGIN_DATA_MAX + 1]);
int sq_login_take(struct store *s, int kind, const uint8_t hash[32], int64_t now, char data[STORE_LOGIN_DATA_MAX + 1]);
int sq_login_delete(struct store *s, int kind, const uint8_t hash[32]);
int sq_login_expire(struct store *s, int64_t now, int64_t *n);

#endif
