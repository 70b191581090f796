// SPDX-License-Identifier: BSD-3-Clause
/* The control role's storage interface: a table of operations (a vtable) that each backend implements
 * (store_sqlite/ here; a PostgreSQL plugin registers another with store_register). Transport-agnostic and
 * synchronous: control calls it from its single event-loop thread.
 *
 * Every operation returns STORE_OK (0) or a negative enum store_rc; on failure store_errmsg() holds a
 * sentence the caller can log (it stays valid until the next operation on the same store).
 *
 * Each operation is atomic on its own (one statement or an internal savepoint) and durable once it
 * returns, unless the caller wrapped several in begin/commit, which is how a registration (node insert +
 * pre-auth key use) is made all-or-nothing. Transactions do not nest: begin inside a transaction fails. */
#ifndef WEFT_CONTROL_STORE_H
#define WEFT_CONTROL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"

#include "modules/control/model.h"

enum store_rc {
    STORE_OK = 0,
    STORE_NOTFOUND = -1, /* no such row */
    STORE_CONFLICT = -2, /* a unique value (name, key, address, label) is taken */
    STORE_INUSE = -3,    /* refused: still referenced (a user that owns nodes or keys, without force) */
    STORE_SCHEMA = -4,   /* the database schema is newer than this weft, or a migration failed */
    STORE_INVALID = -5,  /* bad argument (bad DSN, empty name, nested begin, ...) */
    STORE_IO = -6,       /* any other backend failure (disk, corruption, out of memory) */
};

#define STORE_ERR_MAX 512

struct store;

/* Called once per address held by a node (family 4 or 6, addr 4 or 16 bytes). */
typedef void (*store_addr_cb)(void *ctx, int family, const uint8_t *addr);
typedef void (*store_setting_cb)(void *ctx, const char *name, const char *value);
typedef void (*store_identity_cb)(void *ctx, const char *issuer, const char *subject, int64_t user_id);

struct store_feed_ops;

/* An interactive registration waiting for an admin's or an OpenID provider's approval (spec control-ts2021.md
 * §6.3 flow B), kept in the store so that any control instance on the database can approve it and it
 * survives a restart. What the client said about itself is cleaned and bounded before it gets here. */
#define STORE_PENDING_ID_MAX 32
#define STORE_PENDING_HOSTINFO_MAX 1024
struct store_pending {
    char id[STORE_PENDING_ID_MAX + 1]; /* the AuthID in /register/ID */
    uint8_t machine_key[MODEL_KEY_LEN], node_key[MODEL_KEY_LEN];
    char hostname[MODEL_HOSTNAME_MAX + 1];
    char hostinfo[STORE_PENDING_HOSTINFO_MAX + 1]; /* trimmed Hostinfo JSON; "" if none */
    bool ephemeral;
    int capver;
    int64_t created, expires; /* unix seconds; gone (for every purpose) once expires <= now */
    int64_t user_id;          /* approved for this user (0: waiting) */
    int64_t node_id;          /* done: the node it registered (0: waiting) */
};

/* Kinds of login state (store_ops.login_*), one letter each in the table. */
enum store_login_kind {
    STORE_LOGIN_TOKEN = 't',   /* an OAuth access token of the REST API (api/auth.c) */
    STORE_LOGIN_SESSION = 's', /* an admin console session (login/login.c) */
    STORE_LOGIN_FLOW = 'f',    /* an OpenID login between the redirect to the provider and its callback */
};
#define STORE_LOGIN_DATA_MAX 1200

struct store_ops {
    const char *scheme;  /* DSN scheme this backend answers: "sqlite" -> "sqlite:PATH" */
    /* Several control instances on one database (store_feed_ops below); NULL for a backend that serves one
     * process (SQLite). */
    const struct store_feed_ops *feed;

    /* Opens (creating if needed) and checks the schema version: a database whose schema is newer than
     * the backend knows is refused (STORE_SCHEMA, the message names both versions). Does not migrate.
     * On failure *out is NULL and err holds the reason. */
    int (*open)(const char *dsn, struct store **out, char *err, size_t errlen);
    void (*close)(struct store *s);

