// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/json/json_util.h"
#include "modules/control/policy/engine.h"

/* The policy's own tests, run against the tailnet before a policy is put in force (Tailscale refuses a
 * policy whose tests fail, "test(s) failed"; weft names each failure).
 *
 * "tests": from a source (a user, group, tag, host or address) to each "host:port" in accept (every
 * source address must reach every destination address) and in deny (none may). A destination is one
 * host (a node selector, a host, or a single address; not a range, not autogroup:self or :internet)
 * and one port; the protocol is TCP unless "proto" names TCP, UDP or SCTP. Anything malformed is a
 * failing test, as Tailscale treats it.
 * "sshTests": from a source to destination nodes, the local users that must be accepted, checked, or
 * denied, evaluated on each destination's SSHPolicy the way the node evaluates it (first matching rule). */

struct fails {
    struct pol_errors *errs;
    int n;
};

static void fail(struct fails *f, struct hj_pos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct fails *f, struct hj_pos pos, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct perr e = {f->errs, NULL};
    perr_add(&e, pos, "test failed: %s", buf);
    f->n++;
}

/* ---- addresses of a test's source and destinations ---- */

struct addrs {
    struct ipaddr v[64];
    size_t n;
    bool more; /* truncated: too many to list (still tested, in chunks, by the caller) */
};

static void addrs_add(struct addrs *a, const struct ipaddr *ip)
{
    for (size_t i = 0; i < a->n; i++)
        if (!ip_cmp(&a->v[i], ip))
            return;
    if (a->n < sizeof a->v / sizeof a->v[0])
        a->v[a->n++] = *ip;
    else
        a->more = true;
}

/* The addresses a selector names for a test: nodes' addresses, or one single address. -1 if it names
 * a range (or nothing a test can address). */
static int sel_addrs(const struct pol_engine *e, const struct alias *a, struct addrs *out)
{
    if (sel_is_addr(a)) {
        if ((a->k != AL_PREFIX && a->k != AL_HOST) || !prefix_is_single(&a->pfx))
            return -1;
        addrs_add(out, &a->pfx.a);
        return 0;
    }
    if (a->k == AL_SELF || a->k == AL_NONROOT)
        return -1;
    for (size_t s = 0; s < e->nslots; s++) {
        const struct enode *n = &e->nodes[s];
        if (!n->used || !sel_ident(e, a, n))
            continue;
        struct ipaddr ips[2];
        size_t ni;
        eng_node_ips(n, ips, &ni);
        for (size_t k = 0; k < ni; k++)
            addrs_add(out, &ips[k]);
    }
    return 0;
}

static const struct enode *node_by_ip(const struct pol_engine *e, const struct ipaddr *ip)
{
    for (size_t s = 0; s < e->nslots; s++) {
        const struct enode *n = &e->nodes[s];
        if (n->used && ((n->has4 && !ip_cmp(&n->ip4, ip)) || (n->has6 && !ip_cmp(&n->ip6, ip))))
            return n;
    }
    return NULL;
}

/* Whether an alias of a rule's source side covers address ip (of node n, NULL if not a node's). */
static bool src_covers(const struct pol_engine *e, const struct alias *a, const struct ipaddr *ip,
                       const struct enode *n)
{
    if (a->k == AL_DANGER_ALL)
        return true;
    if (a->k == AL_STAR) {
        struct netset s;
        netset_init(&s);
        netset_tailnet_all(&s);
        bool in = netset_contains(&s, ip);
        netset_free(&s);
        for (size_t k = 0; !in && k < e->nstar; k++) {
            struct iprange r;
            if (!iprange_parse(e->star[k], strlen(e->star[k]), &r))
                in = r.fam == ip->fam && r.lo <= ip->v && ip->v <= r.hi;
        }
        return in;
    }
    if (sel_is_addr(a)) {
        struct netset s;
        netset_init(&s);
        sel_ranges(e, a, &s);
        bool in = netset_contains(&s, ip);
        netset_free(&s);
        return in;
    }
    return n && sel_ident(e, a, n);
}

static bool dst_covers(const struct pol_engine *e, const struct dst_ent *d, const struct ipaddr *ip,
                       const struct enode *dn, const struct enode *sn, uint16_t port)
{
    bool port_ok = false;
    for (size_t i = 0; i < d->nports; i++)
        port_ok |= d->ports[i].first <= port && port <= d->ports[i].last;
    if (!port_ok)
        return false;
    const struct alias *a = &d->a;
    if (a->k == AL_STAR)
        return true;
    if (a->k == AL_SELF)
        return dn && sn && !dn->tagged && !sn->tagged && dn->user >= 0 && dn->user == sn->user;
    if (sel_is_addr(a)) {
        struct netset s;
        netset_init(&s);
        sel_ranges(e, a, &s);
        bool in = netset_contains(&s, ip);
        netset_free(&s);
        return in;
    }
    return dn && sel_ident(e, a, dn);
}

