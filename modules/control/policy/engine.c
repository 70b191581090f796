// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "modules/control/policy/engine.h"

/* The tailnet (users, nodes in slots), the compiled rules (rules.c) with the slots each side matches, and the
 * bookkeeping that turns a change into the smallest set of recomputed nodes (see engine.h). */

/* A 64-bit hash of a result's text, to tell whether it changed (results are tens of KB at 10,000
 * nodes and hashed on every recompute). Four independent lanes of eight bytes: the multiplies of one
 * step do not wait for the previous step's, so a 32-byte block costs about what one word did. */
static inline uint64_t rotl64(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

static inline uint64_t lane(uint64_t h, uint64_t w)
{
    h ^= rotl64(w * 0x87c37b91114253d5ull, 31) * 0x4cf5ad432745937full;
    return rotl64(h, 27) * 5 + 0x52dce729;
}

uint64_t eng_hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t seed = 0xcbf29ce484222325ull ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    uint64_t h[4] = {seed, seed ^ 0x1234567887654321ull, seed + 0x9e3779b97f4a7c15ull, ~seed}, w[4];
    for (; n >= 32; n -= 32, b += 32) {
        memcpy(w, b, 32);
        for (int k = 0; k < 4; k++)
            h[k] = lane(h[k], w[k]);
    }
    uint64_t x = h[0] ^ rotl64(h[1], 17) ^ rotl64(h[2], 31) ^ rotl64(h[3], 47);
    for (; n >= 8; n -= 8, b += 8) {
        memcpy(&w[0], b, 8);
        x = lane(x, w[0]);
    }
    w[0] = 0;
    memcpy(&w[0], b, n);
    x ^= rotl64(w[0] * 0x87c37b91114253d5ull, 31) * 0x4cf5ad432745937full;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x ? x : 1;
}

/* ---- id -> slot ---- */

static size_t map_find(const struct pol_engine *e, int64_t id)
{
    if (!e->map_cap)
        return (size_t)-1;
    size_t m = e->map_cap - 1, i = (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ull >> 17) & m;
    while (e->map_id[i]) {
        if (e->map_id[i] == id)
            return i;
        i = (i + 1) & m;
    }
    return (size_t)-1;
}

static int map_put(struct pol_engine *e, int64_t id, size_t slot);

static int map_grow(struct pol_engine *e)
{
    size_t cap = e->map_cap ? e->map_cap * 2 : 64;
    int64_t *ids = calloc(cap, sizeof *ids);
    size_t *slots = calloc(cap, sizeof *slots);
    if (!ids || !slots) {
        free(ids);
        free(slots);
        return -1;
    }
    int64_t *oid = e->map_id;
    size_t *oslot = e->map_slot, ocap = e->map_cap;
    e->map_id = ids;
    e->map_slot = slots;
    e->map_cap = cap;
    e->map_n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (oid[i])
            map_put(e, oid[i], oslot[i]);
    free(oid);
    free(oslot);
    return 0;
}

static int map_put(struct pol_engine *e, int64_t id, size_t slot)
{
    if ((e->map_n + 1) * 2 > e->map_cap && map_grow(e))
        return -1;
    size_t m = e->map_cap - 1, i = (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ull >> 17) & m;
    while (e->map_id[i] && e->map_id[i] != id)
        i = (i + 1) & m;
    if (!e->map_id[i])
        e->map_n++;
    e->map_id[i] = id;
    e->map_slot[i] = slot;
    return 0;
}

static void map_del(struct pol_engine *e, int64_t id)
{
    size_t i = map_find(e, id);
    if (i == (size_t)-1)
        return;
    size_t m = e->map_cap - 1;
    e->map_id[i] = 0;
    e->map_n--;
    /* re-insert the rest of the cluster (linear probing deletion) */
    for (size_t j = (i + 1) & m; e->map_id[j]; j = (j + 1) & m) {
        int64_t id2 = e->map_id[j];
        size_t s2 = e->map_slot[j];
        e->map_id[j] = 0;
        e->map_n--;
        map_put(e, id2, s2);
    }
}

struct enode *eng_node(const struct pol_engine *e, int64_t id)
{
    size_t i = map_find(e, id);
    return i == (size_t)-1 ? NULL : &e->nodes[e->map_slot[i]];
}

static size_t slot_of(const struct pol_engine *e, const struct enode *n)
{
    return (size_t)(n - e->nodes);
}

/* ---- bitsets ---- */

uint64_t *eng_bits(struct pol_engine *e)
{
    return calloc(e->words ? e->words : 1, sizeof(uint64_t));
}

static int bits_grow(uint64_t **b, size_t old_words, size_t words)
{
    if (!*b)
        return 0;
    uint64_t *v = realloc(*b, words * sizeof *v);
    if (!v)
        return -1;
    memset(v + old_words, 0, (words - old_words) * sizeof *v);
    *b = v;
    return 0;
}

void rule_free(struct crule *r)
{
    free(r->S);
    free(r->Sid);
    free(r->D);
    free(r->src_text);
    free(r->dst_text);
}

static int grow_slots(struct pol_engine *e)
{
    size_t cap = e->capslots ? e->capslots * 2 : 64;
    size_t words = (cap + 63) / 64;
    struct enode *v = realloc(e->nodes, cap * sizeof *v);
    if (!v)
        return -1;
    memset(v + e->capslots, 0, (cap - e->capslots) * sizeof *v);
    e->nodes = v;
    for (size_t i = 0; i < e->nslots; i++)
        if (bits_grow(&e->nodes[i].peers, e->words, words))
            return -1;
    for (size_t r = 0; r < e->nrules; r++) {
        struct crule *c = &e->rules[r];
        if (bits_grow(&c->S, e->words, words) || bits_grow(&c->Sid, e->words, words) ||
            bits_grow(&c->D, e->words, words))
            return -1;
    }
    e->capslots = cap;
    e->words = words;
    return 0;
}

