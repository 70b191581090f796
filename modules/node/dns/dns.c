// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dns/dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "core/json/tailcfg.h"
#include "core/log.h"
#include "core/loop.h"
#include "modules/node/dns/forward.h"
#include "modules/node/dns/ippkt.h"
#include "modules/node/dns/resolver.h"
#include "modules/node/dns/tcp.h"
#include "modules/node/dns/zone.h"
#include "modules/node/netmap.h"

const uint8_t dns_quad100_v4[4] = {100, 100, 100, 100};
const uint8_t dns_quad100_v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};

#define MAX_SELF_ADDRS 8

struct strv {
    char **v;
    size_t n;
};

struct extra {
    char *name, *type, *value;
};

/* What the service keeps of the last DNSConfig (the parsed message goes away after the map is applied). */
struct cfgcopy {
    bool present, proxied;
    struct strv local, split, search;
    struct extra *extra;
    size_t nextra;
};

/* A forwarded query waiting for its answer. */
struct pend {
    struct ipp_flow flow; /* the client's (src = the client) */
    bool tcp;
    uint64_t tcp_id;
    size_t limit;
    uint8_t *query; /* for a SERVFAIL when no upstream answers */
    size_t qlen;
    struct pend *prev, *next;
};

struct dns_service {
    struct loop *loop;
    unsigned mtu;
    struct dns_service_ops ops;
    void *arg;
    struct dns_zone *zone;
    struct dns_forwarding fwd;
    struct cfgcopy cfg;
    struct dns_fwd *fw;
    struct dns_tcp *tcp;
    struct pend *pending;
    uint8_t self[MAX_SELF_ADDRS][17]; /* family, address */
    size_t nself;
    struct dns_stats st;
    uint64_t dropped;
    char skipped[256];
    uint8_t pkt[65536 + IPP_HEADROOM];
};

static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strv_push(struct strv *s, const char *x)
{
    char **v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v)
        return -1;
    s->v = v;
    if (!(v[s->n] = strdup(x)))
        return -1;
    s->n++;
    return 0;
}

static void cfg_clear(struct cfgcopy *c)
{
    strv_free(&c->local);
    strv_free(&c->split);
    strv_free(&c->search);
    for (size_t i = 0; i < c->nextra; i++) {
        free(c->extra[i].name);
        free(c->extra[i].type);
        free(c->extra[i].value);
    }
    free(c->extra);
    memset(c, 0, sizeof *c);
}

/* ---- answers to the OS ---- */

static void send_udp(struct dns_service *s, const struct ipp_flow *client, const uint8_t *msg, size_t len)
{
    struct ipp_flow rf;
    ipp_flow_reverse(client, &rf);
    size_t n = ipp_build(s->pkt, sizeof s->pkt, &rf, IPP_UDP, 0, 0, 0, 0, 0, msg, len);
    if (n)
        s->ops.inject(s->arg, s->pkt, n);
}

static void tcp_send(void *arg, const uint8_t *pkt, size_t len)
{
    struct dns_service *s = arg;
    /* the TUN may rewrite what it is given: a copy */
    uint8_t *c = malloc(len);
    if (!c)
        return;
    memcpy(c, pkt, len);
    s->ops.inject(s->arg, c, len);
    free(c);
}

static size_t udp_cap(const struct dns_service *s, int family)
{
    return s->mtu - (family == 4 ? 28 : 48);
}

/* The answer to a forwarded or local query, to wherever it came from. */
static void deliver(struct dns_service *s, const struct ipp_flow *flow, bool tcp, uint64_t tcp_id, size_t limit,
                    const uint8_t *msg, size_t len)
{
    if (tcp) {
        dns_tcp_reply(s->tcp, tcp_id, msg, len);
        return;
    }
    if (!msg)
        return;
    if (len > limit) { /* an upstream's answer too big for the client's UDP: it asks again over TCP */
        size_t tl;
        uint8_t *t = dns_truncate(msg, len, limit, &tl);
        if (t) {
            s->st.truncated++;
            send_udp(s, flow, t, tl);
        }
        free(t);
        return;
    }
    send_udp(s, flow, msg, len);
}

static void on_forwarded(void *arg, uint64_t token, const uint8_t *reply, size_t len);

