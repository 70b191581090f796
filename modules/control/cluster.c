// SPDX-License-Identifier: BSD-3-Clause
/* Several control instances on one database (the store's change feed, store.h): each instance applies the
 * others' changes to its mirror and tells its map streams, as if the change had been made here.
 *
 * - A node inserted or changed elsewhere is read again by id (one row) and replaces the mirror's copy; what
 *   its peers see is compared field by field so that an endpoint move goes out as a patch, a rename as a
 *   whole node. A node deleted elsewhere is forgotten here (its streams here end).
 * - Users and the policy are read again when they changed.
 * - An interactive registration approved elsewhere ('R', with the node it registered) answers the client's
 *   request if it waits here (register.c). A node a request names that the mirror lacks (registered through
 *   another instance a moment ago) is read from the store at once rather than refused (cluster_node_*).
 * - Online state is per instance: a node is online while any instance holds a stream for it. The other
 *   instances' marks are kept per node (cnode.remote); when an instance dies its marks are withdrawn by
 *   the leader (the store's feed: 'lost', not 'offline'), and its nodes are held online here for
 *   control.offline_grace (cnode.held_until): one that reconnects to any instance meanwhile never shows
 *   offline to its peers; the others go offline when the grace ends. The same after a resync, for marks
 *   that vanished while the feed was down.
 * - Singleton jobs (removing ephemeral nodes) run on the leader only: every instance keeps the timers,
 *   only the one holding the leader lock acts, so the job moves when the leader dies.
 * - When the feed's connection was lost, changes may have been missed: the whole mirror is read again
 *   once (a resync), then the feed goes on. Nothing polls tables otherwise: the leader's round (every
 *   second) only looks for dead instances in the small instances table. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "modules/control/access.h"
#include "modules/control/ctrl.h"
#include "modules/control/ipalloc.h"
#include "modules/control/store.h"

#define CLUSTER_ROUND_MS 1000

struct cluster {
    struct ctrl *c;
    const struct store_feed_ops *f;
    int64_t instance;
    struct loop_watch *watch;
    int watch_fd;
    struct timer round;
    bool leader;
    bool down; /* the feed is down: resync once it is back */
    bool lead_failed; /* the last round's leader statements failed (logged once) */
    uint64_t applied;
    /* nodes held online after their instance died, oldest first (every hold lasts offline_grace) */
    struct hold {
        int64_t id;
        uint64_t until;
    } *holds;
    size_t nholds, capholds;
    struct timer grace;
};

/* ---- remote online marks ---- */

static bool remote_has(const struct cnode *n, int64_t inst)
{
    for (size_t i = 0; i < n->nremote; i++)
        if (n->remote[i] == inst)
            return true;
    return false;
}

static void grace_arm(struct cluster *cl)
{
    if (!cl->nholds)
        return;
    uint64_t now = loop_now(cl->c->loop), until = cl->holds[0].until;
    timer_start(&cl->grace, until > now ? until - now : 0);
}

static void grace_cb(struct timer *t, void *arg)
{
    struct cluster *cl = arg;
    struct ctrl *c = cl->c;
    (void)t;
    uint64_t now = loop_now(c->loop);
    size_t k = 0;
    while (k < cl->nholds && cl->holds[k].until <= now)
        k++;
    /* taken off the queue first: going offline may call back into this file */
    struct hold *due = malloc((k ? k : 1) * sizeof *due);
    if (!due) {
        timer_start(&cl->grace, 100);
        return;
    }
    memcpy(due, cl->holds, k * sizeof *due);
    memmove(cl->holds, cl->holds + k, (cl->nholds - k) * sizeof *cl->holds);
    cl->nholds -= k;
    for (size_t i = 0; i < k; i++) {
        struct cnode *n = ctrl_node_by_id(c, due[i].id);
        if (!n || !n->held_until || n->held_until > now) /* gone, back, or held again later */
            continue;
        n->held_until = 0;
        if (!n->m.online || n->nsess || n->nremote)
            continue;
        log_info("module=control event=cluster_grace_over node=%lld name=%s", (long long)n->m.id, n->m.given_name);
        ctrl_node_online_changed(c, n);
    }
    free(due);
    grace_arm(cl);
}

