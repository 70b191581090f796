// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dp.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/netlink.h"
#include "core/wg/device.h"
#include "core/wg/tun.h"
#include "core/wire/disco.h"
#include "modules/node/derpmux.h"
#include "modules/node/filter/filter.h"
#include "modules/node/magicsock/ms.h"
#include "modules/node/node.h"
#include "modules/node/router/router.h"

#define DP_MAX_ROUTES 8
#define DP_ROUTE_METRIC 0

struct dp {
    struct node *n;
    struct wg_device *dev;
    struct wg_tun *tun;
    int ifindex;
    char ifname[IFNAMSIZ];
    struct derpmux *dm;
    struct ms *ms;
    struct filter *filt;
    dp_local_fn local_fn; /* packets for 100.100.100.100 / fd7a:115c:a1e0::53 (the local resolver) */
    void *local_ctx;
    struct nl_monitor *mon; /* interface changes: re-gather endpoints, re-STUN, re-validate paths */
    uint64_t log_refill;  /* filter drop logging: a token bucket */
    uint32_t log_tokens;
    struct nl_prefix addrs[NM_MAX_PREFIXES];
    size_t naddrs;
    struct nl_prefix routes[DP_MAX_ROUTES];
    size_t nroutes;
    /* routes (router/router.h): what we serve (the packet filter accepts it), what we use of peers' */
    struct nl_prefix served[NODE_MAX_ROUTES + 2];
    size_t nserved;
    bool accept_routes;
    int64_t exit_id;
    struct timer t_refilter; /* "cap:" rules: recompile once a netmap's peer changes are all applied */
};

/* What the data plane keeps per netmap peer (nm_node.data; the engine peer's data points back). */
struct dp_peer {
    struct nm_node *node;
    struct wg_peer *wp;
    struct ms_peer *mp;
    uint64_t filter_drops; /* its packets the packet filter dropped */
};

/* ---- the packet filter, and the local resolver's address ---- */

#define DP_LOG_BURST 20 /* filter drops logged at once, refilled at DP_LOG_RATE a second */
#define DP_LOG_RATE 5

static bool log_allowed(struct dp *d)
{
    uint64_t now = loop_now(d->n->loop);
    uint64_t add = (now - d->log_refill) * DP_LOG_RATE / 1000;
    if (add) {
        d->log_tokens = (uint32_t)(d->log_tokens + add > DP_LOG_BURST ? DP_LOG_BURST : d->log_tokens + add);
        d->log_refill = now;
    }
    if (!d->log_tokens)
        return false;
    d->log_tokens--;
    return true;
}

static void log_drop(struct dp *d, const struct dp_peer *dpp, const uint8_t *pkt, size_t len, enum filter_reason r)
{
    struct pkt q;
    pkt_parse(pkt, len, &q);
    char src[64] = "?", dst[64] = "?";
    if (q.family) {
        struct nl_prefix a = {.family = q.family, .bits = q.family == 4 ? 32 : 128};
        memcpy(a.addr, q.src, 16);
        nl_prefix_format(&a, 0, src, sizeof src);
        memcpy(a.addr, q.dst, 16);
        nl_prefix_format(&a, 0, dst, sizeof dst);
    }
    log_info("module=node event=filter_drop peer=%lld src=%s dst=%s proto=%u dport=%u reason=%s",
             (long long)dpp->node->id, src, dst, q.proto, q.dport, filter_reason_name(r));
}

static enum wg_pkt_verdict on_pkt_in(void *ctx, struct wg_peer *from, const uint8_t *pkt, size_t len)
{
    struct dp *d = ctx;
    enum filter_reason r = filter_in(d->filt, pkt, len, loop_now(d->n->loop));
    if (r == FR_ACCEPT)
        return WG_PKT_PASS;
    struct dp_peer *dpp = wg_peer_data(from);
    if (dpp) {
        dpp->filter_drops++;
        if (d->n->conf->log_filter_drops && log_allowed(d))
            log_drop(d, dpp, pkt, len, r);
    }
    return WG_PKT_DROP;
}

