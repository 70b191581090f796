// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dns/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "core/json/tailcfg.h"
#include "modules/node/dns/zone.h"

#define EDNS_SIZE 1232 /* what we advertise: fits any path without fragments (DNS flag day 2020) */

int dns_upstream_parse(const char *text, struct dns_upstream *u)
{
    memset(u, 0, sizeof *u);
    if (!text || strlen(text) >= sizeof u->text)
        return -1;
    snprintf(u->text, sizeof u->text, "%s", text);
    if (strncmp(text, "https://", 8) == 0) {
        u->doh = true;
        return text[8] ? 0 : -1;
    }
    char host[64];
    unsigned port = 53;
    const char *p = text;
    size_t hl;
    if (*p == '[') {
        const char *e = strchr(p, ']');
        if (!e || (e[1] && e[1] != ':'))
            return -1;
        hl = (size_t)(e - p - 1);
        if (hl >= sizeof host)
            return -1;
        memcpy(host, p + 1, hl);
        host[hl] = 0;
        if (e[1] == ':') {
            char *end;
            unsigned long v = strtoul(e + 2, &end, 10);
            if (!e[2] || *end || !v || v > 65535)
                return -1;
            port = (unsigned)v;
        }
    } else {
        const char *colon = strchr(p, ':');
        if (colon && !strchr(colon + 1, ':')) { /* v4:port */
            hl = (size_t)(colon - p);
            char *end;
            unsigned long v = strtoul(colon + 1, &end, 10);
            if (!colon[1] || *end || !v || v > 65535)
                return -1;
            port = (unsigned)v;
        } else {
            hl = strlen(p);
        }
        if (hl >= sizeof host)
            return -1;
        memcpy(host, p, hl);
        host[hl] = 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)&u->sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&u->sa;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        u->salen = sizeof *s4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        u->salen = sizeof *s6;
        return 0;
    }
    return -1;
}

void dns_upstreams_free(struct dns_upstreams *u)
{
    free(u->v);
    u->v = NULL;
    u->n = 0;
}

static void note_skipped(char *skipped, size_t cap, const char *what)
{
    if (!skipped || !cap)
        return;
    size_t l = strlen(skipped);
    snprintf(skipped + l, cap - l, "%s%s", l ? "," : "", what);
}

/* A 100.100.100.100 upstream would be ourselves: a loop. */
static bool is_self(const struct dns_upstream *u)
{
    static const uint8_t q4[4] = {100, 100, 100, 100};
    static const uint8_t q6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
    if (u->doh)
        return false;
    if (u->sa.ss_family == AF_INET)
        return !memcmp(&((const struct sockaddr_in *)&u->sa)->sin_addr, q4, 4);
    return !memcmp(&((const struct sockaddr_in6 *)&u->sa)->sin6_addr, q6, 16);
}

static int upstreams_from(const struct tc_resolver *r, size_t n, struct dns_upstreams *out, char *skipped,
                          size_t cap)
{
    out->v = calloc(n ? n : 1, sizeof *out->v);
    out->n = 0;
    if (!out->v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct dns_upstream *u = &out->v[out->n];
        if (!r[i].addr || dns_upstream_parse(r[i].addr, u) || is_self(u))
            note_skipped(skipped, cap, r[i].addr ? r[i].addr : "(none)");
        else
            out->n++;
    }
    return 0;
}

void dns_forwarding_clear(struct dns_forwarding *f)
{
    for (size_t i = 0; i < f->nroutes; i++) {
        free(f->routes[i].suffix);
        dns_upstreams_free(&f->routes[i].up);
    }
    free(f->routes);
    f->routes = NULL;
    f->nroutes = 0;
    dns_upstreams_free(&f->resolvers);
    dns_upstreams_free(&f->fallback);
}

int dns_forwarding_set(struct dns_forwarding *f, const struct tc_dns_config *d, char *skipped, size_t cap)
{
    dns_forwarding_clear(f);
    if (skipped && cap)
        skipped[0] = 0;
    if (!d)
        return 0;
    if (upstreams_from(d->resolvers, d->nresolvers, &f->resolvers, skipped, cap) ||
        upstreams_from(d->fallback_resolvers, d->nfallback_resolvers, &f->fallback, skipped, cap))
        return -1;
    if (d->nroutes && !(f->routes = calloc(d->nroutes, sizeof *f->routes)))
        return -1;
    for (size_t i = 0; i < d->nroutes; i++) {
        const struct tc_dns_route *r = &d->routes[i];
        char c[256];
        if (!r->nresolvers || !r->suffix || dns_name_canon(r->suffix, c, sizeof c))
            continue; /* a local domain (the zone has it), or a suffix that is no name */
        struct dns_route *o = &f->routes[f->nroutes];
        if (!(o->suffix = strdup(c)) || upstreams_from(r->resolvers, r->nresolvers, &o->up, skipped, cap)) {
            free(o->suffix);
            return -1;
        }
        f->nroutes++;
    }
    return 0;
}

