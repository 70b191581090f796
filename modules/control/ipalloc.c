// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/ipalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct v6set {
    uint8_t (*slot)[16]; /* all-zero = empty (:: is never in the pool) */
    size_t cap, n;       /* cap is a power of two; n < cap / 2 */
};

struct ipalloc {
    bool has4, has6;
    /* IPv4: offsets 0..size4-1 from base4; bit set = held or reserved. */
    uint32_t base4;
    int plen4;
    uint64_t size4;
    uint64_t *bits;
    size_t nwords;
    uint64_t taken4;   /* set bits inside the prefix (held + reserved) */
    uint64_t held4;
    uint64_t cursor4;  /* offset of the next candidate */
    /* IPv6 */
    uint8_t base6[16];
    int plen6;
    uint64_t size6;    /* addresses we may hand out: offsets 1..size6-1 in the low 64 bits */
    uint64_t cursor6;
    struct v6set held6;
    char err[160];
};

static const uint8_t ts_ula[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};

/* Reserved IPv6 prefixes (inside fd7a:115c:a1e0::/48). */
static const struct {
    uint8_t a[16];
    int plen;
} rsv6[] = {
    {{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53}, 128}, /* MagicDNS */
    {{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0x0b, 0x1a}, 64},                       /* 4via6 */
    {{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0xab, 0x12, 0x48, 0x43, 0xcd, 0x96, 0x62}, 104}, /* 4to6 */
    {{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0xef, 0xe3}, 64},                       /* ephemeral v6 */
};

static bool prefix_contains(const uint8_t *pfx, int plen, const uint8_t *addr)
{
    int full = plen / 8, rem = plen % 8;
    if (memcmp(pfx, addr, (size_t)full) != 0)
        return false;
    if (rem) {
        uint8_t m = (uint8_t)(0xff << (8 - rem));
        if ((pfx[full] & m) != (addr[full] & m))
            return false;
    }
    return true;
}

int ipalloc_parse_prefix(const char *s, int *family, uint8_t addr[16], int *plen)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = 0;
    char *end;
    if (!slash[1] || slash[1] == '-' || slash[1] == '+')
        return -1;
    long n = strtol(slash + 1, &end, 10);
    if (*end)
        return -1;
    memset(addr, 0, 16);
    int max;
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = 4;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = 6;
        max = 128;
    } else {
        return -1;
    }
    if (n < 0 || n > max)
        return -1;
    /* No host bits. */
    for (int i = (int)n; i < max; i++)
        if (addr[i / 8] & (0x80 >> (i % 8)))
            return -1;
    *plen = (int)n;
    return 0;
}

/* ---- IPv6 hash set ---- */

