// SPDX-License-Identifier: BSD-3-Clause
/* Where control's database is: control.database (an SQLite file, sqlite:PATH, postgres://...) or
 * control.database_dsn_file (a file holding the DSN, so that a password stays out of the configuration).
 * Shared by check-config, the running role and `weft db`. */
#ifndef WEFT_CONTROL_DSN_H
#define WEFT_CONTROL_DSN_H

#include <stddef.h>

#define DSN_MAX 2048

/* NULL if dsn names a database control can use (a path, sqlite:PATH, postgres:// or postgresql://), else a
 * sentence saying what is wrong (in buf). */
const char *dsn_check(const char *dsn, char *buf, size_t len);

/* 1 for a PostgreSQL DSN. */
int dsn_is_postgres(const char *dsn);

/* Reads the DSN from its file: the first line, surrounding blanks trimmed; the file must not be readable by
 * others (it holds a password). 0, or -1 with the reason in err. */
int dsn_read_file(const char *path, char *out, size_t cap, char *err, size_t errlen);

/* The DSN without its password (for logs and messages): "postgres://weft:***@db/weft". */
void dsn_redact(const char *dsn, char *out, size_t cap);

#endif
