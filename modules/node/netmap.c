// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/netmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json/tailcfg.h"

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

static int seq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void node_free_fields(struct nm_node *n)
{
    free(n->name);
    free(n->hostname);
    free(n->os);
    free(n->addrs);
    free(n->allowed);
    for (size_t i = 0; i < n->nendpoints; i++)
        free(n->endpoints[i]);
    free(n->endpoints);
    for (size_t i = 0; i < n->ncaps; i++)
        free(n->caps[i]);
    free(n->caps);
    void *data = n->data;
    memset(n, 0, sizeof *n);
    n->data = data;
}

static int prefixes(const struct tc_strs *s, struct nl_prefix **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s->n)
        return 0;
    size_t cnt = s->n < NM_MAX_PREFIXES ? s->n : NM_MAX_PREFIXES;
    struct nl_prefix *p = calloc(cnt, sizeof *p);
    if (!p)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++)
        if (s->v[i] && nl_prefix_parse(s->v[i], &p[k]) == 0)
            k++;
    *out = p;
    *n = k;
    return 0;
}

static int strs_copy(const struct tc_strs *s, char ***out, size_t *n, size_t max)
{
    *out = NULL;
    *n = 0;
    size_t cnt = s->n < max ? s->n : max;
    if (!cnt)
        return 0;
    char **v = calloc(cnt, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < cnt; i++)
        if (!(v[i] = dup0(s->v[i]))) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return -1;
        }
    *out = v;
    *n = cnt;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The capability names of CapMap (may be NULL) and Capabilities, sorted and without duplicates. */
static int caps_from(const struct tc_capmap *cm, const struct tc_strs *old, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cnt = (cm ? cm->n : 0) + (old ? old->n : 0);
    if (!cnt)
        return 0;
    if (cnt > NM_MAX_CAPS)
        cnt = NM_MAX_CAPS;
    char **v = calloc(cnt, sizeof *v);
    if (!v)
        return -1;
    size_t k = 0;
    for (size_t i = 0; cm && i < cm->n && k < cnt; i++)
        if (cm->v[i].name && *cm->v[i].name && !(v[k++] = strdup(cm->v[i].name)))
            goto oom;
    for (size_t i = 0; old && i < old->n && k < cnt; i++)
        if (old->v[i] && *old->v[i] && !(v[k++] = strdup(old->v[i])))
            goto oom;
    qsort(v, k, sizeof *v, str_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && strcmp(v[i], v[u - 1]) == 0)
            free(v[i]);
        else
            v[u++] = v[i];
    }
    *out = v;
    *n = u;
    return 0;
oom:
    for (size_t i = 0; i < k; i++)
        free(v[i]);
    free(v);
    return -1;
}

static bool caps_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return true;
}