    int (*begin)(struct store *s);
    int (*commit)(struct store *s);
    int (*rollback)(struct store *s);

    /* *current = the database's schema version (0 = empty), *latest = what this backend knows. */
    int (*schema_version)(struct store *s, int *current, int *latest);
    /* Applies the migrations after the current version up to `target` (0 = latest), each in its own
     * transaction. Must not be called inside begin/commit. */
    int (*migrate)(struct store *s, int target);

    /* Inserts (user_create, node_insert, authkey_create) assign the id; on a store with keep_ids set they
     * take a non-zero id as given instead (weft db migrate copies a tailnet with its ids; later inserts
     * still get new ids above them). */

    /* Users. create fills u->id and u->created (if 0). Names are unique (STORE_CONFLICT). */
    int (*user_create)(struct store *s, struct model_user *u);
    int (*user_get_by_id)(struct store *s, int64_t id, struct model_user *out);
    int (*user_get_by_name)(struct store *s, const char *name, struct model_user *out);
    int (*user_list)(struct store *s, struct model_user **out, size_t *n); /* by id; free() */
    int (*user_rename)(struct store *s, int64_t id, const char *new_name);
    /* Refuses (STORE_INUSE) while the user owns nodes or pre-auth keys, unless force: then the user's
     * nodes and keys are deleted with it in one transaction (the caller must release their addresses
     * and tell peers: list the nodes first). */
    int (*user_delete)(struct store *s, int64_t id, bool force);

    /* Nodes. insert fills n->id, n->stable_id (if empty) and n->created (if 0). Unique: machine key,
     * node key, given name, each address (STORE_CONFLICT). update writes every stored field of the node
     * with n->id (not id, stable_id, created). Results must be released with model_node_clear. */
    int (*node_insert)(struct store *s, struct model_node *n);
    int (*node_update)(struct store *s, const struct model_node *n);
    int (*node_get_by_id)(struct store *s, int64_t id, struct model_node *out);
    int (*node_get_by_node_key)(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out);
    int (*node_get_by_machine_key)(struct store *s, const uint8_t key[MODEL_KEY_LEN], struct model_node *out);
    int (*node_get_by_given_name)(struct store *s, const char *given_name, struct model_node *out);
    int (*node_list)(struct store *s, struct model_node **out, size_t *n); /* by id; model_nodes_free */
    int (*node_list_by_user)(struct store *s, int64_t user_id, struct model_node **out, size_t *n);
    int (*node_delete)(struct store *s, int64_t id);
    /* Cheap update of the liveness fields only (map poll connect/disconnect). */
    int (*node_set_last_seen)(struct store *s, int64_t id, int64_t last_seen);
    /* Every address held by a node, for the allocator at startup (ipalloc.h). */
    int (*addrs_in_use)(struct store *s, store_addr_cb cb, void *ctx);

    /* Pre-auth keys. create fills k->id and k->created (if 0); the hash must be unique. */
    int (*authkey_create)(struct store *s, struct model_authkey *k);
    int (*authkey_get_by_id)(struct store *s, int64_t id, struct model_authkey *out);
    int (*authkey_get_by_hash)(struct store *s, const uint8_t hash[32], struct model_authkey *out);
    int (*authkey_list)(struct store *s, struct model_authkey **out, size_t *n); /* model_authkeys_free */
    int (*authkey_mark_used)(struct store *s, int64_t id);            /* used_count += 1 */
    int (*authkey_expire)(struct store *s, int64_t id, int64_t when); /* expiration = when */
    int (*authkey_revoke)(struct store *s, int64_t id);

