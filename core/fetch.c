// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/fetch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* curl's type-checking macros would call curl_easy_setopt by name: we call through the table below */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "core/dynlib.h"
#include "core/loop.h"
#include "core/version.h"

struct fetch {
    struct fetcher *f;
    struct fetch *prev, *next;
    CURL *easy;
    struct curl_slist *req_headers;
    char *body;
    size_t len, cap, max;
    char **headers;
    size_t nheaders;
    int too_large;
    fetch_cb cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
};

struct sockwatch {
    struct loop_watch *w;
    curl_socket_t fd;
};

struct fetcher {
    struct loop *loop;
    CURLM *multi;
    struct timer timer;
    struct fetch *list;
    int in_action;
};

/* libcurl is loaded when the first fetcher is made, not linked: only a process with an ACME listener
 * makes one, and every other (a node above all: memory is its budget) would otherwise map libcurl and
 * what it pulls in (its TLS, SSH, LDAP, RTMP, IDN, Kerberos... libraries: ~2 MiB of RSS) for nothing.
 * The functions are typed from curl.h, so the compiler checks every call as if linked. */
#ifndef WEFT_LIBCURL_SONAME
#define WEFT_LIBCURL_SONAME "libcurl.so.4" /* ABI 4: every libcurl since 7.16 (2006) */
#endif
#define CURL_FUNCS(X)                                                                                              \
    X(global_init) X(easy_init) X(easy_setopt) X(easy_getinfo) X(easy_cleanup) X(easy_strerror) X(multi_init)    \
    X(multi_setopt) X(multi_add_handle) X(multi_remove_handle) X(multi_assign) X(multi_socket_action)            \
    X(multi_info_read) X(multi_cleanup) X(slist_append) X(slist_free_all)
static struct {
#define X(name) __typeof__(curl_##name) *name;
    CURL_FUNCS(X)
#undef X
} cu;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_err[300]; /* why libcurl cannot be used, "" when it can */

static void curl_init_once(void)
{
    static const struct dynlib_sym syms[] = {
#define X(name) DYNLIB_SYM(cu, "curl_", name)
        CURL_FUNCS(X)
#undef X
    };
    if (!dynlib_open(WEFT_LIBCURL_SONAME, "libcurl", "libcurl4", syms, sizeof syms / sizeof *syms, curl_err,
                     sizeof curl_err))
        return;
    if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        snprintf(curl_err, sizeof curl_err, "libcurl's global initialisation failed");
}

const char *fetch_header(const struct fetch_response *r, const char *name)
{
    const char *found = NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        if (strncasecmp(r->headers[i], name, nl) == 0 && r->headers[i][nl] == ':') {
            found = r->headers[i] + nl + 1;
            while (*found == ' ' || *found == '\t')
                found++;
        }
    return found;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct fetch *x = arg;
    size_t len = size * n;
    if (x->len + len > x->max) {
        x->too_large = 1;
        return 0; /* curl fails the transfer */
    }
    if (x->len + len + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + len + 1)
            cap *= 2;
        char *b = realloc(x->body, cap);
        if (!b)
            return 0;
        x->body = b;
        x->cap = cap;
    }
    memcpy(x->body + x->len, p, len);
    x->len += len;
    x->body[x->len] = 0;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct fetch *x = arg;
    size_t len = size * n;
    while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response head (after a 100, a redirect): start over */
        for (size_t i = 0; i < x->nheaders; i++)
            free(x->headers[i]);
        x->nheaders = 0;
        return size * n;
    }
    if (len == 0 || x->nheaders > 200)
        return size * n;
    char **v = realloc(x->headers, (x->nheaders + 2) * sizeof *v);
    if (!v)
        return 0;
    x->headers = v;
    x->headers[x->nheaders++] = strndup(p, len);
    x->headers[x->nheaders] = NULL;
    return size * n;
}

static void fetch_free(struct fetch *x)
{
    struct fetcher *f = x->f;
    if (x->prev)
        x->prev->next = x->next;
    else
        f->list = x->next;
    if (x->next)
        x->next->prev = x->prev;
    cu.multi_remove_handle(f->multi, x->easy);
    cu.easy_cleanup(x->easy);
    cu.slist_free_all(x->req_headers);
    for (size_t i = 0; i < x->nheaders; i++)
        free(x->headers[i]);
    free(x->headers);
    free(x->body);
    free(x);
}

