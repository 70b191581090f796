// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dns/zone.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/dnsrec.h"

#define ZONE_TTL 600       /* as Tailscale's resolver: names change rarely, and a change comes with a new map */
#define ZONE_CNAME_STEPS 8 /* CNAME chains inside the zone followed this far */

/* A name's data is kept raw (addresses, a PTR target) and made into records only when asked: building the
 * zone is then a few small allocations per peer (a 10,000-peer netmap in milliseconds), and a query makes
 * only the records it answers with. Extra records, few, are kept as ldns records. */
struct zname {
    char *name; /* canonical: lowercase, no trailing dot */
    uint8_t (*addrs)[17]; /* family, address: the A and AAAA records */
    size_t naddrs;
    char *ptr;         /* the PTR target (an FQDN with its dot), for a reverse name */
    ldns_rr_list *rrs; /* extra records, NULL if none */
    struct zname *next;
};

struct dns_zone {
    struct zname **tab;
    size_t cap, n;
    char *suffix;
    char **local;
    size_t nlocal;
};

static uint64_t zhash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

struct dns_zone *dns_zone_new(void)
{
    struct dns_zone *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->cap = 64;
    z->tab = calloc(z->cap, sizeof *z->tab);
    if (!z->tab) {
        free(z);
        return NULL;
    }
    return z;
}

void dns_zone_free(struct dns_zone *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->cap; i++)
        for (struct zname *e = z->tab[i], *nx; e; e = nx) {
            nx = e->next;
            ldns_rr_list_deep_free(e->rrs);
            free(e->addrs);
            free(e->ptr);
            free(e->name);
            free(e);
        }
    for (size_t i = 0; i < z->nlocal; i++)
        free(z->local[i]);
    free(z->local);
    free(z->suffix);
    free(z->tab);
    free(z);
}

static struct zname *zfind(const struct dns_zone *z, const char *canon)
{
    for (struct zname *e = z->tab[zhash(canon) & (z->cap - 1)]; e; e = e->next)
        if (strcmp(e->name, canon) == 0)
            return e;
    return NULL;
}

static int zgrow(struct dns_zone *z)
{
    size_t cap = z->cap * 2;
    struct zname **t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < z->cap; i++)
        for (struct zname *e = z->tab[i], *nx; e; e = nx) {
            nx = e->next;
            size_t h = zhash(e->name) & (cap - 1);
            e->next = t[h];
            t[h] = e;
        }
    free(z->tab);
    z->tab = t;
    z->cap = cap;
    return 0;
}

/* The entry for canon, created if missing (*created set). */
static struct zname *zget(struct dns_zone *z, const char *canon, bool *created)
{
    struct zname *e = zfind(z, canon);
    if (created)
        *created = !e;
    if (e)
        return e;
    if (z->n + 1 > z->cap / 2 && zgrow(z))
        return NULL;
    e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(canon))) {
        free(e);
        return NULL;
    }
    size_t h = zhash(canon) & (z->cap - 1);
    e->next = z->tab[h];
    z->tab[h] = e;
    z->n++;
    return e;
}

int dns_zone_set_suffix(struct dns_zone *z, const char *suffix)
{
    char c[256];
    free(z->suffix);
    z->suffix = NULL;
    if (!suffix || !*suffix || strcmp(suffix, ".") == 0)
        return 0;
    if (dns_name_canon(suffix, c, sizeof c))
        return -1;
    if (!(z->suffix = strdup(c)))
        return -1;
    return dns_zone_add_local_domain(z, c);
}

const char *dns_zone_suffix(const struct dns_zone *z)
{
    return z->suffix ? z->suffix : "";
}

int dns_zone_add_local_domain(struct dns_zone *z, const char *domain)
{
    char c[256];
    if (dns_name_canon(domain, c, sizeof c))
        return -1;
    for (size_t i = 0; i < z->nlocal; i++)
        if (strcmp(z->local[i], c) == 0)
            return 0;
    char **v = realloc(z->local, (z->nlocal + 1) * sizeof *v);
    if (!v)
        return -1;
    z->local = v;
    if (!(v[z->nlocal] = strdup(c)))
        return -1;
    z->nlocal++;
    return 0;
}

