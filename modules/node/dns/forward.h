// SPDX-License-Identifier: BSD-3-Clause
/* Queries the node's resolver does not answer itself go to upstream resolvers: over UDP from a fresh
 * connected socket per query (a random source port, and only the upstream's own datagrams are read), over
 * TCP when the client asked over TCP and the UDP answer was truncated, and over HTTPS (RFC 8484 POST) for
 * a DNS-over-HTTPS URL. Upstreams are tried in order, each with a timeout; when none answers the caller is
 * told (and answers SERVFAIL). The number of queries in flight is bounded: a flood gets SERVFAIL at once
 * instead of using up the process's descriptors. */
#ifndef WEFT_NODE_DNS_FORWARD_H
#define WEFT_NODE_DNS_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/node/dns/resolver.h"

struct loop;
struct dns_fwd;

/* reply NULL: no upstream answered (or the query could not be sent). Valid during the call. */
typedef void (*dns_fwd_done)(void *arg, uint64_t token, const uint8_t *reply, size_t len);

struct dns_fwd_stats {
    uint64_t sent, answered, failed, timeouts, tcp_retries, refused_busy;
    size_t inflight;
};

#define DNS_FWD_MAX_INFLIGHT 512

struct dns_fwd *dns_fwd_new(struct loop *l, dns_fwd_done done, void *arg);
/* Cancel everything in flight (no callbacks) and free. */
void dns_fwd_free(struct dns_fwd *f);

/* Send query (copied) to up (copied: a config change does not disturb it). tcp: the client came over TCP
 * (a truncated UDP answer is asked again over TCP). 0, or -1 if it cannot be started (too many in flight):
 * no callback then. With 0 the callback comes exactly once, possibly before this returns (nothing could be
 * sent). */
int dns_fwd_query(struct dns_fwd *f, const struct dns_upstreams *up, const uint8_t *query, size_t len, bool tcp,
                  uint64_t token);

void dns_fwd_get_stats(const struct dns_fwd *f, struct dns_fwd_stats *st);

/* CA certificates (a PEM file) DNS-over-HTTPS servers are checked against instead of the system's: *path
 * is read at each query (a pointer into the node's configuration, which a reload may change; NULL or an
 * empty string: the system's). */
void dns_fwd_set_ca_file(struct dns_fwd *f, char *const *path);

/* Tests: the per-upstream timeout (default 1500 ms for UDP, twice that for TCP and HTTPS). */
void dns_fwd_set_timeout(struct dns_fwd *f, unsigned ms);

#endif
