// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/store.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define STORE_BACKENDS_MAX 8

static const struct store_ops *backends[STORE_BACKENDS_MAX];
static size_t n_backends;

/* Every operation after the scheme is a function pointer: a backend that lacks one (built before an operation
 * was added, or a merge that forgot it) is refused here rather than crashing at its first call. */
static int store_ops_complete(const struct store_ops *ops)
{
    typedef int (*any_op)(void);
    const char *p = (const char *)ops + offsetof(struct store_ops, open);
    const char *end = (const char *)ops + sizeof *ops;
    for (; p + sizeof(any_op) <= end; p += sizeof(any_op)) {
        any_op f;
        memcpy(&f, p, sizeof f);
        if (!f)
            return (int)((p - (const char *)ops - offsetof(struct store_ops, open)) / sizeof(any_op));
    }
    return -1;
}

int store_register(const struct store_ops *ops, char *err, size_t errlen)
{
    for (size_t i = 0; i < n_backends; i++)
        if (backends[i] == ops)
            return 0;
    int missing = store_ops_complete(ops);
    if (missing >= 0) {
        snprintf(err, errlen, "store: the %s backend lacks operation #%d of this weft's storage interface; "
                 "rebuild it with this weft", ops->scheme, missing + 1);
        return -1;
    }
    if (n_backends == STORE_BACKENDS_MAX) {
        snprintf(err, errlen, "store: too many storage backends");
        return -1;
    }
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

int store_login_refused(struct store *s, int kind, const char *data)
{
    if (kind != STORE_LOGIN_TOKEN && kind != STORE_LOGIN_SESSION && kind != STORE_LOGIN_FLOW)
        return store_fail(s, STORE_INVALID, "unknown kind of login state %d", kind);
    if (data && strlen(data) > STORE_LOGIN_DATA_MAX)
        return store_fail(s, STORE_INVALID, "login state: %zu bytes of data (at most %d)", strlen(data),
                          STORE_LOGIN_DATA_MAX);
    return STORE_OK;
}