static bool quad100(const uint8_t *pkt, size_t len)
{
    static const uint8_t v4[4] = {100, 100, 100, 100};
    static const uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, [15] = 0x53};
    if (len >= 20 && pkt[0] >> 4 == 4)
        return memcmp(pkt + 16, v4, 4) == 0;
    return len >= 40 && pkt[0] >> 4 == 6 && memcmp(pkt + 24, v6, 16) == 0;
}

static enum wg_pkt_verdict on_pkt_out(void *ctx, const uint8_t *pkt, size_t len)
{
    struct dp *d = ctx;
    if (d->local_fn && quad100(pkt, len)) /* never a peer's: the local resolver answers it */
        return d->local_fn(d->local_ctx, pkt, len) ? WG_PKT_TAKEN : WG_PKT_DROP;
    filter_out(d->filt, pkt, len, loop_now(d->n->loop));
    return WG_PKT_PASS;
}

static void on_link_change(void *arg, int ifindex, bool major)
{
    struct dp *d = arg;
    if (d->ifindex && ifindex == d->ifindex)
        return; /* our own TUN: its addresses and routes are ours to set */
    ms_link_changed(d->ms, major);
}

/* "cap:NAME" sources: every address of the peers (and of this node) that have the capability. */
static size_t cap_addrs(void *arg, const char *cap, struct nl_prefix *out, size_t max)
{
    struct dp *d = arg;
    const struct netmap *nm = &d->n->nm;
    size_t n = 0;
    for (size_t i = 0; i <= nm->npeers; i++) {
        const struct nm_node *p = i < nm->npeers ? nm->peers[i] : nm->have_self ? &nm->self : NULL;
        if (!p || !nm_node_has_cap(p, cap))
            continue;
        for (size_t k = 0; k < p->naddrs && n < max; k++)
            out[n++] = p->addrs[k];
    }
    return n;
}

static void nm_filter_changed(void *arg, struct netmap *nm);

static void on_refilter(struct timer *t, void *arg)
{
    struct dp *d = arg;
    nm_filter_changed(d, &d->n->nm);
}

/* A peer's capabilities or addresses changed: rules naming "cap:" sources are compiled again (once for a
 * whole netmap's worth of changes). */
static void caps_changed(struct dp *d)
{
    if (filter_uses_caps(d->filt) && !timer_armed(&d->t_refilter))
        timer_start(&d->t_refilter, 0);
}

static void nm_filter_changed(void *arg, struct netmap *nm)
{
    struct dp *d = arg;
    size_t n = 0;
    for (size_t i = 0; i < nm->nfilters; i++)
        n += nm->filters[i].nrules;
    struct nm_filter_rule *all = malloc((n ? n : 1) * sizeof *all);
    if (!all) {
        log_error("module=node event=filter error=\"out of memory: the previous filter stays\"");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < nm->nfilters; i++)
        for (size_t j = 0; j < nm->filters[i].nrules; j++)
            all[k++] = nm->filters[i].rules[j];
    char err[256];
    if (filter_set_rules(d->filt, all, n, err, sizeof err))
        log_error("module=node event=filter error=\"out of memory: the previous filter stays\"");
    else if (err[0])
        log_warn("module=node event=filter_rule_skipped error=\"%s\"", err);
    free(all);
    struct filter_stats st;
    filter_get_stats(d->filt, &st);
    log_info("module=node event=filter rules=%zu skipped=%zu", st.rules, st.skipped);
}

/* ---- DERP and the path manager ---- */

static void on_derp_packet(void *arg, int region, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
    struct dp *d = arg;
    ms_derp_input(d->ms, region, src, pkt, len);
}

static void on_derp_home(void *arg, int region, int connected)
{
    struct dp *d = arg;
    ms_set_home(d->ms, region);
    node_on_home_derp(d->n, connected ? region : 0);
}

static void peer_reset(struct dp *d, struct nm_node *p);

/* A peer's relay connection went away: it most likely restarted and lost its sessions. Ours would go on
 * being used (and dropped by it) until WireGuard's 15 s timer gave up, so start afresh. */
