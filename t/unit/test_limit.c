// SPDX-License-Identifier: BSD-3-Clause
/* core/limit: the connection cap and token-bucket accept rate (derp and control share it), and the
 * rate-limited log line. */
#include "config.h"
#include "core/limit.h"
#include "t/tap.h"

int main(void)
{
    struct accept_limit a;
    accept_limit_init(&a, 3, 0, 0, 1000);
    is_int(accept_limit_check(&a, 2, 1000), 0, "under max_conns: admitted");
    is_int(accept_limit_check(&a, 3, 1000), 503, "at max_conns: 503");
    accept_limit_init(&a, 0, 0, 0, 1000);
    is_int(accept_limit_check(&a, 1000000, 1000), 0, "no limits: everything admitted");

    accept_limit_init(&a, 0, 10, 5, 1000);
    int ok5 = 0;
    for (int i = 0; i < 5; i++)
        ok5 += accept_limit_check(&a, 0, 1000) == 0;
    is_int(ok5, 5, "a burst of 5 is admitted at once");
    is_int(accept_limit_check(&a, 0, 1000), 429, "the sixth in the same millisecond: 429");
    is_int(accept_limit_check(&a, 0, 1050), 429, "50 ms later: half a token, still 429");
    is_int(accept_limit_check(&a, 0, 1100), 0, "100 ms at 10/s: one token again");
    is_int(accept_limit_check(&a, 0, 1100), 429, "and only one");
    int n = 0;
    for (int i = 0; i < 100; i++)
        n += accept_limit_check(&a, 0, 1000000) == 0;
    is_int(n, 5, "after a long pause the bucket holds the burst, not more");
    accept_limit_init(&a, 0, 4, 0, 0);
    n = 0;
    for (int i = 0; i < 10; i++)
        n += accept_limit_check(&a, 0, 0) == 0;
    is_int(n, 4, "burst 0: one second's worth");
    is_int(accept_limit_check(&a, 2, 0), 429, "the rate applies below max_conns too");

    struct log_every l = {0, 0};
    uint64_t held = 99;
    ok(log_every_ok(&l, 5000, 60000, &held) && held == 0, "the first event is logged");
    ok(!log_every_ok(&l, 5001, 60000, &held), "the next one within the interval is not");
    ok(!log_every_ok(&l, 64999, 60000, &held), "nor one just before the interval ends");
    ok(log_every_ok(&l, 65000, 60000, &held), "after the interval: logged again");
    is_int((long long)held, 2, "with the count of events held back");
    ok(log_every_ok(&l, 200000, 60000, &held) && held == 0, "a quiet interval holds nothing back");
    return done_testing();
}
