// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "modules/control/policy/engine.h"

/* The compiled rules: each rule's sides as sets of node slots, evaluated node by node (rule_eval) when
 * a node changes, or every rule against every node at once (a whole compile). */

/* ---- compiled rules ---- */

void rules_free(struct pol_engine *e)
{
    for (size_t i = 0; i < e->nrules; i++)
        rule_free(&e->rules[i]);
    free(e->rules);
    e->rules = NULL;
    e->nrules = 0;
}

/* Evaluates one node against one rule; returns whether any bit changed (bit 1: S, 2: Sid, 4: D). */
unsigned rule_eval(struct pol_engine *e, struct crule *r, size_t slot, bool present)
{
    const struct enode *n = &e->nodes[slot];
    bool s = false, sid = false, d = false;
    if (present) {
        for (size_t i = 0; i < r->nsrc; i++) {
            if (sel_ident(e, &r->src[i], n))
                s = sid = true;
            else if (!s && sel_addr(e, &r->src[i], n))
                s = true;
        }
        if (s && r->nposture && !sel_posture(e, r->posture, r->nposture, n))
            s = sid = false; /* a source that does not meet the rule's posture is no source */
        if (r->kind == CR_NET) {
            for (size_t i = 0; i < r->net->ndst && !d; i++) {
                const struct alias *a = &r->net->dst[i].a;
                d = a->k == AL_SELF ? (!n->tagged && n->user >= 0) : sel_any(e, a, n);
            }
            if (r->via) {
                /* only the routers named in via carry the rule, for the routes they serve */
                bool tagged_via = false;
                for (size_t i = 0; i < r->net->nvia; i++)
                    tagged_via |= sel_ident(e, &r->net->via[i], n);
                if (!tagged_via)
                    d = false;
            }
        } else {
            for (size_t i = 0; i < r->ndst && !d; i++) {
                const struct alias *a = &r->dst[i];
                d = a->k == AL_SELF ? (!n->tagged && n->user >= 0) : sel_any(e, a, n);
            }
            if (r->via && r->kind == CR_CAP) {
                bool tagged_via = false;
                for (size_t i = 0; i < r->cap->nvia; i++)
                    tagged_via |= sel_ident(e, &r->cap->via[i], n);
                if (!tagged_via)
                    d = false;
            }
        }
    }
    unsigned ch = 0;
    if (bit_get(r->S, slot) != s)
        ch |= 1;
    if (bit_get(r->Sid, slot) != sid)
        ch |= 2;
    if (bit_get(r->D, slot) != d)
        ch |= 4;
    bit_put(r->S, slot, s);
    bit_put(r->Sid, slot, sid);
    bit_put(r->D, slot, d);
    return ch;
}

/* ---- every rule against every node at once (a whole compile) ----
 * The same selectors recur across rules (a group in dozens of sources, a tag in dozens of
 * destinations): each distinct one is matched against the nodes once, as two bitsets (by identity, by
 * address), and a rule's sides are unions of them; the result is what rule_eval gives node by node. */

struct amemo {
    const struct alias *a;
    uint64_t *id, *ad;
};

static bool alias_same(const struct alias *x, const struct alias *y)
{
    if (x->k != y->k || x->idx != y->idx || !x->user != !y->user || (x->user && strcmp(x->user, y->user)))
        return false;
    if (x->k == AL_PREFIX || x->k == AL_HOST)
        return x->pfx.bits == y->pfx.bits && !ip_cmp(&x->pfx.a, &y->pfx.a);
    return true;
}

/* The memo entry of a (matched against every node in use now). NULL if out of memory. */
static const struct amemo *alias_bits(struct pol_engine *e, struct amemo **memo, size_t *n, size_t *cap,
                                      const struct alias *a)
{
    for (size_t i = 0; i < *n; i++)
        if (alias_same((*memo)[i].a, a))
            return &(*memo)[i];
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        struct amemo *v = realloc(*memo, c * sizeof *v);
        if (!v)
            return NULL;
        *memo = v;
        *cap = c;
    }
    struct amemo *m = &(*memo)[*n];
    m->a = a;
    m->id = eng_bits(e);
    m->ad = eng_bits(e);
    if (!m->id || !m->ad) {
        free(m->id);
        free(m->ad);
        return NULL;
    }
    for (size_t s = 0; s < e->nslots; s++) {
        const struct enode *nd = &e->nodes[s];
        if (!nd->used)
            continue;
        if (sel_ident(e, a, nd))
            bit_set(m->id, s);
        else if (sel_addr(e, a, nd))
            bit_set(m->ad, s);
    }
    (*n)++;
    return m;
}

/* A destination side: D |= the nodes alias a concerns (autogroup:self: every user-owned node). */
static int dst_bits(struct pol_engine *e, struct amemo **memo, size_t *n, size_t *cap, const struct alias *a,
                    const uint64_t *member, uint64_t *D)
{
    if (a->k == AL_SELF) {
        for (size_t w = 0; w < e->words; w++)
            D[w] |= member[w];
        return 0;
    }
    const struct amemo *m = alias_bits(e, memo, n, cap, a);
    if (!m)
        return -1;
    for (size_t w = 0; w < e->words; w++)
        D[w] |= m->id[w] | m->ad[w];
    return 0;
}