bool nm_node_has_cap(const struct nm_node *n, const char *cap)
{
    size_t lo = 0, hi = n->ncaps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(n->caps[mid], cap);
        if (!c)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int32_t legacy_region(const char *derp)
{
    /* "127.3.3.40:<region>" */
    if (!derp || strncmp(derp, "127.3.3.40:", 11) != 0)
        return 0;
    long r = strtol(derp + 11, NULL, 10);
    return r > 0 && r < 1 << 30 ? (int32_t)r : 0;
}

/* A node of ours from the wire's. On failure (out of memory) out holds what was copied so far. */
static int node_from_tc(struct nm_node *out, const struct tc_node *t)
{
    memset(out, 0, sizeof *out);
    out->id = t->id;
    out->user = t->user;
    memcpy(out->key.b, t->key.b, 32);
    memcpy(out->disco.b, t->disco_key.b, 32);
    out->home_derp = t->home_derp ? t->home_derp : legacy_region(t->legacy_derp);
    out->online = t->online == TC_TRUE ? 1 : t->online == TC_FALSE ? 0 : -1;
    out->last_seen =
        t->has_last_seen && !tc_time_is_zero(&t->last_seen) ? tc_time_to_unix(&t->last_seen) : 0;
    out->key_expiry = tc_time_is_zero(&t->key_expiry) ? 0 : tc_time_to_unix(&t->key_expiry);
    out->expired = t->expired;
    out->machine_authorized = t->machine_authorized;
    if (!(out->name = dup0(t->name)) ||
        !(out->hostname = dup0(t->hostinfo ? t->hostinfo->hostname : NULL)) ||
        !(out->os = dup0(t->hostinfo ? t->hostinfo->os : NULL)))
        return -1;
    if (prefixes(&t->addresses, &out->addrs, &out->naddrs))
        return -1;
    if (t->allowed_ips.n) {
        if (prefixes(&t->allowed_ips, &out->allowed, &out->nallowed))
            return -1;
    } else if (out->naddrs) { /* absent AllowedIPs means the node's addresses (capver >= 112) */
        if (!(out->allowed = malloc(out->naddrs * sizeof *out->allowed)))
            return -1;
        memcpy(out->allowed, out->addrs, out->naddrs * sizeof *out->allowed);
        out->nallowed = out->naddrs;
    }
    if (strs_copy(&t->endpoints, &out->endpoints, &out->nendpoints, NM_MAX_ENDPOINTS))
        return -1;
    if (caps_from(&t->cap_map, &t->capabilities, &out->caps, &out->ncaps))
        return -1;
    return 0;
}

static int prefixes_equal(const struct nl_prefix *a, size_t na, const struct nl_prefix *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!nl_prefix_equal(&a[i], &b[i]))
            return 0;
    return 1;
}

static unsigned node_diff(const struct nm_node *a, const struct nm_node *b)
{
    unsigned w = 0;
    if (memcmp(a->key.b, b->key.b, 32))
        w |= NM_KEY;
    if (memcmp(a->disco.b, b->disco.b, 32))
        w |= NM_DISCO;
    if (!prefixes_equal(a->addrs, a->naddrs, b->addrs, b->naddrs) ||
        !prefixes_equal(a->allowed, a->nallowed, b->allowed, b->nallowed))
        w |= NM_ADDRS;
    if (a->home_derp != b->home_derp)
        w |= NM_DERP;
    int eps = a->nendpoints == b->nendpoints;
    for (size_t i = 0; eps && i < a->nendpoints; i++)
        eps = seq(a->endpoints[i], b->endpoints[i]);
    if (!eps)
        w |= NM_ENDPOINTS;
    if (a->online != b->online || a->last_seen != b->last_seen)
        w |= NM_ONLINE;
    if (!seq(a->name, b->name) || !seq(a->hostname, b->hostname) || !seq(a->os, b->os) || a->user != b->user)
        w |= NM_NAME;
    if (a->key_expiry != b->key_expiry || a->expired != b->expired ||
        a->machine_authorized != b->machine_authorized)
        w |= NM_EXPIRY;
    if (!caps_equal(a->caps, a->ncaps, b->caps, b->ncaps))
        w |= NM_CAPS;
    return w;
}

/* Replace dst's fields with src's (keeping dst->data); src is emptied. */
static void node_take(struct nm_node *dst, struct nm_node *src)
{
    void *data = dst->data;
    node_free_fields(dst);
    *dst = *src;
    dst->data = data;
    memset(src, 0, sizeof *src);
}

/* ---- the sorted peer array ---- */

