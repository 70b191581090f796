// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/cli_args.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *arg, size_t len)
{
    for (const struct cli_opt *o = opts; o && o->name; o++) {
        if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
            return o;
        if (o->alias && strlen(o->alias) == len && strncmp(o->alias, arg, len) == 0)
            return o;
    }
    return NULL;
}

int cli_args(const char *verb, int argc, char **argv, const struct cli_opt *opts, const char **pos, int maxpos,
             int *npos)
{
    int n = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1]) {
            const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            const struct cli_opt *o = find_opt(opts, a, len);
            if (!o) {
                fprintf(stderr, "weft %s: unknown option '%.*s' (weft %s --help)\n", verb, (int)len, a, verb);
                return -1;
            }
            if (o->flag && o->boolean) {
                if (!eq || !strcmp(eq + 1, "true") || !strcmp(eq + 1, "1")) {
                    *o->flag = 1;
                } else if (!strcmp(eq + 1, "false") || !strcmp(eq + 1, "0")) {
                    *o->flag = 0;
                } else {
                    fprintf(stderr, "weft %s: %s takes =true or =false, not '%s'\n", verb, o->name, eq + 1);
                    return -1;
                }
            } else if (o->flag) {
                if (eq) {
                    fprintf(stderr, "weft %s: %s takes no value\n", verb, o->name);
                    return -1;
                }
                *o->flag = 1;
            } else if (eq) {
                *o->value = eq + 1;
            } else if (i + 1 < argc) {
                *o->value = argv[++i];
            } else {
                fprintf(stderr, "weft %s: %s needs a value\n", verb, o->name);
                return -1;
            }
            continue;
        }
        if (n >= maxpos) {
            fprintf(stderr, "weft %s: unexpected argument '%s' (weft %s --help)\n", verb, a, verb);
            return -1;
        }
        pos[n++] = a;
    }
    *npos = n;
    return 0;
}

int cli_int(const char *verb, const char *opt, const char *text, long long min, long long max, long long *out)
{
    char *e;
    errno = 0;
    long long v = strtoll(text, &e, 10);
    if (!*text || *e || errno || v < min || v > max) {
        fprintf(stderr, "weft %s: %s takes a whole number from %lld to %lld, not '%s'\n", verb, opt, min, max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

const char *cli_runtime_dir(void)
{
    const char *d = getenv("RUNTIME_DIRECTORY");
    static char first[PATH_MAX];
    if (d && *d) { /* systemd may list several, ':'-separated: the first is ours */
        snprintf(first, sizeof first, "%.*s", (int)strcspn(d, ":"), d);
        return first;
    }
    return "/run/weft";
}

int cli_socket_probe(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* "srw-rw---- weft:weft" */
static void describe(const struct stat *st, char *out, size_t cap)
{
    char mode[11] = "?---------";
    mode[0] = S_ISSOCK(st->st_mode) ? 's' : S_ISDIR(st->st_mode) ? 'd' : S_ISREG(st->st_mode) ? '-' : '?';
    static const char rwx[] = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        if (st->st_mode & (1u << (8 - i)))
            mode[1 + i] = rwx[i];
    struct passwd *pw = getpwuid(st->st_uid);
    struct group *gr = getgrgid(st->st_gid);
    char u[32], g[32];
    snprintf(u, sizeof u, "%u", (unsigned)st->st_uid);
    snprintf(g, sizeof g, "%u", (unsigned)st->st_gid);
    snprintf(out, cap, "%s %s:%s", mode, pw ? pw->pw_name : u, gr ? gr->gr_name : g);
}

/* The first directory on the way to path that this process may not search, or "" if none. */
static void closed_dir(const char *path, char *out, size_t cap)
{
    char buf[PATH_MAX];
    out[0] = 0;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        if (access(buf, X_OK) != 0 && errno == EACCES) {
            snprintf(out, cap, "%s", buf);
            return;
        }
        *p = '/';
    }
    if (path[0] != '/') { /* relative: check the directory part from here */
        char *slash = strrchr(buf, '/');
        if (slash) {
            *slash = 0;
            if (access(buf, X_OK) != 0 && errno == EACCES)
                snprintf(out, cap, "%s", buf);
        }
    }
}

enum cli_socket_problem cli_socket_problem(const char *path, int err, char *out, size_t cap)
{
    struct stat st;
    char what[128], dir[PATH_MAX];
    switch (err) {
    case ENOENT:
        snprintf(out, cap, "no socket at %s", path);
        return CLI_SOCK_MISSING;
    case ECONNREFUSED:
        if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            snprintf(out, cap, "%s is not a socket", path);
            return CLI_SOCK_OTHER;
        }
        snprintf(out, cap, "nothing answers at %s (a socket left behind by a server that is not running)", path);
        return CLI_SOCK_DEAD;
    case EACCES:
    case EPERM:
        closed_dir(path, dir, sizeof dir);
        if (dir[0] && stat(dir, &st) == 0) {
            describe(&st, what, sizeof what);
            snprintf(out, cap, "permission denied at %s: the directory %s (%s) is closed to you; run as root", path,
                     dir, what);
        } else if (stat(path, &st) == 0) {
            describe(&st, what, sizeof what);
            struct group *gr = getgrgid(st.st_gid);
            snprintf(out, cap, "permission denied at %s (%s): run as root or as a member of group %s", path, what,
                     gr ? gr->gr_name : "its group");
        } else {
            snprintf(out, cap, "permission denied at %s: run as root", path);
        }
        return CLI_SOCK_DENIED;
    case ENOTSOCK:
        snprintf(out, cap, "%s is not a socket", path);
        return CLI_SOCK_OTHER;
    default:
        snprintf(out, cap, "%s: %s", path, strerror(err));
        return CLI_SOCK_OTHER;
    }
}
