// SPDX-License-Identifier: BSD-3-Clause
/* HTTP/2 over a byte stream we carry ourselves (the ts2021 Noise channel), with libnghttp2's memory API:
 * the owner feeds received bytes with h2_feed and gets the bytes to send through its write callback.
 * Server sessions hand each complete request (headers and a capped body) to one callback, which answers
 * once or streams the answer; client sessions send requests and deliver answers chunk by chunk.
 * Output is pulled from nghttp2 only while the owner's write callback accepts more, so a peer that does
 * not read leaves the data in the per-stream queues, where the producer sees it (h2_reply_queued). */
#ifndef WEFT_CORE_H2_H
#define WEFT_CORE_H2_H

#include <stddef.h>
#include <stdint.h>

#include "core/http.h" /* struct http_header */

struct h2;
struct h2_req;  /* server: one request and its answer */
struct h2_call; /* client: one request we sent */

/* Bytes to send. Return 0 to continue, 1 to accept these but stop producing (the owner is congested: it
 * calls h2_flush again once drained), -1 to fail the session. */
typedef int (*h2_write_fn)(void *arg, const uint8_t *data, size_t len);
/* Server: a request is complete (body included). Answer now or later, or keep req until on_gone. */
typedef void (*h2_request_fn)(struct h2_req *req, void *arg);

struct h2_server_opts {
    size_t max_body;        /* request bodies over this get 413 (default 1 MiB) */
    size_t max_header_size; /* all header names and values of one request (default 64 KiB; over: 431) */
    size_t max_buffered;    /* request bytes (headers and bodies) held at once on the session, across its
                             * streams (default 8 MiB; a request that does not fit: 503) */
    void (*on_idle)(void *arg); /* optional: the last open stream closed (arg: the session's) */
    uint64_t *busy_count;       /* optional: counts the requests answered 503 for max_buffered */
};

/* A server session (expects the client preface; sends its SETTINGS first: the ones Go's http2.Server sends,
 * as headscale does). NULL if out of memory. */
struct h2 *h2_server_new(h2_write_fn write, h2_request_fn on_request, void *arg,
                         const struct h2_server_opts *o);
/* A client session: queues the preface the official client sends (SETTINGS ENABLE_PUSH=0
 * INITIAL_WINDOW_SIZE=4194304 MAX_HEADER_LIST_SIZE=10485760, WINDOW_UPDATE(0, 1073741824)). */
struct h2 *h2_client_new(h2_write_fn write, void *arg);
/* Process received bytes (any split); output follows through write. 0, or -1 on a protocol error (the
 * session queued a GOAWAY: flush it if you like, then drop the connection). */
int h2_feed(struct h2 *h, const uint8_t *in, size_t len);
/* Produce pending output until there is none or write says stop. 0, or -1 on failure. */
int h2_flush(struct h2 *h);
/* 1 while the session has something to do (open streams, output); 0 once it wants to be closed
 * (after a GOAWAY both ways, or a fatal error). */
int h2_alive(struct h2 *h);
/* Graceful close: GOAWAY (no new streams); open streams finish. */
void h2_goaway(struct h2 *h);
/* Open streams (server: requests not yet finished; client: calls in flight). */
size_t h2_streams(const struct h2 *h);
/* Free the session. Open requests see on_gone, open calls on_done with an error; no other callback. */
void h2_free(struct h2 *h);
/* The owner's argument given at creation. */
void *h2_arg(const struct h2 *h);

/* ---- server: requests ---- */

const char *h2_req_method(const struct h2_req *r);
const char *h2_req_path(const struct h2_req *r);      /* as sent, with any query */
const char *h2_req_authority(const struct h2_req *r); /* "" if absent */
/* The first header called name (lowercase: HTTP/2 headers are), or NULL. */
const char *h2_req_header(const struct h2_req *r, const char *name);
/* Every regular header (no pseudo-headers) in arrival order: *n gets the count. Valid while req is. */
const struct http_header *h2_req_headers(const struct h2_req *r, size_t *n);
/* The body (NUL-terminated for convenience; NULL and 0 when empty). */
const uint8_t *h2_req_body(const struct h2_req *r, size_t *len);
int32_t h2_req_stream_id(const struct h2_req *r);
struct h2 *h2_req_session(const struct h2_req *r);
/* If the stream or the connection goes away before the answer is complete, cb(arg) runs and req is
 * freed right after: don't use it again. */
void h2_req_on_gone(struct h2_req *r, void (*cb)(void *arg), void *arg);

/* Answer at once: status, headers (lowercase names; content-length is added) and body (copied). 0 or -1
 * (already answered, or gone). req stays valid until its stream closes: don't keep it. */
int h2_respond(struct h2_req *r, int status, const struct http_header *hs, size_t n, const void *body,
               size_t len);
/* Same with content-type text/plain; charset=utf-8. */
int h2_respond_text(struct h2_req *r, int status, const char *text);

/* Streamed answer: headers now (no content-length), then DATA frames as written, END_STREAM at
 * h2_reply_end. Flow control is honoured: what the peer has no window for waits in the stream's queue. */
int h2_reply_start(struct h2_req *r, int status, const struct http_header *hs, size_t n);
/* Queue a chunk (copied) and send what the windows allow. 0, or -1 once gone/ended. */
int h2_reply_write(struct h2_req *r, const void *data, size_t len);
/* Bytes written and not yet handed to the connection: a producer bounds its memory with this. */
size_t h2_reply_queued(const struct h2_req *r);
/* cb(arg) each time the queue empties after h2_reply_write (resume producing). */
void h2_reply_on_drain(struct h2_req *r, void (*cb)(void *arg), void *arg);
/* Finish after the queued data; req is freed once sent (or gone): don't use it after this call. */
void h2_reply_end(struct h2_req *r);

/* ---- client: calls ---- */

struct h2_call_cbs {
    /* The response head (status, regular headers; valid during the call). May be NULL. */
    void (*on_head)(struct h2_call *c, int status, const struct http_header *hs, size_t n, void *arg);
    /* A chunk of the body as it arrives. May be NULL (the body is dropped). */
    void (*on_data)(struct h2_call *c, const uint8_t *data, size_t len, void *arg);
    /* The end: err NULL after a complete response, else why (reset, connection lost). The call is
     * freed after this returns. */
    void (*on_done)(struct h2_call *c, const char *err, void *arg);
};

/* Send a request: :method, :path, :scheme https, :authority, the headers (lowercase names), and body
 * (copied; content-length added when non-empty). NULL on failure (bad arguments, session closing). */
struct h2_call *h2_request(struct h2 *h, const char *method, const char *path, const char *authority,
                           const struct http_header *hs, size_t n, const void *body, size_t len,
                           const struct h2_call_cbs *cbs, void *arg);
/* Cancel (RST_STREAM CANCEL); no callback follows, the call is freed. */
void h2_call_cancel(struct h2_call *c);
int32_t h2_call_stream_id(const struct h2_call *c);

#endif
