// SPDX-License-Identifier: BSD-3-Clause
/* The conn: the WireGuard device's UDP socket shared with disco and STUN, the transport the engine sends
 * peers' datagrams through, the peer tables (by node key, by disco key), and the disco envelope: sealing
 * what we send, opening and dispatching what arrives over UDP or DERP (spec disco.md §1-§3). */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/wg/device.h"
#include "core/wire/stun.h"
#include "modules/node/magicsock/ms_int.h"
#include "modules/node/netmap.h"

uint64_t ms_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- addresses ---- */

void ms_addr_from4(struct disco_addr *a, const uint8_t ip4[4], uint16_t port)
{
    memset(a->ip, 0, 10);
    a->ip[10] = a->ip[11] = 0xff;
    memcpy(a->ip + 12, ip4, 4);
    a->port = port;
}

void ms_addr_from_sa(struct disco_addr *a, const struct sockaddr *sa)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        ms_addr_from4(a, (const uint8_t *)&s->sin_addr, ntohs(s->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        memcpy(a->ip, &s->sin6_addr, 16);
        a->port = ntohs(s->sin6_port);
    }
}

socklen_t ms_addr_to_sa(const struct disco_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (ms_addr_is4(a)) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, a->ip + 12, 4);
        s->sin_port = htons(a->port);
        return sizeof *s;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, a->ip, 16);
    s->sin6_port = htons(a->port);
    return sizeof *s;
}

char *ms_addr_format(const struct disco_addr *a, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (ms_addr_is4(a)) {
        inet_ntop(AF_INET, a->ip + 12, ip, sizeof ip);
        snprintf(buf, cap, "%s:%u", ip, a->port);
    } else {
        inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
        snprintf(buf, cap, "[%s]:%u", ip, a->port);
    }
    return buf;
}

int ms_addr_parse(const char *text, struct disco_addr *a)
{
    /* core's parser (the one listeners and peers' endpoints use); an endpoint is more: an IP address
     * (no wildcard, no name, no unix path, no IPv6 scope: a disco_addr carries none) and a port */
    struct addr p;
    memset(a, 0, sizeof *a);
    if (addr_parse_numeric(text, &p) != 0 || p.host[0] == 0 || p.port == 0)
        return -1;
    if (p.sa.ss_family == AF_INET6 && ((const struct sockaddr_in6 *)&p.sa)->sin6_scope_id != 0)
        return -1;
    if (p.sa.ss_family != AF_INET && p.sa.ss_family != AF_INET6)
        return -1;
    ms_addr_from_sa(a, (const struct sockaddr *)&p.sa);
    return 0;
}

bool ms_addr_is_loopback(const struct disco_addr *a)
{
    static const uint8_t one[16] = {[15] = 1};
    return ms_addr_is4(a) ? a->ip[12] == 127 : memcmp(a->ip, one, 16) == 0;
}

bool ms_addr_is_linklocal(const struct disco_addr *a)
{
    if (ms_addr_is4(a))
        return a->ip[12] == 169 && a->ip[13] == 254;
    return a->ip[0] == 0xfe && (a->ip[1] & 0xc0) == 0x80;
}

bool ms_addr_is_private(const struct disco_addr *a)
{
    if (ms_addr_is4(a)) {
        const uint8_t *b = a->ip + 12;
        return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
    }
    return (a->ip[0] & 0xfe) == 0xfc;
}

bool ms_addr_is_derp_magic(const struct disco_addr *a)
{
    static const uint8_t magic[4] = {127, 3, 3, 40};
    return ms_addr_is4(a) && memcmp(a->ip + 12, magic, 4) == 0;
}

/* ---- peer tables ---- */

static size_t bucket(const struct ms *m, const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, 8); /* keys are uniformly random */
    return (size_t)(h & (m->nbuckets - 1));
}

struct ms_peer *ms_peer_by_key(const struct ms *m, const uint8_t key[32])
{
    for (struct ms_peer *p = m->by_key[bucket(m, key)]; p; p = p->knext)
        if (memcmp(p->key, key, 32) == 0)
            return p;
    return NULL;
}

/* The first peer with this disco key (others follow through dnext with the same key first). */
static struct ms_peer *by_disco(const struct ms *m, const uint8_t disco[32])
{
    for (struct ms_peer *p = m->by_disco[bucket(m, disco)]; p; p = p->dnext)
        if (memcmp(p->disco, disco, 32) == 0)
            return p;
    return NULL;
}

