// SPDX-License-Identifier: BSD-3-Clause
/* The PostgreSQL backend's connection: open, the schema version and migrations, transactions, and surviving
 * a database that goes away (a restart, a failover, a network cut).
 *
 * Calls are synchronous, like SQLite's: control's loop waits for each round trip (a local server answers a
 * prepared statement in tens of microseconds). When the connection drops, the statement that met it fails
 * with STORE_IO; a reconnect is tried at once and, if the statement is idempotent (a read, or a write of
 * absolute values) and no transaction was open, it runs once more on the new connection. A statement that
 * may have committed before the drop (an insert, a use count) is never re-run: its caller sees STORE_IO and
 * the client retries its request. While the server stays away, reconnects are tried no more often than a
 * backoff allows (0.25 s doubling to 30 s) and operations in between fail at once, so a dead database
 * costs each request one error, not a connect timeout. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/store_postgres/pg.h"

/* pg_advisory_lock key that serialises migrations of instances sharing a database: "weft" in ASCII. */
#define PG_MIGRATE_LOCK "2003199604"

double pg_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* libpq's messages end with a newline and may span lines: one line for a log. */
void pg_oneline(char *dst, size_t cap, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < cap; i++)
        dst[j++] = src[i] == '\n' || src[i] == '\r' || src[i] == '\t' ? ' ' : src[i];
    while (j > 0 && dst[j - 1] == ' ')
        j--;
    dst[j] = 0;
}

static void pg_quiet(void *arg, const char *msg) { (void)arg, (void)msg; } /* NOTICEs are not ours to print */

/* The connection parameters we set come before the DSN's own (expand_dbname: later ones win), so a DSN may
 * override them. */
