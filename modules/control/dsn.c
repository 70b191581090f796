// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/dsn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dsn_is_postgres(const char *dsn)
{
    return strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0;
}

const char *dsn_check(const char *dsn, char *buf, size_t len)
{
    if (!dsn || !*dsn) {
        snprintf(buf, len, "empty database");
        return buf;
    }
    if (dsn_is_postgres(dsn))
        return NULL;
    if (strncmp(dsn, "sqlite:", 7) == 0) {
        if (!dsn[7]) {
            snprintf(buf, len, "'%s' names no file (sqlite:PATH)", dsn);
            return buf;
        }
        return NULL;
    }
    const char *colon = strchr(dsn, ':'), *slash = strchr(dsn, '/');
    if (colon && (!slash || colon < slash)) {
        snprintf(buf, len,
                 "'%.*s' is not a database control knows: use an SQLite file (PATH or sqlite:PATH) or "
                 "postgres://USER@HOST/DB",
                 (int)(colon - dsn), dsn);
        return buf;
    }
    return NULL; /* an SQLite file path */
}

int dsn_read_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH)) {
        snprintf(err, errlen, "%s is readable by every user, and a DSN file holds a password: chmod o-r %s", path,
                 path);
        close(fd);
        return -1;
    }
    char buf[DSN_MAX + 2];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = 0;
    char *p = buf;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    size_t l = strcspn(p, "\r\n");
    while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t'))
        l--;
    if (l == 0) {
        snprintf(err, errlen, "%s is empty: it should hold one line, the database DSN (postgres://...)", path);
        return -1;
    }
    if (l >= cap || (size_t)n >= sizeof buf - 1) {
        snprintf(err, errlen, "%s: the DSN is longer than %zu bytes", path, cap - 1);
        return -1;
    }
    memcpy(out, p, l);
    out[l] = 0;
    memset(buf, 0, sizeof buf);
    return 0;
}

void dsn_redact(const char *dsn, char *out, size_t cap)
{
    snprintf(out, cap, "%s", dsn);
    if (!dsn_is_postgres(out))
        return;
    /* URI form: scheme://user:password@host... */
    char *auth = strstr(out, "://") + 3, *at = strchr(auth, '@'), *colon = strchr(auth, ':');
    if (at && colon && colon < at) {
        char rest[DSN_MAX];
        snprintf(rest, sizeof rest, "%s", at);
        snprintf(colon, cap - (size_t)(colon - out), ":***%s", rest);
    }
    /* query form: ...?password=... */
    char *pw = strstr(out, "password=");
    if (pw) {
        char *end = strchr(pw, '&');
        char rest[DSN_MAX];
        snprintf(rest, sizeof rest, "%s", end ? end : "");
        snprintf(pw, cap - (size_t)(pw - out), "password=***%s", rest);
    }
}
