// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dns/forward.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/fetch.h"
#include "core/log.h"
#include "core/loop.h"

#define UDP_TIMEOUT_MS 1500
#define MAX_MSG 65535

enum fq_mode { FQ_UDP, FQ_TCP, FQ_DOH };

struct fq {
    struct dns_fwd *f;
    uint64_t token;
    uint8_t *query;
    size_t qlen;
    struct dns_upstreams up;
    size_t idx;     /* the upstream being tried */
    size_t tries;   /* attempts made */
    bool client_tcp;
    enum fq_mode mode;
    int fd;
    struct loop_watch *w;
    struct timer timer;
    uint8_t *buf; /* TCP: the answer being read (2-byte length first); DoH: the body */
    size_t blen, bcap;
    size_t sent; /* TCP: bytes of the length-prefixed query written */
    struct fetch *fx; /* DoH: the request under way */
    struct fq *prev, *next;
};

struct dns_fwd {
    struct loop *loop;
    dns_fwd_done done;
    void *arg;
    struct fq *head;
    struct dns_fwd_stats st;
    unsigned timeout_ms;
    char *const *ca_file;
    struct fetcher *fetcher; /* made at the first DoH query: a node without DoH upstreams never loads libcurl */
    bool fetcher_failed;     /* libcurl cannot be loaded: said once */
};

static void start_try(struct fq *q);

static void close_later(void *arg)
{
    close((int)(intptr_t)arg);
}

/* Inside its own callback a watch lets go of its fd only after the callback returns: the fd is closed from
 * the loop then (now it could be reused under the watch). */
static void fq_close_io(struct fq *q)
{
    if (q->w) {
        loop_watch_free(q->w);
        q->w = NULL;
    }
    if (q->fd >= 0) {
        if (loop_defer(q->f->loop, close_later, (void *)(intptr_t)q->fd) < 0)
            close(q->fd);
        q->fd = -1;
    }
    if (q->fx) {
        fetch_cancel(q->fx);
        q->fx = NULL;
    }
    timer_stop(&q->timer);
    q->blen = 0;
    q->sent = 0;
}

static void fq_free(struct fq *q)
{
    struct dns_fwd *f = q->f;
    fq_close_io(q);
    if (q->prev)
        q->prev->next = q->next;
    else
        f->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    f->st.inflight--;
    free(q->query);
    free(q->buf);
    dns_upstreams_free(&q->up);
    free(q);
}

static void finish(struct fq *q, const uint8_t *reply, size_t len)
{
    struct dns_fwd *f = q->f;
    if (reply)
        f->st.answered++;
    else
        f->st.failed++;
    uint64_t token = q->token;
    /* the callback may start new queries: take q out first, keep the reply alive until after */
    uint8_t *copy = NULL;
    if (reply && !(copy = malloc(len ? len : 1)))
        reply = NULL;
    if (copy)
        memcpy(copy, reply, len);
    fq_free(q);
    f->done(f->arg, token, copy, len);
    free(copy);
}

/* This upstream failed: the next one, or give up after every one was tried (twice for a single one). */
static void next_upstream(struct fq *q)
{
    fq_close_io(q);
    size_t max = q->up.n < 2 ? 2 : q->up.n;
    if (++q->tries >= max) {
        finish(q, NULL, 0);
        return;
    }
    q->idx = (q->idx + 1) % q->up.n;
    q->mode = q->up.v[q->idx].doh ? FQ_DOH : FQ_UDP;
    start_try(q);
}

static void on_timeout(struct timer *t, void *arg)
{
    struct fq *q = arg;
    q->f->st.timeouts++;
    next_upstream(q);
}

/* An answer to our query: right ID, QR set. */
static bool is_answer(const struct fq *q, const uint8_t *m, size_t len)
{
    return len >= 12 && m[0] == q->query[0] && m[1] == q->query[1] && (m[2] & 0x80);
}