static void unlink_chain(struct ms_peer **head, struct ms_peer *p, bool disco)
{
    for (struct ms_peer **pp = head; *pp; pp = disco ? &(*pp)->dnext : &(*pp)->knext)
        if (*pp == p) {
            *pp = disco ? p->dnext : p->knext;
            return;
        }
}

void ms_disco_index_update(struct ms *m, struct ms_peer *p, bool had, const uint8_t old[32])
{
    if (had)
        unlink_chain(&m->by_disco[bucket(m, old)], p, true);
    p->dnext = NULL;
    if (p->have_disco) {
        struct ms_peer **head = &m->by_disco[bucket(m, p->disco)];
        p->dnext = *head;
        *head = p;
    }
}

static void rehash(struct ms *m)
{
    size_t nb = m->nbuckets * 4;
    struct ms_peer **k = calloc(nb, sizeof *k), **d = calloc(nb, sizeof *d);
    if (!k || !d) {
        free(k);
        free(d);
        return;
    }
    free(m->by_key);
    free(m->by_disco);
    m->by_key = k;
    m->by_disco = d;
    m->nbuckets = nb;
    for (struct ms_peer *p = m->first; p; p = p->next) {
        size_t b = bucket(m, p->key);
        p->knext = k[b];
        k[b] = p;
        p->dnext = NULL;
        if (p->have_disco) {
            b = bucket(m, p->disco);
            p->dnext = d[b];
            d[b] = p;
        }
    }
}

static void peer_set_disco(struct ms_peer *p, const uint8_t *disco)
{
    static const uint8_t zero[32];
    struct ms *m = p->m;
    bool had = p->have_disco;
    uint8_t old[32];
    memcpy(old, p->disco, 32);
    bool have = disco && memcmp(disco, zero, 32) != 0;
    if (have == had && (!have || memcmp(disco, p->disco, 32) == 0))
        return;
    p->have_disco = false;
    sodium_memzero(p->shared, sizeof p->shared);
    if (have && m->have_keys && disco_shared_key(p->shared, disco, m->disco_priv) == 0) {
        memcpy(p->disco, disco, 32);
        p->have_disco = true;
    } else {
        memset(p->disco, 0, 32);
    }
    ms_disco_index_update(m, p, had, old);
    if (had)
        ms_peer_reset(p); /* a new disco key: the peer restarted, what we knew of its paths is stale */
}

int ms_peer_region(const struct ms_peer *p)
{
    if (p->home_derp)
        return p->home_derp;
    if (p->last_derp_region)
        return p->last_derp_region;
    return p->m->home;
}

static void conf_apply(struct ms_peer *p, const struct ms_peer_conf *c)
{
    p->id = c->id;
    snprintf(p->name, sizeof p->name, "%s", c->name ? c->name : "");
    p->home_derp = c->home_derp;
    peer_set_disco(p, c->disco);
    ms_peer_set_netmap_endpoints(p, c->endpoints, c->nendpoints);
}

struct ms_peer *ms_peer_add(struct ms *m, const struct ms_peer_conf *c)
{
    if (ms_peer_by_key(m, c->key))
        return NULL;
    struct ms_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->m = m;
    memcpy(p->key, c->key, 32);
    ms_peer_init(p);
    p->next = m->first;
    if (m->first)
        m->first->prev = p;
    m->first = p;
    m->npeers++;
    size_t b = bucket(m, p->key);
    p->knext = m->by_key[b];
    m->by_key[b] = p;
    conf_apply(p, c);
    if (m->npeers > m->nbuckets * 2)
        rehash(m);
    return p;
}

void ms_peer_update(struct ms_peer *p, const struct ms_peer_conf *c)
{
    conf_apply(p, c);
}

void ms_peer_remove(struct ms_peer *p)
{
    struct ms *m = p->m;
    ms_peer_stop(p);
    unlink_chain(&m->by_key[bucket(m, p->key)], p, false);
    if (p->have_disco)
        unlink_chain(&m->by_disco[bucket(m, p->disco)], p, true);
    if (p->prev)
        p->prev->next = p->next;
    else
        m->first = p->next;
    if (p->next)
        p->next->prev = p->prev;
    m->npeers--;
    free(p->eps);
    free(p->pings);
    sodium_memzero(p, sizeof *p);
    free(p);
}