static size_t peer_pos(const struct netmap *nm, int64_t id, int *found)
{
    size_t lo = 0, hi = nm->npeers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nm->peers[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < nm->npeers && nm->peers[lo]->id == id;
    return lo;
}

struct nm_node *netmap_peer_by_id(const struct netmap *nm, int64_t id)
{
    int found;
    size_t i = peer_pos(nm, id, &found);
    return found ? nm->peers[i] : NULL;
}

struct nm_node *netmap_peer_by_key(const struct netmap *nm, const struct key *k)
{
    for (size_t i = 0; i < nm->npeers; i++)
        if (memcmp(nm->peers[i]->key.b, k->b, 32) == 0)
            return nm->peers[i];
    return NULL;
}

static int peer_insert(struct netmap *nm, size_t pos, struct nm_node *p)
{
    if (nm->npeers == nm->cap) {
        size_t nc = nm->cap ? nm->cap * 2 : 16;
        struct nm_node **np = realloc(nm->peers, nc * sizeof *np);
        if (!np)
            return -1;
        nm->peers = np;
        nm->cap = nc;
    }
    memmove(nm->peers + pos + 1, nm->peers + pos, (nm->npeers - pos) * sizeof *nm->peers);
    nm->peers[pos] = p;
    nm->npeers++;
    return 0;
}

static void peer_drop(struct netmap *nm, size_t pos, const struct netmap_ops *ops, void *arg)
{
    struct nm_node *p = nm->peers[pos];
    memmove(nm->peers + pos, nm->peers + pos + 1, (nm->npeers - pos - 1) * sizeof *nm->peers);
    nm->npeers--;
    if (ops && ops->peer_removed)
        ops->peer_removed(arg, p);
    node_free_fields(p);
    free(p);
}

/* Insert or update a peer from the wire. 1 if something changed, 0 if not, -1 out of memory. */
static int upsert(struct netmap *nm, const struct tc_node *t, const struct netmap_ops *ops, void *arg)
{
    if (t->id <= 0)
        return 0;
    struct nm_node fresh;
    if (node_from_tc(&fresh, t)) {
        node_free_fields(&fresh);
        return -1;
    }
    int found;
    size_t pos = peer_pos(nm, t->id, &found);
    if (found) {
        struct nm_node *p = nm->peers[pos];
        unsigned what = node_diff(p, &fresh);
        if (!what) {
            node_free_fields(&fresh);
            return 0;
        }
        struct key old = p->key;
        int was = p->online;
        node_take(p, &fresh);
        p->was_online = was;
        if (ops && ops->peer_changed)
            ops->peer_changed(arg, p, what, &old);
        return 1;
    }
    struct nm_node *p = malloc(sizeof *p);
    if (!p || peer_insert(nm, pos, p)) {
        free(p);
        node_free_fields(&fresh);
        return -1;
    }
    *p = fresh;
    p->data = NULL;
    p->was_online = p->online;
    if (ops && ops->peer_added)
        ops->peer_added(arg, p);
    return 1;
}

static int cmp_node_id(const void *a, const void *b)
{
    const struct tc_node *p = *(const struct tc_node *const *)a, *q = *(const struct tc_node *const *)b;
    if (p->id != q->id)
        return p->id < q->id ? -1 : 1;
    return p < q ? -1 : p > q; /* stable: of two entries with one ID the first listed wins */
}

/* Peers: a full replacement. */
static int replace_peers(struct netmap *nm, const struct tc_nodes *list, const struct netmap_ops *ops,
                         void *arg, int *changed)
{
    const struct tc_node **v = malloc(list->n * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < list->n; i++)
        v[i] = &list->v[i];
    qsort(v, list->n, sizeof *v, cmp_node_id);
    /* removals first: a key that moved from one ID to another must be free before it is added again */
    size_t j = 0;
    for (size_t i = 0; i < nm->npeers;) {
        int64_t id = nm->peers[i]->id;
        while (j < list->n && v[j]->id < id)
            j++;
        if (j < list->n && v[j]->id == id) {
            i++;
        } else {
            peer_drop(nm, i, ops, arg);
            *changed = 1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < list->n; i++) {
        if (i && v[i]->id == v[i - 1]->id)
            continue;
        int r = upsert(nm, v[i], ops, arg);
        if (r < 0)
            rc = -1;
        else if (r)
            *changed = 1;
    }
    free(v);
    return rc;
}

static void patch(struct netmap *nm, const struct tc_peer_change *c, const struct netmap_ops *ops, void *arg,
                  int *changed)
{
    struct nm_node *p = netmap_peer_by_id(nm, c->node_id);
    if (!p) /* unknown IDs are ignored (netmap.md §2) */
        return;
    unsigned what = 0;
    struct key old = p->key;
    if (c->derp_region && c->derp_region != p->home_derp) {
        p->home_derp = c->derp_region;
        what |= NM_DERP;
    }
    if (c->endpoints.n || c->endpoints.v) {
        size_t cnt = c->endpoints.n < NM_MAX_ENDPOINTS ? c->endpoints.n : NM_MAX_ENDPOINTS;
        int same = cnt == p->nendpoints;
        for (size_t i = 0; same && i < cnt; i++)
            same = seq(c->endpoints.v[i], p->endpoints[i]);
        char **eps;
        size_t n;
        if (!same && strs_copy(&c->endpoints, &eps, &n, NM_MAX_ENDPOINTS) == 0) {
            for (size_t i = 0; i < p->nendpoints; i++)
                free(p->endpoints[i]);
            free(p->endpoints);
            p->endpoints = eps;
            p->nendpoints = n;
            what |= NM_ENDPOINTS;
        }
    }
    if (c->cap_map.v) { /* a patch's CapMap replaces the node's (Capabilities are not patched) */
        char **caps;
        size_t n;
        if (caps_from(&c->cap_map, NULL, &caps, &n) == 0) {
            if (!caps_equal(caps, n, p->caps, p->ncaps)) {
                for (size_t i = 0; i < p->ncaps; i++)
                    free(p->caps[i]);
                free(p->caps);
                p->caps = caps;
                p->ncaps = n;
                what |= NM_CAPS;
            } else {
                for (size_t i = 0; i < n; i++)
                    free(caps[i]);
                free(caps);
            }
        }
    }
    if (c->has_key && memcmp(c->key.b, p->key.b, 32)) {
        memcpy(p->key.b, c->key.b, 32);
        what |= NM_KEY;
    }
    if (c->has_disco_key && memcmp(c->disco_key.b, p->disco.b, 32)) {
        memcpy(p->disco.b, c->disco_key.b, 32);
        what |= NM_DISCO;
    }
    if (c->online != TC_UNSET) {
        int on = c->online == TC_TRUE;
        if (on != p->online) {
            p->was_online = p->online;
            p->online = on;
            what |= NM_ONLINE;
        }
    }
    if (c->has_last_seen) {
        int64_t v = tc_time_is_zero(&c->last_seen) ? 0 : tc_time_to_unix(&c->last_seen);
        if (v != p->last_seen) {
            p->last_seen = v;
            what |= NM_ONLINE;
        }
    }
    if (c->has_key_expiry) {
        int64_t v = tc_time_is_zero(&c->key_expiry) ? 0 : tc_time_to_unix(&c->key_expiry);
        if (v != p->key_expiry) {
            p->key_expiry = v;
            what |= NM_EXPIRY;
        }
    }
    if (what) {
        *changed = 1;
        if (ops && ops->peer_changed)
            ops->peer_changed(arg, p, what, &old);
    }
}

/* ---- DERP map, users ---- */

static void region_fields_free(struct nm_region *g)
{
    free(g->code);
    free(g->name);
    for (size_t j = 0; j < g->nnodes; j++) {
        struct nm_derp_node *d = &g->nodes[j];
        free(d->name);
        free(d->host);
        free(d->cert_name);
        free(d->ipv4);
        free(d->ipv6);
    }
    free(g->nodes);
    memset(g, 0, sizeof *g);
}

static void regions_free(struct nm_region *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        region_fields_free(&r[i]);
    free(r);
}

static int cmp_region(const void *a, const void *b)
{
    const struct nm_region *p = *(const struct nm_region *const *)a,
                           *q = *(const struct nm_region *const *)b;
    if (p->id != q->id)
        return p->id < q->id ? -1 : 1;
    return p < q ? -1 : p > q; /* of two regions with one ID the first listed wins */
}

static int regions_from_tc(const struct tc_derp_map *m, struct nm_region **out, size_t *nout)
{
    struct nm_region *r = m->nregions ? calloc(m->nregions, sizeof *r) : NULL;
    if (m->nregions && !r)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < m->nregions; i++) {
        const struct tc_derp_region *t = &m->regions[i];
        if (t->region_id <= 0)
            continue;
        struct nm_region *g = &r[k++];
        g->id = t->region_id;
        g->avoid = t->avoid;
        g->no_home = t->no_measure_no_home;
        g->code = dup0(t->region_code);
        g->name = dup0(t->region_name);
        g->nodes = t->nnodes ? calloc(t->nnodes, sizeof *g->nodes) : NULL;
        if (!g->code || !g->name || (t->nnodes && !g->nodes)) {
            regions_free(r, k);
            return -1;
        }
        for (size_t j = 0; j < t->nnodes; j++) {
            const struct tc_derp_node *tn = &t->nodes[j];
            struct nm_derp_node *d = &g->nodes[g->nnodes++];
            d->name = dup0(tn->name);
            d->host = dup0(tn->host_name);
            d->cert_name = dup0(tn->cert_name);
            d->ipv4 = dup0(tn->ipv4);
            d->ipv6 = dup0(tn->ipv6);
            d->derp_port = tn->derp_port;
            d->stun_port = tn->stun_port;
            d->stun_only = tn->stun_only;
            d->insecure_for_tests = tn->insecure_for_tests;
            if (!d->name || !d->host || !d->cert_name || !d->ipv4 || !d->ipv6) {
                regions_free(r, k);
                return -1;
            }
        }
    }
    /* sorted by ID, one region per ID */
    struct nm_region **order = k ? malloc(k * sizeof *order) : NULL;
    struct nm_region *sorted = k ? calloc(k, sizeof *sorted) : NULL;
    if (k && (!order || !sorted)) {
        free(order);
        free(sorted);
        regions_free(r, k);
        return -1;
    }
    for (size_t i = 0; i < k; i++)
        order[i] = &r[i];
    if (k)
        qsort(order, k, sizeof *order, cmp_region);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && sorted[u - 1].id == order[i]->id) {
            region_fields_free(order[i]); /* a second region with that ID */
            continue;
        }
        sorted[u++] = *order[i]; /* moved: r's copy is not freed below */
    }
    free(r);
    free(order);
    *out = sorted;
    *nout = u;
    return 0;
}

