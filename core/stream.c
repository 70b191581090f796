// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/stream.h"
#include "core/addr.h"
#include "core/loop_h2o.h"
#include "core/accept.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 10000
#define MAX_ADDRS 8
#define ACCEPT_BATCH 64
/* An idle write buffer bigger than this is given back after it drains. */
#define KEEP_BUF 65536

struct sbuf {
    uint8_t *p;
    size_t len, cap;
};

enum { ST_CONNECTING, ST_OPEN, ST_CLOSED };
enum { NOTIFY_NONE, NOTIFY_CLOSE, NOTIFY_CONNECT };

struct stream {
    struct loop_handle h;
    struct loop *loop;
    h2o_socket_t *sock;
    int state;
    int tls;
    int want_read;
    int kick_queued;
    int writing;
    int ending;
    int notify;           /* what finalize reports */
    size_t read_chunk;    /* plain TCP: read at most this much per readiness (0: h2o reads all there is) */
    int finalize_waiting; /* finalize ran while a lookup was in flight: on_resolved finishes it */

    stream_read_cb on_read;
    stream_drain_cb on_drain;
    stream_close_cb on_close;
    void *arg;

    struct sbuf out;      /* queued, not yet handed to h2o */
    struct sbuf inflight; /* handed to h2o (plain sockets reference it until the write completes) */
    size_t inflight_len;

    struct timer t_read, t_write, t_deadline;
    unsigned read_ms, write_ms;
    const char *close_err;

    /* outbound */
    stream_connect_cb on_connect;
    struct timer t_connect;
    h2o_hostinfo_getaddr_req_t *resolving;
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t addr_lens[MAX_ADDRS];
    size_t naddrs, addr_idx;
    char *sni;
    SSL_CTX *tls_ctx; /* borrowed from the loop, or own_ctx */
    SSL_CTX *own_ctx;
    X509 *pin;
    int lax_name; /* pinned or insecure: a name mismatch is not an error */
    char errbuf[160];
};

struct stream_listener {
    struct loop_handle h;
    struct loop *loop;
    h2o_socket_t *sock;
    struct accept_guard guard; /* at the fd limit: pause instead of spinning */
    stream_accept_cb cb;
    void *arg;
    struct unix_bound ub;
    uint16_t port;
    int busy, dead;
};

/* ---- buffers ---- */

