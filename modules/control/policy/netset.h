// SPDX-License-Identifier: BSD-3-Clause
/* IP addresses, prefixes and sets of address ranges for the policy compiler.
 *
 * An address is a family (4 or 6) and a 128-bit value (IPv4 in the low 32 bits). A set is a sorted list
 * of disjoint, non-adjacent inclusive ranges, IPv4 before IPv6: the shape Tailscale's control plane
 * prints in a FilterRule (a single address bare, an exact CIDR block as a prefix, anything else as
 * "first-last", e.g. "100.64.0.0-100.115.91.255" for the tailnet range without ChromeOS's block). */
#ifndef WEFT_CONTROL_POLICY_NETSET_H
#define WEFT_CONTROL_POLICY_NETSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 u128;

struct ipaddr {
    uint8_t fam; /* 4 or 6 */
    u128 v;
};

struct ipprefix {
    struct ipaddr a; /* masked: host bits zero */
    uint8_t bits;
};

struct iprange {
    uint8_t fam;
    u128 lo, hi; /* inclusive */
};

struct netset {
    struct iprange *v;
    size_t n, cap;
};

#define NETSET_TEXT_MAX 96 /* "ffff:...:ffff-ffff:...:ffff" + NUL */

/* "100.64.0.1", "fd7a::1" (no zone, no brackets). 0 or -1. */
int ip_parse(const char *s, size_t len, struct ipaddr *out);
/* "10.0.0.0/8", "fd7a:115c:a1e0::/48", or a bare address (a full-length prefix). With strict, host
 * bits must be zero ("10.1.0.0/8" is refused); without, they are cleared. 0 or -1. */
int prefix_parse(const char *s, size_t len, bool strict, struct ipprefix *out);
/* Writes the address / prefix text into out (NETSET_TEXT_MAX); returns out. */
char *ip_format(const struct ipaddr *a, char *out);
char *prefix_format(const struct ipprefix *p, char *out);
static inline int ip_bits(uint8_t fam) { return fam == 4 ? 32 : 128; }
struct iprange prefix_range(const struct ipprefix *p);
bool prefix_is_single(const struct ipprefix *p);
int ip_cmp(const struct ipaddr *a, const struct ipaddr *b);
bool prefix_contains(const struct ipprefix *p, const struct ipaddr *a);
bool prefix_overlaps(const struct ipprefix *a, const struct ipprefix *b);

void netset_init(struct netset *s);
void netset_free(struct netset *s);
void netset_clear(struct netset *s);
/* Adds a range and keeps the set normalized. 0, or -1 if out of memory. */
int netset_add_range(struct netset *s, const struct iprange *r);
int netset_add_prefix(struct netset *s, const struct ipprefix *p);
int netset_add_ip(struct netset *s, const struct ipaddr *a);
int netset_add_set(struct netset *s, const struct netset *o);
/* Removes every address of r. 0 or -1. */
int netset_remove_range(struct netset *s, const struct iprange *r);
int netset_remove_prefix(struct netset *s, const struct ipprefix *p);
bool netset_contains(const struct netset *s, const struct ipaddr *a);
bool netset_overlaps_range(const struct netset *s, const struct iprange *r);
bool netset_covers_range(const struct netset *s, const struct iprange *r);
/* The text of range i in Tailscale's form (bare address, CIDR, or "a-b"). */
char *netset_range_text(const struct iprange *r, char *out);
/* Same, but an exact CIDR block is written as a prefix ("fd7a:115c:a1e0::/48"). */
char *netset_range_text_cidr(const struct iprange *r, char *out);
/* Whether r is exactly one CIDR block (into out). */
bool iprange_prefix(const struct iprange *r, struct ipprefix *out);
/* Parses the text forms netset_range_text writes ("*" is not one). 0 or -1. */
int iprange_parse(const char *s, size_t len, struct iprange *out);

/* The address ranges Tailscale's control plane means by "*" in a source (the tailnet's CGNAT range
 * without ChromeOS's 100.115.92.0/23, and the tailnet ULA /48) and by autogroup:internet (every public
 * address: IPv4 outside private, CGNAT and link-local blocks; IPv6 2000::/3). */
int netset_tailnet_all(struct netset *s);
int netset_internet(struct netset *s);

#endif