static int regions_equal(const struct nm_region *a, size_t na, const struct nm_region *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        if (a[i].id != b[i].id || a[i].avoid != b[i].avoid || a[i].no_home != b[i].no_home ||
            a[i].nnodes != b[i].nnodes || !seq(a[i].code, b[i].code) || !seq(a[i].name, b[i].name))
            return 0;
        for (size_t j = 0; j < a[i].nnodes; j++) {
            const struct nm_derp_node *x = &a[i].nodes[j], *y = &b[i].nodes[j];
            if (!seq(x->name, y->name) || !seq(x->host, y->host) || !seq(x->cert_name, y->cert_name) ||
                !seq(x->ipv4, y->ipv4) || !seq(x->ipv6, y->ipv6) || x->derp_port != y->derp_port ||
                x->stun_port != y->stun_port || x->stun_only != y->stun_only ||
                x->insecure_for_tests != y->insecure_for_tests)
                return 0;
        }
    }
    return 1;
}

const struct nm_region *netmap_region(const struct netmap *nm, int32_t id)
{
    for (size_t i = 0; i < nm->nregions; i++)
        if (nm->regions[i].id == id)
            return &nm->regions[i];
    return NULL;
}

const struct nm_user *netmap_user(const struct netmap *nm, int64_t id)
{
    for (size_t i = 0; i < nm->nusers; i++)
        if (nm->users[i].id == id)
            return &nm->users[i];
    return NULL;
}

