// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/derpmux.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/derp_client.h"
#include "core/log.h"
#include "core/loop.h"
#include "modules/node/netmap.h"

#define DM_QUEUE 32              /* packets kept per region while its connection comes up */
#define DM_IDLE_MS 60000         /* a non-home region unused this long is closed */
#define DM_MAX_QUEUED (4u << 20) /* bytes waiting for the socket before we drop */

struct pending {
    uint8_t dst[32];
    uint8_t *pkt;
    size_t len;
};

struct dregion {
    struct derpmux *m;
    int id;
    struct derp_client *c;
    int connected;
    uint64_t last_used;
    struct pending q[DM_QUEUE];
    unsigned qhead, qn;
};

struct derpmux {
    struct loop *loop;
    uint8_t priv[32];
    char *login_server;
    int plain_http;
    struct derpmux_cbs cbs;
    void *arg;
    const struct netmap *nm;
    struct dregion **r;
    size_t nr;
    int home;
    struct timer t_idle;
};

static void q_clear(struct dregion *g)
{
    for (unsigned i = 0; i < g->qn; i++)
        free(g->q[(g->qhead + i) % DM_QUEUE].pkt);
    g->qhead = g->qn = 0;
}

static void region_close(struct derpmux *m, size_t i)
{
    struct dregion *g = m->r[i];
    if (g->c)
        derp_client_free(g->c);
    q_clear(g);
    log_info("module=node event=derp_close region=%d", g->id);
    free(g);
    m->r[i] = m->r[--m->nr];
}

static struct dregion *region_find(const struct derpmux *m, int id)
{
    for (size_t i = 0; i < m->nr; i++)
        if (m->r[i]->id == id)
            return m->r[i];
    return NULL;
}

/* ---- URLs ---- */

/* host[:port] of a URL, lowercased, with the default port filled in; scheme in *tls. */
static int url_hostport(const char *url, char *out, size_t cap, int *tls)
{
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        *tls = 1;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        *tls = 0;
        p = url + 7;
    } else {
        return -1;
    }
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, p, n);
    out[n] = 0;
    for (char *s = out; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    const char *colon = strrchr(out, ':');
    const char *bracket = strrchr(out, ']');
    if (!colon || (bracket && colon < bracket)) { /* no port */
        size_t l = strlen(out);
        if (l + 5 >= cap)
            return -1;
        snprintf(out + l, cap - l, ":%d", *tls ? 443 : 80);
    }
    return 0;
}

int derpmux_node_url(const struct derpmux_opts *o, const struct nm_derp_node *dn, char *url, size_t ucap,
                     char *dial, size_t dcap)
{
    if (!dn->host || !*dn->host)
        return -1;
    int v6host = strchr(dn->host, ':') != NULL;
    char hp[300];
    int port = dn->derp_port;
    /* As the official client: HTTPS on DERPPort (443 by default). A relay that is the login server's own
     * plain-HTTP listener (weft's single box) is reached as the login server is; plain_http forces it. */
    int tls = !o->plain_http;
    if (tls && o->login_server) {
        char lhp[300], nhp[300];
        int ltls;
        snprintf(nhp, sizeof nhp, v6host ? "[%s]:%d" : "%s:%d", dn->host, port ? port : 443);
        for (char *s = nhp; *s; s++)
            if (*s >= 'A' && *s <= 'Z')
                *s = (char)(*s - 'A' + 'a');
        if (url_hostport(o->login_server, lhp, sizeof lhp, &ltls) == 0 && !ltls && strcmp(lhp, nhp) == 0)
            tls = 0;
    }
    if (!port)
        port = tls ? 443 : 80;
    snprintf(hp, sizeof hp, v6host ? "[%s]:%d" : "%s:%d", dn->host, port);
    if (snprintf(url, ucap, "%s://%s/derp", tls ? "https" : "http", hp) >= (int)ucap)
        return -1;
    dial[0] = 0;
    if (dn->ipv4 && *dn->ipv4 && strcmp(dn->ipv4, "none") != 0)
        snprintf(dial, dcap, "%s:%d", dn->ipv4, port);
    else if (dn->ipv6 && *dn->ipv6 && strcmp(dn->ipv6, "none") != 0)
        snprintf(dial, dcap, "[%s]:%d", dn->ipv6, port);
    return 0;
}

/* ---- connections ---- */

static void flush_queue(struct dregion *g)
{
    while (g->qn) {
        struct pending *p = &g->q[g->qhead];
        derp_client_send(g->c, p->dst, p->pkt, p->len);
        free(p->pkt);
        p->pkt = NULL;
        g->qhead = (g->qhead + 1) % DM_QUEUE;
        g->qn--;
    }
    g->qhead = 0;
}