static int sbuf_append(struct sbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n < b->len)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (q == NULL)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void sbuf_free(struct sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- closing ---- */

static void finalize(void *arg)
{
    struct stream *s = arg;
    if (s->resolving != NULL) {
        s->finalize_waiting = 1; /* the resolver's answer still points at s: on_resolved finalizes */
        return;
    }
    if (s->notify == NOTIFY_CLOSE && s->on_close != NULL)
        s->on_close(s, s->close_err, s->arg);
    else if (s->notify == NOTIFY_CONNECT && s->on_connect != NULL)
        s->on_connect(s, s->close_err, s->arg);
    sbuf_free(&s->out);
    sbuf_free(&s->inflight);
    free(s->sni);
    if (s->own_ctx != NULL)
        SSL_CTX_free(s->own_ctx);
    if (s->pin != NULL)
        X509_free(s->pin);
    free(s);
}

/* Close the socket now; report (close or connect failure) and free from the loop. */
static void shut(struct stream *s, const char *err, int notify)
{
    if (s->state == ST_CLOSED)
        return;
    s->state = ST_CLOSED;
    s->close_err = err;
    s->notify = notify;
    timer_stop(&s->t_read);
    timer_stop(&s->t_write);
    timer_stop(&s->t_deadline);
    timer_stop(&s->t_connect);
    loop_handle_del(&s->h);
    if (s->sock != NULL) {
        s->sock->data = NULL;
        h2o_socket_close(s->sock);
        s->sock = NULL;
    }
    if (loop_defer(s->loop, finalize, s) != 0)
        abort(); /* out of memory for 24 bytes: nothing sane is left to do */
}

static void fail_connect(struct stream *s, const char *err)
{
    shut(s, err, NOTIFY_CONNECT);
}

void stream_close(struct stream *s)
{
    if (s != NULL)
        shut(s, NULL, s->state == ST_CONNECTING ? NOTIFY_NONE : NOTIFY_CLOSE);
}

void stream_end(struct stream *s)
{
    if (s == NULL || s->state == ST_CLOSED)
        return;
    if (s->state == ST_CONNECTING || stream_queued(s) == 0) {
        stream_close(s);
        return;
    }
    s->ending = 1;
    stream_read_stop(s);
}

static void handle_close(struct loop_handle *h)
{
    stream_close((struct stream *)h);
}

static void on_t_read(struct timer *t, void *arg)
{
    shut(arg, "read timeout", NOTIFY_CLOSE);
}

static void on_t_write(struct timer *t, void *arg)
{
    shut(arg, "write timeout", NOTIFY_CLOSE);
}

static void on_t_deadline(struct timer *t, void *arg)
{
    shut(arg, "deadline", NOTIFY_CLOSE);
}

static void on_t_connect(struct timer *t, void *arg)
{
    fail_connect(arg, "connect timeout");
}

static struct stream *stream_alloc(struct loop *l)
{
    struct stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = l;
    timer_init(&s->t_read, l, on_t_read, s);
    timer_init(&s->t_write, l, on_t_write, s);
    timer_init(&s->t_deadline, l, on_t_deadline, s);
    timer_init(&s->t_connect, l, on_t_connect, s);
    s->h.close = handle_close;
    loop_handle_add(l, &s->h);
    return s;
}

struct stream *stream_from_socket(struct loop *l, h2o_socket_t *sock)
{
    struct stream *s = stream_alloc(l);
    if (s == NULL) {
        h2o_socket_close(sock);
        return NULL;
    }
    s->sock = sock;
    s->tls = sock->ssl != NULL;
    s->state = ST_OPEN;
    sock->data = s;
    return s;
}

/* ---- reading ---- */

static void on_sock_read(h2o_socket_t *sock, const char *err)
{
    struct stream *s = sock->data;
    if (err != NULL) {
        shut(s, err, NOTIFY_CLOSE);
        return;
    }
    if (s->read_ms)
        timer_start(&s->t_read, s->read_ms);
    if (sock->bytes_read > 0 && sock->input->size > 0 && s->on_read != NULL)
        s->on_read(s, s->arg);
}

/* A stream with a read chunk: h2o only says the socket is readable (its socket was made with DONT_READ), and
 * we read at most read_chunk bytes; what is left makes the socket readable again on the next round. */
static void on_sock_ready(h2o_socket_t *sock, const char *err)
{
    struct stream *s = sock->data;
    if (err != NULL) {
        shut(s, err, NOTIFY_CLOSE);
        return;
    }
    h2o_iovec_t b = h2o_buffer_reserve(&sock->input, s->read_chunk);
    if (b.base == NULL) {
        shut(s, h2o_socket_error_out_of_memory, NOTIFY_CLOSE);
        return;
    }
    ssize_t r;
    while ((r = read(h2o_socket_get_fd(sock), b.base, b.len < s->read_chunk ? b.len : s->read_chunk)) < 0 &&
           errno == EINTR)
        ;
    if (r == 0) {
        shut(s, h2o_socket_error_closed, NOTIFY_CLOSE);
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            shut(s, h2o_socket_error_io, NOTIFY_CLOSE);
        return;
    }
    sock->input->size += (size_t)r;
    sock->bytes_read = (size_t)r;
    if (s->read_ms)
        timer_start(&s->t_read, s->read_ms);
    if (s->on_read != NULL)
        s->on_read(s, s->arg);
}

int stream_set_read_chunk(struct stream *s, size_t bytes)
{
    if (s->state != ST_OPEN || s->tls || bytes == 0 || s->read_chunk != 0 || s->writing ||
        h2o_socket_is_writing(s->sock))
        return -1;
    /* the same fd under a socket h2o only polls: export it (its buffered input with it), re-create */
    int reading = h2o_socket_is_reading(s->sock);
    if (reading)
        h2o_socket_read_stop(s->sock);
    h2o_socket_export_t info;
    if (h2o_socket_export(s->sock, &info) != 0)
        return -1; /* (h2o's evloop export does not fail) */
    h2o_socket_t *ns = h2o_evloop_socket_create(loop_h2o(s->loop), info.fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_buffer_set_prototype(&info.input, &h2o_socket_buffer_prototype);
    h2o_buffer_dispose(&ns->input);
    ns->input = info.input;
    ns->data = s;
    s->sock = ns;
    s->read_chunk = bytes;
    if (reading)
        h2o_socket_read_start(ns, on_sock_ready);
    return 0;
}

static void read_kick(void *arg)
{
    struct stream *s = arg;
    s->kick_queued = 0;
    if (s->state == ST_OPEN && s->want_read && s->sock->input->size > 0 && s->on_read != NULL)
        s->on_read(s, s->arg);
}

void stream_set_callbacks(struct stream *s, stream_read_cb on_read, stream_drain_cb on_drain,
                          stream_close_cb on_close, void *arg)
{
    s->on_read = on_read;
    s->on_drain = on_drain;
    s->on_close = on_close;
    s->arg = arg;
}

void stream_read_start(struct stream *s)
{
    if (s->state != ST_OPEN || s->ending)
        return;
    s->want_read = 1;
    if (!h2o_socket_is_reading(s->sock))
        h2o_socket_read_start(s->sock, s->read_chunk ? on_sock_ready : on_sock_read);
    if (s->read_ms && !timer_armed(&s->t_read))
        timer_start(&s->t_read, s->read_ms);
    if (s->sock->input->size > 0 && !s->kick_queued && loop_defer(s->loop, read_kick, s) == 0)
        s->kick_queued = 1;
}

void stream_read_stop(struct stream *s)
{
    if (s->state != ST_OPEN)
        return;
    s->want_read = 0;
    if (h2o_socket_is_reading(s->sock))
        h2o_socket_read_stop(s->sock);
    timer_stop(&s->t_read);
}

uint8_t *stream_input(struct stream *s, size_t *len)
{
    if (s->state != ST_OPEN) {
        *len = 0;
        return NULL;
    }
    *len = s->sock->input->size;
    return (uint8_t *)s->sock->input->bytes;
}

void stream_consume(struct stream *s, size_t n)
{
    if (s->state != ST_OPEN)
        return;
    if (n > s->sock->input->size)
        n = s->sock->input->size;
    if (n > 0)
        h2o_buffer_consume(&s->sock->input, n);
}

/* ---- writing ---- */

static void on_written(h2o_socket_t *sock, const char *err);

static void flush_out(struct stream *s)
{
    struct sbuf t = s->inflight;
    s->inflight = s->out;
    s->out = t;
    s->out.len = 0;
    s->inflight_len = s->inflight.len;
    s->writing = 1;
    h2o_iovec_t v = h2o_iovec_init(s->inflight.p, s->inflight.len);
    h2o_socket_write(s->sock, &v, 1, on_written);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    struct stream *s = sock->data;
    s->writing = 0;
    s->inflight.len = 0;
    s->inflight_len = 0;
    if (s->inflight.cap > KEEP_BUF)
        sbuf_free(&s->inflight);
    if (err != NULL) {
        shut(s, err, NOTIFY_CLOSE);
        return;
    }
    if (s->out.len > 0) {
        flush_out(s);
        if (s->write_ms)
            timer_start(&s->t_write, s->write_ms); /* progress */
        return;
    }
    timer_stop(&s->t_write);
    loop_h2o_repoll(sock); /* (see there) */
    if (s->out.cap > KEEP_BUF)
        sbuf_free(&s->out);
    if (s->ending) {
        shut(s, NULL, NOTIFY_CLOSE);
        return;
    }
    if (s->on_drain != NULL)
        s->on_drain(s, s->arg);
}

int stream_writev(struct stream *s, const struct iovec *iov, size_t n)
{
    size_t total = 0, i;
    if (s->state != ST_OPEN || s->ending)
        return -1;
    for (i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 0;

    if (!s->writing && s->out.len == 0) {
        if (s->tls) {
            /* h2o encrypts into its own buffers right away: the caller's iovecs are free on return */
            s->writing = 1;
            s->inflight_len = total;
            h2o_socket_write(s->sock, (h2o_iovec_t *)(uintptr_t)iov, n, on_written);
        } else {
            /* plain: write what the kernel takes now, copy only the rest */
            size_t done = 0;
            if (n <= IOV_MAX) {
                ssize_t w;
                while ((w = writev(h2o_socket_get_fd(s->sock), iov, (int)n)) < 0 && errno == EINTR)
                    ;
                if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    shut(s, "write error", NOTIFY_CLOSE);
                    return -1;
                }
                done = w > 0 ? (size_t)w : 0;
                s->sock->bytes_written += done;
            }
            if (done == total)
                return 0;
            for (i = 0; i < n; i++) {
                size_t len = iov[i].iov_len;
                if (done >= len) {
                    done -= len;
                    continue;
                }
                if (sbuf_append(&s->out, (const uint8_t *)iov[i].iov_base + done, len - done) != 0) {
                    shut(s, "out of memory", NOTIFY_CLOSE);
                    return -1;
                }
                done = 0;
            }
            flush_out(s);
        }
    } else {
        for (i = 0; i < n; i++)
            if (sbuf_append(&s->out, iov[i].iov_base, iov[i].iov_len) != 0) {
                shut(s, "out of memory", NOTIFY_CLOSE);
                return -1;
            }
    }
    if (s->write_ms && !timer_armed(&s->t_write))
        timer_start(&s->t_write, s->write_ms);
    return 0;
}

int stream_write(struct stream *s, const void *buf, size_t len)
{
    struct iovec v = {(void *)(uintptr_t)buf, len};
    return stream_writev(s, &v, 1);
}

size_t stream_queued(const struct stream *s)
{
    return s->out.len + s->inflight_len;
}

/* ---- timeouts and accessors ---- */

void stream_set_read_timeout(struct stream *s, unsigned ms)
{
    s->read_ms = ms;
    if (s->state != ST_OPEN)
        return;
    if (ms == 0)
        timer_stop(&s->t_read);
    else if (s->want_read)
        timer_start(&s->t_read, ms);
}

void stream_set_write_timeout(struct stream *s, unsigned ms)
{
    s->write_ms = ms;
    if (s->state != ST_OPEN)
        return;
    if (ms == 0)
        timer_stop(&s->t_write);
    else if (stream_queued(s) > 0)
        timer_start(&s->t_write, ms);
}

void stream_set_deadline(struct stream *s, unsigned ms)
{
    if (s->state == ST_CLOSED)
        return;
    if (ms == 0)
        timer_stop(&s->t_deadline);
    else
        timer_start(&s->t_deadline, ms);
}

int stream_set_tcp_keepalive(struct stream *s, unsigned idle_s, unsigned intvl_s, unsigned count)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = s->sock != NULL ? h2o_socket_get_fd(s->sock) : -1;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return 0;
    int on = idle_s > 0;
    unsigned utimeout = 0;
    if (on) {
        /* Linux's limits: TCP_KEEPIDLE and TCP_KEEPINTVL <= 32767 s, TCP_KEEPCNT <= 127. */
        idle_s = idle_s > 32767 ? 32767 : idle_s;
        intvl_s = intvl_s == 0 ? 1 : intvl_s > 32767 ? 32767 : intvl_s;
        count = count == 0 ? 1 : count > 127 ? 127 : count;
        utimeout = (idle_s + intvl_s * count) * 1000u;
        int idle = (int)idle_s, intvl = (int)intvl_s, cnt = (int)count;
        if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0)
            return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0)
        return -1;
#ifdef TCP_USER_TIMEOUT
    if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &utimeout, sizeof(utimeout)) != 0)
        return -1;