/* n's stream was on an instance that died: online for offline_grace more, unless it comes back first. */
static void hold(struct cluster *cl, struct cnode *n)
{
    uint64_t grace = (uint64_t)cl->c->conf->offline_grace;
    if (!grace || !n->m.online)
        return;
    if (cl->nholds == cl->capholds) {
        size_t cap = cl->capholds ? cl->capholds * 2 : 64;
        struct hold *v = realloc(cl->holds, cap * sizeof *v);
        if (!v)
            return;
        cl->holds = v;
        cl->capholds = cap;
    }
    uint64_t until = loop_now(cl->c->loop) + grace;
    cl->holds[cl->nholds++] = (struct hold){n->m.id, until};
    n->held_until = until;
    if (cl->nholds == 1)
        grace_arm(cl);
}

static void remote_set(struct ctrl *c, struct cnode *n, int64_t inst, bool on)
{
    if (on)
        n->held_until = 0; /* back (its queue entry finds it so and passes) */
    if (on == remote_has(n, inst))
        return;
    if (on) {
        int64_t *v = realloc(n->remote, (n->nremote + 1) * sizeof *v);
        if (!v)
            return;
        n->remote = v;
        n->remote[n->nremote++] = inst;
    } else {
        for (size_t i = 0; i < n->nremote; i++)
            if (n->remote[i] == inst) {
                n->remote[i] = n->remote[--n->nremote];
                break;
            }
    }
    ctrl_node_online_changed(c, n);
}

/* ---- nodes ---- */

static bool strlist_eq(const struct model_strlist *a, const struct model_strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]))
            return false;
    return true;
}

static bool str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* What n's peers (CH_*) must hear when its row changes from o to m. */
static unsigned node_diff(const struct model_node *o, const struct model_node *m)
{
    unsigned what = 0;
    if (!strlist_eq(&o->endpoints, &m->endpoints))
        what |= CH_ENDPOINTS;
    if (o->home_derp != m->home_derp)
        what |= CH_DERP;
    if (memcmp(o->disco_key, m->disco_key, 32))
        what |= CH_DISCO;
    if (o->user_id != m->user_id || memcmp(o->machine_key, m->machine_key, 32) ||
        memcmp(o->node_key, m->node_key, 32) || strcmp(o->hostname, m->hostname) ||
        strcmp(o->given_name, m->given_name) || o->has_ipv4 != m->has_ipv4 || o->has_ipv6 != m->has_ipv6 ||
        memcmp(o->ipv4, m->ipv4, 4) || memcmp(o->ipv6, m->ipv6, 16) || !str_eq(o->hostinfo, m->hostinfo) ||
        o->capver != m->capver || o->expiry != m->expiry || o->ephemeral != m->ephemeral ||
        !strlist_eq(&o->tags, &m->tags) || o->renamed != m->renamed ||
        !strlist_eq(&o->routes_advertised, &m->routes_advertised) ||
        !strlist_eq(&o->routes_approved, &m->routes_approved))
        what |= CH_FULL | CH_SELF;
    return what;
}

static void addrs_swap(struct ctrl *c, const struct model_node *o, const struct model_node *m)
{
    if (o && o->has_ipv4 && (!m->has_ipv4 || memcmp(o->ipv4, m->ipv4, 4)))
        ipalloc_release(c->ipa, 4, o->ipv4);
    if (o && o->has_ipv6 && (!m->has_ipv6 || memcmp(o->ipv6, m->ipv6, 16)))
        ipalloc_release(c->ipa, 6, o->ipv6);
    if (m->has_ipv4 && !ipalloc_is_held(c->ipa, 4, m->ipv4))
        ipalloc_reserve(c->ipa, 4, m->ipv4);
    if (m->has_ipv6 && !ipalloc_is_held(c->ipa, 6, m->ipv6))
        ipalloc_reserve(c->ipa, 6, m->ipv6);
}

