// SPDX-License-Identifier: BSD-3-Clause
/* core/addr: prefixes (control.verify_allow) and same-address checks, v4-mapped v6 included. */
#include "config.h"
#include "core/addr.h"
#include "t/tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static struct sockaddr_storage sa(const char *ip)
{
    struct sockaddr_storage s;
    memset(&s, 0, sizeof(s));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&s;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&s;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    return s;
}

static int in(const char *prefix, const char *ip)
{
    struct addr_prefix p;
    if (addr_prefix_parse(prefix, &p) != 0)
        return -1;
    struct sockaddr_storage s = sa(ip);
    return addr_prefix_contains(&p, (struct sockaddr *)&s);
}

int main(void)
{
    struct addr_prefix p;
    ok(addr_prefix_parse("127.0.0.0/8", &p) == 0 && p.family == AF_INET && p.bits == 8, "127.0.0.0/8");
    ok(addr_prefix_parse("::1/128", &p) == 0 && p.family == AF_INET6 && p.bits == 128, "::1/128");
    ok(addr_prefix_parse("192.0.2.7", &p) == 0 && p.bits == 32, "a bare v4 address is a /32");
    ok(addr_prefix_parse("fd00::1", &p) == 0 && p.bits == 128, "a bare v6 address is a /128");
    const char *bad[] = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/8x", "10.0.0.0/-1",
                         "example.com/8", "10.0.0/8", "10.0.0.0/0008", "1.2.3.4 /8"};
    int nbad = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        nbad += addr_prefix_parse(bad[i], &p) != 0;
    is_int(nbad, (long long)(sizeof(bad) / sizeof(bad[0])), "malformed prefixes refused");

    is_int(in("127.0.0.0/8", "127.1.2.3"), 1, "127.1.2.3 in 127/8");
    is_int(in("127.0.0.0/8", "128.0.0.1"), 0, "128.0.0.1 not");
    is_int(in("127.0.0.0/8", "::ffff:127.0.0.1"), 1, "v4-mapped v6 counts as v4");
    is_int(in("::1/128", "::1"), 1, "::1 in ::1/128");
    is_int(in("::1/128", "127.0.0.1"), 0, "no family mixing otherwise");
    is_int(in("10.1.2.0/23", "10.1.3.255"), 1, "a /23: the second half");
    is_int(in("10.1.2.0/23", "10.1.4.0"), 0, "a /23: just past it");
    is_int(in("10.1.2.3/23", "10.1.2.9"), 1, "host bits in the prefix are ignored");
    is_int(in("0.0.0.0/0", "203.0.113.5"), 1, "/0 holds every v4 address");
    is_int(in("fd7a:115c:a1e0::/48", "fd7a:115c:a1e0:ab::1"), 1, "a v6 /48");
    is_int(in("fd7a:115c:a1e0::/48", "fd7a:115c:a1e1::1"), 0, "and outside it");

    struct sockaddr_storage a = sa("192.0.2.1"), b = sa("::ffff:192.0.2.1"), c = sa("192.0.2.2");
    ((struct sockaddr_in *)&a)->sin_port = htons(80);
    ok(addr_same_ip((struct sockaddr *)&a, (struct sockaddr *)&b), "same IP: v4 and v4-mapped, ports ignored");
    ok(!addr_same_ip((struct sockaddr *)&a, (struct sockaddr *)&c), "different IPs");
    return done_testing();
}
