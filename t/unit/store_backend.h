// SPDX-License-Identifier: BSD-3-Clause
/* Which backend the store tests run against: SQLite files in the test's directory (the default), or, when
 * WEFT_TEST_PG_DSN names a PostgreSQL server's admin database (postgres:///postgres?host=...&port=...&user=...,
 * as t/store_postgres_unit.t sets it), one fresh database per name on that server. One test source covers both. */
#ifndef WEFT_T_STORE_BACKEND_H
#define WEFT_T_STORE_BACKEND_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/store.h"
#ifdef HAVE_PQ
#include <libpq-fe.h>
#include "plugins/store_postgres/pg.h"
#endif

/* The admin DSN when the tests run against PostgreSQL, else NULL. */
static const char *tb_pg(void)
{
#ifdef HAVE_PQ
    const char *v = getenv("WEFT_TEST_PG_DSN");
    return v && *v ? v : NULL;
#else
    return NULL;
#endif
}

static const char *tb_name(void) { return tb_pg() ? "postgres" : "sqlite"; }

#ifdef HAVE_PQ
/* Runs SQL on database db of the test server ("" = the admin database). 0 or -1 (printed). */
static int tb_pg_exec(const char *db, const char *sql);

/* The DSN of database db on the test server: the admin DSN with its database name replaced. */
static void tb_pg_dsn(const char *db, char *out, size_t cap)
{
    const char *base = tb_pg();
    const char *q = strchr(base, '?');
    snprintf(out, cap, "postgres:///%s%s", db, q ? q : "");
}

static int tb_pg_exec(const char *db, const char *sql)
{
    char dsn[1024];
    if (*db)
        tb_pg_dsn(db, dsn, sizeof dsn);
    else
        snprintf(dsn, sizeof dsn, "%s", tb_pg());
    PGconn *c = PQconnectdb(dsn);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
        if (rc)
            printf("# postgres %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        printf("# postgres connect %s: %s", dsn, PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}
#endif

/* Where the store named `name` lives: dir/name for SQLite; on PostgreSQL a database made from the name
 * ("crud.db" -> t_crud_db), dropped and created afresh the first time a test process asks for it. */
static void tb_dsn(const char *dir, const char *name, char *out, size_t cap)
{
#ifdef HAVE_PQ
    if (tb_pg()) {
        static char made[64][64];
        static int nmade;
        char db[64];
        snprintf(db, sizeof db, "t_%s", name);
        for (char *p = db; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
                *p = '_';
        int seen = 0;
        for (int i = 0; i < nmade; i++)
            seen |= strcmp(made[i], db) == 0;
        if (!seen && nmade < 64) {
            char sql[200];
            snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
            tb_pg_exec("", sql);
            snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
            tb_pg_exec("", sql);
            snprintf(made[nmade++], sizeof made[0], "%s", db);
        }
        tb_pg_dsn(db, out, cap);
        return;
    }
#endif
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Registers the PostgreSQL backend (the running weft gets it from the plugin module). 0 or -1. */
static int tb_setup(void)
{
#ifdef HAVE_PQ
    char err[256];
    if (store_register(store_postgres_ops(), err, sizeof err)) {
        printf("# %s\n", err);
        return -1;
    }
#endif
    return 0;
}

#endif
