// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_MAX_HEADERS (64 * 1024)
#define DEFAULT_MAX_BUFFERED (8 * 1024 * 1024)
/* An idle queue bigger than this is given back. */
#define KEEP_BUF 16384
/* Go's http2.Server (what headscale answers with, see testdata/captures/http2-frames.txt). */
#define SRV_MAX_FRAME_SIZE 1048576
#define SRV_MAX_STREAMS 250
#define SRV_MAX_HEADER_LIST 1048896
#define SRV_WINDOW 1048576
/* The official client (same capture). */
#define CLI_WINDOW 4194304
#define CLI_MAX_HEADER_LIST 10485760
#define CLI_CONN_WINDOW_INCR 1073741824

struct buf {
    uint8_t *p;
    size_t off, len, cap;
};

/* Header strings live in one arena per message; entries hold offsets until the block is complete. */
struct hdrs {
    char *arena;
    size_t used, cap;
    size_t (*ofs)[2];
    size_t n, ncap;
    struct http_header *view; /* pointers into arena, built when the block ends */
    int too_big;
};

enum { REQ_READING, REQ_DISPATCHED, REQ_ANSWERED, REQ_STREAMING, REQ_ENDED };

struct h2_req {
    struct h2 *h;
    struct h2_req *prev, *next;
    int32_t id;
    int state;
    int drain_pending;
    int busy;            /* the session's buffer budget ran out while this request arrived: 503 */
    size_t hd_counted;   /* header bytes of this request counted in h->buffered */
    struct hdrs hd;
    size_t method_off, path_off, auth_off; /* SIZE_MAX: absent */
    const char *method, *path, *authority;
    struct buf body;
    struct buf out;
    int out_end;
    void (*on_gone)(void *);
    void *gone_arg;
    void (*on_drain)(void *);
    void *drain_arg;
};

struct h2_call {
    struct h2 *h;
    struct h2_call *prev, *next;
    int32_t id;
    int complete;
    struct hdrs hd;
    int status;
    struct buf out; /* the request body */
    struct h2_call_cbs cbs;
    void *arg;
};

struct h2 {
    nghttp2_session *s;
    int server;
    h2_write_fn write;
    h2_request_fn on_request;
    void *arg;
    struct h2_server_opts o;
    size_t buffered;
    int in_cb, flushing, failed, freeing;
    size_t nstreams;
    struct h2_req *reqs;
    struct h2_call *calls;
};

/* ---- small helpers ---- */

