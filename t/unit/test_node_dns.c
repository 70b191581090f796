// SPDX-License-Identifier: BSD-3-Clause
/* The node's MagicDNS resolver without a TUN: a netmap and a DNSConfig as control sends them (JSON), then
 * queries built and answers read with ldns. Names (full, short, AAAA, PTR, extra records of several types,
 * CNAME chains), NXDOMAIN under local domains, forwarding choices (split routes by longest suffix, global
 * resolvers, the OS's, fallback), truncation at the client's limit, malformed input; the IP/UDP/TCP packet
 * code (checksums, fragments); the TCP responder against a scripted client (handshake, segments within the
 * MSS, retransmission, close, strays, a connection flood); the forwarder against UDP and TCP servers on
 * loopback (an answer, a truncated UDP answer fetched again over TCP, a dead upstream then a live one, a
 * silent one: SERVFAIL). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "core/json/tailcfg.h"
#include "core/loop.h"
#include "modules/node/dns/dns.h"
#include "modules/node/dns/forward.h"
#include "modules/node/dns/ippkt.h"
#include "modules/node/dns/resolver.h"
#include "modules/node/dns/tcp.h"
#include "modules/node/dns/zone.h"
#include "modules/node/netmap.h"
#include "t/tap.h"

/* ---- helpers ---- */

static uint8_t *query(const char *name, ldns_rr_type t, int edns, size_t *len)
{
    ldns_pkt *p = NULL;
    ldns_pkt_query_new_frm_str(&p, name, t, LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt_set_id(p, 0x1234);
    if (edns)
        ldns_pkt_set_edns_udp_size(p, (uint16_t)edns);
    uint8_t *w = NULL;
    ldns_pkt2wire(&w, p, len);
    ldns_pkt_free(p);
    return w;
}

static ldns_pkt *parse(const uint8_t *w, size_t len)
{
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, w, len) != LDNS_STATUS_OK)
        return NULL;
    return p;
}

/* The answer section as "TYPE value" lines joined with "; ". */
static void answers(const ldns_pkt *p, char *out, size_t cap)
{
    out[0] = 0;
    const ldns_rr_list *l = ldns_pkt_answer(p);
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(l, i);
        char *t = ldns_rr_type2str(ldns_rr_get_type(rr));
        char *v = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        for (size_t k = 1; k < ldns_rr_rd_count(rr); k++) {
            char *more = ldns_rdf2str(ldns_rr_rdf(rr, k));
            char *j;
            if (asprintf(&j, "%s %s", v, more) > 0) {
                free(v);
                v = j;
            }
            free(more);
        }
        size_t l0 = strlen(out);
        snprintf(out + l0, cap - l0, "%s%s %s", i ? "; " : "", t, v);
        free(t);
        free(v);
    }
}

static const char MAP_HEAD[] =
    "{\"Node\":{\"ID\":1,\"Name\":\"self.tail.example.\",\"Key\":\"nodekey:" 
    "0000000000000000000000000000000000000000000000000000000000000001\","
    "\"Addresses\":[\"100.64.0.1/32\",\"fd7a:115c:a1e0::1/128\"],\"MachineAuthorized\":true},"
    "\"Peers\":["
    "{\"ID\":2,\"Name\":\"nas.tail.example.\",\"Key\":\"nodekey:"
    "0000000000000000000000000000000000000000000000000000000000000002\","
    "\"Addresses\":[\"100.64.0.2/32\",\"fd7a:115c:a1e0::2/128\"]},"
    "{\"ID\":3,\"Name\":\"Laptop.tail.example.\",\"Key\":\"nodekey:"
    "0000000000000000000000000000000000000000000000000000000000000003\","
    "\"Addresses\":[\"100.64.0.3/32\"]},"
    "{\"ID\":4,\"Name\":\"other.elsewhere.example.\",\"Key\":\"nodekey:"
    "0000000000000000000000000000000000000000000000000000000000000004\","
    "\"Addresses\":[\"100.64.0.4/32\"]}],"
    "\"DNSConfig\":{\"Resolvers\":[{\"Addr\":\"192.0.2.53\"}],"
    "\"Routes\":{\"corp.example\":[{\"Addr\":\"192.0.2.10\"}],\"dev.corp.example\":[{\"Addr\":\"192.0.2.11:5353\"}],"
    "\"64.100.in-addr.arpa\":[],\"0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa\":[],\"tls.example\":[{\"Addr\":\"tls://x\"}]},"
    "\"Domains\":[\"tail.example\",\"corp.example\"],\"Proxied\":true,"
    "\"ExtraRecords\":[{\"Name\":\"grafana.tail.example\",\"Type\":\"A\",\"Value\":\"100.64.0.7\"},"
    "{\"Name\":\"v6only.tail.example\",\"Value\":\"fd7a:115c:a1e0::7\"},"
    "{\"Name\":\"txt.tail.example\",\"Type\":\"TXT\",\"Value\":\"hello world\"},"
    "{\"Name\":\"mail.tail.example\",\"Type\":\"MX\",\"Value\":\"10 nas.tail.example.\"},"
    "{\"Name\":\"www.tail.example\",\"Type\":\"CNAME\",\"Value\":\"alias.tail.example.\"},"
    "{\"Name\":\"alias.tail.example\",\"Type\":\"CNAME\",\"Value\":\"nas.tail.example.\"},"
    "{\"Name\":\"_http._tcp.tail.example\",\"Type\":\"SRV\",\"Value\":\"0 5 80 nas.tail.example.\"},"
    "{\"Name\":\"bad.tail.example\",\"Type\":\"A\",\"Value\":\"not-an-ip\"}";

