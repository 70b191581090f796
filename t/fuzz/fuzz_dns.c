// SPDX-License-Identifier: BSD-3-Clause
/* What the node's resolver reads from the network: the first byte picks the entry point.
 *   0: a DNS message, answered over UDP and over TCP from a zone with peers, extra records and split routes;
 *      every answer must read back with ldns, carry the query's ID and fit the limit; the same bytes as an
 *      upstream's answer are truncated and turned into a SERVFAIL without harm.
 *   1: an IP packet as the TUN hands it to the resolver (ipp_parse), then to the TCP responder or the
 *      resolver.
 *   2: a sequence of TCP segments from one client (flags, sequence and acknowledgement offsets, window,
 *      payload) through the TCP responder, whose messages are answered by the resolver: whatever the
 *      segments, no crash, leak or UB, and the connection table stays bounded.
 *   3: an extra record (name, type, value separated by NUL) as control's config or the DNSConfig carries it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "modules/node/dns/ippkt.c"
#include "modules/node/dns/resolver.c"
#include "modules/node/dns/tcp.c"
#include "modules/node/dns/zone.c"

static struct dns_zone *zone;
static struct dns_forwarding fwd;
static struct loop *loop;
static struct dns_tcp *tcp;
static struct dns_stats st;

static void setup(void)
{
    if (zone)
        return;
    zone = dns_zone_new();
    dns_zone_set_suffix(zone, "tail.example");
    static const uint8_t a[2][17] = {{4, 100, 64, 0, 2}, {6, 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, [16] = 2}};
    dns_zone_add_node(zone, "nas.tail.example.", a, 2);
    dns_zone_add_local_domain(zone, "64.100.in-addr.arpa");
    char err[128];
    dns_zone_add_record(zone, "www.tail.example", "CNAME", "nas.tail.example.", err, sizeof err);
    dns_zone_add_record(zone, "loop.tail.example", "CNAME", "loop.tail.example.", err, sizeof err);
    dns_zone_add_record(zone, "txt.tail.example", "TXT", "hello", err, sizeof err);
    for (int i = 0; i < 60; i++) {
        char v[32];
        snprintf(v, sizeof v, "100.64.1.%d", i);
        dns_zone_add_record(zone, "big.tail.example", "A", v, err, sizeof err);
    }
    fwd.resolvers.v = calloc(1, sizeof *fwd.resolvers.v);
    dns_upstream_parse("192.0.2.53", &fwd.resolvers.v[0]);
    fwd.resolvers.n = 1;
    loop = loop_new();
}

static void check_answer(const uint8_t *q, size_t ql, const uint8_t *r, size_t rl, size_t limit)
{
    if (rl > limit || rl < 12 || r[0] != q[0] || r[1] != q[1] || !(r[2] & 0x80))
        abort();
    ldns_pkt *p = NULL;
    if (rl > 12 && ldns_wire2pkt(&p, r, rl) != LDNS_STATUS_OK)
        abort(); /* we wrote something ldns cannot read */
    ldns_pkt_free(p);
}

static void answer(const uint8_t *d, size_t n, size_t cap)
{
    uint8_t *r;
    size_t rl, limit;
    const struct dns_upstreams *up;
    if (dns_handle(zone, &fwd, d, n, cap, &limit, &r, &rl, &up, &st) == DNS_REPLY)
        check_answer(d, n, r, rl, limit);
    free(r);
}

static void seg_out(void *arg, const uint8_t *pkt, size_t len)
{
    struct ipp_packet p;
    if (ipp_parse(pkt, len, &p)) /* what we send must read back */
        abort();
}

static void seg_msg(void *arg, uint64_t id, const struct ipp_flow *f, const uint8_t *m, size_t len)
{
    uint8_t *r;
    size_t rl, limit;
    const struct dns_upstreams *up;
    enum dns_verdict v = dns_handle(zone, &fwd, m, len, 0, &limit, &r, &rl, &up, &st);
    if (v == DNS_REPLY)
        dns_tcp_reply(tcp, id, r, rl);
    else if (v == DNS_FORWARD)
        dns_tcp_reply(tcp, id, m, len); /* as if an upstream echoed it */
    else
        dns_tcp_reply(tcp, id, NULL, 0);
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1)
        return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] & 3) {
    case 0: {
        answer(d, n, 1232);
        answer(d, n, 0);
        size_t tl;
        uint8_t *t = dns_truncate(d, n, 512, &tl);
        if (t && tl > 512)
            abort();
        free(t);
        t = dns_servfail(d, n, &tl);
        free(t);
        break;
    }
    case 1: {
        struct ipp_packet p;
        static const struct dns_tcp_ops ops = {seg_out, seg_msg};
        if (ipp_parse(d, n, &p) == 0) {
            if (p.proto == IPP_TCP) {
                tcp = dns_tcp_new(loop, 1280, &ops, NULL);
                dns_tcp_input(tcp, &p);
                dns_tcp_free(tcp);
            } else {
                answer(p.payload, p.len, 1232);
            }
        }
        break;
    }
    case 2: {
        static const struct dns_tcp_ops ops = {seg_out, seg_msg};
        tcp = dns_tcp_new(loop, 1280, &ops, NULL);
        struct ipp_packet p;
        memset(&p, 0, sizeof p);
        p.flow = (struct ipp_flow){4, {100, 64, 0, 1}, {100, 100, 100, 100}, 40000, 53};
        p.proto = IPP_TCP;
        uint32_t seq = 1000, ack = 0;
        bool first = true;
        while (n >= 8) {
            p.flags = d[0] & 0x3f;
            seq += (uint32_t)(int16_t)(d[1] << 8 | d[2]);
            ack += (uint32_t)(int16_t)(d[3] << 8 | d[4]);
            p.window = (uint16_t)(d[5] << 8 | d[6]);
            size_t pl = d[7];
            d += 8;
            n -= 8;
            if (pl > n)
                pl = n;
            if (first) { /* start with a real SYN so the rest reaches a connection */
                p.flags = TCPF_SYN;
                first = false;
            }
            p.flow.sport = (uint16_t)(40000 + (p.flags & 1));
            p.seq = seq;
            p.ack = ack;
            p.payload = d;
            p.len = pl;
            dns_tcp_input(tcp, &p);
            d += pl;
            n -= pl;
        }
        struct dns_tcp_stats ts;
        dns_tcp_get_stats(tcp, &ts);
        if (ts.open > 256)
            abort();
        dns_tcp_free(tcp);
        break;
    }
    case 3: {
        char buf[600];
        if (n >= sizeof buf)
            n = sizeof buf - 1;
        memcpy(buf, d, n);
        buf[n] = 0;
        const char *name = buf, *type = "", *value = "";
        char *z = memchr(buf, 0, n);
        if (z && z + 1 < buf + n) {
            type = z + 1;
            char *z2 = memchr(type, 0, (size_t)(buf + n - type));
            if (z2)
                value = z2 + 1;
        }
        char err[256], canon[256];
        dns_record_check(name, type, value, err, sizeof err);
        dns_name_canon(name, canon, sizeof canon);
        break;
    }
    }
    return 0;
}
