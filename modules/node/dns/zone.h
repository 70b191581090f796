// SPDX-License-Identifier: BSD-3-Clause
/* The names the node's resolver answers itself (spec netmap.md §6): every visible peer's and the node's own
 * FQDN and short name (the first label, when the FQDN is under the MagicDNS suffix) with their addresses,
 * the control server's ExtraRecords, and the reverse (PTR) names of tailnet addresses. Built whole from the
 * netmap and the DNSConfig each time either changes (a few microseconds per thousand peers), then only
 * read. Names are kept lowercase, without the trailing dot. Pure data: no I/O. */
#ifndef WEFT_NODE_DNS_ZONE_H
#define WEFT_NODE_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "core/wire/dnsrec.h" /* dns_name_canon */

struct dns_zone;

struct dns_zone *dns_zone_new(void);
void dns_zone_free(struct dns_zone *z);

/* The MagicDNS suffix ("tailnet.example", no dots at the ends): short names of nodes under it resolve too,
 * and every name under it that is not known is NXDOMAIN. */
int dns_zone_set_suffix(struct dns_zone *z, const char *suffix);
const char *dns_zone_suffix(const struct dns_zone *z);
/* A domain answered here only (a DNSConfig route with no resolvers): unknown names under it are NXDOMAIN. */
int dns_zone_add_local_domain(struct dns_zone *z, const char *domain);

/* A node: its FQDN (trailing dot optional) and its addresses (family 4 or 6, 4 or 16 bytes each). Its
 * short name is added too when the FQDN is directly under the suffix and no other node has that short name
 * yet (the first comes first, as Tailscale's clients do). 0, or -1 if the name is not a valid DNS name or
 * out of memory. */
int dns_zone_add_node(struct dns_zone *z, const char *fqdn, const uint8_t (*addrs)[17], size_t naddrs);
/* An extra record (DNSConfig.ExtraRecords): type "" means A or AAAA by the value; A, AAAA, CNAME, TXT,
 * MX, SRV, PTR, NS are understood (value in zone-file syntax for the type). 0, or -1 with a reason. */
int dns_zone_add_record(struct dns_zone *z, const char *name, const char *type, const char *value, char *err,
                        size_t errlen);

enum dns_zone_result {
    DNS_ZONE_NOT_OURS, /* forward it */
    DNS_ZONE_ANSWER,   /* rrs appended (may be none: the name exists, not with that type) */
    DNS_ZONE_NXDOMAIN, /* under a local domain, and unknown */
};

/* Answer (qname, qtype) from the zone: matching records are cloned onto answer (owner = the query's name as
 * asked, CNAMEs in the zone followed a few steps). qname: an ldns dname as parsed from the query. */
enum dns_zone_result dns_zone_lookup(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                                     ldns_rr_list *answer);

/* Number of names (for status). */
size_t dns_zone_names(const struct dns_zone *z);

#endif
