// SPDX-License-Identifier: BSD-3-Clause
/* The PostgreSQL storage backend's insides (store.h is its interface): one libpq connection, used only from
 * control's event-loop thread, re-established when it drops. */
#ifndef WEFT_STORE_POSTGRES_PG_H
#define WEFT_STORE_POSTGRES_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "modules/control/store.h"

/* The statements the operations run, prepared on first use on each connection (pg_ops.c holds their text). */
enum pg_q {
    Q_USER_INSERT, Q_USER_BY_ID, Q_USER_BY_NAME, Q_USER_LIST, Q_USER_RENAME, Q_USER_DELETE,
    Q_USER_COUNT_NODES, Q_USER_COUNT_KEYS, Q_USER_DELETE_NODES, Q_USER_DELETE_KEYS,
    Q_NODE_INSERT, Q_NODE_UPDATE, Q_NODE_BY_ID, Q_NODE_BY_NODE_KEY, Q_NODE_BY_MACHINE_KEY,
    Q_NODE_BY_GIVEN_NAME, Q_NODE_LIST, Q_NODE_LIST_BY_USER, Q_NODE_DELETE, Q_NODE_LAST_SEEN, Q_ADDRS,
    Q_KEY_INSERT, Q_KEY_BY_ID, Q_KEY_BY_HASH, Q_KEY_LIST, Q_KEY_MARK_USED, Q_KEY_EXPIRE, Q_KEY_REVOKE,
    Q_CRED_INSERT, Q_CRED_GET, Q_CRED_LIST, Q_CRED_EXPIRE, Q_CRED_REVOKE, Q_CRED_DELETE,
    Q_SETTING_LIST, Q_SETTING_SET, Q_SETTING_DELETE, Q_IDENTITY_GET, Q_IDENTITY_BIND, Q_IDENTITY_LIST,
    Q_POLICY_GET, Q_POLICY_SET, Q_FEED_ONLINE, Q_FEED_OFFLINE, Q_FEED_ONLINE_LIST, Q_SEQ_USERS, Q_SEQ_NODES, Q_SEQ_KEYS,
    Q_PENDING_LOCK, Q_PENDING_INSERT, Q_PENDING_GET, Q_PENDING_BY_MKEY, Q_PENDING_DONE, Q_PENDING_DELETE,
    Q_PENDING_DELETE_MKEY, Q_PENDING_EXPIRE, Q_PENDING_COUNT, Q_PENDING_ADD,
    Q_LOGIN_PUT, Q_LOGIN_GET, Q_LOGIN_TAKE, Q_LOGIN_DELETE, Q_LOGIN_EXPIRE,
    Q_COUNT
};
/* pg_store.prepared has a bit per statement */
_Static_assert(Q_COUNT <= 64, "too many statements for pg_store.prepared");

/* How a statement may be run again: PG_IDEMPOTENT ones (reads, writes of absolute values) are retried once
 * on a new connection when the old one dropped under them; PG_WRITE ones run inside a savepoint when a
 * transaction is open, so that a refused write (a taken name) leaves the transaction usable, as in SQLite. */
enum { PG_IDEMPOTENT = 1, PG_WRITE = 2 };

struct pg_stmt {
    const char *sql;
    int nparams;
    int flags;
};
extern const struct pg_stmt pg_stmts[Q_COUNT];

struct pg_store {
    struct store base;
    PGconn *conn;
    char *dsn;          /* as configured: may hold the password, so never printed */
    char label[200];    /* "postgres db@host:port" for messages */
    bool in_tx;         /* between the caller's begin and commit/rollback */
    int depth;          /* open transaction levels: the caller's and pg_atomically's */
    bool tx_lost;       /* the connection dropped inside the open transaction: it can only be rolled back */
    uint64_t prepared;  /* bit per enum pg_q prepared on this connection */
    double next_try;    /* monotonic seconds before which no reconnect is attempted (backoff) */
    double backoff;     /* the current backoff, doubling from PG_BACKOFF_MIN to PG_BACKOFF_MAX */
    char last_err[256]; /* why the last connection attempt failed */
    unsigned long reconnects;
    /* the change feed (pg_feed.c): this instance, and its listening connection */
    int64_t instance;      /* weft_ha.instances id; 0 = the feed is off */
    int64_t conn_instance; /* what `weft.instance` is set to on conn */
    PGconn *lconn;         /* LISTEN weft_changes, the instance's lock, the leader lock */
    double lnext_try, lbackoff;
    bool leader;
    double next_prune;
};

#define PG_BACKOFF_MIN 0.25
#define PG_BACKOFF_MAX 30.0

/* The numbered migrations (pg_schema.c): entry i brings the schema from version i to i + 1. */
extern const char *const pg_migrations[];
extern const int pg_latest;

extern const struct store_ops pg_store_ops;
const struct store_ops *store_postgres_ops(void);

static inline struct pg_store *PG(struct store *s) { return (struct pg_store *)s; }

/* Runs statement id with text parameters (NULL = SQL NULL). STORE_OK with *out to PQclear, or a store_rc
 * with the message recorded. Reconnects as needed (pg_conn.c). */
int pg_query(struct pg_store *q, enum pg_q id, const char *const *params, PGresult **out, const char *what);
/* Runs fn all-or-nothing: in a savepoint inside an open transaction, else in its own transaction. */
int pg_atomically(struct pg_store *q, int (*fn)(struct pg_store *, void *), void *arg);
/* Records a failed result as a store_rc: unique violations are STORE_CONFLICT, other constraint failures
 * STORE_INVALID, the rest STORE_IO. */
int pg_fail(struct pg_store *q, const PGresult *r, const char *what);

PGconn *pg_connect(const char *dsn, char *err, size_t errlen);
void pg_oneline(char *dst, size_t cap, const char *src);
double pg_mono(void);
int pg_mark_instance(struct pg_store *q);
extern const struct store_feed_ops pg_feed_ops;

int pg_open(const char *dsn, struct store **out, char *err, size_t errlen);
void pg_close(struct store *s);
int pg_begin(struct store *s);
int pg_commit(struct store *s);
int pg_rollback(struct store *s);
int pg_schema_version(struct store *s, int *current, int *latest);
int pg_migrate(struct store *s, int target);

#endif
