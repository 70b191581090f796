// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/derp/server.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/admission.h"
#include "core/ctx.h"
#include "core/derp_client.h"
#include "core/log.h"
#include "core/stream.h"
#include "core/picohttp.h"


/* The admission URL's answer is small: more than this is refused (derper reads 4 KiB). */
#define MAX_ANSWER 4096
#define MAX_HEAD 16384

/* One POST to derp.verify_clients for a client that finished its handshake. */
struct verify_req {
    struct derp_server *srv;
    struct dconn *c;
    struct stream *s;
    struct derp_url url;
    char body[256];
    size_t body_len;
    int got_head, status, chunked;
    long long clen; /* -1: until the connection closes */
};

static void verify_free(struct verify_req *v)
{
    if (v->s != NULL) {
        stream_set_callbacks(v->s, NULL, NULL, NULL, NULL);
        stream_close(v->s);
        v->s = NULL;
    }
    free(v);
}

void verify_cancel(struct verify_req *v)
{
    if (v != NULL)
        verify_free(v);
}

/* The URL could not answer: fail open or closed as configured. */
static void verify_failed(struct verify_req *v, const char *err)
{
    struct derp_server *srv = v->srv;
    struct dconn *c = v->c;
    int open = srv->conf->verify_fail_open;
    srv->m.admission_errors++;
    log_warn("module=derp event=verify_error url=%s error=\"%s\" result=%s", srv->conf->verify_clients, err,
             open ? "admit" : "refuse");
    verify_free(v);
    derp_admit_done(c, open, "admission URL unreachable");
}

static void verify_answer(struct verify_req *v, const char *body, size_t len)
{
    struct dconn *c = v->c;
    int allow = 0;
    if (v->status == 200) {
        char *text = strndup(body, len);
        json_object *o = text ? json_tokener_parse(text) : NULL;
        json_object *a = NULL;
        if (o != NULL && json_object_is_type(o, json_type_object)) {
            /* Go decodes field names case-insensitively */
            json_object_object_foreach(o, k, val)
            {
                if (strcasecmp(k, "Allow") == 0)
                    a = val;
            }
        }
        allow = a != NULL && json_object_is_type(a, json_type_boolean) && json_object_get_boolean(a);
        json_object_put(o);
        free(text);
    }
    verify_free(v);
    derp_admit_done(c, allow, allow ? NULL : "admission URL said no");
}

/* Decode a chunked body in place; its length, or -1 when incomplete or malformed (*bad set if malformed). */
static long dechunk(char *p, size_t n, int *bad)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end = memmem(p + in, n - in, "\r\n", 2);
        if (end == NULL)
            return -1;
        char *stop;
        unsigned long sz = strtoul(p + in, &stop, 16);
        if (stop == p + in) {
            *bad = 1;
            return -1;
        }
        in = (size_t)(end - p) + 2;
        if (sz == 0)
            return (long)out;
        if (sz > MAX_ANSWER || n - in < sz + 2) {
            *bad = sz > MAX_ANSWER;
            return -1;
        }
        memmove(p + out, p + in, sz);
        out += sz;
        in += sz + 2;
    }
}

