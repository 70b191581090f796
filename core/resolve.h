// SPDX-License-Identifier: BSD-3-Clause
/* Name lookups that never block the loop: getaddrinfo runs on h2o's small lookup thread pool and the
 * answer comes back through the loop's queue. A caller that loses interest cancels; the lookup itself
 * cannot be interrupted, so its answer is then dropped when it lands (the loop waits for it at exit). */
#ifndef WEFT_CORE_RESOLVE_H
#define WEFT_CORE_RESOLVE_H

#include <netdb.h>

struct loop;
struct resolve;

/* res: the answer (valid only during the call), or NULL with err saying why. */
typedef void (*resolve_cb)(void *arg, const struct addrinfo *res, const char *err);

/* Look host up (family AF_INET, AF_INET6 or AF_UNSPEC; UDP). cb runs later on the loop's thread, never
 * from inside this call. NULL when the lookup cannot be started (cb is not called then). */
struct resolve *resolve_start(struct loop *l, const char *host, int family, resolve_cb cb, void *arg);
/* cb will not be called. */
void resolve_cancel(struct resolve *r);

#endif
