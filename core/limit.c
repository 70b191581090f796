// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/limit.h"

void accept_limit_init(struct accept_limit *a, long long max_conns, long long rate, long long burst, uint64_t now)
{
    a->max_conns = max_conns;
    a->rate = rate;
    a->burst = burst;
    a->tokens = (double)(burst > 0 ? burst : rate);
    a->last = now;
}

int accept_limit_check(struct accept_limit *a, size_t conns, uint64_t now)
{
    if (a->max_conns > 0 && conns >= (size_t)a->max_conns)
        return 503;
    if (a->rate > 0) {
        if (now > a->last)
            a->tokens += (double)(now - a->last) * (double)a->rate / 1000.0;
        a->last = now;
        double burst = a->burst > 0 ? (double)a->burst : (double)a->rate;
        if (a->tokens > burst)
            a->tokens = burst;
        if (a->tokens < 1.0)
            return 429;
        a->tokens -= 1.0;
    }
    return 0;
}

int log_every_ok(struct log_every *l, uint64_t now, uint64_t interval_ms, uint64_t *held)
{
    if (l->next != 0 && now < l->next) {
        l->suppressed++;
        return 0;
    }
    if (held != NULL)
        *held = l->suppressed;
    l->suppressed = 0;
    l->next = now + interval_ms;
    if (l->next == 0)
        l->next = 1;
    return 1;
}