#endif
    return 0;
}

socklen_t stream_peer(struct stream *s, struct sockaddr *sa)
{
    if (s->sock == NULL)
        return 0;
    return h2o_socket_getpeername(s->sock, sa);
}

char *stream_peer_str(struct stream *s, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = stream_peer(s, (struct sockaddr *)&ss);
    return addr_format((struct sockaddr *)&ss, len, buf, cap);
}

int stream_is_tls(const struct stream *s)
{
    return s->tls;
}

struct loop *stream_loop(const struct stream *s)
{
    return s->loop;
}

/* ---- outbound ---- */

static int verify_pinned(X509_STORE_CTX *x, void *arg)
{
    X509 *pin = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(x);
    if (leaf != NULL && X509_cmp(leaf, pin) == 0)
        return 1;
    X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
    return 0;
}

static const char *tls_setup(struct stream *s, const struct stream_connect_opts *o)
{
    if (o->pin_cert_file == NULL && !o->insecure && o->ca_file == NULL) {
        s->tls_ctx = loop_tls_client_ctx(s->loop);
        return s->tls_ctx ? NULL : "cannot create a TLS context";
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return "cannot create a TLS context";
    s->own_ctx = s->tls_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (o->pin_cert_file != NULL) {
        FILE *f = fopen(o->pin_cert_file, "r");
        if (f == NULL)
            return "cannot open the pinned certificate";
        s->pin = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        if (s->pin == NULL)
            return "cannot parse the pinned certificate";
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_cert_verify_callback(ctx, verify_pinned, s->pin);
        s->lax_name = 1;
    } else if (o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        s->lax_name = 1;
    } else {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1)
            return "cannot load the CA file";
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return NULL;
}

static void connected(struct stream *s)
{
    timer_stop(&s->t_connect);
    s->state = ST_OPEN;
    s->on_connect(s, NULL, s->arg);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    struct stream *s = sock->data;
    if (err != NULL && !(err == h2o_socket_error_ssl_cert_name_mismatch && s->lax_name)) {
        snprintf(s->errbuf, sizeof(s->errbuf), "TLS handshake: %s", err);
        fail_connect(s, s->errbuf);
        return;
    }
    s->tls = 1;
    connected(s);
}

static void try_next(struct stream *s);

static void on_connected(h2o_socket_t *sock, const char *err)
{
    struct stream *s = sock->data;
    if (err != NULL) {
        s->sock = NULL;
        h2o_socket_close(sock);
        s->addr_idx++;
        snprintf(s->errbuf, sizeof(s->errbuf), "connect: %s", err);
        try_next(s);
        return;
    }
    if (s->tls_ctx != NULL) {
        h2o_socket_ssl_handshake(sock, s->tls_ctx, s->sni, on_handshake);
        return;
    }
    connected(s);
}

static void try_next(struct stream *s)
{
    while (s->addr_idx < s->naddrs) {
        struct sockaddr *sa = (struct sockaddr *)&s->addrs[s->addr_idx];
        h2o_socket_t *sock =
            h2o_socket_connect(loop_h2o(s->loop), sa, s->addr_lens[s->addr_idx], on_connected);
        if (sock != NULL) {
            sock->data = s;
            s->sock = sock;
            return;
        }
        snprintf(s->errbuf, sizeof(s->errbuf), "connect: %s", strerror(errno));
        s->addr_idx++;
    }
    fail_connect(s, s->errbuf[0] ? s->errbuf : "connect failed");
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res,
                        void *data)
{
    struct stream *s = data;
    s->resolving = NULL;
    loop_resolving(s->loop, -1);
    if (s->state == ST_CLOSED) {
        if (s->finalize_waiting)
            finalize(s); /* else it is still queued and will find resolving cleared */
        return;
    }
    if (errstr != NULL) {
        snprintf(s->errbuf, sizeof(s->errbuf), "resolve: %s", errstr);
        fail_connect(s, s->errbuf);
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL && s->naddrs < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(s->addrs[0]))
            continue;
        memcpy(&s->addrs[s->naddrs], ai->ai_addr, ai->ai_addrlen);
        s->addr_lens[s->naddrs++] = (socklen_t)ai->ai_addrlen;
    }
    try_next(s);
}

