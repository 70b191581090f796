// SPDX-License-Identifier: BSD-3-Clause
/* One HTTP/1.1 request on an open stream and its response head: for the DERP and control clients' upgrades
 * (101 Switching Protocols) and small requests. The bytes after the head stay in the stream's input. */
#ifndef WEFT_CORE_HTTP_CLIENT_H
#define WEFT_CORE_HTTP_CLIENT_H

#include <stddef.h>
#include "core/http.h"

struct stream;

struct http_response {
    int status;                  /* 101, 200, ... */
    int minor_version;           /* 1 for HTTP/1.1 */
    const char *reason;          /* "Switching Protocols" */
    struct http_header *headers; /* as received, NUL-terminated */
    size_t num_headers;
};

/* res is valid during the call only. err != NULL: no response (res NULL) and the stream is closed: don't use
 * s. On success the stream's callbacks are cleared and reading is stopped: set yours and call
 * stream_read_start (early bytes after the head are already in stream_input). */
typedef void (*http_client_cb)(struct stream *s, const struct http_response *res, const char *err,
                               void *arg);

/* Send "METHOD path HTTP/1.1" with Host, the given headers and body (Content-Length added when body_len >
 * 0), then parse the response head. 0, or -1 on bad arguments (CR/LF in a field) or a closed stream. */
int http_client_request(struct stream *s, const char *method, const char *path, const char *host,
                        const struct http_header *headers, size_t num_headers, const void *body,
                        size_t body_len, http_client_cb cb, void *arg);
/* Parse a response head (skipping 1xx heads other than 101) from buf into res: its length (> 0), -2 if
 * incomplete, -1 if malformed or over 64 KiB. On success free res with http_response_free. */
int http_response_parse(const char *buf, size_t len, struct http_response *res);
/* Free what http_response_parse allocated. */
void http_response_free(struct http_response *res);
/* The value of the first header called name (case-insensitive), or NULL. */
const char *http_response_header(const struct http_response *res, const char *name);

#endif
