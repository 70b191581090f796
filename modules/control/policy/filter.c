// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/policy/engine.h"

/* A node's packet filter (spec netmap.md §5): the rules where it is a destination, each reduced to the
 * destinations that concern it, as Tailscale's control plane writes them:
 *  - SrcIPs: the sources' addresses, sorted as text. A node selector lists each matching node's
 *    addresses; an address selector its range as written; "*" the tailnet ranges (CGNAT without
 *    ChromeOS's block, the ULA /48) and every approved subnet route; autogroup:danger-all "*".
 *  - DstPorts: for a node selector the node's own addresses, for an address selector the range as
 *    written (kept when the node's address lies in it or its approved routes overlap it), "*" as "*",
 *    autogroup:internet the public ranges on exit nodes. One entry per address and port range.
 *  - IPProto only when the rule names protocols.
 * Rules with the same sources and protocols are merged (their DstPorts concatenated), as Tailscale
 * does. Capability grants become CapGrant rules (never merged). */

void ip_text(const struct ipaddr *a, char *out)
{
    ip_format(a, out);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted, deduplicated list of strings as a JSON array. */
struct strs {
    char **v;
    size_t n, cap;
    struct tc_arena arena;
};

/* Adds x without copying it: x outlives s (a node's cached address text). */
static int strs_ref(struct strs *s, const char *x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (char *)x;
    return 0;
}

static int strs_add(struct strs *s, const char *x)
{
    size_t l = strlen(x);
    char *c = tc_arena_alloc(&s->arena, l + 1);
    if (!c)
        return -1;
    memcpy(c, x, l + 1);
    return strs_ref(s, c);
}

static void strs_free(struct strs *s)
{
    free(s->v);
    tc_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

static char *strs_json(struct strs *s, size_t *len)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, cmp_text);
    struct jbuf b;
    jbuf_init(&b);
    jbuf_open(&b, '[');
    for (size_t i = 0; i < s->n; i++) {
        if (i && !strcmp(s->v[i], s->v[i - 1]))
            continue;
        jbuf_str(&b, s->v[i]);
    }
    jbuf_close(&b, ']');
    return jbuf_take(&b, len);
}

static void add_node_ips(struct strs *s, const struct enode *n)
{
    if (n->has4)
        strs_ref(s, n->ip4_text);
    if (n->has6)
        strs_ref(s, n->ip6_text);
}

/* The text of an address selector's ranges: a single address bare, a CIDR block as a prefix. */
static void add_addr_alias(const struct pol_engine *e, struct strs *s, const struct alias *a)
{
    char buf[NETSET_TEXT_MAX];
    if (a->k == AL_PREFIX || a->k == AL_HOST) {
        if (prefix_is_single(&a->pfx))
            ip_text(&a->pfx.a, buf);
        else
            prefix_format(&a->pfx, buf);
        strs_add(s, buf);
    } else if (a->k == AL_IPSET && e->pol) {
        const struct netset *set = &e->pol->ipsets[a->idx].set;
        for (size_t i = 0; i < set->n; i++)
            strs_add(s, netset_range_text_cidr(&set->v[i], buf));
    }
}

struct slot_ctx {
    const struct pol_engine *e;
    struct strs *s;
};

int rule_src_text(struct pol_engine *e, struct crule *r)
{
    if (r->src_text)
        return 0;
    struct strs s;
    memset(&s, 0, sizeof s);
    if (r->nposture) {
        /* with a posture only the nodes that meet it: each one's addresses, no ranges */
        for (size_t w = 0; w < e->words; w++) {
            uint64_t x = r->S[w];
            while (x) {
                size_t slot = w * 64 + (size_t)__builtin_ctzll(x);
                x &= x - 1;
                add_node_ips(&s, &e->nodes[slot]);
            }
        }
    } else if (r->src_danger) {
        strs_add(&s, "*");
    } else {
        if (r->src_star)
            for (size_t i = 0; i < e->nstar; i++)
                strs_add(&s, e->star[i]);
        for (size_t i = 0; i < r->nsrc; i++)
            if (sel_is_addr(&r->src[i]))
                add_addr_alias(e, &s, &r->src[i]);
        for (size_t w = 0; w < e->words; w++) {
            uint64_t x = r->Sid[w];
            while (x) {
                size_t slot = w * 64 + (size_t)__builtin_ctzll(x);
                x &= x - 1;
                add_node_ips(&s, &e->nodes[slot]);
            }
        }
    }
    r->src_text = strs_json(&s, &r->src_len);
    strs_free(&s);
    return r->src_text ? 0 : -1;
}

