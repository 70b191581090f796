// SPDX-License-Identifier: BSD-3-Clause
/* MagicDNS on the node: the resolver at 100.100.100.100 and fd7a:115c:a1e0::53 (spec netmap.md §6). The
 * data plane hands it every packet the OS sends to those addresses (they are never a peer's, and no socket
 * listens on them: only this machine reaches them, through its TUN); UDP queries are answered in the packet
 * path, TCP through a minimal responder (tcp.h). Names come from the netmap and the DNSConfig (zone.h),
 * decisions from resolver.h, upstream queries go out through forward.h. The OS is pointed at it by os.h. */
#ifndef WEFT_NODE_DNS_H
#define WEFT_NODE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct netmap;
struct tc_dns_config;
struct jbuf;

extern const uint8_t dns_quad100_v4[4];
extern const uint8_t dns_quad100_v6[16];

struct dns_service_ops {
    /* an answer packet for the OS: write it to the TUN (the buffer may be rewritten there) */
    void (*inject)(void *arg, uint8_t *pkt, size_t len);
};

struct dns_service;

/* path_mtu: the TUN's MTU. */
struct dns_service *dns_service_new(struct loop *l, unsigned path_mtu, const struct dns_service_ops *ops,
                                    void *arg);
void dns_service_free(struct dns_service *s);

/* A packet from the OS to 100.100.100.100 / fd7a:115c:a1e0::53. true if it was taken (answered, or will
 * be), false to drop it (not UDP/TCP to port 53, malformed, or not from this node's own addresses). */
bool dns_service_packet(struct dns_service *s, const uint8_t *pkt, size_t len);

/* The DNSConfig of the last map that carried one (NULL: none yet, or cleared); copied. */
void dns_service_set_config(struct dns_service *s, const struct tc_dns_config *d);
/* The netmap changed (names, addresses, peers): the names are built again (with the current config). */
void dns_service_set_netmap(struct dns_service *s, const struct netmap *nm);
/* The resolvers the machine had before we changed anything ("1.1.1.1", "[::1]:53"); used when DNSConfig
 * has no global Resolvers. */
void dns_service_set_os_resolvers(struct dns_service *s, char *const *addrs, size_t n);
/* DNS-over-HTTPS upstreams are checked against the CA file *path (dns_fwd_set_ca_file). */
void dns_service_set_ca_file(struct dns_service *s, char *const *path);

/* What the OS should be told (os.h): the search domains (MagicDNS suffix first), the domains whose names
 * go to us (split DNS and the suffix), and whether every name should (global resolvers configured). */
struct dns_os_wants {
    bool enabled; /* a config with MagicDNS, Resolvers or Routes arrived */
    char **search;
    size_t nsearch;
    char **match;
    size_t nmatch;
    bool default_route;
};
/* Filled from the current config; free with dns_os_wants_free. */
void dns_service_os_wants(const struct dns_service *s, struct dns_os_wants *w);
void dns_os_wants_free(struct dns_os_wants *w);
bool dns_os_wants_equal(const struct dns_os_wants *a, const struct dns_os_wants *b);

/* The status as JSON fields (inside an object the caller opened): suffix, names, routes, resolvers,
 * counters. */
void dns_service_status(const struct dns_service *s, struct jbuf *b);

/* Tests and benchmarks: answer one query as if it came over UDP from the OS (no IP headers): the answer in
 * out (cap bytes), its length; 0 if forwarded or dropped. */
size_t dns_service_query(struct dns_service *s, const uint8_t *q, size_t len, uint8_t *out, size_t cap);

#endif
