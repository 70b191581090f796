// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/http.h"
#include "core/route.h"
#include "core/accept.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/loop_h2o.h"
#include "core/stream.h"
#include <h2o/http1.h>

#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTENERS 16
#define ACCEPT_BATCH 64
#define DEFAULT_MAX_BODY (1024 * 1024)
/* How long http_server_free waits for connections to wind down before giving up on them. */
#define FREE_WAIT_MS 2000

struct listener {
    struct http_server *srv;
    h2o_socket_t *sock;
    struct accept_guard guard; /* at the fd limit: pause instead of spinning */
    h2o_accept_ctx_t actx;
    SSL_CTX *ssl;
    struct unix_bound ub;
    int ssl_borrowed;
    uint16_t port;
};

struct route {
    struct route_key key; /* first: core/route.h finds routes by it */
    http_handler fn;
    void *arg;
};

/* An accepted socket still served by h2o's HTTP layer. */
struct conn {
    struct conn *prev, *next;
    struct http_server *srv;
    h2o_socket_t *sock;
};

struct dispatcher {
    h2o_handler_t super;
    struct http_server *srv;
};

struct http_server {
    struct loop_handle h;
    struct loop *loop;
    h2o_globalconf_t conf;
    h2o_context_t ctx;
    struct listener *ls[MAX_LISTENERS];
    size_t nls;
    struct route *routes;
    size_t nroutes;
    struct conn conns; /* anchor */
    size_t nconns;
    struct http_req *pending; /* unanswered requests (doubly linked) */
    int freeing;
};

struct http_req {
    h2o_req_t *h;
    struct http_server *srv;
    struct http_req *prev, *next; /* in srv->pending until answered */
    const char *method, *path, *query;
    int answered;
    void (*on_gone)(void *arg);
    void *gone_arg;
};

struct sbuf {
    char *p;
    size_t len, cap;
};

struct http_reply {
    h2o_generator_t gen; /* first: h2o hands it back to us */
    h2o_req_t *h;        /* NULL once the client is gone */
    struct sbuf pending, inflight;
    int sending, ended, gone;
    void (*on_gone)(void *arg);
    void *arg;
};

struct upgrade {
    struct http_server *srv;
    http_upgrade_cb cb;
    void *arg;
};

/* ---- helpers ---- */