void ms_peer_wg_endpoint(const struct ms_peer *p, struct wg_endpoint *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->transport = (uint32_t)p->m->tid;
    ep->len = 32;
    memcpy(ep->addr.bytes, p->key, 32);
}

void ms_peer_path(const struct ms_peer *p, struct ms_path *out)
{
    memset(out, 0, sizeof *out);
    uint64_t now = loop_now(p->m->loop);
    out->have_addr = p->have_best;
    out->addr = p->best;
    out->latency_us = p->best_latency_us;
    out->since_ms = p->have_best ? p->best_since_ms : 0;
    out->direct = p->have_best && now <= p->trust_until;
    out->derp_region = ms_peer_region(p);
    out->active = p->last_send_ext && now - p->last_send_ext < MS_SESSION_ACTIVE_MS;
    out->tx_direct = p->tx_direct;
    out->tx_derp = p->tx_derp;
    out->rx_disco = p->rx_disco;
}

/* ---- sending ---- */

bool ms_send_udp(struct ms *m, const struct disco_addr *to, const struct iovec *pkts, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t sl = ms_addr_to_sa(to, &ss);
    return wg_device_udp_send(m->dev, (struct sockaddr *)&ss, sl, pkts, n) == 0;
}

bool ms_send_disco(struct ms *m, struct ms_peer *p, const struct disco_addr *to, int region,
                   const uint8_t *plain, size_t len)
{
    if (!m->have_keys || !p->have_disco)
        return false;
    uint8_t pkt[MS_DISCO_BUF];
    long n = disco_seal(pkt, sizeof pkt, m->disco_pub, p->shared, NULL, plain, len);
    if (n < 0)
        return false;
    struct iovec iov = {pkt, (size_t)n};
    if (to) {
        if (!ms_send_udp(m, to, &iov, 1))
            return false;
        m->st.disco_tx_udp++;
        return true;
    }
    if (!m->cbs.derp_send || m->cbs.derp_send(m->arg, region, p->key, &iov, 1) != 0)
        return false;
    m->st.disco_tx_derp++;
    return true;
}

/* The engine's datagrams for a peer. */
static int tx(void *ctx, const struct wg_endpoint *to, const struct iovec *pkts, size_t n)
{
    struct ms *m = ctx;
    if (to->len != 32)
        return -1;
    struct ms_peer *p = ms_peer_by_key(m, to->addr.bytes);
    if (!p)
        return -1;
    ms_peer_send(p, pkts, n);
    return (int)n;
}

static const struct wg_transport_ops ms_ops = {"magicsock", tx};

/* ---- receiving disco ---- */

static void reply_pong(struct ms *m, struct ms_peer *p, const uint8_t txid[12], const struct disco_addr *src,
                       int region)
{
    if (!ms_peer_pong_allowed(p)) {
        m->st.ping_limited++;
        return;
    }
    uint8_t plain[64];
    long n = disco_pong_encode(plain, sizeof plain, txid, src);
    if (n > 0 && ms_send_disco(m, p, region ? NULL : src, region, plain, (size_t)n))
        m->st.pong_tx++;
}

static void handle_ping(struct ms *m, struct ms_peer *p0, const struct disco_msg *msg,
                        const struct disco_addr *src, int region, const uint8_t *derp_src)
{
    m->st.ping_rx++;
    if (region) {
        /* through DERP: the relay vouches for the sender's node key; the pong goes back the same way */
        struct ms_peer *p = ms_peer_by_key(m, derp_src);
        if (!p || !p->have_disco || memcmp(p->disco, p0->disco, 32) != 0) {
            m->st.disco_ignored++;
            return;
        }
        p->last_derp_region = region;
        reply_pong(m, p, msg->ping.tx_id, src, region);
        return;
    }
    /* over UDP: the source is a candidate path to every node with that disco key (usually one; the ping's
     * node key says which when it is several) */
    struct ms_peer *reply = NULL;
    for (struct ms_peer *p = p0; p; p = p->dnext) {
        if (memcmp(p->disco, p0->disco, 32) != 0)
            continue;
        if (ms_peer_add_candidate(p, src, msg->ping.tx_id)) {
            m->st.ping_dup++; /* the same ping twice: answered once */
            return;
        }
        if (!reply || (msg->ping.node_key && memcmp(msg->ping.node_key, p->key, 32) == 0))
            reply = p;
    }
    if (!reply)
        return;
    uint64_t now = loop_now(m->loop);
    bool heartbeat = ms_addr_eq(&reply->last_ping_from, src) && now - reply->last_ping_time < MS_LIKELY_HEARTBEAT_MS;
    reply->last_ping_from = *src;
    reply->last_ping_time = now;
    if (!heartbeat) {
        char a[64];
        log_debug("module=node event=disco_ping peer=%lld from=%s", (long long)reply->id,
                  ms_addr_format(src, a, sizeof a));
    }
    reply_pong(m, reply, msg->ping.tx_id, src, 0);
    ms_peer_ping_back(reply, src);
}

