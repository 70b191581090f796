// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/policy/netset.h"

static u128 mask_of(uint8_t fam, int bits)
{
    int total = ip_bits(fam);
    if (bits <= 0)
        return 0;
    u128 all = total == 128 ? ~(u128)0 : (((u128)1 << 32) - 1);
    if (bits >= total)
        return all;
    return all & ~((((u128)1) << (total - bits)) - 1);
}

static u128 fam_max(uint8_t fam)
{
    return fam == 4 ? (((u128)1 << 32) - 1) : ~(u128)0;
}

int ip_parse(const char *s, size_t len, struct ipaddr *out)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    uint8_t b[16];
    if (!memchr(buf, ':', len)) {
        /* inet_pton accepts only dotted quads of decimal octets: what netip.ParseAddr accepts, except that
         * it also refuses leading zeros ("010.0.0.1"), which inet_pton takes */
        for (const char *p = buf; *p; p++)
            if (*p == '0' && (p == buf || p[-1] == '.') && p[1] >= '0' && p[1] <= '9')
                return -1;
        if (inet_pton(AF_INET, buf, b) != 1)
            return -1;
        out->fam = 4;
        out->v = (u128)b[0] << 24 | (u128)b[1] << 16 | (u128)b[2] << 8 | b[3];
        return 0;
    }
    if (inet_pton(AF_INET6, buf, b) != 1)
        return -1;
    out->fam = 6;
    out->v = 0;
    for (int i = 0; i < 16; i++)
        out->v = out->v << 8 | b[i];
    return 0;
}

int prefix_parse(const char *s, size_t len, bool strict, struct ipprefix *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (ip_parse(s, alen, &out->a))
        return -1;
    int total = ip_bits(out->a.fam);
    int bits = total;
    if (slash) {
        const char *d = slash + 1, *e = s + len;
        if (d == e || e - d > 3)
            return -1;
        bits = 0;
        for (; d < e; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            bits = bits * 10 + (*d - '0');
        }
        if ((slash[1] == '0' && len - alen > 2) || bits > total)
            return -1;
    }
    u128 m = mask_of(out->a.fam, bits);
    if (strict && (out->a.v & ~m & fam_max(out->a.fam)))
        return -1;
    out->a.v &= m;
    out->bits = (uint8_t)bits;
    return 0;
}

char *ip_format(const struct ipaddr *a, char *out)
{
    if (a->fam == 4) {
        uint32_t v = (uint32_t)a->v;
        snprintf(out, NETSET_TEXT_MAX, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
        return out;
    }
    uint8_t b[16];
    u128 v = a->v;
    for (int i = 15; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
    /* inet_ntop writes RFC 5952 text, as Go does, except for IPv4-mapped addresses where both write
     * "::ffff:a.b.c.d" */
    if (!inet_ntop(AF_INET6, b, out, NETSET_TEXT_MAX))
        out[0] = 0;
    return out;
}

char *prefix_format(const struct ipprefix *p, char *out)
{
    ip_format(&p->a, out);
    size_t n = strlen(out);
    snprintf(out + n, NETSET_TEXT_MAX - n, "/%u", p->bits);
    return out;
}

struct iprange prefix_range(const struct ipprefix *p)
{
    u128 m = mask_of(p->a.fam, p->bits);
    struct iprange r = {p->a.fam, p->a.v & m, (p->a.v & m) | (~m & fam_max(p->a.fam))};
    return r;
}

bool prefix_is_single(const struct ipprefix *p)
{
    return p->bits == ip_bits(p->a.fam);
}

int ip_cmp(const struct ipaddr *a, const struct ipaddr *b)
{
    if (a->fam != b->fam)
        return a->fam < b->fam ? -1 : 1;
    return a->v < b->v ? -1 : a->v > b->v;
}

bool prefix_contains(const struct ipprefix *p, const struct ipaddr *a)
{
    struct iprange r = prefix_range(p);
    return a->fam == r.fam && a->v >= r.lo && a->v <= r.hi;
}

bool prefix_overlaps(const struct ipprefix *a, const struct ipprefix *b)
{
    struct iprange x = prefix_range(a), y = prefix_range(b);
    return x.fam == y.fam && x.lo <= y.hi && y.lo <= x.hi;
}

void netset_init(struct netset *s)
{
    memset(s, 0, sizeof *s);
}

void netset_free(struct netset *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

void netset_clear(struct netset *s)
{
    s->n = 0;
}

static int range_cmp(const struct iprange *a, const struct iprange *b)
{
    if (a->fam != b->fam)
        return a->fam < b->fam ? -1 : 1;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static int reserve(struct netset *s, size_t extra)
{
    if (s->n + extra <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 4;
    while (cap < s->n + extra)
        cap *= 2;
    struct iprange *v = realloc(s->v, cap * sizeof *v);
    if (!v)
        return -1;
    s->v = v;
    s->cap = cap;
    return 0;
}

int netset_add_range(struct netset *s, const struct iprange *r)
{
    /* first range that could touch r: binary search on (fam, lo) */
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct iprange *m = &s->v[mid];
        bool before = m->fam < r->fam || (m->fam == r->fam && m->hi < r->lo && r->lo - m->hi > 1);
        if (before)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t i = lo, j = lo;
    struct iprange merged = *r;
    while (j < s->n && s->v[j].fam == r->fam &&
           (s->v[j].lo <= merged.hi || s->v[j].lo - merged.hi == 1)) {
        if (s->v[j].lo < merged.lo)
            merged.lo = s->v[j].lo;
        if (s->v[j].hi > merged.hi)
            merged.hi = s->v[j].hi;
        j++;
    }
    if (j == i) {
        if (reserve(s, 1))
            return -1;
        memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof *s->v);
        s->v[i] = merged;
        s->n++;
        return 0;
    }
    s->v[i] = merged;
    memmove(s->v + i + 1, s->v + j, (s->n - j) * sizeof *s->v);
    s->n -= j - i - 1;
    return 0;
}

int netset_add_prefix(struct netset *s, const struct ipprefix *p)
{
    struct iprange r = prefix_range(p);
    return netset_add_range(s, &r);
}

int netset_add_ip(struct netset *s, const struct ipaddr *a)
{
    struct iprange r = {a->fam, a->v, a->v};
    return netset_add_range(s, &r);
}

int netset_add_set(struct netset *s, const struct netset *o)
{
    for (size_t i = 0; i < o->n; i++)
        if (netset_add_range(s, &o->v[i]))
            return -1;
    return 0;
}

int netset_remove_range(struct netset *s, const struct iprange *r)
{
    for (size_t i = 0; i < s->n; i++) {
        struct iprange *x = &s->v[i];
        if (x->fam != r->fam || x->hi < r->lo || x->lo > r->hi)
            continue;
        bool left = x->lo < r->lo, right = x->hi > r->hi;
        if (left && right) {
            if (reserve(s, 1))
                return -1;
            x = &s->v[i];
            memmove(s->v + i + 2, s->v + i + 1, (s->n - i - 1) * sizeof *s->v);
            s->v[i + 1] = (struct iprange){x->fam, r->hi + 1, x->hi};
            x->hi = r->lo - 1;
            s->n++;
            return 0;
        }
        if (left) {
            x->hi = r->lo - 1;
        } else if (right) {
            x->lo = r->hi + 1;
        } else {
            memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof *s->v);
            s->n--;
            i--;
        }
    }
    return 0;
}

int netset_remove_prefix(struct netset *s, const struct ipprefix *p)
{
    struct iprange r = prefix_range(p);
    return netset_remove_range(s, &r);
}

bool netset_contains(const struct netset *s, const struct ipaddr *a)
{
    size_t lo = 0, hi = s->n;
    struct iprange key = {a->fam, a->v, a->v};
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct iprange *m = &s->v[mid];
        if (m->fam == a->fam && m->lo <= a->v && a->v <= m->hi)
            return true;
        if (range_cmp(m, &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool netset_overlaps_range(const struct netset *s, const struct iprange *r)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].fam == r->fam && s->v[i].lo <= r->hi && r->lo <= s->v[i].hi)
            return true;
    return false;
}

bool netset_covers_range(const struct netset *s, const struct iprange *r)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].fam == r->fam && s->v[i].lo <= r->lo && r->hi <= s->v[i].hi)
            return true;
    return false;
}