/* One DNS message from the OS; tcp_id 0 for UDP. */
static void handle(struct dns_service *s, const struct ipp_flow *flow, uint64_t tcp_id, const uint8_t *msg,
                   size_t len)
{
    bool tcp = tcp_id != 0;
    uint8_t *reply;
    size_t rlen, limit;
    const struct dns_upstreams *up;
    enum dns_verdict v = dns_handle(s->zone, &s->fwd, msg, len, tcp ? 0 : udp_cap(s, flow->family), &limit,
                                    &reply, &rlen, &up, &s->st);
    if (v == DNS_REPLY) {
        deliver(s, flow, tcp, tcp_id, limit, reply, rlen);
        free(reply);
        return;
    }
    if (v == DNS_FORWARD) {
        struct pend *p = calloc(1, sizeof *p);
        if (p && !(p->query = malloc(len))) {
            free(p);
            p = NULL;
        }
        if (p) {
            memcpy(p->query, msg, len);
            p->qlen = len;
            p->flow = *flow;
            p->tcp = tcp;
            p->tcp_id = tcp_id;
            p->limit = limit;
            p->next = s->pending;
            if (s->pending)
                s->pending->prev = p;
            s->pending = p;
            if (dns_fwd_query(s->fw, up, msg, len, tcp, (uint64_t)(uintptr_t)p) == 0)
                return;
            s->pending = p->next;
            if (p->next)
                p->next->prev = NULL;
            free(p->query);
            free(p);
        }
        /* too many in flight: SERVFAIL now rather than a timeout later */
        reply = dns_servfail(msg, len, &rlen);
        deliver(s, flow, tcp, tcp_id, limit, reply, rlen);
        free(reply);
        return;
    }
    s->dropped++;
    if (tcp)
        dns_tcp_reply(s->tcp, tcp_id, NULL, 0);
}

static void on_forwarded(void *arg, uint64_t token, const uint8_t *reply, size_t len)
{
    struct dns_service *s = arg;
    struct pend *p = (struct pend *)(uintptr_t)token;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (reply) {
        deliver(s, &p->flow, p->tcp, p->tcp_id, p->limit, reply, len);
    } else { /* no upstream answered */
        size_t rl;
        uint8_t *r = dns_servfail(p->query, p->qlen, &rl);
        deliver(s, &p->flow, p->tcp, p->tcp_id, p->limit, r, rl);
        free(r);
    }
    free(p->query);
    free(p);
}

static void tcp_message(void *arg, uint64_t id, const struct ipp_flow *flow, const uint8_t *msg, size_t len)
{
    handle(arg, flow, id, msg, len);
}

static bool from_self(const struct dns_service *s, const struct ipp_flow *f)
{
    for (size_t i = 0; i < s->nself; i++)
        if (s->self[i][0] == f->family && !memcmp(s->self[i] + 1, f->src, f->family == 4 ? 4 : 16))
            return true;
    return false;
}

bool dns_service_packet(struct dns_service *s, const uint8_t *pkt, size_t len)
{
    struct ipp_packet p;
    if (ipp_parse(pkt, len, &p) || p.flow.dport != 53 || !from_self(s, &p.flow)) {
        s->dropped++;
        return false;
    }
    if (p.flow.family == 4 ? memcmp(p.flow.dst, dns_quad100_v4, 4) : memcmp(p.flow.dst, dns_quad100_v6, 16)) {
        s->dropped++;
        return false;
    }
    if (p.proto == IPP_TCP) {
        dns_tcp_input(s->tcp, &p);
        return true;
    }
    handle(s, &p.flow, 0, p.payload, p.len);
    return true;
}

size_t dns_service_query(struct dns_service *s, const uint8_t *q, size_t len, uint8_t *out, size_t cap)
{
    uint8_t *reply;
    size_t rlen, limit;
    const struct dns_upstreams *up;
    if (dns_handle(s->zone, &s->fwd, q, len, udp_cap(s, 4), &limit, &reply, &rlen, &up, &s->st) != DNS_REPLY)
        return 0;
    size_t n = rlen <= cap ? rlen : 0;
    if (n)
        memcpy(out, reply, n);
    free(reply);
    return n;
}

/* ---- configuration ---- */