    /* REST API credentials (API keys, OAuth clients). create fills c->id and c->created (if 0); key_id is
     * unique (STORE_CONFLICT). list: of one kind, by id; free(). */
    int (*cred_create)(struct store *s, struct model_cred *c);
    int (*cred_get)(struct store *s, const char *key_id, struct model_cred *out);
    int (*cred_list)(struct store *s, int kind, struct model_cred **out, size_t *n);
    int (*cred_expire)(struct store *s, const char *key_id, int64_t when); /* expiration = when */
    int (*cred_revoke)(struct store *s, const char *key_id);
    /* Removes one for good (weft db migrate --force empties its target); STORE_NOTFOUND when none. */
    int (*cred_delete)(struct store *s, const char *key_id);
    /* The tailnet policy (control.policy.mode: database): its text as uploaded. get mallocs *text
     * (STORE_NOTFOUND when none was ever set); set replaces it. */
    int (*policy_get)(struct store *s, char **text, size_t *len, int64_t *updated);
    int (*policy_set)(struct store *s, const char *text, size_t len);
    /* Settings changed at run time (name: the control key they override, value: JSON text). list calls
     * cb for each, by name; set stores or replaces one, value NULL removes it. */
    int (*setting_list)(struct store *s, store_setting_cb cb, void *ctx);
    int (*setting_set)(struct store *s, const char *name, const char *value);
    /* The user bound to an identity at an OpenID provider (issuer, subject): get (STORE_NOTFOUND when
     * none); bind (STORE_CONFLICT when the identity or the user is bound already). Removed with the user. */
    int (*identity_get)(struct store *s, const char *issuer, const char *subject, int64_t *user_id);
    int (*identity_bind)(struct store *s, const char *issuer, const char *subject, int64_t user_id);
    /* Every bound identity, by user id (weft db migrate copies them). */
    int (*identity_list)(struct store *s, store_identity_cb cb, void *ctx);

    /* Pending interactive registrations (struct store_pending). put stores p as its machine's one entry
     * (replacing any other entry of that machine key, whatever its id), first removing entries expired by
     * p->created; refused with STORE_INUSE while `max` entries are held (the cap holds across every instance
     * on the database: PostgreSQL takes an advisory lock). The count is kept in a counter row, so nothing
     * counts rows. get / get_by_machine_key return entries whether or not they expired (STORE_NOTFOUND when
     * none). done records the approval (user_id, node_id) on an entry still waiting and drops its Hostinfo:
     * STORE_NOTFOUND when it is gone or was approved already (run it in the registration's transaction, so
     * two approvals cannot both register). delete removes one (STORE_NOTFOUND when none); expire removes
     * every entry expired by now, *n of them (through the expiry index: work in proportion to what expires). */
    int (*pending_put)(struct store *s, const struct store_pending *p, size_t max);
    int (*pending_get)(struct store *s, const char *id, struct store_pending *out);
    int (*pending_get_by_machine_key)(struct store *s, const uint8_t key[MODEL_KEY_LEN],
                                      struct store_pending *out);
    int (*pending_done)(struct store *s, const char *id, int64_t user_id, int64_t node_id);
    int (*pending_delete)(struct store *s, const char *id);
    int (*pending_expire)(struct store *s, int64_t now, int64_t *n);

    /* Short-lived login state (enum store_login_kind), kept in the store so that every control instance on the
     * database honours it and it survives a restart. Found by hash, the 32-byte hash of its secret (an access
     * token's text, a session cookie, an OpenID state): the secret itself is never stored. data is what the
     * kind needs besides (text, at most STORE_LOGIN_DATA_MAX bytes). put adds one (STORE_CONFLICT when the
     * hash is taken). get fills data (NUL-terminated) of an entry of that kind not expired by now (STORE_NOTFOUND
     * otherwise); take does the same and removes it, so that only one caller (on any instance) ever gets it.
     * delete removes one (STORE_NOTFOUND when none); expire removes every entry expired by now, *n of them
     * (through the expiry index). */
    int (*login_put)(struct store *s, int kind, const uint8_t hash[32], const char *data, int64_t expires);
    int (*login_get)(struct store *s, int kind, const uint8_t hash[32], int64_t now,
                     char data[STORE_LOGIN_DATA_MAX + 1]);
    int (*login_take)(struct store *s, int kind, const uint8_t hash[32], int64_t now,
                      char data[STORE_LOGIN_DATA_MAX + 1]);
    int (*login_delete)(struct store *s, int kind, const uint8_t hash[32]);
    int (*login_expire)(struct store *s, int64_t now, int64_t *n);
};

