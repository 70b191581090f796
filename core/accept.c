// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/accept.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define LOG_EVERY_MS 10000

static void on_resume(struct timer *t, void *arg)
{
    struct accept_guard *g = arg;
    if (g->sock != NULL)
        h2o_socket_read_start(g->sock, g->on_accept); /* a connection still waiting wakes us at once */
}

void accept_guard_init(struct accept_guard *g, struct loop *l, h2o_socket_t *sock, h2o_socket_cb on_accept,
                       const char *what)
{
    memset(g, 0, sizeof(*g));
    timer_init(&g->t, l, on_resume, g);
    g->sock = sock;
    g->on_accept = on_accept;
    snprintf(g->what, sizeof(g->what), "%s", what ? what : "?");
    g->backoff_ms = BACKOFF_MIN_MS;
}

int accept_guard_failed(struct accept_guard *g, int err)
{
    /* out of descriptors or kernel memory: the backlog keeps the listener readable until something frees */
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
        return 0; /* EAGAIN (nothing left), ECONNABORTED (the peer gave up): carry on */
    h2o_socket_read_stop(g->sock);
    timer_start(&g->t, g->backoff_ms);
    g->pauses++;
    g->pauses_unlogged++;
    uint64_t now = loop_now(g->t.loop);
    if (g->logged_at == 0 || now - g->logged_at >= LOG_EVERY_MS) {
        log_warn("event=accept_paused listen=%s error=\"%s\" pause_ms=%u pauses=%lu msg=\"cannot accept: not "
                 "watching the listener for a while (raise the fd limit: ulimit -n, LimitNOFILE=)\"",
                 g->what, strerror(err), g->backoff_ms, g->pauses_unlogged);
        g->logged_at = now;
        g->pauses_unlogged = 0;
    }
    g->backoff_ms = g->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : g->backoff_ms * 2;
    return 1;
}

void accept_guard_ok(struct accept_guard *g)
{
    g->backoff_ms = BACKOFF_MIN_MS;
}

void accept_guard_stop(struct accept_guard *g)
{
    timer_stop(&g->t);
    g->sock = NULL;
}