static const char *reason_of(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void unlink_pending(struct http_req *r)
{
    if (r->answered)
        return;
    r->answered = 1;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else if (r->srv->pending == r)
        r->srv->pending = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Headers go to h2o lowercased: HTTP/2 requires it, and h2o's tokens are lowercase. */
static void add_headers(h2o_req_t *h, const struct http_header *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(hs[i].name);
        char *name = h2o_mem_alloc_pool(&h->pool, nl + 1);
        for (size_t j = 0; j < nl; j++)
            name[j] = (char)tolower((unsigned char)hs[i].name[j]);
        name[nl] = 0;
        h2o_iovec_t v = h2o_strdup(&h->pool, hs[i].value, strlen(hs[i].value));
        h2o_add_header_by_str(&h->pool, &h->res.headers, name, nl, 1, NULL, v.base, v.len);
    }
}

/* ---- dispatch ---- */

static void req_dispose(void *p)
{
    struct http_req *r = p;
    if (!r->answered) {
        unlink_pending(r);
        if (r->on_gone != NULL)
            r->on_gone(r->gone_arg);
    }
}

static const struct route *find_route(struct http_server *srv, const char *path, size_t len)
{
    return route_find(srv->routes, srv->nroutes, sizeof(struct route), path, len);
}

static int on_req(h2o_handler_t *self, h2o_req_t *h)
{
    struct http_server *srv = ((struct dispatcher *)self)->srv;
    struct http_req *r = h2o_mem_alloc_shared(&h->pool, sizeof(*r), req_dispose);
    memset(r, 0, sizeof(*r));
    r->h = h;
    r->srv = srv;
    r->method = h2o_strdup(&h->pool, h->method.base, h->method.len).base;
    r->path = h2o_strdup(&h->pool, h->path_normalized.base, h->path_normalized.len).base;
    if (h->query_at != SIZE_MAX)
        r->query = h2o_strdup(&h->pool, h->path.base + h->query_at + 1, h->path.len - h->query_at - 1).base;
    else
        r->query = "";
    r->next = srv->pending;
    if (r->next != NULL)
        r->next->prev = r;
    srv->pending = r;

    /* h2o decodes percent escapes into the normalised path: a "%00" would cut the C string handlers see
     * ("/admin/x.html%00.js" read as "/admin/x.html"), so no handler is asked about such a path */
    if (memchr(h->path_normalized.base, 0, h->path_normalized.len)) {
        http_respond_text(r, 400, "bad request: NUL in the path\n");
        return 0;
    }
    const struct route *rt = find_route(srv, h->path_normalized.base, h->path_normalized.len);
    if (rt == NULL || srv->freeing) {
        http_respond_text(r, rt == NULL ? 404 : 503, rt == NULL ? "not found\n" : "shutting down\n");
        return 0;
    }
    rt->fn(r, rt->arg);
    return 0;
}

/* ---- requests ---- */

const char *http_req_method(const struct http_req *req)
{
    return req->method;
}

const char *http_req_path(const struct http_req *req)
{
    return req->path;
}

const char *http_req_query(const struct http_req *req)
{
    return req->query;
}

int http_req_version(const struct http_req *req)
{
    return req->h->version;
}

const char *http_req_header(struct http_req *req, const char *name)
{
    size_t nl = strlen(name);
    const h2o_headers_t *hs = &req->h->headers;
    /* h2o lifts these out of the header list */
    if (strcasecmp(name, "upgrade") == 0)
        return req->h->upgrade.base
                   ? h2o_strdup(&req->h->pool, req->h->upgrade.base, req->h->upgrade.len).base
                   : NULL;
    if (strcasecmp(name, "host") == 0 || strcasecmp(name, ":authority") == 0) {
        h2o_iovec_t a = req->h->input.authority;
        return a.base ? h2o_strdup(&req->h->pool, a.base, a.len).base : NULL;
    }
    for (size_t i = 0; i < hs->size; i++) {
        const h2o_header_t *e = &hs->entries[i];
        if (e->name->len == nl && strncasecmp(e->name->base, name, nl) == 0)
            return h2o_strdup(&req->h->pool, e->value.base, e->value.len).base;
    }
    return NULL;
}

const uint8_t *http_req_body(const struct http_req *req, size_t *len)
{
    *len = req->h->entity.base ? req->h->entity.len : 0;
    return req->h->entity.base ? (const uint8_t *)req->h->entity.base : NULL;
}

socklen_t http_req_peer(const struct http_req *req, struct sockaddr *sa)
{
    h2o_conn_t *c = req->h->conn;
    return c->callbacks->get_peername ? c->callbacks->get_peername(c, sa) : 0;
}

socklen_t http_req_local(const struct http_req *req, struct sockaddr *sa)
{
    h2o_conn_t *c = req->h->conn;
    return c->callbacks->get_sockname ? c->callbacks->get_sockname(c, sa) : 0;
}

char *http_req_peer_str(const struct http_req *req, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = http_req_peer(req, (struct sockaddr *)&ss);
    return addr_format((struct sockaddr *)&ss, len, buf, cap);
}

int http_req_is_tls(const struct http_req *req)
{
    return req->h->scheme == &H2O_URL_SCHEME_HTTPS;
}

void http_req_on_gone(struct http_req *req, void (*cb)(void *arg), void *arg)
{
    req->on_gone = cb;
    req->gone_arg = arg;
}

/* ---- one-shot answers ---- */

void http_respond(struct http_req *req, int status, const struct http_header *headers, size_t num_headers,
                  const void *body, size_t body_len)
{
    h2o_req_t *h = req->h;
    if (req->answered)
        return;
    unlink_pending(req);
    h->res.status = status;
    h->res.reason = reason_of(status);
    add_headers(h, headers, num_headers);
    h->res.content_length = body_len;
    h2o_send_inline(h, body_len ? body : "", body_len);
}

void http_respond_text(struct http_req *req, int status, const char *text)
{
    static const struct http_header ct = {"content-type", "text/plain; charset=utf-8"};
    http_respond(req, status, &ct, 1, text, strlen(text));
}

void http_respond_json(struct http_req *req, int status, const char *json)
{
    static const struct http_header ct = {"content-type", "application/json"};
    http_respond(req, status, &ct, 1, json, strlen(json));
}

/* ---- streamed answers ---- */

static void reply_free(struct http_reply *r)
{
    free(r->pending.p);
    free(r->inflight.p);
    free(r);
}

static void reply_flush(struct http_reply *r)
{
    if (r->pending.len == 0 && !r->ended)
        return;
    if (r->ended) {
        /* the last chunk lives in the request's pool: r can go now */
        h2o_iovec_t v = h2o_strdup(&r->h->pool, r->pending.p ? r->pending.p : "", r->pending.len);
        h2o_req_t *h = r->h;
        reply_free(r);
        h2o_send(h, &v, v.len ? 1 : 0, H2O_SEND_STATE_FINAL);
        return;
    }
    struct sbuf t = r->inflight;
    r->inflight = r->pending;
    r->pending = t;
    r->pending.len = 0;
    r->sending = 1;
    h2o_iovec_t v = h2o_iovec_init(r->inflight.p, r->inflight.len);
    h2o_send(r->h, &v, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void reply_proceed(h2o_generator_t *gen, h2o_req_t *h)
{
    struct http_reply *r = (struct http_reply *)gen;
    r->sending = 0;
    r->inflight.len = 0;
    if (r->ended) {
        reply_flush(r); /* (the last chunk: r is freed) */
        return;
    }
    reply_flush(r);
    if (!r->sending) {
        /* nothing more to send now: a later chunk comes from a timer, outside h2o's run (see loop_h2o_repoll) */
        h2o_socket_t *sock = h->conn->callbacks->get_socket != NULL ? h->conn->callbacks->get_socket(h->conn) : NULL;
        if (sock != NULL && !h2o_socket_is_writing(sock))
            loop_h2o_repoll(sock);
    }
}

static void reply_stop(h2o_generator_t *gen, h2o_req_t *h)
{
    struct http_reply *r = (struct http_reply *)gen;
    r->gone = 1;
    r->h = NULL;
    if (r->ended) {
        reply_free(r);
        return;
    }
    if (r->on_gone != NULL)
        r->on_gone(r->arg);
}

struct http_reply *http_reply_start(struct http_req *req, int status, const struct http_header *headers,
                                    size_t num_headers, void (*on_gone)(void *arg), void *arg)
{
    h2o_req_t *h = req->h;
    if (req->answered)
        return NULL;
    struct http_reply *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    unlink_pending(req);
    r->gen.proceed = reply_proceed;
    r->gen.stop = reply_stop;
    r->h = h;
    r->on_gone = on_gone;
    r->arg = arg;
    h->res.status = status;
    h->res.reason = reason_of(status);
    add_headers(h, headers, num_headers);
    h2o_start_response(h, &r->gen);
    r->sending = 1;
    h2o_send(h, NULL, 0, H2O_SEND_STATE_IN_PROGRESS); /* the head goes out now */
    return r;
}

int http_reply_write(struct http_reply *r, const void *data, size_t len)
{
    if (r->gone || r->ended)
        return -1;
    if (len == 0)
        return 0;
    if (r->pending.len + len > r->pending.cap) {
        size_t cap = r->pending.cap ? r->pending.cap : 4096;
        while (cap < r->pending.len + len)
            cap *= 2;
        char *p = realloc(r->pending.p, cap);
        if (p == NULL)
            return -1;
        r->pending.p = p;
        r->pending.cap = cap;
    }
    memcpy(r->pending.p + r->pending.len, data, len);
    r->pending.len += len;
    if (!r->sending)
        reply_flush(r);
    return 0;
}

size_t http_reply_queued(const struct http_reply *r)
{
    return r->pending.len + r->inflight.len;
}

void http_reply_end(struct http_reply *r)
{
    if (r == NULL)
        return;
    if (r->gone) {
        reply_free(r);
        return;
    }
    r->ended = 1;
    if (!r->sending)
        reply_flush(r);
}

/* ---- upgrade ---- */

static void conn_untrack(struct conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->srv->nconns--;
    free(c);
}

static void on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
    struct upgrade *u = data;
    struct stream *s = NULL;
    if (sock != NULL) {
        if (sock->on_close.data != NULL) {
            conn_untrack(sock->on_close.data);
            sock->on_close.cb = NULL;
            sock->on_close.data = NULL;
        }
        h2o_buffer_consume(&sock->input, reqsize); /* what remains is early data */
        s = stream_from_socket(u->srv->loop, sock);
    }
    u->cb(s, u->arg);
    free(u);
}

int http_upgrade(struct http_req *req, const char *protocol, const struct http_header *headers,
                 size_t num_headers, http_upgrade_cb cb, void *arg)
{
    h2o_req_t *h = req->h;
    if (req->answered || h->version >= 0x200 || protocol == NULL || cb == NULL)
        return -1;
    struct upgrade *u = malloc(sizeof(*u));
    if (u == NULL)
        return -1;
    u->srv = req->srv;
    u->cb = cb;
    u->arg = arg;
    unlink_pending(req);
    struct http_header up = {"upgrade", protocol};
    h->res.status = 101;
    h->res.reason = reason_of(101);
    add_headers(h, &up, 1);
    add_headers(h, headers, num_headers);
    h2o_http1_upgrade(h, NULL, 0, on_upgraded, u);
    return 0;
}

/* ---- server ---- */

static void on_conn_closed(void *data)
{
    conn_untrack(data);
}

static void on_http_accept(h2o_socket_t *lsock, const char *err)
{
    struct listener *l = lsock->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(lsock);
        if (sock == NULL) {
            accept_guard_failed(&l->guard, errno);
            break;
        }
        accept_guard_ok(&l->guard);
        struct conn *c = malloc(sizeof(*c));
        if (c == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        struct http_server *srv = l->srv;
        c->srv = srv;
        c->sock = sock;
        c->next = srv->conns.next;
        c->prev = &srv->conns;
        srv->conns.next->prev = c;
        srv->conns.next = c;
        srv->nconns++;
        sock->on_close.cb = on_conn_closed;
        sock->on_close.data = c;
        h2o_accept(&l->actx, sock);
    }
}

static void server_handle_close(struct loop_handle *h)
{
    http_server_free((struct http_server *)h);
}

struct http_server *http_server_new(struct loop *l)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->loop = l;
    srv->conns.next = srv->conns.prev = &srv->conns;
    h2o_config_init(&srv->conf);
    srv->conf.server_name = h2o_iovec_init(H2O_STRLIT("weft"));
    srv->conf.max_request_entity_size = DEFAULT_MAX_BODY;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    struct dispatcher *d = (struct dispatcher *)h2o_create_handler(pc, sizeof(*d));
    d->super.on_req = on_req;
    d->srv = srv;
    h2o_chunked_register(pc); /* streamed HTTP/1.1 replies of unknown length */
    h2o_context_init(&srv->ctx, loop_h2o(l), &srv->conf);
    srv->h.close = server_handle_close;
    loop_handle_add(l, &srv->h);
    return srv;
}

void http_server_set_max_body(struct http_server *srv, size_t bytes)
{
    srv->conf.max_request_entity_size = bytes;
}

static SSL_CTX *server_tls(const struct http_listen_opts *o, const char *addr, char *err, size_t errlen)
{
    static const h2o_iovec_t http1_only[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "listen %s: cannot create a TLS context", addr);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* idle connections (thousands of DERP clients) give their read/write buffers back: ~12 KiB each */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
        snprintf(err, errlen, "listen %s: cannot load certificate %s", addr, o->cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "listen %s: cannot load key %s (or it does not match the certificate)", addr,
                 o->key_file);
        goto fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, o->no_h2 ? http1_only : h2o_alpn_protocols);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

int http_listen(struct http_server *srv, const char *addr, const struct http_listen_opts *opts, char *err,
                size_t errlen)
{
    static const struct http_listen_opts none;
    if (opts == NULL)
        opts = &none;
    if (srv->nls == MAX_LISTENERS) {
        snprintf(err, errlen, "listen %s: too many listeners", addr);
        return -1;
    }
    if ((opts->cert_file == NULL) != (opts->key_file == NULL)) {
        snprintf(err, errlen, "listen %s: TLS needs both a certificate and a key", addr);
        return -1;
    }
    struct listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "listen %s: out of memory", addr);
        return -1;
    }
    if (opts->ssl_ctx != NULL) {
        static const h2o_iovec_t http1_only[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
        l->ssl = opts->ssl_ctx;
        l->ssl_borrowed = 1;
        h2o_ssl_register_alpn_protocols(l->ssl, opts->no_h2 ? http1_only : h2o_alpn_protocols);
    } else if (opts->cert_file != NULL && (l->ssl = server_tls(opts, addr, err, errlen)) == NULL) {
        free(l);
        return -1;
    }
    int fd = net_listen(addr, SOCK_STREAM, opts->mode, &l->port, &l->ub, err, errlen);
    if (fd < 0) {
        if (l->ssl && !l->ssl_borrowed)
            SSL_CTX_free(l->ssl);
        free(l);
        return -1;
    }
    l->srv = srv;
    l->actx.ctx = &srv->ctx;
    l->actx.hosts = srv->conf.hosts;
    l->actx.ssl_ctx = l->ssl;
    l->sock = h2o_evloop_socket_create(loop_h2o(srv->loop), fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    accept_guard_init(&l->guard, srv->loop, l->sock, on_http_accept, addr);
    h2o_socket_read_start(l->sock, on_http_accept);
    srv->ls[srv->nls] = l;
    return (int)srv->nls++;
}

uint16_t http_listener_port(struct http_server *srv, int id)
{
    if (id < 0 || (size_t)id >= srv->nls || srv->ls[id] == NULL)
        return 0;
    return srv->ls[id]->port;
}

int http_route(struct http_server *srv, const char *path, int prefix, http_handler fn, void *arg)
{
    if (path == NULL || path[0] != '/' || fn == NULL)
        return -1;
    struct route *rs = realloc(srv->routes, (srv->nroutes + 1) * sizeof(*rs));
    if (rs == NULL)
        return -1;
    srv->routes = rs;
    struct route *rt = &rs[srv->nroutes];
    if (route_key_init(&rt->key, path, prefix) != 0)
        return -1;
    rt->fn = fn;
    rt->arg = arg;
    srv->nroutes++;
    return 0;
}

static void close_listeners(struct http_server *srv)
{
    for (size_t i = 0; i < srv->nls; i++) {
        struct listener *l = srv->ls[i];
        if (l == NULL || l->sock == NULL)
            continue;
        accept_guard_stop(&l->guard);
        h2o_socket_read_stop(l->sock);
        h2o_socket_close(l->sock);
        l->sock = NULL;
        net_unix_release(&l->ub); /* only if it is still ours */
    }
}

void http_server_close(struct http_server *srv)
{
    close_listeners(srv);
    h2o_context_request_shutdown(&srv->ctx);
}

size_t http_server_connections(const struct http_server *srv)
{
    return srv->nconns;
}

void http_server_free(struct http_server *srv)
{
    if (srv == NULL || srv->freeing)
        return;
    srv->freeing = 1;
    loop_handle_del(&srv->h);
    close_listeners(srv);
    if (srv->nconns > 0) /* with no connection there is nothing to wind down (and h2o would arm a timer) */
        h2o_context_request_shutdown(&srv->ctx);
    /* requests nobody answered yet: tell their owners, then answer them ourselves */
    while (srv->pending != NULL) {
        struct http_req *r = srv->pending;
        void (*gone)(void *) = r->on_gone;
        r->on_gone = NULL;
        if (gone != NULL)
            gone(r->gone_arg);
        if (srv->pending == r)
            http_respond_text(r, 503, "shutting down\n");
    }
    /* the peers' end of every connection looks closed to h2o now: it tears each one down */
    for (struct conn *c = srv->conns.next; c != &srv->conns; c = c->next)
        shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
    uint64_t until = loop_update_now(srv->loop) + FREE_WAIT_MS;
    while (srv->nconns > 0 && loop_update_now(srv->loop) < until)
        h2o_evloop_run(loop_h2o(srv->loop), 10);
    if (srv->nconns > 0) {
        /* disposing the context under live connections would be a use-after-free: leak instead */
        log_warn("http: %zu connection(s) would not close; leaking the server", srv->nconns);
        return;
    }
    /* h2o's GOAWAY resend timer (armed by request_shutdown even with no HTTP/2 connection) */
    if (h2o_timeout_is_linked(&srv->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&srv->ctx.http2._graceful_shutdown_timeout);
    h2o_multithread_queue_t *q = srv->ctx.queue;
    h2o_context_dispose(&srv->ctx);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
    free(q); /* h2o 2.2's evloop build destroys the queue but never frees it */
#endif
    h2o_config_dispose(&srv->conf);
    for (size_t i = 0; i < srv->nls; i++) {
        if (srv->ls[i]->ssl && !srv->ls[i]->ssl_borrowed)
            SSL_CTX_free(srv->ls[i]->ssl);
        free(srv->ls[i]);
    }
    for (size_t i = 0; i < srv->nroutes; i++)
        free(srv->routes[i].key.path);
    free(srv->routes);
    free(srv);
}