static void on_derp_peer_gone(void *arg, int region, const uint8_t key[32], int reason)
{
    struct dp *d = arg;
    struct wg_peer *wp = wg_peer_find(d->dev, key);
    struct dp_peer *dpp = wp ? wg_peer_data(wp) : NULL;
    if (!dpp)
        return;
    log_debug("module=node event=peer_gone peer=%lld region=%d reason=%d", (long long)dpp->node->id, region,
              reason);
    peer_reset(d, dpp->node);
}

static int ms_derp_send(void *arg, int region, const uint8_t key[32], const struct iovec *iov, size_t n)
{
    struct dp *d = arg;
    int rc = derpmux_sendv(d->dm, region, key, iov, n);
    if (rc)
        log_debug("module=node event=derp_drop region=%d", region);
    return rc;
}

static void ms_changed(void *arg)
{
    struct dp *d = arg;
    node_on_netinfo(d->n);
}

static void ms_preferred(void *arg, int region)
{
    struct dp *d = arg;
    derpmux_set_preferred(d->dm, region);
}

/* ---- peers ---- */

static bool peer_usable(const struct dp *d, const struct nm_node *p)
{
    if (p->expired || (p->key_expiry && p->key_expiry <= time(NULL)))
        return false;
    static const uint8_t zero[32];
    return memcmp(p->key.b, zero, 32) != 0 && memcmp(p->key.b, d->n->node_pub.b, 32) != 0;
}

/* The peer's AllowedIPs as we use them: its addresses always, its subnet routes with --accept-routes,
 * its exit routes when it is our exit node (router.h). Cryptokey routing then sends only those through
 * it and accepts only those from it. */
static void set_allowed(struct dp *d, struct wg_peer *wp, const struct nm_node *p)
{
    struct node_routing rt = {.accept_routes = d->accept_routes};
    wg_peer_allowed_ips_clear(wp);
    for (size_t i = 0; i < p->nallowed; i++) {
        bool is_addr = false;
        for (size_t k = 0; k < p->naddrs && !is_addr; k++)
            is_addr = nl_prefix_equal(&p->addrs[k], &p->allowed[i]);
        if (!router_prefix_wanted(&rt, d->exit_id, p->id, &p->allowed[i], is_addr))
            continue;
        if (wg_peer_allowed_ip_add(wp, p->allowed[i].family, p->allowed[i].addr, p->allowed[i].bits))
            log_warn("module=node event=allowed_ip_refused peer=%lld", (long long)p->id);
    }
}

static void ms_conf(const struct nm_node *p, struct ms_peer_conf *c, char *name, size_t cap)
{
    memset(c, 0, sizeof *c);
    c->id = p->id;
    c->name = nm_node_short_name(p, name, cap);
    c->key = p->key.b;
    c->disco = p->disco.b;
    c->home_derp = p->home_derp;
    c->endpoints = (const char *const *)p->endpoints;
    c->nendpoints = p->nendpoints;
}

static void peer_add(struct dp *d, struct nm_node *p)
{
    if (!peer_usable(d, p))
        return;
    if (wg_peer_find(d->dev, p->key.b)) { /* two nodes with one key: the first keeps it */
        log_warn("module=node event=duplicate_key peer=%lld", (long long)p->id);
        return;
    }
    struct dp_peer *dpp = calloc(1, sizeof *dpp);
    struct ms_peer_conf c;
    char name[64];
    ms_conf(p, &c, name, sizeof name);
    if (!dpp || !(dpp->wp = wg_peer_add(d->dev, p->key.b)) || !(dpp->mp = ms_peer_add(d->ms, &c))) {
        log_error("module=node event=peer_add_failed peer=%lld", (long long)p->id);
        if (dpp && dpp->wp)
            wg_peer_remove(dpp->wp);
        free(dpp);
        return;
    }
    dpp->node = p;
    struct wg_endpoint ep;
    ms_peer_wg_endpoint(dpp->mp, &ep);
    wg_peer_set_endpoint(dpp->wp, &ep);
    set_allowed(d, dpp->wp, p);
    wg_peer_set_data(dpp->wp, dpp);
    p->data = dpp;
}

