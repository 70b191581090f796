// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/netlink.h"
#include "modules/control/access.h"
#include "modules/control/ctrl.h"
#include "modules/control/routes.h"
#include "modules/control/store.h"

/* The route model (routes.h). The access policy (access.c) connects its autoApprovers by setting
 * c->approver when its engine is created (pol_route_auto_approved), and calls routes_auto_approve_all after
 * each policy it puts in force. Its engine reads each node's advertised and approved routes (for
 * autogroup:internet, via and subnet destinations): it is told here whenever they change. */

static const char exit4[] = "0.0.0.0/0", exit6[] = "::/0";

static bool is_exit_text(const char *r)
{
    return !strcmp(r, exit4) || !strcmp(r, exit6);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strlist_sort(struct model_strlist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

static bool strlist_equal(const struct model_strlist *a, const struct model_strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]))
            return false;
    return true;
}

static void strlist_remove(struct model_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) {
            free(l->v[i]);
            memmove(l->v + i, l->v + i + 1, (l->n - i - 1) * sizeof *l->v);
            l->n--;
            return;
        }
}

/* 1 if the two prefixes share addresses (one contains the other). */
static bool overlaps(const struct nl_prefix *a, const struct nl_prefix *b)
{
    return nl_prefix_contains(a, b) || nl_prefix_contains(b, a);
}

int routes_canonical(struct ctrl *c, const char *text, char *out, size_t cap, char *why, size_t whylen)
{
    struct nl_prefix p, m;
    if (!text || !strchr(text, '/') || nl_prefix_parse(text, &p)) {
        snprintf(why, whylen, "not an IP prefix (ADDRESS/BITS)");
        return -1;
    }
    m = p;
    nl_prefix_mask(&m);
    char canon[ROUTE_TEXT_MAX];
    nl_prefix_format(&m, 1, canon, sizeof canon);
    if (!nl_prefix_equal(&m, &p)) {
        snprintf(why, whylen, "host bits set (the prefix is %s)", canon);
        return -1;
    }
    if (p.bits) {
        const char *ranges[] = {c->conf->prefix_v4, c->conf->prefix_v6};
        for (size_t i = 0; i < 2; i++) {
            struct nl_prefix t;
            if (ranges[i] && !nl_prefix_parse(ranges[i], &t) && overlaps(&t, &p)) {
                snprintf(why, whylen, "overlaps the tailnet's own range %s", ranges[i]);
                return -1;
            }
        }
    }
    snprintf(out, cap, "%s", canon);
    return 0;
}

int routes_from_hostinfo(struct ctrl *c, const struct cnode *n, const struct tc_strs *routable,
                         struct model_strlist *out)
{
    struct model_strlist l = {0};
    char canon[ROUTE_TEXT_MAX], why[160];
    for (size_t i = 0; i < routable->n; i++) {
        const char *r = routable->v[i];
        if (routes_canonical(c, r, canon, sizeof canon, why, sizeof why)) {
            log_warn("module=control event=route_ignored node=%lld route=\"%.64s\" reason=\"%s\"",
                     (long long)n->m.id, r ? r : "", why);
            continue;
        }
        if (model_strlist_contains(&l, canon))
            continue;
        if (l.n >= ROUTES_MAX) {
            log_warn("module=control event=route_ignored node=%lld route=%s reason=\"more than %d routes\"",
                     (long long)n->m.id, canon, ROUTES_MAX);
            continue;
        }
        if (model_strlist_add(&l, canon)) {
            model_strlist_free(&l);
            return -1;
        }
    }
    /* an exit node advertises both halves; a lone /0 is no exit intent (and no subnet route either) */
    bool e4 = model_strlist_contains(&l, exit4), e6 = model_strlist_contains(&l, exit6);
    if (e4 != e6) {
        log_warn("module=control event=route_ignored node=%lld route=%s reason=\"an exit node advertises both "
                 "0.0.0.0/0 and ::/0\"", (long long)n->m.id, e4 ? exit4 : exit6);
        strlist_remove(&l, e4 ? exit4 : exit6);
    }
    /* a subnet route inside another of the same node's routes adds nothing and would make two entries
     * for one destination: the wider one is kept */
    for (size_t i = 0; i < l.n;) {
        struct nl_prefix a, b;
        bool covered = false;
        nl_prefix_parse(l.v[i], &a);
        for (size_t j = 0; a.bits && j < l.n && !covered; j++) {
            if (j == i)
                continue;
            nl_prefix_parse(l.v[j], &b);
            if (b.bits && nl_prefix_contains(&b, &a)) {
                log_warn("module=control event=route_ignored node=%lld route=%s reason=\"inside %s, also "
                         "advertised\"", (long long)n->m.id, l.v[i], l.v[j]);
                covered = true;
            }
        }
        if (covered) {
            free(l.v[i]);
            memmove(l.v + i, l.v + i + 1, (l.n - i - 1) * sizeof *l.v);
            l.n--;
        } else {
            i++;
        }
    }
    strlist_sort(&l);
    model_strlist_free(out);
    *out = l;
    return 0;
}