/* A record of type t for owner (cloned) with rdata d (taken). */
static ldns_rr *make_rr(const ldns_rdf *owner, ldns_rr_type t, ldns_rdf *d)
{
    ldns_rr *rr = ldns_rr_new_frm_type(t);
    ldns_rdf *o = ldns_rdf_clone(owner);
    if (!rr || !o || !d) {
        ldns_rr_free(rr);
        ldns_rdf_deep_free(o);
        ldns_rdf_deep_free(d);
        return NULL;
    }
    ldns_rr_set_owner(rr, o);
    ldns_rr_set_ttl(rr, ZONE_TTL);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_rdf(rr, d, 0);
    return rr;
}

static int push_extra(struct zname *e, ldns_rr *rr)
{
    if (!rr)
        return -1;
    if ((!e->rrs && !(e->rrs = ldns_rr_list_new())) || !ldns_rr_list_push_rr(e->rrs, rr)) {
        ldns_rr_free(rr);
        return -1;
    }
    return 0;
}

/* "1.0.64.100.in-addr.arpa" / nibbles ".ip6.arpa" for an address. */
static void reverse_name(const uint8_t *a, int family, char *buf, size_t cap)
{
    if (family == 4) {
        snprintf(buf, cap, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    char *p = buf; /* 64 + 9 bytes: a hot path when a large netmap is loaded */
    for (int i = 15; i >= 0; i--) {
        *p++ = hex[a[i] & 0xf];
        *p++ = '.';
        *p++ = hex[a[i] >> 4];
        *p++ = '.';
    }
    memcpy(p, "ip6.arpa", 9);
}

int dns_zone_add_node(struct dns_zone *z, const char *fqdn, const uint8_t (*addrs)[17], size_t naddrs)
{
    char c[256];
    if (dns_name_canon(fqdn, c, sizeof c))
        return -1;
    char owner[260];
    snprintf(owner, sizeof owner, "%s.", c);
    const char *names[2] = {c, NULL};
    char shortn[64];
    size_t cl = strlen(c), sl = z->suffix ? strlen(z->suffix) : 0;
    const char *dot = strchr(c, '.');
    if (sl && dot && cl > sl + 1 && strcmp(c + cl - sl, z->suffix) == 0 && c[cl - sl - 1] == '.' &&
        (size_t)(dot - c) == cl - sl - 1) {
        memcpy(shortn, c, (size_t)(dot - c));
        shortn[dot - c] = 0;
        if (!zfind(z, shortn))
            names[1] = shortn;
    }
    for (int k = 0; k < 2 && names[k]; k++) {
        bool created;
        struct zname *e = zget(z, names[k], &created);
        if (!e)
            return -1;
        if (e->naddrs)
            continue; /* a duplicate FQDN: the first node keeps it */
        if (naddrs) {
            if (!(e->addrs = malloc(naddrs * sizeof *e->addrs)))
                return -1;
            memcpy(e->addrs, addrs, naddrs * sizeof *e->addrs);
            e->naddrs = naddrs;
        }
    }
    for (size_t i = 0; i < naddrs; i++) {
        char rn[80];
        reverse_name(addrs[i] + 1, addrs[i][0], rn, sizeof rn);
        struct zname *e = zget(z, rn, NULL);
        if (!e)
            return -1;
        if (!e->ptr && !(e->ptr = strdup(owner)))
            return -1;
    }
    return 0;
}

int dns_zone_add_record(struct dns_zone *z, const char *name, const char *type, const char *value, char *err,
                        size_t errlen)
{
    ldns_rr *rr = dns_record_rr(name, type, value, ZONE_TTL, err, errlen);
    if (!rr)
        return -1;
    char c[256];
    dns_name_canon(name, c, sizeof c);
    struct zname *e = zget(z, c, NULL);
    if (!e || push_extra(e, rr)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

size_t dns_zone_names(const struct dns_zone *z)
{
    return z->n;
}

/* The query name in canonical form; -1 if it has characters a zone name cannot have (not ours then). */
static int rdf_canon(const ldns_rdf *d, char *buf, size_t cap)
{
    const uint8_t *p = ldns_rdf_data(d);
    size_t len = ldns_rdf_size(d), o = 0, w = 0;
    while (o < len && p[o]) {
        size_t l = p[o++];
        if (l > 63 || o + l > len || w + l + 2 > cap)
            return -1;
        if (w)
            buf[w++] = '.';
        for (size_t i = 0; i < l; i++) {
            char ch = (char)p[o + i];
            if (ch >= 'A' && ch <= 'Z')
                ch = (char)(ch - 'A' + 'a');
            else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
                return -1;
            buf[w++] = ch;
        }
        o += l;
    }
    buf[w] = 0;
    return 0;
}

static bool under(const char *name, const char *dom)
{
    size_t nl = strlen(name), dl = strlen(dom);
    return nl == dl ? strcmp(name, dom) == 0 : nl > dl && name[nl - dl - 1] == '.' && !strcmp(name + nl - dl, dom);
}

static bool push_answer(ldns_rr_list *answer, ldns_rr *rr)
{
    if (rr && ldns_rr_list_push_rr(answer, rr))
        return true;
    ldns_rr_free(rr);
    return false;
}

/* Put the entry's records of qtype on answer with owner; returns how many, and the CNAME if the entry has
 * one and no record of qtype. */
static size_t take(const struct zname *e, ldns_rr_type qtype, const ldns_rdf *owner, ldns_rr_list *answer,
                   const ldns_rr **cname)
{
    size_t n = 0;
    bool any = qtype == LDNS_RR_TYPE_ANY;
    *cname = NULL;
    for (size_t i = 0; i < e->naddrs; i++) {
        bool v4 = e->addrs[i][0] == 4;
        if (!any && qtype != (v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA))
            continue;
        ldns_rdf *d = ldns_rdf_new_frm_data(v4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, v4 ? 4 : 16, e->addrs[i] + 1);
        n += push_answer(answer, make_rr(owner, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, d));
    }
    if (e->ptr && (any || qtype == LDNS_RR_TYPE_PTR))
        n += push_answer(answer, make_rr(owner, LDNS_RR_TYPE_PTR, ldns_dname_new_frm_str(e->ptr)));
    size_t cnt = e->rrs ? ldns_rr_list_rr_count(e->rrs) : 0;
    for (size_t i = 0; i < cnt; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(e->rrs, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        if (t == LDNS_RR_TYPE_CNAME && !*cname)
            *cname = rr;
        if (t != qtype && !any)
            continue;
        ldns_rr *c = ldns_rr_clone(rr);
        ldns_rdf *o = c ? ldns_rdf_clone(owner) : NULL;
        if (!o) {
            ldns_rr_free(c);
            continue;
        }
        ldns_rdf_deep_free(ldns_rr_owner(c));
        ldns_rr_set_owner(c, o);
        n += push_answer(answer, c);
    }
    if (n || qtype == LDNS_RR_TYPE_CNAME)
        *cname = NULL;
    return n;
}

enum dns_zone_result dns_zone_lookup(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                                     ldns_rr_list *answer)
{
    char c[256];
    if (rdf_canon(qname, c, sizeof c) || !c[0])
        return DNS_ZONE_NOT_OURS;
    const struct zname *e = zfind(z, c);
    if (!e) {
        for (size_t i = 0; i < z->nlocal; i++)
            if (under(c, z->local[i]))
                return strcmp(c, z->local[i]) ? DNS_ZONE_NXDOMAIN : DNS_ZONE_ANSWER; /* the apex exists */
        return DNS_ZONE_NOT_OURS;
    }
    const ldns_rdf *owner = qname;
    for (int step = 0; e && step < ZONE_CNAME_STEPS; step++) {
        const ldns_rr *cname;
        take(e, qtype, owner, answer, &cname);
        if (!cname)
            break;
        /* no record of the type, a CNAME: it goes in, then what its target has (if the target is ours) */
        ldns_rr *cc = ldns_rr_clone(cname);
        ldns_rdf *o = cc ? ldns_rdf_clone(owner) : NULL;
        if (!o) {
            ldns_rr_free(cc);
            break;
        }
        ldns_rdf_deep_free(ldns_rr_owner(cc));
        ldns_rr_set_owner(cc, o);
        if (!ldns_rr_list_push_rr(answer, cc)) {
            ldns_rr_free(cc);
            break;
        }
        owner = ldns_rr_rdf(cname, 0);
        char tc[256];
        e = owner && !rdf_canon(owner, tc, sizeof tc) ? zfind(z, tc) : NULL;
    }
    return DNS_ZONE_ANSWER;
}
