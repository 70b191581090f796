// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "modules/control/access.h"
#include "modules/control/ctrl.h"

/* Map streams and change propagation (spec control-ts2021.md §7.3, §7.6; netmap.md §2).
 *
 * Changes are collected for batch_delay (at most 1 s), then turned into ONE delta MapResponse that every
 * stream gets byte for byte (built and compressed once; one variant more for clients too old for
 * PeersChangedPatch). Only the streams of a node that itself changed get a message of their own (without
 * themselves among the peers, with their Node when it changed for them). So the work per change is
 * building one small message plus one buffer copy per open stream: linear in the peers, never N².
 * With an access policy a stream gets only the changes of the peers its node may see: the shared messages
 * are one per visible subset of the batch (usually few), and a node whose own results changed (filter,
 * SSH policy, attributes, peers coming into or out of view) gets a message of its own. */

static uint32_t rng_next(struct ctrl *c)
{
    uint32_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return c->rng = x ? x : 1;
}

/* Keep-alives within the client's 120 s watchdog: the interval plus up to a fifth of it (50 s + 0-9 s by
 * default, as headscale), so that 10,000 streams opened at once do not all tick together. */
static void arm_keepalive(struct ctrl_sess *s)
{
    uint64_t base = (uint64_t)s->c->keepalive_ms;
    timer_start(&s->keepalive, base + rng_next(s->c) % (base / 5 + 1));
}

static void sess_unlink(struct ctrl_sess *s)
{
    struct ctrl *c = s->c;
    timer_stop(&s->keepalive);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    struct cnode *n = s->node;
    if (s->node_prev)
        s->node_prev->node_next = s->node_next;
    else
        n->sess = s->node_next;
    if (s->node_next)
        s->node_next->node_prev = s->node_prev;
    c->nsessions--;
    n->nsess--;
    if (!n->nsess && !n->removing)
        ctrl_node_online(c, n, false);
    free(s);
}

void ctrl_sess_gone(struct ctrl_sess *s)
{
    sess_unlink(s);
}

void ctrl_sess_end(struct ctrl_sess *s)
{
    s->ops->end(s->h);
    sess_unlink(s);
}

/* 0, or -1 when the session was ended (gone or too slow). */
static int sess_write(struct ctrl_sess *s, const void *data, size_t len)
{
    struct ctrl *c = s->c;
    if (s->ops->queued(s->h) > c->max_queued) {
        log_warn("module=control event=stream_slow node=%lld queued=%zu msg=\"ending the stream; the client "
                 "reconnects and gets a full map\"", (long long)s->node->m.id, s->ops->queued(s->h));
        ctrl_sess_end(s);
        return -1;
    }
    if (!s->ops->queued(s->h)) /* it took everything sent before: still there */
        ctrl_node_seen(c, s->node);
    if (s->ops->write(s->h, data, len)) {
        ctrl_sess_end(s);
        return -1;
    }
    c->frames_written++;
    c->bytes_written += len;
    arm_keepalive(s);
    return 0;
}

static void keepalive_cb(struct timer *t, void *arg)
{
    struct ctrl_sess *s = arg;
    (void)t;
    if (s->ops->queued(s->h)) { /* bytes still on their way count as life */
        arm_keepalive(s);
        return;
    }
    if (s->compress) {
        sess_write(s, s->c->keepalive_frame, s->c->keepalive_len);
    } else {
        static const uint8_t plain[] = "\x12\0\0\0{\"KeepAlive\":true}";
        sess_write(s, plain, sizeof plain - 1);
    }
}

struct ctrl_sess *ctrl_sess_open(struct ctrl *c, struct cnode *n, int capver, bool compress,
                                 const struct ctrl_sink_ops *ops, void *h)
{
    struct ctrl_sess *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->c = c;
    s->node = n;
    s->ops = ops;
    s->h = h;
    s->capver = capver;
    s->compress = compress;
    timer_init(&s->keepalive, c->loop, keepalive_cb, s);
    size_t len;
    const uint8_t *frame;
    if (!(frame = mapper_full_frame(c, n, capver, compress, &len)) || ops->write(h, frame, len)) {
        free(s);
        return NULL;
    }
    c->frames_written++;
    c->bytes_written += len;
    s->next = c->sessions;
    if (s->next)
        s->next->prev = s;
    c->sessions = s;
    s->node_next = n->sess;
    if (s->node_next)
        s->node_next->node_prev = s;
    n->sess = s;
    c->nsessions++;
    if (++n->nsess == 1)
        ctrl_node_online(c, n, true);
    arm_keepalive(s);
    return s;
}

