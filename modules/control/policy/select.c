// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
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

/* ---- device posture ---- */

/* Dotted version comparison ("1.68.2" < "1.70"): numbers compared as numbers, a missing part as 0. */
static int vcmp(const char *a, const char *b)
{
    while (*a || *b) {
        long x = 0, y = 0;
        while (*a >= '0' && *a <= '9')
            x = x * 10 + (*a++ - '0');
        while (*b >= '0' && *b <= '9')
            y = y * 10 + (*b++ - '0');
        if (x != y)
            return x < y ? -1 : 1;
        if (*a == '.')
            a++;
        else if (*a)
            break; /* "1.68.2-t1234": the numeric part decides */
        if (*b == '.')
            b++;
        else if (*b)
            break;
    }
    return 0;
}

/* A node's value of a posture attribute (NULL: not set). buf holds computed ones. */
static const char *attr_value(const struct enode *n, int attr, char *buf, size_t cap)
{
    switch (attr) {
    case PA_OS:
        if (!n->os)
            return NULL;
        snprintf(buf, cap, "%s", n->os);
        for (char *p = buf; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a'); /* Hostinfo says "macOS", postures write 'macos' */
        return buf;
    case PA_OS_VERSION:
        return n->os_version;
    case PA_TS_VERSION:
        if (!n->ts_version)
            return NULL;
        snprintf(buf, cap, "%.*s", (int)strspn(n->ts_version, "0123456789."), n->ts_version);
        return buf;
    case PA_TS_RELEASE_TRACK: {
        /* Tailscale's stable releases have an even minor version, unstable ones an odd one */
        if (!n->ts_version)
            return NULL;
        const char *dot = strchr(n->ts_version, '.');
        long minor = dot ? strtol(dot + 1, NULL, 10) : 0;
        return minor % 2 ? "unstable" : "stable";
    }
    }
    return NULL;
}

static bool cond_ok(const struct posture_cond *c, const struct enode *n)
{
    char buf[128];
    const char *v = attr_value(n, c->attr, buf, sizeof buf);
    bool version = c->attr == PA_OS_VERSION || c->attr == PA_TS_VERSION;
    switch (c->op) {
    case PC_IS_SET:
        return v != NULL;
    case PC_NOT_SET:
        return v == NULL;
    case PC_IN:
    case PC_NOT_IN: {
        bool in = false;
        for (size_t i = 0; v && i < c->nvals; i++)
            in |= version ? !vcmp(v, c->vals[i]) : !strcmp(v, c->vals[i]);
        return v && (c->op == PC_IN) == in;
    }
    default:
        break;
    }
    if (!v || !c->nvals)
        return false;
    int r = version ? vcmp(v, c->vals[0]) : strcmp(v, c->vals[0]);
    switch (c->op) {
    case PC_EQ: return r == 0;
    case PC_NE: return r != 0;
    case PC_LT: return r < 0;
    case PC_LE: return r <= 0;
    case PC_GT: return r > 0;
    case PC_GE: return r >= 0;
    }
    return false;
}

bool sel_posture(const struct pol_engine *e, const int *postures, size_t n, const struct enode *node)
{
    if (!n)
        return true;
    if (!e->pol)
        return false;
    for (size_t i = 0; i < n; i++) {
        const struct posture *p = &e->pol->postures[postures[i]];
        bool all = true;
        for (size_t k = 0; k < p->nconds && all; k++)
            all = cond_ok(&p->conds[k], node);
        if (all)
            return true; /* one posture met is enough */
    }
    return false;
}