static int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n < b->len)
        return -1;
    if (b->len + n > b->cap) {
        if (b->off > 0) { /* slide what is left to the front first */
            memmove(b->p, b->p + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 1024;
            while (cap < b->len + n)
                cap *= 2;
            uint8_t *q = realloc(b->p, cap);
            if (q == NULL)
                return -1;
            b->p = q;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static size_t buf_avail(const struct buf *b)
{
    return b->len - b->off;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static int hdrs_add(struct hdrs *hd, const uint8_t *name, size_t nl, const uint8_t *value, size_t vl,
                    size_t cap, size_t *name_off)
{
    size_t need = nl + vl + 2;
    if (hd->too_big || hd->used + need > cap) {
        hd->too_big = 1;
        return 0;
    }
    if (hd->used + need > hd->cap) {
        size_t c = hd->cap ? hd->cap : 512;
        while (c < hd->used + need)
            c *= 2;
        char *a = realloc(hd->arena, c);
        if (a == NULL)
            return -1;
        hd->arena = a;
        hd->cap = c;
    }
    if (name_off == NULL) {
        if (hd->n == hd->ncap) {
            size_t c = hd->ncap ? hd->ncap * 2 : 8;
            void *o = realloc(hd->ofs, c * sizeof(*hd->ofs));
            if (o == NULL)
                return -1;
            hd->ofs = o;
            hd->ncap = c;
        }
        hd->ofs[hd->n][0] = hd->used;
        hd->ofs[hd->n][1] = hd->used + nl + 1;
        hd->n++;
    } else {
        *name_off = hd->used + nl + 1; /* a pseudo-header: only its value is wanted */
    }
    memcpy(hd->arena + hd->used, name, nl);
    hd->arena[hd->used + nl] = 0;
    memcpy(hd->arena + hd->used + nl + 1, value, vl);
    hd->arena[hd->used + nl + 1 + vl] = 0;
    hd->used += need;
    return 0;
}

static int hdrs_finish(struct hdrs *hd)
{
    free(hd->view);
    hd->view = NULL;
    if (hd->n == 0)
        return 0;
    hd->view = malloc(hd->n * sizeof(*hd->view));
    if (hd->view == NULL)
        return -1;
    for (size_t i = 0; i < hd->n; i++) {
        hd->view[i].name = hd->arena + hd->ofs[i][0];
        hd->view[i].value = hd->arena + hd->ofs[i][1];
    }
    return 0;
}

static void hdrs_free(struct hdrs *hd)
{
    free(hd->arena);
    free(hd->ofs);
    free(hd->view);
    memset(hd, 0, sizeof(*hd));
}

static nghttp2_nv mknv(const char *name, const char *value)
{
    nghttp2_nv nv = {(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, strlen(name), strlen(value),
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

static void kick(struct h2 *h)
{
    if (!h->in_cb && !h->flushing && !h->freeing)
        h2_flush(h);
}

/* ---- server requests ---- */

static void req_unlink_free(struct h2_req *r)
{
    struct h2 *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    size_t held = buf_avail(&r->body) + r->hd_counted;
    h->buffered -= held <= h->buffered ? held : h->buffered;
    h->nstreams--;
    hdrs_free(&r->hd);
    buf_free(&r->body);
    buf_free(&r->out);
    free(r);
    if (h->nstreams == 0 && h->server && h->o.on_idle != NULL && !h->freeing)
        h->o.on_idle(h->arg);
}

/* An answer is complete once submitted whole (one-shot) or ended; otherwise the owner cares if it goes. */
static int req_owner_waits(const struct h2_req *r)
{
    return r->state == REQ_DISPATCHED || r->state == REQ_STREAMING;
}

static ssize_t req_read(nghttp2_session *s, int32_t id, uint8_t *out, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *user)
{
    struct h2_req *r = nghttp2_session_get_stream_user_data(s, id);
    if (r == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = buf_avail(&r->out);
    if (n > len)
        n = len;
    if (n > 0)
        memcpy(out, r->out.p + r->out.off, n);
    r->out.off += n;
    if (buf_avail(&r->out) == 0) {
        r->out.off = r->out.len = 0;
        if (r->out.cap > KEEP_BUF)
            buf_free(&r->out);
        if (r->out_end) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return (ssize_t)n;
        }
        if (n > 0 && r->on_drain != NULL)
            r->drain_pending = 1;
        if (n == 0)
            return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static int submit_answer(struct h2_req *r, int status, const struct http_header *hs, size_t n,
                         int with_length, int has_body)
{
    char st[8], cl[24];
    nghttp2_nv nv[n + 2];
    size_t k = 0;
    snprintf(st, sizeof(st), "%d", status);
    nv[k++] = mknv(":status", st);
    for (size_t i = 0; i < n; i++)
        nv[k++] = mknv(hs[i].name, hs[i].value);
    if (with_length) {
        snprintf(cl, sizeof(cl), "%zu", buf_avail(&r->out));
        nv[k++] = mknv("content-length", cl);
    }
    nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = req_read};
    return nghttp2_submit_response(r->h->s, r->id, nv, k, has_body ? &prd : NULL) == 0 ? 0 : -1;
}

int h2_respond(struct h2_req *r, int status, const struct http_header *hs, size_t n, const void *body,
               size_t len)
{
    if (r->h->freeing || r->state == REQ_ANSWERED || r->state == REQ_STREAMING || r->state == REQ_ENDED)
        return -1;
    r->out.off = r->out.len = 0;
    if (buf_append(&r->out, body, len) != 0)
        return -1;
    r->out_end = 1;
    r->state = REQ_ANSWERED;
    /* the request body is no longer needed */
    r->h->buffered -= buf_avail(&r->body) <= r->h->buffered ? buf_avail(&r->body) : r->h->buffered;
    buf_free(&r->body);
    int rc = submit_answer(r, status, hs, n, 1, len > 0);
    kick(r->h);
    return rc;
}

int h2_respond_text(struct h2_req *r, int status, const char *text)
{
    static const struct http_header ct = {"content-type", "text/plain; charset=utf-8"};
    return h2_respond(r, status, &ct, 1, text, strlen(text));
}

int h2_reply_start(struct h2_req *r, int status, const struct http_header *hs, size_t n)
{
    if (r->h->freeing || r->state != REQ_DISPATCHED)
        return -1;
    r->state = REQ_STREAMING;
    int rc = submit_answer(r, status, hs, n, 0, 1);
    kick(r->h);
    return rc;
}

int h2_reply_write(struct h2_req *r, const void *data, size_t len)
{
    if (r->h->freeing || r->state != REQ_STREAMING)
        return -1;
    if (len == 0)
        return 0;
    if (buf_append(&r->out, data, len) != 0)
        return -1;
    nghttp2_session_resume_data(r->h->s, r->id);
    kick(r->h);
    return 0;
}

size_t h2_reply_queued(const struct h2_req *r)
{
    return buf_avail(&r->out);
}

void h2_reply_on_drain(struct h2_req *r, void (*cb)(void *arg), void *arg)
{
    r->on_drain = cb;
    r->drain_arg = arg;
}

void h2_reply_end(struct h2_req *r)
{
    if (r->h->freeing || r->state != REQ_STREAMING)
        return;
    r->state = REQ_ENDED;
    r->out_end = 1;
    r->on_drain = NULL;
    nghttp2_session_resume_data(r->h->s, r->id);
    kick(r->h);
}

const char *h2_req_method(const struct h2_req *r)
{
    return r->method;
}
const char *h2_req_path(const struct h2_req *r)
{
    return r->path;
}
const char *h2_req_authority(const struct h2_req *r)
{
    return r->authority;
}
int32_t h2_req_stream_id(const struct h2_req *r)
{
    return r->id;
}
struct h2 *h2_req_session(const struct h2_req *r)
{
    return r->h;
}

const char *h2_req_header(const struct h2_req *r, const char *name)
{
    for (size_t i = 0; i < r->hd.n; i++)
        if (strcmp(r->hd.view[i].name, name) == 0)
            return r->hd.view[i].value;
    return NULL;
}

const struct http_header *h2_req_headers(const struct h2_req *r, size_t *n)
{
    *n = r->hd.n;
    return r->hd.view;
}

const uint8_t *h2_req_body(const struct h2_req *r, size_t *len)
{
    *len = buf_avail(&r->body);
    return *len ? r->body.p + r->body.off : NULL;
}

void h2_req_on_gone(struct h2_req *r, void (*cb)(void *arg), void *arg)
{
    r->on_gone = cb;
    r->gone_arg = arg;
}

/* ---- server callbacks ---- */

static int srv_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    struct h2 *h = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    r->h = h;
    r->id = f->hd.stream_id;
    r->method_off = r->path_off = r->auth_off = SIZE_MAX;
    r->next = h->reqs;
    if (r->next)
        r->next->prev = r;
    h->reqs = r;
    h->nstreams++;
    nghttp2_session_set_stream_user_data(s, r->id, r);
    return 0;
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
    struct h2 *h = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: ignored */
    struct h2_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (r == NULL)
        return 0;
    size_t *pseudo = NULL;
    if (nl > 0 && name[0] == ':') {
        if (nl == 7 && memcmp(name, ":method", 7) == 0)
            pseudo = &r->method_off;
        else if (nl == 5 && memcmp(name, ":path", 5) == 0)
            pseudo = &r->path_off;
        else if (nl == 10 && memcmp(name, ":authority", 10) == 0)
            pseudo = &r->auth_off;
        else
            return 0; /* :scheme means nothing inside Noise */
    }
    /* header bytes count against the session's budget like bodies do: 250 streams of 64 KiB headers
     * each would otherwise be held outside it */
    size_t need = nl + vl + 2;
    if (r->busy || h->buffered + need > h->o.max_buffered) {
        r->busy = 1;
        return 0;
    }
    if (hdrs_add(&r->hd, name, nl, value, vl, h->o.max_header_size, pseudo) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (!r->hd.too_big) {
        h->buffered += need;
        r->hd_counted += need;
    }
    return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                    void *user)
{
    struct h2 *h = user;
    struct h2_req *r = nghttp2_session_get_stream_user_data(s, id);
    if (r == NULL || r->state != REQ_READING)
        return 0; /* answered early (413...): the rest of the body is dropped */
    if (r->busy)
        return 0; /* answered 503 at the end of the request */
    if (buf_avail(&r->body) + len > h->o.max_body || h->buffered + len > h->o.max_buffered) {
        int too_big = buf_avail(&r->body) + len > h->o.max_body;
        h->buffered -= buf_avail(&r->body);
        buf_free(&r->body);
        r->state = REQ_DISPATCHED; /* h2_respond's precondition */
        if (!too_big && h->o.busy_count)
            (*h->o.busy_count)++;
        h2_respond_text(r, too_big ? 413 : 503, too_big ? "request body too large\n" : "server busy\n");
        return 0;
    }
    if (buf_append(&r->body, data, len) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    h->buffered += len;
    return 0;
}

static void srv_dispatch(struct h2 *h, struct h2_req *r)
{
    if (r->busy) {
        r->state = REQ_DISPATCHED;
        if (h->o.busy_count)
            (*h->o.busy_count)++;
        h2_respond_text(r, 503, "server busy\n");
        return;
    }
    if (r->hd.too_big) {
        r->state = REQ_DISPATCHED;
        h2_respond_text(r, 431, "request headers too large\n");
        return;
    }
    if (hdrs_finish(&r->hd) != 0) {
        nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_INTERNAL_ERROR);
        r->state = REQ_ENDED;
        return;
    }
    r->method = r->method_off != SIZE_MAX ? r->hd.arena + r->method_off : "";
    r->path = r->path_off != SIZE_MAX ? r->hd.arena + r->path_off : "";
    r->authority = r->auth_off != SIZE_MAX ? r->hd.arena + r->auth_off : "";
    if (r->body.p != NULL && buf_append(&r->body, "", 1) == 0)
        r->body.len--; /* NUL after the body, not counted */
    r->state = REQ_DISPATCHED;
    h->on_request(r, h->arg);
}

static int srv_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    struct h2 *h = user;
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct h2_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (r != NULL && r->state == REQ_READING)
        srv_dispatch(h, r);
    return 0;
}

static int srv_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    struct h2_req *r = nghttp2_session_get_stream_user_data(s, id);
    if (r == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    if (req_owner_waits(r) && r->on_gone != NULL)
        r->on_gone(r->gone_arg);
    req_unlink_free(r);
    return 0;
}

/* ---- client calls ---- */

static void call_unlink_free(struct h2_call *c)
{
    struct h2 *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nstreams--;
    hdrs_free(&c->hd);
    buf_free(&c->out);
    free(c);
}

static ssize_t call_read(nghttp2_session *s, int32_t id, uint8_t *out, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    struct h2_call *c = nghttp2_session_get_stream_user_data(s, id);
    if (c == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = buf_avail(&c->out);
    if (n > len)
        n = len;
    if (n > 0)
        memcpy(out, c->out.p + c->out.off, n);
    c->out.off += n;
    if (buf_avail(&c->out) == 0) {
        buf_free(&c->out);
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

struct h2_call *h2_request(struct h2 *h, const char *method, const char *path, const char *authority,
                           const struct http_header *hs, size_t n, const void *body, size_t len,
                           const struct h2_call_cbs *cbs, void *arg)
{
    if (h->server || h->freeing || h->failed || method == NULL || path == NULL || cbs == NULL)
        return NULL;
    struct h2_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (buf_append(&c->out, body, len) != 0) {
        free(c);
        return NULL;
    }
    c->h = h;
    c->cbs = *cbs;
    c->arg = arg;
    char cl[24];
    nghttp2_nv nv[n + 5];
    size_t k = 0;
    nv[k++] = mknv(":method", method);
    nv[k++] = mknv(":path", path);
    nv[k++] = mknv(":scheme", "https");
    nv[k++] = mknv(":authority", authority ? authority : "");
    for (size_t i = 0; i < n; i++)
        nv[k++] = mknv(hs[i].name, hs[i].value);
    if (len > 0) {
        snprintf(cl, sizeof(cl), "%zu", len);
        nv[k++] = mknv("content-length", cl);
    }
    nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = call_read};
    int32_t id = nghttp2_submit_request(h->s, NULL, nv, k, len ? &prd : NULL, c);
    if (id < 0) {
        buf_free(&c->out);
        free(c);
        return NULL;
    }
    c->id = id;
    c->next = h->calls;
    if (c->next)
        c->next->prev = c;
    h->calls = c;
    h->nstreams++;
    kick(h);
    return c;
}

void h2_call_cancel(struct h2_call *c)
{
    struct h2 *h = c->h;
    nghttp2_session_set_stream_user_data(h->s, c->id, NULL);
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, c->id, NGHTTP2_CANCEL);
    call_unlink_free(c);
    kick(h);
}

int32_t h2_call_stream_id(const struct h2_call *c)
{
    return c->id;
}

static int cli_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_RESPONSE)
        return 0; /* 1xx and trailers are ignored */
    struct h2_call *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (c == NULL)
        return 0;
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        int st = 0;
        for (size_t i = 0; i < vl && i < 3; i++)
            st = st * 10 + (value[i] - '0');
        c->status = st;
        return 0;
    }
    if (nl > 0 && name[0] == ':')
        return 0;
    return hdrs_add(&c->hd, name, nl, value, vl, CLI_MAX_HEADER_LIST, NULL) == 0
               ? 0
               : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int cli_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    struct h2_call *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (c == NULL)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
        if (hdrs_finish(&c->hd) != 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (c->cbs.on_head != NULL)
            c->cbs.on_head(c, c->status, c->hd.view, c->hd.n, c->arg);
    }
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
        c->complete = 1;
    return 0;
}

static int cli_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                    void *user)
{
    struct h2_call *c = nghttp2_session_get_stream_user_data(s, id);
    if (c != NULL && c->cbs.on_data != NULL && len > 0)
        c->cbs.on_data(c, data, len, c->arg);
    return 0;
}

static int cli_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    struct h2_call *c = nghttp2_session_get_stream_user_data(s, id);
    if (c == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    const char *err = NULL;
    if (code != NGHTTP2_NO_ERROR)
        err = nghttp2_http2_strerror(code);
    else if (!c->complete)
        err = "stream closed before the response ended";
    if (c->cbs.on_done != NULL)
        c->cbs.on_done(c, err, c->arg);
    call_unlink_free(c);
    return 0;
}

/* ---- sessions ---- */

static struct h2 *session_new(int server, h2_write_fn write, void *arg)
{
    struct h2 *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->server = server;
    h->write = write;
    h->arg = arg;
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        free(h);
        return NULL;
    }
    if (server) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, srv_stream_close);
    } else {
        nghttp2_session_callbacks_set_on_header_callback(cb, cli_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cli_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cli_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, cli_stream_close);
    }
    int rc = server ? nghttp2_session_server_new(&h->s, cb, h) : nghttp2_session_client_new(&h->s, cb, h);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        free(h);
        return NULL;
    }
    return h;
}