int fanout_node_message(struct ctrl *c, struct cnode *n, const uint8_t *zframe, size_t zlen,
                        const uint8_t *pframe, size_t plen)
{
    int sent = 0;
    for (struct ctrl_sess *s = n->sess, *next; s; s = next) {
        next = s->node_next; /* a failed write ends (frees) s */
        if (!sess_write(s, s->compress ? zframe : pframe, s->compress ? zlen : plen))
            sent++;
    }
    (void)c;
    return sent ? 0 : -1;
}

static void flush_cb(struct timer *t, void *arg)
{
    (void)t;
    fanout_flush(arg);
}

void fanout_node(struct ctrl *c, struct cnode *n, unsigned what)
{
    if (!n->pending) {
        if (c->nchanged == c->changed_cap) {
            size_t cap = c->changed_cap ? c->changed_cap * 2 : 64;
            struct cnode **v = realloc(c->changed, cap * sizeof *v);
            if (!v) {
                log_error("module=control event=fanout error=\"out of memory\"");
                return;
            }
            c->changed = v;
            c->changed_cap = cap;
        }
        n->pending_idx = c->nchanged;
        c->changed[c->nchanged++] = n;
    }
    n->pending |= what;
    if (!timer_armed(&c->flush)) {
        c->st.batch_t0 = metrics_now();
        c->flush.cb = flush_cb;
        c->flush.arg = c;
        timer_start(&c->flush, (uint64_t)c->batch_ms);
    }
}

void fanout_soon(struct ctrl *c)
{
    if (!timer_armed(&c->flush)) {
        c->st.batch_t0 = metrics_now();
        c->flush.cb = flush_cb;
        c->flush.arg = c;
        timer_start(&c->flush, (uint64_t)c->batch_ms);
    }
}

void fanout_removed(struct ctrl *c, int64_t id)
{
    if (c->nremoved == c->removed_cap) {
        size_t cap = c->removed_cap ? c->removed_cap * 2 : 16;
        int64_t *v = realloc(c->removed, cap * sizeof *v);
        if (!v)
            return;
        c->removed = v;
        c->removed_cap = cap;
    }
    c->removed[c->nremoved++] = id;
    if (!timer_armed(&c->flush)) {
        c->st.batch_t0 = metrics_now();
        c->flush.cb = flush_cb;
        c->flush.arg = c;
        timer_start(&c->flush, (uint64_t)c->batch_ms);
    }
}

void fanout_user(struct ctrl *c, int64_t user_id)
{
    for (size_t i = 0; i < c->nusers_new; i++)
        if (c->users_new[i] == user_id)
            return;
    if (c->nusers_new == c->users_new_cap) {
        size_t cap = c->users_new_cap ? c->users_new_cap * 2 : 16;
        int64_t *v = realloc(c->users_new, cap * sizeof *v);
        if (!v) { /* every profile then: more bytes, nothing lost */
            c->users_changed = true;
            return;
        }
        c->users_new = v;
        c->users_new_cap = cap;
    }
    c->users_new[c->nusers_new++] = user_id;
    if (!timer_armed(&c->flush)) {
        c->flush.cb = flush_cb;
        c->flush.arg = c;
        timer_start(&c->flush, (uint64_t)c->batch_ms);
    }
}

void fanout_statics(struct ctrl *c, unsigned what)
{
    c->statics_changed |= what;
    if (!timer_armed(&c->flush)) {
        c->flush.cb = flush_cb;
        c->flush.arg = c;
        timer_start(&c->flush, (uint64_t)c->batch_ms);
    }
}

void fanout_full_maps(struct ctrl *c)
{
    fanout_flush(c); /* what was batched first, so that nothing is sent after the map that supersedes it */
    struct ctrl_sess *s, *next;
    for (s = c->sessions; s; s = next) {
        next = s->next;
        size_t len;
        const uint8_t *f = mapper_full_frame(c, s->node, s->capver, s->compress, &len);
        if (f)
            sess_write(s, f, len);
    }
}

static int cmp_node_id(const void *a, const void *b)
{
    int64_t x = (*(struct cnode *const *)a)->m.id, y = (*(struct cnode *const *)b)->m.id;
    return x < y ? -1 : x > y;
}

