// SPDX-License-Identifier: BSD-3-Clause
/* The MagicDNS resolver, in process (no TUN, no sockets): queries per second answered from the tailnet's
 * own names for a netmap of 1,000 peers (random peers' full names, short names, AAAA, PTR; one core), the
 * same through the whole packet path (IPv4 + UDP parsed, answered, a packet built with checksums, as the
 * TUN hands them over), NXDOMAIN under the suffix, and how long rebuilding the names takes when the netmap
 * changes (1,000 and 10,000 peers). The figure through a real TUN from another process is bench/dns.sh's
 * (dnsperf, root). Prints figures. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "core/json/tailcfg.h"
#include "core/loop.h"
#include "modules/node/dns/dns.h"
#include "modules/node/dns/ippkt.h"
#include "modules/node/netmap.h"

#define RUN_FOR 2.0
#define NQ 4096

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t injected;
static void inject(void *arg, uint8_t *pkt, size_t len)
{
    injected++;
}

/* A first map with n peers (peer i: 100.64.(i/250).(i%250+2), fd7a:115c:a1e0::i+2, name peerI). */
static char *map_json(int n)
{
    size_t cap = (size_t)n * 300 + 4096, len = 0;
    char *j = malloc(cap);
    len += (size_t)snprintf(j + len, cap - len,
                            "{\"Node\":{\"ID\":1,\"Name\":\"self.tail.example.\",\"Key\":\"nodekey:%064x\","
                            "\"Addresses\":[\"100.64.0.1/32\",\"fd7a:115c:a1e0::1/128\"],"
                            "\"MachineAuthorized\":true},\"Peers\":[",
                            1);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(j + len, cap - len,
                                "%s{\"ID\":%d,\"Name\":\"peer%d.tail.example.\",\"Key\":\"nodekey:%064x\","
                                "\"Addresses\":[\"100.%d.%d.%d/32\",\"fd7a:115c:a1e0::%x/128\"]}",
                                i ? "," : "", i + 2, i, i + 2, 64 + i / 62500, i / 250 % 250, i % 250 + 2, i + 2);
    snprintf(j + len, cap - len,
             "],\"DNSConfig\":{\"Resolvers\":[{\"Addr\":\"192.0.2.53\"}],\"Domains\":[\"tail.example\"],"
             "\"Proxied\":true,\"Routes\":{\"64.100.in-addr.arpa\":[]}}}");
    return j;
}

static void load(struct dns_service *s, struct netmap *nm, int n, double *rebuild_ms)
{
    char *j = map_json(n);
    struct tc_map_response m;
    char err[256];
    if (tc_map_response_parse(&m, j, strlen(j)) || netmap_apply(nm, &m, 1, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "bench_dns: the map does not load\n");
        exit(1);
    }
    dns_service_set_config(s, m.dns_config);
    double t0 = now();
    int rounds = 0;
    do {
        dns_service_set_netmap(s, nm);
        rounds++;
    } while (now() - t0 < 0.5);
    *rebuild_ms = (now() - t0) * 1000 / rounds;
    tc_map_response_clear(&m);
    free(j);
}

static uint8_t *wire(const char *name, ldns_rr_type t, size_t *len)
{
    ldns_pkt *p = NULL;
    ldns_pkt_query_new_frm_str(&p, name, t, LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt_set_id(p, (uint16_t)rand());
    ldns_pkt_set_edns_udp_size(p, 1232);
    uint8_t *w = NULL;
    ldns_pkt2wire(&w, p, len);
    ldns_pkt_free(p);
    return w;
}

struct qset {
    uint8_t *q[NQ];
    size_t len[NQ];
};

static void make_set(struct qset *s, const char *kind, int npeers)
{
    for (int i = 0; i < NQ; i++) {
        int p = rand() % npeers;
        char name[128];
        ldns_rr_type t = LDNS_RR_TYPE_A;
        if (!strcmp(kind, "full"))
            snprintf(name, sizeof name, "peer%d.tail.example.", p);
        else if (!strcmp(kind, "short"))
            snprintf(name, sizeof name, "peer%d.", p);
        else if (!strcmp(kind, "aaaa")) {
            snprintf(name, sizeof name, "peer%d.tail.example.", p);
            t = LDNS_RR_TYPE_AAAA;
        } else if (!strcmp(kind, "ptr")) {
            snprintf(name, sizeof name, "%d.%d.%d.100.in-addr.arpa.", p % 250 + 2, p / 250 % 250, 64 + p / 62500);
            t = LDNS_RR_TYPE_PTR;
        } else {
            snprintf(name, sizeof name, "nobody%d.tail.example.", p);
        }
        s->q[i] = wire(name, t, &s->len[i]);
    }
}

static void free_set(struct qset *s)
{
    for (int i = 0; i < NQ; i++)
        free(s->q[i]);
}

static void bench_queries(struct dns_service *svc, const char *kind, const char *label, int npeers)
{
    struct qset s;
    make_set(&s, kind, npeers);
    uint8_t out[2048];
    uint64_t n = 0, bad = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < NQ; i++) {
            size_t r = dns_service_query(svc, s.q[i], s.len[i], out, sizeof out);
            if (!r)
                bad++;
            n++;
        }
    } while ((t = now() - t0) < RUN_FOR);
    printf("%-52s %10.0f queries/s  %6.2f us/query%s\n", label, n / t, t * 1e6 / n, bad ? "  (SOME UNANSWERED)" : "");
    free_set(&s);
}

