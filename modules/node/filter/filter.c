// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/filter/filter.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- prefixes ---- */

struct pfx {
    uint8_t family, bits;
    uint8_t addr[16];
};

struct pfxv {
    struct pfx *v;
    size_t n, cap;
    bool cap_src; /* a "cap:" source was seen */
};

static int pfxv_add(struct pfxv *pv, int family, const uint8_t *addr, unsigned bits)
{
    if (pv->n == pv->cap) {
        size_t nc = pv->cap ? pv->cap * 2 : 8;
        struct pfx *nv = realloc(pv->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        pv->v = nv;
        pv->cap = nc;
    }
    struct pfx *p = &pv->v[pv->n++];
    memset(p, 0, sizeof *p);
    p->family = (uint8_t)family;
    p->bits = (uint8_t)bits;
    memcpy(p->addr, addr, family == 4 ? 4 : 16);
    return 0;
}

static bool masked_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (a[full] & m) == (b[full] & m);
}

static void mask_into(uint8_t *out, const uint8_t *a, unsigned bits, unsigned len)
{
    memset(out, 0, 16);
    unsigned full = bits / 8, rest = bits % 8;
    memcpy(out, a, full < len ? full : len);
    if (rest && full < len)
        out[full] = (uint8_t)(a[full] & (0xff << (8 - rest)));
}

typedef unsigned __int128 u128;

static u128 to_u128(const uint8_t *a, int family)
{
    u128 v = 0;
    for (int i = 0; i < (family == 4 ? 4 : 16); i++)
        v = v << 8 | a[i];
    return v;
}

