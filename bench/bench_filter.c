// SPDX-License-Identifier: BSD-3-Clause
/* The node's packet filter with 1,000 rules: packets per second through filter_in (parse + decide), for
 * the shapes that matter:
 *   - per-node rules (what a policy compiles to: each rule one source /32, this node's address, a port):
 *     TCP SYNs from 1,000 different sources, half allowed, half to a closed port;
 *   - the same with every rule's source "*" (the worst case: every rule is a candidate);
 *   - UDP replies through connection tracking (1,000 tracked flows) and TCP non-SYN (the fast path);
 *   - compiling the 1,000 rules.
 * One thread, one core; the figures print and are not asserted. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modules/node/filter/filter.h"

#define NRULES 1000
#define NPKTS 1024
#define RUN_FOR 1.0

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t pkts[NPKTS][60];
static size_t lens[NPKTS];

static size_t ip4(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
    memset(b, 0, 60);
    size_t tl = 20 + (proto == 6 ? 20 : 8);
    b[0] = 0x45;
    b[3] = (uint8_t)tl;
    b[9] = proto;
    src = htonl(src);
    dst = htonl(dst);
    memcpy(b + 12, &src, 4);
    memcpy(b + 16, &dst, 4);
    b[20] = (uint8_t)(sport >> 8);
    b[21] = (uint8_t)sport;
    b[22] = (uint8_t)(dport >> 8);
    b[23] = (uint8_t)dport;
    if (proto == 6) {
        b[32] = 0x50;
        b[33] = flags;
    }
    return tl;
}

static const uint32_t SELF = 0x64400002; /* 100.64.0.2 */

static void run(struct filter *f, const char *what)
{
    uint64_t n = 0, accepted = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < NPKTS; i++)
            accepted += filter_in(f, pkts[i], lens[i], 1000) == FR_ACCEPT;
        n += NPKTS;
    } while ((t = now() - t0) < RUN_FOR);
    printf("  %-58s %8.2f Mpkt/s  (%4.1f%% accepted)\n", what, n / t / 1e6, 100.0 * accepted / n);
}

static struct filter *build(bool star, double *ms)
{
    static char src[NRULES][24], *srcp[NRULES], dstip[NRULES][24];
    static struct nm_port_range dst[NRULES];
    static struct nm_filter_rule r[NRULES];
    static char *star_src[] = {"*"};
    for (int i = 0; i < NRULES; i++) {
        snprintf(src[i], sizeof src[i], "100.64.%d.%d", 10 + i / 250, 1 + i % 250);
        srcp[i] = src[i];
        snprintf(dstip[i], sizeof dstip[i], "100.64.0.2");
        dst[i] = (struct nm_port_range){dstip[i], (uint16_t)(1000 + i), (uint16_t)(1000 + i), false};
        r[i] = (struct nm_filter_rule){star ? star_src : &srcp[i], 1, &dst[i], 1, NULL, 0};
    }
    struct filter *f = filter_new();
    struct nl_prefix local;
    nl_prefix_parse("100.64.0.2/32", &local);
    filter_set_local(f, &local, 1);
    char err[128];
    double t0 = now();
    filter_set_rules(f, r, NRULES, err, sizeof err);
    *ms = (now() - t0) * 1e3;
    return f;
}

int main(void)
{
    printf("packet filter, %d rules, one core:\n", NRULES);
    double ms;
    struct filter *f = build(false, &ms);
    printf("  %-58s %8.2f ms\n", "compile 1,000 per-source rules", ms);
    for (int i = 0; i < NPKTS; i++) { /* source i's own port, or a closed one */
        int r = i % NRULES;
        uint32_t src = 0x64400000u | (uint32_t)((10 + r / 250) << 8) | (uint32_t)(1 + r % 250);
        lens[i] = ip4(pkts[i], src, SELF, 6, 40000, (uint16_t)(i & 1 ? 1000 + r : 999), 0x02);
    }
    run(f, "TCP SYN, per-source rules (half allowed)");
    for (int i = 0; i < NPKTS; i++)
        lens[i] = ip4(pkts[i], 0x64400a01u + (uint32_t)i, SELF, 6, 40000, 22, 0x10);
    run(f, "TCP not SYN (passes without a rule lookup)");
    for (int i = 0; i < NPKTS; i++) { /* our flows out, then their replies in */
        uint8_t out[60];
        size_t l = ip4(out, SELF, 0x64410000u + (uint32_t)i, 17, 5000, 53, 0);
        filter_out(f, out, l, 1000);
        lens[i] = ip4(pkts[i], 0x64410000u + (uint32_t)i, SELF, 17, 53, 5000, 0);
    }
    run(f, "UDP replies through connection tracking (1,024 flows)");
    for (int i = 0; i < NPKTS; i++)
        lens[i] = ip4(pkts[i], 0x64410000u + (uint32_t)i, SELF, 17, 53, 5001, 0);
    run(f, "UDP from strangers to a closed port (dropped)");
    filter_free(f);
    f = build(true, &ms);
    printf("  %-58s %8.2f ms\n", "compile 1,000 rules with source \"*\"", ms);
    for (int i = 0; i < NPKTS; i++) {
        int r = i % NRULES;
        lens[i] = ip4(pkts[i], 0x64400a01u + (uint32_t)i, SELF, 6, 40000, (uint16_t)(i & 1 ? 1000 + r : 999), 0x02);
    }
    run(f, "TCP SYN, 1,000 rules all with source \"*\" (worst case)");
    filter_free(f);
    return 0;
}
