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
#include "modules/node/node.h"

#define DP_MAX_ROUTES 8
#define DP_ROUTE_METRIC 0

struct dp {
    struct node *n;
    struct wg_device *dev;
    struct wg_tun *tun;
    int ifindex;
    char ifname[IFNAMSIZ];
    int derp_tid;
    struct derpmux *dm;
    struct nl_prefix addrs[NM_MAX_PREFIXES];
    size_t naddrs;
    struct nl_prefix routes[DP_MAX_ROUTES];
    size_t nroutes;
    dp_local_fn local_fn; /* packets for 100.100.100.100 / fd7a:115c:a1e0::53 (the local resolver) */
    void *local_ctx;
    uint8_t rx[65536]; /* a DERP packet for the engine, which decrypts in place */
};

/* ---- the DERP transport of the engine ---- */

/* A peer's DERP endpoint is its node key: the region is looked up when sending (the peer's home
 * relay, which the netmap may change), so roaming never flips between equal paths. */
static void derp_endpoint(const struct dp *d, const uint8_t key[32], struct wg_endpoint *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->transport = (uint32_t)d->derp_tid;
    ep->len = 32;
    memcpy(ep->addr.bytes, key, 32);
}

static int peer_region(const struct dp *d, const uint8_t key[32])
{
    struct wg_peer *wp = wg_peer_find(d->dev, key);
    const struct nm_node *p = wp ? wg_peer_data(wp) : NULL;
    return p && p->home_derp ? p->home_derp : derpmux_home(d->dm);
}

static int derp_send(void *ctx, const struct wg_endpoint *to, const struct iovec *pkts, size_t n)
{
    struct dp *d = ctx;
    if (to->len != 32)
        return -1;
    const uint8_t *key = to->addr.bytes;
    int region = peer_region(d, key);
    size_t sent = 0;
    for (size_t i = 0; i < n; i++)
        if (derpmux_sendv(d->dm, region, key, &pkts[i], 1) == 0)
            sent++;
    if (sent < n)
        log_debug("module=node event=derp_drop region=%d packets=%zu", region, n - sent);
    return sent == n ? (int)n : (int)sent;
}

static const struct wg_transport_ops derp_ops = {"derp", derp_send};

static void on_derp_packet(void *arg, int region, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
    struct dp *d = arg;
    if (disco_classify_derp(pkt, len) == DISCO_CLASS_DISCO)
        return; /* disco (direct paths) comes with the next issue */
    if (len > sizeof d->rx)
        return;
    memcpy(d->rx, pkt, len);
    struct wg_endpoint ep;
    derp_endpoint(d, src, &ep);
    wg_device_input(d->dev, &ep, d->rx, len);
}

static void on_derp_home(void *arg, int region, int connected)
{
    struct dp *d = arg;
    node_on_home_derp(d->n, connected ? region : 0);
}

static void peer_reset(struct dp *d, struct nm_node *p);

/* A peer's relay connection went away: it most likely restarted and lost its sessions. Ours would go on
 * being used (and dropped by it) until WireGuard's 15 s timer gave up, so start afresh. */
static void on_derp_peer_gone(void *arg, int region, const uint8_t key[32], int reason)
{
    struct dp *d = arg;
    struct wg_peer *wp = wg_peer_find(d->dev, key);
    struct nm_node *p = wp ? wg_peer_data(wp) : NULL;
    if (!p)
        return;
    log_debug("module=node event=peer_gone peer=%lld region=%d reason=%d", (long long)p->id, region, reason);
    peer_reset(d, p);
}

/* ---- peers ---- */

static bool peer_usable(const struct dp *d, const struct nm_node *p)
{
    if (p->expired || (p->key_expiry && p->key_expiry <= time(NULL)))
        return false;
    static const uint8_t zero[32];
    return memcmp(p->key.b, zero, 32) != 0 && memcmp(p->key.b, d->n->node_pub.b, 32) != 0;
}

static void set_allowed(struct wg_peer *wp, const struct nm_node *p)
{
    wg_peer_allowed_ips_clear(wp);
    for (size_t i = 0; i < p->nallowed; i++)
        if (wg_peer_allowed_ip_add(wp, p->allowed[i].family, p->allowed[i].addr, p->allowed[i].bits))
            log_warn("module=node event=allowed_ip_refused peer=%lld", (long long)p->id);
}

static void peer_add(struct dp *d, struct nm_node *p)
{
    if (!peer_usable(d, p))
        return;
    if (wg_peer_find(d->dev, p->key.b)) { /* two nodes with one key: the first keeps it */
        log_warn("module=node event=duplicate_key peer=%lld", (long long)p->id);
        return;
    }
    struct wg_peer *wp = wg_peer_add(d->dev, p->key.b);
    if (!wp) {
        log_error("module=node event=peer_add_failed peer=%lld", (long long)p->id);
        return;
    }
    struct wg_endpoint ep;
    derp_endpoint(d, p->key.b, &ep);
    wg_peer_set_endpoint(wp, &ep);
    set_allowed(wp, p);
    wg_peer_set_data(wp, p);
    p->data = wp;
}