static void from_u128(u128 v, uint8_t *a, int family)
{
    int n = family == 4 ? 4 : 16;
    for (int i = n - 1; i >= 0; i--) {
        a[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* The fewest prefixes covering lo..hi (inclusive). */
static int range_prefixes(struct pfxv *pv, int family, const uint8_t *a, const uint8_t *b)
{
    unsigned width = family == 4 ? 32 : 128;
    u128 lo = to_u128(a, family), hi = to_u128(b, family);
    if (lo > hi)
        return -1;
    for (;;) {
        unsigned sz = 0; /* the block is 2^sz addresses, aligned at lo */
        while (sz < width && !((lo >> sz) & 1))
            sz++;
        while (sz > 0 && (sz >= 128 || lo + (((u128)1 << sz) - 1) > hi))
            sz--;
        if (sz == 0 && lo > hi)
            break;
        uint8_t addr[16] = {0};
        from_u128(lo, addr, family);
        if (pfxv_add(pv, family, addr, width - sz))
            return -1;
        u128 last = sz >= 128 ? ~(u128)0 : lo + (((u128)1 << sz) - 1);
        if (last >= hi)
            break;
        lo = last + 1;
    }
    return 0;
}

static int parse_addr(const char *s, uint8_t *addr)
{
    if (inet_pton(AF_INET, s, addr) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, addr) == 1)
        return 6;
    return 0;
}

/* One SrcIPs / DstPorts.IP entry: "*", "cap:x" (sources only), CIDR (masked), "a-b", or an address.
 * 0, or -1 (malformed: err says why). */
static int parse_ipset(const char *s, struct pfxv *pv, bool src, char *err, size_t errlen)
{
    uint8_t a[16] = {0}, b[16] = {0};
    if (!s) {
        snprintf(err, errlen, "an empty address");
        return -1;
    }
    if (strcmp(s, "*") == 0) {
        if (pfxv_add(pv, 4, a, 0) || pfxv_add(pv, 6, a, 0))
            return -1;
        return 0;
    }
    if (strncmp(s, "cap:", 4) == 0) {
        if (!src) {
            snprintf(err, errlen, "capability \"%.64s\" in DstPorts", s);
            return -1;
        }
        pv->cap_src = true;
        return 0;
    }
    char buf[128];
    if (strlen(s) >= sizeof buf) {
        snprintf(err, errlen, "address too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    char *slash = strchr(buf, '/'), *dash = strchr(buf, '-');
    if (slash) {
        *slash = 0;
        int fam = parse_addr(buf, a);
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (!fam || *end || slash[1] < '0' || slash[1] > '9' || bits > (fam == 4 ? 32u : 128u)) {
            snprintf(err, errlen, "bad prefix \"%.64s\"", s);
            return -1;
        }
        uint8_t m[16];
        mask_into(m, a, (unsigned)bits, fam == 4 ? 4 : 16);
        if (memcmp(m, a, fam == 4 ? 4 : 16) != 0) {
            snprintf(err, errlen, "%.64s contains non-network bits set", s);
            return -1;
        }
        return pfxv_add(pv, fam, a, (unsigned)bits);
    }
    if (dash && !strchr(dash + 1, '-')) {
        *dash = 0;
        int f1 = parse_addr(buf, a), f2 = parse_addr(dash + 1, b);
        if (!f1 || f1 != f2 || range_prefixes(pv, f1, a, b)) {
            snprintf(err, errlen, "invalid IP range \"%.64s\"", s);
            return -1;
        }
        return 0;
    }
    int fam = parse_addr(buf, a);
    if (!fam) {
        snprintf(err, errlen, "invalid IP address \"%.64s\"", s);
        return -1;
    }
    return pfxv_add(pv, fam, a, fam == 4 ? 32 : 128);
}

/* ---- the compiled form ---- */

struct fdst {
    uint8_t addr[16];
    uint8_t bits;
    uint16_t first, last;
};

struct fmatch {
    uint64_t protos[4];
    uint32_t d0, nd;
};

struct fkey {
    uint8_t addr[16];
    uint8_t bits, used;
    uint32_t i0, n; /* ids[i0 .. i0+n) */
    int32_t dx;     /* its destination index (shared by keys with the same rules), -1: scan ids */
};

/* Destination index entries: (dx, destination prefix, protocol) -> the merged port ranges its rules
 * allow. Protocol DK_ANY: some rule of dx reaches the prefix at all (ICMP's question); DK_ALL_PORTS +
 * p: some single destination entry allows every port for protocol p (other protocols' question). */
#define DK_ANY 256
#define DK_ALL_PORTS 512
/* Entries indexed at most, per family: past this (rules x destinations x protocols for every distinct
 * rule set), further source keys fall back to scanning their rules. */
#define DX_BUDGET 262144

struct dkey {
    uint8_t addr[16];
    uint8_t bits, used;
    uint16_t proto;
    uint32_t dx;
    uint32_t r0, nr; /* ranges[r0 .. r0+nr) */
};

struct prange {
    uint16_t first, last;
};

struct ffam {
    struct fmatch *m;
    size_t nm;
    struct fdst *d;
    size_t nd;
    struct fkey *keys;
    size_t nslots;
    uint32_t *ids;
    size_t nids;
    uint8_t lens[129]; /* source prefix lengths in use, longest first */
    size_t nlens;
    struct dkey *dkeys;
    size_t ndslots;
    struct prange *ranges;
    size_t nranges;
    uint8_t dlens[129]; /* destination prefix lengths in use, longest first */
    size_t ndlens;
};

struct ct_entry {
    uint64_t last; /* loop ms + 1; 0 = empty */
    uint8_t proto, family;
    uint16_t sport, dport;
    uint8_t src[16], dst[16];
};

struct filter {
    struct ffam fam[2]; /* [0] IPv4, [1] IPv6 */
    struct nl_prefix *local;
    size_t nlocal;
    uint64_t seed;
    struct ct_entry *ct; /* ct_sets x FILTER_CT_WAYS */
    size_t ct_sets;      /* a power of two, FILTER_CT_SETS_MIN .. FILTER_CT_SETS */
    struct filter_stats st;
    bool no_index; /* tests: scan every source key's rules (the reference the index must agree with) */
    filter_cap_fn cap_fn; /* "cap:" sources: the addresses of the nodes with the capability */
    void *cap_arg;
    bool uses_caps;
};

static void ffam_free(struct ffam *f)
{
    free(f->m);
    free(f->d);
    free(f->keys);
    free(f->ids);
    free(f->dkeys);
    free(f->ranges);
    memset(f, 0, sizeof *f);
}

static uint64_t hash_key(const struct filter *f, const uint8_t *addr, unsigned bits, unsigned len)
{
    uint64_t h = f->seed ^ (bits * 0x9e3779b97f4a7c15ull);
    for (unsigned i = 0; i < len; i++)
        h = (h ^ addr[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static const struct fkey *key_find(const struct filter *f, const struct ffam *ff, const uint8_t *addr,
                                   unsigned bits, unsigned len)
{
    if (!ff->nslots)
        return NULL;
    size_t mask = ff->nslots - 1, i = (size_t)hash_key(f, addr, bits, len) & mask;
    for (;;) {
        const struct fkey *k = &ff->keys[i];
        if (!k->used)
            return NULL;
        if (k->bits == bits && memcmp(k->addr, addr, len) == 0)
            return k;
        i = (i + 1) & mask;
    }
}

static uint64_t hash_dkey(const struct filter *f, uint32_t dx, const uint8_t *addr, unsigned bits, unsigned proto,
                          unsigned len)
{
    uint64_t h = hash_key(f, addr, bits, len) ^ ((uint64_t)dx << 20 | proto);
    h *= 0x7fb5d329728ea185ull;
    return h ^ (h >> 31);
}

static const struct dkey *dkey_find(const struct filter *f, const struct ffam *ff, uint32_t dx, const uint8_t *addr,
                                    unsigned bits, unsigned proto, unsigned len)
{
    size_t mask = ff->ndslots - 1, i = (size_t)hash_dkey(f, dx, addr, bits, proto, len) & mask;
    for (;;) {
        const struct dkey *k = &ff->dkeys[i];
        if (!k->used)
            return NULL;
        if (k->dx == dx && k->bits == bits && k->proto == proto && memcmp(k->addr, addr, len) == 0)
            return k;
        i = (i + 1) & mask;
    }
}

struct pair {
    struct pfx src;
    uint32_t id;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->src.bits != y->src.bits)
        return x->src.bits < y->src.bits ? -1 : 1;
    int c = memcmp(x->src.addr, y->src.addr, 16);
    if (c)
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* A rule as parsed: its sources, its destinations with their ports, its protocols. */
struct prule {
    struct pfxv srcs;
    struct fdst *dsts;
    uint8_t *dfam;
    size_t ndsts, cdsts;
    uint64_t protos[4];
};

static int prule_dst(struct prule *r, const struct pfx *p, uint16_t first, uint16_t last)
{
    if (r->ndsts == r->cdsts) {
        size_t nc = r->cdsts ? r->cdsts * 2 : 4;
        struct fdst *d = realloc(r->dsts, nc * sizeof *d);
        if (!d)
            return -1;
        r->dsts = d;
        uint8_t *f = realloc(r->dfam, nc);
        if (!f)
            return -1;
        r->dfam = f;
        r->cdsts = nc;
    }
    struct fdst *x = &r->dsts[r->ndsts];
    memset(x, 0, sizeof *x);
    memcpy(x->addr, p->addr, 16);
    x->bits = p->bits;
    x->first = first;
    x->last = last;
    r->dfam[r->ndsts++] = p->family;
    return 0;
}

/* ---- the destination index ----
 * A source key's rules, when many share it (every rule with source "*", a big group), would have to be
 * scanned one by one. Instead each distinct set of rules (keys with the same rules share it) gets its
 * destinations hashed: (prefix, protocol) -> merged port ranges, so a lookup is a few probes (one per
 * source prefix length x destination prefix length in use) and a binary search over the ranges. */

struct dent {
    uint32_t dx;
    uint16_t proto;
    uint8_t bits;
    uint8_t addr[16];
    uint16_t first, last;
};

static int dent_cmp(const void *a, const void *b)
{
    const struct dent *x = a, *y = b;
    if (x->dx != y->dx)
        return x->dx < y->dx ? -1 : 1;
    if (x->bits != y->bits)
        return x->bits < y->bits ? -1 : 1;
    int c = memcmp(x->addr, y->addr, 16);
    if (c)
        return c;
    if (x->proto != y->proto)
        return x->proto < y->proto ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static bool same_group(const struct dent *a, const struct dent *b)
{
    return a->dx == b->dx && a->proto == b->proto && a->bits == b->bits && !memcmp(a->addr, b->addr, 16);
}

struct dlist { /* a distinct rule set: ids[i0 .. i0+n) of some key */
    uint64_t h;
    uint32_t i0, n, dx;
    bool used;
};

static uint64_t ids_hash(const uint32_t *ids, uint32_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ ids[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

struct dvec {
    struct dent *v;
    size_t n, cap;
};

static int dvec_push(struct dvec *dv, uint32_t dx, const struct fdst *d, unsigned proto, uint16_t first,
                     uint16_t last)
{
    if (dv->n == dv->cap) {
        size_t nc = dv->cap ? dv->cap * 2 : 256;
        struct dent *v = realloc(dv->v, nc * sizeof *v);
        if (!v)
            return -1;
        dv->v = v;
        dv->cap = nc;
    }
    struct dent *e = &dv->v[dv->n++];
    e->dx = dx;
    e->proto = (uint16_t)proto;
    e->bits = d->bits;
    memcpy(e->addr, d->addr, 16);
    e->first = first;
    e->last = last;
    return 0;
}

/* The entries one rule set contributes; their count (to check the budget first) when dv is NULL. */
static size_t emit_set(struct dvec *dv, const struct ffam *ff, uint32_t dx, const uint32_t *ids, uint32_t n, int *err)
{
    size_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct fmatch *m = &ff->m[ids[i]];
        for (uint32_t j = 0; j < m->nd; j++) {
            const struct fdst *d = &ff->d[m->d0 + j];
            bool all = d->first == 0 && d->last == 65535;
            count++;
            if (dv && dvec_push(dv, dx, d, DK_ANY, 0, 65535))
                *err = -1;
            for (unsigned w = 0; w < 4; w++)
                for (uint64_t b = m->protos[w]; b; b &= b - 1) {
                    unsigned proto = w * 64 + (unsigned)__builtin_ctzll(b);
                    count += 1 + all;
                    if (dv && (dvec_push(dv, dx, d, proto, d->first, d->last) ||
                               (all && dvec_push(dv, dx, d, DK_ALL_PORTS + proto, 0, 65535))))
                        *err = -1;
                }
        }
    }
    return count;
}

static int build_dst_index(struct filter *f, struct ffam *ff, int family)
{
    unsigned alen = family == 4 ? 4 : 16;
    size_t nkeys = 0;
    for (size_t s = 0; s < ff->nslots; s++)
        nkeys += ff->keys[s].used;
    size_t lslots = 8;
    while (lslots < nkeys * 2)
        lslots *= 2;
    struct dlist *lists = calloc(lslots, sizeof *lists);
    struct dvec dv = {0};
    int err = 0;
    uint32_t ndx = 0;
    size_t budget = DX_BUDGET;
    if (!lists)
        return -1;
    for (size_t s = 0; s < ff->nslots; s++) {
        struct fkey *k = &ff->keys[s];
        if (!k->used)
            continue;
        k->dx = -1;
        const uint32_t *ids = &ff->ids[k->i0];
        uint64_t h = ids_hash(ids, k->n);
        size_t i = (size_t)h & (lslots - 1);
        while (lists[i].used && !(lists[i].h == h && lists[i].n == k->n &&
                                  !memcmp(&ff->ids[lists[i].i0], ids, k->n * sizeof *ids)))
            i = (i + 1) & (lslots - 1);
        if (lists[i].used) { /* the same rules as another key: share its index */
            k->dx = (int32_t)lists[i].dx;
            continue;
        }
        size_t need = emit_set(NULL, ff, 0, ids, k->n, &err);
        if (need > budget)
            continue; /* this key scans its rules */
        budget -= need;
        lists[i] = (struct dlist){h, k->i0, k->n, ndx, true};
        emit_set(&dv, ff, ndx, ids, k->n, &err);
        if (err)
            goto out;
        k->dx = (int32_t)ndx++;
    }
    if (dv.n)
        qsort(dv.v, dv.n, sizeof *dv.v, dent_cmp);
    /* merge: one key per (dx, prefix, protocol), its port ranges sorted, overlapping or adjacent joined */
    size_t ngroups = 0;
    for (size_t i = 0; i < dv.n; i++)
        if (!i || !same_group(&dv.v[i], &dv.v[i - 1]))
            ngroups++;
    size_t slots = 8;
    while (slots < ngroups * 2)
        slots *= 2;
    ff->dkeys = calloc(slots, sizeof *ff->dkeys);
    ff->ranges = malloc((dv.n ? dv.n : 1) * sizeof *ff->ranges);
    if (!ff->dkeys || !ff->ranges) {
        err = -1;
        goto out;
    }
    ff->ndslots = slots;
    bool len_used[129] = {false};
    for (size_t i = 0; i < dv.n;) {
        const struct dent *g = &dv.v[i];
        size_t j = i;
        uint32_t r0 = (uint32_t)ff->nranges;
        while (j < dv.n && same_group(&dv.v[j], g)) {
            struct prange *last = ff->nranges > r0 ? &ff->ranges[ff->nranges - 1] : NULL;
            if (last && (uint32_t)dv.v[j].first <= (uint32_t)last->last + 1) {
                if (dv.v[j].last > last->last)
                    last->last = dv.v[j].last;
            } else {
                ff->ranges[ff->nranges++] = (struct prange){dv.v[j].first, dv.v[j].last};
            }
            j++;
        }
        size_t mask = slots - 1, s = (size_t)hash_dkey(f, g->dx, g->addr, g->bits, g->proto, alen) & mask;
        while (ff->dkeys[s].used)
            s = (s + 1) & mask;
        struct dkey *k = &ff->dkeys[s];
        memcpy(k->addr, g->addr, 16);
        k->bits = g->bits;
        k->used = 1;
        k->proto = g->proto;
        k->dx = g->dx;
        k->r0 = r0;
        k->nr = (uint32_t)ff->nranges - r0;
        len_used[g->bits] = true;
        i = j;
    }
    for (int l = 128; l >= 0; l--)
        if (len_used[l])
            ff->dlens[ff->ndlens++] = (uint8_t)l;
out:
    free(lists);
    free(dv.v);
    return err;
}

/* Build one family's tables (Tailscale's matchesFamily: a rule counts for a family when it has sources
 * and destinations in it). */
static int build_family(struct filter *f, struct ffam *ff, int family, const struct prule *rules, size_t n)
{
    unsigned alen = family == 4 ? 4 : 16;
    struct pair *pairs = NULL;
    size_t np = 0, cp = 0;
    for (size_t r = 0; r < n; r++) {
        const struct prule *x = &rules[r];
        size_t ns = 0, nd = 0;
        for (size_t i = 0; i < x->srcs.n; i++)
            ns += x->srcs.v[i].family == family;
        for (size_t i = 0; i < x->ndsts; i++)
            nd += x->dfam[i] == family;
        if (!ns || !nd)
            continue;
        struct fmatch *m = realloc(ff->m, (ff->nm + 1) * sizeof *m);
        if (!m)
            goto oom;
        ff->m = m;
        struct fdst *d = realloc(ff->d, (ff->nd + nd) * sizeof *d);
        if (!d)
            goto oom;
        ff->d = d;
        struct fmatch *fm = &ff->m[ff->nm];
        memcpy(fm->protos, x->protos, sizeof fm->protos);
        fm->d0 = (uint32_t)ff->nd;
        fm->nd = (uint32_t)nd;
        for (size_t i = 0; i < x->ndsts; i++)
            if (x->dfam[i] == family)
                ff->d[ff->nd++] = x->dsts[i];
        for (size_t i = 0; i < x->srcs.n; i++) {
            if (x->srcs.v[i].family != family)
                continue;
            if (np == cp) {
                cp = cp ? cp * 2 : 64;
                struct pair *pp = realloc(pairs, cp * sizeof *pp);
                if (!pp)
                    goto oom;
                pairs = pp;
            }
            pairs[np].src = x->srcs.v[i];
            pairs[np++].id = (uint32_t)ff->nm;
        }
        ff->nm++;
    }
    if (np)
        qsort(pairs, np, sizeof *pairs, pair_cmp);
    size_t nkeys = 0;
    for (size_t i = 0; i < np; i++)
        if (!i || pairs[i].src.bits != pairs[i - 1].src.bits ||
            memcmp(pairs[i].src.addr, pairs[i - 1].src.addr, 16))
            nkeys++;
    size_t slots = 8;
    while (slots < nkeys * 2)
        slots *= 2;
    ff->keys = calloc(slots, sizeof *ff->keys);
    ff->ids = malloc((np ? np : 1) * sizeof *ff->ids);
    if (!ff->keys || !ff->ids)
        goto oom;
    ff->nslots = slots;
    bool len_used[129] = {false};
    for (size_t i = 0; i < np;) {
        size_t j = i;
        while (j < np && pairs[j].src.bits == pairs[i].src.bits &&
               !memcmp(pairs[j].src.addr, pairs[i].src.addr, 16))
            j++;
        size_t mask = slots - 1, s = (size_t)hash_key(f, pairs[i].src.addr, pairs[i].src.bits, alen) & mask;
        while (ff->keys[s].used)
            s = (s + 1) & mask;
        struct fkey *k = &ff->keys[s];
        memcpy(k->addr, pairs[i].src.addr, 16);
        k->bits = pairs[i].src.bits;
        k->used = 1;
        k->i0 = (uint32_t)ff->nids;
        for (size_t q = i; q < j; q++)
            if (q == i || pairs[q].id != pairs[q - 1].id)
                ff->ids[ff->nids++] = pairs[q].id;
        k->n = (uint32_t)ff->nids - k->i0;
        len_used[k->bits] = true;
        i = j;
    }
    for (int l = 128; l >= 0; l--)
        if (len_used[l])
            ff->lens[ff->nlens++] = (uint8_t)l;
    free(pairs);
    return build_dst_index(f, ff, family);
oom:
    free(pairs);
    return -1;
}

int filter_set_rules(struct filter *f, const struct nm_filter_rule *rules, size_t n, char *err, size_t errlen)
{
    err[0] = 0;
    struct prule *pr = calloc(n ? n : 1, sizeof *pr);
    struct ffam fam[2];
    memset(fam, 0, sizeof fam);
    size_t skipped = 0;
    bool deny_all = false, uses_caps = false;
    struct nl_prefix *capv = NULL;
    int rc = -1;
    if (!pr)
        goto out;
    for (size_t r = 0; r < n; r++) {
        const struct nm_filter_rule *x = &rules[r];
        struct prule *p = &pr[r];
        char e[160];
        if (!x->nprotos) { /* default: TCP, UDP, ICMPv4, ICMPv6 */
            static const int def[] = {PKT_TCP, PKT_UDP, PKT_ICMP4, PKT_ICMP6};
            for (size_t i = 0; i < 4; i++)
                p->protos[def[i] / 64] |= 1ull << (def[i] % 64);
        }
        for (size_t i = 0; i < x->nprotos; i++)
            if (x->protos[i] >= 0 && x->protos[i] <= 255) /* others are dropped, as Tailscale does */
                p->protos[x->protos[i] / 64] |= 1ull << (x->protos[i] % 64);
        for (size_t i = 0; i < x->nsrcs; i++) {
            if (x->srcs[i] && strncmp(x->srcs[i], "cap:", 4) == 0 && x->srcs[i][4]) {
                /* the nodes that have the capability, as the netmap says now (Tailscale's SrcCaps) */
                p->srcs.cap_src = uses_caps = true;
                if (f->cap_fn && !capv && !(capv = malloc(FILTER_MAX_CAP_ADDRS * sizeof *capv)))
                    goto out;
                size_t nc = f->cap_fn ? f->cap_fn(f->cap_arg, x->srcs[i] + 4, capv, FILTER_MAX_CAP_ADDRS) : 0;
                for (size_t c = 0; c < nc && c < FILTER_MAX_CAP_ADDRS; c++)
                    if ((capv[c].family == 4 || capv[c].family == 6) &&
                        pfxv_add(&p->srcs, capv[c].family, capv[c].addr, capv[c].bits))
                        goto out;
                continue;
            }
            int k = parse_ipset(x->srcs[i], &p->srcs, true, e, sizeof e);
            if (k) {
                if (!err[0])
                    snprintf(err, errlen, "rule %zu: %s", r, e);
                skipped++;
            }
        }
        for (size_t i = 0; i < x->ndsts; i++) {
            if (x->dsts[i].bits) {
                snprintf(err, errlen, "rule %zu: deprecated Bits in DstPorts: denying everything", r);
                deny_all = true;
            }
            struct pfxv tmp = {0};
            if (parse_ipset(x->dsts[i].ip, &tmp, false, e, sizeof e)) {
                if (!err[0])
                    snprintf(err, errlen, "rule %zu: %s", r, e);
                skipped++;
            }
            for (size_t k = 0; k < tmp.n; k++)
                if (prule_dst(p, &tmp.v[k], x->dsts[i].first, x->dsts[i].last)) {
                    free(tmp.v);
                    goto out;
                }
            free(tmp.v);
        }

    }
    if (!deny_all)
        for (int i = 0; i < 2; i++)
            if (build_family(f, &fam[i], i ? 6 : 4, pr, n))
                goto out;
    ffam_free(&f->fam[0]);
    ffam_free(&f->fam[1]);
    f->fam[0] = fam[0];
    f->fam[1] = fam[1];
    memset(fam, 0, sizeof fam);
    f->st.rules = deny_all ? 0 : n;
    f->uses_caps = uses_caps;
    f->st.skipped = skipped;
    rc = 0;
out:
    ffam_free(&fam[0]);
    ffam_free(&fam[1]);
    for (size_t r = 0; pr && r < n; r++) {
        free(pr[r].srcs.v);
        free(pr[r].dsts);
        free(pr[r].dfam);
    }
    free(pr);
    free(capv);
    return rc;
}

void filter_set_local(struct filter *f, const struct nl_prefix *addrs, size_t n)
{
    struct nl_prefix *v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v)
        return;
    if (n)
        memcpy(v, addrs, n * sizeof *v);
    free(f->local);
    f->local = v;
    f->nlocal = n;
}

/* ---- matching ---- */

enum mode { M_FULL, M_IPS_ONLY, M_ALL_PORTS };

/* Through a source key's destination index. */
static bool match_index(const struct filter *f, const struct ffam *ff, uint32_t dx, const struct pkt *q,
                        enum mode mode)
{
    unsigned alen = q->family == 4 ? 4 : 16;
    unsigned proto = mode == M_IPS_ONLY ? DK_ANY : mode == M_ALL_PORTS ? DK_ALL_PORTS + q->proto : q->proto;
    for (size_t li = 0; li < ff->ndlens; li++) {
        uint8_t key[16];
        mask_into(key, q->dst, ff->dlens[li], alen);
        const struct dkey *k = dkey_find(f, ff, dx, key, ff->dlens[li], proto, alen);
        if (!k)
            continue;
        if (mode != M_FULL)
            return true;
        const struct prange *r = &ff->ranges[k->r0];
        size_t lo = 0, hi = k->nr; /* the first range ending at or after the port */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (r[mid].last < q->dport)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < k->nr && r[lo].first <= q->dport)
            return true;
    }
    return false;
}

static bool match(const struct filter *f, const struct pkt *q, enum mode mode)
{
    const struct ffam *ff = &f->fam[q->family == 4 ? 0 : 1];
    unsigned alen = q->family == 4 ? 4 : 16;
    for (size_t li = 0; li < ff->nlens; li++) {
        uint8_t key[16];
        mask_into(key, q->src, ff->lens[li], alen);
        const struct fkey *k = key_find(f, ff, key, ff->lens[li], alen);
        if (!k)
            continue;
        if (k->dx >= 0 && !f->no_index) {
            if (match_index(f, ff, (uint32_t)k->dx, q, mode))
                return true;
            continue;
        }
        for (uint32_t i = 0; i < k->n; i++) {
            const struct fmatch *m = &ff->m[ff->ids[k->i0 + i]];
            if (mode != M_IPS_ONLY && !(m->protos[q->proto / 64] >> (q->proto % 64) & 1))
                continue;
            for (uint32_t j = 0; j < m->nd; j++) {
                const struct fdst *d = &ff->d[m->d0 + j];
                if (!masked_eq(d->addr, q->dst, d->bits))
                    continue;
                if (mode == M_IPS_ONLY)
                    return true;
                if (mode == M_ALL_PORTS ? (d->first == 0 && d->last == 65535)
                                        : (q->dport >= d->first && q->dport <= d->last))
                    return true;
            }
        }
    }
    return false;
}

static bool is_local(const struct filter *f, const struct pkt *q)
{
    for (size_t i = 0; i < f->nlocal; i++) {
        const struct nl_prefix *p = &f->local[i];
        if (p->family == q->family && masked_eq(p->addr, q->dst, p->bits))
            return true;
    }
    return false;
}

/* ---- connection tracking ---- */

static uint64_t ct_hash(const struct filter *f, uint8_t proto, uint8_t family, const uint8_t *src, uint16_t sport,
                        const uint8_t *dst, uint16_t dport)
{
    uint64_t h = f->seed ^ ((uint64_t)proto << 32 | (uint64_t)sport << 16 | dport);
    unsigned alen = family == 4 ? 4 : 16;
    for (unsigned i = 0; i < alen; i++)
        h = (h ^ src[i]) * 0x100000001b3ull;
    for (unsigned i = 0; i < alen; i++)
        h = (h ^ dst[i]) * 0x100000001b3ull;
    h ^= h >> 31;
    h *= 0x7fb5d329728ea185ull;
    return h ^ (h >> 27);
}

_Static_assert((FILTER_CT_SETS & (FILTER_CT_SETS - 1)) == 0 && (FILTER_CT_SETS_MIN & (FILTER_CT_SETS_MIN - 1)) == 0,
               "set counts are powers of two: a set is the hash's low bits");

/* The table with twice the sets: each set's flows split between two (a set index is the hash's low
 * bits), so none overflows. 0, or -1 (out of memory: the table stays as it was). */
static int ct_grow(struct filter *f)
{
    size_t n = f->ct_sets * 2;
    struct ct_entry *t = calloc(n * FILTER_CT_WAYS, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < f->ct_sets * FILTER_CT_WAYS; i++) {
        const struct ct_entry *e = &f->ct[i];
        if (!e->last)
            continue;
        struct ct_entry *set =
            &t[(ct_hash(f, e->proto, e->family, e->src, e->sport, e->dst, e->dport) & (n - 1)) * FILTER_CT_WAYS];
        int w = 0;
        while (set[w].last)
            w++;
        set[w] = *e;
    }
    free(f->ct);
    f->ct = t;
    f->ct_sets = n;
    return 0;
}

/* The flow table starts small and doubles when a new flow finds its set full, up to FILTER_CT_SETS sets; only
 * then do flows push out the least recently used of their set: a node with a few flows holds a few KiB of
 * table, not 192 KiB of pages its flows' hashes are spread over. */
static struct ct_entry *ct_find(struct filter *f, uint8_t proto, uint8_t family, const uint8_t *src,
                                uint16_t sport, const uint8_t *dst, uint16_t dport, bool insert, uint64_t now)
{
    if (!f->ct)
        return NULL;
    uint64_t h = ct_hash(f, proto, family, src, sport, dst, dport);
    unsigned alen = family == 4 ? 4 : 16;
again:;
    struct ct_entry *set = &f->ct[(h & (f->ct_sets - 1)) * FILTER_CT_WAYS];
    struct ct_entry *lru = &set[0];
    for (int w = 0; w < FILTER_CT_WAYS; w++) {
        struct ct_entry *e = &set[w];
        if (e->last && e->proto == proto && e->family == family && e->sport == sport && e->dport == dport &&
            !memcmp(e->src, src, alen) && !memcmp(e->dst, dst, alen)) {
            e->last = now + 1;
            return e;
        }
        if (e->last < lru->last)
            lru = e;
    }
    if (!insert)
        return NULL;
    if (lru->last && f->ct_sets < FILTER_CT_SETS && ct_grow(f) == 0)
        goto again;
    if (lru->last)
        f->st.evictions++;
    memset(lru, 0, sizeof *lru);
    lru->last = now + 1;
    lru->proto = proto;
    lru->family = family;
    lru->sport = sport;
    lru->dport = dport;
    memcpy(lru->src, src, alen);
    memcpy(lru->dst, dst, alen);
    f->st.flows++;
    return lru;
}

/* ---- verdicts ---- */

static bool multicast(const struct pkt *q)
{
    return q->family == 4 ? (q->dst[0] & 0xf0) == 0xe0 : q->dst[0] == 0xff;
}

static bool link_local(const struct pkt *q)
{
    static const uint8_t gcp_dns[4] = {169, 254, 169, 254};
    if (q->family == 4)
        return q->dst[0] == 169 && q->dst[1] == 254 && memcmp(q->dst, gcp_dns, 4) != 0;
    return q->dst[0] == 0xfe && (q->dst[1] & 0xc0) == 0x80;
}

static enum filter_reason decide(struct filter *f, const struct pkt *q, uint64_t now)
{
    if (q->bad || !q->family)
        return FR_BAD;
    if (multicast(q))
        return FR_MULTICAST;
    if (link_local(q))
        return FR_LINK_LOCAL;
    if (q->fragment)
        return FR_ACCEPT; /* later fragments: the kernel drops them without their (filtered) first */
    if (!is_local(f, q))
        return FR_NOT_LOCAL; /* a peer may not use us to reach what we do not advertise */
    int icmp = q->family == 4 ? PKT_ICMP4 : PKT_ICMP6;
    if (q->proto == icmp) {
        if (pkt_is_echo_reply(q) || pkt_is_icmp_error(q))
            return FR_ACCEPT;
        return match(f, q, M_IPS_ONLY) ? FR_ACCEPT : FR_NO_RULE;
    }
    switch (q->proto) {
    case PKT_TCP:
        if (!pkt_is_syn(q))
            return FR_ACCEPT;
        return match(f, q, M_FULL) ? FR_ACCEPT : FR_NO_RULE;
    case PKT_UDP:
    case PKT_SCTP:
        if (ct_find(f, q->proto, q->family, q->src, q->sport, q->dst, q->dport, false, now)) {
            f->st.replies++;
            return FR_ACCEPT;
        }
        return match(f, q, M_FULL) ? FR_ACCEPT : FR_NO_RULE;
    case PKT_TSMP:
        return FR_ACCEPT;
    default:
        return match(f, q, M_ALL_PORTS) ? FR_ACCEPT : FR_NO_RULE;
    }
}

enum filter_reason filter_in_parsed(struct filter *f, const struct pkt *q, uint64_t now)
{
    enum filter_reason r = decide(f, q, now);
    f->st.by_reason[r]++;
    if (r == FR_ACCEPT)
        f->st.accepted++;
    else
        f->st.dropped++;
    return r;
}

enum filter_reason filter_in(struct filter *f, const uint8_t *pkt, size_t len, uint64_t now)
{
    struct pkt q;
    pkt_parse(pkt, len, &q);
    return filter_in_parsed(f, &q, now);
}

void filter_out(struct filter *f, const uint8_t *pkt, size_t len, uint64_t now)
{
    struct pkt q;
    pkt_parse(pkt, len, &q);
    if (q.bad || q.fragment || (q.proto != PKT_UDP && q.proto != PKT_SCTP))
        return;
    /* remembered as the reply will look: from their address:port to ours */
    ct_find(f, q.proto, q.family, q.dst, q.dport, q.src, q.sport, true, now);
}

void filter_set_cap_lookup(struct filter *f, filter_cap_fn fn, void *arg)
{
    f->cap_fn = fn;
    f->cap_arg = arg;
}

bool filter_uses_caps(const struct filter *f)
{
    return f->uses_caps;
}

void filter_set_indexed(struct filter *f, bool on)
{
    f->no_index = !on;
}

void filter_get_stats(const struct filter *f, struct filter_stats *out)
{
    *out = f->st;
    out->flow_slots = f->ct_sets * FILTER_CT_WAYS;
}

const char *filter_reason_name(enum filter_reason r)
{
    static const char *const names[FR_COUNT] = {"accept", "malformed", "multicast", "link-local",
                                                "not-local", "no-rule"};
    return r < FR_COUNT ? names[r] : "?";
}

struct filter *filter_new(void)
{
    struct filter *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->ct_sets = FILTER_CT_SETS_MIN;
    f->ct = calloc(f->ct_sets * FILTER_CT_WAYS, sizeof *f->ct);
    if (!f->ct) {
        free(f);
        return NULL;
    }
    randombytes_buf(&f->seed, sizeof f->seed);
    return f;
}

void filter_free(struct filter *f)
{
    if (!f)
        return;
    ffam_free(&f->fam[0]);
    ffam_free(&f->fam[1]);
    free(f->local);
    free(f->ct);
    free(f);
}