static int users_upsert(struct netmap *nm, const struct tc_user_profile *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct nm_user *e = (struct nm_user *)netmap_user(nm, u[i].id);
        if (!e) {
            struct nm_user *nu = realloc(nm->users, (nm->nusers + 1) * sizeof *nu);
            if (!nu)
                return -1;
            nm->users = nu;
            e = &nu[nm->nusers++];
            memset(e, 0, sizeof *e);
            e->id = u[i].id;
        }
        char *l = dup0(u[i].login_name), *d = dup0(u[i].display_name);
        if (!l || !d) {
            free(l);
            free(d);
            return -1;
        }
        free(e->login_name);
        free(e->display_name);
        e->login_name = l;
        e->display_name = d;
    }
    return 0;
}

/* ---- the map ---- */

void netmap_init(struct netmap *nm)
{
    memset(nm, 0, sizeof *nm);
}

/* ---- packet filters ---- */

static void rules_free(struct nm_filter_rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < r[i].nsrcs; j++)
            free(r[i].srcs[j]);
        free(r[i].srcs);
        for (size_t j = 0; j < r[i].ndsts; j++)
            free(r[i].dsts[j].ip);
        free(r[i].dsts);
        free(r[i].protos);
    }
    free(r);
}

static void filters_free(struct nm_filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        rules_free(f[i].rules, f[i].nrules);
    }
    free(f);
}