static bool first_of_user(struct ctrl *c, const struct cnode *n)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i] != n && c->nodes[i]->m.user_id == n->m.user_id)
            return false;
    return true;
}

/* Node id as the database holds it now (rc and m: what reading it gave), into the mirror. */
static void apply_row(struct ctrl *c, int64_t id, int rc, struct model_node m)
{
    struct cnode *n = ctrl_node_by_id(c, id);
    if (rc == STORE_NOTFOUND) {
        if (n)
            ctrl_node_remove(c, n, false);
        return;
    }
    if (rc) {
        log_warn("module=control event=cluster_apply node=%lld error=\"%s\"", (long long)id,
                 store_errmsg(c->store));
        return;
    }
    if (!n) {
        addrs_swap(c, NULL, &m);
        n = ctrl_node_add(c, &m);
        if (!n) {
            model_node_clear(&m);
            return;
        }
        if (!c->users || !ctrl_user(c, n->m.user_id))
            ctrl_users_reload(c);
        if (first_of_user(c, n))
            fanout_user(c, n->m.user_id);
        fanout_node(c, n, CH_FULL);
        if (n->m.ephemeral && !n->m.online)
            timer_start(&n->eph_timer, (uint64_t)c->conf->ephemeral_timeout);
        log_debug("module=control event=cluster_node_added node=%lld name=%s", (long long)id, n->m.given_name);
        return;
    }
    unsigned what = node_diff(&n->m, &m);
    if (!what) {
        model_node_clear(&m);
        return;
    }
    if (memcmp(n->m.node_key, m.node_key, 32))
        ctrl_revoke(c, n->m.node_key);
    addrs_swap(c, &n->m, &m);
    bool hostinfo_changed = !str_eq(n->m.hostinfo, m.hostinfo);
    m.online = n->m.online;
    if (m.last_seen < n->m.last_seen)
        m.last_seen = n->m.last_seen;
    model_node_clear(&n->m);
    n->m = m;
    if (hostinfo_changed && n->m.hostinfo)
        ctrl_node_set_hostinfo(n, n->m.hostinfo, strlen(n->m.hostinfo));
    mapper_invalidate(n);
    size_t pos = ctrl_node_pos(c, id);
    mapper_blocks_stale(c, pos, false);
    if (what & (CH_FULL | CH_SELF))
        access_node(c, n);
    routes_node_update(c, n);
    fanout_node(c, n, what);
}

static void apply_node(struct ctrl *c, int64_t id)
{
    struct model_node m;
    int rc = store_node_get_by_id(c->store, id, &m);
    apply_row(c, id, rc, m);
}

struct cnode *cluster_node_fetch(struct ctrl *c, int64_t id)
{
    struct cnode *n = ctrl_node_by_id(c, id);
    if (n || !c->cl)
        return n;
    apply_node(c, id);
    return ctrl_node_by_id(c, id);
}

/* A node this instance has not heard of, by one of its keys: read once from the store (an indexed lookup;
 * only for a key the mirror lacks, and only with other instances on the database). */
static struct cnode *fetch_by_key(struct ctrl *c, const uint8_t key[32], bool machine)
{
    struct model_node m;
    int rc = machine ? store_node_get_by_machine_key(c->store, key, &m) : store_node_get_by_node_key(c->store, key, &m);
    if (rc == STORE_NOTFOUND)
        return NULL;
    if (rc) {
        log_warn("module=control event=cluster_fetch error=\"%s\"", store_errmsg(c->store));
        return NULL;
    }
    int64_t id = m.id;
    if (ctrl_node_by_id(c, id)) { /* known under another key: the change with the new one is on its way */
        model_node_clear(&m);
        apply_node(c, id);
    } else {
        apply_row(c, id, rc, m);
    }
    log_debug("module=control event=cluster_node_fetched node=%lld", (long long)id);
    return ctrl_node_by_id(c, id);
}