struct h2 *h2_server_new(h2_write_fn write, h2_request_fn on_request, void *arg,
                         const struct h2_server_opts *o)
{
    struct h2 *h = session_new(1, write, arg);
    if (h == NULL)
        return NULL;
    h->on_request = on_request;
    if (o != NULL)
        h->o = *o;
    if (h->o.max_body == 0)
        h->o.max_body = DEFAULT_MAX_BODY;
    if (h->o.max_header_size == 0)
        h->o.max_header_size = DEFAULT_MAX_HEADERS;
    if (h->o.max_buffered == 0)
        h->o.max_buffered = DEFAULT_MAX_BUFFERED;
    const nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, SRV_MAX_FRAME_SIZE},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, SRV_MAX_STREAMS},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, SRV_MAX_HEADER_LIST},
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, SRV_WINDOW},
    };
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, SRV_WINDOW) != 0) {
        h2_free(h);
        return NULL;
    }
    return h;
}

struct h2 *h2_client_new(h2_write_fn write, void *arg)
{
    struct h2 *h = session_new(0, write, arg);
    if (h == NULL)
        return NULL;
    const nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, CLI_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, CLI_MAX_HEADER_LIST},
    };
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_submit_window_update(h->s, NGHTTP2_FLAG_NONE, 0, CLI_CONN_WINDOW_INCR) != 0) {
        h2_free(h);
        return NULL;
    }
    return h;
}