static int rules_from_tc(const struct tc_filter_rule *t, size_t n, struct nm_filter_rule **out)
{
    *out = NULL;
    if (!n)
        return 0;
    struct nm_filter_rule *r = calloc(n, sizeof *r);
    if (!r)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strs_copy(&t[i].src_ips, &r[i].srcs, &r[i].nsrcs, SIZE_MAX))
            goto oom;
        if (t[i].ndst_ports) {
            if (!(r[i].dsts = calloc(t[i].ndst_ports, sizeof *r[i].dsts)))
                goto oom;
            for (size_t j = 0; j < t[i].ndst_ports; j++) {
                const struct tc_net_port_range *d = &t[i].dst_ports[j];
                if (!(r[i].dsts[j].ip = dup0(d->ip)))
                    goto oom;
                r[i].dsts[j].first = d->first;
                r[i].dsts[j].last = d->last;
                r[i].dsts[j].bits = d->has_bits;
                r[i].ndsts++;
            }
        }
        if (t[i].nip_proto) {
            if (!(r[i].protos = malloc(t[i].nip_proto * sizeof *r[i].protos)))
                goto oom;
            memcpy(r[i].protos, t[i].ip_proto, t[i].nip_proto * sizeof *r[i].protos);
            r[i].nprotos = t[i].nip_proto;
        }
    }
    *out = r;
    return 0;
oom:
    rules_free(r, n);
    return -1;
}

/* Set (rules non-NULL or n 0 with set) or delete (del) the named filter. */
static int filter_put(struct netmap *nm, const char *name, const struct tc_filter_rule *t, size_t n, bool del)
{
    size_t i = 0;
    while (i < nm->nfilters && strcmp(nm->filters[i].name, name) < 0)
        i++;
    bool found = i < nm->nfilters && strcmp(nm->filters[i].name, name) == 0;
    if (del) {
        if (found) {
            free(nm->filters[i].name);
            rules_free(nm->filters[i].rules, nm->filters[i].nrules);
            memmove(&nm->filters[i], &nm->filters[i + 1], (nm->nfilters - i - 1) * sizeof *nm->filters);
            nm->nfilters--;
        }
        return 0;
    }
    struct nm_filter_rule *r;
    if (rules_from_tc(t, n, &r))
        return -1;
    if (found) {
        rules_free(nm->filters[i].rules, nm->filters[i].nrules);
    } else {
        struct nm_filter *v = realloc(nm->filters, (nm->nfilters + 1) * sizeof *v);
        char *nd = strdup(name);
        if (!v || !nd) {
            if (v)
                nm->filters = v;
            free(nd);
            rules_free(r, n);
            return -1;
        }
        nm->filters = v;
        memmove(&v[i + 1], &v[i], (nm->nfilters - i) * sizeof *v);
        v[i].name = nd;
        nm->nfilters++;
    }
    nm->filters[i].rules = r;
    nm->filters[i].nrules = n;
    return 0;
}