static void on_connected(struct derp_client *c, const uint8_t server_key[32], void *arg)
{
    struct dregion *g = arg;
    struct derpmux *m = g->m;
    g->connected = 1;
    log_info("module=node event=derp_connected region=%d home=%s", g->id, g->id == m->home ? "yes" : "no");
    if (g->id == m->home)
        derp_client_note_preferred(c, 1);
    flush_queue(g);
    if (g->id == m->home && m->cbs.on_home)
        m->cbs.on_home(m->arg, g->id, 1);
}

static void on_disconnected(struct derp_client *c, const char *err, void *arg)
{
    struct dregion *g = arg;
    struct derpmux *m = g->m;
    int was = g->connected;
    g->connected = 0;
    log_warn("module=node event=derp_disconnected region=%d error=\"%s\"", g->id, err ? err : "");
    if (was && g->id == m->home && m->cbs.on_home)
        m->cbs.on_home(m->arg, g->id, 0);
}

static void on_packet(struct derp_client *c, const uint8_t src[32], const uint8_t *data, size_t len,
                      void *arg)
{
    struct dregion *g = arg;
    struct derpmux *m = g->m;
    if (m->cbs.on_packet)
        m->cbs.on_packet(m->arg, g->id, src, data, len);
}

static void on_peer_gone(struct derp_client *c, const uint8_t key[32], uint8_t reason, void *arg)
{
    struct dregion *g = arg;
    struct derpmux *m = g->m;
    if (m->cbs.on_peer_gone)
        m->cbs.on_peer_gone(m->arg, g->id, key, reason);
}

static const struct nm_derp_node *region_node(const struct netmap *nm, int id)
{
    const struct nm_region *r = nm ? netmap_region(nm, id) : NULL;
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->nnodes; i++)
        if (!r->nodes[i].stun_only)
            return &r->nodes[i];
    return NULL;
}

static struct dregion *region_open(struct derpmux *m, int id)
{
    const struct nm_derp_node *dn = region_node(m->nm, id);
    if (!dn)
        return NULL;
    char url[400], dial[300];
    struct derpmux_opts o = {m->login_server, m->plain_http};
    if (derpmux_node_url(&o, dn, url, sizeof url, dial, sizeof dial))
        return NULL;
    struct dregion **nr = realloc(m->r, (m->nr + 1) * sizeof *nr);
    if (!nr)
        return NULL;
    m->r = nr;
    struct dregion *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->m = m;
    g->id = id;
    g->last_used = loop_now(m->loop);
    struct derp_client_opts co;
    memset(&co, 0, sizeof co);
    co.url = url;
    co.priv = m->priv;
    co.connect_addr = dial[0] ? dial : NULL;
    co.sni = dn->cert_name && *dn->cert_name ? dn->cert_name : NULL;
    co.insecure = dn->insecure_for_tests;
    co.reconnect = 1;
    co.backoff_max_ms = 10000;
    static const struct derp_client_cbs cbs = {
        .on_connected = on_connected,
        .on_disconnected = on_disconnected,
        .on_packet = on_packet,
        .on_peer_gone = on_peer_gone,
    };
    g->c = derp_client_new(m->loop, &co, &cbs, g);
    if (!g->c) {
        free(g);
        return NULL;
    }
    m->r[m->nr++] = g;
    log_info("module=node event=derp_dial region=%d url=%s dial=%s", id, url, dial[0] ? dial : "-");
    return g;
}

static void on_idle(struct timer *t, void *arg)
{
    struct derpmux *m = arg;
    uint64_t now = loop_now(m->loop);
    for (size_t i = 0; i < m->nr;) {
        struct dregion *g = m->r[i];
        if (g->id != m->home && now - g->last_used > DM_IDLE_MS)
            region_close(m, i);
        else
            i++;
    }
    timer_start(&m->t_idle, DM_IDLE_MS / 2);
}

struct derpmux *derpmux_new(struct loop *l, const uint8_t priv[32], const struct derpmux_opts *o,
                            const struct derpmux_cbs *cbs, void *arg)
{
    struct derpmux *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->loop = l;
    memcpy(m->priv, priv, 32);
    m->login_server = o && o->login_server ? strdup(o->login_server) : NULL;
    m->plain_http = o ? o->plain_http : 0;
    if (cbs)
        m->cbs = *cbs;
    m->arg = arg;
    timer_init(&m->t_idle, l, on_idle, m);
    timer_start(&m->t_idle, DM_IDLE_MS / 2);
    return m;
}

