// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
static enum log_level cur = LOG_INFO;
void log_set_level(enum log_level l) { cur = l; }
int log_parse_level(const char *s, enum log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) { *out = (enum log_level)i; return 0; }
    return -1;
}
void log_msg(enum log_level l, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (l > cur)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "level=%s ", names[l]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