static void rebuild(struct dns_service *s, const struct netmap *nm);

void dns_service_set_config(struct dns_service *s, const struct tc_dns_config *d)
{
    cfg_clear(&s->cfg);
    if (dns_forwarding_set(&s->fwd, d, s->skipped, sizeof s->skipped))
        log_error("module=node event=dns_config error=\"out of memory\"");
    if (s->skipped[0])
        log_warn("module=node event=dns_config msg=\"upstream resolvers left out (only IP addresses and https:// "
                 "URLs are supported)\" skipped=\"%s\"",
                 s->skipped);
    if (!d)
        return;
    struct cfgcopy *c = &s->cfg;
    c->present = true;
    c->proxied = d->proxied;
    int bad = 0;
    for (size_t i = 0; i < d->nroutes; i++) {
        char canon[256];
        if (!d->routes[i].suffix || dns_name_canon(d->routes[i].suffix, canon, sizeof canon))
            continue;
        bad |= strv_push(d->routes[i].nresolvers ? &c->split : &c->local, canon);
    }
    for (size_t i = 0; i < d->domains.n; i++) {
        char canon[256];
        if (d->domains.v[i] && !dns_name_canon(d->domains.v[i], canon, sizeof canon))
            bad |= strv_push(&c->search, canon);
    }
    if (d->nextra_records && !(c->extra = calloc(d->nextra_records, sizeof *c->extra)))
        bad = 1;
    for (size_t i = 0; c->extra && i < d->nextra_records; i++) {
        const struct tc_dns_record *r = &d->extra_records[i];
        struct extra *e = &c->extra[c->nextra];
        if (!r->name || !r->value)
            continue;
        e->name = strdup(r->name);
        e->type = strdup(r->type ? r->type : "");
        e->value = strdup(r->value);
        if (!e->name || !e->type || !e->value) {
            free(e->name);
            free(e->type);
            free(e->value);
            bad = 1;
            break;
        }
        c->nextra++;
    }
    if (bad)
        log_error("module=node event=dns_config error=\"out of memory: part of the DNS configuration is lost\"");
}

void dns_service_set_os_resolvers(struct dns_service *s, char *const *addrs, size_t n)
{
    dns_upstreams_free(&s->fwd.os);
    if (!n || !(s->fwd.os.v = calloc(n, sizeof *s->fwd.os.v)))
        return;
    for (size_t i = 0; i < n; i++) {
        struct dns_upstream *u = &s->fwd.os.v[s->fwd.os.n];
        if (dns_upstream_parse(addrs[i], u) || u->doh)
            continue;
        /* never ourselves (a resolv.conf we wrote, read back) */
        if ((u->sa.ss_family == AF_INET &&
             !memcmp(&((struct sockaddr_in *)&u->sa)->sin_addr, dns_quad100_v4, 4)) ||
            (u->sa.ss_family == AF_INET6 &&
             !memcmp(&((struct sockaddr_in6 *)&u->sa)->sin6_addr, dns_quad100_v6, 16)))
            continue;
        s->fwd.os.n++;
    }
}

static void node_addrs(const struct nm_node *n, uint8_t (*out)[17], size_t *cnt, size_t max)
{
    *cnt = 0;
    for (size_t i = 0; i < n->naddrs && *cnt < max; i++) {
        const struct nl_prefix *p = &n->addrs[i];
        if (p->bits != (p->family == 4 ? 32 : 128))
            continue;
        out[*cnt][0] = p->family;
        memcpy(out[*cnt] + 1, p->addr, 16);
        (*cnt)++;
    }
}

