// SPDX-License-Identifier: BSD-3-Clause
/* The device's configuration: its peer table (add, find, remove, allowed IPs, keys, endpoints), keys, the
 * UDP sockets it listens on, hooks and settings (device.h). The packet path is in device.c. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sodium.h>

#include "core/log.h"
#include "core/wg/device_int.h"

static size_t bucket_of(const struct wg_device *d, const uint8_t pub[32])
{
    uint64_t h;
    memcpy(&h, pub, 8); /* public keys are uniformly random */
    return (size_t)(h % d->n_buckets);
}

struct wg_peer *wg_peer_find(const struct wg_device *d, const uint8_t pub[32])
{
    for (struct wg_peer *p = d->buckets[bucket_of(d, pub)]; p; p = p->hnext)
        if (memcmp(p->pub, pub, 32) == 0)
            return p;
    return NULL;
}

static void rehash_peers(struct wg_device *d)
{
    size_t nb = d->n_buckets * 4;
    struct wg_peer **b = calloc(nb, sizeof(*b));
    if (!b)
        return;
    free(d->buckets);
    d->buckets = b;
    d->n_buckets = nb;
    for (struct wg_peer *p = d->first; p; p = p->next) {
        size_t i = bucket_of(d, p->pub);
        p->hnext = b[i];
        b[i] = p;
    }
}

static void peer_timers_init(struct wg_peer *p)
{
    struct wg_timer_params prm;
    wg_timer_params_init(&prm, p->keepalive, p->d->timer_scale);
    wg_timers_init(&p->tm, &prm, 0);
}

struct wg_peer *wg_peer_add(struct wg_device *d, const uint8_t pub[32])
{
    struct wg_peer *p = wg_peer_find(d, pub);
    if (p)
        return p;
    if (d->have_key && memcmp(pub, d->local.pub, 32) == 0)
        return NULL; /* ourselves */
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->d = d;
    memcpy(p->pub, pub, 32);
    p->txq_head = p->txq_tail = -1;
    wg_handshake_init(&p->hs, &d->local, pub, NULL);
    peer_timers_init(p);
    timer_init(&p->timer, d->loop, wgd_on_peer_timer, p);
    p->timer_deadline = UINT64_MAX;
    p->prev = d->last;
    if (d->last)
        d->last->next = p;
    else
        d->first = p;
    d->last = p;
    d->n_peers++;
    size_t i = bucket_of(d, pub);
    p->hnext = d->buckets[i];
    d->buckets[i] = p;
    if (d->n_peers > d->n_buckets * 2)
        rehash_peers(d);
    return p;
}

void wg_peer_remove(struct wg_peer *p)
{
    struct wg_device *d = p->d;
    timer_stop(&p->timer);
    wgd_zero_keys(p);
    wgd_staged_drop(p);
    wg_aip_remove_owner(&d->aip, &p->aip);
    struct wg_peer **pp = &d->buckets[bucket_of(d, p->pub)];
    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
    if (p->prev)
        p->prev->next = p->next;
    else
        d->first = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        d->last = p->prev;
    d->n_peers--;
    sodium_memzero(&p->hs, sizeof(p->hs));
    free(p);
}

struct wg_peer *wg_peer_next(const struct wg_device *d, const struct wg_peer *p)
{
    return p ? p->next : d->first;
}

const uint8_t *wg_peer_public_key(const struct wg_peer *p)
{
    return p->pub;
}

void wg_peer_set_psk(struct wg_peer *p, const uint8_t psk[32])
{
    if (psk)
        memcpy(p->hs.psk, psk, 32);
    else
        sodium_memzero(p->hs.psk, 32);
}

bool wg_peer_psk(const struct wg_peer *p, uint8_t psk[32])
{
    memcpy(psk, p->hs.psk, 32);
    return !sodium_is_zero(psk, 32);
}

