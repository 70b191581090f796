// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "modules/control/policy/engine.h"

/* A node's attributes from "nodeAttrs" (and "randomizeClientPort"), for its CapMap: each attribute of
 * every entry whose target matches the node, with a null value (as Tailscale sends them), and the
 * capabilities of an entry's "app" with their values. "funnel" brings the companions Tailscale's
 * control plane adds to it on a tailnet without HTTPS certificates (weft issues none): the default
 * Funnel ports and the warning that HTTPS is off. Output: sorted JSON object members, no braces. */

struct cap {
    const char *name;
    size_t namelen;
    const char *value; /* JSON text; NULL: null */
    size_t valuelen;
};

struct caps {
    struct cap *v;
    size_t n, cap;
};

static void caps_put(struct caps *c, const char *name, size_t namelen, const char *value, size_t valuelen)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].namelen == namelen && !memcmp(c->v[i].name, name, namelen)) {
            if (value) { /* a later "app" value wins over a bare attribute */
                c->v[i].value = value;
                c->v[i].valuelen = valuelen;
            }
            return;
        }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct cap *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (struct cap){name, namelen, value, valuelen};
}

static int cmp_cap(const void *a, const void *b)
{
    const struct cap *x = a, *y = b;
    size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->namelen > y->namelen) - (x->namelen < y->namelen);
}

static bool target_matches(const struct pol_engine *e, const struct nodeattr *na, const struct enode *n)
{
    for (size_t i = 0; i < na->ntarget; i++)
        if (sel_ident(e, &na->target[i], n) || sel_addr_ip(e, &na->target[i], n))
            return true;
    return false;
}

/* The members of an "app" object text ("\"k\":[...],\"k2\":[...]") into caps. */
static void app_members(struct caps *c, const char *s)
{
    const char *p = s;
    while (*p) {
        if (*p != '"')
            return;
        const char *k = ++p;
        while (*p && *p != '"')
            p += *p == '\\' ? 2 : 1;
        size_t kl = (size_t)(p - k);
        p++; /* quote */
        if (*p != ':')
            return;
        const char *v = ++p;
        int depth = 0;
        bool instr = false;
        for (; *p; p++) {
            if (instr) {
                if (*p == '\\')
                    p++;
                else if (*p == '"')
                    instr = false;
                continue;
            }
            if (*p == '"')
                instr = true;
            else if (*p == '[' || *p == '{')
                depth++;
            else if (*p == ']' || *p == '}')
                depth--;
            else if (*p == ',' && depth == 0)
                break;
        }
        caps_put(c, k, kl, v, (size_t)(p - v));
        if (*p == ',')
            p++;
    }
}

int caps_build(struct pol_engine *e, struct enode *n, struct jbuf *b)
{
    const struct policy *p = e->pol;
    if (!p)
        return 0;
    struct caps c = {0};
    if (p->randomize_client_port)
        caps_put(&c, "randomize-client-port", 21, NULL, 0);
    for (size_t i = 0; i < p->nattrs; i++) {
        const struct nodeattr *na = &p->attrs[i];
        if (!target_matches(e, na, n))
            continue;
        for (size_t k = 0; k < na->nattrs; k++) {
            caps_put(&c, na->attrs[k], strlen(na->attrs[k]), NULL, 0);
            if (!strcmp(na->attrs[k], "funnel")) {
                static const char ports[] = "https://tailscale.com/cap/funnel-ports?ports=443,8443,10000";
                static const char warn[] = "https://tailscale.com/cap/warn-funnel-no-https";
                caps_put(&c, ports, sizeof ports - 1, NULL, 0);
                caps_put(&c, warn, sizeof warn - 1, NULL, 0);
            }
        }
        if (na->app)
            app_members(&c, na->app);
    }
    if (c.n)
        qsort(c.v, c.n, sizeof *c.v, cmp_cap);
    for (size_t i = 0; i < c.n; i++) {
        jbuf_strn(b, c.v[i].name, c.v[i].namelen);
        jbuf_putc(b, ':');
        if (c.v[i].value)
            jbuf_put(b, c.v[i].value, c.v[i].valuelen);
        else
            jbuf_put(b, "null", 4);
    }
    free(c.v);
    return b->oom ? -1 : 0;
}