struct cnode *cluster_node_by_node_key(struct ctrl *c, const uint8_t key[32])
{
    struct cnode *n = ctrl_node_by_node_key(c, key);
    if (n || !c->cl)
        return n;
    n = fetch_by_key(c, key, false);
    return n && !memcmp(n->m.node_key, key, 32) ? n : NULL;
}

struct cnode *cluster_node_by_machine_key(struct ctrl *c, const uint8_t key[32])
{
    struct cnode *n = ctrl_node_by_machine_key(c, key);
    if (n || !c->cl)
        return n;
    n = fetch_by_key(c, key, true);
    return n && !memcmp(n->m.machine_key, key, 32) ? n : NULL;
}

static void on_change(void *ctx, const struct store_change *ch)
{
    struct cluster *cl = ctx;
    struct ctrl *c = cl->c;
    cl->applied++;
    struct cnode *n;
    switch (ch->kind) {
    case STORE_CH_NODE:
        apply_node(c, ch->obj);
        break;
    case STORE_CH_NODE_GONE:
        if ((n = ctrl_node_by_id(c, ch->obj)))
            ctrl_node_remove(c, n, false);
        break;
    case STORE_CH_USERS:
        ctrl_users_reload(c);
        break;
    case STORE_CH_POLICY:
        access_reload(c, c->conf);
        break;
    case STORE_CH_SETTINGS:
        dnsover_reload(c);
        break;
    case STORE_CH_PENDING_DONE:
        reg_remote_done(c, ch->obj);
        break;
    case STORE_CH_ONLINE:
    case STORE_CH_OFFLINE:
        if ((n = ctrl_node_by_id(c, ch->obj)))
            remote_set(c, n, ch->instance, ch->kind == STORE_CH_ONLINE);
        break;
    case STORE_CH_LOST:
        if ((n = ctrl_node_by_id(c, ch->obj))) {
            if (remote_has(n, ch->instance) && !n->nsess && n->nremote == 1)
                hold(cl, n);
            remote_set(c, n, ch->instance, false);
        }
        break;
    default:
        break;
    }
}

/* After the feed was down: the mirror is read again (nodes added, changed, removed meanwhile), the other
 * instances' online marks are taken afresh, and ours are written again under our (new) instance id. */
static void resync(struct cluster *cl)
{
    struct ctrl *c = cl->c;
    struct model_node *v = NULL;
    size_t nv = 0;
    if (store_node_list(c->store, &v, &nv)) {
        log_warn("module=control event=cluster_resync error=\"%s\"", store_errmsg(c->store));
        cl->down = true;
        return;
    }
    ctrl_users_reload(c);
    /* gone meanwhile */
    for (size_t i = c->nnodes; i-- > 0;) {
        int64_t id = c->nodes[i]->m.id;
        size_t lo = 0, hi = nv;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (v[mid].id < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == nv || v[lo].id != id)
            ctrl_node_remove(c, c->nodes[i], false);
    }
    for (size_t i = 0; i < nv; i++)
        apply_node(c, v[i].id);
    model_nodes_free(v, nv);
    for (size_t i = 0; i < c->nnodes; i++) {
        struct cnode *n = c->nodes[i];
        if (n->nremote && !n->nsess) /* its instance may have died meanwhile, or be reconnecting too */
            hold(cl, n);
        n->nremote = 0;
        if (n->nsess)
            cl->f->online(c->store, n->m.id, true);
    }
    cl->f->online_list(c->store, on_change, cl);
    for (size_t i = 0; i < c->nnodes; i++)
        ctrl_node_online_changed(c, c->nodes[i]);
    access_reload(c, c->conf);
    dnsover_reload(c);
    reg_recheck(c);
    log_info("module=control event=cluster_resync instance=%lld nodes=%zu", (long long)cl->instance, c->nnodes);
}

static void watch_cb(struct loop_watch *w, int fd, int events, void *arg);