void wg_peer_set_endpoint(struct wg_peer *p, const struct wg_endpoint *ep)
{
    if (ep)
        p->ep = *ep;
    else
        memset(&p->ep, 0, sizeof(p->ep));
}

void wg_peer_set_keepalive(struct wg_peer *p, uint16_t seconds)
{
    struct wg_device *d = p->d;
    d->now = wgd_mono_ns();
    p->keepalive = seconds;
    uint64_t interval = (uint64_t)seconds * WG_NSEC_PER_SEC / (d->timer_scale ? d->timer_scale : 1);
    unsigned act = wg_timers_set_persistent_keepalive(&p->tm, d->now, interval);
    if (act & WG_TIMER_SEND_KEEPALIVE)
        wgd_send_keepalive(p, true);
    wgd_peer_arm(p);
}

int wg_peer_allowed_ip_add(struct wg_peer *p, int family, const uint8_t *addr, unsigned cidr)
{
    return wg_aip_insert(&p->d->aip, family, addr, cidr, &p->aip);
}

int wg_peer_allowed_ip_remove(struct wg_peer *p, int family, const uint8_t *addr, unsigned cidr)
{
    return wg_aip_remove(&p->d->aip, family, addr, cidr, &p->aip);
}

void wg_peer_allowed_ips_clear(struct wg_peer *p)
{
    wg_aip_remove_owner(&p->d->aip, &p->aip);
}

void wg_peer_allowed_ips_each(const struct wg_peer *p, void (*fn)(void *ctx, const char *prefix), void *ctx)
{
    const struct wg_allowedips *t = &p->d->aip;
    char buf[64];
    for (uint32_t it = p->aip.head; it; it = wg_aip_next(t, it))
        fn(ctx, wg_aip_format(wg_aip_at(t, it), buf, sizeof(buf)));
}

struct wg_peer *wg_device_route(const struct wg_device *d, int family, const uint8_t *addr)
{
    struct wg_aip_owner *o = wg_aip_lookup(&d->aip, family, addr);
    return o ? (struct wg_peer *)((char *)o - offsetof(struct wg_peer, aip)) : NULL;
}

void wg_peer_get_stats(const struct wg_peer *p, struct wg_peer_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->rx_bytes = p->rx_bytes;
    s->tx_bytes = p->tx_bytes;
    s->last_handshake = p->last_hs;
    s->endpoint = p->ep;
    s->persistent_keepalive = p->keepalive;
    s->have_session = wgd_kp_send_usable(p, p->cur);
}

void wg_peer_set_data(struct wg_peer *p, void *data)
{
    p->data = data;
}

void *wg_peer_data(const struct wg_peer *p)
{
    return p->data;
}

void wg_peer_initiate(struct wg_peer *p)
{
    p->d->now = wgd_mono_ns();
    wgd_want_handshake(p);
    wgd_peer_arm(p);
}

int wg_device_set_private_key(struct wg_device *d, const uint8_t priv[32])
{
    d->now = wgd_mono_ns();
    if (priv && d->have_key && sodium_memcmp(priv, d->local.priv, 32) == 0)
        return 0;
    struct wg_local nl;
    bool have = false;
    if (priv && !sodium_is_zero(priv, 32)) {
        if (wg_local_init(&nl, priv) != 0)
            return -1;
        have = true;
    }
    wg_local_clear(&d->local);
    if (have) {
        d->local = nl;
        wg_local_clear(&nl);
    }
    d->have_key = have;
    /* every session was with the old identity */
    for (struct wg_peer *p = d->first, *nx; p; p = nx) {
        nx = p->next;
        if (have && memcmp(p->pub, d->local.pub, 32) == 0) {
            wg_peer_remove(p);
            continue;
        }
        wgd_zero_keys(p);
        uint8_t psk[32];
        memcpy(psk, p->hs.psk, 32);
        wg_handshake_init(&p->hs, &d->local, p->pub, psk);
        sodium_memzero(psk, sizeof(psk));
    }
    return 0;
}