static void peer_drop(struct dp *d, struct nm_node *p)
{
    struct dp_peer *dpp = p->data;
    if (!dpp)
        return;
    wg_peer_remove(dpp->wp);
    ms_peer_remove(dpp->mp);
    free(dpp);
    p->data = NULL;
}

static void peer_reset(struct dp *d, struct nm_node *p)
{
    log_debug("module=node event=peer_reset peer=%lld", (long long)p->id);
    peer_drop(d, p);
    peer_add(d, p);
    /* The peer may still hold the session we just dropped and keep sending on it (dropped here) until
     * its timers give up, 15 s later: a handshake now puts both sides on a new one. */
    struct dp_peer *dpp = p->data;
    if (dpp)
        wg_peer_initiate(dpp->wp);
}

static void nm_peer_added(void *arg, struct nm_node *p)
{
    struct dp *d = arg;
    char name[64];
    log_info("module=node event=peer_added peer=%lld name=%s region=%d", (long long)p->id,
             nm_node_short_name(p, name, sizeof name), p->home_derp);
    peer_add(d, p);
    if (p->ncaps)
        caps_changed(d);
}

static void nm_peer_changed(void *arg, struct nm_node *p, unsigned what, const struct key *old_key)
{
    struct dp *d = arg;
    char name[64];
    if (what & ~(unsigned)NM_ONLINE)
        log_info("module=node event=peer_changed peer=%lld name=%s what=0x%x", (long long)p->id,
                 nm_node_short_name(p, name, sizeof name), what);
    if (what & (NM_CAPS | NM_ADDRS))
        caps_changed(d);
    /* a new key is a new WireGuard peer; an expired one goes */
    if (what & (NM_KEY | NM_EXPIRY)) {
        peer_reset(d, p);
        return;
    }
    /* Back online after being offline: it may have restarted, and lost its sessions. Ours would go on being
     * used (and dropped by it) until WireGuard's 15 s timer gave up on them, and a handshake we started
     * while it was away would wait out the 5 s retry: start afresh (one handshake, if the peer did not
     * restart). The relay's PeerGone covers restarts too quick for control to notice. */
    if ((what & NM_ONLINE) && p->online == 1 && p->was_online == 0) {
        peer_reset(d, p);
        return;
    }
    struct dp_peer *dpp = p->data;
    if (!dpp) {
        peer_add(d, p);
        return;
    }
    if (what & NM_ADDRS)
        set_allowed(d, dpp->wp, p);
    if (what & (NM_DISCO | NM_DERP | NM_ENDPOINTS | NM_NAME)) {
        struct ms_peer_conf c;
        ms_conf(p, &c, name, sizeof name);
        ms_peer_update(dpp->mp, &c); /* a new disco key resets its paths; the WireGuard session stays */
    }
}

static void nm_peer_removed(void *arg, struct nm_node *p)
{
    struct dp *d = arg;
    char name[64];
    log_info("module=node event=peer_removed peer=%lld name=%s", (long long)p->id,
             nm_node_short_name(p, name, sizeof name));
    peer_drop(d, p);
    if (p->ncaps)
        caps_changed(d); /* recompiled after the netmap let go of it */
}

/* ---- addresses and routes ---- */

static void sync_routes(struct dp *d)
{
    struct nl_prefix want[DP_MAX_ROUTES];
    size_t nwant = 0;
    bool v4 = false, v6 = false;
    for (size_t i = 0; i < d->naddrs; i++) {
        v4 |= d->addrs[i].family == 4;
        v6 |= d->addrs[i].family == 6;
    }
    if (v4)
        nl_prefix_parse(DP_RANGE_V4, &want[nwant++]);
    if (v6)
        nl_prefix_parse(DP_RANGE_V6, &want[nwant++]);
    for (size_t i = 0; i < d->nroutes; i++) {
        bool keep = false;
        for (size_t j = 0; j < nwant; j++)
            keep |= nl_prefix_equal(&d->routes[i], &want[j]);
        if (!keep)
            nl_route_del(d->ifindex, &d->routes[i], DP_ROUTE_METRIC);
    }
    d->nroutes = 0;
    for (size_t j = 0; j < nwant; j++) {
        char t[64];
        int rc = nl_route_add(d->ifindex, &want[j], DP_ROUTE_METRIC);
        if (rc)
            log_error("module=node event=route_add route=%s dev=%s error=\"%s\"",
                      nl_prefix_format(&want[j], 1, t, sizeof t), d->ifname, strerror(-rc));
        else
            d->routes[d->nroutes++] = want[j];
    }
}