static void for_each_bit(const uint64_t *b, size_t words, void (*fn)(void *, size_t), void *arg)
{
    for (size_t w = 0; w < words; w++) {
        uint64_t x = b[w];
        while (x) {
            int t = __builtin_ctzll(x);
            fn(arg, w * 64 + (size_t)t);
            x &= x - 1;
        }
    }
}

/* ---- marking nodes for recompute ---- */

#define ALL_PARTS (POL_CH_FILTER | POL_CH_SSH | POL_CH_CAPS)

void eng_mark(struct pol_engine *e, size_t slot)
{
    eng_mark_parts(e, slot, ALL_PARTS);
}

static void drop_texts(struct enode *n, unsigned parts)
{
    if ((parts & POL_CH_FILTER) && n->ftext) {
        free(n->ftext);
        n->ftext = NULL;
        n->flen = 0;
    }
    if ((parts & POL_CH_SSH) && n->stext) {
        free(n->stext);
        n->stext = NULL;
        n->slen = 0;
    }
}

/* Appends slot to a growing list of slots (the kept texts, the recompute queue); -1 when out of memory. */
static int push_slot(size_t **v, size_t *n, size_t *cap, size_t slot)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        size_t *p = realloc(*v, c * sizeof *p);
        if (!p)
            return -1;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = slot;
    return 0;
}

/* Keeps the text of part (POL_CH_FILTER or _SSH) just built into b for the node. */
static void keep_text(struct pol_engine *e, struct enode *n, unsigned part, const struct jbuf *b)
{
    if (!b->len || b->oom)
        return;
    if (!n->kept) {
        if (push_slot(&e->kept, &e->nkept, &e->capkept, (size_t)(n - e->nodes)))
            return;
        n->kept = true;
    }
    char *t = malloc(b->len + 1);
    if (!t)
        return;
    memcpy(t, b->p, b->len);
    t[b->len] = 0;
    drop_texts(n, part);
    if (part == POL_CH_FILTER)
        n->ftext = t, n->flen = b->len;
    else
        n->stext = t, n->slen = b->len;
}

void pol_engine_release(struct pol_engine *e)
{
    size_t bytes = 0;
    for (size_t i = 0; i < e->nkept; i++) {
        struct enode *n = &e->nodes[e->kept[i]];
        bytes += n->flen + n->slen;
        drop_texts(n, POL_CH_FILTER | POL_CH_SSH);
        n->kept = false;
    }
    e->nkept = 0;
#ifdef __GLIBC__
    /* a policy edit or a busy batch kept megabytes of texts, freed between smaller blocks that stay:
     * give the pages back rather than keep the batch's peak resident */
    if (bytes > ((size_t)8 << 20))
        malloc_trim(0);
#else
    (void)bytes;
#endif
}

void eng_mark_parts(struct pol_engine *e, size_t slot, unsigned parts)
{
    struct enode *n = &e->nodes[slot];
    if (!n->used)
        return;
    drop_texts(n, parts); /* what it would say may change */
    n->parts |= parts;
    if (n->dirty || push_slot(&e->queue, &e->nqueue, &e->capqueue, slot))
        return;
    n->dirty = true;
}

struct mark_ctx {
    struct pol_engine *e;
    unsigned parts;
};

static void mark_cb(void *arg, size_t slot)
{
    struct mark_ctx *m = arg;
    eng_mark_parts(m->e, slot, m->parts);
}

void eng_mark_set_parts(struct pol_engine *e, const uint64_t *set, unsigned parts)
{
    struct mark_ctx m = {e, parts};
    for_each_bit(set, e->words, mark_cb, &m);
}

void eng_mark_set(struct pol_engine *e, const uint64_t *set)
{
    eng_mark_set_parts(e, set, ALL_PARTS);
}

/* The results a rule's sides feed: SSH rules the SSHPolicy, the others the packet filter. */
static unsigned rule_parts(const struct crule *r)
{
    return r->kind == CR_SSH ? POL_CH_SSH : POL_CH_FILTER;
}

void eng_node_ips(const struct enode *n, struct ipaddr *out, size_t *count)
{
    size_t k = 0;
    if (n->has4)
        out[k++] = n->ip4;
    if (n->has6)
        out[k++] = n->ip6;
    *count = k;
}

/* ---- "*" as a source: the tailnet ranges and the approved subnet routes ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void eng_star_refresh(struct pol_engine *e)
{
    for (size_t i = 0; i < e->nstar; i++)
        free(e->star[i]);
    free(e->star);
    e->star = NULL;
    e->nstar = 0;
    size_t cap = 3;
    for (size_t s = 0; s < e->nslots; s++)
        if (e->nodes[s].used)
            cap += e->nodes[s].nroutes;
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return;
    struct netset t;
    netset_init(&t);
    netset_tailnet_all(&t);
    size_t n = 0;
    char buf[NETSET_TEXT_MAX];
    for (size_t i = 0; i < t.n && n < cap; i++)
        v[n++] = strdup(netset_range_text_cidr(&t.v[i], buf));
    netset_free(&t);
    for (size_t s = 0; s < e->nslots; s++) {
        const struct enode *nd = &e->nodes[s];
        for (size_t r = 0; nd->used && r < nd->nroutes; r++) {
            struct iprange rg = prefix_range(&nd->routes[r]);
            v[n++] = strdup(netset_range_text_cidr(&rg, buf));
        }
    }
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || (k && !strcmp(v[k - 1], v[i]))) {
            free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }
    e->star = v;
    e->nstar = k;
    e->star_stale = false;
}

/* ---- users ---- */

static void users_free(struct euser *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].login);
        free(u[i].groups);
        free(u[i].nodes);
    }
    free(u);
}