struct stream *stream_connect(struct loop *l, const char *addrtext, const struct stream_connect_opts *opts,
                              stream_connect_cb cb, void *arg)
{
    static const struct stream_connect_opts none;
    struct addr a;
    const char *err;
    if (opts == NULL)
        opts = &none;
    if (addr_parse(addrtext, &a) != 0 || cb == NULL)
        return NULL;
    if (a.sa.ss_family != AF_UNIX && a.host[0] == 0)
        return NULL; /* a wildcard is not a destination */
    struct stream *s = stream_alloc(l);
    if (s == NULL)
        return NULL;
    s->state = ST_CONNECTING;
    s->on_connect = cb;
    s->arg = arg;
    timer_start(&s->t_connect, opts->timeout_ms ? opts->timeout_ms : CONNECT_TIMEOUT_MS);
    if (opts->tls) {
        const char *name = opts->sni ? opts->sni : a.host;
        if ((s->sni = strdup(name)) == NULL) {
            fail_connect(s, "out of memory");
            return s;
        }
        if ((err = tls_setup(s, opts)) != NULL) {
            fail_connect(s, err);
            return s;
        }
    }
    if (a.len > 0) {
        memcpy(&s->addrs[0], &a.sa, a.len);
        s->addr_lens[0] = a.len;
        s->naddrs = 1;
        try_next(s);
        return s;
    }

    h2o_multithread_receiver_t *r = loop_resolver(l);
    char port[8];
    snprintf(port, sizeof(port), "%u", a.port);
    if (r == NULL) {
        fail_connect(s, "resolver unavailable");
        return s;
    }
    /* h2o may start its lookup thread now: let it inherit a fully blocked mask, so signals stay ours */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    loop_resolving(l, 1);
    s->resolving = h2o_hostinfo_getaddr(r, h2o_iovec_init(a.host, strlen(a.host)),
                                        h2o_iovec_init(port, strlen(port)), AF_UNSPEC, SOCK_STREAM,
                                        IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return s;
}

/* ---- listening ---- */

/* Why the unix socket at sun cannot be replaced (something answers on it), or NULL when it is a left-over. */
static const char *unix_in_use(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) /* EAGAIN: alive, its backlog full */
        return "another process answers on this socket (another weft with the same state_dir?)";
    if (e == ECONNREFUSED || e == ENOENT)
        return NULL;
    return strerror(e); /* EACCES and such: not ours to replace */
}

