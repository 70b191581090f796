// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/parse.h"

/* ACLs and grants -> network rules (one per protocol, the autogroup:self part apart) and application
 * capability grants, checked as Tailscale's control plane checks them. */

/* ---- rules ---- */

/* Sources allowed with an autogroup:self destination: users, groups, autogroup:member, roles; an ACL
 * (not a grant) also takes "*" there, as Tailscale does. */
bool self_src_ok(const struct alias *src, size_t n, bool star_ok)
{
    for (size_t i = 0; i < n; i++) {
        enum al_kind k = src[i].k;
        if (k != AL_USER && k != AL_USER_DOMAIN && k != AL_GROUP && k != AL_MEMBER && k != AL_ROLE &&
            !(star_ok && k == AL_STAR))
            return false;
    }
    return true;
}

static struct netrule *new_net(struct pctx *c)
{
    struct policy *p = c->p;
    struct netrule *v = realloc(p->net, (p->nnet + 1) * sizeof *v);
    if (!v)
        return NULL;
    p->net = v;
    memset(&v[p->nnet], 0, sizeof v[p->nnet]);
    return &v[p->nnet++];
}

static struct caprule *new_cap(struct pctx *c)
{
    struct policy *p = c->p;
    struct caprule *v = realloc(p->caps, (p->ncaps + 1) * sizeof *v);
    if (!v)
        return NULL;
    p->caps = v;
    memset(&v[p->ncaps], 0, sizeof v[p->ncaps]);
    return &v[p->ncaps++];
}

/* Splits "alias:ports" at its last colon ("[v6]:ports" too). 0 or -1. */
static int split_dst(struct tc_arena *a, const char *s, char **alias, const char **ports)
{
    const char *colon;
    size_t alen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        colon = rb + 1;
        s++;
        alen = (size_t)(rb - s);
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        alen = (size_t)(colon - s);
    }
    char *x = tc_arena_alloc(a, alen + 1);
    if (!x)
        return -1;
    memcpy(x, s, alen);
    *alias = x;
    *ports = colon + 1;
    return 0;
}

void parse_acl(struct pctx *c, const struct hj_val *v, int grant)
{
    if (want_obj(c, v, "acls[]"))
        return;
    const struct hj_val *action = NULL, *src = NULL, *dst = NULL, *proto = NULL, *posture = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "action"))
            action = m->val;
        else if (key_is(m, "src") || key_is(m, "users"))
            src = m->val;
        else if (key_is(m, "dst") || key_is(m, "ports"))
            dst = m->val;
        else if (key_is(m, "proto"))
            proto = m->val;
        else if (key_is(m, "srcPosture"))
            posture = m->val;
        else
            perr_add(&c->e, m->pos, "acls: unknown field \"%s\"", m->key);
    }
    const char *act = action ? want_str(c, action, "action") : NULL;
    if (!action) {
        perr_add(&c->e, v->pos, "acls: action must be specified");
        return;
    }
    if (act && strcmp(act, "accept")) {
        perr_add(&c->e, action->pos, "\"%s\" is not a valid action (want \"accept\")", act);
        return;
    }
    int32_t pr = -1;
    if (proto && proto->type != HJ_NULL) {
        const char *ps = NULL;
        char num[16];
        if (proto->type == HJ_NUM) {
            snprintf(num, sizeof num, "%.*s", (int)proto->srclen, proto->src);
            ps = num;
        } else {
            ps = want_str(c, proto, "proto");
        }
        if (ps && *ps && (pr = proto_parse(ps)) < 0) {
            perr_add(&c->e, proto->pos, "proto \"%s\": not a protocol name or number (1-255)", ps);
            return;
        }
    }
    size_t nsrc;
    struct alias *sa = aliases(c, src, "src", AC_SRC, &nsrc);
    struct hj_val **ds;
    size_t nds;
    if (want_strs(c, dst, "dst", &ds, &nds))
        return;
    struct dst_ent *de = alloc(c, nds, sizeof *de);
    if (!de)
        return;
    size_t n = 0, nself = 0;
    for (size_t i = 0; i < nds; i++) {
        char *al;
        const char *ports;
        if (split_dst(&c->p->arena, ds[i]->s, &al, &ports)) {
            perr_add(&c->e, ds[i]->pos, "dst=\"%s\": hostport must contain a colon", ds[i]->s);
            continue;
        }
        struct portrange *pv;
        size_t np;
        const char *why = NULL;
        if (ports_parse(&c->p->arena, ports, &pv, &np, &why)) {
            perr_add(&c->e, ds[i]->pos, "dst=\"%s\": port range \"%s\": %s", ds[i]->s, ports, why ? why : "invalid");
            continue;
        }
        if (pr > 0 && !proto_has_ports(pr) && !all_ports(pv, np)) {
            perr_add(&c->e, ds[i]->pos, "dst=\"%s\": protocol %d has no ports: use \":*\"", ds[i]->s, pr);
            continue;
        }
        if (alias_parse(c->p, al, ds[i]->pos, AC_DST, &de[n].a, &c->e))
            continue;
        de[n].a.text = ds[i]->s;
        de[n].ports = pv;
        de[n].nports = np;
        nself += de[n].a.k == AL_SELF;
        n++;
    }
    if (nself && !self_src_ok(sa, nsrc, true)) {
        perr_add(&c->e, v->pos, "autogroup:self can only be used with users, groups, or supported autogroups");
        return;
    }
    size_t npost = 0;
    const int *post = rule_postures(c, posture, &npost);
    if (!nsrc || !n)
        return; /* nothing to emit (an empty src or dst is legal) */
    int32_t *pp = NULL;
    if (pr > 0) {
        pp = alloc(c, 1, sizeof *pp);
        if (!pp)
            return;
        *pp = pr;
    }
    /* the autogroup:self destinations become a rule of their own */
    for (int self = 0; self < 2; self++) {
        size_t cnt = self ? nself : n - nself;
        if (!cnt)
            continue;
        struct netrule *r = new_net(c);
        if (!r)
            return;
        r->grant = grant;
        r->src = sa;
        r->nsrc = nsrc;
        r->protos = pp;
        r->nprotos = pp ? 1 : 0;
        r->self = self;
        r->posture = post;
        r->nposture = npost;
        r->dst = alloc(c, cnt, sizeof *r->dst);
        if (!r->dst)
            return;
        for (size_t i = 0; i < n; i++)
            if ((de[i].a.k == AL_SELF) == (bool)self)
                r->dst[r->ndst++] = de[i];
    }
}