/* Routers named in via: D keeps only them. */
static int via_bits(struct pol_engine *e, struct amemo **memo, size_t *n, size_t *cap, const struct alias *via,
                    size_t nvia, uint64_t *D)
{
    uint64_t *V = eng_bits(e);
    if (!V)
        return -1;
    for (size_t i = 0; i < nvia; i++) {
        const struct amemo *m = alias_bits(e, memo, n, cap, &via[i]);
        if (!m) {
            free(V);
            return -1;
        }
        for (size_t w = 0; w < e->words; w++)
            V[w] |= m->id[w];
    }
    for (size_t w = 0; w < e->words; w++)
        D[w] &= V[w];
    free(V);
    return 0;
}

int rules_eval_all(struct pol_engine *e)
{
    struct amemo *memo = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    uint64_t *member = eng_bits(e);
    if (!member)
        return -1;
    for (size_t s = 0; s < e->nslots; s++)
        if (e->nodes[s].used && !e->nodes[s].tagged && e->nodes[s].user >= 0)
            bit_set(member, s);
    size_t bytes = e->words * sizeof(uint64_t);
    for (size_t i = 0; i < e->nrules; i++) {
        struct crule *r = &e->rules[i];
        memset(r->S, 0, bytes);
        memset(r->Sid, 0, bytes);
        memset(r->D, 0, bytes);
        for (size_t k = 0; k < r->nsrc; k++) {
            const struct amemo *m = alias_bits(e, &memo, &n, &cap, &r->src[k]);
            if (!m)
                goto out;
            for (size_t w = 0; w < e->words; w++) {
                r->S[w] |= m->id[w] | m->ad[w];
                r->Sid[w] |= m->id[w];
            }
        }
        if (r->nposture) /* a source that does not meet the rule's posture is no source */
            for (size_t s = 0; s < e->nslots; s++)
                if (bit_get(r->S, s) && !sel_posture(e, r->posture, r->nposture, &e->nodes[s])) {
                    bit_clr(r->S, s);
                    bit_clr(r->Sid, s);
                }
        if (r->kind == CR_NET) {
            for (size_t k = 0; k < r->net->ndst; k++)
                if (dst_bits(e, &memo, &n, &cap, &r->net->dst[k].a, member, r->D))
                    goto out;
            if (r->via && via_bits(e, &memo, &n, &cap, r->net->via, r->net->nvia, r->D))
                goto out;
        } else {
            for (size_t k = 0; k < r->ndst; k++)
                if (dst_bits(e, &memo, &n, &cap, &r->dst[k], member, r->D))
                    goto out;
            if (r->via && r->kind == CR_CAP && via_bits(e, &memo, &n, &cap, r->cap->via, r->cap->nvia, r->D))
                goto out;
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(memo[i].id);
        free(memo[i].ad);
    }
    free(memo);
    free(member);
    return rc;
}

static bool src_has(const struct alias *a, size_t n, enum al_kind k)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].k == k)
            return true;
    return false;
}

/* Builds e->rules from the policy in force (allocating their bitsets), without evaluating nodes. */
int rules_build(struct pol_engine *e)
{
    rules_free(e);
    const struct policy *p = e->pol;
    if (!p)
        return 0;
    size_t n = p->nnet + p->ncaps + p->nssh;
    e->rules = calloc(n ? n : 1, sizeof *e->rules);
    if (!e->rules)
        return -1;
    /* network and capability rules in grant order, a grant's network rules before its capability rules */
    size_t in = 0, ic = 0;
    for (size_t g = 0; g < p->ngrants; g++) {
        for (; in < p->nnet && p->net[in].grant == (int)g; in++) {
            struct crule *r = &e->rules[e->nrules++];
            r->kind = CR_NET;
            r->net = &p->net[in];
            r->src = r->net->src;
            r->nsrc = r->net->nsrc;
            r->self = r->net->self;
            r->via = r->net->nvia > 0;
            r->posture = r->net->posture;
            r->nposture = r->net->nposture;
        }
        for (; ic < p->ncaps && p->caps[ic].grant == (int)g; ic++) {
            struct crule *r = &e->rules[e->nrules++];
            r->kind = CR_CAP;
            r->cap = &p->caps[ic];
            r->src = r->cap->src;
            r->nsrc = r->cap->nsrc;
            r->dst = r->cap->dst;
            r->ndst = r->cap->ndst;
            r->self = r->cap->self;
            r->via = r->cap->nvia > 0;
            r->posture = r->cap->posture;
            r->nposture = r->cap->nposture;
        }
    }
    for (; in < p->nnet; in++) { /* the implicit allow-all rule of a policy without ACLs or grants */
        struct crule *r = &e->rules[e->nrules++];
        r->kind = CR_NET;
        r->net = &p->net[in];
        r->src = r->net->src;
        r->nsrc = r->net->nsrc;
    }
    for (size_t i = 0; i < p->nssh; i++) {
        struct crule *r = &e->rules[e->nrules++];
        r->kind = CR_SSH;
        r->ssh = &p->ssh[i];
        r->src = r->ssh->src;
        r->nsrc = r->ssh->nsrc;
        r->dst = r->ssh->dst;
        r->ndst = r->ssh->ndst;
        r->posture = r->ssh->posture;
        r->nposture = r->ssh->nposture;
    }
    for (size_t i = 0; i < e->nrules; i++) {
        struct crule *r = &e->rules[i];
        r->src_star = src_has(r->src, r->nsrc, AL_STAR);
        r->src_danger = src_has(r->src, r->nsrc, AL_DANGER_ALL);
        if (!(r->S = eng_bits(e)) || !(r->Sid = eng_bits(e)) || !(r->D = eng_bits(e)))
            return -1;
    }
    return 0;
}
