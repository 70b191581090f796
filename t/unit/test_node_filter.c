// SPDX-License-Identifier: BSD-3-Clause
/* The node's packet filter (modules/node/filter): rule forms and how Tailscale reads them (default
 * protocols, masked CIDRs, ranges, "*", cap: sources, deprecated Bits), the inbound decisions (TCP SYN vs
 * the rest, UDP replies through connection tracking, ICMP, other protocols, TSMP, fragments, multicast,
 * link-local, not-local, malformed), both families, and the flow table's eviction. */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "modules/node/filter/filter.h"
#include "t/tap.h"

static uint8_t buf[256];

static size_t ip4(const char *src, const char *dst, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
    memset(buf, 0, sizeof buf);
    size_t tl = 20 + (proto == PKT_TCP ? 20 : 8);
    buf[0] = 0x45;
    buf[2] = (uint8_t)(tl >> 8);
    buf[3] = (uint8_t)tl;
    buf[8] = 64;
    buf[9] = proto;
    inet_pton(AF_INET, src, buf + 12);
    inet_pton(AF_INET, dst, buf + 16);
    uint8_t *t = buf + 20;
    if (proto == PKT_ICMP4) {
        t[0] = (uint8_t)sport; /* type */
        t[1] = (uint8_t)dport; /* code */
    } else {
        t[0] = (uint8_t)(sport >> 8);
        t[1] = (uint8_t)sport;
        t[2] = (uint8_t)(dport >> 8);
        t[3] = (uint8_t)dport;
        if (proto == PKT_TCP) {
            t[12] = 0x50;
            t[13] = flags;
        }
    }
    return tl;
}

static size_t ip6(const char *src, const char *dst, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
    memset(buf, 0, sizeof buf);
    size_t pl = proto == PKT_TCP ? 20 : 8;
    buf[0] = 0x60;
    buf[5] = (uint8_t)pl;
    buf[6] = proto;
    buf[7] = 64;
    inet_pton(AF_INET6, src, buf + 8);
    inet_pton(AF_INET6, dst, buf + 24);
    uint8_t *t = buf + 40;
    if (proto == PKT_ICMP6) {
        t[0] = (uint8_t)sport;
        t[1] = (uint8_t)dport;
    } else {
        t[0] = (uint8_t)(sport >> 8);
        t[1] = (uint8_t)sport;
        t[2] = (uint8_t)(dport >> 8);
        t[3] = (uint8_t)dport;
        if (proto == PKT_TCP) {
            t[12] = 0x50;
            t[13] = flags;
        }
    }
    return 40 + pl;
}

/* A rule from text: "SRC,SRC|DST:FIRST-LAST,DST:FIRST-LAST|PROTO,PROTO" (protos optional) */
static struct nm_filter_rule rules[8];
static size_t nrules;
static char store[64][64];
static char *sp_[64];
static size_t nstore;
static struct nm_port_range dsts[64];
static size_t ndsts;
static int32_t protos[64];
static size_t nprotos;

static void rule(const char *srcs, const char *dstspec, const char *protolist)
{
    struct nm_filter_rule *r = &rules[nrules++];
    memset(r, 0, sizeof *r);
    r->srcs = &sp_[nstore];
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", srcs);
    for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ",")) {
        snprintf(store[nstore], sizeof store[nstore], "%s", t);
        sp_[nstore] = store[nstore];
        nstore++;
        r->nsrcs++;
    }
    r->dsts = &dsts[ndsts];
    snprintf(tmp, sizeof tmp, "%s", dstspec);
    for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ",")) {
        char *ports = strrchr(t, '=');
        *ports++ = 0;
        snprintf(store[nstore], sizeof store[nstore], "%s", t);
        dsts[ndsts].ip = store[nstore++];
        dsts[ndsts].first = (uint16_t)atoi(ports);
        dsts[ndsts].last = (uint16_t)atoi(strchr(ports, '-') + 1);
        dsts[ndsts].bits = false;
        ndsts++;
        r->ndsts++;
    }
    if (protolist) {
        r->protos = &protos[nprotos];
        snprintf(tmp, sizeof tmp, "%s", protolist);
        for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ","))
            protos[nprotos++] = atoi(t), r->nprotos++;
    }
}

static void reset_rules(void)
{
    nrules = nstore = ndsts = nprotos = 0;
}