/* The destinations' addresses of a capability grant, for the reverse (companion) rule's SrcIPs. */
static int rule_dst_text(struct pol_engine *e, struct crule *r)
{
    if (r->dst_text)
        return 0;
    struct strs s;
    memset(&s, 0, sizeof s);
    bool star = false;
    for (size_t i = 0; i < r->ndst; i++) {
        if (r->dst[i].k == AL_STAR)
            star = true;
        else if (sel_is_addr(&r->dst[i]))
            add_addr_alias(e, &s, &r->dst[i]);
    }
    if (star)
        for (size_t i = 0; i < e->nstar; i++)
            strs_add(&s, e->star[i]);
    for (size_t w = 0; w < e->words; w++) {
        uint64_t x = r->D[w];
        while (x) {
            size_t slot = w * 64 + (size_t)__builtin_ctzll(x);
            x &= x - 1;
            const struct enode *n = &e->nodes[slot];
            for (size_t i = 0; i < r->ndst; i++)
                if (sel_ident(e, &r->dst[i], n)) {
                    add_node_ips(&s, n);
                    break;
                }
        }
    }
    r->dst_text = strs_json(&s, &r->dst_len);
    strs_free(&s);
    return r->dst_text ? 0 : -1;
}

/* ---- DstPorts ---- */

static void port_entry(struct jbuf *b, const char *ip, const struct portrange *p)
{
    jbuf_open(b, '{');
    jbuf_field(b, "IP");
    jbuf_str(b, ip);
    jbuf_field(b, "Ports");
    jbuf_open(b, '{');
    jbuf_field(b, "First");
    jbuf_i64(b, p->first);
    jbuf_field(b, "Last");
    jbuf_i64(b, p->last);
    jbuf_close(b, '}');
    jbuf_close(b, '}');
}

static void entries(struct jbuf *b, const char *ip, const struct dst_ent *d)
{
    for (size_t i = 0; i < d->nports; i++)
        port_entry(b, ip, &d->ports[i]);
}

/* The DstPorts entries of one destination for node n (none if it does not concern n). */
static void dst_for_node(const struct pol_engine *e, const struct enode *n, const struct dst_ent *d, bool via,
                         struct jbuf *b)
{
    char buf[NETSET_TEXT_MAX];
    const struct alias *a = &d->a;
    switch (a->k) {
    case AL_STAR:
        entries(b, "*", d);
        return;
    case AL_SELF:
        if (n->has4)
            entries(b, n->ip4_text, d);
        if (n->has6)
            entries(b, n->ip6_text, d);
        return;
    case AL_PREFIX:
    case AL_HOST:
        if (via ? false : !sel_addr(e, a, n))
            return;
        if (via) {
            bool ok = false;
            for (size_t i = 0; i < n->nroutes; i++)
                ok |= prefix_overlaps(&n->routes[i], &a->pfx);
            if (!ok)
                return;
        }
        if (prefix_is_single(&a->pfx))
            ip_text(&a->pfx.a, buf);
        else
            prefix_format(&a->pfx, buf);
        entries(b, buf, d);
        return;
    case AL_IPSET:
        if (!e->pol || !sel_addr(e, a, n))
            return;
        for (size_t i = 0; i < e->pol->ipsets[a->idx].set.n; i++)
            entries(b, netset_range_text_cidr(&e->pol->ipsets[a->idx].set.v[i], buf), d);
        return;
    case AL_INTERNET:
        if (!n->exit)
            return;
        {
            struct netset inet;
            netset_init(&inet);
            netset_internet(&inet);
            for (size_t i = 0; i < inet.n; i++)
                entries(b, netset_range_text(&inet.v[i], buf), d);
            netset_free(&inet);
        }
        return;
    default:
        if (via || !sel_ident(e, a, n))
            return;
        if (n->has4)
            entries(b, n->ip4_text, d);
        if (n->has6)
            entries(b, n->ip6_text, d);
        return;
    }
}

/* ---- the filter ---- */

/* One output rule: its SrcIPs text, protocols, and the compiled rules whose destinations it carries. */
struct out {
    const char *src;
    size_t srclen;
    char *own; /* src when built for this node (self rules) */
    const int32_t *protos;
    size_t nprotos;
    size_t *rules;
    size_t nrules;
    int kind; /* 0 net, 1 cap, 2 companion */
};

