// SPDX-License-Identifier: BSD-3-Clause
/* The change feed (store.h, struct store_feed_ops): several control instances on one PostgreSQL database.
 *
 * Triggers on nodes, users and policy write every committed change into weft_ha.changes and NOTIFY
 * weft_changes with "SEQ KIND OBJ INSTANCE" in the same transaction, so a change is announced exactly when
 * it commits, whichever instance (or an administrator's SQL) made it, and a rolled-back one never is. The
 * row is the change log (kept ten minutes, for whoever wants to look); the notification carries everything
 * an instance needs, so no instance ever reads whole tables to find what changed.
 *
 * An interactive registration approved (pending_registrations.node_id set) is announced as 'R' with the node's
 * id: the instance holding the client's waiting request answers it.
 *
 * Online state: weft_ha.online holds (instance, node) for every map stream an instance holds; its trigger
 * announces inserts as 'O' and deletes as 'F'. Each instance registers in weft_ha.instances and holds an
 * advisory lock on its id on its listening connection for as long as it lives; the leader (whoever holds
 * the leader lock) deletes instances whose lock is gone, and with them (ON DELETE CASCADE) their online
 * marks, which the trigger announces as 'L' (lost): the others keep those nodes online for
 * control.offline_grace, time for them to reconnect elsewhere (cluster.c).
 *
 * The feed's objects live in their own schema (weft_ha), outside the numbered migrations: they are the
 * same for every schema version and are (re)created when an instance starts, under the migration lock. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/store_postgres/pg.h"

#define PG_MIGRATE_LOCK "2003199604"
/* Advisory lock classes (two-key form): an instance's life (key 2 = its id), the leader (key 2 = 0). */
#define PG_INSTANCE_CLASS "2003199605"
#define PG_LEADER_CLASS "2003199606"

