// SPDX-License-Identifier: BSD-3-Clause
/* Core-internal: the h2o side of the loop, for core/stream.c, core/http.c and core/udp.c only.
 * Modules never include this (nor h2o.h). */
#ifndef WEFT_CORE_LOOP_H2O_H
#define WEFT_CORE_LOOP_H2O_H

#include <h2o.h>
#include "core/loop.h"

/* Anything the loop must close at loop_free: streams, listeners, watches, UDP sockets, HTTP servers. */
struct loop_handle {
    struct loop_handle *prev, *next;
    void (*close)(struct loop_handle *h); /* must unlink itself (loop_handle_del) */
};

/* The h2o loop under l. */
h2o_loop_t *loop_h2o(struct loop *l);
/* Register h for closing at loop_free. */
void loop_handle_add(struct loop *l, struct loop_handle *h);
/* Unregister h (safe if not registered). */
void loop_handle_del(struct loop_handle *h);
/* The receiver for h2o_hostinfo_getaddr answers (created on first use); NULL on failure. */
h2o_multithread_receiver_t *loop_resolver(struct loop *l);
/* Count of name lookups in flight: loop_free waits for them (their answers land in the loop's queue). */
void loop_resolving(struct loop *l, int delta);
/* A client SSL_CTX verifying against the system CA store, shared by the loop (created on first use). */
SSL_CTX *loop_tls_client_ctx(struct loop *l);

/* After a write completed and none follows: have h2o re-evaluate the socket's poll set at its next update,
 * so it is not left polled for writing with no write callback (an abort in h2o; see loop.c). */
void loop_h2o_repoll(h2o_socket_t *sock);
/* Wrap a connected h2o socket (accepted, upgraded or connected) as a stream; the stream owns it. */
struct stream *stream_from_socket(struct loop *l, h2o_socket_t *sock);

/* The socket file a unix listener bound, and which file it was: removed at close only while the path still
 * names that file (another process may have bound it since). */
struct unix_bound {
    char *path; /* malloc'ed; NULL when not a unix socket */
    dev_t dev;
    ino_t ino;
};

/* A bound (and for SOCK_STREAM, listening) non-blocking socket for "host:port" or "unix:/path" (mode applied
 * to the socket file, 0: 0600); *port gets the bound port, *ub (if asked) the unix socket file. An existing
 * socket file is replaced only when nothing answers on it (a left-over of a dead process); one something
 * answers on is another process's, and an error. -1 with a message naming the address in err. */
int net_listen(const char *addr, int socktype, unsigned mode, uint16_t *port, struct unix_bound *ub, char *err,
               size_t errlen);
/* Remove ub's socket file if it is still the one we bound; free its path. */
void net_unix_release(struct unix_bound *ub);

#endif