static bool same_protos(const struct out *o, const struct netrule *r)
{
    if (o->nprotos != r->nprotos)
        return false;
    for (size_t i = 0; i < r->nprotos; i++)
        if (o->protos[i] != r->protos[i])
            return false;
    return true;
}

/* SrcIPs of a self rule for node n: its user's own nodes among the sources (all of them: the
 * destinations, for the reverse rule of a capability). */
static char *self_src(const struct pol_engine *e, const struct crule *r, const struct enode *n, size_t *len,
                      bool all)
{
    if (n->tagged || n->user < 0)
        return NULL;
    const struct euser *u = &e->users[n->user];
    struct strs s;
    memset(&s, 0, sizeof s);
    for (size_t k = 0; k < u->nnodes; k++)
        if (all || bit_get(r->S, u->nodes[k]))
            add_node_ips(&s, &e->nodes[u->nodes[k]]);
    char *t = s.n ? strs_json(&s, len) : NULL;
    strs_free(&s);
    return t;
}

static void cap_dsts(const struct pol_engine *e, const struct enode *n, const struct alias *a, struct jbuf *b)
{
    char buf[NETSET_TEXT_MAX];
    if (sel_is_addr(a) && a->k != AL_STAR) {
        /* the node's own addresses in the range; a served range stays whole */
        struct netset s;
        netset_init(&s);
        sel_ranges(e, a, &s);
        struct ipaddr ips[2];
        size_t ni;
        eng_node_ips(n, ips, &ni);
        for (size_t i = 0; i < ni; i++)
            if (netset_contains(&s, &ips[i]))
                jbuf_str(b, ips[i].fam == 4 ? n->ip4_pfx : n->ip6_pfx);
        for (size_t r = 0; r < n->nroutes; r++) {
            struct iprange rg = prefix_range(&n->routes[r]);
            if (netset_overlaps_range(&s, &rg) && (a->k == AL_PREFIX || a->k == AL_HOST))
                jbuf_str(b, prefix_format(&a->pfx, buf));
        }
        netset_free(&s);
        return;
    }
    if (n->has4)
        jbuf_str(b, n->ip4_pfx);
    if (n->has6)
        jbuf_str(b, n->ip6_pfx);
}

static bool cap_dst_matches(const struct pol_engine *e, const struct alias *a, const struct enode *n)
{
    if (a->k == AL_SELF)
        return !n->tagged && n->user >= 0;
    return sel_any(e, a, n);
}