bool routes_live(const struct cnode *n, const char *route)
{
    return model_strlist_contains(&n->m.routes_advertised, route) &&
           model_strlist_contains(&n->m.routes_approved, route);
}

bool routes_is_exit(const struct cnode *n)
{
    return routes_live(n, exit4) && routes_live(n, exit6);
}

/* ---- the table ---- */

static struct route_entry *entry_find(struct route_table *t, const char *prefix, size_t *pos)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(t->v[mid].prefix, prefix);
        if (!r) {
            *pos = mid;
            return &t->v[mid];
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return NULL;
}

static struct route_entry *entry_get(struct route_table *t, const char *prefix)
{
    size_t pos;
    struct route_entry *e = entry_find(t, prefix, &pos);
    if (e)
        return e;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct route_entry *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    memmove(t->v + pos + 1, t->v + pos, (t->n - pos) * sizeof *t->v);
    t->n++;
    e = &t->v[pos];
    memset(e, 0, sizeof *e);
    snprintf(e->prefix, sizeof e->prefix, "%s", prefix);
    return e;
}

static bool entry_has(const struct route_entry *e, int64_t id)
{
    for (size_t i = 0; i < e->nnodes; i++)
        if (e->nodes[i] == id)
            return true;
    return false;
}

static int entry_add(struct route_entry *e, int64_t id)
{
    if (entry_has(e, id))
        return 0;
    if (e->nnodes == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        int64_t *v = realloc(e->nodes, cap * sizeof *v);
        if (!v)
            return -1;
        e->nodes = v;
        e->cap = cap;
    }
    size_t i = e->nnodes;
    while (i > 0 && e->nodes[i - 1] > id) {
        e->nodes[i] = e->nodes[i - 1];
        i--;
    }
    e->nodes[i] = id;
    e->nnodes++;
    return 0;
}

static void entry_del(struct route_entry *e, int64_t id)
{
    for (size_t i = 0; i < e->nnodes; i++)
        if (e->nodes[i] == id) {
            memmove(e->nodes + i, e->nodes + i + 1, (e->nnodes - i - 1) * sizeof *e->nodes);
            e->nnodes--;
            return;
        }
}

void routes_free(struct route_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].nodes);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* Whether node can carry a primary route now (online; healthy too when asked: probe.h). */
static bool can_serve(const struct cnode *n, const struct cnode *leaving, bool healthy)
{
    return n && n != leaving && n->m.online && !n->removing && !ctrl_node_expired(n, ctrl_now()) &&
           (!healthy || !n->unhealthy);
}

/* Peers must get the node again: its AllowedIPs / PrimaryRoutes changed. */
static void touch(struct ctrl *c, struct cnode *n)
{
    if (!n || n->removing)
        return;
    mapper_invalidate(n);
    fanout_node(c, n, CH_FULL | CH_SELF);
}

static void elect(struct ctrl *c, struct route_entry *e, const struct cnode *leaving)
{
    struct cnode *cur = e->primary ? ctrl_node_by_id(c, e->primary) : NULL;
    bool cur_ok = cur && entry_has(e, cur->m.id) && can_serve(cur, leaving, false);
    if (cur_ok && !cur->unhealthy)
        return; /* a working primary stays: no flapping back when a lower ID returns */
    struct cnode *next = NULL;
    for (size_t i = 0; i < e->nnodes && !next; i++) {
        struct cnode *x = ctrl_node_by_id(c, e->nodes[i]);
        if (can_serve(x, leaving, true))
            next = x;
    }
    /* no healthy router: an unanswering primary keeps the prefix rather than handing it to another one
     * nobody has heard from; without one, an online router takes it anyway (a router left alone with a
     * prefix is no longer probed, and a route through it is better than none) */
    if (!next && cur_ok)
        next = cur;
    for (size_t i = 0; i < e->nnodes && !next; i++) {
        struct cnode *x = ctrl_node_by_id(c, e->nodes[i]);
        if (can_serve(x, leaving, false))
            next = x;
    }
    if (next == cur)
        return;
    if (cur) {
        strlist_remove(&cur->primary, e->prefix);
        touch(c, cur);
    }
    e->primary = next ? next->m.id : 0;
    if (next) {
        if (model_strlist_add(&next->primary, e->prefix) == 0)
            strlist_sort(&next->primary);
        touch(c, next);
    }
    log_info("module=control event=route_primary route=%s node=%lld was=%lld", e->prefix,
             (long long)e->primary, cur ? (long long)cur->m.id : 0LL);
}