static void bench_packets(struct dns_service *svc, int npeers)
{
    struct qset s;
    make_set(&s, "full", npeers);
    static uint8_t pkts[NQ][600];
    size_t plen[NQ];
    struct ipp_flow f = {4, {100, 64, 0, 1}, {100, 100, 100, 100}, 40000, 53};
    for (int i = 0; i < NQ; i++) {
        f.sport = (uint16_t)(10000 + i);
        plen[i] = ipp_build(pkts[i], sizeof pkts[i], &f, IPP_UDP, 0, 0, 0, 0, 0, s.q[i], s.len[i]);
    }
    uint64_t n = 0;
    injected = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < NQ; i++)
            dns_service_packet(svc, pkts[i], plen[i]);
        n += NQ;
    } while ((t = now() - t0) < RUN_FOR);
    printf("%-52s %10.0f queries/s  %6.2f us/query%s\n", "A, full name, IPv4+UDP packet in, packet out", n / t,
           t * 1e6 / n, injected == n ? "" : "  (SOME UNANSWERED)");
    free_set(&s);
}

int main(void)
{
    srand(1);
    struct loop *l = loop_new();
    static const struct dns_service_ops ops = {inject};
    struct dns_service *svc = dns_service_new(l, 1280, &ops, NULL);
    struct netmap nm;
    netmap_init(&nm);
    double ms1k, ms10k;
    load(svc, &nm, 10000, &ms10k);
    netmap_free(&nm);
    netmap_init(&nm);
    load(svc, &nm, 1000, &ms1k);
    printf("MagicDNS resolver, in process, one core, a tailnet of 1,000 peers:\n");
    bench_queries(svc, "full", "A, a peer's full name", 1000);
    bench_queries(svc, "short", "A, a peer's short name", 1000);
    bench_queries(svc, "aaaa", "AAAA, a peer's full name", 1000);
    bench_queries(svc, "ptr", "PTR, a peer's IPv4 address", 1000);
    bench_queries(svc, "nx", "NXDOMAIN under the suffix", 1000);
    bench_packets(svc, 1000);
    printf("%-52s %10.2f ms\n", "names rebuilt after a netmap change, 1,000 peers", ms1k);
    printf("%-52s %10.2f ms\n", "names rebuilt after a netmap change, 10,000 peers", ms10k);
    dns_service_free(svc);
    netmap_free(&nm);
    loop_free(l);
    fflush(stdout);
    /* then through a TUN, with dnsperf (root; skips otherwise) */
    setenv("WEFT", WEFT_ABS_BUILDDIR "/weft", 0);
    setenv("WEFT_SRCDIR", WEFT_ABS_SRCDIR, 0);
    setenv("WEFT_BUILDDIR", WEFT_ABS_BUILDDIR, 0);
    setenv("WEFT_MODULE_PATH",
           WEFT_ABS_BUILDDIR "/modules/control/.libs:" WEFT_ABS_BUILDDIR
                             "/modules/derp/.libs:" WEFT_ABS_BUILDDIR "/modules/node/.libs",
           0);
    execl("/bin/bash", "bash", WEFT_ABS_SRCDIR "/bench/dns.sh", (char *)NULL);
    perror("bench_dns: bash");
    return 1;
}