static bool proto_ok(const struct netrule *r, int32_t proto)
{
    if (!r->nprotos)
        return proto == 6 || proto == 17 || proto == 1 || proto == 58;
    for (size_t i = 0; i < r->nprotos; i++)
        if (r->protos[i] == proto)
            return true;
    return false;
}

static bool allows(const struct pol_engine *e, const struct policy *p, const struct ipaddr *s,
                   const struct ipaddr *d, uint16_t port, int32_t proto)
{
    const struct enode *sn = node_by_ip(e, s), *dn = node_by_ip(e, d);
    for (size_t i = 0; i < p->nnet; i++) {
        const struct netrule *r = &p->net[i];
        if (r->nvia || !proto_ok(r, proto))
            continue;
        bool src = false;
        for (size_t k = 0; k < r->nsrc && !src; k++)
            src = src_covers(e, &r->src[k], s, sn);
        if (!src || (r->nposture && (!sn || !sel_posture(e, r->posture, r->nposture, sn))))
            continue;
        for (size_t k = 0; k < r->ndst; k++)
            if (dst_covers(e, &r->dst[k], d, dn, sn, port))
                return true;
    }
    return false;
}

/* "host:port" of a test. -1 (with why) if malformed. */
static int test_dst(struct pol_engine *e, const char *s, struct addrs *out, uint16_t *port, const char **why)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1]) {
        *why = "want host:port";
        return -1;
    }
    const char *ps = colon + 1;
    long v = 0;
    for (const char *q = ps; *q; q++) {
        if (*q < '0' || *q > '9' || v > 65535) {
            *why = "the port must be a single port number";
            return -1;
        }
        v = v * 10 + (*q - '0');
    }
    if (v < 1 || v > 65535) {
        *why = "port out of range";
        return -1;
    }
    *port = (uint16_t)v;
    char host[512];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host) {
        *why = "host too long";
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    struct perr quiet = {NULL, NULL};
    struct alias a;
    if (alias_parse(e->pol ? e->pol : NULL, host, (struct hj_pos){0, 0}, AC_DST | AC_TEST, &a, &quiet)) {
        *why = "unknown destination";
        return -1;
    }
    if (sel_addrs(e, &a, out)) {
        *why = "the destination must be a single host";
        return -1;
    }
    return 0;
}

static void run_test(struct pol_engine *e, const struct policy *p, const struct pol_test *t, struct fails *f)
{
    if (!t->has_src) {
        fail(f, t->pos, "src \"%s\": not a user, group, tag, host or address", t->src_text ? t->src_text : "");
        return;
    }
    int32_t proto = t->proto < 0 ? 6 : t->proto;
    if (t->proto == -2 || (t->proto >= 0 && t->proto != 6 && t->proto != 17 && t->proto != 132)) {
        fail(f, t->pos, "proto: tests take tcp, udp or sctp");
        return;
    }
    struct addrs src = {.n = 0};
    if (sel_addrs(e, &t->src, &src) || !src.n) {
        fail(f, t->pos, "src \"%s\" names no host", t->src_text);
        return;
    }
    for (int deny = 0; deny < 2; deny++) {
        const char **list = deny ? t->deny : t->accept;
        size_t nl = deny ? t->ndeny : t->naccept;
        for (size_t i = 0; i < nl; i++) {
            /* the destination resolves against the policy under test */
            const struct policy *saved = e->pol;
            e->pol = (struct policy *)p;
            struct addrs dst = {.n = 0};
            uint16_t port = 0;
            const char *why = NULL;
            int rc = test_dst(e, list[i], &dst, &port, &why);
            e->pol = (struct policy *)saved;
            if (rc) {
                fail(f, t->pos, "%s \"%s\": %s", deny ? "deny" : "accept", list[i], why);
                continue;
            }
            if (!dst.n) {
                fail(f, t->pos, "%s \"%s\": names no host", deny ? "deny" : "accept", list[i]);
                continue;
            }
            e->pol = (struct policy *)p;
            for (size_t a = 0; a < src.n; a++)
                for (size_t b = 0; b < dst.n; b++) {
                    bool ok = allows(e, p, &src.v[a], &dst.v[b], port, proto);
                    if (ok == (bool)deny) {
                        char sa[NETSET_TEXT_MAX], db[NETSET_TEXT_MAX];
                        ip_text(&src.v[a], sa);
                        ip_text(&dst.v[b], db);
                        fail(f, t->pos, "%s -> %s (%s:%u): %s", t->src_text, list[i], db, port,
                             deny ? "allowed, but the test denies it" : "not allowed");
                        a = src.n;
                        break;
                    }
                }
            e->pol = (struct policy *)saved;
        }
    }
}

/* ---- SSH tests ---- */

