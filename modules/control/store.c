// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STORE_BACKENDS_MAX 8

static const struct store_ops *backends[STORE_BACKENDS_MAX];
static size_t n_backends;

int store_register(const struct store_ops *ops)
{
    for (size_t i = 0; i < n_backends; i++)
        if (backends[i] == ops)
            return 0;
    if (n_backends == STORE_BACKENDS_MAX)
        return -1;
    backends[n_backends++] = ops;
    return 0;
}

/* The backend whose scheme the DSN starts with ("scheme:"); SQLite for a bare path. */
static const struct store_ops *store_backend_for(const char *dsn)
{
    const char *colon = strchr(dsn, ':');
    const char *slash = strchr(dsn, '/');
    if (colon && (!slash || colon < slash)) {
        size_t len = (size_t)(colon - dsn);
        for (size_t i = 0; i < n_backends; i++)
            if (strlen(backends[i]->scheme) == len && strncmp(backends[i]->scheme, dsn, len) == 0)
                return backends[i];
        const struct store_ops *sq = store_sqlite_ops();
        if (strlen(sq->scheme) == len && strncmp(sq->scheme, dsn, len) == 0)
            return sq;
        /* "postgresql" is the libpq spelling of "postgres". */
        if (len == 10 && strncmp(dsn, "postgresql", 10) == 0)
            for (size_t i = 0; i < n_backends; i++)
                if (strcmp(backends[i]->scheme, "postgres") == 0)
                    return backends[i];
        return NULL;
    }
    return store_sqlite_ops();
}

struct store *store_open(const char *dsn, bool migrate, char *err, size_t errlen)
{
    if (!dsn || !*dsn) {
        snprintf(err, errlen, "store: empty database DSN");
        return NULL;
    }
    const struct store_ops *ops = store_backend_for(dsn);
    if (!ops) {
        snprintf(err, errlen, "store: no storage backend for '%.*s' (is its plugin loaded?)",
                 (int)(strchr(dsn, ':') - dsn), dsn);
        return NULL;
    }
    struct store *s = NULL;
    if (ops->open(dsn, &s, err, errlen) != STORE_OK)
        return NULL;
    if (migrate && ops->migrate(s, 0) != STORE_OK) {
        snprintf(err, errlen, "%s", s->err);
        ops->close(s);
        return NULL;
    }
    return s;
}

void store_close(struct store *s)
{
    if (s)
        s->ops->close(s);
}

const char *store_errmsg(const struct store *s) { return s->err; }

const char *store_rc_name(int rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_NOTFOUND: return "not found";
    case STORE_CONFLICT: return "conflict";
    case STORE_INUSE: return "in use";
    case STORE_SCHEMA: return "schema";
    case STORE_INVALID: return "invalid";
    case STORE_IO: return "I/O";
    }
    return "unknown";
}

int store_fail(struct store *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return rc;
}