void derpmux_free(struct derpmux *m)
{
    if (!m)
        return;
    while (m->nr)
        region_close(m, m->nr - 1);
    free(m->r);
    timer_stop(&m->t_idle);
    free(m->login_server);
    sodium_memzero(m->priv, sizeof m->priv);
    free(m);
}

static int usable_home(const struct netmap *nm, const struct nm_region *r)
{
    return !r->avoid && !r->no_home && region_node(nm, r->id) != NULL;
}

static void switch_home(struct derpmux *m, int home)
{
    int old = m->home;
    m->home = home;
    if (home == old) {
        if (home && !region_find(m, home))
            region_open(m, home);
        return;
    }
    log_info("module=node event=derp_home region=%d was=%d", home, old);
    struct dregion *g = home ? region_find(m, home) : NULL;
    if (home && !g)
        g = region_open(m, home);
    else if (g && g->connected)
        derp_client_note_preferred(g->c, 1);
    struct dregion *og = old ? region_find(m, old) : NULL;
    if (og && og->connected)
        derp_client_note_preferred(og->c, 0);
    if (og)
        og->last_used = loop_now(m->loop); /* the old home closes after a minute unused */
    if (m->cbs.on_home)
        m->cbs.on_home(m->arg, home, g && g->connected);
}

void derpmux_set_map(struct derpmux *m, const struct netmap *nm)
{
    m->nm = nm;
    /* connections to regions no longer in the map go */
    for (size_t i = 0; i < m->nr;) {
        if (!region_node(nm, m->r[i]->id))
            region_close(m, i);
        else
            i++;
    }
    const struct nm_region *cur = m->home ? netmap_region(nm, m->home) : NULL;
    int home = m->home;
    if (!cur || !usable_home(nm, cur)) {
        home = 0;
        for (size_t i = 0; i < nm->nregions && !home; i++)
            if (usable_home(nm, &nm->regions[i]))
                home = nm->regions[i].id;
        if (!home) /* nothing ideal: any region with a relay */
            for (size_t i = 0; i < nm->nregions && !home; i++)
                if (region_node(nm, nm->regions[i].id))
                    home = nm->regions[i].id;
    }
    switch_home(m, home);
}

int derpmux_set_preferred(struct derpmux *m, int region)
{
    const struct nm_region *r = m->nm ? netmap_region(m->nm, region) : NULL;
    if (!r || !usable_home(m->nm, r))
        return -1;
    switch_home(m, region);
    return 0;
}

void derpmux_set_key(struct derpmux *m, const uint8_t priv[32])
{
    memcpy(m->priv, priv, 32);
    int home = m->home;
    while (m->nr)
        region_close(m, m->nr - 1);
    if (home && m->nm) {
        region_open(m, home);
        if (m->cbs.on_home)
            m->cbs.on_home(m->arg, home, 0);
    }
}

int derpmux_home(const struct derpmux *m)
{
    return m ? m->home : 0;
}

int derpmux_connected(const struct derpmux *m, int region)
{
    const struct dregion *g = m ? region_find(m, region) : NULL;
    return g && g->connected;
}

size_t derpmux_count(const struct derpmux *m)
{
    return m ? m->nr : 0;
}

int derpmux_sendv(struct derpmux *m, int region, const uint8_t dst[32], const struct iovec *iov, size_t n)
{
    if (!region)
        region = m->home;
    if (!region)
        return -1;
    struct dregion *g = region_find(m, region);
    if (!g && !(g = region_open(m, region))) {
        if (region == m->home)
            return -1;
        /* a region we cannot reach: try through our home relay (a mesh may carry it) */
        return derpmux_sendv(m, m->home, dst, iov, n);
    }
    g->last_used = loop_now(m->loop);
    if (g->connected) {
        if (derp_client_queued(g->c) > DM_MAX_QUEUED)
            return -1;
        return derp_client_sendv(g->c, dst, iov, n);
    }
    /* still connecting: keep the newest few (a handshake initiation, the first packets) */
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += iov[i].iov_len;
    if (g->qn == DM_QUEUE) {
        free(g->q[g->qhead].pkt);
        g->qhead = (g->qhead + 1) % DM_QUEUE;
        g->qn--;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(copy + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    struct pending *p = &g->q[(g->qhead + g->qn) % DM_QUEUE];
    memcpy(p->dst, dst, 32);
    p->pkt = copy;
    p->len = len;
    g->qn++;
    return 0;
}