static void on_udp(struct loop_watch *w, int fd, int events, void *arg)
{
    struct fq *q = arg;
    uint8_t buf[MAX_MSG];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            next_upstream(q); /* e.g. ECONNREFUSED: nothing listens there */
            return;
        }
        if (!is_answer(q, buf, (size_t)r))
            continue; /* not ours (a late answer to nothing, or junk): keep waiting */
        if ((buf[2] & 0x02) && q->client_tcp) { /* truncated: the client can take the whole answer */
            q->f->st.tcp_retries++;
            fq_close_io(q);
            q->mode = FQ_TCP;
            start_try(q);
            return;
        }
        finish(q, buf, (size_t)r);
        return;
    }
}

static void on_tcp(struct loop_watch *w, int fd, int events, void *arg)
{
    struct fq *q = arg;
    if (events & LOOP_WRITE) {
        uint8_t hdr[2] = {(uint8_t)(q->qlen >> 8), (uint8_t)q->qlen};
        while (q->sent < q->qlen + 2) {
            struct iovec iov[2];
            int n = 0;
            if (q->sent < 2)
                iov[n++] = (struct iovec){hdr + q->sent, 2 - q->sent};
            size_t qoff = q->sent < 2 ? 0 : q->sent - 2;
            iov[n++] = (struct iovec){q->query + qoff, q->qlen - qoff};
            ssize_t r = writev(fd, iov, n);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                next_upstream(q);
                return;
            }
            q->sent += (size_t)r;
        }
        loop_watch_set(w, LOOP_READ);
        return;
    }
    if (!(events & LOOP_READ))
        return;
    for (;;) {
        if (q->blen == q->bcap) {
            next_upstream(q); /* cannot happen: bcap holds the largest message */
            return;
        }
        ssize_t r = read(fd, q->buf + q->blen, q->bcap - q->blen);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            next_upstream(q);
            return;
        }
        if (r == 0) {
            next_upstream(q);
            return;
        }
        q->blen += (size_t)r;
        if (q->blen >= 2) {
            size_t ml = (size_t)q->buf[0] << 8 | q->buf[1];
            if (q->blen >= 2 + ml) {
                if (!is_answer(q, q->buf + 2, ml)) {
                    next_upstream(q);
                    return;
                }
                finish(q, q->buf + 2, ml);
                return;
            }
        }
    }
}

/* ---- DNS over HTTPS (RFC 8484 POST) through core/fetch ---- */

/* The media type without parameters is application/dns-message. */
static bool is_dns_message(const char *ct)
{
    static const char want[] = "application/dns-message";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char c = ct[sizeof want - 1];
    return c == 0 || c == ';' || c == ' ' || c == '\t';
}

static void on_doh(const struct fetch_response *r, void *arg)
{
    struct fq *q = arg;
    q->fx = NULL; /* core/fetch frees it after this returns */
    const char *ct = r->err ? NULL : fetch_header(r, "Content-Type");
    if (!r->err && r->status == 200 && is_dns_message(ct) && is_answer(q, (const uint8_t *)r->body, r->len)) {
        finish(q, (const uint8_t *)r->body, r->len);
        return;
    }
    log_debug("module=node event=dns_doh url=%s error=\"%s\" status=%d content_type=\"%s\"",
              q->up.v[q->idx].text, r->err ? r->err : "bad answer", r->status, ct ? ct : "");
    next_upstream(q);
}

static int doh_start(struct fq *q)
{
    struct dns_fwd *f = q->f;
    if (!f->fetcher) {
        if (f->fetcher_failed)
            return -1;
        char err[300];
        if (!(f->fetcher = fetcher_new(f->loop, err, sizeof err))) {
            f->fetcher_failed = true;
            log_error("module=node event=dns_doh error=\"%s\"", err);
            return -1;
        }
    }
    /* upstreams are DoH only for https:// URLs (resolver.c), and core/fetch follows no redirects */
    struct fetch_request req = {
        .method = "POST",
        .url = q->up.v[q->idx].text,
        .body = q->query,
        .body_len = q->qlen,
        .content_type = "application/dns-message",
        .accept = "application/dns-message",
        .ca_file = f->ca_file && *f->ca_file && **f->ca_file ? *f->ca_file : NULL,
        .timeout_ms = f->timeout_ms * 2,
        .max_body = MAX_MSG,
    };
    q->fx = fetch_start(f->fetcher, &req, on_doh, q);
    return q->fx ? 0 : -1;
}