static size_t v6hash(const uint8_t *a, size_t mask)
{
    uint64_t lo, hi;
    memcpy(&hi, a, 8);
    memcpy(&lo, a + 8, 8);
    /* MurmurHash3's finalizer: the bits that vary between tailnet addresses are the last bytes, i.e. the
     * top of `lo` on little-endian hosts; the first shift folds them into the bits the mask keeps. */
    uint64_t h = lo ^ (hi * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (size_t)h & mask;
}

static bool v6zero(const uint8_t *a)
{
    static const uint8_t z[16];
    return memcmp(a, z, 16) == 0;
}

static size_t v6find(const struct v6set *s, const uint8_t *a, bool *found)
{
    size_t mask = s->cap - 1, i = v6hash(a, mask);
    while (!v6zero(s->slot[i])) {
        if (memcmp(s->slot[i], a, 16) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

static int v6grow(struct v6set *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    uint8_t (*ns)[16] = calloc(ncap, 16);
    if (!ns)
        return -1;
    struct v6set t = {ns, ncap, 0};
    for (size_t i = 0; i < s->cap; i++)
        if (!v6zero(s->slot[i])) {
            bool f;
            size_t j = v6find(&t, s->slot[i], &f);
            memcpy(t.slot[j], s->slot[i], 16);
            t.n++;
        }
    free(s->slot);
    *s = t;
    return 0;
}

static bool v6has(const struct v6set *s, const uint8_t *a)
{
    bool f = false;
    if (s->cap)
        v6find(s, a, &f);
    return f;
}

/* 0 added, 1 already there, -1 no memory. */
static int v6add(struct v6set *s, const uint8_t *a)
{
    if ((s->n + 1) * 2 > s->cap && v6grow(s) < 0)
        return -1;
    bool f;
    size_t i = v6find(s, a, &f);
    if (f)
        return 1;
    memcpy(s->slot[i], a, 16);
    s->n++;
    return 0;
}

/* Linear probing with backward-shift deletion: no tombstones, lookups stay short. */
static int v6del(struct v6set *s, const uint8_t *a)
{
    bool f = false;
    if (!s->cap)
        return -1;
    size_t mask = s->cap - 1, i = v6find(s, a, &f);
    if (!f)
        return -1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (v6zero(s->slot[j]))
            break;
        size_t k = v6hash(s->slot[j], mask);
        /* Move slot j back to i unless its home k lies cyclically in (i, j]. */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            memcpy(s->slot[i], s->slot[j], 16);
            i = j;
        }
    }
    memset(s->slot[i], 0, 16);
    s->n--;
    return 0;
}

/* ---- IPv4 bitmap ---- */

static inline bool bit_get(const struct ipalloc *a, uint64_t off)
{
    return a->bits[off >> 6] >> (off & 63) & 1;
}
static inline void bit_set(struct ipalloc *a, uint64_t off) { a->bits[off >> 6] |= 1ULL << (off & 63); }
static inline void bit_clr(struct ipalloc *a, uint64_t off) { a->bits[off >> 6] &= ~(1ULL << (off & 63)); }

static bool v4_reserved_addr(const struct ipalloc *a, uint32_t ip)
{
    uint64_t off = ip - a->base4;
    if (off == 0 || off == a->size4 - 1)
        return true;
    if ((ip & 0xff) == 0 || (ip & 0xff) == 0xff)
        return true;
    if ((ip & 0xffffff00u) == 0x64646400u) /* 100.100.100.0/24 */
        return true;
    if ((ip & 0xfffffe00u) == 0x64735c00u) /* 100.115.92.0/23 */
        return true;
    return false;
}

static uint32_t ld32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* First clear bit at or after `from`, wrapping; the caller guarantees one exists. */
static uint64_t v4_scan(const struct ipalloc *a, uint64_t from)
{
    size_t w = (size_t)(from >> 6);
    uint64_t word = ~a->bits[w] & (~0ULL << (from & 63));
    for (size_t step = 0; step <= a->nwords; step++) {
        if (word)
            return ((uint64_t)w << 6) + (uint64_t)__builtin_ctzll(word);
        w = w + 1 == a->nwords ? 0 : w + 1;
        word = ~a->bits[w];
    }
    return UINT64_MAX;
}

/* ---- IPv6 offsets ---- */

static void v6_at(const struct ipalloc *a, uint64_t off, uint8_t out[16])
{
    memcpy(out, a->base6, 16);
    uint64_t lo = 0;
    for (int i = 8; i < 16; i++)
        lo = lo << 8 | out[i];
    lo += off; /* base has no host bits and off < size6 <= 2^(128-plen): no carry out of the prefix */
    for (int i = 15; i >= 8; i--) {
        out[i] = (uint8_t)lo;
        lo >>= 8;
    }
}

static bool v6_reserved_addr(const struct ipalloc *a, const uint8_t *addr)
{
    if (memcmp(addr, a->base6, 16) == 0)
        return true;
    for (size_t i = 0; i < sizeof(rsv6) / sizeof(rsv6[0]); i++)
        if (prefix_contains(rsv6[i].a, rsv6[i].plen, addr))
            return true;
    return false;
}

/* ---- public ---- */

struct ipalloc *ipalloc_new(const char *prefix4, const char *prefix6, char *err, size_t errlen)
{
    struct ipalloc *a = calloc(1, sizeof(*a));
    uint8_t addr[16];
    int fam, plen;
    if (!a) {
        snprintf(err, errlen, "ipalloc: out of memory");
        return NULL;
    }
    if (!prefix4 && !prefix6) {
        snprintf(err, errlen, "ipalloc: no address prefix configured (need IPv4, IPv6 or both)");
        goto fail;
    }
    if (prefix4) {
        static const uint8_t cgnat[4] = {100, 64, 0, 0};
        if (ipalloc_parse_prefix(prefix4, &fam, addr, &plen) < 0 || fam != 4) {
            snprintf(err, errlen, "ipalloc: '%s' is not an IPv4 prefix (like %s, no host bits)", prefix4,
                     IPALLOC_DEFAULT_V4);
            goto fail;
        }
        if (plen < 10 || plen > 30 || !prefix_contains(cgnat, 10, addr)) {
            snprintf(err, errlen, "ipalloc: IPv4 prefix %s must be inside %s and between /10 and /30 "
                     "(Tailscale clients assume the CGNAT range)", prefix4, IPALLOC_DEFAULT_V4);
            goto fail;
        }
        a->has4 = true;
        a->base4 = ld32(addr);
        a->plen4 = plen;
        a->size4 = 1ULL << (32 - plen);
        a->nwords = (size_t)((a->size4 + 63) / 64);
        if (!(a->bits = calloc(a->nwords, sizeof(uint64_t)))) {
            snprintf(err, errlen, "ipalloc: out of memory");
            goto fail;
        }
        for (uint64_t off = 0; off < a->size4; off++)
            if (v4_reserved_addr(a, a->base4 + (uint32_t)off)) {
                bit_set(a, off);
                a->taken4++;
            }
        /* Padding bits past the prefix in the last word (prefixes smaller than 64 addresses). */
        for (uint64_t off = a->size4; off < (uint64_t)a->nwords * 64; off++)
            bit_set(a, off);
        if (a->taken4 == a->size4) {
            snprintf(err, errlen, "ipalloc: IPv4 prefix %s has no usable address", prefix4);
            goto fail;
        }
        a->cursor4 = 1;
    }
    if (prefix6) {
        if (ipalloc_parse_prefix(prefix6, &fam, addr, &plen) < 0 || fam != 6) {
            snprintf(err, errlen, "ipalloc: '%s' is not an IPv6 prefix (like %s, no host bits)", prefix6,
                     IPALLOC_DEFAULT_V6);
            goto fail;
        }
        if (plen < 48 || plen > 120 || !prefix_contains(ts_ula, 48, addr)) {
            snprintf(err, errlen, "ipalloc: IPv6 prefix %s must be inside %s and between /48 and /120",
                     prefix6, IPALLOC_DEFAULT_V6);
            goto fail;
        }
        for (size_t i = 0; i < sizeof(rsv6) / sizeof(rsv6[0]); i++)
            if (rsv6[i].plen <= plen && prefix_contains(rsv6[i].a, rsv6[i].plen, addr)) {
                snprintf(err, errlen, "ipalloc: IPv6 prefix %s lies in a range Tailscale reserves", prefix6);
                goto fail;
            }
        a->has6 = true;
        memcpy(a->base6, addr, 16);
        a->plen6 = plen;
        /* Hand out offsets in the low 64 bits only: that is plenty, and keeps clear of the reserved /64s. */
        a->size6 = plen > 64 ? 1ULL << (128 - plen) : UINT64_MAX;
        a->cursor6 = 1;
    }
    return a;
fail:
    ipalloc_free(a);
    return NULL;
}

void ipalloc_free(struct ipalloc *a)
{
    if (!a)
        return;
    free(a->bits);
    free(a->held6.slot);
    free(a);
}

const char *ipalloc_error(const struct ipalloc *a) { return a->err; }

static bool v4_in(const struct ipalloc *a, const uint8_t *addr, uint64_t *off)
{
    if (!a->has4)
        return false;
    uint32_t ip = ld32(addr);
    if ((uint64_t)(ip - a->base4) >= a->size4 || ip < a->base4)
        return false;
    *off = ip - a->base4;
    return true;
}

static bool v6_in(const struct ipalloc *a, const uint8_t *addr)
{
    return a->has6 && prefix_contains(a->base6, a->plen6, addr) && !v6zero(addr);
}

bool ipalloc_is_reserved(const struct ipalloc *a, int family, const uint8_t *addr)
{
    uint64_t off;
    if (family == 4)
        return v4_in(a, addr, &off) ? v4_reserved_addr(a, ld32(addr)) : false;
    if (family == 6)
        return v6_in(a, addr) && v6_reserved_addr(a, addr);
    return false;
}

bool ipalloc_is_held(const struct ipalloc *a, int family, const uint8_t *addr)
{
    uint64_t off;
    if (family == 4)
        return v4_in(a, addr, &off) && bit_get(a, off) && !v4_reserved_addr(a, ld32(addr));
    if (family == 6)
        return v6_in(a, addr) && v6has(&a->held6, addr);
    return false;
}

int ipalloc_reserve(struct ipalloc *a, int family, const uint8_t *addr)
{
    uint64_t off;
    if (family == 4) {
        if (!v4_in(a, addr, &off))
            return -1;
        if (off + 1 > a->cursor4)
            a->cursor4 = off + 1; /* ipalloc_next wraps a cursor past the end */
        if (bit_get(a, off))
            return 1; /* held, or reserved (an old node may keep such an address: nothing to track) */
        bit_set(a, off);
        a->taken4++;
        a->held4++;
        return 0;
    }
    if (family == 6) {
        if (!v6_in(a, addr))
            return -1;
        return v6add(&a->held6, addr);
    }
    return -1;
}

void ipalloc_load_cb(void *ctx, int family, const uint8_t *addr) { ipalloc_reserve(ctx, family, addr); }

int ipalloc_release(struct ipalloc *a, int family, const uint8_t *addr)
{
    uint64_t off;
    if (family == 4) {
        if (!v4_in(a, addr, &off) || !bit_get(a, off) || v4_reserved_addr(a, ld32(addr)))
            return -1;
        bit_clr(a, off);
        a->taken4--;
        a->held4--;
        return 0;
    }
    if (family == 6)
        return v6_in(a, addr) ? v6del(&a->held6, addr) : -1;
    return -1;
}

void ipalloc_release_pair(struct ipalloc *a, const struct ipalloc_pair *p)
{
    if (p->has4)
        ipalloc_release(a, 4, p->v4);
    if (p->has6)
        ipalloc_release(a, 6, p->v6);
}

size_t ipalloc_held(const struct ipalloc *a, int family)
{
    return family == 4 ? (size_t)a->held4 : family == 6 ? a->held6.n : 0;
}

uint64_t ipalloc_available4(const struct ipalloc *a) { return a->has4 ? a->size4 - a->taken4 : 0; }

static int alloc6(struct ipalloc *a, const uint64_t *hint, uint8_t out[16])
{
    if (hint && *hint > 0 && *hint < a->size6) {
        v6_at(a, *hint, out);
        if (!v6_reserved_addr(a, out) && !v6has(&a->held6, out))
            return v6add(&a->held6, out) == 0 ? 0 : -1;
    }
    /* The space is far larger than any tailnet, so this ends after at most (held + reserved) steps,
     * except in a tiny prefix, which the bound below catches. */
    for (uint64_t tries = 0; tries < a->size6; tries++) {
        uint64_t off = a->cursor6;
        a->cursor6 = off + 1 >= a->size6 ? 1 : off + 1;
        v6_at(a, off, out);
        if (v6_reserved_addr(a, out) || v6has(&a->held6, out))
            continue;
        return v6add(&a->held6, out) == 0 ? 0 : -1;
    }
    return -1;
}

int ipalloc_next(struct ipalloc *a, struct ipalloc_pair *out)
{
    char p[INET6_ADDRSTRLEN];
    uint64_t off4 = 0;
    memset(out, 0, sizeof(*out));
    if (a->has4) {
        if (a->taken4 >= a->size4) {
            uint8_t b[4];
            st32(b, a->base4);
            inet_ntop(AF_INET, b, p, sizeof(p));
            snprintf(a->err, sizeof(a->err),
                     "IPv4 prefix %s/%d is exhausted: all %llu usable addresses are held", p, a->plen4,
                     (unsigned long long)a->held4);
            return -1;
        }
        off4 = v4_scan(a, a->cursor4 >= a->size4 ? 0 : a->cursor4);
        bit_set(a, off4);
        a->taken4++;
        a->held4++;
        a->cursor4 = off4 + 1 == a->size4 ? 0 : off4 + 1;
        out->has4 = true;
        st32(out->v4, a->base4 + (uint32_t)off4);
    }
    if (a->has6) {
        if (alloc6(a, a->has4 ? &off4 : NULL, out->v6) < 0) {
            inet_ntop(AF_INET6, a->base6, p, sizeof(p));
            snprintf(a->err, sizeof(a->err), "IPv6 prefix %s/%d is exhausted", p, a->plen6);
            if (out->has4)
                ipalloc_release(a, 4, out->v4);
            memset(out, 0, sizeof(*out));
            return -1;
        }
        out->has6 = true;
    }
    return 0;
}
