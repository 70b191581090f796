// SPDX-License-Identifier: BSD-3-Clause
/* Address allocation: defaults, prefix validation, reserved addresses, exhaustion, sequential order with
 * wrap-around reuse, IPv6 derivation, 100,000 allocations with churn and no duplicate. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modules/control/ipalloc.h"
#include "t/tap.h"

static char err[200];

static const char *ip4s(const uint8_t *a)
{
    static char b[INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, a, b, sizeof(b));
}

static const char *ip6s(const uint8_t *a)
{
    static char b[INET6_ADDRSTRLEN];
    return inet_ntop(AF_INET6, a, b, sizeof(b));
}

static uint32_t u32(const uint8_t *a) { return (uint32_t)a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]; }

static uint64_t rng_state = 0x123456789abcdefULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_defaults(void)
{
    double t0 = now_ms();
    struct ipalloc *a = ipalloc_new(IPALLOC_DEFAULT_V4, IPALLOC_DEFAULT_V6, err, sizeof(err));
    diag("allocator for a /10 set up in %.1f ms", now_ms() - t0);
    ok(a != NULL, "defaults accepted");
    struct ipalloc_pair p;
    is_int(ipalloc_next(a, &p), 0, "first allocation");
    ok(p.has4 && p.has6, "one address of each family");
    is_str(ip4s(p.v4), "100.64.0.1", "first IPv4 is 100.64.0.1");
    is_str(ip6s(p.v6), "fd7a:115c:a1e0::1", "first IPv6 is fd7a:115c:a1e0::1");
    ipalloc_next(a, &p);
    is_str(ip4s(p.v4), "100.64.0.2", "then 100.64.0.2");
    is_str(ip6s(p.v6), "fd7a:115c:a1e0::2", "then fd7a:115c:a1e0::2");
    ok(ipalloc_is_held(a, 4, p.v4) && ipalloc_is_held(a, 6, p.v6), "both held");
    uint8_t q[16];
    inet_pton(AF_INET, "100.100.100.100", q);
    ok(ipalloc_is_reserved(a, 4, q), "100.100.100.100 is reserved");
    inet_pton(AF_INET, "100.115.93.7", q);
    ok(ipalloc_is_reserved(a, 4, q), "100.115.93.7 (ChromeOS) is reserved");
    inet_pton(AF_INET6, "fd7a:115c:a1e0::53", q);
    ok(ipalloc_is_reserved(a, 6, q), "fd7a:115c:a1e0::53 is reserved");
    inet_pton(AF_INET, "100.64.1.0", q);
    ok(ipalloc_is_reserved(a, 4, q), "100.64.1.0 is reserved");
    inet_pton(AF_INET, "100.64.1.1", q);
    ok(!ipalloc_is_reserved(a, 4, q), "100.64.1.1 is not");
    ok(ipalloc_available4(a) == 4194304 - 2 * 16384 - 254 - 2 * 254 - 2,
       "available IPv4 in the /10 after two: %llu", (unsigned long long)ipalloc_available4(a));

    /* 10,000 allocations on the /10 */
    t0 = now_ms();
    int fails = 0;
    for (int i = 0; i < 10000; i++)
        fails += ipalloc_next(a, &p) != 0;
    double dt = now_ms() - t0;
    is_int(fails, 0, "10,000 more allocations");
    diag("10000 allocations (v4 + v6): %.2f ms", dt);
    ipalloc_free(a);
}