static void rebuild(struct dns_service *s, const struct netmap *nm)
{
    struct dns_zone *z = dns_zone_new();
    if (!z) {
        log_error("module=node event=dns_names error=\"out of memory: the previous names stay\"");
        return;
    }
    const struct cfgcopy *c = &s->cfg;
    int bad = 0;
    bool magic = c->present && c->proxied;
    uint8_t addrs[NM_MAX_PREFIXES][17];
    size_t na;
    if (nm && nm->have_self && magic) {
        /* the MagicDNS suffix: the self name after its first label (spec netmap.md §6) */
        const char *name = nm->self.name ? nm->self.name : "";
        const char *dot = strchr(name, '.');
        if (dot && dot[1] && strcmp(dot + 1, ".") != 0)
            bad |= dns_zone_set_suffix(z, dot + 1);
        if (name[0]) {
            node_addrs(&nm->self, addrs, &na, NM_MAX_PREFIXES);
            dns_zone_add_node(z, name, (const uint8_t(*)[17])addrs, na);
        }
        for (size_t i = 0; i < nm->npeers; i++) {
            const struct nm_node *p = nm->peers[i];
            if (!p->name || !p->name[0])
                continue;
            node_addrs(p, addrs, &na, NM_MAX_PREFIXES);
            dns_zone_add_node(z, p->name, (const uint8_t(*)[17])addrs, na); /* a bad name is skipped */
        }
    }
    for (size_t i = 0; i < c->local.n; i++)
        bad |= dns_zone_add_local_domain(z, c->local.v[i]);
    for (size_t i = 0; i < c->nextra; i++) {
        char err[256];
        if (dns_zone_add_record(z, c->extra[i].name, c->extra[i].type, c->extra[i].value, err, sizeof err))
            log_warn("module=node event=dns_record error=\"%s\" msg=\"record ignored\"", err);
    }
    if (bad)
        log_error("module=node event=dns_names error=\"out of memory: some names are missing\"");
    dns_zone_free(s->zone);
    s->zone = z;
    s->nself = 0;
    if (nm && nm->have_self)
        node_addrs(&nm->self, s->self, &s->nself, MAX_SELF_ADDRS);
}

void dns_service_set_netmap(struct dns_service *s, const struct netmap *nm)
{
    rebuild(s, nm);
}

/* ---- what the OS is told ---- */

void dns_os_wants_free(struct dns_os_wants *w)
{
    struct strv a = {w->search, w->nsearch}, b = {w->match, w->nmatch};
    strv_free(&a);
    strv_free(&b);
    memset(w, 0, sizeof *w);
}

static bool strv_eq(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return true;
}

bool dns_os_wants_equal(const struct dns_os_wants *a, const struct dns_os_wants *b)
{
    return a->enabled == b->enabled && a->default_route == b->default_route &&
           strv_eq(a->search, a->nsearch, b->search, b->nsearch) && strv_eq(a->match, a->nmatch, b->match, b->nmatch);
}

static void push_unique(struct strv *v, const char *x)
{
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], x))
            return;
    strv_push(v, x);
}

void dns_service_os_wants(const struct dns_service *s, struct dns_os_wants *w)
{
    memset(w, 0, sizeof *w);
    const struct cfgcopy *c = &s->cfg;
    if (!c->present || (!c->proxied && !s->fwd.resolvers.n && !c->split.n && !c->nextra))
        return;
    w->enabled = true;
    struct strv search = {0}, match = {0};
    const char *suffix = dns_zone_suffix(s->zone);
    if (c->proxied && suffix[0])
        push_unique(&search, suffix);
    for (size_t i = 0; i < c->search.n; i++)
        push_unique(&search, c->search.v[i]);
    if (c->proxied && suffix[0])
        push_unique(&match, suffix);
    for (size_t i = 0; i < c->split.n; i++)
        push_unique(&match, c->split.v[i]);
    for (size_t i = 0; i < c->local.n; i++) /* reverse zones and other names answered here */
        push_unique(&match, c->local.v[i]);
    w->search = search.v;
    w->nsearch = search.n;
    w->match = match.v;
    w->nmatch = match.n;
    w->default_route = s->fwd.resolvers.n > 0;
}

/* ---- status ---- */

static void upstreams_json(struct jbuf *b, const char *field, const struct dns_upstreams *u)
{
    jbuf_field(b, field);
    jbuf_open(b, '[');
    for (size_t i = 0; i < u->n; i++)
        jbuf_str(b, u->v[i].text);
    jbuf_close(b, ']');
}