static void on_read(struct stream *s, void *arg)
{
    struct verify_req *v = arg;
    size_t len;
    char *buf = (char *)stream_input(s, &len);
    if (!v->got_head) {
        struct phr_header hs[32];
        size_t nh = 32;
        int minor;
        const char *msg;
        size_t msg_len;
        int n = phr_parse_response(buf, len, &minor, &v->status, &msg, &msg_len, hs, &nh, 0);
        if (n == -2) {
            if (len > MAX_HEAD)
                verify_failed(v, "response head too large");
            return;
        }
        if (n < 0) {
            verify_failed(v, "malformed response");
            return;
        }
        v->got_head = 1;
        v->clen = -1;
        for (size_t i = 0; i < nh; i++) {
            if (hs[i].name_len == 14 && strncasecmp(hs[i].name, "Content-Length", 14) == 0)
                v->clen = strtoll(hs[i].value, NULL, 10);
            if (hs[i].name_len == 17 && strncasecmp(hs[i].name, "Transfer-Encoding", 17) == 0 &&
                hs[i].value_len >= 7 && strncasecmp(hs[i].value, "chunked", 7) == 0)
                v->chunked = 1;
        }
        stream_consume(s, (size_t)n);
        buf = (char *)stream_input(s, &len);
    }
    if (v->chunked) {
        int bad = 0;
        if (len > MAX_ANSWER + 256) {
            verify_failed(v, "answer too large");
            return;
        }
        long n = dechunk(buf, len, &bad);
        if (bad)
            verify_failed(v, "malformed chunked answer");
        else if (n >= 0)
            verify_answer(v, buf, (size_t)n);
        return;
    }
    if (v->clen > MAX_ANSWER || (v->clen < 0 && len > MAX_ANSWER)) {
        verify_failed(v, "answer too large");
        return;
    }
    if (v->clen >= 0 && len >= (size_t)v->clen)
        verify_answer(v, buf, (size_t)v->clen);
}

static void on_close(struct stream *s, const char *err, void *arg)
{
    struct verify_req *v = arg;
    v->s = NULL;
    if (v->got_head && v->clen < 0 && !v->chunked) {
        /* the body ran until the close; the input is gone with the stream, so what we have is nothing */
        verify_failed(v, "answer without a length");
        return;
    }
    verify_failed(v, err ? err : "connection closed before the answer");
}

static void on_connect(struct stream *s, const char *err, void *arg)
{
    struct verify_req *v = arg;
    if (err != NULL) {
        v->s = NULL;
        verify_failed(v, err);
        return;
    }
    char head[1024];
    int n = snprintf(
        head, sizeof(head),
        "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weft-derp\r\nContent-Type: application/json\r\n"
        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
        v->url.path, v->url.hostport, v->body_len);
    struct iovec iov[2] = {{head, (size_t)n}, {v->body, v->body_len}};
    stream_set_callbacks(s, on_read, NULL, on_close, v);
    stream_set_deadline(s, (unsigned)v->srv->conf->verify_timeout);
    if (n < 0 || (size_t)n >= sizeof(head) || stream_writev(s, iov, 2) != 0) {
        verify_failed(v, "cannot send the request");
        return;
    }
    stream_read_start(s);
}

struct verify_req *derp_admit(struct derp_server *srv, struct dconn *c, const uint8_t key[32],
                              const char *source_ip)
{
    const struct derp_conf *conf = srv->conf;
    if (conf->verify_clients != NULL && conf->verify_clients[0] != 0) {
        struct verify_req *v = calloc(1, sizeof(*v));
        if (v == NULL) {
            derp_admit_done(c, conf->verify_fail_open, "out of memory");
            return NULL;
        }
        v->srv = srv;
        v->c = c;
        char ks[KEY_TEXT_MAX];
        key_format(ks, sizeof(ks), KEY_TEXT_NODE, (const struct key *)key);
        v->body_len = (size_t)snprintf(v->body, sizeof(v->body), "{\"NodePublic\":\"%s\",\"Source\":\"%s\"}",
                                       ks, source_ip);
        if (derp_url_parse(conf->verify_clients, &v->url) != 0) {
            free(v);
            derp_admit_done(c, 0, "bad verify_clients URL");
            return NULL;
        }
        struct stream_connect_opts o = {.tls = v->url.tls, .timeout_ms = (unsigned)conf->verify_timeout};
        v->s = stream_connect(srv->loop, v->url.hostport, &o, on_connect, v);
        if (v->s == NULL) {
            free(v);
            derp_admit_done(c, conf->verify_fail_open, "cannot reach the admission URL");
            return NULL;
        }
        return v;
    }
    const struct admission *adm = weft_service_get(srv->ctx, ADMISSION_SERVICE);
    if (adm != NULL && adm->node_admitted != NULL) {
        int ok = adm->node_admitted(adm->ctx, key) == 1;
        derp_admit_done(c, ok, ok ? NULL : "not a registered node");
        return NULL;
    }
    derp_admit_done(c, 1, NULL);
    return NULL;
}