const struct dns_upstreams *dns_forwarding_pick(const struct dns_forwarding *f, const char *name)
{
    const struct dns_route *best = NULL;
    size_t best_len = 0, nl = strlen(name);
    for (size_t i = 0; i < f->nroutes; i++) {
        const char *s = f->routes[i].suffix;
        size_t sl = strlen(s);
        bool match = nl == sl ? !strcmp(name, s) : nl > sl && name[nl - sl - 1] == '.' && !strcmp(name + nl - sl, s);
        if (match && sl >= best_len) {
            best = &f->routes[i];
            best_len = sl;
        }
    }
    if (best)
        return &best->up;
    if (f->resolvers.n)
        return &f->resolvers;
    if (f->os.n)
        return &f->os;
    if (f->fallback.n)
        return &f->fallback;
    return NULL;
}

/* The canonical text of a query name (lowercase, no trailing dot, escapes as ldns writes them). */
static void qname_text(const ldns_rdf *d, char *buf, size_t cap)
{
    buf[0] = 0;
    char *s = ldns_rdf2str(d);
    if (!s)
        return;
    size_t l = strlen(s);
    if (l && s[l - 1] == '.')
        s[--l] = 0;
    for (size_t i = 0; i < l; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
    snprintf(buf, cap, "%s", s);
    free(s);
}

/* A bare header answer (FORMERR, NOTIMP...) for a query we cannot or will not read further. */
static uint8_t *header_reply(const uint8_t *msg, size_t len, int rcode, size_t *outlen)
{
    if (len < LDNS_HEADER_SIZE)
        return NULL;
    uint8_t *r = calloc(1, LDNS_HEADER_SIZE);
    if (!r)
        return NULL;
    r[0] = msg[0];
    r[1] = msg[1];
    r[2] = (uint8_t)(0x80 | (msg[2] & 0x79)); /* QR, the opcode and RD as asked */
    r[3] = (uint8_t)(0x80 | (rcode & 0xf));   /* RA */
    *outlen = LDNS_HEADER_SIZE;
    return r;
}

static uint8_t *to_wire(ldns_pkt *p, size_t *len)
{
    uint8_t *w = NULL;
    if (ldns_pkt2wire(&w, p, len) != LDNS_STATUS_OK) {
        free(w);
        return NULL;
    }
    return w;
}

/* The answer packet for query q: header, question, EDNS as asked. */
static ldns_pkt *reply_for(const ldns_pkt *q)
{
    ldns_pkt *r = ldns_pkt_new();
    if (!r)
        return NULL;
    ldns_pkt_set_id(r, ldns_pkt_id(q));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(q));
    ldns_pkt_set_rd(r, ldns_pkt_rd(q));
    ldns_pkt_set_cd(r, ldns_pkt_cd(q));
    ldns_pkt_set_ra(r, true);
    const ldns_rr_list *qs = ldns_pkt_question(q);
    for (size_t i = 0; i < ldns_rr_list_rr_count(qs); i++) {
        ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(qs, i));
        if (!c || !ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, c)) {
            ldns_rr_free(c);
            ldns_pkt_free(r);
            return NULL;
        }
    }
    if (ldns_pkt_edns(q)) {
        ldns_pkt_set_edns_udp_size(r, EDNS_SIZE);
        ldns_pkt_set_edns_do(r, ldns_pkt_edns_do(q));
    }
    return r;
}

/* r as wire; over max, again without records and with TC. */
static uint8_t *finish(ldns_pkt *r, size_t max, size_t *len, struct dns_stats *st)
{
    uint8_t *w = to_wire(r, len);
    if (w && *len > max) {
        free(w);
        ldns_rr_list_deep_free(ldns_pkt_answer(r));
        ldns_rr_list_deep_free(ldns_pkt_authority(r));
        ldns_rr_list_deep_free(ldns_pkt_additional(r));
        ldns_pkt_set_answer(r, ldns_rr_list_new());
        ldns_pkt_set_authority(r, ldns_rr_list_new());
        ldns_pkt_set_additional(r, ldns_rr_list_new());
        ldns_pkt_set_ancount(r, 0);
        ldns_pkt_set_nscount(r, 0);
        ldns_pkt_set_arcount(r, 0);
        ldns_pkt_set_tc(r, true);
        if (st)
            st->truncated++;
        w = to_wire(r, len);
    }
    return w;
}