int filter_build(struct pol_engine *e, struct enode *n, struct jbuf *b)
{
    if (!e->pol && e->allow_all) { /* the configured filter without a policy */
        jbuf_put(b, e->allow_all, e->allow_all_len);
        return b->oom ? -1 : 0;
    }
    if (!e->pol) {
        static const char allow_all[] =
            "[{\"SrcIPs\":[\"*\"],\"DstPorts\":[{\"IP\":\"*\",\"Ports\":{\"First\":0,\"Last\":65535}}]}]";
        jbuf_put(b, allow_all, sizeof allow_all - 1);
        return b->oom ? -1 : 0;
    }
    size_t slot = (size_t)(n - e->nodes);
    struct out *o = calloc(e->nrules * 2 + 1, sizeof *o);
    size_t *idx = calloc(e->nrules * 2 + 1, sizeof *idx);
    if (!o || !idx) {
        free(o);
        free(idx);
        return -1;
    }
    size_t no = 0, nidx = 0;
    int rc = -1;
    for (size_t i = 0; i < e->nrules; i++) {
        struct crule *r = &e->rules[i];
        if (r->kind == CR_SSH)
            continue;
        if (r->kind == CR_CAP && r->via)
            continue; /* an app grant through routers carries nothing to the nodes (only visibility) */
        if (r->kind == CR_CAP && r->cap->companion && bit_get(r->S, slot)) {
            /* the reverse rule: the destinations may use the companion capability towards the sources */
            const char *dt;
            size_t dl;
            char *own = NULL;
            if (r->self) {
                own = self_src(e, r, n, &dl, true);
                dt = own;
            } else {
                if (rule_dst_text(e, r))
                    goto out;
                dt = r->dst_text;
                dl = r->dst_len;
            }
            if (dt) {
                o[no] = (struct out){dt, dl, own, NULL, 0, &idx[nidx], 1, 2};
                idx[nidx++] = i;
                no++;
            }
        }
        if (!bit_get(r->D, slot))
            continue;
        const char *src;
        size_t srclen;
        char *own = NULL;
        if (r->self) {
            own = self_src(e, r, n, &srclen, false);
            if (!own)
                continue;
            src = own;
        } else {
            if (rule_src_text(e, r))
                goto out;
            src = r->src_text;
            srclen = r->src_len;
            if (r->kind == CR_NET && srclen <= 2) /* no sources: nothing to allow */
                continue;
        }
        if (r->kind == CR_CAP) {
            o[no] = (struct out){src, srclen, own, NULL, 0, &idx[nidx], 1, 1};
            idx[nidx++] = i;
            no++;
            continue;
        }
        size_t k;
        for (k = 0; k < no; k++)
            if (o[k].kind == 0 && o[k].srclen == srclen && !memcmp(o[k].src, src, srclen) &&
                same_protos(&o[k], r->net))
                break;
        if (k == no) {
            o[no] = (struct out){src, srclen, own, r->net->protos, r->net->nprotos, NULL, 0, 0};
            no++;
        } else {
            free(own);
        }
        /* the indexes of one output rule are kept in a list of their own (rebuilt below) */
        o[k].nrules++;
        idx[nidx++] = i | ((size_t)k << 32);
    }
    /* group the net rules' indexes by output rule */
    size_t *grouped = calloc(nidx + 1, sizeof *grouped);
    if (!grouped)
        goto out;
    size_t at = 0;
    for (size_t k = 0; k < no; k++) {
        if (o[k].kind != 0)
            continue;
        size_t start = at;
        for (size_t j = 0; j < nidx; j++)
            if ((idx[j] >> 32) == k && e->rules[idx[j] & 0xffffffff].kind == CR_NET)
                grouped[at++] = idx[j] & 0xffffffff;
        o[k].rules = grouped + start;
        o[k].nrules = at - start;
    }
    jbuf_open(b, '[');
    for (size_t k = 0; k < no; k++) {
        jbuf_open(b, '{');
        jbuf_field(b, "SrcIPs");
        jbuf_raw(b, o[k].src, o[k].srclen);
        if (o[k].kind == 0) {
            jbuf_field(b, "DstPorts");
            jbuf_open(b, '[');
            for (size_t j = 0; j < o[k].nrules; j++) {
                const struct crule *r = &e->rules[o[k].rules[j]];
                for (size_t d = 0; d < r->net->ndst; d++)
                    dst_for_node(e, n, &r->net->dst[d], r->via, b);
            }
            jbuf_close(b, ']');
            if (o[k].nprotos) {
                jbuf_field(b, "IPProto");
                jbuf_open(b, '[');
                for (size_t j = 0; j < o[k].nprotos; j++)
                    jbuf_i64(b, o[k].protos[j]);
                jbuf_close(b, ']');
            }
        } else {
            const struct crule *r = &e->rules[o[k].rules[0] & 0xffffffff];
            jbuf_field(b, "CapGrant");
            jbuf_open(b, '[');
            if (o[k].kind == 2) {
                jbuf_open(b, '{');
                jbuf_field(b, "Dsts");
                jbuf_open(b, '[');
                cap_dsts(e, n, &(struct alias){.k = AL_MEMBER}, b);
                jbuf_close(b, ']');
                jbuf_field(b, "CapMap");
                jbuf_open(b, '{');
                jbuf_name(b, r->cap->companion);
                jbuf_null(b);
                jbuf_close(b, '}');
                jbuf_close(b, '}');
            } else {
                for (size_t d = 0; d < r->ndst; d++) {
                    if (!cap_dst_matches(e, &r->dst[d], n))
                        continue;
                    jbuf_open(b, '{');
                    jbuf_field(b, "Dsts");
                    jbuf_open(b, '[');
                    cap_dsts(e, n, &r->dst[d], b);
                    jbuf_close(b, ']');
                    jbuf_field(b, "CapMap");
                    jbuf_raw(b, r->cap->capmap, strlen(r->cap->capmap));
                    jbuf_close(b, '}');
                }
            }
            jbuf_close(b, ']');
        }
        jbuf_close(b, '}');
    }
    jbuf_close(b, ']');
    free(grouped);
    rc = b->oom ? -1 : 0;
out:
    for (size_t k = 0; k < no; k++)
        free(o[k].own);
    free(o);
    free(idx);
    return rc;
}
