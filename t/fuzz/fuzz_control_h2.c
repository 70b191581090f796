// SPDX-License-Identifier: BSD-3-Clause
/* Arbitrary bytes into the control channel's HTTP/2 server session (core/h2 as modules/control/channel
 * drives it after the Noise handshake), with handlers that answer at once, stream, or hold the request, and
 * a writer that reports congestion now and then. Must not crash, leak or hit UB. The client preface is
 * prepended; the first input byte sets the feed chunk size. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/h2.h"

#define MAX_HELD 8

static struct h2_req *held[MAX_HELD];
static size_t written, writes;

static void forget(void *arg)
{
    struct h2_req **slot = arg;
    *slot = NULL;
}

static int hold(struct h2_req *r)
{
    for (int i = 0; i < MAX_HELD; i++)
        if (held[i] == NULL) {
            held[i] = r;
            h2_req_on_gone(r, forget, &held[i]);
            return i;
        }
    return -1;
}

static int sink(void *arg, const uint8_t *data, size_t len)
{
    written += len;
    return ++writes % 7 == 0; /* congested every 7th write */
}

static void on_request(struct h2_req *r, void *arg)
{
    size_t len;
    const uint8_t *body = h2_req_body(r, &len);
    const char *path = h2_req_path(r);
    (void)h2_req_header(r, "content-type");
    size_t n;
    (void)h2_req_headers(r, &n);
    if (path[0] == '/' && path[1] == 's') { /* streamed, continued on later feeds */
        if (hold(r) < 0) {
            h2_respond_text(r, 503, "busy\n");
            return;
        }
        h2_reply_start(r, 200, NULL, 0);
        h2_reply_write(r, body ? (const void *)body : "x", body ? len : 1);
    } else if (path[0] == '/' && path[1] == 'l') { /* answered later */
        if (hold(r) < 0)
            h2_respond_text(r, 503, "busy\n");
    } else {
        static const struct http_header hs[] = {{"content-type", "application/octet-stream"}};
        h2_respond(r, 200, hs, 1, body, len);
    }
}

/* Between feeds, move the held requests along. */
static void step(unsigned k)
{
    for (int i = 0; i < MAX_HELD; i++) {
        struct h2_req *r = held[i];
        if (r == NULL)
            continue;
        if (h2_reply_write(r, "0123456789abcdef", 16) != 0) { /* not streaming: answer it */
            held[i] = NULL;
            h2_req_on_gone(r, NULL, NULL);
            h2_respond_text(r, 202, "later\n");
        } else if ((k + (unsigned)i) % 3 == 0) {
            held[i] = NULL;
            h2_req_on_gone(r, NULL, NULL);
            h2_reply_end(r);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] * 4 + 1;
    data++;
    size--;
    struct h2_server_opts o = {.max_body = 4096, .max_header_size = 2048, .max_buffered = 16384};
    struct h2 *h = h2_server_new(sink, on_request, NULL, &o);
    if (h == NULL)
        return 0;
    int dead = h2_feed(h, (const uint8_t *)magic, sizeof(magic) - 1) != 0;
    for (size_t off = 0; !dead && off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        dead = h2_feed(h, data + off, n) != 0;
        step((unsigned)off);
        h2_flush(h);
        if (!h2_alive(h))
            break;
    }
    if (!dead) {
        h2_goaway(h);
        h2_flush(h);
    }
    (void)h2_streams(h);
    h2_free(h); /* held requests see on_gone */
    for (int i = 0; i < MAX_HELD; i++)
        held[i] = NULL;
    return 0;
}