static const char feed_ddl[] =
    "CREATE SCHEMA IF NOT EXISTS weft_ha;"
    "CREATE TABLE IF NOT EXISTS weft_ha.instances ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " started TIMESTAMPTZ NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS weft_ha.changes ("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " kind \"char\" NOT NULL,"
    " obj BIGINT NOT NULL,"
    " instance BIGINT NOT NULL,"
    " at TIMESTAMPTZ NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS weft_ha.online ("
    " instance BIGINT NOT NULL REFERENCES weft_ha.instances(id) ON DELETE CASCADE,"
    " node_id BIGINT NOT NULL,"
    " PRIMARY KEY (instance, node_id));"
    "CREATE OR REPLACE FUNCTION weft_ha.me() RETURNS BIGINT LANGUAGE sql STABLE AS"
    " $$ SELECT COALESCE(NULLIF(current_setting('weft.instance', true), '')::bigint, 0) $$;"
    "CREATE OR REPLACE FUNCTION weft_ha.log(k \"char\", o BIGINT, i BIGINT) RETURNS void LANGUAGE plpgsql AS $$"
    " DECLARE s BIGINT;"
    " BEGIN"
    "  INSERT INTO weft_ha.changes (kind, obj, instance) VALUES (k, o, i) RETURNING seq INTO s;"
    "  PERFORM pg_notify('weft_changes', s::text || ' ' || k::text || ' ' || o::text || ' ' || i::text);"
    " END $$;"
    /* last_seen alone is not news: it is written in batches while nodes stream */
    "CREATE OR REPLACE FUNCTION weft_ha.on_node() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP = 'DELETE' THEN PERFORM weft_ha.log('D', OLD.id, weft_ha.me()); RETURN NULL; END IF;"
    "  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'last_seen') = (to_jsonb(NEW) - 'last_seen') THEN"
    "   RETURN NULL; END IF;"
    "  PERFORM weft_ha.log('N', NEW.id, weft_ha.me()); RETURN NULL;"
    " END $$;"
    "CREATE OR REPLACE FUNCTION weft_ha.on_users() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM weft_ha.log('U', 0, weft_ha.me()); RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION weft_ha.on_policy() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM weft_ha.log('P', 0, weft_ha.me()); RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION weft_ha.on_settings() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM weft_ha.log('S', 0, weft_ha.me()); RETURN NULL; END $$;"
    /* an approval, wherever it was made: the instance holding the client's waiting request answers it */
    "CREATE OR REPLACE FUNCTION weft_ha.on_pending() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF OLD.node_id = 0 AND NEW.node_id <> 0 THEN PERFORM weft_ha.log('R', NEW.node_id, weft_ha.me()); END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE OR REPLACE FUNCTION weft_ha.on_online() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    /* a mark deleted with its instance (the leader withdrew a dead one: ON DELETE CASCADE) is 'L', which
     * the others answer with control.offline_grace rather than at once */
    "  IF TG_OP = 'DELETE' THEN"
    "   PERFORM weft_ha.log(CASE WHEN EXISTS (SELECT 1 FROM weft_ha.instances WHERE id = OLD.instance)"
    "    THEN 'F' ELSE 'L' END::\"char\", OLD.node_id, OLD.instance);"
    "  ELSE PERFORM weft_ha.log('O', NEW.node_id, NEW.instance); END IF;"
    "  RETURN NULL;"
    " END $$;"
    "DROP TRIGGER IF EXISTS weft_ha_change ON nodes;"
    "CREATE TRIGGER weft_ha_change AFTER INSERT OR UPDATE OR DELETE ON nodes"
    " FOR EACH ROW EXECUTE FUNCTION weft_ha.on_node();"
    "DROP TRIGGER IF EXISTS weft_ha_change ON users;"
    "CREATE TRIGGER weft_ha_change AFTER INSERT OR UPDATE OR DELETE ON users"
    " FOR EACH STATEMENT EXECUTE FUNCTION weft_ha.on_users();"
    "DROP TRIGGER IF EXISTS weft_ha_change ON policy;"
    "CREATE TRIGGER weft_ha_change AFTER INSERT OR UPDATE OR DELETE ON policy"
    " FOR EACH STATEMENT EXECUTE FUNCTION weft_ha.on_policy();"
    "DROP TRIGGER IF EXISTS weft_ha_change ON settings;"
    "CREATE TRIGGER weft_ha_change AFTER INSERT OR UPDATE OR DELETE ON settings"
    " FOR EACH STATEMENT EXECUTE FUNCTION weft_ha.on_settings();"
    "DROP TRIGGER IF EXISTS weft_ha_change ON pending_registrations;"
    "CREATE TRIGGER weft_ha_change AFTER UPDATE ON pending_registrations"
    " FOR EACH ROW EXECUTE FUNCTION weft_ha.on_pending();"
    "DROP TRIGGER IF EXISTS weft_ha_change ON weft_ha.online;"
    "CREATE TRIGGER weft_ha_change AFTER INSERT OR DELETE ON weft_ha.online"
    " FOR EACH ROW EXECUTE FUNCTION weft_ha.on_online();";

static int lfail(struct pg_store *q, PGresult *r, const char *what)
{
    char msg[300];
    pg_oneline(msg, sizeof msg, r ? PQresultErrorMessage(r) : PQerrorMessage(q->lconn));
    if (!msg[0] && q->lconn)
        pg_oneline(msg, sizeof msg, PQerrorMessage(q->lconn));
    return store_fail(&q->base, STORE_IO, "%s: change feed: %s: %s", q->label, what, msg);
}

/* One statement on the listening connection; *out (if wanted) to PQclear. */
static int lexec(struct pg_store *q, const char *sql, PGresult **out, const char *what)
{
    PGresult *r = PQexec(q->lconn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = lfail(q, r, what);
        PQclear(r);
        return rc;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return STORE_OK;
}

static void ldrop(struct pg_store *q)
{
    if (q->lconn)
        PQfinish(q->lconn);
    q->lconn = NULL;
    q->leader = false;
}

/* A listening connection: the feed's objects, a new instance id with its life lock, LISTEN. */
static int lconnect(struct pg_store *q)
{
    char why[256];
    double now = pg_mono();
    if (now < q->lnext_try)
        return store_fail(&q->base, STORE_IO, "%s: change feed: database unavailable; next try in %.1f s",
                          q->label, q->lnext_try - now);
    if (!(q->lconn = pg_connect(q->dsn, why, sizeof why))) {
        q->lbackoff = q->lbackoff ? q->lbackoff * 2 : PG_BACKOFF_MIN;
        if (q->lbackoff > PG_BACKOFF_MAX)
            q->lbackoff = PG_BACKOFF_MAX;
        q->lnext_try = now + q->lbackoff;
        return store_fail(&q->base, STORE_IO, "%s: change feed: database unavailable (%s)", q->label, why);
    }
    PGresult *r = NULL;
    int rc = lexec(q, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")", NULL, "lock");
    if (rc == STORE_OK) {
        rc = lexec(q, feed_ddl, NULL, "create the feed's tables");
        PGresult *u = PQexec(q->lconn, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")");
        PQclear(u);
    }
    if (rc == STORE_OK)
        rc = lexec(q, "LISTEN weft_changes", NULL, "listen");
    if (rc == STORE_OK)
        rc = lexec(q, "INSERT INTO weft_ha.instances DEFAULT VALUES RETURNING id", &r, "register the instance");
    if (rc == STORE_OK) {
        q->instance = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        char sql[120];
        snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(" PG_INSTANCE_CLASS ", %lld)", (long long)q->instance);
        rc = lexec(q, sql, NULL, "lock the instance");
    }
    if (rc != STORE_OK) {
        ldrop(q);
        q->lbackoff = q->lbackoff ? q->lbackoff * 2 : PG_BACKOFF_MIN;
        if (q->lbackoff > PG_BACKOFF_MAX)
            q->lbackoff = PG_BACKOFF_MAX;
        q->lnext_try = now + q->lbackoff;
        return rc;
    }
    q->lbackoff = 0;
    q->lnext_try = 0;
    /* the main connection's changes name the new instance */
    if (q->conn && PQstatus(q->conn) == CONNECTION_OK)
        pg_mark_instance(q);
    return STORE_OK;
}

static int feed_start(struct store *s, int64_t *instance)
{
    struct pg_store *q = PG(s);
    if (!q->lconn) {
        int rc = lconnect(q);
        if (rc != STORE_OK)
            return rc;
    }
    *instance = q->instance;
    return STORE_OK;
}

static int feed_fd(struct store *s)
{
    struct pg_store *q = PG(s);
    return q->lconn && PQstatus(q->lconn) == CONNECTION_OK ? PQsocket(q->lconn) : -1;
}

static int feed_poll(struct store *s, store_change_cb cb, void *ctx, bool *resync)
{
    struct pg_store *q = PG(s);
    *resync = false;
    if (q->lconn && (PQstatus(q->lconn) != CONNECTION_OK || !PQconsumeInput(q->lconn))) {
        int rc = lfail(q, NULL, "the listening connection was lost");
        ldrop(q);
        (void)rc;
    }
    if (!q->lconn) {
        int rc = lconnect(q);
        if (rc != STORE_OK)
            return rc;
        *resync = true; /* what happened meanwhile was not heard */
    }
    PGnotify *n;
    while ((n = PQnotifies(q->lconn))) {
        struct store_change ch = {0};
        long long seq, obj, inst;
        char kind;
        if (sscanf(n->extra, "%lld %c %lld %lld", &seq, &kind, &obj, &inst) == 4 && inst != q->instance) {
            ch.seq = seq;
            ch.kind = kind;
            ch.obj = obj;
            ch.instance = inst;
            cb(ctx, &ch);
        }
        PQfreemem(n);
    }
    return STORE_OK;
}

static int feed_online(struct store *s, int64_t node_id, bool online)
{
    struct pg_store *q = PG(s);
    if (!q->instance)
        return STORE_OK;
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", (long long)q->instance);
    snprintf(b, sizeof b, "%lld", (long long)node_id);
    const char *v[2] = {a, b};
    PGresult *r;
    int rc = pg_query(q, online ? Q_FEED_ONLINE : Q_FEED_OFFLINE, v, &r, "record online state");
    if (rc == STORE_OK)
        PQclear(r);
    return rc;
}

static int feed_online_list(struct store *s, store_change_cb cb, void *ctx)
{
    struct pg_store *q = PG(s);
    PGresult *r;
    int rc = pg_query(q, Q_FEED_ONLINE_LIST, NULL, &r, "list online nodes");
    if (rc != STORE_OK)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_change ch = {0};
        ch.kind = STORE_CH_ONLINE;
        ch.instance = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        ch.obj = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (ch.instance != q->instance)
            cb(ctx, &ch);
    }
    PQclear(r);
    return STORE_OK;
}

static int feed_lead(struct store *s, bool *leader)
{
    struct pg_store *q = PG(s);
    *leader = false;
    if (!q->lconn || PQstatus(q->lconn) != CONNECTION_OK)
        return store_fail(s, STORE_IO, "%s: change feed: not connected", q->label);
    PGresult *r = NULL;
    int rc;
    if (!q->leader) {
        if ((rc = lexec(q, "SELECT pg_try_advisory_lock(" PG_LEADER_CLASS ", 0)", &r, "take the leader lock")))
            return rc;
        q->leader = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
    }
    if (q->leader) {
        /* instances whose life lock is gone died (or lost their connection: they register anew) */
        rc = lexec(q,
                   "DELETE FROM weft_ha.instances i WHERE NOT EXISTS (SELECT 1 FROM pg_locks l "
                   "WHERE l.locktype = 'advisory' AND l.classid = " PG_INSTANCE_CLASS " AND l.objid = i.id "
                   "AND l.objsubid = 2 AND l.granted)",
                   NULL, "withdraw dead instances");
        double now = pg_mono();
        if (rc == STORE_OK && now >= q->next_prune) {
            q->next_prune = now + 60;
            rc = lexec(q, "DELETE FROM weft_ha.changes WHERE at < now() - interval '10 minutes'", NULL,
                       "prune the change log");
        }
        if (rc != STORE_OK)
            return rc;
    }
    *leader = q->leader;
    return STORE_OK;
}

const struct store_feed_ops pg_feed_ops = {
    .start = feed_start,
    .fd = feed_fd,
    .poll = feed_poll,
    .online = feed_online,
    .online_list = feed_online_list,
    .lead = feed_lead,
};