bool wg_device_public_key(const struct wg_device *d, uint8_t pub[32], uint8_t *priv_or_null)
{
    if (!d->have_key)
        return false;
    memcpy(pub, d->local.pub, 32);
    if (priv_or_null)
        memcpy(priv_or_null, d->local.priv, 32);
    return true;
}

static int udp_open(int family, uint16_t port, uint32_t mark)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, big = 8 << 20;
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (mark)
        setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        len = sizeof(*a);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (getenv("WEFT_WG_NO_OFFLOAD") == NULL)
        setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)); /* fails harmlessly before Linux 5.0 */
    return fd;
}

static uint16_t fd_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int wg_device_set_listen_port(struct wg_device *d, uint16_t port)
{
    if (d->fd4 >= 0 && port != 0 && port == d->port)
        return 0;
    int fd4 = -1, fd6 = -1;
    for (int attempt = 0; attempt < 10; attempt++) {
        fd4 = udp_open(AF_INET, port, d->fwmark);
        if (fd4 < 0)
            return -1;
        uint16_t p = fd_port(fd4);
        fd6 = udp_open(AF_INET6, p, d->fwmark);
        if (fd6 >= 0 || errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)
            break;
        /* a random port free for IPv4 but taken for IPv6: draw again */
        int e = errno;
        close(fd4);
        fd4 = -1;
        if (port != 0) {
            errno = e;
            return -1;
        }
    }
    if (fd4 < 0)
        return -1;
    if (wgd_rx_arena_get(d)) {
        close(fd4);
        if (fd6 >= 0)
            close(fd6);
        errno = ENOMEM;
        return -1;
    }
    wgd_udp_close_all(d);
    d->fd4 = fd4;
    d->fd6 = fd6;
    d->port = fd_port(fd4);
    d->w4 = loop_watch_add(d->loop, fd4, LOOP_READ, wgd_on_udp, d);
    if (fd6 >= 0)
        d->w6 = loop_watch_add(d->loop, fd6, LOOP_READ, wgd_on_udp, d);
    return 0;
}

uint16_t wg_device_listen_port(const struct wg_device *d)
{
    return d->fd4 >= 0 ? d->port : 0;
}

