// SPDX-License-Identifier: BSD-3-Clause
/* The control channel, server end (spec control-ts2021.md §1-§5): GET /key, the /ts2021 upgrade (POST and
 * GET) on every listener it is attached to, the Noise responder, the early payload, then an HTTP/2 server
 * session inside the Noise records whose requests go to a handler table. Handlers see the machine key the
 * connection proved (the Noise peer static key), the client's capability version and the request, and
 * answer once or stream (core/h2.h). */
#ifndef WEFT_CONTROL_CHANNEL_H
#define WEFT_CONTROL_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/crypto/key.h"
#include "core/h2.h"

struct loop;
struct http_server;
struct weft_instance;
struct channel;
struct channel_conn;

/* The oldest client we talk to: Noise (ts2021) exists since capability version 28. Older initiations
 * get the Noise error frame "unsupported client version". */
#define CHANNEL_MIN_VERSION 28
/* Clients from this capability version on are sent the early payload (node-key challenge). */
#define CHANNEL_EARLY_NOISE_VERSION 49

/* Who is on the other end of a connection; lives as long as the connection (longer than its requests). */
struct channel_peer {
    struct key machine;     /* the client's machine public key, proven by the handshake */
    uint16_t version;       /* its capability version (from the initiation) */
    int tls;                /* the upgrade came over TLS */
    char addr[ADDR_STRLEN]; /* "1.2.3.4:5678" */
    struct key challenge;   /* the nodeKeyChallenge public key sent in the early payload (zero if none) */
    struct channel_conn *conn;
};

/* A request on the channel: answer with h2_respond*, or h2_reply_start/write/end; h2_req_on_gone to learn
 * that the stream or connection went away (path routing ignores any query string). */
typedef void (*channel_handler)(struct h2_req *req, const struct channel_peer *peer, void *arg);

/* What one peer may hold of the server (0 = no limit, for each). */
struct channel_limits {
    long long max_conns;       /* channels open or being upgraded at once; more upgrades get 503 */
    long long accept_rate;     /* new channels per second; more get 429 (core/limit.h) */
    long long accept_burst;    /* 0: one second's worth */
    unsigned first_request_ms; /* from the upgrade to the first complete request (preface included) */
    unsigned idle_ms;          /* a channel without an open stream this long gets a GOAWAY and is closed */
    size_t max_buffered;       /* request bytes (headers, bodies) held per channel across its streams */
};

/* Counters of what the limits did. */
struct channel_stats {
    uint64_t refused_max_conns, refused_rate; /* upgrades refused */
    uint64_t closed_first_request;            /* no request in time after the upgrade */
    uint64_t closed_idle;                     /* no open stream for idle_ms */
    uint64_t refused_busy;                    /* requests answered 503: the channel's max_buffered was held */
};

/* A channel with the control private key (copied). NULL if out of memory. No limits until set. */
struct channel *channel_new(struct loop *l, const struct key *control_priv);
/* Set the limits (connections already open keep the ones they started with, except max_conns/rate). */
void channel_set_limits(struct channel *ch, const struct channel_limits *lim);
const struct channel_stats *channel_stats(const struct channel *ch);
/* Serve GET /key and /ts2021 on srv. 0 or -1. */
int channel_attach(struct channel *ch, struct http_server *srv);
/* Route requests inside the channel: exact path, or every path under it with prefix != 0 (the longest
 * match wins, exact first). A later call for the same path replaces the handler; fn NULL answers 404.
 * Unrouted paths get 404 ("404 page not found", as Go); the optional endpoints of §5.1 are routed to 501
 * from the start; /machine/register and /machine/map are unrouted until their handlers are set. */
int channel_handle(struct channel *ch, const char *path, int prefix, channel_handler fn, void *arg);
/* The control public key. */
const struct key *channel_public_key(const struct channel *ch);
/* Graceful stop: GOAWAY on every connection, refuse new upgrades; connections close as they finish. */
void channel_shutdown(struct channel *ch);
/* Ends the connections whose HTTP/2 session has finished (after a GOAWAY); 1 when none is left. */
int channel_idle(struct channel *ch);
/* Connections open (upgraded and not yet closed). */
size_t channel_connections(const struct channel *ch);
/* Close every connection now (handlers see on_gone for what is open) and free. */
void channel_free(struct channel *ch);
/* Drop one connection now (e.g. the machine was deleted). */
void channel_conn_close(struct channel_conn *c);

/* Module glue, one channel per control instance: the first channel_start loads (or creates, 0600)
 * state_dir/control.key; each call attaches one listener. */
int channel_start(struct weft_instance *inst, struct http_server *srv);
struct channel *channel_of(struct weft_instance *inst);
void channel_stop(struct weft_instance *inst);
int channel_drained(struct weft_instance *inst);
void channel_finish(struct weft_instance *inst);

#endif