static struct filter *make(char *err, size_t errlen)
{
    struct filter *f = filter_new();
    struct nl_prefix local[2];
    nl_prefix_parse("100.64.0.2/32", &local[0]);
    nl_prefix_parse("fd7a:115c:a1e0::2/128", &local[1]);
    filter_set_local(f, local, 2);
    filter_set_rules(f, rules, nrules, err, errlen);
    return f;
}

#define IN(f, len) filter_in(f, buf, len, 1000)

static void like_str(const char *got, const char *part, const char *name)
{
    if (!ok(strstr(got, part) != NULL, "%s", name))
        diag("got \"%s\", wanted it to contain \"%s\"", got, part);
}

/* --- the destination index agrees with scanning the rules, on random rule sets and packets --- */
static const char *const rsrcs[] = {"*", "100.64.0.0/24", "100.64.0.7", "100.64.0.5-100.64.0.9", "100.64.1.0/25",
                                    "100.64.0.0/16", "100.64.1.77", "fd7a:115c:a1e0::/48", "::/0", "100.64.0.1"};
static const char *const rdsts[] = {"100.64.0.2", "*", "100.64.0.0/24", "100.64.0.2/32", "fd7a:115c:a1e0::2", "100.65.0.0/16"};
static const int32_t rprotos[] = {PKT_TCP, PKT_UDP, PKT_ICMP4, PKT_SCTP, 47, PKT_ICMP6};

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void random_rules(uint32_t *seed, size_t nr, struct nm_filter_rule *r, char *(*srcp)[4],
                         struct nm_port_range (*dp)[4], int32_t (*pp)[3])
{
    for (size_t i = 0; i < nr; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].nsrcs = 1 + rnd(seed) % 3;
        for (size_t k = 0; k < r[i].nsrcs; k++)
            srcp[i][k] = (char *)rsrcs[rnd(seed) % (sizeof rsrcs / sizeof *rsrcs)];
        r[i].srcs = srcp[i];
        r[i].ndsts = 1 + rnd(seed) % 3;
        for (size_t k = 0; k < r[i].ndsts; k++) {
            uint16_t a = (uint16_t)(rnd(seed) % 100), b = (uint16_t)(a + rnd(seed) % 20);
            if (rnd(seed) % 5 == 0)
                a = 0, b = 65535;
            dp[i][k] = (struct nm_port_range){(char *)rdsts[rnd(seed) % (sizeof rdsts / sizeof *rdsts)], a, b, false};
        }
        r[i].dsts = dp[i];
        r[i].nprotos = rnd(seed) % 3; /* 0: the default set */
        for (size_t k = 0; k < r[i].nprotos; k++)
            pp[i][k] = rprotos[rnd(seed) % (sizeof rprotos / sizeof *rprotos)];
        r[i].protos = pp[i];
    }
}

static const char *cap_holder = "100.64.0.7";

static size_t cap_lookup(void *arg, const char *cap, struct nl_prefix *out, size_t max)
{
    (void)arg;
    if (strcmp(cap, "https://tailscale.com/cap/x") != 0 || max < 2)
        return 0;
    char a[64], b[64];
    snprintf(a, sizeof a, "%s/32", cap_holder);
    snprintf(b, sizeof b, "fd7a:115c:a1e0::%s/128", strrchr(cap_holder, '.') + 1);
    return nl_prefix_parse(a, &out[0]) == 0 && nl_prefix_parse(b, &out[1]) == 0 ? 2 : 0;
}