static void test_prefix_validation(void)
{
    static const struct {
        const char *v4, *v6;
    } bad[] = {
        {NULL, NULL},
        {"10.0.0.0/8", NULL},
        {"100.64.0.1/10", NULL},
        {"100.64.0.0/31", NULL},
        {"100.0.0.0/8", NULL},
        {"100.64.0.0", NULL},
        {"100.64.0.0/-1", NULL},
        {"100.64.0.0/10x", NULL},
        {"fd7a:115c:a1e0::/48", NULL},
        {NULL, "fd00::/48"},
        {NULL, "fd7a:115c:a1e0::/40"},
        {NULL, "fd7a:115c:a1e0:b1a::/64"},
        {NULL, "fd7a:115c:a1e0:efe3::/80"},
        {NULL, "fd7a:115c:a1e0::1/64"},
        {NULL, "100.64.0.0/10"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        struct ipalloc *a = ipalloc_new(bad[i].v4, bad[i].v6, err, sizeof(err));
        ok(a == NULL && err[0], "refused %s / %s: %s", bad[i].v4 ? bad[i].v4 : "-",
           bad[i].v6 ? bad[i].v6 : "-", err);
        ipalloc_free(a);
    }
    struct ipalloc *a = ipalloc_new(NULL, "fd7a:115c:a1e0:1::/64", err, sizeof(err));
    ok(a != NULL, "IPv6-only subset accepted");
    struct ipalloc_pair p;
    ipalloc_next(a, &p);
    ok(!p.has4 && p.has6, "IPv6 only");
    is_str(ip6s(p.v6), "fd7a:115c:a1e0:1::1", "first of the subset");
    ipalloc_free(a);
    a = ipalloc_new("100.64.0.0/30", NULL, err, sizeof(err));
    ok(a != NULL, "a /30 is accepted");
    ok(ipalloc_next(a, &p) == 0 && !strcmp(ip4s(p.v4), "100.64.0.1"), "first of the /30");
    ok(ipalloc_next(a, &p) == 0 && !strcmp(ip4s(p.v4), "100.64.0.2"), "second of the /30");
    ok(ipalloc_next(a, &p) < 0, "a /30 has two usable addresses");
    ipalloc_free(a);
}

/* Allocates until the prefix is exhausted; checks uniqueness and reserved rules; returns the count. */
static long exhaust(struct ipalloc *a, uint32_t base, int plen, uint8_t *seen, int *dups, int *bad)
{
    struct ipalloc_pair p;
    long n = 0;
    *dups = *bad = 0;
    while (ipalloc_next(a, &p) == 0) {
        uint32_t v = u32(p.v4);
        uint32_t off = v - base;
        if (off >= (1u << (32 - plen))) {
            (*bad)++;
            break;
        }
        if (seen[off]++)
            (*dups)++;
        uint8_t last = p.v4[3];
        if (last == 0 || last == 255 || (v & 0xffffff00u) == 0x64646400u || (v & 0xfffffe00u) == 0x64735c00u)
            (*bad)++;
        n++;
    }
    return n;
}

static void test_exhaustion_and_reserved(void)
{
    uint8_t *seen = calloc(65536, 1);
    int dups, bad;
    struct ipalloc *a = ipalloc_new("100.64.0.0/16", NULL, err, sizeof(err));
    long n = exhaust(a, 0x64400000u, 16, seen, &dups, &bad);
    is_int(n, 65536 - 2 * 256, "a /16 hands out 65024 addresses (no .0, no .255)");
    ok(dups == 0 && bad == 0, "no duplicate, no reserved address");
    struct ipalloc_pair p;
    ok(ipalloc_next(a, &p) < 0, "exhausted prefix: error");
    ok(strstr(ipalloc_error(a), "exhausted") && strstr(ipalloc_error(a), "100.64.0.0/16"), "message: %s",
       ipalloc_error(a));

    /* Free 1000 random addresses: exactly those come back. */
    uint8_t *freed = calloc(65536, 1);
    int nfreed = 0;
    while (nfreed < 1000) {
        uint32_t off = (uint32_t)(rnd() % 65536);
        if ((off & 255) == 0 || (off & 255) == 255 || freed[off])
            continue;
        uint8_t ip[4] = {100, 64, (uint8_t)(off >> 8), (uint8_t)off};
        if (ipalloc_release(a, 4, ip) == 0) {
            freed[off] = 1;
            nfreed++;
        }
    }
    int back = 0, wrong = 0;
    for (int i = 0; i < 1000; i++) {
        if (ipalloc_next(a, &p) < 0)
            break;
        uint32_t off = u32(p.v4) - 0x64400000u;
        if (freed[off]) {
            freed[off] = 0;
            back++;
        } else {
            wrong++;
        }
    }
    ok(back == 1000 && wrong == 0, "the 1000 freed addresses, and only those, are handed out again");
    ok(ipalloc_next(a, &p) < 0, "exhausted again");
    uint8_t ip[4] = {100, 64, 3, 0};
    is_int(ipalloc_release(a, 4, ip), -1, "releasing a reserved address fails");
    ipalloc_free(a);
    free(freed);

    memset(seen, 0, 65536);
    a = ipalloc_new("100.100.0.0/16", NULL, err, sizeof(err));
    n = exhaust(a, 0x64640000u, 16, seen, &dups, &bad);
    is_int(n, 65024 - 254, "100.100.0.0/16: 100.100.100.0/24 skipped");
    ok(dups == 0 && bad == 0 && !seen[100 * 256 + 100], "never 100.100.100.100");
    ipalloc_free(a);

    memset(seen, 0, 65536);
    a = ipalloc_new("100.115.0.0/16", NULL, err, sizeof(err));
    n = exhaust(a, 0x64730000u, 16, seen, &dups, &bad);
    is_int(n, 65024 - 2 * 254, "100.115.0.0/16: the ChromeOS /23 skipped");
    ok(dups == 0 && bad == 0, "no address in 100.115.92.0/23");
    ipalloc_free(a);
    free(seen);
}

static void test_sequential_wrap(void)
{
    struct ipalloc *a = ipalloc_new("100.64.7.0/24", "fd7a:115c:a1e0::/120", err, sizeof(err));
    struct ipalloc_pair p, three = {0};
    for (int i = 1; i <= 10; i++) {
        ipalloc_next(a, &p);
        if (i == 3)
            three = p;
    }
    is_str(ip4s(p.v4), "100.64.7.10", "ten allocations end at .10");
    is_int(ipalloc_release(a, 4, three.v4), 0, "release .3");
    is_int(ipalloc_release(a, 6, three.v6), 0, "release its IPv6");
    is_int(ipalloc_release(a, 4, three.v4), -1, "release twice fails");
    ipalloc_next(a, &p);
    is_str(ip4s(p.v4), "100.64.7.11", "next is .11, not the freed .3 (sequential)");
    int n = 0;
    while (ipalloc_next(a, &p) == 0 && u32(p.v4) != 0x64400703u)
        n++;
    is_int(n, 254 - 11, "the rest of the prefix is handed out before wrapping");
    is_str(ip4s(p.v4), "100.64.7.3", "after wrap-around the freed .3 is reused");
    /* .83 could not take ::53 (MagicDNS) and took the first free IPv6, the freed ::3; so .3 gets another. */
    ok(ipalloc_is_held(a, 6, p.v6) && strcmp(ip6s(p.v6), "fd7a:115c:a1e0::53") != 0 &&
       strcmp(ip6s(p.v6), "fd7a:115c:a1e0::3") != 0, "with a free IPv6 (%s)", ip6s(p.v6));
    ok(ipalloc_next(a, &p) < 0, "then the /24 is full");

    /* Restart: the held addresses are loaded; allocation resumes after the highest. */
    ipalloc_free(a);
    a = ipalloc_new("100.64.0.0/16", IPALLOC_DEFAULT_V6, err, sizeof(err));
    uint8_t x[16];
    inet_pton(AF_INET, "100.64.0.9", x);
    is_int(ipalloc_reserve(a, 4, x), 0, "reserve 100.64.0.9");
    is_int(ipalloc_reserve(a, 4, x), 1, "reserve it twice: already held");
    inet_pton(AF_INET, "100.64.0.5", x);
    ipalloc_reserve(a, 4, x);
    inet_pton(AF_INET6, "fd7a:115c:a1e0::a", x);
    is_int(ipalloc_reserve(a, 6, x), 0, "reserve fd7a:115c:a1e0::a");
    inet_pton(AF_INET, "100.65.0.1", x);
    is_int(ipalloc_reserve(a, 4, x), -1, "an address outside the prefix is not recorded");
    ipalloc_next(a, &p);
    is_str(ip4s(p.v4), "100.64.0.10", "allocation resumes after the highest held address");
    ok(strcmp(ip6s(p.v6), "fd7a:115c:a1e0::a") != 0, "derived IPv6 ::a is held, so another one is used (%s)",
       ip6s(p.v6));
    ipalloc_free(a);

    /* Derivation skips fd7a:115c:a1e0::53 (MagicDNS): 100.64.0.83 gets another IPv6. */
    a = ipalloc_new("100.64.0.0/24", IPALLOC_DEFAULT_V6, err, sizeof(err));
    int ok53 = 1, ok7 = 0;
    for (int i = 0; i < 200; i++) {
        if (ipalloc_next(a, &p) < 0)
            break;
        if (!strcmp(ip6s(p.v6), "fd7a:115c:a1e0::53"))
            ok53 = 0;
        if (!strcmp(ip4s(p.v4), "100.64.0.7") && !strcmp(ip6s(p.v6), "fd7a:115c:a1e0::7"))
            ok7 = 1;
    }
    ok(ok53, "fd7a:115c:a1e0::53 never handed out");
    ok(ok7, "100.64.0.7 pairs with fd7a:115c:a1e0::7");
    ipalloc_free(a);
}

/* 100,000 allocations in a /16 with random releases; the test keeps its own record of what is held. */
static void test_churn(void)
{
    struct ipalloc *a = ipalloc_new("100.64.0.0/16", "fd7a:115c:a1e0::/112", err, sizeof(err));
    uint8_t *held4 = calloc(65536, 1), *held6 = calloc(65536, 1);
    uint32_t *list = malloc(sizeof(uint32_t) * 65536);
    uint16_t *list6 = malloc(sizeof(uint16_t) * 65536);
    size_t nheld = 0;
    long allocs = 0, dup4 = 0, dup6 = 0, fulls = 0, releases = 0;
    double t0 = now_ms();
    while (allocs < 100000) {
        struct ipalloc_pair p;
        if (nheld > 20000 && rnd() % 2) {
            /* release a random held pair */
            size_t i = (size_t)(rnd() % nheld);
            uint32_t off = list[i];
            uint8_t ip[4] = {100, 64, (uint8_t)(off >> 8), (uint8_t)off};
            uint8_t ip6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
            ip6[14] = (uint8_t)(list6[i] >> 8), ip6[15] = (uint8_t)list6[i];
            if (ipalloc_release(a, 4, ip) == 0 && ipalloc_release(a, 6, ip6) == 0)
                releases++;
            held4[off] = 0;
            held6[list6[i]] = 0;
            list[i] = list[--nheld];
            list6[i] = list6[nheld];
            continue;
        }
        if (ipalloc_next(a, &p) < 0) {
            fulls++;
            /* free half */
            for (size_t k = 0; k < nheld / 2; k++) {
                size_t i = (size_t)(rnd() % nheld);
                uint8_t ip[4] = {100, 64, (uint8_t)(list[i] >> 8), (uint8_t)list[i]};
                uint8_t ip6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
                ip6[14] = (uint8_t)(list6[i] >> 8), ip6[15] = (uint8_t)list6[i];
                ipalloc_release(a, 4, ip);
                ipalloc_release(a, 6, ip6);
                held4[list[i]] = 0;
                held6[list6[i]] = 0;
                list[i] = list[--nheld];
                list6[i] = list6[nheld];
            }
            continue;
        }
        allocs++;
        uint32_t off = u32(p.v4) - 0x64400000u;
        uint16_t off6 = (uint16_t)(p.v6[14] << 8 | p.v6[15]);
        if (held4[off])
            dup4++;
        if (held6[off6])
            dup6++;
        held4[off] = held6[off6] = 1;
        list[nheld] = off;
        list6[nheld++] = off6;
    }
    double dt = now_ms() - t0;
    is_int(dup4, 0, "100,000 allocations with churn: no IPv4 handed out while held");
    is_int(dup6, 0, "and no IPv6 handed out while held");
    ok(releases > 10000, "%ld releases along the way, %ld times full", releases, fulls);
    is_int((long long)ipalloc_held(a, 4), (long long)nheld, "allocator's IPv4 count matches");
    is_int((long long)ipalloc_held(a, 6), (long long)nheld, "allocator's IPv6 count matches");
    diag("100000 allocations with churn in a /16: %.1f ms", dt);
    free(held4);
    free(held6);
    free(list);
    free(list6);
    ipalloc_free(a);
}

static void test_parse(void)
{
    int fam, plen;
    uint8_t a[16];
    ok(ipalloc_parse_prefix("100.64.0.0/10", &fam, a, &plen) == 0 && fam == 4 && plen == 10,
       "parse v4 prefix");
    ok(ipalloc_parse_prefix("fd7a:115c:a1e0::/48", &fam, a, &plen) == 0 && fam == 6 && plen == 48,
       "parse v6");
    ok(ipalloc_parse_prefix("100.64.0.0/33", &fam, a, &plen) < 0, "v4 /33 refused");
    ok(ipalloc_parse_prefix("::/129", &fam, a, &plen) < 0, "v6 /129 refused");
    ok(ipalloc_parse_prefix("/8", &fam, a, &plen) < 0, "no address refused");
    ok(ipalloc_parse_prefix("1.2.3.4/", &fam, a, &plen) < 0, "no length refused");
}

int main(void)
{
    test_parse();
    test_defaults();
    test_prefix_validation();
    test_exhaustion_and_reserved();
    test_sequential_wrap();
    test_churn();
    return done_testing();
}
