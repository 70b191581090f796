// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/http.h"
#include "core/log.h"
#include "modules/control/console.h"

#ifndef WEFT_PKGDATADIR
#define WEFT_PKGDATADIR "/usr/local/share/weft"
#endif

/* The console's files are small; anything larger is not one of them. */
#define FILE_MAX (4u << 20)

/* What the console's pages may do: scripts, styles and API calls from this origin only (no inline script,
 * no eval), no plug-ins, not framed (clickjacking of the admin buttons), forms post nowhere else. */
#define CSP                                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "      \
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

struct console {
    char *dir;
};

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return NULL;
}

/* Whether rel (the path below /admin/) may name a console file: plain segments of letters, digits, '-',
 * '_' and '.', none empty or starting with '.' (no "..", no hidden files), no '%' (h2o leaves percent
 * escapes in the path: "%2e%2e" must not get a second chance at being decoded by anyone). */
static int name_ok(const char *rel)
{
    size_t seg = 0, len = 0;
    for (const char *p = rel; *p; p++, len++) {
        char ch = *p;
        if (ch == '/') {
            if (!seg)
                return 0;
            seg = 0;
            continue;
        }
        if (!seg && ch == '.')
            return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.'))
            return 0;
        seg++;
    }
    return len > 0 && seg > 0 && len < 256;
}

static void not_found(struct http_req *req)
{
    struct http_header h[] = {{"Content-Type", "text/plain; charset=utf-8"},
                              {"X-Content-Type-Options", "nosniff"},
                              {"Cache-Control", "no-store"}};
    static const char msg[] = "not found\n";
    http_respond(req, 404, h, 3, msg, sizeof msg - 1);
}

/* Reads dir/rel if it is a regular file inside dir (after symbolic links) no larger than FILE_MAX. */
static char *read_inside(const char *dir, const char *rel, size_t *len, struct stat *st)
{
    char path[PATH_MAX], real[PATH_MAX], base[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, rel) >= (int)sizeof path || !realpath(dir, base) ||
        !realpath(path, real))
        return NULL;
    size_t bl = strlen(base);
    if (strncmp(real, base, bl) || real[bl] != '/')
        return NULL;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    char *buf = NULL;
    if (fstat(fd, st) || !S_ISREG(st->st_mode) || st->st_size > FILE_MAX ||
        !(buf = malloc((size_t)st->st_size + 1))) {
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < (size_t)st->st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st->st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
}

static void handle(struct http_req *req, void *arg)
{
    struct console *cs = arg;
    const char *method = http_req_method(req), *path = http_req_path(req);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        struct http_header h[] = {{"Allow", "GET, HEAD"}, {"Content-Type", "text/plain; charset=utf-8"}};
        static const char msg[] = "method not allowed\n";
        http_respond(req, 405, h, 2, msg, sizeof msg - 1);
        return;
    }
    if (!strcmp(path, "/admin")) { /* relative URLs in the page need the slash */
        struct http_header h[] = {{"Location", "/admin/"}, {"Content-Type", "text/plain; charset=utf-8"}};
        static const char msg[] = "see /admin/\n";
        http_respond(req, 308, h, 2, msg, sizeof msg - 1);
        return;
    }
    const char *rel = path + strlen("/admin/");
    if (!*rel)
        rel = "index.html";
    const char *type = type_of(rel);
    struct stat st;
    size_t len = 0;
    char *body = NULL;
    if (!type || !name_ok(rel) || !(body = read_inside(cs->dir, rel, &len, &st))) {
        not_found(req);
        return;
    }
    /* Files keep their names across upgrades: caches must ask each time, and a 304 makes that cheap. */
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    struct http_header h[] = {
        {"Content-Type", type},
        {"Cache-Control", "no-cache"},
        {"ETag", etag},
        {"Content-Security-Policy", CSP},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
    };
    const char *inm = http_req_header(req, "If-None-Match");
    if (inm && strstr(inm, etag))
        http_respond(req, 304, h + 1, sizeof h / sizeof h[0] - 1, "", 0);
    else
        http_respond(req, 200, h, sizeof h / sizeof h[0], body, len);
    free(body);
}

struct console *console_new(const char *dir)
{
    struct console *cs = calloc(1, sizeof *cs);
    if (!cs || !(cs->dir = strdup(dir ? dir : WEFT_PKGDATADIR "/console"))) {
        free(cs);
        return NULL;
    }
    struct stat st;
    char index[PATH_MAX];
    snprintf(index, sizeof index, "%s/index.html", cs->dir);
    /* A configured directory was checked at check-config (an error there). The default one is missing when
     * weft runs uninstalled (from its build tree) or was packaged without the console: worth a line, not a
     * warning. */
    if (stat(index, &st))
        log_info("module=control event=console dir=%s msg=\"the console is not installed there (no index.html): "
                 "/admin/ answers 404 (set control.admin.console_dir)\"",
                 cs->dir);
    return cs;
}

int console_route(struct console *cs, struct http_server *srv)
{
    return http_route(srv, "/admin", 0, handle, cs) || http_route(srv, "/admin/", 1, handle, cs) ? -1 : 0;
}

void console_free(struct console *cs)
{
    if (!cs)
        return;
    free(cs->dir);
    free(cs);
}
