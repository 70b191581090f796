// SPDX-License-Identifier: BSD-3-Clause
/* The store's helpers every backend uses (messages, codes): apart from store.c's backend registry so that a
 * backend plugin loaded on its own (plugins/store_postgres) can carry them. */
#include "config.h"
#include "modules/control/store.h"

#include <stdarg.h>
#include <stdio.h>

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
