// SPDX-License-Identifier: BSD-3-Clause
/* Tailnet address allocation (spec netmap.md §7): one IPv4 and one IPv6 address per node from configurable
 * prefixes inside 100.64.0.0/10 and fd7a:115c:a1e0::/48.
 *
 * Sequential: each allocation takes the first free address after the last one handed out, wrapping
 * around at the end of the prefix, so a freed address is reused only once the rest of the prefix has been
 * handed out (peers' caches of a departed node's address have long expired by then). Never hands out an
 * address held by a node (the caller loads them at startup with ipalloc_reserve / ipalloc_load_cb from
 * store_addrs_in_use, and releases a deleted node's addresses) nor a reserved one:
 *   IPv4: the prefix's first and last address, every address ending in .0 or .255 (they look like
 *         network/broadcast addresses and some stacks mishandle them), 100.100.100.0/24 (Tailscale service
 *         addresses: 100.100.100.100 is MagicDNS), 100.115.92.0/23 (ChromeOS VMs).
 *   IPv6: the prefix's first address, fd7a:115c:a1e0::53 (MagicDNS), fd7a:115c:a1e0:b1a::/64 (4via6),
 *         fd7a:115c:a1e0:ab12:4843:cd96:6200::/104 (4to6), fd7a:115c:a1e0:efe3::/64 (ephemeral v6).
 * The IPv6 address is derived from the IPv4 one when possible (v6 = prefix6 + the IPv4 address's offset in
 * prefix4: 100.64.0.7 -> fd7a:115c:a1e0::7), else the next free one.
 *
 * IPv4 uses a bitmap over the prefix (512 KiB for a /10), IPv6 a hash set of held addresses: allocation,
 * release and lookup are O(1) amortized, independent of the number of nodes. Not thread-safe (control's
 * loop thread only). */
#ifndef WEFT_CONTROL_IPALLOC_H
#define WEFT_CONTROL_IPALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPALLOC_DEFAULT_V4 "100.64.0.0/10"
#define IPALLOC_DEFAULT_V6 "fd7a:115c:a1e0::/48"

struct ipalloc;

struct ipalloc_pair {
    bool has4, has6;
    uint8_t v4[4];
    uint8_t v6[16];
};

/* prefix4 / prefix6: CIDR text; NULL disables that family (at least one is needed). The IPv4 prefix must
 * lie in 100.64.0.0/10 and be /10../30, the IPv6 one in fd7a:115c:a1e0::/48 and be /48../120: other ranges
 * break clients. NULL on error, with the reason in err. */
struct ipalloc *ipalloc_new(const char *prefix4, const char *prefix6, char *err, size_t errlen);
void ipalloc_free(struct ipalloc *a);

/* Allocates one address of each enabled family (both or neither). 0, or -1 when a prefix is exhausted
 * (ipalloc_error says which). */
int ipalloc_next(struct ipalloc *a, struct ipalloc_pair *out);

/* Marks an address as held (family 4 or 6). Returns 0, 1 if it was already held, -1 if it is outside the
 * family's prefix or that family is disabled (then nothing is recorded: the caller may keep such an
 * address for an old node but the allocator ignores it). Allocation continues after the highest address
 * reserved so far, so that loading the held addresses at startup resumes where the last run stopped. */
int ipalloc_reserve(struct ipalloc *a, int family, const uint8_t *addr);
/* store_addr_cb adapter for store_addrs_in_use(s, ipalloc_load_cb, a). */
void ipalloc_load_cb(void *ctx, int family, const uint8_t *addr);
/* Returns an address to the pool. 0, or -1 if it was not held. */
int ipalloc_release(struct ipalloc *a, int family, const uint8_t *addr);
void ipalloc_release_pair(struct ipalloc *a, const struct ipalloc_pair *p);

bool ipalloc_is_held(const struct ipalloc *a, int family, const uint8_t *addr);
/* Whether the address is one the allocator never hands out (the list above), given its prefixes. */
bool ipalloc_is_reserved(const struct ipalloc *a, int family, const uint8_t *addr);
/* Addresses held (not counting reserved ones) and, for IPv4, how many more can be handed out. */
size_t ipalloc_held(const struct ipalloc *a, int family);
uint64_t ipalloc_available4(const struct ipalloc *a);

const char *ipalloc_error(const struct ipalloc *a);

/* Parses "a.b.c.d/n" or "x:y::/n" into family (4/6), 16-byte address (IPv4 in the first 4) and length;
 * rejects host bits set. 0 or -1. */
int ipalloc_parse_prefix(const char *s, int *family, uint8_t addr[16], int *plen);

#endif