enum dns_verdict dns_handle(const struct dns_zone *z, const struct dns_forwarding *f, const uint8_t *msg,
                            size_t len, size_t udp_cap, size_t *limit, uint8_t **reply, size_t *replylen,
                            const struct dns_upstreams **up, struct dns_stats *st)
{
    *reply = NULL;
    *replylen = 0;
    *up = NULL;
    *limit = udp_cap ? (udp_cap < 512 ? udp_cap : 512) : 65535;
    if (len < LDNS_HEADER_SIZE || (msg[2] & 0x80)) /* no header, or a response: never answer those */
        return DNS_DROP;
    st->queries++;
    int opcode = (msg[2] >> 3) & 0xf;
    if (opcode != LDNS_PACKET_QUERY) {
        st->refused++;
        *reply = header_reply(msg, len, LDNS_RCODE_NOTIMPL, replylen);
        return *reply ? DNS_REPLY : DNS_DROP;
    }
    ldns_pkt *q = NULL;
    if (ldns_wire2pkt(&q, msg, len) != LDNS_STATUS_OK || ldns_pkt_qdcount(q) != 1 ||
        ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1) {
        ldns_pkt_free(q);
        st->malformed++;
        *reply = header_reply(msg, len, LDNS_RCODE_FORMERR, replylen);
        return *reply ? DNS_REPLY : DNS_DROP;
    }
    if (udp_cap) {
        size_t want = ldns_pkt_edns(q) ? ldns_pkt_edns_udp_size(q) : 512;
        if (want < 512)
            want = 512;
        *limit = want < udp_cap ? want : udp_cap;
    }
    const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    ldns_rr_class qclass = ldns_rr_get_class(question);
    ldns_rr_type qtype = ldns_rr_get_type(question);
    enum dns_zone_result zr = DNS_ZONE_NOT_OURS;
    ldns_rr_list *answer = ldns_rr_list_new();
    if (!answer) {
        ldns_pkt_free(q);
        return DNS_DROP;
    }
    if (qclass == LDNS_RR_CLASS_IN || qclass == LDNS_RR_CLASS_ANY)
        zr = dns_zone_lookup(z, ldns_rr_owner(question), qtype, answer);
    if (zr == DNS_ZONE_NOT_OURS) {
        ldns_rr_list_free(answer);
        char name[1100];
        qname_text(ldns_rr_owner(question), name, sizeof name);
        ldns_pkt_free(q);
        *up = dns_forwarding_pick(f, name);
        if (*up && (*up)->n) {
            st->forwarded++;
            return DNS_FORWARD;
        }
        /* nowhere to send it */
        st->refused++;
        *reply = header_reply(msg, len, LDNS_RCODE_SERVFAIL, replylen);
        return *reply ? DNS_REPLY : DNS_DROP;
    }
    ldns_pkt *r = reply_for(q);
    ldns_pkt_free(q);
    if (!r) {
        ldns_rr_list_deep_free(answer);
        return DNS_DROP;
    }
    ldns_pkt_set_aa(r, true);
    if (zr == DNS_ZONE_NXDOMAIN) {
        st->nxdomain++;
        ldns_pkt_set_rcode(r, LDNS_RCODE_NXDOMAIN);
        ldns_rr_list_free(answer);
    } else {
        st->local++;
        ldns_pkt_push_rr_list(r, LDNS_SECTION_ANSWER, answer);
        ldns_rr_list_free(answer); /* the records belong to r now */
    }
    *reply = finish(r, *limit, replylen, st);
    ldns_pkt_free(r);
    return *reply ? DNS_REPLY : DNS_DROP;
}

uint8_t *dns_truncate(const uint8_t *msg, size_t len, size_t max, size_t *outlen)
{
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK) {
        ldns_pkt_free(p);
        /* unreadable: keep the header only, with TC */
        uint8_t *h = len >= LDNS_HEADER_SIZE ? malloc(LDNS_HEADER_SIZE) : NULL;
        if (!h)
            return NULL;
        memcpy(h, msg, LDNS_HEADER_SIZE);
        h[2] |= 0x02;
        memset(h + 4, 0, 8);
        *outlen = LDNS_HEADER_SIZE;
        return h;
    }
    uint8_t *w = finish(p, 0, outlen, NULL); /* max 0: always the truncated form */
    ldns_pkt_free(p);
    if (w && *outlen > max) { /* even the question does not fit */
        free(w);
        return NULL;
    }
    return w;
}

uint8_t *dns_servfail(const uint8_t *query, size_t len, size_t *outlen)
{
    ldns_pkt *q = NULL;
    if (ldns_wire2pkt(&q, query, len) != LDNS_STATUS_OK) {
        ldns_pkt_free(q);
        return header_reply(query, len, LDNS_RCODE_SERVFAIL, outlen);
    }
    ldns_pkt *r = reply_for(q);
    ldns_pkt_free(q);
    if (!r)
        return NULL;
    ldns_pkt_set_rcode(r, LDNS_RCODE_SERVFAIL);
    uint8_t *w = to_wire(r, outlen);
    ldns_pkt_free(r);
    return w;
}
