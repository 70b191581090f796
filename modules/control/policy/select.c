// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "modules/control/policy/engine.h"

/* Which nodes a selector matches. Two ways, kept apart because they end up in different places:
 *  - by identity: users, groups, tags, autogroup:member/:tagged, roles. Such a source lists the node's
 *    own addresses in SrcIPs; such a destination is reduced to the node's addresses in DstPorts.
 *  - by address: IPs, CIDRs, hosts, IP sets, autogroup:internet, "*". The rule keeps the range as
 *    written; a node is concerned when one of its addresses lies in it or one of its approved subnet
 *    routes overlaps it (the router serves that range), or, for public ranges, when it is an exit node. */

bool sel_is_addr(const struct alias *a)
{
    return a->k == AL_PREFIX || a->k == AL_HOST || a->k == AL_IPSET || a->k == AL_INTERNET || a->k == AL_STAR ||
           a->k == AL_DANGER_ALL;
}

static const struct euser *user_of(const struct pol_engine *e, const struct enode *n)
{
    return n->user >= 0 && !n->tagged ? &e->users[n->user] : NULL;
}

static bool has_tag(const struct enode *n, const char *tag)
{
    size_t lo = 0, hi = n->ntags;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(n->tags[mid], tag);
        if (!c)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool sel_ident(const struct pol_engine *e, const struct alias *a, const struct enode *n)
{
    const struct euser *u;
    switch (a->k) {
    case AL_USER:
        u = user_of(e, n);
        return u && !strcmp(u->login, a->user);
    case AL_USER_DOMAIN:
        u = user_of(e, n);
        return u && !strcmp(u->domain, a->user);
    case AL_GROUP:
        u = user_of(e, n);
        return u && u->groups && bit_get(u->groups, (size_t)a->idx);
    case AL_TAG:
        return n->tagged && e->pol && has_tag(n, e->pol->tags[a->idx].name);
    case AL_MEMBER:
        return !n->tagged && n->user >= 0;
    case AL_TAGGED:
        return n->tagged;
    case AL_ROLE:
        u = user_of(e, n);
        return u && (u->roles & (unsigned)a->idx);
    default:
        return false;
    }
}

static bool node_in_prefix(const struct enode *n, const struct ipprefix *p)
{
    return (n->has4 && prefix_contains(p, &n->ip4)) || (n->has6 && prefix_contains(p, &n->ip6));
}

static bool routes_overlap(const struct enode *n, const struct ipprefix *p)
{
    for (size_t i = 0; i < n->nroutes; i++)
        if (prefix_overlaps(&n->routes[i], p))
            return true;
    return false;
}

static bool node_in_set(const struct enode *n, const struct netset *s)
{
    if ((n->has4 && netset_contains(s, &n->ip4)) || (n->has6 && netset_contains(s, &n->ip6)))
        return true;
    for (size_t i = 0; i < n->nroutes; i++) {
        struct iprange r = prefix_range(&n->routes[i]);
        if (netset_overlaps_range(s, &r))
            return true;
    }
    return false;
}

/* A public range (no private, CGNAT or link-local address in it) reaches the internet: exit nodes
 * carry it. */
static bool is_public(const struct ipprefix *p)
{
    static struct netset inet;
    static bool init;
    if (!init) {
        netset_init(&inet);
        netset_internet(&inet);
        init = true;
    }
    struct iprange r = prefix_range(p);
    return netset_covers_range(&inet, &r);
}

bool sel_addr(const struct pol_engine *e, const struct alias *a, const struct enode *n)
{
    switch (a->k) {
    case AL_STAR:
    case AL_DANGER_ALL:
        return true;
    case AL_PREFIX:
    case AL_HOST:
        return node_in_prefix(n, &a->pfx) || routes_overlap(n, &a->pfx) || (n->exit && is_public(&a->pfx));
    case AL_IPSET:
        return e->pol && node_in_set(n, &e->pol->ipsets[a->idx].set);
    case AL_INTERNET:
        return n->exit;
    default:
        return false;
    }
}

bool sel_addr_ip(const struct pol_engine *e, const struct alias *a, const struct enode *n)
{
    switch (a->k) {
    case AL_STAR:
        return true;
    case AL_PREFIX:
    case AL_HOST:
        return node_in_prefix(n, &a->pfx);
    case AL_IPSET:
        return e->pol && ((n->has4 && netset_contains(&e->pol->ipsets[a->idx].set, &n->ip4)) ||
                          (n->has6 && netset_contains(&e->pol->ipsets[a->idx].set, &n->ip6)));
    default:
        return false;
    }
}

int sel_ranges(const struct pol_engine *e, const struct alias *a, struct netset *s)
{
    switch (a->k) {
    case AL_PREFIX:
    case AL_HOST:
        return netset_add_prefix(s, &a->pfx);
    case AL_IPSET:
        return e->pol ? netset_add_set(s, &e->pol->ipsets[a->idx].set) : 0;
    case AL_INTERNET:
        return netset_internet(s);
    case AL_STAR:
        return netset_tailnet_all(s);
    default:
        return 0;
    }
}

void sel_resolve_users(struct pol_engine *e, const struct policy *p)
{
    size_t words = p && p->ngroups ? (p->ngroups + 63) / 64 : 0;
    for (size_t i = 0; i < e->nusers; i++) {
        struct euser *u = &e->users[i];
        free(u->groups);
        u->groups = NULL;
        if (!words)
            continue;
        u->groups = calloc(words, sizeof *u->groups);
        if (!u->groups)
            continue;
        for (size_t g = 0; g < p->ngroups; g++)
            for (size_t m = 0; m < p->groups[g].nmembers; m++) {
                const struct alias *a = &p->groups[g].members[m];
                if ((a->k == AL_USER && !strcmp(a->user, u->login)) ||
                    (a->k == AL_USER_DOMAIN && !strcmp(a->user, u->domain)))
                    bit_set(u->groups, g);
            }
    }
}