/* The result of an SSH login as user from any address of src on node n's SSHPolicy: 0 reject, 1 accept,
 * 2 check. */
static int ssh_eval(struct json_object *pol, const struct addrs *src, const char *user)
{
    struct json_object *rules;
    if (!json_object_object_get_ex(pol, "rules", &rules))
        return 0;
    size_t n = json_object_array_length(rules);
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(rules, i), *pr, *users, *act;
        if (!json_object_object_get_ex(r, "principals", &pr) || !json_object_object_get_ex(r, "sshUsers", &users))
            continue;
        bool match = false;
        for (size_t k = 0; k < json_object_array_length(pr) && !match; k++) {
            struct json_object *ipo;
            if (!json_object_object_get_ex(json_object_array_get_idx(pr, k), "nodeIP", &ipo))
                continue;
            struct ipaddr ip;
            const char *ips = json_object_get_string(ipo);
            if (ip_parse(ips, strlen(ips), &ip))
                continue;
            for (size_t a = 0; a < src->n; a++)
                match |= !ip_cmp(&src->v[a], &ip);
        }
        if (!match)
            continue;
        struct json_object *m;
        const char *local = NULL;
        if (json_object_object_get_ex(users, user, &m))
            local = json_object_get_string(m);
        else if (strcmp(user, "root") && json_object_object_get_ex(users, "*", &m))
            local = json_object_get_string(m);
        if (!local)
            continue;
        if (!*local)
            return 0;
        if (!json_object_object_get_ex(r, "action", &act))
            return 0;
        struct json_object *x;
        if (json_object_object_get_ex(act, "holdAndDelegate", &x))
            return 2;
        if (json_object_object_get_ex(act, "accept", &x) && json_object_get_boolean(x))
            return 1;
        return 0;
    }
    return 0;
}

static void run_sshtest(struct pol_engine *e, const struct pol_sshtest *t, struct fails *f)
{
    if (!t->has_src) {
        fail(f, t->pos, "sshTests src \"%s\": not a user, group, tag, host or address",
             t->src_text ? t->src_text : "");
        return;
    }
    struct addrs src = {.n = 0};
    if (sel_addrs(e, &t->src, &src) || !src.n) {
        fail(f, t->pos, "sshTests src \"%s\" names no node", t->src_text);
        return;
    }
    size_t ndst = 0;
    for (size_t s = 0; s < e->nslots; s++) {
        struct enode *n = &e->nodes[s];
        if (!n->used)
            continue;
        bool is_dst = false;
        for (size_t i = 0; i < t->ndst && !is_dst; i++) {
            const struct alias *a = &t->dst[i];
            if (a->k == AL_PREFIX || a->k == AL_HOST) {
                /* a single IPv4 address names its node; an IPv6 one does not (Tailscale's tests fail on
                 * it: the captures show the IPv4 form passing and the IPv6 form failing) */
                is_dst = a->pfx.bits != 255 && a->pfx.a.fam == 4 && prefix_is_single(&a->pfx) &&
                         n->has4 && !ip_cmp(&n->ip4, &a->pfx.a);
            } else {
                is_dst = sel_ident(e, a, n);
            }
        }
        if (!is_dst)
            continue;
        ndst++;
        struct jbuf b;
        jbuf_init(&b);
        ssh_build(e, n, &b);
        struct json_object *pol = b.len ? tc_json_parse(b.p, b.len) : NULL;
        jbuf_free(&b);
        const char **lists[3] = {t->accept, t->check, t->deny};
        size_t ns[3] = {t->naccept, t->ncheck, t->ndeny};
        static const char *const want_name[3] = {"accepted", "checked", "denied"};
        for (int l = 0; l < 3; l++)
            for (size_t i = 0; i < ns[l]; i++) {
                int got = pol ? ssh_eval(pol, &src, lists[l][i]) : 0;
                bool ok = l == 0 ? got == 1 : l == 1 ? got == 2 : got == 0;
                if (!ok) {
                    char id[32];
                    snprintf(id, sizeof id, "%lld", (long long)n->id);
                    fail(f, t->pos, "ssh from %s to node %s as \"%s\": want %s, got %s", t->src_text, id,
                         lists[l][i], want_name[l], got == 1 ? "accepted" : got == 2 ? "checked" : "denied");
                }
            }
        json_object_put(pol);
    }
    if (!ndst)
        fail(f, t->pos, "sshTests dst names no node");
}

int tests_run(struct pol_engine *e, const struct policy *p, struct pol_errors *errs)
{
    struct fails f = {errs, 0};
    for (size_t i = 0; i < p->ntests; i++)
        run_test(e, p, &p->tests[i], &f);
    for (size_t i = 0; i < p->nsshtests; i++)
        run_sshtest(e, &p->sshtests[i], &f);
    return f.n ? -1 : 0;
}
