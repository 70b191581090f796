// SPDX-License-Identifier: BSD-3-Clause
/* Small limits shared by the roles that accept connections: a connection cap with a token-bucket accept
 * rate (derp and control refuse upgrades past them with 503 / 429), and a rate-limited log line (say once
 * that something is being refused, then how many more were, instead of a line per refusal). Times are
 * loop_now() milliseconds; nothing here allocates or reads a clock. */
#ifndef WEFT_CORE_LIMIT_H
#define WEFT_CORE_LIMIT_H

#include <stddef.h>
#include <stdint.h>

struct accept_limit {
    long long max_conns; /* 0: no cap */
    long long rate;      /* new connections per second, 0: no limit */
    long long burst;     /* bucket size (0: one second's worth) */
    double tokens;
    uint64_t last;
};

/* Set the limits; the bucket starts full. */
void accept_limit_init(struct accept_limit *a, long long max_conns, long long rate, long long burst, uint64_t now);
/* May one more connection come in while `conns` are open? 0 (and a token is taken), 503 when max_conns are
 * open, 429 when over the rate. */
int accept_limit_check(struct accept_limit *a, size_t conns, uint64_t now);

struct log_every {
    uint64_t next;       /* no line before this time */
    uint64_t suppressed; /* events held back since the last line */
};

/* An event worth a log line happened: 1 if the line may be written now (*held gets how many events since
 * the previous line were not logged), 0 if it is too soon (the event is counted). */
int log_every_ok(struct log_every *l, uint64_t now, uint64_t interval_ms, uint64_t *held);

#endif