/* One batch of changes, and for the policy the slots of its nodes (to test visibility fast). */
struct batch {
    struct cnode **nodes; /* the nodes whose changes others see (PeersChanged, patches, online) */
    size_t n;
    long *slot;
    int64_t *removed;
    size_t nremoved;
    struct tc_user_profile *up; /* the profiles every message of the batch carries (built once) */
    size_t nup;
    bool all;         /* no policy: every node sees every other */
    unsigned statics; /* STATIC_*: the DERP map / DNS config go with it */
};

/* Which of the batch's nodes viewer may see: bit i of mask (words (n+63)/64). */
static void visible_mask(struct ctrl *c, const struct batch *b, const struct cnode *viewer, uint64_t *mask)
{
    size_t words = (b->n + 63) / 64;
    const uint64_t *pb = access_peer_bits(c, viewer);
    memset(mask, 0, (words ? words : 1) * sizeof *mask);
    for (size_t i = 0; i < b->n; i++) {
        long s = b->slot[i];
        if (b->all || (pb && s >= 0 && (pb[s >> 6] >> (s & 63) & 1)))
            mask[i >> 6] |= (uint64_t)1 << (i & 63);
    }
}

static bool in_list(const int64_t *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* v sorted (fanout_flush sorts the peers lists it takes) */
static bool in_sorted(const int64_t *v, size_t n, int64_t id)
{
    return n && bsearch(&id, v, n, sizeof *v, cmp_i64) != NULL;
}

/* The delta for a recipient into c->jb: self NULL for a shared message (the changes of the nodes mask
 * selects, NULL for all), or the node whose own message it is (its own changes too). Returns 1 if there
 * is something to say, 0 if not, -1 on failure. */
static int build_delta(struct ctrl *c, const struct batch *b, struct cnode *self, int capver, const uint64_t *mask)
{
    bool patches = capver >= 36; /* PeersChangedPatch; older clients get whole nodes */
    size_t n = b->n, nadd = self ? self->nfadd : 0;
    struct tc_raw *full = calloc(n + nadd + 1, sizeof *full);
    struct tc_peer_change *pc = calloc(n + 1, sizeof *pc);
    struct tc_id_bool *on = calloc(n + 1, sizeof *on);
    int64_t *gone = calloc(b->nremoved + (self ? self->nfrem : 0) + 1, sizeof *gone);
    size_t nfull = 0, npc = 0, non = 0, ngone = 0;
    int rc = -1;
    struct jbuf node, fb, sb;
    jbuf_init(&node);
    jbuf_init(&fb);
    jbuf_init(&sb);
    if (!full || !pc || !on || !gone)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct cnode *p = b->nodes[i];
        unsigned w = p->flushing;
        if (p == self || (mask && !(mask[i >> 6] >> (i & 63) & 1)))
            continue;
        if (self && in_sorted(self->fadd, self->nfadd, p->m.id))
            continue; /* newly visible: sent whole below */
        unsigned patch = w & (CH_ENDPOINTS | CH_DERP | CH_DISCO);
        if ((w & CH_FULL) || (patch && !patches) || ((w & CH_ENDPOINTS) && !p->m.endpoints.n)) {
            size_t len;
            const char *j = mapper_peer_json_for(c, self, p, &len);
            if (!j)
                goto out;
            full[nfull++] = (struct tc_raw){j, len, NULL};
            continue;
        }
        if (patch) {
            struct tc_peer_change *x = &pc[npc++];
            x->node_id = p->m.id;
            if (w & CH_ENDPOINTS)
                x->endpoints = (struct tc_strs){(const char *const *)p->m.endpoints.v, p->m.endpoints.n};
            if (w & CH_DERP)
                x->derp_region = p->m.home_derp;
            if (w & CH_DISCO) {
                x->has_disco_key = true;
                memcpy(x->disco_key.b, p->m.disco_key, 32);
            }
        }
        if (w & CH_ONLINE) {
            on[non].id = p->m.id;
            on[non++].value = p->m.online;
        }
    }
    /* nodes deleted: with a policy each viewer that saw one is told by its own message (frem) */
    if (b->all)
        for (size_t i = 0; i < b->nremoved; i++)
            gone[ngone++] = b->removed[i];
    if (self) {
        size_t base = ngone; /* the frem list holds no duplicates of its own */
        for (size_t i = 0; i < self->nfrem; i++)
            if (!in_list(gone, base, self->frem[i]))
                gone[ngone++] = self->frem[i];
        for (size_t i = 0; i < self->nfadd; i++) {
            struct cnode *p = ctrl_node_by_id(c, self->fadd[i]);
            size_t len;
            const char *j = p ? mapper_peer_json_for(c, self, p, &len) : NULL;
            if (j)
                full[nfull++] = (struct tc_raw){j, len, NULL};
        }
    }
    struct tc_map_response r;
    memset(&r, 0, sizeof r);
    r.peers_changed.json = full;
    r.peers_changed.njson = nfull;
    r.peers_changed_patch = pc;
    r.npeers_changed_patch = npc;
    r.online_change = on;
    r.nonline_change = non;
    r.peers_removed = gone;
    r.npeers_removed = ngone;
    r.user_profiles = b->up;
    r.nuser_profiles = b->nup;
    bool policy = false;
    if (self) {
        unsigned pol = self->pol_flushing;
        if (((self->flushing & CH_SELF) || (pol & POL_CH_CAPS)) && mapper_self_node(c, self, capver, &node)) {
            goto out;
        }
        if (node.len)
            r.node_json = (struct tc_raw){node.p, node.len, NULL};
        if (pol & (POL_CH_FILTER | POL_CH_SSH)) {
            if (mapper_policy_parts(c, self, capver, &r, &fb, &sb, pol & POL_CH_FILTER, pol & POL_CH_SSH)) {
                goto out;
            }
            policy = true;
        }
    }
    if (b->statics & STATIC_DERP)
        r.derp_map_json = (struct tc_raw){c->derp_json, c->derp_len, NULL};
    if (b->statics & STATIC_DNS)
        r.dns_config_json = (struct tc_raw){c->dns_json, c->dns_len, NULL};
    if (!nfull && !npc && !non && !ngone && !r.nuser_profiles && !node.len && !policy && !b->statics) {
        rc = 0;
        goto out;
    }
    r.has_control_time = true;
    r.control_time = tc_time_now();
    jbuf_reset(&c->jb);
    rc = tc_map_response_emit(&c->jb, &r) || c->jb.oom ? -1 : 1;
    c->deltas_built++;
out:
    jbuf_free(&node);
    jbuf_free(&fb);
    jbuf_free(&sb);
    free(full);
    free(pc);
    free(on);
    free(gone);
    return rc;
}

