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

#include "core/cfgcheck.h"
#include "core/json/tailcfg.h"
#include "core/log.h"
#include "core/wire/dnsrec.h"
#include "modules/control/control.h"
#include "modules/control/ctrl.h"
#include "modules/control/ipalloc.h"

#define WATCH_MS 1000
#define FILE_MAX (1 << 20) /* an extra records file larger than this is refused */

/* ---- checks ---- */

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

const char *dnsconf_check_record(const char *item, char *buf, size_t len)
{
    char *copy = strdup(item);
    struct dnsconf_rec r;
    int col;
    if (!copy) {
        snprintf(buf, len, "out of memory");
        return buf;
    }
    int rc = dnsconf_parse_record(NULL, copy, &r, buf, len, &col);
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

void dnsconf_check(const struct cfg_section *s, struct cfg_errors *err)
{
    const struct control_conf *cf = s->conf;
    if (!cf->dns.base_domain) /* Node.Name is always NAME.<base_domain>., with MagicDNS or without */
        cfg_error(err, s, "dns.base_domain", "nodes' names are NAME.<base_domain>: it cannot be empty");
    for (size_t i = 0; i < cf->dns.routes.n; i++)
        if (!cfg_is_domain(cf->dns.routes.keys[i], 0))
            cfg_error_item(err, s, "dns.routes", i,
                           "'%s' is not a domain name (labels of letters, digits and '-', separated by dots)",
                           cf->dns.routes.keys[i]);
    /* each record's form was checked as it was read; here whether a node would ever ask for its name */
    for (size_t i = 0; i < cf->dns.extra_records.n; i++) {
        char *copy = strdup(cf->dns.extra_records.v[i]), msg[512];
        struct dnsconf_rec r;
        int col;
        if (copy && dnsconf_parse_record(cf, copy, &r, msg, sizeof msg, &col))
            cfg_error_item(err, s, "dns.extra_records", i, "%s", msg);
        free(copy);
    }
    if (cf->dns.extra_records_file) {
        struct recs r;
        char msg[768];
        if (read_records_file(cf, cf->dns.extra_records_file, &r, msg, sizeof msg))
            cfg_error(err, s, "dns.extra_records_file", "%s", msg);
        else
            recs_free(&r);
    }
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
int dnsconf_build(const struct ctrl *c, const struct control_conf *cf, char **out, size_t *outlen)
{
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
    *out = NULL;
    if (!rc) {
        *out = jbuf_take(&b, outlen);
        rc = *out ? 0 : -1;
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

/* c->dns_json again; a changed one goes to every node */
static void rebuild_and_push(struct ctrl *c)
{
    char *fresh;
    size_t len;
    if (dnsconf_build(c, c->conf, &fresh, &len)) {
        log_error("module=control event=dns_config error=\"out of memory\" msg=\"the nodes keep the last one\"");
        return;
    }
    if (c->dns_json && len == c->dns_len && memcmp(fresh, c->dns_json, len) == 0) {
        free(fresh);
        return;
    }
    free(c->dns_json);
    c->dns_json = fresh;
    c->dns_len = len;
    fanout_statics(c, STATIC_DNS);
}

static void watch_cb(struct timer *t, void *arg)
{
    struct ctrl *c = arg;
    if (!c->conf->dns.extra_records_file)
        return; /* a reload took the file away (dnsconf_file_refresh has dropped its records) */
    if (reload(c, false))
        rebuild_and_push(c);
    timer_start(t, WATCH_MS);
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

void dnsconf_file_refresh(struct ctrl *c, bool path_changed)
{
    if (path_changed) {
        dnsconf_watch_stop(c);
        c->dns_file_seen = false;
        dnsconf_watch_start(c);
    } else if (c->conf->dns.extra_records_file) {
        reload(c, false); /* the file may have changed with the configuration */
    }
}