int wg_device_set_fwmark(struct wg_device *d, uint32_t mark)
{
    d->fwmark = mark;
    int fds[2] = {d->fd4, d->fd6};
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0 && setsockopt(fds[i], SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
            return -1;
    return 0;
}

uint32_t wg_device_fwmark(const struct wg_device *d)
{
    return d->fwmark;
}

void wg_device_set_mtu(struct wg_device *d, unsigned mtu)
{
    d->mtu = mtu ? mtu : WG_DEFAULT_MTU;
}

void wg_device_attach_tun(struct wg_device *d, struct wg_tun *tun)
{
    if (d->wtun)
        loop_watch_free(d->wtun);
    d->wtun = NULL;
    d->tun = tun;
    if (tun && wgd_tx_arena_get(d)) {
        log_error("wireguard: out of memory for %s's packets; not reading it", wg_tun_name(tun));
        return;
    }
    if (tun) {
        int mtu = wg_tun_mtu(tun);
        if (mtu > 0)
            d->mtu = (unsigned)mtu;
        d->wtun = loop_watch_add(d->loop, wg_tun_fd(tun), LOOP_READ, wgd_on_tun, d);
    }
}

void wg_device_set_deliver(struct wg_device *d, wg_deliver_fn fn, void *ctx)
{
    d->deliver = fn;
    d->deliver_ctx = ctx;
}

void wg_device_set_tun_gone(struct wg_device *d, void (*fn)(void *ctx), void *ctx)
{
    d->tun_gone = fn;
    d->tun_gone_ctx = ctx;
}

int wg_device_add_transport(struct wg_device *d, const struct wg_transport_ops *ops, void *ctx)
{
    if (d->n_tr == MAX_TRANSPORTS)
        return -1;
    d->tr[d->n_tr].ops = ops;
    d->tr[d->n_tr].ctx = ctx;
    return (int)++d->n_tr;
}

void wg_device_set_roaming(struct wg_device *d, bool on)
{
    d->no_roam = !on;
}

void wg_device_set_udp_other(struct wg_device *d, wg_udp_other_fn fn, void *ctx)
{
    d->udp_other = fn;
    d->udp_other_ctx = ctx;
}

int wg_device_udp_send(struct wg_device *d, const struct sockaddr *to, socklen_t tolen, const struct iovec *pkts,
                       size_t n)
{
    struct wg_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    if (tolen > sizeof(ep.addr) || (to->sa_family != AF_INET && to->sa_family != AF_INET6)) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    ep.transport = WG_TRANSPORT_UDP;
    ep.len = tolen;
    memcpy(&ep.addr, to, tolen);
    if (wgd_udp_fd_for(d, &ep) < 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    wgd_udp_send(d, &ep, pkts, n);
    return 0;
}

void wg_device_set_packet_hooks(struct wg_device *d, wg_in_hook in, wg_out_hook out, void *ctx)
{
    d->in_hook = in;
    d->out_hook = out;
    d->hook_ctx = ctx;
}

size_t wg_device_tun_inject(struct wg_device *d, struct iovec *pkts, size_t n)
{
    if (d->tun)
        return wg_tun_write(d->tun, pkts, n);
    if (d->deliver) {
        d->deliver(d->deliver_ctx, NULL, pkts, n);
        return n;
    }
    return 0;
}

void wg_device_set_event_hook(struct wg_device *d, wg_event_fn fn, void *ctx)
{
    d->ev = fn;
    d->ev_ctx = ctx;
}

void wg_device_get_stats(const struct wg_device *d, struct wg_device_stats *s)
{
    *s = d->st;
}

void wg_device_set_test_knobs(struct wg_device *d, unsigned timer_scale, bool always_under_load)
{
    d->timer_scale = timer_scale ? timer_scale : 1;
    d->always_load = always_under_load;
    for (struct wg_peer *p = d->first; p; p = p->next)
        peer_timers_init(p);
}

int wg_endpoint_parse(const char *text, struct wg_endpoint *ep)
{
    memset(ep, 0, sizeof(*ep));
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof(host))
            return -1;
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = 0;
        colon = end + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host))
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = 0;
    }
    char *end;
    if (colon[1] < '0' || colon[1] > '9')
        return -1;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535)
        return -1;
    if (inet_pton(AF_INET, host, &ep->addr.in4.sin_addr) == 1) {
        ep->addr.in4.sin_family = AF_INET;
        ep->addr.in4.sin_port = htons((uint16_t)port);
        ep->len = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &ep->addr.in6.sin6_addr) == 1) {
        ep->addr.in6.sin6_family = AF_INET6;
        ep->addr.in6.sin6_port = htons((uint16_t)port);
        ep->len = sizeof(struct sockaddr_in6);
    } else {
        return -1;
    }
    ep->transport = WG_TRANSPORT_UDP;
    return 0;
}

char *wg_endpoint_format(const struct wg_endpoint *ep, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (ep->len && ep->transport == WG_TRANSPORT_UDP && ep->addr.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &ep->addr.in4.sin_addr, ip, sizeof(ip));
        snprintf(buf, cap, "%s:%u", ip, ntohs(ep->addr.in4.sin_port));
    } else if (ep->len && ep->transport == WG_TRANSPORT_UDP && ep->addr.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &ep->addr.in6.sin6_addr, ip, sizeof(ip));
        snprintf(buf, cap, "[%s]:%u", ip, ntohs(ep->addr.in6.sin6_port));
    } else if (ep->len) {
        snprintf(buf, cap, "transport%u", ep->transport);
    } else {
        snprintf(buf, cap, "(none)");
    }
    return buf;
}