/* A shared message (for one capability class and one visible subset of the batch), framed both ways.
 * With rep, the message of streams whose node's only news is peers coming into or out of its view (the
 * same ones for all of them: rep's fadd and frem): for one join, every peer of the new node. */
struct shared_msg {
    int state; /* 0 not built, 1 built, 2 nothing to say, -1 failed */
    uint8_t *frame[2]; /* [compressed, plain] */
    size_t len[2];
    int cls;
    uint64_t hash;
    uint64_t *mask;
    struct cnode *rep; /* NULL: no peers lists */
};

static const uint8_t *shared_frame(struct ctrl *c, const struct batch *b, struct shared_msg *m, int capver,
                                   bool compress, size_t *len)
{
    if (m->state == 0) {
        int r = build_delta(c, b, m->rep, capver, b->all ? NULL : m->mask);
        m->state = r < 0 ? -1 : r == 0 ? 2 : 1;
        if (r > 0) { /* keep the JSON: the other compression is framed from it on demand */
            for (int k = 0; k < 2; k++) {
                size_t l;
                const uint8_t *f = mapper_frame(c, k == 0, &l);
                if (!f || !(m->frame[k] = malloc(l))) {
                    m->state = -1;
                    break;
                }
                memcpy(m->frame[k], f, l);
                m->len[k] = l;
            }
        }
    }
    if (m->state != 1)
        return NULL;
    int k = compress ? 0 : 1;
    *len = m->len[k];
    return m->frame[k];
}

/* The shared messages of a flush: one per (capability class, visible subset), found by hash. */
struct shared_set {
    struct shared_msg *v;
    size_t n, cap; /* open addressing, cap a power of two */
    size_t words;
};

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

static uint64_t mask_hash(const uint64_t *m, size_t words, int cls, const struct cnode *rep)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)cls;
    for (size_t i = 0; i < words; i++)
        h = mix(h, m[i]);
    if (rep) {
        h = mix(h, rep->nfadd + 1);
        for (size_t i = 0; i < rep->nfadd; i++)
            h = mix(h, (uint64_t)rep->fadd[i]);
        h = mix(h, rep->nfrem + 1);
        for (size_t i = 0; i < rep->nfrem; i++)
            h = mix(h, (uint64_t)rep->frem[i]);
    }
    return h;
}