void net_unix_release(struct unix_bound *ub)
{
    struct stat st;
    if (ub->path == NULL)
        return;
    if (lstat(ub->path, &st) == 0 && st.st_dev == ub->dev && st.st_ino == ub->ino)
        unlink(ub->path);
    free(ub->path);
    ub->path = NULL;
}

int net_listen(const char *text, int socktype, unsigned mode, uint16_t *port, struct unix_bound *ub, char *err,
               size_t errlen)
{
    struct addr a;
    int fd = -1, on = 1;
    const char *verb = socktype == SOCK_DGRAM ? "bind" : "listen";
    *port = 0;
    if (ub != NULL)
        memset(ub, 0, sizeof(*ub));
    if (addr_parse(text, &a) != 0) {
        snprintf(err, errlen, "%s %s: bad address", verb, text ? text : "(null)");
        return -1;
    }
    if (a.len == 0) {
        /* a name: resolve it now (startup time, blocking is fine) */
        struct addrinfo hints, *res = NULL;
        char ps[8];
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = socktype;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        snprintf(ps, sizeof(ps), "%u", a.port);
        int rc = getaddrinfo(a.host, ps, &hints, &res);
        if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(a.sa)) {
            snprintf(err, errlen, "%s %s: %s", verb, text, rc ? gai_strerror(rc) : "no address");
            if (res)
                freeaddrinfo(res);
            return -1;
        }
        memcpy(&a.sa, res->ai_addr, res->ai_addrlen);
        a.len = (socklen_t)res->ai_addrlen;
        freeaddrinfo(res);
    }
    if ((fd = socket(a.sa.ss_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        snprintf(err, errlen, "%s %s: socket: %s", verb, text, strerror(errno));
        return -1;
    }
    if (a.sa.ss_family == AF_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&a.sa;
        struct stat st;
        if (lstat(sun->sun_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, errlen, "%s %s: exists and is not a socket", verb, text);
                close(fd);
                return -1;
            }
            const char *why = unix_in_use(sun);
            if (why != NULL) {
                snprintf(err, errlen, "%s %s: %s", verb, text, why);
                close(fd);
                return -1;
            }
            unlink(sun->sun_path); /* a stale socket from an earlier run */
        }
        if (mode == 0)
            mode = 0600;
        mode_t old = umask((mode_t)(~mode & 0777));
        int rc = bind(fd, (struct sockaddr *)&a.sa, a.len);
        int e = errno;
        umask(old);
        if (rc != 0) {
            snprintf(err, errlen, "%s %s: %s", verb, text, strerror(e));
            close(fd);
            return -1;
        }
        chmod(sun->sun_path, (mode_t)mode);
        if (ub != NULL && lstat(sun->sun_path, &st) == 0) {
            ub->path = strdup(sun->sun_path);
            ub->dev = st.st_dev;
            ub->ino = st.st_ino;
        }
    } else {
        if (socktype == SOCK_STREAM)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (a.sa.ss_family == AF_INET6) {
            int off = 0; /* "[::]" and ":port" take IPv4 too */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
        }
        if (bind(fd, (struct sockaddr *)&a.sa, a.len) != 0) {
            snprintf(err, errlen, "%s %s: %s", verb, text, strerror(errno));
            close(fd);
            return -1;
        }
        struct sockaddr_storage bound;
        socklen_t bl = sizeof(bound);
        if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
            *port = addr_port((struct sockaddr *)&bound);
    }
    if (socktype == SOCK_STREAM && listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "%s %s: %s", verb, text, strerror(errno));
        close(fd);
        if (ub != NULL)
            net_unix_release(ub);
        return -1;
    }
    return fd;
}