/* Well-known capabilities of Tailscale's own that grants may carry, and the capability each is answered
 * with in the other direction. */
static const struct {
    const char *cap, *companion;
} ts_caps[] = {
    {"tailscale.com/cap/drive", "tailscale.com/cap/drive-sharer"},
    {"tailscale.com/cap/relay", "tailscale.com/cap/relay-target"},
    {"tailscale.com/cap/kubernetes", NULL},
    {"tailscale.com/cap/webui", NULL},
    {"tailscale.com/cap/tsidp", NULL},
    {"tailscale.com/cap/golink", NULL},
    {"tailscale.com/cap/drive-sharer", NULL},
    {"tailscale.com/cap/relay-target", NULL},
};

/* "domain/path", no scheme, not tailscale.com's own unless one Tailscale lets grants carry. */
int cap_name_ok(struct pctx *c, const struct hj_member *m, const char **companion)
{
    const char *k = m->key;
    const char *slash = strchr(k, '/');
    *companion = NULL;
    if (!slash || slash == k || !slash[1] || strstr(k, "://") || strchr(k, ' ')) {
        perr_add(&c->e, m->pos, "capability name must have the form {domain}/{path}");
        return -1;
    }
    size_t dl = (size_t)(slash - k);
    bool ts = (dl == 13 && !strncmp(k, "tailscale.com", 13)) ||
              (dl > 14 && !strncmp(k + dl - 14, ".tailscale.com", 14));
    if (!ts)
        return 0;
    for (size_t i = 0; i < sizeof ts_caps / sizeof ts_caps[0]; i++)
        if (!strcmp(k, ts_caps[i].cap)) {
            *companion = ts_caps[i].companion;
            return 0;
        }
    perr_add(&c->e, m->pos, "capability name must not be in the tailscale.com domain");
    return -1;
}

/* A grant's "ip" entry: "*", "22", "80-443", "tcp:443", "udp:*", "icmp:*". */
struct ipspec {
    int32_t proto; /* -1 any */
    struct portrange *ports;
    size_t nports;
};