/* One disco packet: from UDP (region 0, src = its address) or DERP (region, derp_src = the sender's node
 * key, src = 127.3.3.40:region as Tailscale reports it in Pongs). */
static void disco_input(struct ms *m, const uint8_t *pkt, size_t len, const struct disco_addr *src, int region,
                        const uint8_t *derp_src)
{
    const uint8_t *sender = disco_sender_key(pkt, len);
    if (!sender || !m->have_keys) {
        m->st.disco_bad_msg++;
        return;
    }
    struct ms_peer *p0 = by_disco(m, sender);
    if (!p0) {
        m->st.disco_unknown_key++;
        return;
    }
    long n = disco_open(pkt, len, p0->shared, m->buf, sizeof m->buf);
    if (n < 0) {
        m->st.disco_bad_box++;
        return;
    }
    struct disco_msg msg;
    int rc = disco_parse(m->buf, (size_t)n, &msg);
    if (rc == DISCO_ERR_UNKNOWN_TYPE) {
        m->st.disco_ignored++; /* from a newer peer: fine */
        return;
    }
    if (rc) {
        m->st.disco_bad_msg++;
        return;
    }
    if (region)
        m->st.disco_rx_derp++;
    else
        m->st.disco_rx_udp++;
    for (struct ms_peer *p = p0; p; p = p->dnext)
        if (memcmp(p->disco, sender, 32) == 0)
            p->rx_disco++;
    switch (msg.type) {
    case DISCO_PING:
        handle_ping(m, p0, &msg, src, region, derp_src);
        break;
    case DISCO_PONG: {
        m->st.pong_rx++;
        bool known = false;
        for (struct ms_peer *p = p0; p && !known; p = p->dnext)
            if (memcmp(p->disco, sender, 32) == 0)
                known = ms_peer_handle_pong(p, &msg, src, region);
        if (!known)
            m->st.pong_unknown++;
        break;
    }
    case DISCO_CALL_ME_MAYBE: {
        m->st.cmm_rx++;
        /* only through DERP, from the node whose netmap disco key sent it (disco.md §2.3) */
        struct ms_peer *p = region ? ms_peer_by_key(m, derp_src) : NULL;
        if (!p || !p->have_disco || memcmp(p->disco, sender, 32) != 0) {
            m->st.cmm_refused++;
            return;
        }
        p->last_derp_region = region;
        ms_peer_handle_cmm(p, &msg);
        break;
    }
    default:
        m->st.disco_ignored++; /* the peer-relay messages (0x04-0x09): not supported, parse-and-drop */
    }
}

/* A datagram on the shared socket that is not WireGuard. */
static void on_udp_other(void *ctx, const struct sockaddr *from, socklen_t fromlen, uint8_t *buf, size_t len)
{
    struct ms *m = ctx;
    (void)fromlen;
    struct disco_addr src;
    ms_addr_from_sa(&src, from);
    if (stun_is(buf, len) && buf[1] == 0x01) {
        m->st.stun_rx++;
        ms_nc_input(m->nc, &src, buf, len);
        return;
    }
    if (disco_is_disco(buf, len)) {
        disco_input(m, buf, len, &src, 0, NULL);
        return;
    }
    m->st.udp_junk++;
}