/* ---- the change feed: several control instances on one database ----
 * Every committed change of a node, user, the policy or the settings, and every node's online state per
 * instance, is announced to every instance (PostgreSQL: a row in a change log and a NOTIFY carrying its id,
 * written by triggers in the same transaction as the change). An instance applies the others' changes to its
 * mirror (modules/control/cluster.c). Instances that die are noticed (their session's advisory lock is gone)
 * and their nodes' online marks withdrawn; singleton jobs run on the instance holding the leader lock. */
enum store_change_kind {
    STORE_CH_NODE = 'N',      /* node obj inserted or changed (read it again) */
    STORE_CH_NODE_GONE = 'D', /* node obj deleted */
    STORE_CH_USERS = 'U',     /* a user was created, renamed or deleted */
    STORE_CH_POLICY = 'P',    /* the stored policy changed */
    STORE_CH_SETTINGS = 'S',  /* a run-time setting (the REST API's DNS settings) changed */
    STORE_CH_ONLINE = 'O',    /* node obj has a map stream on instance `instance` */
    STORE_CH_OFFLINE = 'F',   /* ... no longer */
    STORE_CH_LOST = 'L',      /* ... no longer because that instance died (or lost the database) */
    STORE_CH_PENDING_DONE = 'R', /* an interactive registration was approved: obj = the node it registered */
};
struct store_change {
    int64_t seq;      /* the change log's id */
    int kind;         /* enum store_change_kind */
    int64_t obj;      /* node id (0 for users, policy) */
    int64_t instance; /* the instance that made it (0: unknown, e.g. an admin's SQL) */
};
typedef void (*store_change_cb)(void *ctx, const struct store_change *ch);

struct store_feed_ops {
    /* Joins the cluster: this process becomes an instance (*instance, > 0) and listens for changes on a
     * connection of its own, whose socket feed_fd gives (-1 while it is down). */
    int (*start)(struct store *s, int64_t *instance);
    int (*fd)(struct store *s);
    /* Reads what arrived (call when the fd is readable, and now and then): cb for each change made by
     * another instance. A listening connection that dropped is reopened (with the backoff); *resync is set
     * then: changes may have been missed, the caller reloads its mirror. */
    int (*poll)(struct store *s, store_change_cb cb, void *ctx, bool *resync);
    /* This instance holds (online) or no longer holds a map stream for node_id. */
    int (*online)(struct store *s, int64_t node_id, bool online);
    /* Every (node, instance) online mark of other live instances, for a start or a resync. */
    int (*online_list)(struct store *s, store_change_cb cb, void *ctx);
    /* Tries to hold the leader lock (singleton jobs) and, when held, withdraws instances that died and
     * prunes the change log. *leader: whether this instance holds it. */
    int (*lead)(struct store *s, bool *leader);
};

/* Every backend's instance starts with this header. */
struct store {
    const struct store_ops *ops;
    char err[STORE_ERR_MAX];
    struct mhist *latency; /* when set (control's metrics), every call's duration in seconds */
    bool keep_ids;         /* inserts keep a non-zero id they are given (copying a database) */
};

/* Backends: sqlite is built in; plugins add theirs (up to 8) before store_open: a plugin module's iface is its
 * store_ops (plugins/store_postgres). 0, or -1 with a message in err (table full, or a backend built without
 * an operation this control needs: every member must be set). */
int store_register(const struct store_ops *ops, char *err, size_t errlen);
const struct store_ops *store_sqlite_ops(void);

/* Opens by DSN: "SCHEME:REST" picks a registered backend ("sqlite:/var/lib/weft/db.sqlite",
 * "postgres://..."); a DSN without a known scheme is a SQLite file path. With migrate, brings the schema
 * up to date. NULL on failure with the reason in err. */
