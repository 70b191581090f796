// SPDX-License-Identifier: BSD-3-Clause
/* Outbound HTTP(S) requests with libcurl, driven from the loop (curl's multi socket interface: its sockets
 * are loop watches, its timer a loop timer), so a request never blocks the loop. libcurl is loaded at the
 * first fetcher_new() (dlopen), so processes that fetch nothing never map it. For ordinary requests to
 * other servers (ACME, later DERP map URLs, OIDC); not for the long-lived upgraded streams. */
#ifndef WEFT_CORE_FETCH_H
#define WEFT_CORE_FETCH_H

#include <stddef.h>

struct loop;
struct fetcher;
struct fetch;

struct fetch_request {
    const char *method;       /* "GET", "POST", "HEAD" */
    const char *url;
    const void *body;         /* POST body (copied), or NULL */
    size_t body_len;
    const char *content_type; /* of the body */
    const char *accept;       /* an Accept header (NULL: none; e.g. DoH's application/dns-message) */
    const char *ca_file;      /* verify the server against this PEM bundle (NULL: the system's) */
    unsigned timeout_ms;      /* the whole request (0: 30 s) */
    size_t max_body;          /* larger responses fail (0: 4 MiB) */
};

struct fetch_response {
    int status;   /* 0 when err is set */
    const char *err; /* NULL, or why there is no response (DNS, connect, TLS, timeout, too large) */
    const char *body;
    size_t len;
    const char *const *headers; /* "Name: value" lines as received, NULL-terminated */
};

/* The value of the last header called name (case-insensitive), or NULL. */
const char *fetch_header(const struct fetch_response *r, const char *name);

/* r is valid during the call only. The fetch is gone after it. */
typedef void (*fetch_cb)(const struct fetch_response *r, void *arg);

/* NULL with err when libcurl cannot be loaded. */
struct fetcher *fetcher_new(struct loop *l, char *err, size_t errlen);
/* Cancel what is under way (no callbacks) and free. */
void fetcher_free(struct fetcher *f);
/* Start a request; cb runs from the loop later (never from within this call). NULL if it cannot start. */
struct fetch *fetch_start(struct fetcher *f, const struct fetch_request *req, fetch_cb cb, void *arg);
/* Cancel one request: its callback does not run. */
void fetch_cancel(struct fetch *x);

#endif