static struct dns_service *svc;
static struct netmap nm;

static void load(const char *extra)
{
    static char json[200000];
    snprintf(json, sizeof json, "%s%s]}}", MAP_HEAD, extra);
    struct tc_map_response m;
    if (tc_map_response_parse(&m, json, strlen(json))) {
        diag("map does not parse");
        exit(1);
    }
    char err[256];
    netmap_free(&nm);
    netmap_init(&nm);
    if (netmap_apply(&nm, &m, 1000, NULL, NULL, err, sizeof err)) {
        diag("netmap: %s", err);
        exit(1);
    }
    dns_service_set_config(svc, m.dns_config);
    dns_service_set_netmap(svc, &nm);
    tc_map_response_clear(&m);
}

/* Ask the service (UDP path, no IP headers); the parsed answer or NULL. */
static ldns_pkt *ask(const char *name, ldns_rr_type t, int edns)
{
    size_t ql;
    uint8_t *q = query(name, t, edns, &ql);
    static uint8_t out[65536];
    size_t n = dns_service_query(svc, q, ql, out, sizeof out);
    free(q);
    return n ? parse(out, n) : NULL;
}

static void expect(const char *name, ldns_rr_type t, ldns_pkt_rcode rc, const char *want, const char *what)
{
    ldns_pkt *p = ask(name, t, 0);
    char got[2048] = "(no answer)";
    if (p)
        answers(p, got, sizeof got);
    int good = p && ldns_pkt_get_rcode(p) == rc && strcmp(got, want) == 0 && ldns_pkt_aa(p) && ldns_pkt_qr(p) &&
               ldns_pkt_id(p) == 0x1234;
    ok(good, "%s", what);
    if (!good)
        diag("got rcode %d [%s], want %d [%s]", p ? (int)ldns_pkt_get_rcode(p) : -1, got, (int)rc, want);
    ldns_pkt_free(p);
}

/* ---- names from a netmap and a DNSConfig, through the service ---- */

