// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/control/dnsconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/json/tailcfg.h"
#include "core/log.h"
#include "core/wire/dnsrec.h"
#include "modules/control/control.h"
#include "modules/control/ctrl.h"
#include "modules/control/ipalloc.h"

#define WATCH_MS 1000
#define FILE_MAX (1 << 20) /* an extra records file larger than this is refused */

/* ---- checks ---- */

const char *dnsconf_check_domain(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len)
{
    char c[256];
    if (dns_name_canon(item, c, sizeof c)) {
        snprintf(buf, len, "'%s' is not a domain name (labels of letters, digits and '-', dot-separated)", item);
        return buf;
    }
    return NULL;
}

/* IP, IP:port, [IPv6]:port, or an https:// URL (DNS over HTTPS): what the node's resolver can forward to. */
const char *dnsconf_check_resolver(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, item, a) == 1 || inet_pton(AF_INET6, item, a) == 1)
        return NULL;
    if (strncmp(item, "https://", 8) == 0) {
        const char *h = item + 8;
        size_t hl = strcspn(h, "/?#");
        if (hl && !strpbrk(item, " \t\"'<>\\"))
            return NULL;
        snprintf(buf, len, "'%s' is not a DNS-over-HTTPS URL (https://HOST/PATH)", item);
        return buf;
    }
    char host[64];
    const char *colon = NULL;
    if (item[0] == '[') {
        const char *rb = strchr(item, ']');
        if (rb && rb[1] == ':' && (size_t)(rb - item - 1) < sizeof host) {
            snprintf(host, sizeof host, "%.*s", (int)(rb - item - 1), item + 1);
            if (inet_pton(AF_INET6, host, a) == 1)
                colon = rb + 1;
        }
    } else if ((colon = strchr(item, ':')) && !strchr(colon + 1, ':') && (size_t)(colon - item) < sizeof host) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - item), item);
        if (inet_pton(AF_INET, host, a) != 1)
            colon = NULL;
    } else {
        colon = NULL;
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (colon[1] && !*end && p > 0 && p < 65536)
            return NULL;
    }
    snprintf(buf, len,
             "'%s' is not a nameserver: an IP address, IP:PORT, [IPv6]:PORT or an https:// URL (DNS over HTTPS)",
             item);
    return buf;
}

const char *dnsconf_check_route(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len)
{
    return part == CFG_PART_MAPKEY ? dnsconf_check_domain(conf, item, part, buf, len)
                                   : dnsconf_check_resolver(conf, item, part, buf, len);
}

static bool under(const char *name, const char *dom)
{
    size_t nl = strlen(name), dl = strlen(dom);
    return nl == dl ? !strcmp(name, dom) : nl > dl && name[nl - dl - 1] == '.' && !strcmp(name + nl - dl, dom);
}

/* Whether a (canonical) name is under a domain the nodes are told about: the base domain (with MagicDNS),
 * a split DNS route's, a search domain. A record elsewhere would be answered by nobody: Tailscale's clients
 * look ExtraRecords up only for names their resolver is asked about, which are those. */
static bool name_in_domains(const struct control_conf *cf, const char *name)
{
    char d[256];
    if (cf->dns.magic_dns && cf->dns.base_domain && !dns_name_canon(cf->dns.base_domain, d, sizeof d) &&
        under(name, d))
        return true;
    for (size_t i = 0; i < cf->dns.routes.n; i++)
        if (!dns_name_canon(cf->dns.routes.keys[i], d, sizeof d) && under(name, d))
            return true;
    for (size_t i = 0; i < cf->dns.search_domains.n; i++)
        if (!dns_name_canon(cf->dns.search_domains.v[i], d, sizeof d) && under(name, d))
            return true;
    return false;
}

