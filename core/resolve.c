// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/resolve.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/loop_h2o.h"

struct resolve {
    struct loop *loop;
    resolve_cb cb; /* NULL once cancelled */
    void *arg;
};

static void on_answer(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    struct resolve *r = data;
    (void)req;
    loop_resolving(r->loop, -1);
    if (r->cb)
        r->cb(r->arg, errstr ? NULL : res, errstr ? errstr : (res ? NULL : "no address"));
    free(r);
}

struct resolve *resolve_start(struct loop *l, const char *host, int family, resolve_cb cb, void *arg)
{
    if (!host || !*host || !cb)
        return NULL;
    h2o_multithread_receiver_t *q = loop_resolver(l);
    struct resolve *r = calloc(1, sizeof *r);
    if (!q || !r) {
        free(r);
        return NULL;
    }
    r->loop = l;
    r->cb = cb;
    r->arg = arg;
    /* h2o may start a lookup thread now: it inherits a fully blocked mask, so signals stay ours */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    loop_resolving(l, 1);
    h2o_hostinfo_getaddr(q, h2o_iovec_init(host, strlen(host)), h2o_iovec_init("0", 1), family, SOCK_DGRAM,
                         IPPROTO_UDP, AI_ADDRCONFIG | AI_NUMERICSERV, on_answer, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

void resolve_cancel(struct resolve *r)
{
    if (r)
        r->cb = NULL;
}
