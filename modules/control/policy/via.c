// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <string.h>

#include "modules/control/policy/engine.h"

/* Which router a node is offered a subnet route through (pol_via_router in policy.h), via grants
 * included.
 *
 * A grant with "via": [tags] lets its sources reach its destinations only through routers carrying one
 * of the tags (the filter side is filter.c: only those routers get the rule). On the route side, as
 * Tailscale's control plane does it (checked against its captures, t/policy-golden.t):
 *  - a prefix concerns a grant when the viewer is one of its sources and one of its address destinations
 *    overlaps the prefix (a /24 inside a router's /16 steers the whole /16), or when the viewer is one
 *    of its destinations and one of its address sources overlaps the prefix (replies go back through
 *    the router); "*" overlaps every route;
 *  - a router of the prefix itself gets it at the primary (HA routers see each other's);
 *  - if the viewer reaches the prefix through any grant without via, the prefix stays with its primary:
 *    the ordinary path wins over a via one;
 *  - else, if a via grant concerns it, the prefix goes to the primary when the primary carries a via
 *    tag, otherwise to the first router (in the caller's order) that does; none: to no router;
 *  - else (no grant concerns it) no router: a node is offered only the routes the policy lets it reach
 *    (with no policy in force, every node reaches every route: the primary). */

/* Whether one of the address selectors a overlaps pr ("*" overlaps every route: as a source it holds
 * every approved subnet route, as a destination it reaches them). */
static bool addrs_overlap(const struct pol_engine *e, const struct alias *a, size_t n, size_t stride,
                          const struct iprange *pr)
{
    for (size_t i = 0; i < n; i++) {
        const struct alias *x = (const struct alias *)((const char *)a + i * stride);
        if (x->k == AL_STAR || x->k == AL_DANGER_ALL)
            return true;
        if (!sel_is_addr(x))
            continue;
        struct netset s;
        netset_init(&s);
        bool hit = !sel_ranges(e, x, &s) && netset_overlaps_range(&s, pr);
        netset_free(&s);
        if (hit)
            return true;
    }
    return false;
}

/* Whether rule r lets the node in slot reach pr (it is a source, a destination overlaps pr) or lets pr
 * reach the node (it is a destination, a source range overlaps pr: the replies go back through the
 * router). */
static bool concerns(const struct pol_engine *e, const struct crule *r, size_t slot, const struct iprange *pr,
                     bool *forward)
{
    *forward = false;
    if (bit_get(r->S, slot)) {
        if (r->kind == CR_NET)
            *forward = addrs_overlap(e, &r->net->dst[0].a, r->net->ndst, sizeof *r->net->dst, pr);
        else
            *forward = addrs_overlap(e, r->dst, r->ndst, sizeof *r->dst, pr);
        if (*forward)
            return true;
    }
    /* an autogroup:self rule's sources are the user's own devices, whatever it writes */
    return !r->self && bit_get(r->D, slot) && addrs_overlap(e, r->src, r->nsrc, sizeof *r->src, pr);
}

static bool carries_via(const struct pol_engine *e, const struct crule *r, const struct enode *router)
{
    const struct alias *via = r->kind == CR_NET ? r->net->via : r->cap->via;
    size_t n = r->kind == CR_NET ? r->net->nvia : r->cap->nvia;
    for (size_t i = 0; i < n; i++)
        if (sel_ident(e, &via[i], router))
            return true;
    return false;
}

/* Whether n serves p itself (it is one of p's routers: the routers of one prefix see its primary). */
static bool serves(const struct enode *n, const struct ipprefix *p)
{
    for (size_t i = 0; i < n->nroutes; i++)
        if (n->routes[i].bits == p->bits && !ip_cmp(&n->routes[i].a, &p->a))
            return true;
    return false;
}

bool pol_has_via(const struct pol_engine *e)
{
    for (size_t i = 0; i < e->nrules; i++)
        if (e->rules[i].kind == CR_NET && e->rules[i].via)
            return true;
    return false;
}

int64_t pol_via_router(struct pol_engine *e, int64_t viewer, const char *prefix, const int64_t *routers,
                       size_t n, int64_t primary)
{
    const struct enode *v = eng_node(e, viewer);
    struct ipprefix p;
    if (!v || !e->pol || prefix_parse(prefix, strlen(prefix), false, &p) || !p.bits)
        return POL_VIA_PRIMARY;
    size_t slot = (size_t)(v - e->nodes);
    struct iprange pr = prefix_range(&p);
    if (serves(v, &p))
        return POL_VIA_PRIMARY;
    const struct crule *via[64];
    size_t nvia = 0;
    for (size_t i = 0; i < e->nrules; i++) {
        const struct crule *r = &e->rules[i];
        bool fwd;
        if ((r->kind != CR_NET && r->kind != CR_CAP) || !concerns(e, r, slot, &pr, &fwd))
            continue;
        if (!r->via)
            return POL_VIA_PRIMARY; /* reached (or reaching) without via: the primary */
        if (fwd && nvia < sizeof via / sizeof via[0])
            via[nvia++] = r;
    }
    if (!nvia)
        return 0; /* no grant lets viewer reach it: it is not offered at all */
    const struct enode *pn = primary ? eng_node(e, primary) : NULL;
    for (size_t k = 0; pn && k < nvia; k++)
        if (carries_via(e, via[k], pn))
            for (size_t i = 0; i < n; i++)
                if (routers[i] == primary)
                    return primary;
    for (size_t i = 0; i < n; i++) {
        const struct enode *rn = eng_node(e, routers[i]);
        for (size_t k = 0; rn && k < nvia; k++)
            if (carries_via(e, via[k], rn))
                return routers[i];
    }
    return 0;
}