void dns_service_status(const struct dns_service *s, struct jbuf *b)
{
    const struct cfgcopy *c = &s->cfg;
    jbuf_field(b, "MagicDNS");
    jbuf_bool(b, c->present && c->proxied);
    jbuf_field(b, "Suffix");
    jbuf_str(b, dns_zone_suffix(s->zone));
    jbuf_field(b, "Names");
    jbuf_i64(b, (int64_t)dns_zone_names(s->zone));
    jbuf_field(b, "ExtraRecords");
    jbuf_i64(b, (int64_t)c->nextra);
    upstreams_json(b, "Resolvers", &s->fwd.resolvers);
    upstreams_json(b, "FallbackResolvers", &s->fwd.fallback);
    upstreams_json(b, "OSResolvers", &s->fwd.os);
    jbuf_field(b, "Routes");
    jbuf_open(b, '{');
    for (size_t i = 0; i < s->fwd.nroutes; i++) {
        jbuf_name(b, s->fwd.routes[i].suffix);
        jbuf_open(b, '[');
        for (size_t k = 0; k < s->fwd.routes[i].up.n; k++)
            jbuf_str(b, s->fwd.routes[i].up.v[k].text);
        jbuf_close(b, ']');
    }
    for (size_t i = 0; i < c->local.n; i++) {
        jbuf_name(b, c->local.v[i]);
        jbuf_open(b, '[');
        jbuf_close(b, ']');
    }
    jbuf_close(b, '}');
    jbuf_field(b, "SearchDomains");
    jbuf_open(b, '[');
    for (size_t i = 0; i < c->search.n; i++)
        jbuf_str(b, c->search.v[i]);
    jbuf_close(b, ']');
    struct dns_fwd_stats fs;
    dns_fwd_get_stats(s->fw, &fs);
    struct dns_tcp_stats ts;
    dns_tcp_get_stats(s->tcp, &ts);
    jbuf_field(b, "Counters");
    jbuf_open(b, '{');
    jbuf_field(b, "Queries");
    jbuf_i64(b, (int64_t)s->st.queries);
    jbuf_field(b, "AnsweredLocally");
    jbuf_i64(b, (int64_t)s->st.local);
    jbuf_field(b, "NXDomain");
    jbuf_i64(b, (int64_t)s->st.nxdomain);
    jbuf_field(b, "Forwarded");
    jbuf_i64(b, (int64_t)s->st.forwarded);
    jbuf_field(b, "ForwardFailed");
    jbuf_i64(b, (int64_t)fs.failed);
    jbuf_field(b, "ForwardBusy");
    jbuf_i64(b, (int64_t)fs.refused_busy);
    jbuf_field(b, "Truncated");
    jbuf_i64(b, (int64_t)s->st.truncated);
    jbuf_field(b, "Malformed");
    jbuf_i64(b, (int64_t)s->st.malformed);
    jbuf_field(b, "Dropped");
    jbuf_i64(b, (int64_t)s->dropped);
    jbuf_field(b, "TCPConnections");
    jbuf_i64(b, (int64_t)ts.opened);
    jbuf_field(b, "TCPRefused");
    jbuf_i64(b, (int64_t)ts.refused);
    jbuf_close(b, '}');
}

/* ---- life ---- */

void dns_service_set_ca_file(struct dns_service *s, char *const *path)
{
    dns_fwd_set_ca_file(s->fw, path);
}

struct dns_service *dns_service_new(struct loop *l, unsigned path_mtu, const struct dns_service_ops *ops,
                                    void *arg)
{
    struct dns_service *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = l;
    s->mtu = path_mtu >= 576 ? path_mtu : 576;
    s->ops = *ops;
    s->arg = arg;
    static const struct dns_tcp_ops tops = {tcp_send, tcp_message};
    s->zone = dns_zone_new();
    s->fw = dns_fwd_new(l, on_forwarded, s);
    s->tcp = dns_tcp_new(l, s->mtu, &tops, s);
    if (!s->zone || !s->fw || !s->tcp) {
        dns_service_free(s);
        return NULL;
    }
    return s;
}

void dns_service_free(struct dns_service *s)
{
    if (!s)
        return;
    dns_fwd_free(s->fw); /* no callbacks: the pending entries are freed below */
    while (s->pending) {
        struct pend *p = s->pending;
        s->pending = p->next;
        free(p->query);
        free(p);
    }
    dns_tcp_free(s->tcp);
    dns_zone_free(s->zone);
    dns_forwarding_clear(&s->fwd);
    dns_upstreams_free(&s->fwd.os);
    cfg_clear(&s->cfg);
    free(s);
}