void ms_derp_input(struct ms *m, int region, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
    if (disco_classify_derp(pkt, len) == DISCO_CLASS_DISCO) {
        struct disco_addr from;
        static const uint8_t magic[4] = {127, 3, 3, 40};
        ms_addr_from4(&from, magic, (uint16_t)region);
        disco_input(m, pkt, len, &from, region, src);
        return;
    }
    struct ms_peer *p = ms_peer_by_key(m, src);
    if (p)
        p->last_derp_region = region;
    if (len > sizeof m->rx)
        return;
    memcpy(m->rx, pkt, len); /* the engine decrypts in place */
    struct wg_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.transport = (uint32_t)m->tid;
    ep.len = 32;
    memcpy(ep.addr.bytes, src, 32);
    wg_device_input(m->dev, &ep, m->rx, len);
}

/* ---- life ---- */

struct ms *ms_new(struct loop *l, struct wg_device *dev, const struct ms_opts *o, const struct ms_cbs *cbs,
                  void *arg)
{
    struct ms *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->loop = l;
    m->dev = dev;
    if (o) {
        m->opts = *o;
        snprintf(m->tun, sizeof m->tun, "%s", o->tun ? o->tun : "");
    }
    m->opts.tun = m->tun;
    if (cbs)
        m->cbs = *cbs;
    m->arg = arg;
    m->nbuckets = 16;
    m->by_key = calloc(m->nbuckets, sizeof *m->by_key);
    m->by_disco = calloc(m->nbuckets, sizeof *m->by_disco);
    m->tid = wg_device_add_transport(dev, &ms_ops, m);
    m->report.mapping_varies_by_dest_ip = m->report.upnp = m->report.pmp = m->report.pcp = -1;
    if (!m->by_key || !m->by_disco || m->tid < 0 || !(m->nc = ms_nc_new(m))) {
        ms_free(m);
        return NULL;
    }
    if (!m->opts.no_portmap)
        m->pm = ms_pm_new(m);
    wg_device_set_roaming(dev, false);
    wg_device_set_udp_other(dev, on_udp_other, m);
    ms_endpoints_init(m);
    return m;
}

void ms_free(struct ms *m)
{
    if (!m)
        return;
    if (m->dev)
        wg_device_set_udp_other(m->dev, NULL, NULL);
    while (m->first)
        ms_peer_remove(m->first);
    ms_endpoints_stop(m);
    for (size_t i = 0; i < m->nwaiters; i++)
        m->waiters[i].done(m->waiters[i].arg, NULL);
    m->nwaiters = 0;
    ms_nc_free(m->nc);
    ms_pm_free(m->pm);
    free(m->by_key);
    free(m->by_disco);
    sodium_memzero(m->disco_priv, sizeof m->disco_priv);
    free(m);
}

int ms_transport(const struct ms *m)
{
    return m->tid;
}

void ms_set_keys(struct ms *m, const uint8_t node_pub[32], const uint8_t disco_priv[32])
{
    memcpy(m->node_pub, node_pub, 32);
    bool same = m->have_keys && sodium_memcmp(m->disco_priv, disco_priv, 32) == 0;
    memcpy(m->disco_priv, disco_priv, 32);
    crypto_scalarmult_base(m->disco_pub, m->disco_priv);
    m->have_keys = true;
    if (same)
        return;
    for (struct ms_peer *p = m->first; p; p = p->next) { /* shared keys are with our disco key */
        uint8_t d[32];
        bool had = p->have_disco;
        memcpy(d, p->disco, 32);
        if (!had)
            continue;
        p->have_disco = false;
        memset(p->disco, 0, 32);
        ms_disco_index_update(m, p, true, d);
        peer_set_disco(p, d);
    }
}

void ms_set_derp_map(struct ms *m, const struct netmap *nm)
{
    m->nm = nm;
    if (nm)
        ms_restun(m, "derp-map");
}

void ms_set_home(struct ms *m, int region)
{
    m->home = region;
}

size_t ms_endpoints(const struct ms *m, struct ms_endpoint *out, size_t cap)
{
    size_t n = m->neps < cap ? m->neps : cap;
    memcpy(out, m->eps, n * sizeof *out);
    return n;
}

const struct ms_report *ms_report(const struct ms *m)
{
    return &m->report;
}

void ms_get_stats(const struct ms *m, struct ms_stats *out)
{
    *out = m->st;
}