static int user_index(const struct pol_engine *e, int64_t id)
{
    size_t lo = 0, hi = e->nusers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (e->users[mid].id == id)
            return (int)mid;
        if (e->users[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void user_node_add(struct euser *u, size_t slot)
{
    if (u->nnodes == u->capnodes) {
        size_t cap = u->capnodes ? u->capnodes * 2 : 4;
        size_t *v = realloc(u->nodes, cap * sizeof *v);
        if (!v)
            return;
        u->nodes = v;
        u->capnodes = cap;
    }
    u->nodes[u->nnodes++] = slot;
}

static void user_node_del(struct euser *u, size_t slot)
{
    for (size_t i = 0; i < u->nnodes; i++)
        if (u->nodes[i] == slot) {
            u->nodes[i] = u->nodes[--u->nnodes];
            return;
        }
}

static int cmp_user(const void *a, const void *b)
{
    int64_t x = ((const struct pol_user *)a)->id, y = ((const struct pol_user *)b)->id;
    return x < y ? -1 : x > y;
}

/* ---- nodes ---- */

static void node_clear(struct enode *n)
{
    for (size_t i = 0; i < n->ntags; i++)
        free(n->tags[i]);
    free(n->tags);
    free(n->routes);
    free(n->adv);
    free(n->appr);
    free(n->os);
    free(n->os_version);
    free(n->ts_version);
    free(n->caps);
    free(n->peers);
    free(n->ftext);
    free(n->stext);
    memset(n, 0, sizeof *n);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Fills a slot's attributes from the caller's view (not its results). 0 or -1. */
static int node_fill(struct pol_engine *e, struct enode *n, const struct pol_node *pn)
{
    n->id = pn->id;
    n->user_id = pn->user_id;
    n->tagged = pn->ntags > 0;
    n->user = n->tagged ? -1 : user_index(e, pn->user_id);
    n->tags = calloc(pn->ntags ? pn->ntags : 1, sizeof *n->tags);
    if (!n->tags)
        return -1;
    for (size_t i = 0; i < pn->ntags; i++) {
        bool dup = false;
        for (size_t k = 0; k < n->ntags; k++)
            dup |= !strcmp(n->tags[k], pn->tags[i]);
        if (!dup && (n->tags[n->ntags] = strdup(pn->tags[i])))
            n->ntags++;
    }
    qsort(n->tags, n->ntags, sizeof *n->tags, cmp_str);
    n->has4 = pn->has4;
    n->has6 = pn->has6;
    n->ip4.fam = 4;
    n->ip4.v = (u128)pn->ip4[0] << 24 | (u128)pn->ip4[1] << 16 | (u128)pn->ip4[2] << 8 | pn->ip4[3];
    n->ip6.fam = 6;
    n->ip6.v = 0;
    for (int i = 0; i < 16; i++)
        n->ip6.v = n->ip6.v << 8 | pn->ip6[i];
    char buf[NETSET_TEXT_MAX];
    snprintf(n->ip4_text, sizeof n->ip4_text, "%s", ip_format(&n->ip4, buf));
    snprintf(n->ip6_text, sizeof n->ip6_text, "%s", ip_format(&n->ip6, buf));
    snprintf(n->ip4_pfx, sizeof n->ip4_pfx, "%s/32", n->ip4_text);
    snprintf(n->ip6_pfx, sizeof n->ip6_pfx, "%s/128", n->ip6_text);
    n->appr = calloc(pn->napproved ? pn->napproved : 1, sizeof *n->appr);
    n->adv = calloc(pn->nroutable ? pn->nroutable : 1, sizeof *n->adv);
    if (!n->appr || !n->adv)
        return -1;
    for (size_t i = 0; i < pn->napproved; i++) {
        struct ipprefix p;
        if (!prefix_parse(pn->approved[i], strlen(pn->approved[i]), false, &p))
            n->appr[n->nappr++] = p;
    }
    for (size_t i = 0; i < pn->nroutable; i++) {
        struct ipprefix p;
        if (!prefix_parse(pn->routable[i], strlen(pn->routable[i]), false, &p))
            n->adv[n->nadv++] = p;
    }
    n->os = dup_or_null(pn->os);
    n->os_version = dup_or_null(pn->os_version);
    n->ts_version = dup_or_null(pn->ts_version);
    return 0;
}

/* ---- routes: explicit approvals and autoApprovers ---- */

static bool prefix_within(const struct ipprefix *inner, const struct ipprefix *outer)
{
    return inner->a.fam == outer->a.fam && inner->bits >= outer->bits && prefix_contains(outer, &inner->a);
}

static bool approver_matches(const struct pol_engine *e, const struct autoapprover *a, const struct enode *n)
{
    for (size_t i = 0; i < a->nwho; i++)
        if (sel_ident(e, &a->who[i], n))
            return true;
    return false;
}

/* Whether the policy's autoApprovers approve route p (exit: 0.0.0.0/0 and ::/0) for node n. Subnet
 * routes come under "routes" (a listed prefix covering p); exit routes only under "exitNode": Tailscale
 * does not make an exit node of a node whose 0.0.0.0/0 is listed under "routes". */
static bool auto_approved(const struct pol_engine *e, const struct enode *n, const struct ipprefix *p)
{
    if (!e->pol)
        return false;
    for (size_t i = 0; i < e->pol->napprovers; i++) {
        const struct autoapprover *a = &e->pol->approvers[i];
        if (p->bits == 0 ? !a->exit : (a->exit || !prefix_within(p, &a->route)))
            continue;
        if (approver_matches(e, a, n))
            return true;
    }
    return false;
}

static bool add_route(struct ipprefix **v, size_t *n, const struct ipprefix *p)
{
    for (size_t k = 0; k < *n; k++)
        if ((*v)[k].bits == p->bits && !ip_cmp(&(*v)[k].a, &p->a))
            return false;
    (*v)[(*n)++] = *p;
    return true;
}

bool eng_routes(struct pol_engine *e, struct enode *n)
{
    struct ipprefix *r = calloc(n->nappr + n->nadv + 1, sizeof *r);
    if (!r)
        return false;
    size_t nr = 0;
    bool exit = false;
    for (size_t i = 0; i < n->nappr; i++) {
        /* an approval counts for a route the node advertises now: an admin may approve ahead, and a
         * node that stops advertising keeps its approval (for when it advertises again) but serves
         * nothing, so neither "*" sources nor routed destinations may name the route then */
        bool adv = false;
        for (size_t k = 0; k < n->nadv && !adv; k++)
            adv = n->adv[k].bits == n->appr[i].bits && !ip_cmp(&n->adv[k].a, &n->appr[i].a);
        if (!adv)
            continue;
        if (n->appr[i].bits == 0)
            exit = true; /* 0.0.0.0/0 or ::/0: an exit node, not a subnet router for them */
        else
            add_route(&r, &nr, &n->appr[i]);
    }
    for (size_t i = 0; i < n->nadv; i++) {
        if (!auto_approved(e, n, &n->adv[i]))
            continue;
        if (n->adv[i].bits == 0)
            exit = true;
        else
            add_route(&r, &nr, &n->adv[i]);
    }
    bool same = exit == n->exit && nr == n->nroutes;
    for (size_t i = 0; same && i < nr; i++) {
        bool found = false;
        for (size_t k = 0; k < n->nroutes && !found; k++)
            found = n->routes[k].bits == r[i].bits && !ip_cmp(&n->routes[k].a, &r[i].a);
        same = found;
    }
    free(n->routes);
    n->routes = r;
    n->nroutes = nr;
    n->exit = exit;
    return !same;
}

/* ---- visibility ---- */

struct peers_ctx {
    struct pol_engine *e;
    uint64_t *out;
};

/* Every slot the node may reach or be reached from, through any network or capability rule. */
static void peers_compute(struct pol_engine *e, size_t slot, uint64_t *out)
{
    memset(out, 0, e->words * sizeof *out);
    const struct enode *n = &e->nodes[slot];
    for (size_t i = 0; i < e->nrules; i++) {
        const struct crule *r = &e->rules[i];
        if (r->kind == CR_SSH)
            continue;
        if (r->self) {
            if (n->tagged || n->user < 0)
                continue;
            const struct euser *u = &e->users[n->user];
            bool n_src = bit_get(r->S, slot);
            for (size_t k = 0; k < u->nnodes; k++) {
                size_t m = u->nodes[k];
                if (n_src || bit_get(r->S, m))
                    bit_set(out, m);
            }
            continue;
        }
        if (bit_get(r->D, slot))
            for (size_t w = 0; w < e->words; w++)
                out[w] |= r->S[w];
        if (bit_get(r->S, slot))
            for (size_t w = 0; w < e->words; w++)
                out[w] |= r->D[w];
    }
    bit_clr(out, slot);
}

/* Reports the difference old -> new of viewer's peers. */
static void peers_report(struct pol_engine *e, const struct enode *viewer, const uint64_t *old, const uint64_t *new)
{
    if (!e->sink.peers)
        return;
    int64_t *add = NULL, *rem = NULL;
    size_t na = 0, nr = 0, ca = 0, cr = 0;
    for (size_t w = 0; w < e->words; w++) {
        uint64_t o = old ? old[w] : ~(uint64_t)0, x = new ? new[w] : ~(uint64_t)0;
        uint64_t d = o ^ x;
        while (d) {
            size_t s = w * 64 + (size_t)__builtin_ctzll(d);
            d &= d - 1;
            if (s >= e->nslots || !e->nodes[s].used || &e->nodes[s] == viewer)
                continue;
            bool now = new ? bit_get(new, s) : true;
            int64_t **v = now ? &add : &rem;
            size_t *nn = now ? &na : &nr, *cc = now ? &ca : &cr;
            if (*nn == *cc) {
                size_t c = *cc ? *cc * 2 : 16;
                int64_t *t = realloc(*v, c * sizeof *t);
                if (!t)
                    continue;
                *v = t;
                *cc = c;
            }
            (*v)[(*nn)++] = e->nodes[s].id;
        }
    }
    if (na || nr)
        e->sink.peers(e->sink.arg, viewer->id, add, na, rem, nr);
    free(add);
    free(rem);
}

/* ---- recomputing a node's results ---- */

static unsigned recompute(struct pol_engine *e, struct enode *n, unsigned parts)
{
    unsigned what = 0;
    struct jbuf *b = &e->jb;
    jbuf_reset(b);
    if ((parts & POL_CH_FILTER) && filter_build(e, n, b) == 0) {
        uint64_t h = eng_hash(b->p, b->len);
        if (h != n->filter_hash) {
            what |= POL_CH_FILTER;
            if (e->deferred)
                keep_text(e, n, POL_CH_FILTER, b);
        }
        n->filter_hash = h;
    }
    jbuf_reset(b);
    if ((parts & POL_CH_SSH) && ssh_build(e, n, b) == 0) {
        uint64_t h = b->len ? eng_hash(b->p, b->len) : 0;
        if (h != n->ssh_hash) {
            what |= POL_CH_SSH;
            if (e->deferred)
                keep_text(e, n, POL_CH_SSH, b);
        }
        n->ssh_hash = h;
    }
    jbuf_reset(b);
    if ((parts & POL_CH_CAPS) && caps_build(e, n, b) == 0 && !b->oom) {
        if (b->len != n->caps_len || (b->len && memcmp(b->p, n->caps, b->len))) {
            what |= POL_CH_CAPS;
            free(n->caps);
            n->caps = b->len ? malloc(b->len + 1) : NULL;
            if (n->caps) {
                memcpy(n->caps, b->p, b->len);
                n->caps[b->len] = 0;
            }
            n->caps_len = n->caps ? b->len : 0;
        }
    }
    e->stats.node_recomputes++;
    return what;
}

/* Recomputes every queued node and reports what changed (fresh nodes report nothing: the caller sends
 * them a whole map). */
static void flush_queue(struct pol_engine *e, size_t fresh)
{
    for (size_t i = 0; i < e->nqueue; i++) {
        struct enode *n = &e->nodes[e->queue[i]];
        unsigned parts = n->parts;
        n->dirty = false;
        n->parts = 0;
        /* no parts: recomputed since it was queued (a deferred node_set does its own node at once), or
         * a slot queued before its node left and reused since */
        if (!n->used || !parts)
            continue;
        unsigned what = recompute(e, n, parts);
        if (what && e->queue[i] != fresh && e->sink.node)
            e->sink.node(e->sink.arg, n->id, what);
    }
    e->nqueue = 0;
}

/* ---- the whole tailnet against a (new) policy ---- */

static int full_compile(struct pol_engine *e, bool was_all, bool report)
{
    e->stats.full_compiles++;
    uint64_t **old = calloc(e->nslots ? e->nslots : 1, sizeof *old);
    if (!old)
        return -1;
    for (size_t s = 0; s < e->nslots; s++) {
        old[s] = e->nodes[s].peers;
        e->nodes[s].peers = NULL;
    }
    if (rules_build(e))
        goto fail;
    sel_resolve_users(e, e->pol);
    for (size_t s = 0; s < e->nslots; s++)
        if (e->nodes[s].used)
            eng_routes(e, &e->nodes[s]);
    eng_star_refresh(e);
    if (rules_eval_all(e))
        goto fail;
    bool all = !e->pol;
    for (size_t s = 0; s < e->nslots; s++) {
        struct enode *n = &e->nodes[s];
        if (!n->used)
            continue;
        if (!all) {
            n->peers = eng_bits(e);
            if (!n->peers)
                goto fail;
            peers_compute(e, s, n->peers);
        }
        if (report && !(was_all && all))
            peers_report(e, n, was_all ? NULL : old[s], all ? NULL : n->peers);
        eng_mark(e, s);
    }
    struct pol_sink saved = e->sink;
    if (!report)
        memset(&e->sink, 0, sizeof e->sink);
    flush_queue(e, (size_t)-1);
    e->sink = saved;
    for (size_t s = 0; s < e->nslots; s++)
        free(old[s]);
    free(old);
    return 0;
fail:
    for (size_t s = 0; s < e->nslots; s++)
        free(old[s]);
    free(old);
    return -1;
}

/* ---- public ---- */

struct pol_engine *pol_engine_new(void)
{
    struct pol_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    jbuf_init(&e->jb);
    eng_star_refresh(e);
    return e;
}

void pol_engine_free(struct pol_engine *e)
{
    if (!e)
        return;
    rules_free(e);
    for (size_t s = 0; s < e->nslots; s++)
        node_clear(&e->nodes[s]);
    free(e->nodes);
    free(e->free_slots);
    free(e->map_id);
    free(e->map_slot);
    users_free(e->users, e->nusers);
    for (size_t i = 0; i < e->nstar; i++)
        free(e->star[i]);
    free(e->star);
    free(e->queue);
    free(e->kept);
    jbuf_free(&e->jb);
    free(e->server_url);
    free(e->allow_all);
    policy_free(e->pol);
    free(e);
}

int pol_engine_set_server_url(struct pol_engine *e, const char *url)
{
    char *u = strdup(url ? url : "");
    if (!u)
        return -1;
    free(e->server_url);
    e->server_url = u;
    pol_engine_release(e); /* SSH check URLs change */
    return 0;
}

int pol_engine_set_default_filter(struct pol_engine *e, const char *json, size_t len)
{
    char *t = NULL;
    if (json && !(t = strndup(json, len)))
        return -1;
    free(e->allow_all);
    e->allow_all = t;
    e->allow_all_len = t ? len : 0;
    if (!e->pol) {
        for (size_t s = 0; s < e->nslots; s++)
            eng_mark(e, s);
        flush_queue(e, (size_t)-1);
    }
    return 0;
}

void pol_engine_set_sink(struct pol_engine *e, const struct pol_sink *sink)
{
    if (sink)
        e->sink = *sink;
    else
        memset(&e->sink, 0, sizeof e->sink);
}

int pol_engine_set_users(struct pol_engine *e, const struct pol_user *u, size_t n)
{
    struct pol_user *sorted = calloc(n ? n : 1, sizeof *sorted);
    struct euser *v = calloc(n ? n : 1, sizeof *v);
    if (!sorted || !v) {
        free(sorted);
        free(v);
        return -1;
    }
    if (n) { /* u may be NULL when there are none */
        memcpy(sorted, u, n * sizeof *u);
        qsort(sorted, n, sizeof *sorted, cmp_user);
    }
    /* the cheap case (users only added): nodes' memberships cannot change */
    bool same = true;
    for (size_t i = 0; i < e->nusers && same; i++) {
        size_t lo = 0, hi = n;
        bool found = false;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (sorted[mid].id == e->users[i].id) {
                found = !strcmp(sorted[mid].login ? sorted[mid].login : "", e->users[i].login) &&
                        sorted[mid].roles == e->users[i].roles;
                break;
            }
            if (sorted[mid].id < e->users[i].id)
                lo = mid + 1;
            else
                hi = mid;
        }
        same = found;
    }
    for (size_t i = 0; i < n; i++) {
        v[i].id = sorted[i].id;
        v[i].login = strdup(sorted[i].login ? sorted[i].login : "");
        if (!v[i].login) {
            users_free(v, n);
            free(sorted);
            return -1;
        }
        const char *at = strchr(v[i].login, '@');
        v[i].domain = at ? at + 1 : "";
        v[i].roles = sorted[i].roles;
    }
    free(sorted);
    users_free(e->users, e->nusers);
    e->users = v;
    e->nusers = n;
    for (size_t s = 0; s < e->nslots; s++) {
        struct enode *nd = &e->nodes[s];
        if (!nd->used)
            continue;
        nd->user = nd->tagged ? -1 : user_index(e, nd->user_id);
        if (nd->user >= 0)
            user_node_add(&e->users[nd->user], s);
    }
    if (same) {
        sel_resolve_users(e, e->pol);
        return 0;
    }
    return full_compile(e, !e->pol, true);
}

/* The slots a node's change affects, beyond itself, for each rule it is (or was) in. */
static void affected(struct pol_engine *e, size_t slot, const unsigned *before, const unsigned *after,
                     bool ips_changed, int old_user, int new_user)
{
    for (size_t i = 0; i < e->nrules; i++) {
        struct crule *r = &e->rules[i];
        /* the sources listed by address: identity matches, or every source when a posture applies */
        unsigned lb = r->nposture ? 1 : 2;
        bool sid_old = before[i] & lb, sid_new = after[i] & lb;
        bool d_old = before[i] & 4, d_new = after[i] & 4;
        if (r->self) {
            /* the sources of a self rule are the user's own nodes: both users' nodes recompute */
            if ((before[i] & 1) != (after[i] & 1) || old_user != new_user || ips_changed) {
                int us[2] = {old_user, new_user};
                for (int k = 0; k < 2; k++)
                    if (us[k] >= 0)
                        for (size_t j = 0; j < e->users[us[k]].nnodes; j++)
                            eng_mark_parts(e, e->users[us[k]].nodes[j], rule_parts(r));
            }
            continue;
        }
        if ((sid_old || sid_new) && (sid_old != sid_new || ips_changed)) {
            free(r->src_text);
            r->src_text = NULL;
            eng_mark_set_parts(e, r->D, rule_parts(r));
        }
        if (r->kind == CR_CAP && r->cap->companion && (d_old || d_new) && (d_old != d_new || ips_changed)) {
            free(r->dst_text);
            r->dst_text = NULL;
            eng_mark_set_parts(e, r->S, POL_CH_FILTER);
        }
    }
    (void)slot;
}

static void star_changed(struct pol_engine *e)
{
    eng_star_refresh(e);
    for (size_t i = 0; i < e->nrules; i++) {
        struct crule *r = &e->rules[i];
        if (!r->src_star)
            continue;
        free(r->src_text);
        r->src_text = NULL;
        eng_mark_set_parts(e, r->D, rule_parts(r));
    }
}

static bool routes_equal(const struct enode *a, const struct enode *b)
{
    if (a->exit != b->exit || a->nroutes != b->nroutes)
        return false;
    for (size_t i = 0; i < a->nroutes; i++) {
        bool found = false;
        for (size_t k = 0; k < b->nroutes && !found; k++)
            found = a->routes[i].bits == b->routes[k].bits && !ip_cmp(&a->routes[i].a, &b->routes[k].a);
        if (!found)
            return false;
    }
    return true;
}

int pol_engine_node_set(struct pol_engine *e, const struct pol_node *pn)
{
    struct enode *n = eng_node(e, pn->id);
    bool fresh = !n;
    size_t slot;
    if (fresh) {
        if (e->nfree) {
            slot = e->free_slots[--e->nfree];
        } else {
            if (e->nslots == e->capslots && grow_slots(e))
                return -1;
            slot = e->nslots++;
        }
        if (map_put(e, pn->id, slot))
            return -1;
        n = &e->nodes[slot];
        memset(n, 0, sizeof *n);
    } else {
        slot = slot_of(e, n);
    }
    /* what the node was, to find whom its change affects */
    struct enode old = *n;
    struct enode fill;
    memset(&fill, 0, sizeof fill);
    if (node_fill(e, &fill, pn)) {
        node_clear(&fill);
        if (fresh) {
            map_del(e, pn->id);
            e->free_slots = realloc(e->free_slots, (e->nfree + 1) * sizeof *e->free_slots);
            if (e->free_slots)
                e->free_slots[e->nfree++] = slot;
        }
        return -1;
    }
    fill.used = true;
    eng_routes(e, &fill);
    bool routes_changed = !routes_equal(&old, &fill);
    fill.peers = n->peers;
    fill.filter_hash = n->filter_hash;
    fill.ssh_hash = n->ssh_hash;
    fill.caps = n->caps;
    fill.caps_len = n->caps_len;
    fill.kept = n->kept; /* (its kept texts go with old: its results are recomputed below) */
    bool ips_changed = fresh || old.has4 != fill.has4 || old.has6 != fill.has6 ||
                       (fill.has4 && old.ip4.v != fill.ip4.v) || (fill.has6 && old.ip6.v != fill.ip6.v);
    int old_user = fresh ? -1 : old.user;
    /* drop the old attributes (not the results, moved into fill) */
    old.peers = NULL;
    old.caps = NULL;
    if (!fresh) {
        if (old.user >= 0)
            user_node_del(&e->users[old.user], slot);
        node_clear(&old);
    }
    *n = fill;
    if (n->user >= 0)
        user_node_add(&e->users[n->user], slot);
    if (!e->pol) {
        /* no policy: everyone sees everyone, nothing to compile */
        if (fresh)
            recompute(e, n, ALL_PARTS);
        return 0;
    }
    if (!n->peers && !(n->peers = eng_bits(e)))
        return -1;
    unsigned *before = calloc(e->nrules ? e->nrules : 1, sizeof *before);
    unsigned *after = calloc(e->nrules ? e->nrules : 1, sizeof *after);
    if (!before || !after) {
        free(before);
        free(after);
        return -1;
    }
    for (size_t i = 0; i < e->nrules; i++) {
        struct crule *r = &e->rules[i];
        before[i] = (unsigned)bit_get(r->S, slot) | (unsigned)bit_get(r->Sid, slot) << 1 |
                    (unsigned)bit_get(r->D, slot) << 2;
        rule_eval(e, r, slot, true);
        after[i] = (unsigned)bit_get(r->S, slot) | (unsigned)bit_get(r->Sid, slot) << 1 |
                   (unsigned)bit_get(r->D, slot) << 2;
    }
    affected(e, slot, before, after, ips_changed, old_user, n->user);
    free(before);
    free(after);
    if (routes_changed)
        star_changed(e);
    /* its peers, and it among its peers' peers (the relation is symmetric) */
    uint64_t *np = eng_bits(e);
    if (!np)
        return -1;
    peers_compute(e, slot, np);
    uint64_t *op = n->peers;
    for (size_t w = 0; w < e->words; w++) {
        uint64_t d = op[w] ^ np[w];
        while (d) {
            size_t m = w * 64 + (size_t)__builtin_ctzll(d);
            d &= d - 1;
            bool vis = bit_get(np, m);
            bit_put(e->nodes[m].peers, slot, vis);
            if (e->sink.peers) {
                int64_t id = n->id;
                e->sink.peers(e->sink.arg, e->nodes[m].id, vis ? &id : NULL, vis, vis ? NULL : &id, !vis);
            }
        }
    }
    if (!fresh)
        peers_report(e, n, op, np);
    n->peers = np;
    free(op);
    if (e->deferred) {
        /* its own results now (its map may be built before the next settle; a fresh node gets a whole
         * map, so nothing is reported for it); the others' wait in the queue */
        unsigned what = recompute(e, n, ALL_PARTS | n->parts);
        n->parts = 0; /* (it may stay queued: flush_queue skips it then) */
        if (what && !fresh && e->sink.node)
            e->sink.node(e->sink.arg, n->id, what);
        return 0;
    }
    eng_mark(e, slot);
    flush_queue(e, fresh ? slot : (size_t)-1);
    return 0;
}

void pol_engine_defer(struct pol_engine *e, bool on)
{
    e->deferred = on;
    if (!on)
        pol_engine_settle(e);
}

void pol_engine_settle(struct pol_engine *e)
{
    flush_queue(e, (size_t)-1);
}

bool pol_engine_unsettled(const struct pol_engine *e)
{
    return e->nqueue > 0;
}

void pol_engine_node_del(struct pol_engine *e, int64_t id)
{
    struct enode *n = eng_node(e, id);
    if (!n)
        return;
    size_t slot = slot_of(e, n);
    if (e->pol) {
        unsigned *before = calloc(e->nrules ? e->nrules : 1, sizeof *before);
        unsigned *after = calloc(e->nrules ? e->nrules : 1, sizeof *after);
        if (before && after) {
            for (size_t i = 0; i < e->nrules; i++) {
                struct crule *r = &e->rules[i];
                before[i] = (unsigned)bit_get(r->S, slot) | (unsigned)bit_get(r->Sid, slot) << 1 |
                            (unsigned)bit_get(r->D, slot) << 2;
                rule_eval(e, r, slot, false);
            }
            n->used = false; /* not recomputed, not listed */
            affected(e, slot, before, after, true, n->user, -1);
        }
        free(before);
        free(after);
        /* its peers lose it */
        for (size_t w = 0; n->peers && w < e->words; w++) {
            uint64_t x = n->peers[w];
            while (x) {
                size_t m = w * 64 + (size_t)__builtin_ctzll(x);
                x &= x - 1;
                bit_clr(e->nodes[m].peers, slot);
                if (e->sink.peers)
                    e->sink.peers(e->sink.arg, e->nodes[m].id, NULL, 0, &id, 1);
            }
        }
    }
    bool had_routes = n->nroutes > 0;
    if (n->user >= 0)
        user_node_del(&e->users[n->user], slot);
    node_clear(n);
    map_del(e, id);
    size_t *fs = realloc(e->free_slots, (e->nfree + 1) * sizeof *fs);
    if (fs) {
        e->free_slots = fs;
        e->free_slots[e->nfree++] = slot;
    }
    if (e->pol && had_routes)
        star_changed(e);
    if (!e->deferred)
        flush_queue(e, (size_t)-1);
}

/* Adds the rule a policy without ACLs or grants implies: everything in the tailnet may reach
 * everything ("*" to "*:*"), as Tailscale's default policy. */
static int implicit_allow_all(struct policy *p)
{
    if (p->has_rules)
        return 0;
    struct alias *star = tc_arena_alloc(&p->arena, sizeof *star);
    struct dst_ent *d = tc_arena_alloc(&p->arena, sizeof *d);
    struct portrange *pr = tc_arena_alloc(&p->arena, sizeof *pr);
    struct netrule *v = realloc(p->net, (p->nnet + 1) * sizeof *v);
    if (!star || !d || !pr || !v)
        return -1;
    star->k = AL_STAR;
    star->text = "*";
    pr->first = 0;
    pr->last = 65535;
    d->a = *star;
    d->ports = pr;
    d->nports = 1;
    p->net = v;
    memset(&v[p->nnet], 0, sizeof v[p->nnet]);
    v[p->nnet].grant = -1;
    v[p->nnet].src = star;
    v[p->nnet].nsrc = 1;
    v[p->nnet].dst = d;
    v[p->nnet].ndst = 1;
    p->nnet++;
    p->has_rules = true;
    return 0;
}

int pol_engine_check(struct pol_engine *e, const struct policy *p, struct pol_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    if (!p)
        return 0;
    /* user:*@domain needs a domain of the tailnet's users */
    int bad = 0;
    for (size_t i = 0; i < p->ndomains; i++) {
        bool found = false;
        for (size_t u = 0; u < e->nusers && !found; u++)
            found = !strcmp(e->users[u].domain, p->domains[i].domain);
        if (!found) {
            struct perr pe = {errs, NULL};
            perr_add(&pe, p->domains[i].pos,
                     "%s is not associated with this Tailnet and cannot be used in user:*@<domain> expressions",
                     p->domains[i].domain);
            bad = 1;
        }
    }
    if (bad)
        return -1;
    if (!policy_has_tests(p))
        return 0;
    /* the tests run on the candidate's rules, compiled beside the ones in force */
    struct policy *saved_pol = e->pol;
    struct crule *saved_rules = e->rules;
    size_t saved_n = e->nrules;
    e->pol = (struct policy *)p;
    e->rules = NULL;
    e->nrules = 0;
    int rc = -1;
    if (!rules_build(e)) {
        sel_resolve_users(e, p);
        for (size_t i = 0; i < e->nrules; i++)
            for (size_t s = 0; s < e->nslots; s++)
                rule_eval(e, &e->rules[i], s, e->nodes[s].used);
        rc = tests_run(e, p, errs);
    }
    rules_free(e);
    e->pol = saved_pol;
    e->rules = saved_rules;
    e->nrules = saved_n;
    sel_resolve_users(e, e->pol);
    return rc;
}

int pol_engine_set_policy(struct pol_engine *e, struct policy *p, struct pol_errors *errs)
{
    if (errs)
        memset(errs, 0, sizeof *errs);
    if (p) {
        struct pol_errors tmp;
        if (pol_engine_check(e, p, errs ? errs : &tmp)) {
            if (!errs)
                pol_errors_free(&tmp);
            return -1;
        }
        if (implicit_allow_all(p))
            return -1;
    }
    struct policy *old = e->pol;
    e->pol = p;
    if (full_compile(e, !old, true)) {
        e->pol = old;
        full_compile(e, !p, false);
        return -1;
    }
    policy_free(old);
    return 0;
}

const struct policy *pol_engine_policy(const struct pol_engine *e)
{
    return e->pol;
}

const char *pol_filter_json(struct pol_engine *e, int64_t id, size_t *len)
{
    struct enode *n = eng_node(e, id);
    if (!n)
        return NULL;
    if (n->ftext) {
        *len = n->flen;
        return n->ftext;
    }
    jbuf_reset(&e->jb);
    if (filter_build(e, n, &e->jb) || e->jb.oom)
        return NULL;
    jbuf_putc(&e->jb, 0);
    e->jb.len--;
    *len = e->jb.len;
    return e->jb.p;
}

const char *pol_ssh_json(struct pol_engine *e, int64_t id, size_t *len)
{
    struct enode *n = eng_node(e, id);
    if (!n || !e->pol)
        return NULL;
    if (n->stext) {
        *len = n->slen;
        return n->stext;
    }
    jbuf_reset(&e->jb);
    if (ssh_build(e, n, &e->jb) || e->jb.oom || !e->jb.len)
        return NULL;
    jbuf_putc(&e->jb, 0);
    e->jb.len--;
    *len = e->jb.len;
    return e->jb.p;
}

const char *pol_caps_json(struct pol_engine *e, int64_t id, size_t *len)
{
    struct enode *n = eng_node(e, id);
    if (!n)
        return NULL;
    *len = n->caps_len;
    return n->caps ? n->caps : "";
}

bool pol_visible(const struct pol_engine *e, int64_t viewer, int64_t subject)
{
    const struct enode *v = eng_node(e, viewer), *s = eng_node(e, subject);
    if (!v || !s || v == s)
        return false;
    if (!e->pol)
        return true;
    return v->peers && bit_get(v->peers, slot_of(e, s));
}

long pol_slot(const struct pol_engine *e, int64_t id)
{
    const struct enode *n = eng_node(e, id);
    return n ? (long)slot_of(e, n) : -1;
}

const uint64_t *pol_peer_bits(const struct pol_engine *e, int64_t viewer)
{
    const struct enode *n = eng_node(e, viewer);
    return e->pol && n ? n->peers : NULL;
}

bool pol_all_visible(const struct pol_engine *e)
{
    return !e->pol;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void pol_each_peer(const struct pol_engine *e, int64_t viewer, void (*fn)(void *arg, int64_t id), void *arg)
{
    const struct enode *v = eng_node(e, viewer);
    if (!v)
        return;
    int64_t *ids = malloc((e->nslots ? e->nslots : 1) * sizeof *ids);
    if (!ids)
        return;
    size_t n = 0;
    for (size_t s = 0; s < e->nslots; s++) {
        const struct enode *m = &e->nodes[s];
        if (m->used && m != v && (!e->pol || (v->peers && bit_get(v->peers, s))))
            ids[n++] = m->id;
    }
    qsort(ids, n, sizeof *ids, cmp_i64);
    for (size_t i = 0; i < n; i++)
        fn(arg, ids[i]);
    free(ids);
}

bool pol_tag_allowed(struct pol_engine *e, const char *tag, int64_t user_id, const char *const *tags, size_t ntags)
{
    if (!e->pol)
        return true;
    int t = tag_index(e->pol, tag);
    if (t < 0)
        return false; /* a tag the policy does not define is nobody's */
    /* a stand-in node: the user's (untagged) for user owners, and the tagged one for tag owners */
    struct enode as_user, as_tagged;
    memset(&as_user, 0, sizeof as_user);
    memset(&as_tagged, 0, sizeof as_tagged);
    as_user.user = user_index(e, user_id);
    as_user.user_id = user_id;
    as_tagged.tagged = true;
    as_tagged.user = -1;
    char **sorted = calloc(ntags + 1, sizeof *sorted);
    if (!sorted)
        return false;
    if (ntags) { /* tags may be NULL when there are none */
        memcpy(sorted, tags, ntags * sizeof *sorted);
        qsort(sorted, ntags, sizeof *sorted, cmp_str);
    }
    as_tagged.tags = sorted;
    as_tagged.ntags = ntags;
    const struct pol_tag *pt = &e->pol->tags[t];
    bool ok = false;
    for (size_t i = 0; i < pt->nowners && !ok; i++) {
        const struct alias *a = &pt->owners[i];
        ok = a->k == AL_TAG ? sel_ident(e, a, &as_tagged) : (as_user.user >= 0 && sel_ident(e, a, &as_user));
    }
    free(sorted);
    return ok;
}

bool pol_route_auto_approved(struct pol_engine *e, int64_t node_id, const char *route)
{
    struct enode *n = eng_node(e, node_id);
    struct ipprefix p;
    if (!n || prefix_parse(route, strlen(route), false, &p))
        return false;
    return auto_approved(e, n, &p);
}

void pol_engine_stats(const struct pol_engine *e, struct pol_stats *s)
{
    *s = e->stats;
    size_t m = e->capslots * sizeof *e->nodes + e->nrules * 3 * e->words * 8 + e->capslots * e->words * 8;
    for (size_t i = 0; i < e->nrules; i++)
        m += e->rules[i].src_len + e->rules[i].dst_len;
    for (size_t i = 0; i < e->nslots; i++)
        m += e->nodes[i].caps_len;
    s->mem_bytes = m;
}