static int parse_ipspec(struct pctx *c, const struct hj_val *ev, struct ipspec *out)
{
    const char *s = ev->s;
    const char *colon = strchr(s, ':');
    out->proto = -1;
    const char *ports = s;
    if (colon) {
        if (strchr(colon + 1, ':')) {
            perr_add(&c->e, ev->pos, "ip \"%s\": expected only one colon in Internet protocol and port type", s);
            return -1;
        }
        char name[32];
        size_t nl = (size_t)(colon - s);
        if (nl >= sizeof name) {
            perr_add(&c->e, ev->pos, "ip \"%s\": unknown protocol", s);
            return -1;
        }
        memcpy(name, s, nl);
        name[nl] = 0;
        if (strcmp(name, "*") && (out->proto = proto_parse(name)) < 0) {
            perr_add(&c->e, ev->pos, "ip \"%s\": unknown protocol \"%s\"", s, name);
            return -1;
        }
        ports = colon + 1;
    }
    const char *why = NULL;
    if (ports_parse(&c->p->arena, ports, &out->ports, &out->nports, &why)) {
        perr_add(&c->e, ev->pos, "port range \"%s\": %s", ports, why ? why : "invalid");
        return -1;
    }
    if (out->proto > 0 && !proto_has_ports(out->proto) && !all_ports(out->ports, out->nports)) {
        perr_add(&c->e, ev->pos, "ip \"%s\": protocol does not support specific ports", s);
        return -1;
    }
    return 0;
}

static bool is_default_route(const struct alias *a)
{
    return (a->k == AL_PREFIX || a->k == AL_HOST) && a->pfx.bits == 0;
}

