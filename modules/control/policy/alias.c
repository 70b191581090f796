// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/policy/model.h"

/* The selector grammar every section shares ("src", "dst", tag owners, group members, node attribute
 * targets, test sources...): what each form names and where it may appear. Messages follow the wording
 * of Tailscale's control plane where the captures show it, so an error reads the same on both. */

static const struct {
    const char *name;
    enum al_kind k;
    int role;
} autogroups[] = {
    {"member", AL_MEMBER, 0},
    {"tagged", AL_TAGGED, 0},
    {"self", AL_SELF, 0},
    {"internet", AL_INTERNET, 0},
    {"danger-all", AL_DANGER_ALL, 0},
    {"nonroot", AL_NONROOT, 0},
    {"shared", AL_SHARED, 0},
    {"owner", AL_ROLE, POL_ROLE_OWNER},
    {"admin", AL_ROLE, POL_ROLE_ADMIN},
    {"network-admin", AL_ROLE, POL_ROLE_NETWORK_ADMIN},
    {"it-admin", AL_ROLE, POL_ROLE_IT_ADMIN},
    {"billing-admin", AL_ROLE, POL_ROLE_BILLING_ADMIN},
    {"auditor", AL_ROLE, POL_ROLE_AUDITOR},
};

static const char *side(int ctx)
{
    if (ctx & AC_SRC)
        return "src";
    if (ctx & AC_DST)
        return "dst";
    if (ctx & AC_OWNER)
        return "tagOwners";
    if (ctx & AC_ATTR)
        return "target";
    return "alias";
}

/* Host names: letters, digits, '-', '.', '_' (what Tailscale takes in "hosts"). */
static bool host_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '.' || *p == '_'))
            return false;
    return true;
}

static int find_named(const char *name, const void *base, size_t n, size_t stride, size_t name_off)
{
    for (size_t i = 0; i < n; i++) {
        const char *const *nm = (const char *const *)((const char *)base + i * stride + name_off);
        if (!strcmp(*nm, name))
            return (int)i;
    }
    return -1;
}

int tag_index(const struct policy *p, const char *tag)
{
    return find_named(tag, p->tags, p->ntags, sizeof *p->tags, offsetof(struct pol_tag, name));
}

