// SPDX-License-Identifier: BSD-3-Clause
/* The resolver's decisions, without sockets: one DNS message in, either an answer out (from the zone, or an
 * error) or "forward it to these upstreams" (spec netmap.md §6: ExtraRecords and node names here; Routes by
 * longest suffix; else Resolvers; else the resolvers the machine had; else FallbackResolvers). Messages are
 * read and written with ldns. Answers that do not fit the client's limit are truncated (TC, no records) so
 * it asks again over TCP. */
#ifndef WEFT_NODE_DNS_RESOLVER_H
#define WEFT_NODE_DNS_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct dns_zone;
struct tc_dns_config;

/* One upstream resolver: a UDP/TCP address (port 53 unless given), or a DNS-over-HTTPS URL. */
struct dns_upstream {
    char text[256]; /* as configured */
    bool doh;       /* text is an https:// URL */
    struct sockaddr_storage sa;
    socklen_t salen;
};

struct dns_upstreams {
    struct dns_upstream *v;
    size_t n;
};

struct dns_route {
    char *suffix; /* canonical */
    struct dns_upstreams up;
};

/* What the node's resolver does with what it cannot answer itself. */
struct dns_forwarding {
    struct dns_route *routes; /* with resolvers (routes without are local domains, in the zone) */
    size_t nroutes;
    struct dns_upstreams resolvers, fallback, os;
};

/* Parse "1.1.1.1", "1.1.1.1:5353", "[2001:db8::1]:53", "2001:db8::1", "https://..." into u. 0 or -1
 * (tls:// and other forms are not supported). */
int dns_upstream_parse(const char *text, struct dns_upstream *u);

/* Fill f from a DNSConfig (routes with resolvers, Resolvers, FallbackResolvers; f->os is kept). Upstreams
 * that cannot be used (e.g. tls://) are left out and named in skipped (comma-separated, may be cut). */
int dns_forwarding_set(struct dns_forwarding *f, const struct tc_dns_config *d, char *skipped, size_t cap);
void dns_forwarding_clear(struct dns_forwarding *f); /* everything but f->os */
void dns_upstreams_free(struct dns_upstreams *u);

/* Where a name goes: the longest route suffix that matches, else resolvers, else os, else fallback; NULL
 * (an empty list) if nowhere. name: canonical (lowercase, no trailing dot). */
const struct dns_upstreams *dns_forwarding_pick(const struct dns_forwarding *f, const char *name);

enum dns_verdict {
    DNS_DROP,    /* not a query we answer at all (a response, or too short for a header) */
    DNS_REPLY,   /* *reply holds the answer (malloc'd) */
    DNS_FORWARD, /* send the query, unchanged, to *up (tried in order) */
};

struct dns_stats {
    uint64_t queries, local, nxdomain, forwarded, truncated, malformed, refused;
};

/* Handle one query. udp_cap: 0 for a query over TCP (answers up to 65535 bytes), else the largest UDP answer
 * the path carries; the client's own limit is its EDNS size or 512. *limit gets the limit that applies (for
 * a forwarded answer), over which an answer is truncated. */
enum dns_verdict dns_handle(const struct dns_zone *z, const struct dns_forwarding *f, const uint8_t *msg,
                            size_t len, size_t udp_cap, size_t *limit, uint8_t **reply, size_t *replylen,
                            const struct dns_upstreams **up, struct dns_stats *st);

/* A forwarded answer that is larger than max: a copy of its header and question with TC set (malloc'd),
 * NULL if it cannot be read. */
uint8_t *dns_truncate(const uint8_t *msg, size_t len, size_t max, size_t *outlen);
/* SERVFAIL for a query (no upstream answered); NULL if the query cannot be read. */
uint8_t *dns_servfail(const uint8_t *query, size_t len, size_t *outlen);

#endif
