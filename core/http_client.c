// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/http_client.h"
#include "core/stream.h"
#include "core/picohttp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#define MAX_HEADERS 64
#define MAX_HEAD 65536

struct request {
    http_client_cb cb;
    void *arg;
};

static int clean(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

static void finish(struct stream *s, struct request *rq, const struct http_response *res, const char *err)
{
    http_client_cb cb = rq->cb;
    void *arg = rq->arg;
    free(rq);
    stream_set_callbacks(s, NULL, NULL, NULL, NULL);
    stream_read_stop(s);
    if (err != NULL)
        stream_close(s); /* closes now; the stream memory lives until the loop's next round */
    cb(s, res, err, arg);
}

static void on_close(struct stream *s, const char *err, void *arg)
{
    struct request *rq = arg;
    http_client_cb cb = rq->cb;
    void *cbarg = rq->arg;
    free(rq);
    cb(s, NULL, err ? err : "connection closed before the response", cbarg);
}

int http_response_parse(const char *buf, size_t len, struct http_response *res)
{
    struct phr_header hs[MAX_HEADERS];
    size_t nh = MAX_HEADERS, off = 0;
    int minor, status;
    const char *msg;
    size_t msg_len;
    int n;
    memset(res, 0, sizeof(*res));
    for (;;) {
        nh = MAX_HEADERS;
        n = phr_parse_response(buf + off, len - off, &minor, &status, &msg, &msg_len, hs, &nh, 0);
        if (n == -2)
            return len > MAX_HEAD ? -1 : -2;
        if (n < 0 || status < 100 || status > 999)
            return -1;
        if (status >= 100 && status < 200 && status != 101) {
            off += (size_t)n; /* 100 Continue and friends: the real head follows */
            continue;
        }
        break;
    }
    /* copy out NUL-terminated strings: the caller consumes the input */
    size_t need = msg_len + 1;
    for (size_t i = 0; i < nh; i++)
        need += hs[i].name_len + hs[i].value_len + 2;
    struct http_header *h = calloc(nh ? nh : 1, sizeof(*h));
    char *text = malloc(need), *p = text;
    if (h == NULL || text == NULL) {
        free(h);
        free(text);
        return -1;
    }
    res->status = status;
    res->minor_version = minor;
    res->reason = p;
    res->headers = h;
    memcpy(p, msg, msg_len);
    p[msg_len] = 0;
    p += msg_len + 1;
    for (size_t i = 0; i < nh; i++) {
        if (hs[i].name == NULL)
            continue; /* a folded continuation line: ignored */
        h[res->num_headers].name = p;
        memcpy(p, hs[i].name, hs[i].name_len);
        p[hs[i].name_len] = 0;
        p += hs[i].name_len + 1;
        h[res->num_headers].value = p;
        memcpy(p, hs[i].value, hs[i].value_len);
        p[hs[i].value_len] = 0;
        p += hs[i].value_len + 1;
        res->num_headers++;
    }
    return (int)(off + (size_t)n);
}

void http_response_free(struct http_response *res)
{
    free(res->headers);
    free((char *)res->reason);
    memset(res, 0, sizeof(*res));
}

static void on_read(struct stream *s, void *arg)
{
    struct request *rq = arg;
    size_t len;
    const char *buf = (const char *)stream_input(s, &len);
    struct http_response res;
    int n = http_response_parse(buf, len, &res);
    if (n == -2)
        return;
    if (n < 0) {
        finish(s, rq, NULL, len > MAX_HEAD ? "response head too large" : "malformed response");
        return;
    }
    stream_consume(s, (size_t)n);
    finish(s, rq, &res, NULL);
    http_response_free(&res);
}

int http_client_request(struct stream *s, const char *method, const char *path, const char *host,
                        const struct http_header *headers, size_t num_headers, const void *body,
                        size_t body_len, http_client_cb cb, void *arg)
{
    if (!clean(method) || !clean(path) || !clean(host) || cb == NULL || *method == 0 || *path == 0)
        return -1;
    for (size_t i = 0; i < num_headers; i++)
        if (!clean(headers[i].name) || !clean(headers[i].value) || strchr(headers[i].name, ':') != NULL)
            return -1;

    size_t need = strlen(method) + strlen(path) + strlen(host) + 64;
    for (size_t i = 0; i < num_headers; i++)
        need += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    char *head = malloc(need);
    if (head == NULL)
        return -1;
    size_t off = (size_t)snprintf(head, need, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host);
    for (size_t i = 0; i < num_headers; i++)
        off += (size_t)snprintf(head + off, need - off, "%s: %s\r\n", headers[i].name, headers[i].value);
    if (body_len > 0)
        off += (size_t)snprintf(head + off, need - off, "Content-Length: %zu\r\n", body_len);
    off += (size_t)snprintf(head + off, need - off, "\r\n");

    struct request *rq = malloc(sizeof(*rq));
    if (rq == NULL) {
        free(head);
        return -1;
    }
    rq->cb = cb;
    rq->arg = arg;
    struct iovec iov[2] = {{head, off}, {(void *)(uintptr_t)body, body_len}};
    int rc = stream_writev(s, iov, body_len > 0 ? 2 : 1);
    free(head);
    if (rc != 0) {
        free(rq);
        return -1;
    }
    stream_set_callbacks(s, on_read, NULL, on_close, rq);
    stream_read_start(s);
    return 0;
}

const char *http_response_header(const struct http_response *res, const char *name)
{
    for (size_t i = 0; i < res->num_headers; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}