static void rewatch(struct cluster *cl)
{
    int fd = cl->f->fd(cl->c->store);
    if (fd == cl->watch_fd)
        return;
    if (cl->watch)
        loop_watch_free(cl->watch);
    cl->watch = NULL;
    cl->watch_fd = fd;
    if (fd >= 0)
        cl->watch = loop_watch_add(cl->c->loop, fd, LOOP_READ, watch_cb, cl);
}

static void pump(struct cluster *cl)
{
    struct ctrl *c = cl->c;
    bool again = false;
    int rc = cl->f->poll(c->store, on_change, cl, &again);
    if (rc) {
        if (!cl->down)
            log_warn("module=control event=cluster_feed error=\"%s\"", store_errmsg(c->store));
        cl->down = true;
        rewatch(cl);
        return;
    }
    if (again || cl->down) {
        cl->down = false;
        cl->f->start(c->store, &cl->instance);
        resync(cl);
    }
    rewatch(cl);
}

static void watch_cb(struct loop_watch *w, int fd, int events, void *arg)
{
    (void)w, (void)fd, (void)events;
    pump(arg);
}

static void round_cb(struct timer *t, void *arg)
{
    struct cluster *cl = arg;
    pump(cl);
    bool was = cl->leader;
    if (!cl->down && cl->f->lead(cl->c->store, &cl->leader)) {
        if (!cl->lead_failed) /* once a streak: the round comes every second */
            log_warn("module=control event=cluster_lead error=\"%s\"", store_errmsg(cl->c->store));
        cl->lead_failed = true;
        cl->leader = false;
    } else if (!cl->down) {
        cl->lead_failed = false;
    }
    /* the leader's statements ran on the listening connection: libpq may have read notifications while
     * waiting for their answers, which leaves the socket quiet; take them now, not at the next round */
    pump(cl);
    if (cl->leader != was)
        log_info("module=control event=cluster_leader instance=%lld leader=%s", (long long)cl->instance,
                 cl->leader ? "yes" : "no");
    timer_start(t, CLUSTER_ROUND_MS);
}

int cluster_start(struct ctrl *c, char *err, size_t errlen)
{
    const struct store_feed_ops *f = c->store->ops->feed;
    if (!f)
        return 0;
    struct cluster *cl = calloc(1, sizeof *cl);
    if (!cl) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cl->c = c;
    cl->f = f;
    cl->watch_fd = -1;
    if (f->start(c->store, &cl->instance)) {
        snprintf(err, errlen, "change feed: %s", store_errmsg(c->store));
        free(cl);
        return -1;
    }
    c->cl = cl;
    timer_init(&cl->round, c->loop, round_cb, cl);
    timer_init(&cl->grace, c->loop, grace_cb, cl);
    return 0;
}

void cluster_run(struct ctrl *c)
{
    struct cluster *cl = c->cl;
    if (!cl)
        return;
    /* the others' streams, from before this instance started */
    cl->f->online_list(c->store, on_change, cl);
    round_cb(&cl->round, cl);
    log_info("module=control event=cluster_joined instance=%lld leader=%s", (long long)cl->instance,
             cl->leader ? "yes" : "no");
}

void cluster_stop(struct ctrl *c)
{
    struct cluster *cl = c->cl;
    if (!cl)
        return;
    timer_stop(&cl->round);
    timer_stop(&cl->grace);
    free(cl->holds);
    if (cl->watch)
        loop_watch_free(cl->watch);
    free(cl);
    c->cl = NULL;
}

bool cluster_leader(const struct ctrl *c) { return !c->cl || c->cl->leader; }

void cluster_local_online(struct ctrl *c, struct cnode *n, bool online)
{
    if (!c->cl)
        return;
    if (online)
        n->held_until = 0;
    if (c->cl->down)
        return;
    if (c->cl->f->online(c->store, n->m.id, online))
        log_warn("module=control event=cluster_online node=%lld error=\"%s\"", (long long)n->m.id,
                 store_errmsg(c->store));
}

int64_t cluster_instance(const struct ctrl *c) { return c->cl ? c->cl->instance : 0; }
uint64_t cluster_applied(const struct ctrl *c) { return c->cl ? c->cl->applied : 0; }