void parse_grant(struct pctx *c, const struct hj_val *v, int grant)
{
    if (want_obj(c, v, "grants[]"))
        return;
    const struct hj_val *src = NULL, *dst = NULL, *ip = NULL, *app = NULL, *via = NULL, *posture = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "src"))
            src = m->val;
        else if (key_is(m, "dst"))
            dst = m->val;
        else if (key_is(m, "ip"))
            ip = m->val;
        else if (key_is(m, "app"))
            app = m->val;
        else if (key_is(m, "via"))
            via = m->val;
        else if (key_is(m, "srcPosture"))
            posture = m->val;
        else
            perr_add(&c->e, m->pos, "grants: unknown field \"%s\"", m->key);
    }
    size_t nerr = c->e.errs->n;
    size_t nsrc, ndst, nvia = 0, nip = 0;
    struct alias *sa = aliases(c, src, "src", AC_SRC | AC_GRANT, &nsrc);
    struct alias *da = aliases(c, dst, "dst", AC_DST | AC_GRANT, &ndst);
    struct alias *va = NULL;
    if (via) {
        struct hj_val **vs;
        size_t nv;
        if (!want_strs(c, via, "via", &vs, &nv)) {
            va = alloc(c, nv, sizeof *va);
            for (size_t i = 0; va && i < nv; i++) {
                if (strncmp(vs[i]->s, "tag:", 4)) {
                    perr_add(&c->e, vs[i]->pos, "via can only be a tag");
                    continue;
                }
                if (!alias_parse(c->p, vs[i]->s, vs[i]->pos, AC_DST, &va[nvia], &c->e))
                    nvia++;
            }
        }
    }
    size_t npost = 0;
    const int *post = rule_postures(c, posture, &npost);
    struct ipspec *specs = NULL;
    struct hj_val **is = NULL;
    if (ip && !want_strs(c, ip, "ip", &is, &nip)) {
        specs = alloc(c, nip, sizeof *specs);
        size_t k = 0;
        for (size_t i = 0; specs && i < nip; i++)
            if (!parse_ipspec(c, is[i], &specs[k]))
                k++;
        nip = k;
    }
    bool has_app = app && app->type == HJ_OBJ && app->len > 0;
    if (app && app->type != HJ_OBJ && app->type != HJ_NULL)
        perr_add(&c->e, app->pos, "app: want an object of capabilities, not %s", hj_type_name(app->type));
    if ((!ip || ip->type == HJ_NULL || (is && !ip->len)) && !has_app) {
        if (!(ip && ip->type == HJ_ARR && ip->len))
            perr_add(&c->e, v->pos, "ip and app can not both be empty");
    }
    bool self = false, internet = false;
    for (size_t i = 0; i < ndst; i++) {
        self |= da[i].k == AL_SELF;
        internet |= da[i].k == AL_INTERNET;
        if (is_default_route(&da[i]))
            perr_add(&c->e, da[i].pos, "dst \"%s\": to allow all IP addresses, use \"*\" or \"autogroup:internet\"",
                     da[i].text);
    }
    if (self && !self_src_ok(sa, nsrc, false))
        perr_add(&c->e, v->pos, "autogroup:self can only be used with users, groups, or supported autogroups");
    if (has_app && internet)
        perr_add(&c->e, app->pos, "cannot use app grants with autogroup:internet");
    /* the capability map, checked and kept as compact JSON */
    const char *capmap = NULL, *companion = NULL;
    if (has_app) {
        struct jbuf b;
        jbuf_init(&b);
        jbuf_open(&b, '{');
        for (size_t i = 0; i < app->len; i++) {
            const struct hj_member *m = &app->obj[i];
            const char *comp;
            if (cap_name_ok(c, m, &comp))
                continue;
            if (comp)
                companion = comp;
            if (m->val->type != HJ_ARR && m->val->type != HJ_NULL) {
                perr_add(&c->e, m->val->pos, "app[\"%s\"]: want a list of objects, not %s", m->key,
                         hj_type_name(m->val->type));
                continue;
            }
            for (size_t k = 0; m->val->type == HJ_ARR && k < m->val->len; k++)
                if (m->val->arr[k]->type != HJ_OBJ)
                    perr_add(&c->e, m->val->arr[k]->pos, "app[\"%s\"]: want objects, not %s", m->key,
                             hj_type_name(m->val->arr[k]->type));
            jbuf_strn(&b, m->key, m->keylen);
            jbuf_putc(&b, ':');
            if (m->val->type == HJ_NULL)
                jbuf_put(&b, "null", 4);
            else
                hj_emit(&b, m->val);
        }
        jbuf_close(&b, '}');
        char *t = jbuf_take(&b, NULL);
        if (t) {
            char *x = tc_arena_alloc(&c->p->arena, strlen(t) + 1);
            if (x)
                strcpy(x, t);
            capmap = x;
            free(t);
        }
    }
    if (c->e.errs->n != nerr || !nsrc || !ndst)
        return;
    /* network rules: one per protocol, ports in the order written */
    size_t nself = 0;
    for (size_t i = 0; i < ndst; i++)
        nself += da[i].k == AL_SELF;
    bool *done = alloc(c, nip, sizeof *done);
    for (size_t i = 0; done && i < nip; i++) {
        if (done[i])
            continue;
        int32_t pr = specs[i].proto;
        size_t nports = 0;
        for (size_t k = i; k < nip; k++)
            if (specs[k].proto == pr)
                nports += specs[k].nports;
        struct portrange *pv = alloc(c, nports, sizeof *pv);
        if (!pv)
            return;
        size_t np = 0;
        for (size_t k = i; k < nip; k++)
            if (specs[k].proto == pr) {
                memcpy(pv + np, specs[k].ports, specs[k].nports * sizeof *pv);
                np += specs[k].nports;
                done[k] = true;
            }
        int32_t *pp = NULL;
        if (pr > 0) {
            pp = alloc(c, 1, sizeof *pp);
            if (!pp)
                return;
            *pp = pr;
        }
        for (int s = 0; s < 2; s++) {
            size_t cnt = s ? nself : ndst - nself;
            if (!cnt)
                continue;
            struct netrule *r = new_net(c);
            if (!r)
                return;
            r->grant = grant;
            r->src = sa;
            r->nsrc = nsrc;
            r->protos = pp;
            r->nprotos = pp ? 1 : 0;
            r->self = s;
            r->via = va;
            r->nvia = nvia;
            r->posture = post;
            r->nposture = npost;
            r->dst = alloc(c, cnt, sizeof *r->dst);
            if (!r->dst)
                return;
            for (size_t k = 0; k < ndst; k++)
                if ((da[k].k == AL_SELF) == (bool)s)
                    r->dst[r->ndst++] = (struct dst_ent){da[k], pv, np};
        }
    }
    if (capmap) {
        for (int s = 0; s < 2; s++) {
            size_t cnt = s ? nself : ndst - nself;
            if (!cnt)
                continue;
            struct caprule *r = new_cap(c);
            if (!r)
                return;
            struct alias *d = alloc(c, cnt, sizeof *d);
            if (!d)
                return;
            size_t k = 0;
            for (size_t j = 0; j < ndst; j++)
                if ((da[j].k == AL_SELF) == (bool)s)
                    d[k++] = da[j];
            r->grant = grant;
            r->src = sa;
            r->nsrc = nsrc;
            r->dst = d;
            r->ndst = k;
            r->self = s;
            r->capmap = capmap;
            r->companion = companion;
            r->via = va;
            r->nvia = nvia;
            r->posture = post;
            r->nposture = npost;
        }
    }
}