char *netset_range_text(const struct iprange *r, char *out)
{
    struct ipaddr a = {r->fam, r->lo}, b = {r->fam, r->hi};
    if (r->lo == r->hi)
        return ip_format(&a, out);
    char x[NETSET_TEXT_MAX], y[NETSET_TEXT_MAX];
    snprintf(out, NETSET_TEXT_MAX, "%s-%s", ip_format(&a, x), ip_format(&b, y));
    return out;
}

bool iprange_prefix(const struct iprange *r, struct ipprefix *out)
{
    int total = ip_bits(r->fam);
    for (int bits = total; bits >= 0; bits--) {
        u128 m = mask_of(r->fam, bits);
        if ((r->lo & ~m & fam_max(r->fam)) != 0)
            return false; /* lo not aligned to this block size (nor to any larger one) */
        u128 last = r->lo | (~m & fam_max(r->fam));
        if (last == r->hi) {
            out->a = (struct ipaddr){r->fam, r->lo};
            out->bits = (uint8_t)bits;
            return true;
        }
        if (last > r->hi)
            return false;
    }
    return false;
}

char *netset_range_text_cidr(const struct iprange *r, char *out)
{
    struct ipprefix p;
    if (r->lo != r->hi && iprange_prefix(r, &p))
        return prefix_format(&p, out);
    return netset_range_text(r, out);
}

int iprange_parse(const char *s, size_t len, struct iprange *out)
{
    const char *dash = memchr(s, '-', len);
    if (dash) {
        struct ipaddr a, b;
        if (ip_parse(s, (size_t)(dash - s), &a) || ip_parse(dash + 1, len - (size_t)(dash - s) - 1, &b) ||
            a.fam != b.fam || a.v > b.v)
            return -1;
        *out = (struct iprange){a.fam, a.v, b.v};
        return 0;
    }
    struct ipprefix p;
    if (prefix_parse(s, len, true, &p))
        return -1;
    *out = prefix_range(&p);
    return 0;
}

static int add_text(struct netset *s, const char *cidr)
{
    struct ipprefix p;
    if (prefix_parse(cidr, strlen(cidr), true, &p))
        return -1;
    return netset_add_prefix(s, &p);
}

static int remove_text(struct netset *s, const char *cidr)
{
    struct ipprefix p;
    if (prefix_parse(cidr, strlen(cidr), true, &p))
        return -1;
    return netset_remove_prefix(s, &p);
}

int netset_tailnet_all(struct netset *s)
{
    if (add_text(s, "100.64.0.0/10") || remove_text(s, "100.115.92.0/23") || add_text(s, "fd7a:115c:a1e0::/48"))
        return -1;
    return 0;
}

int netset_internet(struct netset *s)
{
    static const char *const priv4[] = {"10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
                                        "192.168.0.0/16"};
    if (add_text(s, "0.0.0.0/0"))
        return -1;
    for (size_t i = 0; i < sizeof priv4 / sizeof priv4[0]; i++)
        if (remove_text(s, priv4[i]))
            return -1;
    return add_text(s, "2000::/3");
}