struct store *store_open(const char *dsn, bool migrate, char *err, size_t errlen);
void store_close(struct store *s);
const char *store_errmsg(const struct store *s);
const char *store_rc_name(int rc);

/* Records a message on s (for backends). Returns rc. */
int store_fail(struct store *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Thin wrappers so that callers read naturally: store_node_insert(s, &n); each is timed into s->latency. */
static inline double store_t0(const struct store *s) { return s->latency ? metrics_now() : 0; }
static inline int store_t1(struct store *s, double t0, int rc)
{
    if (s->latency)
        mhist_observe(s->latency, metrics_now() - t0);
    return rc;
}
static inline int store_begin(struct store *s)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->begin(s));
}
static inline int store_commit(struct store *s)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->commit(s));
}
static inline int store_rollback(struct store *s)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->rollback(s));
}
static inline int store_schema_version(struct store *s, int *cur, int *latest)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->schema_version(s, cur, latest));
}
static inline int store_migrate(struct store *s, int target)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->migrate(s, target));
}
static inline int store_user_create(struct store *s, struct model_user *u)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->user_create(s, u));
}
static inline int store_user_get_by_id(struct store *s, int64_t id, struct model_user *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->user_get_by_id(s, id, o));
}
static inline int store_user_get_by_name(struct store *s, const char *name, struct model_user *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->user_get_by_name(s, name, o));
}
static inline int store_user_list(struct store *s, struct model_user **o, size_t *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->user_list(s, o, n));
}
static inline int store_user_rename(struct store *s, int64_t id, const char *name)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->user_rename(s, id, name));
}
static inline int store_user_delete(struct store *s, int64_t id, bool force)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->user_delete(s, id, force));
}
static inline int store_node_insert(struct store *s, struct model_node *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_insert(s, n));
}
static inline int store_node_update(struct store *s, const struct model_node *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_update(s, n));
}
static inline int store_node_get_by_id(struct store *s, int64_t id, struct model_node *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_get_by_id(s, id, o));
}
static inline int store_node_get_by_node_key(struct store *s, const uint8_t *k, struct model_node *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_get_by_node_key(s, k, o));
}
static inline int store_node_get_by_machine_key(struct store *s, const uint8_t *k, struct model_node *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_get_by_machine_key(s, k, o));
}
static inline int store_node_get_by_given_name(struct store *s, const char *name, struct model_node *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_get_by_given_name(s, name, o));
}
static inline int store_policy_get(struct store *s, char **text, size_t *len, int64_t *updated)
{
    return s->ops->policy_get(s, text, len, updated);
}
static inline int store_policy_set(struct store *s, const char *text, size_t len)
{
    return s->ops->policy_set(s, text, len);
}
static inline int store_setting_list(struct store *s, store_setting_cb cb, void *ctx)
{
    return s->ops->setting_list(s, cb, ctx);
}
static inline int store_setting_set(struct store *s, const char *name, const char *value)
{
    return s->ops->setting_set(s, name, value);
}
static inline int store_identity_get(struct store *s, const char *issuer, const char *subject, int64_t *user_id)
{
    return s->ops->identity_get(s, issuer, subject, user_id);
}
static inline int store_identity_bind(struct store *s, const char *issuer, const char *subject, int64_t user_id)
{
    return s->ops->identity_bind(s, issuer, subject, user_id);
}
static inline int store_pending_put(struct store *s, const struct store_pending *p, size_t max)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->pending_put(s, p, max));
}
static inline int store_pending_get(struct store *s, const char *id, struct store_pending *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->pending_get(s, id, o));
}
static inline int store_pending_get_by_machine_key(struct store *s, const uint8_t k[MODEL_KEY_LEN],
                                                   struct store_pending *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->pending_get_by_machine_key(s, k, o));
}
static inline int store_pending_done(struct store *s, const char *id, int64_t user_id, int64_t node_id)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->pending_done(s, id, user_id, node_id));
}
static inline int store_pending_delete(struct store *s, const char *id)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->pending_delete(s, id));
}
static inline int store_pending_expire(struct store *s, int64_t now, int64_t *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->pending_expire(s, now, n));
}
/* What every backend would refuse alike, refused here once: an unknown kind, and (put) too much data. */
int store_login_refused(struct store *s, int kind, const char *data);
static inline int store_login_put(struct store *s, int kind, const uint8_t h[32], const char *data, int64_t expires)
{
    int rc = store_login_refused(s, kind, data);
    if (rc)
        return rc;
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->login_put(s, kind, h, data, expires));
}
static inline int store_login_get(struct store *s, int kind, const uint8_t h[32], int64_t now,
                                  char data[STORE_LOGIN_DATA_MAX + 1])
{
    int rc = store_login_refused(s, kind, NULL);
    if (rc)
        return rc;
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->login_get(s, kind, h, now, data));
}
static inline int store_login_take(struct store *s, int kind, const uint8_t h[32], int64_t now,
                                   char data[STORE_LOGIN_DATA_MAX + 1])
{
    int rc = store_login_refused(s, kind, NULL);
    if (rc)
        return rc;
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->login_take(s, kind, h, now, data));
}
static inline int store_login_delete(struct store *s, int kind, const uint8_t h[32])
{
    int rc = store_login_refused(s, kind, NULL);
    if (rc)
        return rc;
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->login_delete(s, kind, h));
}
static inline int store_login_expire(struct store *s, int64_t now, int64_t *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->login_expire(s, now, n));
}
static inline int store_identity_list(struct store *s, store_identity_cb cb, void *ctx)
{
    return s->ops->identity_list(s, cb, ctx);
}
static inline int store_node_list(struct store *s, struct model_node **o, size_t *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_list(s, o, n));
}
static inline int store_node_list_by_user(struct store *s, int64_t uid, struct model_node **o, size_t *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_list_by_user(s, uid, o, n));
}
static inline int store_node_delete(struct store *s, int64_t id)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_delete(s, id));
}
static inline int store_node_set_last_seen(struct store *s, int64_t id, int64_t t)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->node_set_last_seen(s, id, t));
}
static inline int store_addrs_in_use(struct store *s, store_addr_cb cb, void *ctx)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->addrs_in_use(s, cb, ctx));
}
static inline int store_authkey_create(struct store *s, struct model_authkey *k)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->authkey_create(s, k));
}
static inline int store_authkey_get_by_id(struct store *s, int64_t id, struct model_authkey *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->authkey_get_by_id(s, id, o));
}
static inline int store_authkey_get_by_hash(struct store *s, const uint8_t *h, struct model_authkey *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->authkey_get_by_hash(s, h, o));
}
static inline int store_authkey_list(struct store *s, struct model_authkey **o, size_t *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->authkey_list(s, o, n));
}
static inline int store_authkey_mark_used(struct store *s, int64_t id)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->authkey_mark_used(s, id));
}
static inline int store_authkey_expire(struct store *s, int64_t id, int64_t when)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->authkey_expire(s, id, when));
}
static inline int store_authkey_revoke(struct store *s, int64_t id)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->authkey_revoke(s, id));
}
static inline int store_cred_create(struct store *s, struct model_cred *c)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->cred_create(s, c));
}
static inline int store_cred_get(struct store *s, const char *key_id, struct model_cred *o)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->cred_get(s, key_id, o));
}
static inline int store_cred_list(struct store *s, int kind, struct model_cred **o, size_t *n)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->cred_list(s, kind, o, n));
}
static inline int store_cred_expire(struct store *s, const char *key_id, int64_t when)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->cred_expire(s, key_id, when));
}
static inline int store_cred_revoke(struct store *s, const char *key_id)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->cred_revoke(s, key_id));
}
static inline int store_cred_delete(struct store *s, const char *key_id)
{
    double t0 = store_t0(s);
    return store_t1(s, t0, s->ops->cred_delete(s, key_id));
}

#endif