static void index_agrees(void)
{
    enum { NR = 64, NP = 4000 };
    static struct nm_filter_rule r[NR];
    static char *srcp[NR][4];
    static struct nm_port_range dp[NR][4];
    static int32_t pp[NR][3];
    static const char *const psrc4[] = {"100.64.0.7", "100.64.0.1", "100.64.1.77", "100.64.1.200", "100.64.9.9", "1.2.3.4"};
    static const char *const psrc6[] = {"fd7a:115c:a1e0::9", "2001:db8::1"};
    static const uint8_t pprotos[] = {PKT_TCP, PKT_UDP, PKT_ICMP4, PKT_SCTP, 47, 50};
    uint32_t seed = 0x9e3779b9;
    size_t disagree = 0, accepted = 0, total = 0;
    char err[256];
    for (int round = 0; round < 40; round++) {
        size_t nr = 1 + rnd(&seed) % NR;
        random_rules(&seed, nr, r, srcp, dp, pp);
        struct filter *fi = filter_new(), *fs = filter_new();
        struct nl_prefix local[2];
        nl_prefix_parse("100.64.0.2/32", &local[0]);
        nl_prefix_parse("fd7a:115c:a1e0::2/128", &local[1]);
        filter_set_local(fi, local, 2);
        filter_set_local(fs, local, 2);
        filter_set_rules(fi, r, nr, err, sizeof err);
        filter_set_rules(fs, r, nr, err, sizeof err);
        filter_set_indexed(fs, false);
        for (int i = 0; i < NP / 40; i++) {
            bool v6 = rnd(&seed) % 4 == 0;
            uint8_t proto = pprotos[rnd(&seed) % (sizeof pprotos / sizeof *pprotos)];
            uint16_t port = (uint16_t)(rnd(&seed) % 130);
            size_t len;
            if (v6)
                len = ip6(psrc6[rnd(&seed) % 2], "fd7a:115c:a1e0::2", proto == PKT_ICMP4 ? PKT_ICMP6 : proto,
                          proto == PKT_ICMP4 ? 128 : 40000, proto == PKT_ICMP4 ? 0 : port, PKT_TCP_SYN);
            else
                len = ip4(psrc4[rnd(&seed) % 6], "100.64.0.2", proto, proto == PKT_ICMP4 ? 8 : 40000,
                          proto == PKT_ICMP4 ? 0 : port, PKT_TCP_SYN);
            enum filter_reason a = IN(fi, len), b = IN(fs, len);
            disagree += a != b;
            accepted += a == FR_ACCEPT;
            total++;
        }
        filter_free(fi);
        filter_free(fs);
    }
    if (!ok(disagree == 0, "indexed lookups agree with scanning the rules (%zu random packets, %zu accepted)", total,
            accepted))
        diag("%zu disagreements", disagree);
    ok(accepted > total / 10 && accepted < total - total / 10, "and the random rules accept some and deny some");
}