/* PacketFilter (the filter named "base") and PacketFilters (named; null deletes, "*": null first clears
 * all), as Tailscale's mapSession keeps them. */
static int apply_filters(struct netmap *nm, const struct tc_map_response *m, bool *changed)
{
    int rc = 0;
    if (m->has_packet_filter) {
        *changed = true;
        rc |= filter_put(nm, "base", m->packet_filter, m->npacket_filter, false);
    }
    if (m->packet_filters) {
        *changed = true;
        for (size_t i = 0; i < m->npacket_filters; i++)
            if (strcmp(m->packet_filters[i].name, "*") == 0 && m->packet_filters[i].null) {
                filters_free(nm->filters, nm->nfilters);
                nm->filters = NULL;
                nm->nfilters = 0;
            }
        for (size_t i = 0; i < m->npacket_filters; i++) {
            const struct tc_named_filter *f = &m->packet_filters[i];
            if (strcmp(f->name, "*") == 0)
                continue;
            rc |= filter_put(nm, f->name, f->rules, f->nrules, f->null);
        }
    }
    if (*changed)
        nm->have_filter = true;
    return rc ? -1 : 0;
}

void netmap_free(struct netmap *nm)
{
    filters_free(nm->filters, nm->nfilters);
    for (size_t i = 0; i < nm->npeers; i++) {
        node_free_fields(nm->peers[i]);
        free(nm->peers[i]);
    }
    free(nm->peers);
    node_free_fields(&nm->self);
    regions_free(nm->regions, nm->nregions);
    for (size_t i = 0; i < nm->nusers; i++) {
        free(nm->users[i].login_name);
        free(nm->users[i].display_name);
    }
    free(nm->users);
    free(nm->domain);
    memset(nm, 0, sizeof *nm);
}

void netmap_clear(struct netmap *nm, const struct netmap_ops *ops, void *arg)
{
    while (nm->npeers)
        peer_drop(nm, nm->npeers - 1, ops, arg);
    netmap_free(nm);
}