static char *token(char **p, int *col, const char *base)
{
    char *s = *p + strspn(*p, " \t");
    if (!*s)
        return NULL;
    *col = (int)(s - base) + 1;
    char *e = s + strcspn(s, " \t");
    *p = *e ? e + 1 : e;
    *e = 0;
    return s;
}

int dnsconf_parse_record(const void *conf, char *line, struct dnsconf_rec *rec, char *err, size_t errlen, int *col)
{
    const struct control_conf *cf = conf;
    char *p = line;
    int ncol = 1, tcol = 1, vcol = 1;
    memset(rec, 0, sizeof *rec);
    *col = 1;
    rec->name = token(&p, &ncol, line);
    char *t = token(&p, &tcol, line);
    if (!rec->name || !t) {
        snprintf(err, errlen, "an extra record is NAME TYPE VALUE (e.g. grafana.weft.internal A 100.64.0.7)");
        return -1;
    }
    char *v = p + strspn(p, " \t");
    vcol = (int)(v - line) + 1;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        v[--vl] = 0;
    if (!*v) { /* NAME VALUE: an address, its type from its form */
        rec->type = "";
        rec->value = t;
        vcol = tcol;
    } else {
        rec->type = t;
        rec->value = v;
    }
    char c[256];
    if (dns_name_canon(rec->name, c, sizeof c)) {
        *col = ncol;
        snprintf(err, errlen, "'%s' is not a DNS name", rec->name);
        return -1;
    }
    if (dns_record_check(rec->name, rec->type, rec->value, err, errlen)) {
        *col = *rec->type && !strstr(err, "value") && !strstr(err, "address") ? tcol : vcol;
        return -1;
    }
    if (cf && !name_in_domains(cf, c)) {
        *col = ncol;
        snprintf(err, errlen,
                 "%s is outside every configured domain (dns.base_domain, a dns.routes domain or a "
                 "dns.search_domains entry): no node would ask for it",
                 c);
        return -1;
    }
    return 0;
}

const char *dnsconf_check_record(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len)
{
    char *copy = strdup(item);
    struct dnsconf_rec r;
    int col;
    if (!copy) {
        snprintf(buf, len, "out of memory");
        return buf;
    }
    int rc = dnsconf_parse_record(conf, copy, &r, buf, len, &col);
    free(copy);
    return rc ? buf : NULL;
}

/* ---- the records file: one record a line, '#' comments ---- */

struct recs {
    struct tc_dns_record *v;
    size_t n;
};

static void recs_free(struct recs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->v[i].name);
        free((char *)r->v[i].type);
        free((char *)r->v[i].value);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

static int recs_add(struct recs *r, const struct dnsconf_rec *x)
{
    struct tc_dns_record *v = realloc(r->v, (r->n + 1) * sizeof *v);
    if (!v)
        return -1;
    r->v = v;
    v[r->n].name = strdup(x->name);
    v[r->n].type = strdup(x->type);
    v[r->n].value = strdup(x->value);
    r->n++;
    return v[r->n - 1].name && v[r->n - 1].type && v[r->n - 1].value ? 0 : -1;
}

/* Reads and checks the whole file; -1 with "FILE:LINE:COL: message" in err. */
static int read_records_file(const struct control_conf *cf, const char *path, struct recs *out, char *err,
                             size_t errlen)
{
    FILE *f = fopen(path, "r");
    memset(out, 0, sizeof *out);
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], msg[512];
    int ln = 0, rc = 0;
    long total = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        size_t l = strlen(line);
        total += (long)l;
        if (total > FILE_MAX) {
            snprintf(err, errlen, "%s:%d:1: the file is larger than %d bytes", path, ln, FILE_MAX);
            rc = -1;
            break;
        }
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            snprintf(err, errlen, "%s:%d:1: the line is longer than %zu bytes", path, ln, sizeof line - 2);
            rc = -1;
            break;
        }
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = 0;
        char *s = line + strspn(line, " \t");
        if (!*s || *s == '#')
            continue;
        struct dnsconf_rec r;
        int col;
        if (dnsconf_parse_record(cf, line, &r, msg, sizeof msg, &col)) {
            snprintf(err, errlen, "%s:%d:%d: %s", path, ln, col, msg);
            rc = -1;
            break;
        }
        if (recs_add(out, &r)) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc)
        recs_free(out);
    return rc;
}

