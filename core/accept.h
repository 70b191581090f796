// SPDX-License-Identifier: BSD-3-Clause
/* Core-internal (core/stream.c and core/http.c): a listener at the process's fd limit. accept(2) fails with
 * EMFILE or ENFILE while the connection stays in the backlog, so the listening socket stays readable and a
 * level-triggered loop wakes for it again at once: 10,000 times a second, most of a core, and nothing said.
 * The guard stops watching the listener for a short back-off (100 ms, doubling to 1 s while it lasts), logs it
 * at most every 10 s, and resumes. */
#ifndef WEFT_CORE_ACCEPT_H
#define WEFT_CORE_ACCEPT_H

#include "core/loop_h2o.h"

struct accept_guard {
    struct timer t;
    h2o_socket_t *sock;  /* the listener */
    h2o_socket_cb on_accept;
    char what[72];       /* the listen address, for the log */
    unsigned backoff_ms; /* the next pause */
    uint64_t logged_at;  /* loop_now of the last warning */
    unsigned long pauses, pauses_unlogged;
};

void accept_guard_init(struct accept_guard *g, struct loop *l, h2o_socket_t *sock, h2o_socket_cb on_accept,
                       const char *what);
/* accept failed with err: 1 if the listener is now paused (stop the accept batch), else 0. */
int accept_guard_failed(struct accept_guard *g, int err);
/* A connection was accepted: the next pause starts short again. */
void accept_guard_ok(struct accept_guard *g);
/* Before the listener closes. */
void accept_guard_stop(struct accept_guard *g);

#endif