static void peer_drop(struct dp *d, struct nm_node *p)
{
    if (p->data) {
        wg_peer_remove(p->data);
        p->data = NULL;
    }
}

static void peer_reset(struct dp *d, struct nm_node *p)
{
    log_debug("module=node event=peer_reset peer=%lld", (long long)p->id);
    peer_drop(d, p);
    peer_add(d, p);
}

static void nm_peer_added(void *arg, struct nm_node *p)
{
    struct dp *d = arg;
    char name[64];
    log_info("module=node event=peer_added peer=%lld name=%s region=%d", (long long)p->id,
             nm_node_short_name(p, name, sizeof name), p->home_derp);
    peer_add(d, p);
}

static void nm_peer_changed(void *arg, struct nm_node *p, unsigned what, const struct key *old_key)
{
    struct dp *d = arg;
    char name[64];
    if (what & ~(unsigned)NM_ONLINE)
        log_info("module=node event=peer_changed peer=%lld name=%s what=0x%x", (long long)p->id,
                 nm_node_short_name(p, name, sizeof name), what);
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
    if (!p->data) {
        peer_add(d, p);
        return;
    }
    if (what & NM_ADDRS)
        set_allowed(p->data, p);
}

static void nm_peer_removed(void *arg, struct nm_node *p)
{
    struct dp *d = arg;
    char name[64];
    log_info("module=node event=peer_removed peer=%lld name=%s", (long long)p->id,
             nm_node_short_name(p, name, sizeof name));
    peer_drop(d, p);
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

static void nm_self_changed(void *arg, struct nm_node *self, unsigned what)
{
    struct dp *d = arg;
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
}

const struct netmap_ops dp_netmap_ops = {
    .peer_added = nm_peer_added,
    .peer_changed = nm_peer_changed,
    .peer_removed = nm_peer_removed,
    .self_changed = nm_self_changed,
    .derp_map_changed = nm_derp_map_changed,
};

/* ---- life ---- */

static void on_tun_gone(void *arg)
{
    struct dp *d = arg;
    log_error("module=node event=tun_gone dev=%s msg=\"the interface was deleted\"", d->ifname);
}

static void on_wg_event(void *ctx, struct wg_peer *wp, enum wg_event ev)
{
    const struct nm_node *p = wp ? wg_peer_data(wp) : NULL;
    if (!p)
        return;
    char name[64];
    if (ev == WG_EVENT_HANDSHAKE)
        log_debug("module=node event=handshake peer=%lld name=%s", (long long)p->id,
                  nm_node_short_name(p, name, sizeof name));
    else if (ev == WG_EVENT_KEYS_ZEROED)
        log_debug("module=node event=session_expired peer=%lld", (long long)p->id);
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
    return WG_PKT_PASS;
}

struct dp *dp_new(struct node *n, char *err, size_t errlen)
{
    struct dp *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->n = n;
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
    wg_device_set_packet_hooks(d->dev, NULL, on_pkt_out, d);
    int tid = wg_device_add_transport(d->dev, &derp_ops, d);
    if (tid < 0) {
        snprintf(err, errlen, "cannot add the DERP transport");
        goto fail;
    }
    d->derp_tid = tid;
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
    for (size_t i = 0; i < d->nroutes; i++)
        nl_route_del(d->ifindex, &d->routes[i], DP_ROUTE_METRIC);
    for (size_t i = 0; i < d->naddrs; i++)
        nl_addr_del(d->ifindex, &d->addrs[i]);
    if (d->dev)
        wg_device_attach_tun(d->dev, NULL);
    derpmux_free(d->dm);
    if (d->dev)
        wg_device_free(d->dev);
    if (d->tun)
        wg_tun_close(d->tun);
    /* the netmap's peers may still point at engine peers that are gone now */
    for (size_t i = 0; i < d->n->nm.npeers; i++)
        d->n->nm.peers[i]->data = NULL;
    free(d);
}

void dp_set_key(struct dp *d, const struct key *priv)
{
    wg_device_set_private_key(d->dev, priv->b);
    derpmux_set_key(d->dm, priv->b);
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

void dp_peer_info(const struct dp *d, const struct nm_node *p, struct dp_peer_info *out)
{
    memset(out, 0, sizeof out[0]);
    if (!d)
        return;
    out->region = p->home_derp ? p->home_derp : derpmux_home(d->dm);
    out->region_connected = derpmux_connected(d->dm, out->region);
    if (!p->data)
        return;
    struct wg_peer_stats st;
    wg_peer_get_stats(p->data, &st);
    out->present = true;
    out->rx_bytes = st.rx_bytes;
    out->tx_bytes = st.tx_bytes;
    out->last_handshake = st.last_handshake;
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