static bool same_lists(const struct cnode *a, const struct cnode *b)
{
    if (!a || !b)
        return a == b;
    return a->nfadd == b->nfadd && a->nfrem == b->nfrem &&
           (!a->nfadd || !memcmp(a->fadd, b->fadd, a->nfadd * sizeof *a->fadd)) &&
           (!a->nfrem || !memcmp(a->frem, b->frem, a->nfrem * sizeof *a->frem));
}

/* rep: a node whose message is its peers lists and the batch's changes it may see (NULL: no lists). */
static struct shared_msg *shared_find(struct shared_set *ss, const uint64_t *mask, int cls, struct cnode *rep)
{
    uint64_t h = mask_hash(mask, ss->words, cls, rep);
    if ((ss->n + 1) * 2 > ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 8;
        struct shared_msg *v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < ss->cap; i++) {
            if (!ss->v[i].mask)
                continue;
            size_t j = ss->v[i].hash & (cap - 1);
            while (v[j].mask)
                j = (j + 1) & (cap - 1);
            v[j] = ss->v[i];
        }
        free(ss->v);
        ss->v = v;
        ss->cap = cap;
    }
    size_t j = h & (ss->cap - 1);
    for (; ss->v[j].mask; j = (j + 1) & (ss->cap - 1))
        if (ss->v[j].hash == h && ss->v[j].cls == cls && !memcmp(ss->v[j].mask, mask, ss->words * sizeof *mask) &&
            same_lists(ss->v[j].rep, rep))
            return &ss->v[j];
    struct shared_msg *m = &ss->v[j];
    m->mask = malloc(ss->words * sizeof *mask);
    if (!m->mask)
        return NULL;
    memcpy(m->mask, mask, ss->words * sizeof *mask);
    m->hash = h;
    m->cls = cls;
    m->rep = rep;
    ss->n++;
    return m;
}

static void shared_free(struct shared_set *ss)
{
    for (size_t i = 0; i < ss->cap; i++) {
        free(ss->v[i].mask);
        free(ss->v[i].frame[0]);
        free(ss->v[i].frame[1]);
    }
    free(ss->v);
}

/* The UserProfiles of a batch, in c->users' order: every user's after a reload, else those whose first
 * node joined (clients upsert profiles by ID; spec netmap.md). Built once per batch, not per message:
 * every message of the batch carries them. */
static struct tc_user_profile *batch_profiles(struct ctrl *c, size_t *n)
{
    *n = 0;
    if ((!c->users_changed && !c->nusers_new) || !c->nusers)
        return NULL;
    struct tc_user_profile *up = calloc(c->nusers, sizeof *up);
    for (size_t i = 0; up && i < c->nusers; i++) {
        if (!c->users_changed && !in_list(c->users_new, c->nusers_new, c->users[i].id))
            continue;
        struct tc_user_profile *u = &up[(*n)++];
        u->id = c->users[i].id;
        u->login_name = c->users[i].name;
        u->display_name = c->users[i].display_name[0] ? c->users[i].display_name : c->users[i].name;
    }
    return up;
}

/* What a batch node's peers learn from it (the rest is for its own streams: CH_SELF, CH_POLICY). */
#define CH_PUBLIC (CH_FULL | CH_ENDPOINTS | CH_DERP | CH_DISCO | CH_ONLINE)