int alias_parse(struct policy *p, const char *s, struct hj_pos pos, int ctx, struct alias *out, struct perr *e)
{
    memset(out, 0, sizeof *out);
    out->text = s;
    out->pos = pos;
    if (!*s) {
        perr_add(e, pos, "%s: empty selector", side(ctx));
        return -1;
    }
    if (!strcmp(s, "*")) {
        if (ctx & (AC_OWNER | AC_GROUP | AC_IPSET | AC_APPROVER)) {
            perr_add(e, pos, "%s: \"*\" is not allowed here", side(ctx));
            return -1;
        }
        out->k = AL_STAR;
        return 0;
    }
    if (!strncmp(s, "autogroup:", 10)) {
        const char *n = s + 10;
        for (size_t i = 0; i < sizeof autogroups / sizeof autogroups[0]; i++) {
            if (strcmp(n, autogroups[i].name))
                continue;
            out->k = autogroups[i].k;
            out->idx = autogroups[i].role;
            if (out->k == AL_ROLE)
                p->uses_roles = true;
            if (out->k == AL_SELF && (ctx & AC_SRC)) {
                perr_add(e, pos, "\"autogroup:self\" not valid on the src side of a rule");
                return -1;
            }
            if (out->k == AL_SELF && (ctx & (AC_ATTR | AC_OWNER | AC_GROUP | AC_IPSET | AC_APPROVER))) {
                perr_add(e, pos, "%s: autogroup:self can only be a destination", side(ctx));
                return -1;
            }
            if (out->k == AL_DANGER_ALL && !(ctx & AC_SRC)) {
                perr_add(e, pos, "cannot use autogroup:danger-all as a dst");
                return -1;
            }
            if (out->k == AL_INTERNET && !(ctx & (AC_DST | AC_IPSET)) ) {
                perr_add(e, pos, "%s: autogroup:internet can only be used in ACL and grant destinations", side(ctx));
                return -1;
            }
            if (out->k == AL_INTERNET && (ctx & AC_SSH)) {
                perr_add(e, pos, "autogroup:internet is not valid as an SSH destination");
                return -1;
            }
            if (out->k == AL_NONROOT) {
                perr_add(e, pos, "%s: autogroup:nonroot can only be used in SSH users", side(ctx));
                return -1;
            }
            if ((ctx & AC_IPSET) && out->k != AL_INTERNET) {
                perr_add(e, pos, "ipsets: %s is not an address range (only autogroup:internet may be used)", s);
                return -1;
            }
            if ((ctx & (AC_OWNER | AC_GROUP | AC_APPROVER)) && out->k != AL_ROLE) {
                perr_add(e, pos, "%s: %s cannot be used here", side(ctx), s);
                return -1;
            }
            return 0;
        }
        perr_add(e, pos, "%s: unknown autogroup %s", side(ctx), s);
        return -1;
    }
    if (!strncmp(s, "group:", 6)) {
        if (ctx & AC_IPSET) {
            perr_add(e, pos, "ipsets: %s: groups cannot be used in IP sets", s);
            return -1;
        }
        int i = find_named(s, p->groups, p->ngroups, sizeof *p->groups, offsetof(struct pol_group, name));
        if (i < 0) {
            perr_add(e, pos, "%s=group not found: \"%s\"", side(ctx), s);
            return -1;
        }
        out->k = AL_GROUP;
        out->idx = i;
        return 0;
    }
    if (!strncmp(s, "tag:", 4)) {
        if (ctx & (AC_IPSET | AC_GROUP)) {
            perr_add(e, pos, "%s: tags cannot be used here", s);
            return -1;
        }
        if (!((s[4] >= 'a' && s[4] <= 'z') || (s[4] >= 'A' && s[4] <= 'Z'))) {
            perr_add(e, pos, "%s: tag names must start with a letter, after 'tag:'", s);
            return -1;
        }
        int i = tag_index(p, s);
        if (i < 0) {
            perr_add(e, pos, "%s=tag not found: \"%s\"", side(ctx), s);
            return -1;
        }
        out->k = AL_TAG;
        out->idx = i;
        return 0;
    }
    if (!strncmp(s, "ipset:", 6)) {
        int i = find_named(s, p->ipsets, p->nipsets, sizeof *p->ipsets, offsetof(struct pol_ipset, name));
        if (i < 0) {
            perr_add(e, pos, "%s=ipset not found: \"%s\"", side(ctx), s);
            return -1;
        }
        if (ctx & (AC_OWNER | AC_GROUP | AC_APPROVER)) {
            perr_add(e, pos, "%s: %s cannot be used here", side(ctx), s);
            return -1;
        }
        out->k = AL_IPSET;
        out->idx = i;
        return 0;
    }
    if (!strncmp(s, "posture:", 8)) {
        perr_add(e, pos, "%s: %s: a posture is not a selector (use it in srcPosture)", side(ctx), s);
        return -1;
    }
    if (!strncmp(s, "user:", 5) || strchr(s, '@')) {
        const char *u = !strncmp(s, "user:", 5) ? s + 5 : s;
        if (ctx & AC_IPSET) {
            perr_add(e, pos, "ipsets: %s: users cannot be used in IP sets", s);
            return -1;
        }
        if (!strncmp(u, "*@", 2)) {
            if (!u[2] || strchr(u + 2, '@') || strchr(u + 2, '*')) {
                perr_add(e, pos, "%s: %s: want user:*@<domain>", side(ctx), s);
                return -1;
            }
            out->k = AL_USER_DOMAIN;
            out->user = u + 2;
            return 0;
        }
        const char *at = strchr(u, '@');
        if (!at || at == u || strchr(at + 1, '@') || strchr(u, '*')) {
            perr_add(e, pos, "%s: %s: not a user (want user@domain, or name@ for a login without a domain)",
                     side(ctx), s);
            return -1;
        }
        out->k = AL_USER;
        if (!at[1]) { /* "alice@": the login "alice" */
            char *l = tc_arena_alloc(&p->arena, (size_t)(at - u) + 1);
            if (!l)
                return -1;
            memcpy(l, u, (size_t)(at - u));
            out->user = l;
        } else {
            out->user = u;
        }
        return 0;
    }
    /* an address or CIDR */
    if (strchr(s, ':') || (s[0] >= '0' && s[0] <= '9')) {
        struct ipprefix pf;
        size_t n = strlen(s);
        if (prefix_parse(s, n, false, &pf)) {
            if (memchr(s, '-', n) && (ctx & AC_IPSET)) {
                struct iprange r;
                if (!iprange_parse(s, n, &r)) {
                    /* an address range: only IP sets take them; the parser of ipsets handles it */
                    perr_add(e, pos, "%s: address ranges are written in IP sets as add/remove entries", s);
                    return -1;
                }
            }
            perr_add(e, pos, "\"%s\": invalid address", s);
            return -1;
        }
        struct ipprefix strict;
        if (prefix_parse(s, n, true, &strict)) {
            perr_add(e, pos, "%s=%s: prefix has bits set beyond its mask (did you mean %s?)", side(ctx), s,
                     prefix_format(&pf, (char[NETSET_TEXT_MAX]){0}));
            return -1;
        }
        if (ctx & (AC_OWNER | AC_GROUP | AC_APPROVER)) {
            perr_add(e, pos, "%s: %s: addresses cannot be used here", side(ctx), s);
            return -1;
        }
        out->k = AL_PREFIX;
        out->pfx = pf;
        return 0;
    }
    if (host_name_ok(s)) {
        int i = find_named(s, p->hosts, p->nhosts, sizeof *p->hosts, offsetof(struct pol_host, name));
        if (i >= 0) {
            if (ctx & (AC_OWNER | AC_GROUP | AC_APPROVER)) {
                perr_add(e, pos, "%s: %s: hosts cannot be used here", side(ctx), s);
                return -1;
            }
            out->k = AL_HOST;
            out->idx = i;
            out->pfx = p->hosts[i].pfx;
            return 0;
        }
        perr_add(e, pos, "%s=host not found: \"%s\"", side(ctx), s);
        return -1;
    }
    perr_add(e, pos, "\"%s\": invalid address", s);
    return -1;
}