/* Finished transfers: tell their owners (outside curl's callbacks, so they may start new requests). */
static void check_done(struct fetcher *f)
{
    CURLMsg *m;
    int left;
    while ((m = cu.multi_info_read(f->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct fetch *x = NULL;
        cu.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;
        struct fetch_response r = {0};
        long status = 0;
        if (rc == CURLE_OK) {
            cu.easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
            r.status = (int)status;
            r.body = x->body ? x->body : "";
            r.len = x->len;
            r.headers = (const char *const *)x->headers;
        } else {
            r.err = x->too_large ? "response too large" : x->errbuf[0] ? x->errbuf : cu.easy_strerror(rc);
        }
        fetch_cb cb = x->cb;
        void *arg = x->arg;
        x->cb = NULL;
        if (cb)
            cb(&r, arg);
        fetch_free(x);
    }
}

static void on_sock(struct loop_watch *w, int fd, int events, void *arg)
{
    struct fetcher *f = arg;
    int running, flags = (events & LOOP_READ ? CURL_CSELECT_IN : 0) | (events & LOOP_WRITE ? CURL_CSELECT_OUT : 0);
    f->in_action++;
    cu.multi_socket_action(f->multi, fd, flags, &running);
    f->in_action--;
    check_done(f);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct fetcher *f = userp;
    struct sockwatch *sw = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sw) {
            loop_watch_free(sw->w);
            free(sw);
            cu.multi_assign(f->multi, s, NULL);
        }
        return 0;
    }
    int ev = (what & CURL_POLL_IN ? LOOP_READ : 0) | (what & CURL_POLL_OUT ? LOOP_WRITE : 0);
    if (!sw) {
        sw = calloc(1, sizeof *sw);
        if (!sw || !(sw->w = loop_watch_add(f->loop, s, ev, on_sock, f))) {
            free(sw);
            return -1;
        }
        sw->fd = s;
        cu.multi_assign(f->multi, s, sw);
    } else {
        loop_watch_set(sw->w, ev);
    }
    return 0;
}

static void on_timer(struct timer *t, void *arg)
{
    struct fetcher *f = arg;
    int running;
    f->in_action++;
    cu.multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    f->in_action--;
    check_done(f);
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct fetcher *f = userp;
    if (timeout_ms < 0)
        timer_stop(&f->timer);
    else
        timer_start(&f->timer, (uint64_t)timeout_ms); /* 0: as soon as the loop comes round */
    return 0;
}

struct fetcher *fetcher_new(struct loop *l, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_err[0]) {
        snprintf(err, errlen, "%s", curl_err);
        return NULL;
    }
    struct fetcher *f = calloc(1, sizeof *f);
    if (!f || !(f->multi = cu.multi_init())) {
        free(f);
        snprintf(err, errlen, "cannot start libcurl (out of memory)");
        return NULL;
    }
    f->loop = l;
    timer_init(&f->timer, l, on_timer, f);
    cu.multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    cu.multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    cu.multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    cu.multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return f;
}

void fetcher_free(struct fetcher *f)
{
    if (!f)
        return;
    while (f->list)
        fetch_free(f->list); /* curl calls sock_cb REMOVE for their sockets */
    timer_stop(&f->timer);
    cu.multi_cleanup(f->multi);
    free(f);
}

struct fetch *fetch_start(struct fetcher *f, const struct fetch_request *req, fetch_cb cb, void *arg)
{
    struct fetch *x = calloc(1, sizeof *x);
    if (!x || !(x->easy = cu.easy_init())) {
        free(x);
        return NULL;
    }
    x->f = f;
    x->cb = cb;
    x->arg = arg;
    x->max = req->max_body ? req->max_body : 4u << 20;
    CURL *e = x->easy;
    cu.easy_setopt(e, CURLOPT_URL, req->url);
    cu.easy_setopt(e, CURLOPT_PRIVATE, x);
    cu.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    cu.easy_setopt(e, CURLOPT_WRITEDATA, x);
    cu.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    cu.easy_setopt(e, CURLOPT_HEADERDATA, x);
    cu.easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    cu.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms ? req->timeout_ms : 30000));
    cu.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    cu.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    cu.easy_setopt(e, CURLOPT_USERAGENT, "weft/" WEFT_VERSION);
    if (req->ca_file)
        cu.easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    if (req->method && strcmp(req->method, "HEAD") == 0) {
        cu.easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (req->method && strcmp(req->method, "POST") == 0) {
        cu.easy_setopt(e, CURLOPT_POST, 1L);
        cu.easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
        cu.easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? (const char *)req->body : "");
    }
    if (req->content_type) {
        char h[200];
        snprintf(h, sizeof h, "Content-Type: %s", req->content_type);
        x->req_headers = cu.slist_append(x->req_headers, h);
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        x->req_headers = cu.slist_append(x->req_headers, req->headers[i]);
    if (req->accept) {
        char h[200];
        snprintf(h, sizeof h, "Accept: %s", req->accept);
        x->req_headers = cu.slist_append(x->req_headers, h);
    }
    x->req_headers = cu.slist_append(x->req_headers, "Expect:"); /* no 100-continue round trip */
    cu.easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
    x->next = f->list;
    if (x->next)
        x->next->prev = x;
    f->list = x;
    if (cu.multi_add_handle(f->multi, e) != CURLM_OK) {
        x->cb = NULL;
        fetch_free(x);
        return NULL;
    }
    return x;
}

void fetch_cancel(struct fetch *x)
{
    if (x)
        fetch_free(x);
}