void fanout_flush(struct ctrl *c)
{
    access_settle(c); /* the nodes the batch's joins, leaves and retags affect report their changes */
    timer_stop(&c->flush);
    routes_views_refresh(c); /* before the batch is taken: changed views join it */
    if (!c->nchanged && !c->nremoved && !c->users_changed && !c->nusers_new && !c->statics_changed) {
        access_flushed(c);
        return;
    }
    /* Take the batch: changes made while it is sent (a slow stream ended, a node going offline) start
     * the next one. */
    struct cnode **taken = c->changed;
    size_t ntaken = c->nchanged;
    struct batch b = {NULL, 0, NULL, c->removed, c->nremoved, NULL, 0, access_all_visible(c), c->statics_changed};
    c->statics_changed = 0;
    b.up = batch_profiles(c, &b.nup);
    c->nusers_new = 0;
    double t_flush = metrics_now(), t_batch = c->st.batch_t0 ? c->st.batch_t0 : t_flush;
    c->changed = NULL;
    c->nchanged = c->changed_cap = 0;
    c->removed = NULL;
    c->nremoved = c->removed_cap = 0;
    c->users_changed = false;
    /* sorted by ID: the message is deterministic */
    if (ntaken)
        qsort(taken, ntaken, sizeof *taken, cmp_node_id);
    for (size_t i = 0; i < ntaken; i++) {
        struct cnode *n = taken[i];
        n->flushing = n->pending;
        n->pending = 0;
        n->pol_flushing = n->pol;
        n->pol = 0;
        /* the peers lists move to the flush (new reports start new lists), sorted: streams with the
         * same lists share one message, and build_delta looks them up */
        free(n->fadd);
        free(n->frem);
        n->fadd = n->padd;
        n->nfadd = n->npadd;
        n->frem = n->prem;
        n->nfrem = n->nprem;
        n->padd = n->prem = NULL;
        n->npadd = n->nprem = n->capadd = n->caprem = 0;
        if (n->nfadd > 1)
            qsort(n->fadd, n->nfadd, sizeof *n->fadd, cmp_i64);
        if (n->nfrem > 1)
            qsort(n->frem, n->nfrem, sizeof *n->frem, cmp_i64);
    }
    /* The nodes whose changes their peers see. A policy change or a join puts many nodes in the batch
     * for their own streams only (CH_POLICY): they are no part of what the others get, so neither of the
     * visibility masks (their size) nor of the shared messages' keys (their number). */
    b.nodes = calloc(ntaken + 1, sizeof *b.nodes);
    size_t words = 1;
    uint64_t *mask = NULL;
    if (!b.nodes) {
        log_error("module=control event=fanout error=\"out of memory\"");
        goto out;
    }
    for (size_t i = 0; i < ntaken; i++)
        if (taken[i]->flushing & CH_PUBLIC)
            b.nodes[b.n++] = taken[i];
    words = (b.n + 63) / 64 ? (b.n + 63) / 64 : 1;
    mask = calloc(words, sizeof *mask);
    b.slot = calloc(b.n + 1, sizeof *b.slot);
    if (!mask || !b.slot) {
        log_error("module=control event=fanout error=\"out of memory\"");
        goto out;
    }
    for (size_t i = 0; i < b.n; i++)
        b.slot[i] = b.all ? -1 : access_slot(c, b.nodes[i]);
    struct shared_set ss = {NULL, 0, 0, words};
    struct ctrl_sess *s, *next;
    for (s = c->sessions; s; s = next) {
        next = s->next; /* s may end in sess_write; nothing else does */
        size_t len;
        const uint8_t *f;
        struct cnode *v = s->node;
        if (!b.all)
            visible_mask(c, &b, v, mask);
        int cls = s->capver >= 36 ? 0 : 1;
        struct cnode *rep = NULL;
        if (v->flushing || v->nfadd || v->nfrem || v->nviews) {
            /* (a node with route views gets its own message: its peers' entries are its own) */
            if (b.all || v->nviews || v->flushing != CH_POLICY || v->pol_flushing) {
                /* its own message: the changes it may see, its peers' comings and goings, its own results */
                if (build_delta(c, &b, v, s->capver, b.all ? NULL : mask) > 0 &&
                    (f = mapper_frame(c, s->compress, &len)))
                    sess_write(s, f, len);
                continue;
            }
            /* only peers coming or going: shared with every stream with the same lists and mask */
            rep = v->nfadd || v->nfrem ? v : NULL;
        }
        if (b.all)
            memset(mask, 0, words * sizeof *mask);
        struct shared_msg *m = shared_find(&ss, mask, cls, rep);
        if (m && (f = shared_frame(c, &b, m, cls == 0 ? 36 : 35, s->compress, &len)))
            sess_write(s, f, len);
    }
    shared_free(&ss);
out:
    free(mask);
    free(b.slot);
    free(b.up);
    free(b.nodes);
    for (size_t i = 0; i < ntaken; i++) {
        struct cnode *n = taken[i];
        n->flushing = 0;
        n->pol_flushing = 0;
        free(n->fadd);
        free(n->frem);
        n->fadd = n->frem = NULL;
        n->nfadd = n->nfrem = 0;
    }
    double t_done = metrics_now();
    mhist_observe(&c->st.batch_nodes, (double)(ntaken + b.nremoved));
    mhist_observe(&c->st.batch_latency, t_done - t_batch);
    mhist_observe(&c->st.flush_seconds, t_done - t_flush);
    c->st.batch_t0 = 0;
    free(taken);
    free(b.removed);
    access_flushed(c);
    if (c->on_flush)
        c->on_flush(c, c->on_flush_arg);
}