int main(void)
{
    char err[256];
    /* --- Tailscale's reading of rules --- */
    reset_rules();
    rule("100.64.0.1", "100.64.0.2=22-22", NULL);                     /* default protos */
    rule("100.64.0.5-100.64.0.9", "*=80-80,*=443-443", "6");          /* range, two ports, TCP only */
    rule("100.64.0.0/24", "100.64.0.2=53-53", "17");                  /* CIDR, UDP */
    rule("100.64.0.3/24", "100.64.0.2=1-65535", NULL);                /* unmasked: skipped */
    rule("cap:https://tailscale.com/cap/x", "100.64.0.2=9-9", NULL);  /* capability source: no one here */
    rule("*", "100.64.0.2=0-65535", "47");                            /* GRE from anyone, all ports */
    rule("fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2=22-22", NULL);
    struct filter *f = make(err, sizeof err);
    like_str(err, "non-network bits", "an unmasked CIDR is reported (and skipped)");
    struct filter_stats st;
    filter_get_stats(f, &st);
    ok(st.skipped == 1 && st.rules == 7, "one entry skipped, the rules kept");

    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_TCP, 40000, 22, PKT_TCP_SYN)), FR_ACCEPT, "SYN to an allowed port");
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_TCP, 40000, 23, PKT_TCP_SYN)), FR_NO_RULE, "SYN to another port: dropped");
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_TCP, 40000, 23, PKT_TCP_SYN | PKT_TCP_ACK)), FR_ACCEPT,
           "SYN+ACK (a reply to our connection) passes");
    is_int(IN(f, ip4("100.64.0.9", "100.64.0.2", PKT_TCP, 1234, 23, PKT_TCP_ACK)), FR_ACCEPT,
           "TCP without SYN passes, whoever sends it (as Tailscale)");
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_UDP, 40000, 22, 0)), FR_ACCEPT, "default protocols include UDP");
    is_int(IN(f, ip4("100.64.0.7", "100.64.0.2", PKT_TCP, 1, 443, PKT_TCP_SYN)), FR_ACCEPT, "a range source, the second port");
    is_int(IN(f, ip4("100.64.0.7", "100.64.0.2", PKT_UDP, 1, 443, 0)), FR_NO_RULE, "that rule is TCP only");
    is_int(IN(f, ip4("100.64.0.10", "100.64.0.2", PKT_TCP, 1, 443, PKT_TCP_SYN)), FR_NO_RULE, "outside the range");
    is_int(IN(f, ip4("100.64.0.200", "100.64.0.2", PKT_UDP, 5, 53, 0)), FR_ACCEPT, "a CIDR source");
    is_int(IN(f, ip4("100.64.1.1", "100.64.0.2", PKT_UDP, 5, 53, 0)), FR_NO_RULE, "outside the CIDR");
    is_int(IN(f, ip4("100.64.0.3", "100.64.0.2", PKT_TCP, 5, 1000, PKT_TCP_SYN)), FR_NO_RULE,
           "the unmasked rule allows nothing");
    is_int(IN(f, ip4("100.64.0.8", "100.64.0.2", PKT_TCP, 5, 9, PKT_TCP_SYN)), FR_NO_RULE, "cap: sources match no peer");
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.9", PKT_TCP, 1, 22, PKT_TCP_SYN)), FR_NOT_LOCAL,
           "a destination that is not ours");
    /* ICMP */
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_ICMP4, 8, 0, 0)), FR_ACCEPT,
           "echo request from a source some rule lets reach us");
    is_int(IN(f, ip4("100.64.0.7", "100.64.0.2", PKT_ICMP4, 8, 0, 0)), FR_ACCEPT,
           "ICMP: the rule's protocols and ports do not matter (Tailscale's matchIPsOnly)");
    is_int(IN(f, ip4("100.65.0.1", "100.64.0.2", PKT_ICMP4, 8, 0, 0)), FR_ACCEPT, "the GRE rule's \"*\" source lets anyone ping");
    reset_rules();
    rule("100.64.0.1", "100.64.0.2=22-22", NULL);
    struct filter *g = make(err, sizeof err);
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", PKT_ICMP4, 8, 0, 0)), FR_NO_RULE, "an echo request from a stranger");
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", PKT_ICMP4, 0, 0, 0)), FR_ACCEPT, "echo replies pass");
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", PKT_ICMP4, 3, 1, 0)), FR_ACCEPT, "ICMP errors pass");
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", 47, 0, 0, 0)), FR_NO_RULE, "GRE without a rule");
    is_int(IN(f, ip4("100.64.0.9", "100.64.0.2", 47, 0, 0, 0)), FR_ACCEPT, "GRE with an all-ports rule naming 47");
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", PKT_TSMP, 0, 0, 0)), FR_ACCEPT, "TSMP passes");
    /* UDP replies */
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", PKT_UDP, 53, 5353, 0)), FR_NO_RULE, "UDP from a stranger");
    filter_out(g, buf, ip4("100.64.0.2", "100.64.0.9", PKT_UDP, 5353, 53, 0), 1000);
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", PKT_UDP, 53, 5353, 0)), FR_ACCEPT, "...passes once we sent to it (a reply)");
    is_int(IN(g, ip4("100.64.0.9", "100.64.0.2", PKT_UDP, 54, 5353, 0)), FR_NO_RULE, "but only from the port we sent to");
    filter_get_stats(g, &st);
    ok(st.replies == 1 && st.flows == 1, "one reply through one tracked flow");
    /* pre-checks */
    is_int(IN(g, ip4("100.64.0.1", "224.0.0.5", PKT_UDP, 1, 22, 0)), FR_MULTICAST, "multicast");
    is_int(IN(g, ip4("100.64.0.1", "169.254.1.1", PKT_UDP, 1, 22, 0)), FR_LINK_LOCAL, "link-local");
    is_int(IN(g, ip4("100.64.0.1", "169.254.169.254", PKT_UDP, 1, 22, 0)), FR_NOT_LOCAL,
           "169.254.169.254 is exempt from the link-local rule (then not ours)");
    size_t l = ip4("100.64.0.1", "100.64.0.2", PKT_TCP, 1, 22, PKT_TCP_SYN);
    is_int(filter_in(g, buf, 19, 0), FR_BAD, "shorter than an IPv4 header");
    is_int(filter_in(g, buf, l - 1, 0), FR_BAD, "cut short of its total length");
    buf[6] = 0x20; /* first fragment, more to come: the TCP header must be whole */
    buf[2] = 0;
    buf[3] = 30;
    is_int(filter_in(g, buf, 30, 0), FR_BAD, "a first fragment too short for its TCP header");
    ip4("100.64.0.9", "100.64.0.2", PKT_TCP, 1, 23, PKT_TCP_SYN);
    buf[6] = 0x00;
    buf[7] = 20; /* offset 160 bytes */
    is_int(filter_in(g, buf, 40, 0), FR_ACCEPT, "a later fragment passes (its first was filtered)");
    buf[7] = 2; /* offset 16: inside where a TCP header lies */
    is_int(filter_in(g, buf, 40, 0), FR_BAD, "a fragment overlapping the transport header");
    buf[0] = 0x55;
    is_int(filter_in(g, buf, 40, 0), FR_BAD, "neither IPv4 nor IPv6");
    /* IPv6 */
    is_int(IN(f, ip6("fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2", PKT_TCP, 1, 22, PKT_TCP_SYN)), FR_ACCEPT, "IPv6 SYN allowed");
    is_int(IN(f, ip6("fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2", PKT_TCP, 1, 21, PKT_TCP_SYN)), FR_NO_RULE, "IPv6 SYN denied");
    is_int(IN(f, ip6("fd7a:115c:a1e0::9", "fd7a:115c:a1e0::2", PKT_ICMP6, 129, 0, 0)), FR_ACCEPT, "ICMPv6 echo reply");
    is_int(IN(f, ip6("fd7a:115c:a1e0::1", "ff02::1", PKT_UDP, 1, 1, 0)), FR_MULTICAST, "IPv6 multicast");
    is_int(IN(f, ip6("fd7a:115c:a1e0::1", "fe80::1", PKT_UDP, 1, 1, 0)), FR_LINK_LOCAL, "IPv6 link-local");
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_ICMP6, 128, 0, 0)), FR_NO_RULE,
           "ICMPv6 inside IPv4 is just another protocol");
    filter_free(f);
    filter_free(g);

    /* --- deprecated Bits: deny everything, as Tailscale --- */
    reset_rules();
    rule("*", "*=0-65535", NULL);
    rules[0].dsts[0].bits = true;
    f = make(err, sizeof err);
    like_str(err, "Bits", "Bits are reported");
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_TCP, 1, 22, PKT_TCP_SYN)), FR_NO_RULE, "and deny everything");
    filter_free(f);

    /* --- allow-all, and the empty filter --- */
    reset_rules();
    rule("*", "*=0-65535", NULL);
    f = make(err, sizeof err);
    is_int(IN(f, ip6("2001:db8::1", "fd7a:115c:a1e0::2", PKT_UDP, 1, 7, 0)), FR_ACCEPT, "allow-all takes IPv6 from anywhere");
    filter_free(f);
    reset_rules();
    f = make(err, sizeof err);
    is_int(IN(f, ip4("100.64.0.1", "100.64.0.2", PKT_TCP, 1, 22, PKT_TCP_SYN)), FR_NO_RULE, "no rules: deny all");
    filter_free(f);

    /* --- the flow table keeps the most recent flows --- */
    f = make(err, sizeof err);
    filter_get_stats(f, &st);
    ok(st.flow_slots < (size_t)FILTER_CT_SETS * FILTER_CT_WAYS, "the flow table starts small (%zu slots)", st.flow_slots);
    for (int i = 0; i < 300; i++) {
        char dst[32];
        snprintf(dst, sizeof dst, "100.%d.%d.%d", 64 + (i >> 16), (i >> 8) & 255, i & 255);
        filter_out(f, buf, ip4("100.64.0.2", dst, PKT_UDP, 5000, 53, 0), (uint64_t)i);
    }
    filter_get_stats(f, &st);
    ok(st.evictions == 0 && st.flow_slots >= 300 && st.flow_slots < (size_t)FILTER_CT_SETS * FILTER_CT_WAYS,
       "300 flows: it grew to hold them all (%zu slots), none pushed out", st.flow_slots);
    int all = 1;
    for (int i = 0; i < 300; i++) {
        char src[32];
        snprintf(src, sizeof src, "100.%d.%d.%d", 64 + (i >> 16), (i >> 8) & 255, i & 255);
        all &= filter_in(f, buf, ip4(src, "100.64.0.2", PKT_UDP, 53, 5000, 0), 999) == FR_ACCEPT;
    }
    ok(all, "... and every one's replies pass after it grew");
    for (int i = 300; i < FILTER_CT_SETS * FILTER_CT_WAYS * 2; i++) {
        char dst[32];
        snprintf(dst, sizeof dst, "100.%d.%d.%d", 64 + (i >> 16), (i >> 8) & 255, i & 255);
        filter_out(f, buf, ip4("100.64.0.2", dst, PKT_UDP, 5000, 53, 0), (uint64_t)i);
    }
    filter_get_stats(f, &st);
    ok(st.evictions >= (uint64_t)FILTER_CT_SETS * FILTER_CT_WAYS - 64, "twice the table's flows: the older ones were pushed out (%llu)",
       (unsigned long long)st.evictions);
    is_int((int)st.flow_slots, FILTER_CT_SETS * FILTER_CT_WAYS, "... once the table had grown to its limit");
    int last = FILTER_CT_SETS * FILTER_CT_WAYS * 2 - 1;
    char dst[32];
    snprintf(dst, sizeof dst, "100.%d.%d.%d", 64 + (last >> 16), (last >> 8) & 255, last & 255);
    is_int(filter_in(f, buf, ip4(dst, "100.64.0.2", PKT_UDP, 53, 5000, 0), 99999), FR_ACCEPT, "the newest flow is remembered");
    is_int(filter_in(f, buf, ip4("100.64.0.0", "100.64.0.2", PKT_UDP, 53, 5000, 0), 99999), FR_NO_RULE,
           "the oldest is forgotten");
    filter_free(f);

    /* --- "cap:" sources: the nodes the netmap says have the capability, at compile time --- */
    reset_rules();
    rule("cap:https://tailscale.com/cap/x", "100.64.0.2=9-9,fd7a:115c:a1e0::2=9-9", NULL);
    rule("100.64.0.1", "100.64.0.2=22-22", NULL);
    f = make(err, sizeof err);
    ok(filter_uses_caps(f), "rules with a cap: source are marked as needing the netmap's capabilities");
    filter_free(f);
    f = filter_new();
    struct nl_prefix local[2];
    nl_prefix_parse("100.64.0.2/32", &local[0]);
    nl_prefix_parse("fd7a:115c:a1e0::2/128", &local[1]);
    filter_set_local(f, local, 2);
    filter_set_cap_lookup(f, cap_lookup, NULL);
    filter_set_rules(f, rules, nrules, err, sizeof err);
    is_int(IN(f, ip4("100.64.0.7", "100.64.0.2", PKT_TCP, 5, 9, PKT_TCP_SYN)), FR_ACCEPT,
           "cap: source: a peer with the capability may reach the port");
    is_int(IN(f, ip6("fd7a:115c:a1e0::7", "fd7a:115c:a1e0::2", PKT_TCP, 5, 9, PKT_TCP_SYN)), FR_ACCEPT,
           "cap: source: at its IPv6 address too");
    is_int(IN(f, ip4("100.64.0.8", "100.64.0.2", PKT_TCP, 5, 9, PKT_TCP_SYN)), FR_NO_RULE,
           "cap: source: a peer without it may not");
    is_int(IN(f, ip4("100.64.0.7", "100.64.0.2", PKT_TCP, 5, 22, PKT_TCP_SYN)), FR_NO_RULE,
           "cap: source: the capability opens only its rule's ports");
    cap_holder = "100.64.0.8"; /* the netmap changed: the next compile follows it */
    filter_set_rules(f, rules, nrules, err, sizeof err);
    is_int(IN(f, ip4("100.64.0.7", "100.64.0.2", PKT_TCP, 5, 9, PKT_TCP_SYN)), FR_NO_RULE,
           "cap: source recompiled: the node that lost the capability is refused");
    is_int(IN(f, ip4("100.64.0.8", "100.64.0.2", PKT_TCP, 5, 9, PKT_TCP_SYN)), FR_ACCEPT,
           "cap: source recompiled: the one that gained it passes");
    filter_free(f);

    index_agrees();
    done_testing();
}