const char *dnsconf_check_records_file(const void *conf, const char *item, enum cfg_part part, char *buf,
                                       size_t len)
{
    struct recs r;
    char err[768];
    if (read_records_file(conf, item, &r, err, sizeof err)) {
        snprintf(buf, len, "%s", err);
        return buf;
    }
    recs_free(&r);
    return NULL;
}

/* ---- DNSConfig ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reverse DNS zones of the tailnet prefixes: MagicDNS answers PTR queries for them itself (an empty route). */
static size_t reverse_zones(const char *prefix4, const char *prefix6, char ***out)
{
    char **v = NULL;
    size_t n = 0;
    int fam, plen;
    uint8_t a[16];
    if (prefix4 && !ipalloc_parse_prefix(prefix4, &fam, a, &plen) && fam == 4) {
        int octets = plen <= 8 ? 1 : plen <= 16 ? 2 : 3;
        int span_bits = octets * 8 - plen;
        unsigned count = 1u << (span_bits > 0 ? span_bits : 0);
        v = calloc(count, sizeof *v);
        for (unsigned i = 0; v && i < count; i++) {
            uint8_t b[3] = {a[0], a[1], a[2]};
            b[octets - 1] = (uint8_t)(b[octets - 1] + i);
            char z[64];
            if (octets == 1)
                snprintf(z, sizeof z, "%u.in-addr.arpa", b[0]);
            else if (octets == 2)
                snprintf(z, sizeof z, "%u.%u.in-addr.arpa", b[1], b[0]);
            else
                snprintf(z, sizeof z, "%u.%u.%u.in-addr.arpa", b[2], b[1], b[0]);
            v[n++] = strdup(z);
        }
    }
    if (prefix6 && !ipalloc_parse_prefix(prefix6, &fam, a, &plen) && fam == 6) {
        char **w = realloc(v, (n + 1) * sizeof *v);
        if (w) {
            v = w;
            char z[128] = "";
            int nib = plen / 4;
            size_t zl = 0;
            for (int i = nib - 1; i >= 0; i--) {
                unsigned x = i % 2 ? a[i / 2] & 0xf : a[i / 2] >> 4;
                zl += (size_t)snprintf(z + zl, sizeof z - zl, "%x.", x);
            }
            snprintf(z + zl, sizeof z - zl, "ip6.arpa");
            v[n++] = strdup(z);
        }
    }
    qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static struct tc_resolver *resolvers(const struct cfg_list *l)
{
    struct tc_resolver *r = calloc(l->n + 1, sizeof *r);
    for (size_t i = 0; r && i < l->n; i++)
        r[i].addr = l->v[i];
    return r;
}

/* The DNSConfig every node gets, the same for every capability version weft's control serves (ts2021,
 * 28 and later): Resolvers, Routes, FallbackResolvers, Domains, Proxied and ExtraRecords are all read
 * from there on; the deprecated Nameservers (caps 9-13) is never sent. CertDomains stays out: weft's
 * control issues no certificates (no /machine/set-dns), and a node told of cert domains would ask. */
int dnsconf_build(struct ctrl *c)
{
    const struct control_conf *cf = c->conf;
    struct tc_dns_config d;
    memset(&d, 0, sizeof d);
    struct tc_resolver *global = resolvers(&cf->dns.nameservers);
    if (cf->dns.override_local_dns) { /* they replace the machine's own resolvers */
        d.resolvers = global;
        d.nresolvers = global ? cf->dns.nameservers.n : 0;
    } else { /* the machine keeps its own; these when it has none */
        d.fallback_resolvers = global;
        d.nfallback_resolvers = global ? cf->dns.nameservers.n : 0;
    }
    char **zones = NULL;
    size_t nz = cf->dns.magic_dns ? reverse_zones(cf->prefix_v4, cf->prefix_v6, &zones) : 0;
    size_t nu = cf->dns.routes.n;
    struct tc_dns_route *routes = calloc(nz + nu + 1, sizeof *routes);
    struct tc_resolver **rr = calloc(nu + 1, sizeof *rr);
    size_t nr = 0;
    for (size_t i = 0; routes && rr && i < nu; i++) {
        rr[i] = resolvers(&cf->dns.routes.vals[i]);
        routes[nr++] = (struct tc_dns_route){cf->dns.routes.keys[i], rr[i], rr[i] ? cf->dns.routes.vals[i].n : 0};
    }
    for (size_t i = 0; routes && i < nz; i++)
        routes[nr++].suffix = zones[i];
    d.routes = routes;
    d.nroutes = routes ? nr : 0;
    const char **doms = calloc(cf->dns.search_domains.n + 2, sizeof *doms);
    size_t nd = 0;
    if (doms) {
        if (cf->dns.magic_dns && cf->dns.base_domain)
            doms[nd++] = cf->dns.base_domain;
        for (size_t i = 0; i < cf->dns.search_domains.n; i++)
            doms[nd++] = cf->dns.search_domains.v[i];
    }
    d.domains = (struct tc_strs){doms, nd};
    d.proxied = cf->dns.magic_dns;
    /* extra records: the inline ones (checked at start), then the file's */
    struct recs inl = {0};
    for (size_t i = 0; i < cf->dns.extra_records.n; i++) {
        char *copy = strdup(cf->dns.extra_records.v[i]), err[256];
        struct dnsconf_rec r;
        int col;
        if (copy && !dnsconf_parse_record(cf, copy, &r, err, sizeof err, &col))
            recs_add(&inl, &r);
        free(copy);
    }
    struct tc_dns_record *all = calloc(inl.n + c->dns_file_nrecs + 1, sizeof *all);
    size_t na = 0;
    for (size_t i = 0; all && i < inl.n; i++)
        all[na++] = inl.v[i];
    for (size_t i = 0; all && i < c->dns_file_nrecs; i++)
        all[na++] = c->dns_file_recs[i];
    d.extra_records = all;
    d.nextra_records = na;
    struct jbuf b;
    jbuf_init(&b);
    int rc = tc_dns_config_emit(&b, &d) || b.oom ? -1 : 0;
    if (!rc) {
        free(c->dns_json);
        c->dns_json = jbuf_take(&b, &c->dns_len);
        rc = c->dns_json ? 0 : -1;
    }
    jbuf_free(&b);
    free(all);
    recs_free(&inl);
    for (size_t i = 0; i < nz; i++)
        free(zones[i]);
    free(zones);
    for (size_t i = 0; rr && i < nu; i++)
        free(rr[i]);
    free(rr);
    free(routes);
    free(doms);
    free(global);
    return rc;
}

/* ---- the watch on the records file ---- */

static void file_recs_free(struct ctrl *c)
{
    struct recs r = {c->dns_file_recs, c->dns_file_nrecs};
    recs_free(&r);
    c->dns_file_recs = NULL;
    c->dns_file_nrecs = 0;
}

/* Reads the file if it changed: its records replace the old ones when all are good; a bad file is
 * reported and the records the nodes have stay. Returns 1 if the records changed. */
static int reload(struct ctrl *c, bool first)
{
    const char *path = c->conf->dns.extra_records_file;
    struct stat st;
    if (stat(path, &st)) {
        if (c->dns_file_seen || first)
            log_error("module=control event=dns_records_file file=%s error=\"%s\" msg=\"the last records "
                      "read stay\"",
                      path, strerror(errno));
        c->dns_file_seen = false;
        return 0;
    }
    if (c->dns_file_seen && st.st_mtim.tv_sec == c->dns_file_mtime.tv_sec &&
        st.st_mtim.tv_nsec == c->dns_file_mtime.tv_nsec && st.st_size == c->dns_file_size &&
        st.st_ino == c->dns_file_ino)
        return 0;
    c->dns_file_seen = true;
    c->dns_file_mtime = st.st_mtim;
    c->dns_file_size = st.st_size;
    c->dns_file_ino = st.st_ino;
    struct recs r;
    char err[768];
    if (read_records_file(c->conf, path, &r, err, sizeof err)) {
        log_error("module=control event=dns_records_file error=\"%s\" msg=\"the last records read stay\"", err);
        return 0;
    }
    file_recs_free(c);
    c->dns_file_recs = r.v;
    c->dns_file_nrecs = r.n;
    log_info("module=control event=dns_records_file file=%s records=%zu", path, r.n);
    return 1;
}

static void rebuild_and_push(struct ctrl *c);

static void watch_cb(struct timer *t, void *arg)
{
    struct ctrl *c = arg;
    if (reload(c, false))
        rebuild_and_push(c);
    timer_start(t, WATCH_MS);
}

/* c->dns_json again; a changed one goes to every node */
static void rebuild_and_push(struct ctrl *c)
{
    char *old = c->dns_json;
    size_t oldlen = c->dns_len;
    c->dns_json = NULL;
    if (dnsconf_build(c)) {
        free(c->dns_json);
        c->dns_json = old;
        c->dns_len = oldlen;
        log_error("module=control event=dns_config error=\"out of memory\" msg=\"the nodes keep the last one\"");
        return;
    }
    if (!old || oldlen != c->dns_len || memcmp(old, c->dns_json, oldlen))
        fanout_dns(c);
    free(old);
}

void dnsconf_watch_start(struct ctrl *c)
{
    timer_init(&c->dns_watch, c->loop, watch_cb, c);
    if (!c->conf->dns.extra_records_file)
        return;
    reload(c, true);
    timer_start(&c->dns_watch, WATCH_MS);
}

void dnsconf_watch_stop(struct ctrl *c)
{
    timer_stop(&c->dns_watch);
    file_recs_free(c);
}

#define SWAP(a, b)                                                                                              \
    do {                                                                                                        \
        __typeof__(a) swap_tmp_ = (a);                                                                          \
        (a) = (b);                                                                                              \
        (b) = swap_tmp_;                                                                                        \
    } while (0)

int dnsconf_reload(struct ctrl *c, struct control_conf *nc)
{
    struct control_dns_conf *cur = &c->conf->dns, *nw = &nc->dns;
    if (cur->magic_dns != nw->magic_dns || !nw->base_domain || strcmp(cur->base_domain, nw->base_domain))
        log_warn("module=control event=reload msg=\"control.dns.magic_dns and base_domain (the nodes' names) "
                 "take a restart; the rest of control.dns is applied\"");
    bool file_changed = (cur->extra_records_file == NULL) != (nw->extra_records_file == NULL) ||
                        (cur->extra_records_file && strcmp(cur->extra_records_file, nw->extra_records_file));
    SWAP(cur->nameservers, nw->nameservers);
    SWAP(cur->routes, nw->routes);
    SWAP(cur->search_domains, nw->search_domains);
    SWAP(cur->override_local_dns, nw->override_local_dns);
    SWAP(cur->extra_records, nw->extra_records);
    SWAP(cur->extra_records_file, nw->extra_records_file);
    if (file_changed) {
        dnsconf_watch_stop(c);
        c->dns_file_seen = false;
        dnsconf_watch_start(c);
    } else if (cur->extra_records_file && reload(c, false)) {
        ; /* read now: the file may have changed with the configuration */
    }
    rebuild_and_push(c);
    return 0;
}
