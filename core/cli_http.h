// SPDX-License-Identifier: BSD-3-Clause
/* The CLI's client for its daemons' local HTTP APIs: one blocking HTTP/1.1 request over a unix socket
 * (Connection: close), the answer's body handed over as it arrives (chunked or up to EOF), so that a
 * streamed answer (NDJSON lines) can be shown as it comes. Small on purpose: every verb of every role
 * needs only this, and a general HTTP library would be mapped into every weft process for it. */
#ifndef WEFT_CORE_CLI_HTTP_H
#define WEFT_CORE_CLI_HTTP_H

#include <stddef.h>

/* Body bytes as they arrive; non-zero stops the request (an error). */
typedef int (*cli_http_body_cb)(void *arg, const char *data, size_t n);

struct cli_http_req {
    const char *sock;       /* the unix socket's path */
    const char *method;     /* "GET", "POST" */
    const char *path;       /* "/v1/users" */
    const char *host;       /* the Host header */
    const char *body;       /* NULL: none; sent as application/json */
    size_t body_len;
    unsigned timeout_s;     /* per read or write; 0: none (a streamed answer may take its time) */
    cli_http_body_cb on_body;
    void *arg;
};

enum { CLI_HTTP_OK = 0, CLI_HTTP_CONNECT = -1, CLI_HTTP_IO = -2, CLI_HTTP_BAD = -3 };

/* Send the request and read the whole answer. CLI_HTTP_OK with *status set; CLI_HTTP_CONNECT when the
 * socket cannot be reached (*connect_errno says why: see cli_socket_problem), CLI_HTTP_IO when writing or
 * reading failed or the daemon closed without answering, CLI_HTTP_BAD when the answer is malformed or
 * on_body refused it; err then says what happened, as a phrase ("reading from the daemon: ..."). */
int cli_http(const struct cli_http_req *q, int *status, int *connect_errno, char *err, size_t errlen);

#endif