/* The packet filter's local destinations: our addresses and the routes we serve. */
static void update_local(struct dp *d)
{
    const struct nm_node *self = &d->n->nm.self;
    struct nl_prefix v[NM_MAX_PREFIXES + NODE_MAX_ROUTES + 2];
    size_t n = 0;
    for (size_t i = 0; i < self->naddrs && n < NM_MAX_PREFIXES; i++)
        v[n++] = self->addrs[i];
    for (size_t i = 0; i < d->nserved; i++)
        v[n++] = d->served[i];
    filter_set_local(d->filt, v, n);
}

void dp_set_served(struct dp *d, const struct nl_prefix *v, size_t n)
{
    if (!d)
        return;
    if (n > NODE_MAX_ROUTES + 2)
        n = NODE_MAX_ROUTES + 2;
    bool same = n == d->nserved;
    for (size_t i = 0; same && i < n; i++)
        same = nl_prefix_equal(&v[i], &d->served[i]);
    if (same)
        return;
    memcpy(d->served, v, n * sizeof *v);
    d->nserved = n;
    update_local(d);
}

void dp_set_route_prefs(struct dp *d, const struct node_routing *r, int64_t exit_id)
{
    if (!d || (d->accept_routes == r->accept_routes && d->exit_id == exit_id))
        return;
    d->accept_routes = r->accept_routes;
    d->exit_id = exit_id;
    for (size_t i = 0; i < d->n->nm.npeers; i++) {
        struct nm_node *p = d->n->nm.peers[i];
        struct dp_peer *dpp = p->data;
        if (dpp)
            set_allowed(d, dpp->wp, p);
    }
}

static void nm_self_changed(void *arg, struct nm_node *self, unsigned what)
{
    struct dp *d = arg;
    if (what & NM_ADDRS)
        update_local(d);
    if (!(what & NM_ADDRS) || !d->ifindex)
        return;
    char t[64];
    for (size_t i = 0; i < d->naddrs; i++) {
        bool keep = false;
        for (size_t j = 0; j < self->naddrs; j++)
            keep |= nl_prefix_equal(&d->addrs[i], &self->addrs[j]);
        if (!keep) {
            nl_addr_del(d->ifindex, &d->addrs[i]);
            log_info("module=node event=addr_del addr=%s dev=%s",
                     nl_prefix_format(&d->addrs[i], 1, t, sizeof t), d->ifname);
        }
    }
    d->naddrs = 0;
    for (size_t j = 0; j < self->naddrs && d->naddrs < NM_MAX_PREFIXES; j++) {
        int rc = nl_addr_add(d->ifindex, &self->addrs[j]);
        nl_prefix_format(&self->addrs[j], 1, t, sizeof t);
        if (rc) {
            log_error("module=node event=addr_add addr=%s dev=%s error=\"%s\"", t, d->ifname, strerror(-rc));
            continue;
        }
        log_info("module=node event=addr_add addr=%s dev=%s", t, d->ifname);
        d->addrs[d->naddrs++] = self->addrs[j];
    }
    sync_routes(d);
}

static void nm_derp_map_changed(void *arg, struct netmap *nm)
{
    struct dp *d = arg;
    derpmux_set_map(d->dm, nm);
    ms_set_derp_map(d->ms, nm);
}

const struct netmap_ops dp_netmap_ops = {
    .peer_added = nm_peer_added,
    .peer_changed = nm_peer_changed,
    .peer_removed = nm_peer_removed,
    .self_changed = nm_self_changed,
    .derp_map_changed = nm_derp_map_changed,
    .filter_changed = nm_filter_changed,
};

/* ---- life ---- */