static void start_try(struct fq *q)
{
    struct dns_fwd *f = q->f;
    const struct dns_upstream *u = &q->up.v[q->idx];
    q->blen = 0;
    q->sent = 0;
    if (q->mode == FQ_DOH) {
        if (doh_start(q)) {
            next_upstream(q);
            return;
        }
        f->st.sent++;
        return; /* core/fetch keeps its own timeout */
    }
    int tcp = q->mode == FQ_TCP;
    q->fd = socket(u->sa.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (q->fd < 0 || (connect(q->fd, (const struct sockaddr *)&u->sa, u->salen) < 0 && errno != EINPROGRESS)) {
        next_upstream(q);
        return;
    }
    if (!tcp) {
        if (send(q->fd, q->query, q->qlen, 0) < 0) {
            next_upstream(q);
            return;
        }
    }
    q->w = loop_watch_add(f->loop, q->fd, tcp ? LOOP_WRITE : LOOP_READ, tcp ? on_tcp : on_udp, q);
    if (!q->w) {
        next_upstream(q);
        return;
    }
    f->st.sent++;
    timer_start(&q->timer, tcp ? f->timeout_ms * 2 : f->timeout_ms);
}

int dns_fwd_query(struct dns_fwd *f, const struct dns_upstreams *up, const uint8_t *query, size_t len, bool tcp,
                  uint64_t token)
{
    if (!up || !up->n || len < 12 || len > MAX_MSG)
        return -1;
    if (f->st.inflight >= DNS_FWD_MAX_INFLIGHT) {
        f->st.refused_busy++;
        return -1;
    }
    struct fq *q = calloc(1, sizeof *q);
    if (!q)
        return -1;
    q->f = f;
    q->fd = -1;
    q->token = token;
    q->client_tcp = tcp;
    q->query = malloc(len);
    q->up.v = malloc(up->n * sizeof *up->v);
    q->bcap = MAX_MSG + 2;
    q->buf = malloc(q->bcap);
    if (!q->query || !q->up.v || !q->buf) {
        free(q->query);
        free(q->up.v);
        free(q->buf);
        free(q);
        return -1;
    }
    memcpy(q->query, query, len);
    q->qlen = len;
    memcpy(q->up.v, up->v, up->n * sizeof *up->v);
    q->up.n = up->n;
    q->mode = q->up.v[0].doh ? FQ_DOH : FQ_UDP;
    timer_init(&q->timer, f->loop, on_timeout, q);
    q->next = f->head;
    if (f->head)
        f->head->prev = q;
    f->head = q;
    f->st.inflight++;
    start_try(q); /* a failure to even send calls back before this returns */
    return 0;
}

struct dns_fwd *dns_fwd_new(struct loop *l, dns_fwd_done done, void *arg)
{
    struct dns_fwd *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->loop = l;
    f->done = done;
    f->arg = arg;
    f->timeout_ms = UDP_TIMEOUT_MS;
    return f;
}

void dns_fwd_free(struct dns_fwd *f)
{
    if (!f)
        return;
    while (f->head) { /* not from a watch's callback: the fds can go now */
        struct fq *q = f->head;
        if (q->w) {
            loop_watch_free(q->w);
            q->w = NULL;
        }
        if (q->fd >= 0)
            close(q->fd);
        q->fd = -1;
        fq_free(q);
    }
    fetcher_free(f->fetcher);
    free(f);
}

void dns_fwd_get_stats(const struct dns_fwd *f, struct dns_fwd_stats *st)
{
    *st = f->st;
}

void dns_fwd_set_ca_file(struct dns_fwd *f, char *const *path)
{
    f->ca_file = path;
}

void dns_fwd_set_timeout(struct dns_fwd *f, unsigned ms)
{
    f->timeout_ms = ms ? ms : UDP_TIMEOUT_MS;
}