static void node_update(struct ctrl *c, struct cnode *n, bool leaving)
{
    /* the subnet routes live on n now */
    struct model_strlist want = {0};
    if (!leaving)
        for (size_t i = 0; i < n->m.routes_advertised.n; i++) {
            const char *r = n->m.routes_advertised.v[i];
            if (!is_exit_text(r) && model_strlist_contains(&n->m.routes_approved, r))
                model_strlist_add(&want, r);
        }
    /* every prefix n was in or is in now gets a new election: the ones it is in (n->cand) first */
    struct model_strlist touched = {0};
    model_strlist_copy(&touched, &n->cand);
    for (size_t i = 0; i < want.n; i++)
        if (!model_strlist_contains(&touched, want.v[i]))
            model_strlist_add(&touched, want.v[i]);
    for (size_t i = 0; i < touched.n; i++) {
        struct route_entry *e = entry_get(&c->routes, touched.v[i]);
        if (!e)
            continue;
        if (model_strlist_contains(&want, e->prefix))
            entry_add(e, n->m.id);
        else
            entry_del(e, n->m.id);
        elect(c, e, leaving ? n : NULL);
    }
    /* entries nobody is in any more go */
    for (size_t i = 0; i < touched.n; i++) {
        size_t pos;
        struct route_entry *e = entry_find(&c->routes, touched.v[i], &pos);
        if (e && !e->nnodes) {
            free(e->nodes);
            memmove(c->routes.v + pos, c->routes.v + pos + 1, (c->routes.n - pos - 1) * sizeof *c->routes.v);
            c->routes.n--;
        }
    }
    model_strlist_free(&touched);
    model_strlist_free(&n->cand);
    n->cand = want;
}

void routes_node_update(struct ctrl *c, struct cnode *n)
{
    node_update(c, n, false);
}

void routes_node_forget(struct ctrl *c, struct cnode *n)
{
    node_update(c, n, true);
    model_strlist_free(&n->primary);
}

/* Asks the approver about n's advertised, unapproved routes; adds what it approves. true if any. */
static bool ask_approver(struct ctrl *c, struct cnode *n)
{
    bool more = false;
    if (!c->approver.approve)
        return false;
    for (size_t i = 0; i < n->m.routes_advertised.n; i++) {
        const char *r = n->m.routes_advertised.v[i];
        if (model_strlist_contains(&n->m.routes_approved, r) || n->m.routes_approved.n >= ROUTES_MAX)
            continue;
        if (c->approver.approve(c->approver.arg, n, r) && !model_strlist_add(&n->m.routes_approved, r)) {
            log_info("module=control event=route_auto_approved node=%lld route=%s", (long long)n->m.id, r);
            more = true;
        }
    }
    if (more)
        strlist_sort(&n->m.routes_approved);
    return more;
}

int routes_set_advertised(struct ctrl *c, struct cnode *n, struct model_strlist *adv)
{
    bool exit_before = routes_is_exit(n);
    if (strlist_equal(adv, &n->m.routes_advertised))
        return 0;
    struct model_strlist old_adv = n->m.routes_advertised, old_app = {0};
    model_strlist_copy(&old_app, &n->m.routes_approved);
    n->m.routes_advertised = *adv;
    *adv = (struct model_strlist){0};
    ask_approver(c, n);
    int rc = store_node_update(c->store, &n->m);
    if (rc) {
        log_error("module=control event=node_update node=%lld error=\"%s\"", (long long)n->m.id,
                  store_errmsg(c->store));
        model_strlist_free(&n->m.routes_advertised);
        model_strlist_free(&n->m.routes_approved);
        n->m.routes_advertised = old_adv;
        n->m.routes_approved = old_app;
        return -1;
    }
    model_strlist_free(&old_adv);
    model_strlist_free(&old_app);
    char *t = model_strlist_to_json(&n->m.routes_advertised);
    log_info("module=control event=routes_advertised node=%lld routes=%s", (long long)n->m.id, t ? t : "?");
    free(t);
    access_node(c, n);
    if (routes_is_exit(n) != exit_before)
        touch(c, n);
    routes_node_update(c, n);
    return 1;
}

void routes_auto_approve_all(struct ctrl *c)
{
    for (size_t i = 0; i < c->nnodes; i++) {
        struct cnode *n = c->nodes[i];
        bool exit_before = routes_is_exit(n);
        struct model_strlist old = {0};
        if (model_strlist_copy(&old, &n->m.routes_approved))
            continue;
        if (!ask_approver(c, n)) {
            model_strlist_free(&old);
            continue;
        }
        if (store_node_update(c->store, &n->m)) {
            log_error("module=control event=node_update node=%lld error=\"%s\"", (long long)n->m.id,
                      store_errmsg(c->store));
            model_strlist_free(&n->m.routes_approved);
            n->m.routes_approved = old;
            continue;
        }
        model_strlist_free(&old);
        access_node(c, n);
        if (routes_is_exit(n) != exit_before)
            touch(c, n);
        routes_node_update(c, n);
    }
}

int routes_set_approved(struct ctrl *c, struct cnode *n, struct model_strlist *approved)
{
    bool exit_before = routes_is_exit(n);
    strlist_sort(approved);
    struct model_strlist old = n->m.routes_approved;
    n->m.routes_approved = *approved;
    int rc = store_node_update(c->store, &n->m);
    if (rc) {
        n->m.routes_approved = old;
        return rc;
    }
    *approved = (struct model_strlist){0};
    model_strlist_free(&old);
    access_node(c, n);
    if (routes_is_exit(n) != exit_before)
        touch(c, n);
    routes_node_update(c, n);
    return 0;
}
