// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/cli_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/http_client.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The response as it arrives: head, then a body in chunked encoding or up to EOF (Connection: close). */
struct resp {
    char *raw; /* unparsed bytes */
    size_t len, cap;
    int status;
    int head_done, chunked, done;
    size_t chunk_left; /* bytes left in the current chunk; 0: a size line is next */
    int need_crlf;     /* the CRLF after a chunk's data is next */
};

static int feed(const struct cli_http_req *q, struct resp *r)
{
    if (!r->head_done) {
        struct http_response res;
        int h = http_response_parse(r->raw, r->len, &res);
        if (h == -2)
            return 0;
        if (h < 0)
            return -1;
        r->status = res.status;
        const char *te = http_response_header(&res, "transfer-encoding");
        r->chunked = te && strncasecmp(te, "chunked", 7) == 0;
        http_response_free(&res);
        memmove(r->raw, r->raw + h, r->len - (size_t)h);
        r->len -= (size_t)h;
        r->head_done = 1;
    }
    if (!r->chunked) {
        if (r->len && q->on_body && q->on_body(q->arg, r->raw, r->len))
            return -1;
        r->len = 0;
        return 0;
    }
    size_t off = 0;
    while (off < r->len && !r->done) {
        if (r->need_crlf) {
            if (r->len - off < 2)
                break;
            off += 2;
            r->need_crlf = 0;
        } else if (r->chunk_left) {
            size_t n = r->len - off < r->chunk_left ? r->len - off : r->chunk_left;
            if (q->on_body && q->on_body(q->arg, r->raw + off, n))
                return -1;
            off += n;
            r->chunk_left -= n;
            if (!r->chunk_left)
                r->need_crlf = 1;
        } else {
            char *eol = memchr(r->raw + off, '\n', r->len - off);
            if (!eol)
                break;
            char *end;
            unsigned long long sz = strtoull(r->raw + off, &end, 16);
            if (end == r->raw + off || sz > (1u << 30))
                return -1;
            off = (size_t)(eol - r->raw) + 1;
            if (sz == 0)
                r->done = 1; /* trailers (none here) and the final CRLF follow */
            r->chunk_left = (size_t)sz;
        }
    }
    memmove(r->raw, r->raw + off, r->len - off);
    r->len -= off;
    return 0;
}

int cli_http(const struct cli_http_req *q, int *status, int *connect_errno, char *err, size_t errlen)
{
    *status = 0;
    *connect_errno = 0;
    err[0] = 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(q->sock) >= sizeof sa.sun_path) {
        *connect_errno = ENAMETOOLONG;
        snprintf(err, errlen, "%s: %s", q->sock, strerror(ENAMETOOLONG));
        return CLI_HTTP_CONNECT;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *connect_errno = errno;
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return CLI_HTTP_CONNECT;
    }
    memcpy(sa.sun_path, q->sock, strlen(q->sock) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        *connect_errno = errno;
        snprintf(err, errlen, "%s: %s", q->sock, strerror(errno));
        close(fd);
        return CLI_HTTP_CONNECT;
    }
    if (q->timeout_s) {
        struct timeval tv = {.tv_sec = q->timeout_s};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    size_t blen = q->body ? q->body_len : 0;
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n", q->method,
                      q->path, q->host, q->body ? "Content-Type: application/json\r\n" : "", blen);
    int rc = CLI_HTTP_IO;
    struct resp r;
    memset(&r, 0, sizeof r);
    if (hl < 0 || (size_t)hl >= sizeof head) {
        snprintf(err, errlen, "request too long");
        rc = CLI_HTTP_BAD;
        goto out;
    }
    if (write_all(fd, head, (size_t)hl) || (blen && write_all(fd, q->body, blen))) {
        snprintf(err, errlen, "writing to the daemon: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        if (r.len + 4096 > r.cap) {
            size_t cap = r.cap ? r.cap * 2 : 16384;
            char *p = realloc(r.raw, cap);
            if (!p) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            r.raw = p;
            r.cap = cap;
        }
        ssize_t n = read(fd, r.raw + r.len, r.cap - r.len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "reading from the daemon: %s",
                     errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        r.len += (size_t)n;
        if (feed(q, &r)) {
            snprintf(err, errlen, "the daemon's answer is malformed");
            rc = CLI_HTTP_BAD;
            goto out;
        }
        if (r.done)
            break;
    }
    if (!r.head_done) {
        snprintf(err, errlen, "the daemon closed the connection without answering");
        goto out;
    }
    *status = r.status;
    rc = CLI_HTTP_OK;
out:
    free(r.raw);
    close(fd);
    return rc;
}