/* Drain callbacks run outside nghttp2 (they may write more). 1 if any ran. */
static int run_drains(struct h2 *h)
{
    int ran = 0;
    for (struct h2_req *r = h->reqs; r != NULL;) {
        struct h2_req *next = r->next;
        if (r->drain_pending) {
            r->drain_pending = 0;
            if (r->on_drain != NULL && r->state == REQ_STREAMING && buf_avail(&r->out) == 0) {
                ran = 1;
                r->on_drain(r->drain_arg); /* may end r, which stays allocated until its stream closes */
            }
        }
        r = next;
    }
    return ran;
}

int h2_flush(struct h2 *h)
{
    if (h->flushing || h->in_cb || h->freeing)
        return h->failed ? -1 : 0;
    h->flushing = 1;
    while (!h->failed) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);
        if (n < 0) {
            h->failed = 1;
            break;
        }
        if (n == 0) {
            if (run_drains(h))
                continue;
            break;
        }
        int r = h->write(h->arg, data, (size_t)n);
        if (r < 0)
            h->failed = 1;
        if (r != 0)
            break;
    }
    h->flushing = 0;
    return h->failed ? -1 : 0;
}

int h2_feed(struct h2 *h, const uint8_t *in, size_t len)
{
    if (h->failed || h->freeing)
        return -1;
    h->in_cb++;
    ssize_t n = nghttp2_session_mem_recv(h->s, in, len);
    h->in_cb--;
    if (n < 0) {
        /* nghttp2 queued a GOAWAY for most of these: let it out, the owner closes after */
        h2_flush(h);
        h->failed = 1;
        return -1;
    }
    return h2_flush(h);
}

int h2_alive(struct h2 *h)
{
    return !h->failed && (nghttp2_session_want_read(h->s) || nghttp2_session_want_write(h->s));
}

void h2_goaway(struct h2 *h)
{
    if (h->failed || h->freeing)
        return;
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    kick(h);
}

size_t h2_streams(const struct h2 *h)
{
    return h->nstreams;
}

void *h2_arg(const struct h2 *h)
{
    return h->arg;
}

void h2_free(struct h2 *h)
{
    if (h == NULL || h->freeing)
        return;
    h->freeing = 1;
    while (h->reqs != NULL) {
        struct h2_req *r = h->reqs;
        nghttp2_session_set_stream_user_data(h->s, r->id, NULL);
        if (req_owner_waits(r) && r->on_gone != NULL)
            r->on_gone(r->gone_arg);
        req_unlink_free(r);
    }
    while (h->calls != NULL) {
        struct h2_call *c = h->calls;
        nghttp2_session_set_stream_user_data(h->s, c->id, NULL);
        if (c->cbs.on_done != NULL)
            c->cbs.on_done(c, "connection closed", c->arg);
        call_unlink_free(c);
    }
    nghttp2_session_del(h->s);
    free(h);
}
