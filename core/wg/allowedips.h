// SPDX-License-Identifier: BSD-3-Clause
/* Allowed IPs: the routing table of a WireGuard device. Longest-prefix match of an IPv4 or IPv6 address
 * to the peer that owns the prefix (cryptokey routing, whitepaper §2), and the reverse check on receive
 * (the inner source must be one of the sending peer's prefixes).
 *
 * One hash table of (family, prefix length, masked address) and, per family, the list of prefix lengths
 * in use: a lookup probes the lengths in use from the longest down, so it costs a few hash probes (a
 * tailnet uses /32 and /128, subnet routes add a handful more). Each owner (a peer) keeps the list of its
 * own prefixes, in insertion order, for listing and removal. Single-threaded; no allocation on lookup. */
#ifndef WEFT_WG_ALLOWEDIPS_H
#define WEFT_WG_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in whatever owns prefixes (struct wg_peer); the table links the owner's entries through it. */
struct wg_aip_owner {
    uint32_t head, tail; /* entry index + 1, 0 = none */
    uint32_t count;
};

struct wg_aip_entry {
    uint8_t addr[16]; /* masked to cidr */
    uint8_t family;   /* 4 or 6 */
    uint8_t cidr;
    uint32_t next, prev; /* the owner's list, index + 1; next doubles as the free list */
    struct wg_aip_owner *owner; /* NULL: free slot */
};

struct wg_allowedips {
    struct wg_aip_entry *e;
    uint32_t n_e, cap_e, free_head;
    uint32_t *slots; /* entry index + 1; 0 empty, UINT32_MAX deleted */
    uint32_t n_slots, used, tombs;
    uint64_t seed;
    uint32_t len_count[2][129]; /* entries per (family, cidr) */
    uint8_t lens[2][129];       /* the cidrs in use, longest first */
    uint8_t n_lens[2];
};

void wg_aip_init(struct wg_allowedips *t);
void wg_aip_free(struct wg_allowedips *t);

/* family 4 (addr 4 bytes) or 6 (16 bytes). The address is masked to cidr. An existing equal prefix
 * changes owner (as WireGuard: a prefix belongs to one peer). 0, or -1 (bad cidr / family / no memory). */
int wg_aip_insert(struct wg_allowedips *t, int family, const uint8_t *addr, unsigned cidr,
                  struct wg_aip_owner *owner);
/* Remove one prefix if `owner` owns it (any owner when NULL). 0 if removed, -1 if absent. */
int wg_aip_remove(struct wg_allowedips *t, int family, const uint8_t *addr, unsigned cidr,
                  struct wg_aip_owner *owner);
/* Remove every prefix of an owner. */
void wg_aip_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner);
/* The owner of the longest prefix containing addr, or NULL. */
struct wg_aip_owner *wg_aip_lookup(const struct wg_allowedips *t, int family, const uint8_t *addr);

/* Iterate an owner's prefixes: for (i = o->head; i; i = wg_aip_next(t, i)) { e = wg_aip_at(t, i); } */
static inline const struct wg_aip_entry *wg_aip_at(const struct wg_allowedips *t, uint32_t it)
{
    return &t->e[it - 1];
}
static inline uint32_t wg_aip_next(const struct wg_allowedips *t, uint32_t it)
{
    return t->e[it - 1].next;
}

/* Parse "10.0.0.0/8", "fd00::/64", or a bare address (full length). 0 or -1. */
int wg_aip_parse(const char *text, int *family, uint8_t addr[16], unsigned *cidr);
/* Format an entry as "10.0.0.0/8" into buf (>= 50 bytes). */
char *wg_aip_format(const struct wg_aip_entry *e, char *buf, size_t cap);

#endif