PGconn *pg_connect(const char *dsn, char *err, size_t errlen)
{
    static const char *const keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", NULL};
    const char *vals[] = {"5", "weft", "UTF8", dsn, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        pg_oneline(err, errlen, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    PGresult *r = PQexec(c, "SET client_min_messages = warning");
    PQclear(r);
    return c;
}

static void pg_set_label(struct pg_store *q)
{
    const char *host = PQhost(q->conn), *port = PQport(q->conn), *db = PQdb(q->conn);
    snprintf(q->label, sizeof q->label, "postgres %s@%s%s%s", db ? db : "?",
             host && host[0] == '/' ? "unix:" : "", host ? host : "?", "");
    if (port && *port && strlen(q->label) + strlen(port) + 2 < sizeof q->label)
        snprintf(q->label + strlen(q->label), sizeof q->label - strlen(q->label), ":%s", port);
}

/* A usable connection, or STORE_IO. force: try now whatever the backoff says (a statement just met the drop). */
static int pg_ready(struct pg_store *q, bool force)
{
    if (q->conn && PQstatus(q->conn) == CONNECTION_OK && !q->tx_lost)
        return STORE_OK;
    if (q->depth > 0) {
        q->tx_lost = true;
        return store_fail(&q->base, STORE_IO, "%s: the connection was lost inside a transaction (rolled back)",
                          q->label);
    }
    double now = pg_mono();
    if (!force && now < q->next_try)
        return store_fail(&q->base, STORE_IO, "%s: database unavailable (%s); next reconnect in %.1f s",
                          q->label, q->last_err, q->next_try - now);
    if (q->conn)
        PQfinish(q->conn);
    q->prepared = 0;
    q->conn = pg_connect(q->dsn, q->last_err, sizeof q->last_err);
    if (!q->conn) {
        q->backoff = q->backoff ? q->backoff * 2 : PG_BACKOFF_MIN;
        if (q->backoff > PG_BACKOFF_MAX)
            q->backoff = PG_BACKOFF_MAX;
        q->next_try = now + q->backoff;
        return store_fail(&q->base, STORE_IO, "%s: database unavailable (%s); next reconnect in %.1f s",
                          q->label, q->last_err, q->backoff);
    }
    q->backoff = 0;
    q->next_try = 0;
    q->reconnects++;
    q->conn_instance = 0;
    return pg_mark_instance(q);
}

/* With the change feed on, the session says which instance it is: the triggers (pg_feed.c) record it with
 * every change so that an instance skips its own. */
int pg_mark_instance(struct pg_store *q)
{
    if (!q->instance || q->conn_instance == q->instance)
        return STORE_OK;
    char sql[80];
    snprintf(sql, sizeof sql, "SET weft.instance = '%lld'", (long long)q->instance);
    PGresult *r = PQexec(q->conn, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : pg_fail(q, r, "set the instance");
    PQclear(r);
    if (rc == STORE_OK)
        q->conn_instance = q->instance;
    return rc;
}

/* The connection broke under a statement: forget it (the next pg_ready reconnects). */
static void pg_lost(struct pg_store *q)
{
    if (q->depth > 0)
        q->tx_lost = true;
    pg_oneline(q->last_err, sizeof q->last_err, PQerrorMessage(q->conn));
}

static bool pg_is_lost(struct pg_store *q) { return !q->conn || PQstatus(q->conn) != CONNECTION_OK; }

int pg_fail(struct pg_store *q, const PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[300];
    pg_oneline(msg, sizeof msg, r ? PQresultErrorMessage(r) : NULL);
    if (!msg[0])
        pg_oneline(msg, sizeof msg, q->conn ? PQerrorMessage(q->conn) : "no connection");
    int rc = STORE_IO;
    if (state && strcmp(state, "23505") == 0)
        rc = STORE_CONFLICT; /* unique_violation */
    else if (state && strncmp(state, "23", 2) == 0)
        rc = STORE_INVALID; /* foreign key, not null, check */
    return store_fail(&q->base, rc, "%s: %s: %s", q->label, what, msg);
}

/* A statement outside the prepared set (transactions, savepoints, migrations). */
static int pg_exec(struct pg_store *q, const char *sql, const char *what)
{
    PGresult *r = PQexec(q->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? STORE_OK : pg_fail(q, r, what);
    PQclear(r);
    if (rc != STORE_OK && pg_is_lost(q))
        pg_lost(q);
    return rc;
}

int pg_query(struct pg_store *q, enum pg_q id, const char *const *params, PGresult **out, const char *what)
{
    const struct pg_stmt *stmt = &pg_stmts[id];
    char name[16];
    snprintf(name, sizeof name, "weft_q%d", (int)id);
    *out = NULL;
    for (int attempt = 0;; attempt++) {
        int rc = pg_ready(q, attempt > 0);
        if (rc != STORE_OK)
            return rc;
        bool savepoint = q->depth > 0 && (stmt->flags & PG_WRITE);
        PGresult *r = NULL;
        if (!(q->prepared >> id & 1)) {
            r = PQprepare(q->conn, name, stmt->sql, stmt->nparams, NULL);
            if (PQresultStatus(r) == PGRES_COMMAND_OK) {
                q->prepared |= (uint64_t)1 << id;
                PQclear(r);
                r = NULL;
            }
        }
        if (r)
            savepoint = false; /* the prepare failed: nothing to undo */
        else if (savepoint && (rc = pg_exec(q, "SAVEPOINT weft_stmt", what)) != STORE_OK)
            return rc;
        if (!r)
            r = PQexecPrepared(q->conn, name, stmt->nparams, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (savepoint && (rc = pg_exec(q, "RELEASE weft_stmt", what)) != STORE_OK) {
                PQclear(r);
                return rc;
            }
            *out = r;
            return STORE_OK;
        }
        rc = pg_fail(q, r, what);
        PQclear(r);
        if (!pg_is_lost(q)) {
            if (savepoint) {
                PGresult *rb = PQexec(q->conn, "ROLLBACK TO weft_stmt; RELEASE weft_stmt");
                PQclear(rb);
            }
            return rc;
        }
        pg_lost(q);
        if (attempt > 0 || q->depth > 0 || !(stmt->flags & PG_IDEMPOTENT))
            return rc;
        /* idempotent and on its own: once more on a new connection */
    }
}

int pg_atomically(struct pg_store *q, int (*fn)(struct pg_store *, void *), void *arg)
{
    int rc = pg_ready(q, false);
    if (rc != STORE_OK)
        return rc;
    bool outer = q->depth == 0;
    if ((rc = pg_exec(q, outer ? "BEGIN" : "SAVEPOINT weft_op", "begin")) != STORE_OK)
        return rc;
    q->depth++;
    rc = fn(q, arg);
    if (rc == STORE_OK)
        rc = pg_exec(q, outer ? "COMMIT" : "RELEASE weft_op", "commit");
    q->depth--;
    if (rc != STORE_OK && !pg_is_lost(q)) {
        PGresult *r = PQexec(q->conn, outer ? "ROLLBACK" : "ROLLBACK TO weft_op; RELEASE weft_op");
        PQclear(r);
    }
    if (outer)
        q->tx_lost = false;
    return rc;
}

/* ---- open / close ---- */

/* The schema version, 0 for a database without our version table. */
static int pg_read_version(struct pg_store *q, int *ver)
{
    PGresult *r = PQexec(q->conn, "SELECT version FROM weft_schema WHERE id = 1");
    ExecStatusType st = PQresultStatus(r);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    int rc = STORE_OK;
    if (st == PGRES_TUPLES_OK)
        *ver = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    else if (state && strcmp(state, "42P01") == 0) /* undefined_table */
        *ver = 0;
    else
        rc = pg_fail(q, r, "read the schema version");
    PQclear(r);
    return rc;
}

void pg_close(struct store *s)
{
    struct pg_store *q = PG(s);
    if (!q)
        return;
    if (q->conn)
        PQfinish(q->conn);
    if (q->lconn)
        PQfinish(q->lconn);
    if (q->dsn) {
        memset(q->dsn, 0, strlen(q->dsn)); /* it may hold the password */
        free(q->dsn);
    }
    free(q);
}

int pg_open(const char *dsn, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    struct pg_store *q = calloc(1, sizeof *q);
    if (!q || !(q->dsn = strdup(dsn))) {
        free(q);
        snprintf(err, errlen, "postgres: out of memory");
        return STORE_IO;
    }
    q->base.ops = store_postgres_ops();
    snprintf(q->label, sizeof q->label, "postgres");
    char why[256];
    if (!(q->conn = pg_connect(dsn, why, sizeof why))) {
        snprintf(err, errlen, "postgres: cannot connect: %s", why);
        pg_close(&q->base);
        return STORE_IO;
    }
    pg_set_label(q);
    int ver = 0;
    if (pg_read_version(q, &ver) != STORE_OK) {
        snprintf(err, errlen, "%s", q->base.err);
        pg_close(&q->base);
        return STORE_IO;
    }
    if (ver > pg_latest) {
        snprintf(err, errlen,
                 "%s: database schema %d is newer than this weft understands (%d): it was written by a newer "
                 "weft; run that version, or restore a backup made before the upgrade",
                 q->label, ver, pg_latest);
        pg_close(&q->base);
        return STORE_SCHEMA;
    }
    *out = &q->base;
    return STORE_OK;
}

/* ---- transactions ---- */

int pg_begin(struct store *s)
{
    struct pg_store *q = PG(s);
    if (q->in_tx)
        return store_fail(s, STORE_INVALID, "%s: begin: a transaction is already open", q->label);
    int rc = pg_ready(q, false);
    if (rc == STORE_OK)
        rc = pg_exec(q, "BEGIN", "begin");
    if (rc != STORE_OK && pg_is_lost(q) && (rc = pg_ready(q, true)) == STORE_OK) /* nothing was open: again */
        rc = pg_exec(q, "BEGIN", "begin");
    if (rc == STORE_OK) {
        q->in_tx = true;
        q->depth = 1;
        q->tx_lost = false;
    }
    return rc;
}

int pg_commit(struct store *s)
{
    struct pg_store *q = PG(s);
    if (!q->in_tx)
        return store_fail(s, STORE_INVALID, "%s: commit: no transaction is open", q->label);
    int rc;
    if (q->tx_lost || pg_is_lost(q)) {
        rc = store_fail(s, STORE_IO, "%s: commit: the connection was lost inside the transaction (%s); nothing "
                        "of it was stored", q->label, q->last_err);
    } else {
        PGresult *r = PQexec(q->conn, "COMMIT");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(q, r, "commit");
        else if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0) /* an error aborted it: PostgreSQL rolls back */
            rc = store_fail(s, STORE_IO, "%s: commit: the transaction had failed and was rolled back", q->label);
        else
            rc = STORE_OK;
        PQclear(r);
        if (rc != STORE_OK && pg_is_lost(q))
            pg_lost(q);
    }
    q->in_tx = false;
    q->depth = 0;
    q->tx_lost = false;
    return rc;
}

int pg_rollback(struct store *s)
{
    struct pg_store *q = PG(s);
    if (!q->in_tx)
        return STORE_OK;
    if (!q->tx_lost && !pg_is_lost(q)) {
        PGresult *r = PQexec(q->conn, "ROLLBACK");
        PQclear(r);
    }
    q->in_tx = false;
    q->depth = 0;
    q->tx_lost = false;
    return STORE_OK;
}

/* ---- schema ---- */

int pg_schema_version(struct store *s, int *current, int *latest)
{
    struct pg_store *q = PG(s);
    *latest = pg_latest;
    int rc = pg_ready(q, false);
    return rc == STORE_OK ? pg_read_version(q, current) : rc;
}

/* Instances sharing the database may start together: a session advisory lock lets one migrate while the
 * others wait, then find the work done. Each step is its own transaction with the version update. */
int pg_migrate(struct store *s, int target)
{
    struct pg_store *q = PG(s);
    if (target <= 0 || target > pg_latest)
        target = pg_latest;
    if (q->in_tx)
        return store_fail(s, STORE_INVALID, "%s: migrate inside a transaction", q->label);
    int rc = pg_ready(q, false), cur = 0;
    if (rc != STORE_OK)
        return rc;
    if ((rc = pg_exec(q, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")", "lock for migration")) != STORE_OK)
        return rc;
    if ((rc = pg_read_version(q, &cur)) != STORE_OK)
        goto out;
    if (cur > pg_latest) {
        rc = store_fail(s, STORE_SCHEMA, "%s: database schema %d is newer than this weft understands (%d)",
                        q->label, cur, pg_latest);
        goto out;
    }
    if (cur >= target)
        goto out;
    if (cur == 0) {
        PGresult *r = PQexec(q->conn, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                                      "AND tablename <> 'weft_schema'");
        int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
        if (n != 0)
            rc = n < 0 ? pg_fail(q, r, "list tables")
                       : store_fail(s, STORE_SCHEMA, "%s: the database has tables but no weft schema version; "
                                    "refusing to touch it", q->label);
        PQclear(r);
        if (rc != STORE_OK)
            goto out;
    }
    for (int v = cur; v < target && rc == STORE_OK; v++) {
        char what[64], setver[160];
        snprintf(what, sizeof what, "migration %d -> %d", v, v + 1);
        snprintf(setver, sizeof setver,
                 "INSERT INTO weft_schema (id, version) VALUES (1, %d) "
                 "ON CONFLICT (id) DO UPDATE SET version = excluded.version", v + 1);
        if ((rc = pg_exec(q, "BEGIN", what)) != STORE_OK)
            break;
        if ((v == 0 && (rc = pg_exec(q, "CREATE TABLE IF NOT EXISTS weft_schema (id INTEGER PRIMARY KEY "
                                        "CHECK (id = 1), version INTEGER NOT NULL)", what)) != STORE_OK) ||
            (rc = pg_exec(q, pg_migrations[v], what)) != STORE_OK || (rc = pg_exec(q, setver, what)) != STORE_OK ||
            (rc = pg_exec(q, "COMMIT", what)) != STORE_OK) {
            if (!pg_is_lost(q)) {
                PGresult *r = PQexec(q->conn, "ROLLBACK");
                PQclear(r);
            }
            char msg[STORE_ERR_MAX];
            snprintf(msg, sizeof msg, "%s", s->err);
            rc = store_fail(s, STORE_SCHEMA, "%s (the database keeps its last complete schema, %d)", msg, v);
        }
    }
out:
    if (!pg_is_lost(q)) {
        PGresult *r = PQexec(q->conn, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")");
        PQclear(r);
    }
    q->prepared = 0; /* statements prepared against the old schema */
    if (q->conn && !pg_is_lost(q)) {
        PGresult *r = PQexec(q->conn, "DEALLOCATE ALL");
        PQclear(r);
    }
    return rc;
}