static int port_num(const char *s, size_t n, long *out)
{
    if (n == 0 || n > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int ports_parse(struct tc_arena *a, const char *s, struct portrange **out, size_t *nout, const char **why)
{
    if (!strcmp(s, "*")) {
        struct portrange *r = tc_arena_alloc(a, sizeof *r);
        if (!r)
            return -1;
        r->first = 0;
        r->last = 65535;
        *out = r;
        *nout = 1;
        return 0;
    }
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    struct portrange *v = tc_arena_array(a, cap, sizeof *v);
    if (!v)
        return -1;
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *dash = memchr(p, '-', len);
        long first, last;
        if (dash) {
            if (port_num(p, (size_t)(dash - p), &first)) {
                *why = "invalid first integer";
                return -1;
            }
            if (port_num(dash + 1, len - (size_t)(dash - p) - 1, &last)) {
                *why = "invalid last integer";
                return -1;
            }
            if (first > 65535 || last > 65535) {
                *why = "port number out of range";
                return -1;
            }
            if (first > last) {
                *why = "first port is greater than last port";
                return -1;
            }
        } else {
            if (port_num(p, len, &first)) {
                *why = "invalid first integer";
                return -1;
            }
            if (first > 65535) {
                *why = "port number out of range";
                return -1;
            }
            if (first == 0) {
                *why = "first port must be >0, or use '*' for wildcard";
                return -1;
            }
            last = first;
        }
        v[n].first = (uint16_t)first;
        v[n].last = (uint16_t)last;
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    *out = v;
    *nout = n;
    return 0;
}