int netmap_apply(struct netmap *nm, const struct tc_map_response *m, int64_t now,
                 const struct netmap_ops *ops, void *arg, char *err, size_t errlen)
{
    if (!nm->have_self && !m->node) {
        snprintf(err, errlen, "initial MapResponse lacked node");
        return -1;
    }
    int changed = 0, rc = 0;

    if (m->peers.n) {
        if (replace_peers(nm, &m->peers, ops, arg, &changed))
            rc = -1;
    } else {
        for (size_t i = 0; i < m->npeers_removed; i++) {
            int found;
            size_t pos = peer_pos(nm, m->peers_removed[i], &found);
            if (found) {
                peer_drop(nm, pos, ops, arg);
                changed = 1;
            }
        }
        for (size_t i = 0; i < m->peers_changed.n; i++) {
            int r = upsert(nm, &m->peers_changed.v[i], ops, arg);
            if (r < 0)
                rc = -1;
            else if (r)
                changed = 1;
        }
    }
    for (size_t i = 0; i < m->npeer_seen_change; i++) {
        struct nm_node *p = netmap_peer_by_id(nm, m->peer_seen_change[i].id);
        int64_t v = m->peer_seen_change[i].value ? now : 0;
        if (!p || p->last_seen == v)
            continue;
        p->last_seen = v;
        changed = 1;
        if (ops && ops->peer_changed)
            ops->peer_changed(arg, p, NM_ONLINE, &p->key);
    }
    for (size_t i = 0; i < m->nonline_change; i++) {
        struct nm_node *p = netmap_peer_by_id(nm, m->online_change[i].id);
        int on = m->online_change[i].value;
        if (!p || p->online == on)
            continue;
        p->was_online = p->online;
        p->online = on;
        changed = 1;
        if (ops && ops->peer_changed)
            ops->peer_changed(arg, p, NM_ONLINE, &p->key);
    }
    for (size_t i = 0; i < m->npeers_changed_patch; i++)
        patch(nm, &m->peers_changed_patch[i], ops, arg, &changed);

    if (m->node) {
        struct nm_node fresh;
        if (node_from_tc(&fresh, m->node)) {
            node_free_fields(&fresh);
            rc = -1;
        } else {
            unsigned what = nm->have_self ? node_diff(&nm->self, &fresh) : ~0u;
            node_take(&nm->self, &fresh);
            nm->have_self = true;
            if (what) {
                changed = 1;
                if (ops && ops->self_changed)
                    ops->self_changed(arg, &nm->self, what);
            }
        }
    }
    if (m->nuser_profiles && users_upsert(nm, m->user_profiles, m->nuser_profiles))
        rc = -1;
    if (m->derp_map) {
        struct nm_region *r;
        size_t n;
        if (regions_from_tc(m->derp_map, &r, &n)) {
            rc = -1;
        } else if (regions_equal(r, n, nm->regions, nm->nregions)) {
            regions_free(r, n);
        } else {
            regions_free(nm->regions, nm->nregions);
            nm->regions = r;
            nm->nregions = n;
            changed = 1;
            if (ops && ops->derp_map_changed)
                ops->derp_map_changed(arg, nm);
        }
    }
    bool fchanged = false;
    if (apply_filters(nm, m, &fchanged))
        rc = -1;
    if (fchanged) {
        changed = 1;
        if (ops && ops->filter_changed)
            ops->filter_changed(arg, nm);
    }
    if (m->domain && *m->domain && !seq(m->domain, nm->domain)) {
        char *d = strdup(m->domain);
        if (d) {
            free(nm->domain);
            nm->domain = d;
            changed = 1;
        }
    }
    if (changed)
        nm->generation++;
    if (rc)
        snprintf(err, errlen, "out of memory applying the map");
    return rc;
}

const char *nm_node_short_name(const struct nm_node *n, char *buf, size_t cap)
{
    const char *name = n->name && *n->name ? n->name : n->hostname ? n->hostname : "";
    size_t len = strcspn(name, ".");
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, name, len);
    buf[len] = 0;
    return buf;
}

struct nm_node *netmap_peer_lookup(const struct netmap *nm, const char *what)
{
    if (!what || !*what)
        return NULL;
    struct nl_prefix ip;
    if (nl_prefix_parse(what, &ip) == 0) {
        for (size_t i = 0; i < nm->npeers; i++)
            for (size_t j = 0; j < nm->peers[i]->naddrs; j++) {
                struct nl_prefix a = nm->peers[i]->addrs[j];
                a.bits = ip.bits;
                if (nl_prefix_equal(&a, &ip))
                    return nm->peers[i];
            }
        return NULL;
    }
    size_t wl = strlen(what);
    if (wl && what[wl - 1] == '.')
        wl--;
    struct nm_node *hit = NULL;
    /* the FQDN first, then the first label, then the hostname; two matches at one level: ambiguous */
    for (int level = 0; level < 3; level++) {
        int count = 0;
        for (size_t i = 0; i < nm->npeers; i++) {
            struct nm_node *p = nm->peers[i];
            const char *n = level == 2 ? p->hostname : p->name;
            size_t nl = level == 1 ? strcspn(n, ".") : strlen(n);
            if (level == 0 && nl && n[nl - 1] == '.')
                nl--;
            if (nl == wl && strncasecmp(n, what, wl) == 0) {
                hit = p;
                count++;
            }
        }
        if (count == 1)
            return hit;
        if (count > 1)
            return NULL;
    }
    return NULL;
}