static void test_names(void)
{
    load("");
    expect("nas.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.2", "a peer's full name: A");
    expect("NAS.Tail.Example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.2", "names match in any case");
    expect("nas.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.2", "a peer's short name");
    expect("nas.tail.example.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, "AAAA fd7a:115c:a1e0::2",
           "a peer's AAAA");
    expect("laptop.tail.example.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, "",
           "AAAA of a v4-only peer: the name exists, no records (NODATA)");
    expect("laptop.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.3", "a name control sent in capitals");
    expect("self.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.1", "the node's own name");
    expect("self.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, "AAAA fd7a:115c:a1e0::1", "the node's own short name");
    expect("other.elsewhere.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.4",
           "a peer named outside the suffix: its full name");
    ldns_pkt *p = ask("other.", LDNS_RR_TYPE_A, 0);
    ok(!p, "... but not its short name (not under the suffix): forwarded, not answered");
    ldns_pkt_free(p);
    expect("2.0.64.100.in-addr.arpa.", LDNS_RR_TYPE_PTR, LDNS_RCODE_NOERROR, "PTR nas.tail.example.",
           "PTR of a peer's IPv4 address");
    expect("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa.", LDNS_RR_TYPE_PTR,
           LDNS_RCODE_NOERROR, "PTR nas.tail.example.", "PTR of a peer's IPv6 address");
    expect("99.0.64.100.in-addr.arpa.", LDNS_RR_TYPE_PTR, LDNS_RCODE_NXDOMAIN, "",
           "PTR of an unknown tailnet address: NXDOMAIN (a reverse zone control routes here)");
    expect("nobody.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, "", "an unknown name under the suffix");
    expect("tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "", "the suffix itself exists (no records)");
    expect("grafana.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.7", "an extra A record");
    expect("v6only.tail.example.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, "AAAA fd7a:115c:a1e0::7",
           "an extra record without a type: AAAA by its value");
    expect("txt.tail.example.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, "TXT \"hello world\"",
           "an extra TXT record: one string, space and all");
    expect("mail.tail.example.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, "MX 10 nas.tail.example.",
           "an extra MX record");
    expect("_http._tcp.tail.example.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR, "SRV 0 5 80 nas.tail.example.",
           "an extra SRV record");
    expect("www.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR,
           "CNAME alias.tail.example.; CNAME nas.tail.example.; A 100.64.0.2",
           "a CNAME chain inside the zone is followed, in order");
    expect("www.tail.example.", LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, "CNAME alias.tail.example.",
           "asked for the CNAME itself: only it");
    expect("bad.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, "",
           "an extra record with a bad value is left out (and the rest kept)");

    /* a rename: the map changes (DNSConfig absent: unchanged), the old name goes, the new one answers */
    struct tc_map_response m;
    const char *delta = "{\"PeersChanged\":[{\"ID\":2,\"Name\":\"storage.tail.example.\",\"Key\":\"nodekey:"
                        "0000000000000000000000000000000000000000000000000000000000000002\","
                        "\"Addresses\":[\"100.64.0.2/32\"]}]}";
    char err[256];
    if (tc_map_response_parse(&m, delta, strlen(delta)) || netmap_apply(&nm, &m, 1001, NULL, NULL, err, sizeof err)) {
        diag("delta does not apply");
        exit(1);
    }
    tc_map_response_clear(&m);
    dns_service_set_netmap(svc, &nm);
    expect("storage.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.2", "a renamed peer: its new name");
    expect("nas.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, "", "... and its old one is gone");
    expect("grafana.tail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, "A 100.64.0.7",
           "... the DNS config is kept across a map without one");
}

/* ---- decisions: forwarding, truncation, bad input (dns_handle on a zone and a forwarding table) ---- */

static struct dns_zone *zone;
static struct dns_forwarding fwd;
static struct dns_stats stats;

static enum dns_verdict decide(const uint8_t *q, size_t ql, size_t cap, ldns_pkt **ans, const char **up_text,
                               size_t *limit)
{
    uint8_t *r;
    size_t rl, lim;
    const struct dns_upstreams *up;
    enum dns_verdict v = dns_handle(zone, &fwd, q, ql, cap, &lim, &r, &rl, &up, &stats);
    if (ans)
        *ans = v == DNS_REPLY ? parse(r, rl) : NULL;
    if (up_text)
        *up_text = v == DNS_FORWARD ? up->v[0].text : "";
    if (limit)
        *limit = lim;
    free(r);
    return v;
}

static void routed(const char *name, const char *want, const char *what)
{
    size_t ql;
    uint8_t *q = query(name, LDNS_RR_TYPE_A, 0, &ql);
    const char *got;
    enum dns_verdict v = decide(q, ql, 1232, NULL, &got, NULL);
    free(q);
    ok(v == DNS_FORWARD && strcmp(got, want) == 0, "%s", what);
    if (v != DNS_FORWARD || strcmp(got, want))
        diag("verdict %d, to %s", (int)v, v == DNS_FORWARD ? got : "-");
}

static void set_forwarding(const char *dnsconfig_json)
{
    char json[4096];
    snprintf(json, sizeof json, "{\"DNSConfig\":%s}", dnsconfig_json);
    struct tc_map_response m;
    if (tc_map_response_parse(&m, json, strlen(json))) {
        diag("bad DNSConfig %s", dnsconfig_json);
        exit(1);
    }
    char skipped[256];
    dns_forwarding_set(&fwd, m.dns_config, skipped, sizeof skipped);
    tc_map_response_clear(&m);
}

static void test_forwarding(void)
{
    zone = dns_zone_new();
    dns_zone_set_suffix(zone, "tail.example");
    static const uint8_t a[1][17] = {{4, 100, 64, 0, 2}};
    dns_zone_add_node(zone, "nas.tail.example.", a, 1);
    char err[256];
    for (int i = 0; i < 60; i++) { /* a name whose answer is bigger than 512 bytes (about 1,000) */
        char v[32];
        snprintf(v, sizeof v, "100.64.1.%d", i + 1);
        dns_zone_add_record(zone, "big.tail.example", "A", v, err, sizeof err);
    }
    set_forwarding("{\"Resolvers\":[{\"Addr\":\"192.0.2.53\"},{\"Addr\":\"100.100.100.100\"}],"
                   "\"Routes\":{\"corp.example\":[{\"Addr\":\"192.0.2.10\"}],"
                   "\"dev.corp.example\":[{\"Addr\":\"[2001:db8::11]:5353\"}],\"tail.example\":[]},"
                   "\"FallbackResolvers\":[{\"Addr\":\"192.0.2.99\"}]}");
    routed("www.example.org.", "192.0.2.53", "a name of nobody's: the global resolvers");
    routed("git.corp.example.", "192.0.2.10", "a split-DNS domain: its resolver");
    routed("corp.example.", "192.0.2.10", "... the domain itself too");
    routed("x.dev.corp.example.", "[2001:db8::11]:5353", "the longest matching suffix wins");
    routed("notcorp.example.", "192.0.2.53", "a suffix matches at a label boundary only");
    ok(fwd.resolvers.n == 1, "100.100.100.100 as an upstream is left out (it would be a loop)");
    set_forwarding("{\"FallbackResolvers\":[{\"Addr\":\"192.0.2.99\"}]}");
    routed("www.example.org.", "192.0.2.99", "no Resolvers, no OS resolvers: FallbackResolvers");
    struct dns_upstream os;
    dns_upstream_parse("192.0.2.1", &os);
    fwd.os.v = &os;
    fwd.os.n = 1;
    routed("www.example.org.", "192.0.2.1", "no Resolvers: the resolvers the machine had come before fallback");
    fwd.os.v = NULL;
    fwd.os.n = 0;
    set_forwarding("{}");
    size_t ql;
    uint8_t *q = query("www.example.org.", LDNS_RR_TYPE_A, 0, &ql);
    ldns_pkt *p;
    enum dns_verdict v = decide(q, ql, 1232, &p, NULL, NULL);
    ok(v == DNS_REPLY && p && ldns_pkt_get_rcode(p) == LDNS_RCODE_SERVFAIL, "nowhere to forward: SERVFAIL");
    ldns_pkt_free(p);
    free(q);

    /* truncation */
    q = query("big.tail.example.", LDNS_RR_TYPE_A, 0, &ql);
    size_t lim;
    v = decide(q, ql, 1232, &p, NULL, &lim);
    ok(v == DNS_REPLY && p && ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 0 && lim == 512 &&
           ldns_rr_list_rr_count(ldns_pkt_question(p)) == 1,
       "an answer over 512 bytes to a query without EDNS: TC, the question, no records");
    ldns_pkt_free(p);
    v = decide(q, ql, 0, &p, NULL, &lim);
    ok(v == DNS_REPLY && p && !ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 60, "... over TCP: all 60 records");
    ldns_pkt_free(p);
    free(q);
    q = query("big.tail.example.", LDNS_RR_TYPE_A, 4096, &ql);
    v = decide(q, ql, 1232, &p, NULL, &lim);
    ok(v == DNS_REPLY && p && !ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 60 && lim == 1232 && ldns_pkt_edns(p),
       "... with EDNS 4096 over UDP: whole (the path's limit, 1,232, applies) and EDNS in the answer");
    ldns_pkt_free(p);
    free(q);

    /* bad input */
    uint8_t junk[600];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 7 + 3);
    junk[2] = 0x01; /* a query, opcode 0 */
    v = decide(junk, 5, 1232, NULL, NULL, NULL);
    ok(v == DNS_DROP, "5 bytes: dropped (no header to answer)");
    v = decide(junk, sizeof junk, 1232, &p, NULL, NULL);
    ok(v == DNS_REPLY && p && ldns_pkt_get_rcode(p) == LDNS_RCODE_FORMERR && ldns_pkt_id(p) == (junk[0] << 8 | junk[1]),
       "garbage after a header: FORMERR with its ID");
    ldns_pkt_free(p);
    q = query("nas.tail.example.", LDNS_RR_TYPE_A, 0, &ql);
    q[2] |= 0x80;
    ok(decide(q, ql, 1232, NULL, NULL, NULL) == DNS_DROP, "a response sent to us: dropped, never answered");
    q[2] = (uint8_t)((q[2] & 0x87) | (5 << 3));
    q[2] &= 0x7f;
    v = decide(q, ql, 1232, &p, NULL, NULL);
    ok(v == DNS_REPLY && p && ldns_pkt_get_rcode(p) == LDNS_RCODE_NOTIMPL, "an UPDATE: NOTIMP");
    ldns_pkt_free(p);
    free(q);
    q = query("nas.tail.example.", LDNS_RR_TYPE_A, 0, &ql);
    q[5] = 2; /* QDCOUNT 2 with one question */
    v = decide(q, ql, 1232, &p, NULL, NULL);
    ok(v == DNS_REPLY && p && ldns_pkt_get_rcode(p) == LDNS_RCODE_FORMERR, "a count that lies: FORMERR");
    ldns_pkt_free(p);
    free(q);
    ok(stats.malformed == 2, "malformed queries counted (%llu)", (unsigned long long)stats.malformed);

    /* a forwarded answer too big for the client */
    q = query("big.tail.example.", LDNS_RR_TYPE_A, 0, &ql);
    uint8_t *r;
    size_t rl;
    const struct dns_upstreams *up;
    dns_handle(zone, &fwd, q, ql, 0, &lim, &r, &rl, &up, &stats);
    size_t tl;
    uint8_t *t = dns_truncate(r, rl, 512, &tl);
    p = t ? parse(t, tl) : NULL;
    ok(rl > 512 && p && ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 0 && tl <= 512 && ldns_pkt_id(p) == 0x1234,
       "an upstream's answer over the limit is cut to its header and question with TC");
    ldns_pkt_free(p);
    free(t);
    free(r);
    free(q);
    dns_forwarding_clear(&fwd);
    dns_zone_free(zone);
}

/* ---- IP packets ---- */

static const struct ipp_flow client4 = {4, {100, 64, 0, 1}, {100, 100, 100, 100}, 40000, 53};

static void test_ippkt(void)
{
    uint8_t buf[2048], msg[100];
    memset(msg, 0xab, sizeof msg);
    struct ipp_flow rf;
    ipp_flow_reverse(&client4, &rf);
    size_t n = ipp_build(buf, sizeof buf, &client4, IPP_UDP, 0, 0, 0, 0, 0, msg, sizeof msg);
    struct ipp_packet p;
    ok(n == 128 && ipp_parse(buf, n, &p) == 0 && p.proto == IPP_UDP && p.len == 100 && p.flow.sport == 40000 &&
           p.flow.dport == 53 && !memcmp(p.flow.dst, client4.dst, 4),
       "UDP over IPv4: built and read back");
    buf[n - 1] ^= 1;
    ok(ipp_parse(buf, n, &p) == -1, "a bad UDP checksum is refused");
    buf[n - 1] ^= 1;
    buf[6] |= 0x20; /* MF */
    ok(ipp_parse(buf, n, &p) == -1, "a fragment is refused");
    struct ipp_flow f6 = {6, {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, [15] = 1}, {0}, 5353, 53};
    memcpy(f6.dst, dns_quad100_v6, 16);
    n = ipp_build(buf, sizeof buf, &f6, IPP_TCP, 1000, 2000, TCPF_SYN, 65535, 1220, NULL, 0);
    ok(n == 64 && ipp_parse(buf, n, &p) == 0 && p.proto == IPP_TCP && p.flags == TCPF_SYN && p.seq == 1000 &&
           p.mss == 1220 && p.flow.family == 6,
       "a TCP SYN over IPv6 with its MSS option: built and read back");
    ok(ipp_parse(buf, n - 1, &p) == -1 && ipp_parse(buf, 39, &p) == -1, "short packets are refused");
    buf[6] = 0; /* a hop-by-hop extension header */
    ok(ipp_parse(buf, n, &p) == -1, "IPv6 extension headers are refused");
}

/* ---- the TCP responder against a scripted client ---- */

struct seg {
    struct ipp_packet p;
    uint8_t data[2048];
};
static struct seg segs[64];
static size_t nsegs;
static struct loop *loop;
static struct dns_tcp *tcp;
static int answer_now = 1;
static uint64_t held_id;

static void tcp_out(void *arg, const uint8_t *pkt, size_t len)
{
    if (nsegs < 64) {
        struct ipp_packet p;
        if (ipp_parse(pkt, len, &p) == 0) {
            segs[nsegs].p = p;
            memcpy(segs[nsegs].data, p.payload, p.len);
            segs[nsegs].p.payload = segs[nsegs].data;
            nsegs++;
        }
    }
}

static void tcp_msg(void *arg, uint64_t id, const struct ipp_flow *f, const uint8_t *m, size_t len)
{
    if (!answer_now) {
        held_id = id;
        return;
    }
    /* echo the message back, made large: 3000 bytes */
    uint8_t big[3000];
    memset(big, 'x', sizeof big);
    memcpy(big, m, len < sizeof big ? len : sizeof big);
    dns_tcp_reply(tcp, id, big, sizeof big);
}

static void client_send(const struct ipp_flow *f, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
                        uint16_t mss, const uint8_t *d, size_t len)
{
    uint8_t buf[4096];
    size_t n = ipp_build(buf, sizeof buf, f, IPP_TCP, seq, ack, flags, win, mss, d, len);
    struct ipp_packet p;
    if (!n || ipp_parse(buf, n, &p)) {
        diag("cannot build a client segment");
        exit(1);
    }
    dns_tcp_input(tcp, &p);
}

static void test_tcp(void)
{
    loop = loop_new();
    static const struct dns_tcp_ops ops = {tcp_out, tcp_msg};
    tcp = dns_tcp_new(loop, 1280, &ops, NULL);
    struct ipp_flow c = client4;
    nsegs = 0;
    client_send(&c, 5000, 0, TCPF_SYN, 65535, 1000, NULL, 0);
    ok(nsegs == 1 && segs[0].p.flags == (TCPF_SYN | TCPF_ACK) && segs[0].p.ack == 5001 && segs[0].p.mss == 1240 &&
           segs[0].p.flow.sport == 53 && !memcmp(segs[0].p.flow.src, dns_quad100_v4, 4),
       "SYN: SYN-ACK from 100.100.100.100:53 with our MSS");
    uint32_t iss = segs[0].p.seq;
    client_send(&c, 5001, iss + 1, TCPF_ACK, 65535, 0, NULL, 0);
    uint8_t m[40] = {0, 38};
    memset(m + 2, 'q', 38);
    nsegs = 0;
    client_send(&c, 5001, iss + 1, TCPF_ACK | TCPF_PSH, 65535, 0, m, 20); /* the message in two pieces */
    ok(nsegs == 1 && segs[0].p.len == 0 && segs[0].p.ack == 5021, "half a message: acknowledged, no answer yet");
    nsegs = 0;
    client_send(&c, 5021, iss + 1, TCPF_ACK | TCPF_PSH, 65535, 0, m + 20, 20);
    size_t total = 0;
    int within = 1;
    for (size_t i = 0; i < nsegs; i++) {
        total += segs[i].p.len;
        within &= segs[i].p.len <= 1000;
    }
    ok(nsegs == 4 && total == 3002 && within && segs[0].data[0] == 3000 >> 8 && segs[0].data[1] == (3000 & 0xff) &&
           segs[0].data[2] == 'q',
       "the whole message: its 3,000-byte answer in segments within the client's MSS (%zu segments)", nsegs);
    /* lose everything: the timer sends it again */
    size_t before = nsegs;
    nsegs = 0;
    for (int i = 0; i < 20 && !nsegs; i++)
        loop_run_once(loop, 100);
    struct dns_tcp_stats st;
    dns_tcp_get_stats(tcp, &st);
    ok(nsegs >= 1 && segs[0].p.seq == iss + 1 && st.retransmits >= 1,
       "unacknowledged: sent again from the first byte after the RTO (%zu of %zu)", nsegs, before);
    nsegs = 0;
    client_send(&c, 5041, iss + 1 + 3002, TCPF_ACK | TCPF_FIN, 65535, 0, NULL, 0);
    ok(nsegs == 1 && (segs[0].p.flags & TCPF_FIN) && segs[0].p.ack == 5042, "everything acknowledged, FIN: our FIN");
    client_send(&c, 5042, iss + 1 + 3002 + 1, TCPF_ACK, 65535, 0, NULL, 0);
    dns_tcp_get_stats(tcp, &st);
    ok(st.open == 0 && st.closed == 1, "its ACK: the connection is gone");

    /* a stray segment: RST */
    nsegs = 0;
    client_send(&c, 7000, 1234, TCPF_ACK, 65535, 0, m, 10);
    ok(nsegs == 1 && (segs[0].p.flags & TCPF_RST) && segs[0].p.seq == 1234, "a segment for no connection: RST");

    /* the answer is not ready yet; the client goes away (RST): the late answer is dropped */
    answer_now = 0;
    c.sport = 40001;
    nsegs = 0;
    client_send(&c, 100, 0, TCPF_SYN, 65535, 0, NULL, 0);
    iss = segs[0].p.seq;
    client_send(&c, 101, iss + 1, TCPF_ACK | TCPF_PSH, 65535, 0, m, 40);
    client_send(&c, 141, iss + 1, TCPF_RST, 0, 0, NULL, 0);
    ok(dns_tcp_reply(tcp, held_id, m, 40) == -1, "an answer for a connection reset meanwhile: dropped");
    answer_now = 1;

    /* a flood of SYNs: 256 connections, then RST */
    nsegs = 0;
    size_t rst = 0;
    for (int i = 0; i < 300; i++) {
        c.sport = (uint16_t)(20000 + i);
        size_t k = nsegs;
        client_send(&c, 1, 0, TCPF_SYN, 65535, 0, NULL, 0);
        if (nsegs > k && (segs[nsegs - 1].p.flags & TCPF_RST))
            rst++;
        if (nsegs > 60)
            nsegs = 0;
    }
    dns_tcp_get_stats(tcp, &st);
    ok(st.open == 256 && st.refused == 44 && rst == 44, "a SYN flood: 256 connections open, the rest refused");
    dns_tcp_free(tcp);
    loop_free(loop);
}

/* ---- the forwarder against real sockets on loopback ---- */

static int got_answers;
static uint8_t last[65536];
static size_t last_len;
static int last_failed;

static void fwd_done(void *arg, uint64_t token, const uint8_t *reply, size_t len)
{
    got_answers++;
    last_failed = !reply;
    if (reply) {
        memcpy(last, reply, len);
        last_len = len;
    }
}

/* A DNS server on 127.0.0.1: UDP answers with TC set when `truncate`, TCP answers whole. */
struct srv {
    int udp, tcp, conn;
    int truncate;
    int udp_queries, tcp_queries;
};

static void srv_answer(uint8_t *q, size_t len, int tc)
{
    q[2] |= 0x80;
    if (tc)
        q[2] |= 0x02;
}

static void on_srv_udp(struct loop_watch *w, int fd, int ev, void *arg)
{
    struct srv *s = arg;
    uint8_t b[2048];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t r = recvfrom(fd, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
    if (r < 12)
        return;
    s->udp_queries++;
    srv_answer(b, (size_t)r, s->truncate);
    sendto(fd, b, (size_t)r, 0, (struct sockaddr *)&from, fl);
}

static void close_later(void *arg)
{
    close((int)(intptr_t)arg);
}

static void on_srv_conn(struct loop_watch *w, int fd, int ev, void *arg)
{
    struct srv *s = arg;
    uint8_t b[4096];
    ssize_t r = read(fd, b, sizeof b);
    if (r <= 2) {
        loop_watch_free(w);
        loop_defer(loop, close_later, (void *)(intptr_t)fd);
        return;
    }
    s->tcp_queries++;
    srv_answer(b + 2, (size_t)r - 2, 0);
    /* a bigger answer: pad to 2000 bytes */
    uint8_t out[2002];
    memset(out, 0, sizeof out);
    memcpy(out + 2, b + 2, (size_t)r - 2);
    out[0] = 2000 >> 8;
    out[1] = 2000 & 0xff;
    if (write(fd, out, sizeof out) < 0)
        diag("write: %s", strerror(errno));
}

static void on_srv_tcp(struct loop_watch *w, int fd, int ev, void *arg)
{
    int c = accept(fd, NULL, NULL);
    if (c >= 0)
        loop_watch_add(loop, c, LOOP_READ, on_srv_conn, arg);
}

static int wait_answers(int n)
{
    for (int i = 0; i < 200 && got_answers < n; i++)
        loop_run_once(loop, 50);
    return got_answers >= n;
}

static void test_forwarder(void)
{
    loop = loop_new();
    struct srv s = {0};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s.udp = socket(AF_INET, SOCK_DGRAM, 0);
    bind(s.udp, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s.udp, (struct sockaddr *)&a, &al);
    s.tcp = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s.tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s.tcp, (struct sockaddr *)&a, sizeof a) || listen(s.tcp, 8)) {
        skip("no TCP port next to the UDP one");
        skip("-");
        skip("-");
        skip("-");
        loop_free(loop);
        return;
    }
    loop_watch_add(loop, s.udp, LOOP_READ, on_srv_udp, &s);
    loop_watch_add(loop, s.tcp, LOOP_READ, on_srv_tcp, &s);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(a.sin_port));
    struct dns_upstream u[2];
    dns_upstream_parse("127.0.0.1:1", &u[0]); /* nobody: refused at once */
    dns_upstream_parse(addr, &u[1]);
    struct dns_upstreams ups = {u, 2};
    struct dns_fwd *f = dns_fwd_new(loop, fwd_done, NULL);
    dns_fwd_set_timeout(f, 300);
    size_t ql;
    uint8_t *q = query("www.example.org.", LDNS_RR_TYPE_A, 0, &ql);
    dns_fwd_query(f, &ups, q, ql, false, 1);
    ok(wait_answers(1) && !last_failed && last_len == ql && (last[2] & 0x80) && s.udp_queries == 1,
       "a dead upstream, then a live one: its answer");
    s.truncate = 1;
    got_answers = 0;
    dns_fwd_query(f, &ups, q, ql, true, 2);
    ok(wait_answers(1) && !last_failed && last_len == 2000 && s.tcp_queries == 1,
       "for a TCP client, a truncated UDP answer is fetched again over TCP (2,000 bytes)");
    got_answers = 0;
    dns_fwd_query(f, &ups, q, ql, false, 3);
    ok(wait_answers(1) && !last_failed && (last[2] & 0x02), "for a UDP client the truncated answer goes as it is");
    /* a silent upstream: a UDP socket nobody reads */
    int silent = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(silent, (struct sockaddr *)&sa, sizeof sa);
    al = sizeof sa;
    getsockname(silent, (struct sockaddr *)&sa, &al);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    dns_upstream_parse(addr, &u[0]);
    struct dns_upstreams one_up = {u, 1};
    got_answers = 0;
    dns_fwd_query(f, &one_up, q, ql, false, 4);
    struct dns_fwd_stats fs;
    ok(wait_answers(1) && last_failed && (dns_fwd_get_stats(f, &fs), fs.timeouts == 2),
       "a silent upstream: tried twice, then the caller is told (it answers SERVFAIL)");
    /* a flood: the bound */
    got_answers = 0;
    int refused = 0;
    for (int i = 0; i < DNS_FWD_MAX_INFLIGHT + 10; i++)
        refused += dns_fwd_query(f, &one_up, q, ql, false, 100 + (uint64_t)i) != 0;
    dns_fwd_get_stats(f, &fs);
    ok(refused == 10 && fs.inflight == DNS_FWD_MAX_INFLIGHT, "a flood: at most %d queries in flight, the rest refused",
       DNS_FWD_MAX_INFLIGHT);
    dns_fwd_free(f);
    free(q);
    close(silent);
    loop_free(loop);
    close(s.udp);
    close(s.tcp);
}

/* ---- the whole packet path ---- */

static uint8_t injected[8192];
static size_t ninjected;

static void inject(void *arg, uint8_t *pkt, size_t len)
{
    if (len <= sizeof injected) {
        memcpy(injected, pkt, len);
        ninjected = len;
    }
}

static void test_packets(void)
{
    size_t ql;
    uint8_t *q = query("storage.tail.example.", LDNS_RR_TYPE_A, 0, &ql);
    uint8_t pkt[1500];
    size_t n = ipp_build(pkt, sizeof pkt, &client4, IPP_UDP, 0, 0, 0, 0, 0, q, ql);
    ninjected = 0;
    bool taken = dns_service_packet(svc, pkt, n);
    struct ipp_packet p;
    ldns_pkt *a = ninjected && ipp_parse(injected, ninjected, &p) == 0 ? parse(p.payload, p.len) : NULL;
    char got[256] = "";
    if (a)
        answers(a, got, sizeof got);
    ok(taken && a && !strcmp(got, "A 100.64.0.2") && p.flow.sport == 53 && p.flow.dport == 40000 &&
           !memcmp(p.flow.src, dns_quad100_v4, 4) && !memcmp(p.flow.dst, client4.src, 4),
       "a UDP packet to 100.100.100.100:53: answered with a packet back to its sender");
    ldns_pkt_free(a);
    struct ipp_flow stranger = client4;
    stranger.src[3] = 9; /* 100.64.0.9: a peer's address, not ours */
    n = ipp_build(pkt, sizeof pkt, &stranger, IPP_UDP, 0, 0, 0, 0, 0, q, ql);
    ninjected = 0;
    ok(!dns_service_packet(svc, pkt, n) && !ninjected, "from an address not the node's own: dropped");
    struct ipp_flow other_port = client4;
    other_port.dport = 54;
    n = ipp_build(pkt, sizeof pkt, &other_port, IPP_UDP, 0, 0, 0, 0, 0, q, ql);
    ok(!dns_service_packet(svc, pkt, n), "to another port: dropped");
    free(q);
}

int main(void)
{
    plan(68);
    loop = loop_new();
    static const struct dns_service_ops ops = {inject};
    svc = dns_service_new(loop, 1280, &ops, NULL);
    netmap_init(&nm);
    test_names();
    test_packets();
    dns_service_free(svc);
    netmap_free(&nm);
    loop_free(loop);
    test_forwarding();
    test_ippkt();
    test_tcp();
    test_forwarder();
    return tap_failed ? 1 : 0;
}