static void on_accept(h2o_socket_t *lsock, const char *err)
{
    struct stream_listener *ls = lsock->data;
    ls->busy = 1;
    for (int i = 0; i < ACCEPT_BATCH && !ls->dead; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(lsock);
        if (sock == NULL) {
            accept_guard_failed(&ls->guard, errno);
            break;
        }
        accept_guard_ok(&ls->guard);
        struct stream *s = stream_from_socket(ls->loop, sock);
        if (s != NULL)
            ls->cb(ls, s, ls->arg);
    }
    ls->busy = 0;
    if (ls->dead)
        free(ls); /* freed from inside its callback */
}

static void listener_handle_close(struct loop_handle *h)
{
    stream_listener_free((struct stream_listener *)h);
}

struct stream_listener *stream_listen(struct loop *l, const char *addrtext, unsigned mode,
                                      stream_accept_cb cb, void *arg, char *err, size_t errlen)
{
    struct stream_listener *ls = calloc(1, sizeof(*ls));
    if (ls == NULL) {
        snprintf(err, errlen, "listen %s: out of memory", addrtext);
        return NULL;
    }
    int fd = net_listen(addrtext, SOCK_STREAM, mode, &ls->port, &ls->ub, err, errlen);
    if (fd < 0) {
        free(ls);
        return NULL;
    }
    ls->loop = l;
    ls->cb = cb;
    ls->arg = arg;
    ls->sock = h2o_evloop_socket_create(loop_h2o(l), fd, H2O_SOCKET_FLAG_DONT_READ);
    ls->sock->data = ls;
    accept_guard_init(&ls->guard, l, ls->sock, on_accept, addrtext);
    h2o_socket_read_start(ls->sock, on_accept);
    ls->h.close = listener_handle_close;
    loop_handle_add(l, &ls->h);
    return ls;
}

uint16_t stream_listener_port(const struct stream_listener *ls)
{
    return ls->port;
}

void stream_listener_free(struct stream_listener *ls)
{
    if (ls == NULL || ls->dead)
        return;
    ls->dead = 1;
    loop_handle_del(&ls->h);
    accept_guard_stop(&ls->guard);
    h2o_socket_read_stop(ls->sock);
    h2o_socket_close(ls->sock);
    ls->sock = NULL;
    net_unix_release(&ls->ub);
    if (!ls->busy)
        free(ls);
}
