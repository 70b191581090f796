// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
static enum log_level cur = LOG_INFO;
static int stamp; /* off until configured: the CLI's messages and tests' logs stay as they are */

void log_set_timestamps(enum log_timestamps t)
{
    stamp = t == LOG_TS_ON;
    if (t == LOG_TS_AUTO) { /* "DEV:INO" of the journal's stream; stderr may have been redirected since */
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        stamp = !(js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
                  (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino);
    }
}
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
    if (stamp) {
        struct timespec ts;
        struct tm tm;
        char t[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "time=%s.%03ldZ ", t, ts.tv_nsec / 1000000);
    }
    fprintf(stderr, "level=%s ", names[l]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