static void on_tun_gone(void *arg)
{
    struct dp *d = arg;
    log_error("module=node event=tun_gone dev=%s msg=\"the interface was deleted\"", d->ifname);
}

static void on_wg_event(void *ctx, struct wg_peer *wp, enum wg_event ev)
{
    const struct dp_peer *dpp = wp ? wg_peer_data(wp) : NULL;
    const struct nm_node *p = dpp ? dpp->node : NULL;
    if (!p)
        return;
    char name[64];
    if (ev == WG_EVENT_HANDSHAKE)
        ((struct dp *)ctx)->n->handshakes++;
    if (ev == WG_EVENT_HANDSHAKE)
        log_debug("module=node event=handshake peer=%lld name=%s", (long long)p->id,
                  nm_node_short_name(p, name, sizeof name));
    else if (ev == WG_EVENT_KEYS_ZEROED)
        log_debug("module=node event=session_expired peer=%lld", (long long)p->id);
}

struct dp *dp_new(struct node *n, char *err, size_t errlen)
{
    struct dp *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->n = n;
    timer_init(&d->t_refilter, n->loop, on_refilter, d);
    d->dev = wg_device_new(n->loop);
    if (!d->dev) {
        snprintf(err, errlen, "cannot create the WireGuard device");
        goto fail;
    }
    if (wg_device_set_private_key(d->dev, n->node_priv.b)) {
        snprintf(err, errlen, "the node key is unusable");
        goto fail;
    }
    if (n->conf->timer_scale > 1)
        wg_device_set_test_knobs(d->dev, (unsigned)n->conf->timer_scale, false);
    wg_device_set_event_hook(d->dev, on_wg_event, d);
    if (!(d->filt = filter_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    filter_set_cap_lookup(d->filt, cap_addrs, d);
    d->log_tokens = DP_LOG_BURST;
    wg_device_set_packet_hooks(d->dev, on_pkt_in, on_pkt_out, d);
    struct derpmux_opts mo = {n->prefs.login_server, n->conf->derp_http};
    static const struct derpmux_cbs mcbs = {on_derp_packet, on_derp_home, on_derp_peer_gone};
    d->dm = derpmux_new(n->loop, n->node_priv.b, &mo, &mcbs, d);
    if (!d->dm) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (n->conf->port >= 0 && wg_device_set_listen_port(d->dev, (uint16_t)n->conf->port)) {
        log_warn("module=node event=udp_bind port=%lld error=\"%s\" msg=\"using any port\"", n->conf->port,
                 strerror(errno));
        wg_device_set_listen_port(d->dev, 0);
    }
    const char *tun = n->conf->tun;
    struct ms_opts so = {.port = (uint16_t)(n->conf->port > 0 ? n->conf->port : 0),
                         .tun = tun && *tun ? tun : "",
                         .no_portmap = !n->conf->portmap};
    static const struct ms_cbs scbs = {ms_derp_send, ms_changed, ms_preferred};
    d->ms = ms_new(n->loop, d->dev, &so, &scbs, d);
    if (!d->ms) {
        snprintf(err, errlen, "cannot start the path manager (magicsock)");
        goto fail;
    }
    ms_set_keys(d->ms, n->node_pub.b, n->disco_priv.b);
    if (!(d->mon = nl_monitor_new(n->loop, on_link_change, d)))
        log_warn("module=node event=netlink_monitor msg=\"interface changes will not be noticed\"");
    log_info("module=node event=udp_listen port=%u", wg_device_listen_port(d->dev));
    if (tun && *tun && strcmp(tun, "none") != 0) {
        char terr[256];
        d->tun = wg_tun_open(tun, DP_MTU, terr, sizeof terr);
        if (!d->tun) {
            snprintf(err, errlen, "cannot create the TUN interface %s: %s", tun, terr);
            goto fail;
        }
        snprintf(d->ifname, sizeof d->ifname, "%s", wg_tun_name(d->tun));
        d->ifindex = (int)if_nametoindex(d->ifname);
        int rc = d->ifindex ? nl_link_set_up(d->ifindex, true) : -ENODEV;
        if (rc) {
            snprintf(err, errlen, "cannot bring %s up: %s", d->ifname, strerror(-rc));
            goto fail;
        }
        wg_device_attach_tun(d->dev, d->tun);
        wg_device_set_tun_gone(d->dev, on_tun_gone, d);
        log_info("module=node event=tun_up dev=%s mtu=%d offloads=%s", d->ifname, DP_MTU,
                 wg_tun_offloads(d->tun) ? "yes" : "no");
    }
    return d;
fail:
    dp_free(d);
    return NULL;
}

void dp_free(struct dp *d)
{
    if (!d)
        return;
    timer_stop(&d->t_refilter);
    for (size_t i = 0; i < d->nroutes; i++)
        nl_route_del(d->ifindex, &d->routes[i], DP_ROUTE_METRIC);
    for (size_t i = 0; i < d->naddrs; i++)
        nl_addr_del(d->ifindex, &d->addrs[i]);
    if (d->dev)
        wg_device_attach_tun(d->dev, NULL);
    /* the netmap's peers own their per-peer state through .data: drop it while the parts are alive */
    for (size_t i = 0; d->dev && i < d->n->nm.npeers; i++)
        peer_drop(d, d->n->nm.peers[i]);
    nl_monitor_free(d->mon);
    ms_free(d->ms);
    derpmux_free(d->dm);
    filter_free(d->filt);
    if (d->dev)
        wg_device_free(d->dev);
    if (d->tun)
        wg_tun_close(d->tun);
    free(d);
}

void dp_set_key(struct dp *d, const struct key *priv)
{
    wg_device_set_private_key(d->dev, priv->b);
    derpmux_set_key(d->dm, priv->b);
    struct key pub;
    key_public(&pub, priv);
    ms_set_keys(d->ms, pub.b, d->n->disco_priv.b);
}

int dp_home_region(const struct dp *d)
{
    return d ? derpmux_home(d->dm) : 0;
}
int dp_home_connected(const struct dp *d)
{
    return d && derpmux_connected(d->dm, derpmux_home(d->dm));
}
const char *dp_tun_name(const struct dp *d)
{
    return d && d->tun ? d->ifname : "";
}

int dp_tun_index(const struct dp *d)
{
    return d && d->tun ? d->ifindex : 0;
}

void dp_peer_info(const struct dp *d, const struct nm_node *p, struct dp_peer_info *out)
{
    memset(out, 0, sizeof out[0]);
    if (!d)
        return;
    out->region = p->home_derp ? p->home_derp : derpmux_home(d->dm);
    out->region_connected = derpmux_connected(d->dm, out->region);
    const struct dp_peer *dpp = p->data;
    if (!dpp)
        return;
    struct wg_peer_stats st;
    wg_peer_get_stats(dpp->wp, &st);
    out->present = true;
    out->rx_bytes = st.rx_bytes;
    out->tx_bytes = st.tx_bytes;
    out->last_handshake = st.last_handshake;
    struct ms_path path;
    ms_peer_path(dpp->mp, &path);
    out->direct = path.direct;
    out->have_addr = path.have_addr;
    out->addr = path.addr;
    out->latency_us = path.latency_us;
    out->direct_since_ms = path.since_ms;
    out->active = path.active;
    out->filter_drops = dpp->filter_drops;
    out->tx_direct = path.tx_direct;
    out->tx_derp = path.tx_derp;
    if (path.derp_region) {
        out->region = path.derp_region;
        out->region_connected = derpmux_connected(d->dm, out->region);
    }
}

struct ms *dp_ms(const struct dp *d)
{
    return d ? d->ms : NULL;
}

const struct filter *dp_filter(const struct dp *d)
{
    return d ? d->filt : NULL;
}

void dp_set_local_handler(struct dp *d, dp_local_fn fn, void *ctx)
{
    d->local_fn = fn;
    d->local_ctx = ctx;
}

size_t dp_tun_inject(struct dp *d, struct iovec *pkts, size_t n)
{
    return d && d->dev ? wg_device_tun_inject(d->dev, pkts, n) : 0;
}
