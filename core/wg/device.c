// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/device.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/wg/allowedips.h"
#include "core/wg/constants.h"
#include "core/wg/noise.h"
#include "core/wg/timers.h"
#include "core/wg/transport.h"
#include "core/wg/tun.h"

#include "core/wg/device_int.h"


/* The round's decrypted packets: the arrays are taken with the first packet, so a device that is only
 * configured does not carry them. 0, or -1 when out of memory. */
static int rx_batch_get(struct wg_device *d)
{
    d->rx_pkts = calloc(RX_PKTS, sizeof(*d->rx_pkts));
    d->rx_from = calloc(RX_PKTS, sizeof(*d->rx_from));
    if (d->rx_pkts && d->rx_from)
        return 0;
    free(d->rx_pkts);
    free(d->rx_from);
    d->rx_pkts = NULL;
    d->rx_from = NULL;
    return -1;
}

uint64_t wgd_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void emit(struct wg_device *d, struct wg_peer *p, enum wg_event ev)
{
    if (d->ev)
        d->ev(d->ev_ctx, p, ev);
}

/* ---- index table: local index -> handshake or keypair ---- */

static struct idx_entry *idx_slot(struct wg_device *d, uint32_t idx, bool for_insert)
{
    if (d->idx_cap == 0)
        return NULL;
    uint32_t m = d->idx_cap - 1, i = (idx * 0x9e3779b1u) & m;
    struct idx_entry *tomb = NULL;
    for (;;) {
        struct idx_entry *e = &d->idx[i];
        if (e->kind == IDX_EMPTY)
            return for_insert ? (tomb ? tomb : e) : NULL;
        if (e->kind == IDX_DELETED) {
            if (!tomb)
                tomb = e;
        } else if (e->idx == idx) {
            return e;
        }
        i = (i + 1) & m;
    }
}

static int idx_grow(struct wg_device *d)
{
    uint32_t ncap = d->idx_cap ? d->idx_cap * 2 : 256;
    if ((d->idx_used + 1) * 4 < d->idx_cap)
        ncap = d->idx_cap; /* mostly tombstones: rebuild at the same size */
    struct idx_entry *old = d->idx;
    uint32_t ocap = d->idx_cap;
    d->idx = calloc(ncap, sizeof(*d->idx));
    if (!d->idx) {
        d->idx = old;
        return -1;
    }
    d->idx_cap = ncap;
    d->idx_tombs = 0;
    for (uint32_t i = 0; i < ocap; i++)
        if (old[i].kind == IDX_HANDSHAKE || old[i].kind == IDX_KEYPAIR)
            *idx_slot(d, old[i].idx, true) = old[i];
    free(old);
    return 0;
}

/* A fresh random index, registered; 0 on failure (0 is never handed out). */
static uint32_t idx_new(struct wg_device *d, uint8_t kind, struct wg_peer *p, struct kp *kp)
{
    if ((d->idx_used + d->idx_tombs + 1) * 2 > d->idx_cap && idx_grow(d) < 0)
        return 0;
    for (;;) {
        uint32_t idx;
        randombytes_buf(&idx, sizeof(idx));
        if (idx == 0)
            continue;
        struct idx_entry *e = idx_slot(d, idx, true);
        if (e->kind == IDX_HANDSHAKE || e->kind == IDX_KEYPAIR)
            continue;
        if (e->kind == IDX_DELETED)
            d->idx_tombs--;
        *e = (struct idx_entry){idx, kind, p, kp};
        d->idx_used++;
        return idx;
    }
}

static void idx_del(struct wg_device *d, uint32_t idx)
{
    struct idx_entry *e = idx ? idx_slot(d, idx, false) : NULL;
    if (!e)
        return;
    e->kind = IDX_DELETED;
    e->peer = NULL;
    e->kp = NULL;
    d->idx_used--;
    d->idx_tombs++;
}

static const struct idx_entry *idx_find(struct wg_device *d, uint32_t idx)
{
    return idx_slot(d, idx, false);
}

/* ---- staged packets ---- */

/* Take the oldest staged packet of p out of its ring, which goes too once empty. Returns it. */
static struct staged staged_take(struct wg_peer *p)
{
    struct staged s = p->staged[p->staged_head];
    p->staged_head = (p->staged_head + 1) % MAX_STAGED;
    p->n_staged--;
    p->d->n_staged_all--;
    if (!p->n_staged) {
        free(p->staged);
        p->staged = NULL;
        p->staged_head = 0;
    }
    return s;
}

/* ---- idle release ---- */

static void on_idle(struct timer *t, void *arg)
{
    struct wg_device *d = arg;
    uint64_t now = loop_now(d->loop);
    if (now - d->last_io_ms < IDLE_RELEASE_MS) {
        timer_start(t, IDLE_RELEASE_MS - (now - d->last_io_ms));
        return;
    }
    /* the pages read as zeros when next touched: nothing in them outlives a round */
    if (d->tx_arena)
        madvise(d->tx_arena, TX_ARENA_LEN, MADV_DONTNEED);
    if (d->rx_arena)
        madvise(d->rx_arena, RX_ARENA_LEN, MADV_DONTNEED);
    d->arenas_used = false;
    d->st.idle_releases++;
}

/* Packets went through the arenas: release them once things are quiet again. */
static void arenas_touched(struct wg_device *d)
{
    d->last_io_ms = loop_now(d->loop);
    if (!d->arenas_used) {
        d->arenas_used = true;
        timer_start(&d->t_idle, IDLE_RELEASE_MS);
    }
}

/* An arena: mapped, not malloc'ed, so that idle release can hand its pages back (page-aligned). */
static uint8_t *arena_map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* ---- sending datagrams ---- */

int wgd_udp_fd_for(struct wg_device *d, const struct wg_endpoint *ep)
{
    return ep->addr.sa.sa_family == AF_INET6 ? d->fd6 : d->fd4;
}

/* sendmmsg all of hdr[0..m); waits a little for room when the socket buffer is full (backpressure, not
 * loss: a dropped datagram costs a TCP flow far more than a short wait). */
static void udp_sendall(struct wg_device *d, int fd, struct mmsghdr *hdr, unsigned m)
{
    unsigned off = 0;
    int waits = 0;
    while (off < m) {
        int r = sendmmsg(fd, hdr + off, m - off, MSG_DONTWAIT);
        if (r > 0) {
            off += (unsigned)r;
            continue;
        }
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == ENOBUFS) && waits++ < 100) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            poll(&pfd, 1, 10);
            continue;
        }
        if (errno == EIO && hdr[off].msg_hdr.msg_controllen && d->gso_ok) {
            d->gso_ok = false; /* the route's device cannot take GSO: send one by one from now on */
            log_info("wireguard: UDP GSO refused, sending datagrams one by one");
        }
        d->st.tx_dropped++;
        off++;
    }
}

void wgd_udp_send(struct wg_device *d, const struct wg_endpoint *ep, const struct iovec *pkts, size_t n)
{
    int fd = wgd_udp_fd_for(d, ep);
    if (fd < 0) {
        d->st.tx_dropped += n;
        return;
    }
    unsigned m = 0;
    size_t i = 0;
    while (i < n) {
        size_t seg = pkts[i].iov_len, j = i + 1, total = seg;
        if (d->gso_ok) {
            while (j < n && j - i < GSO_MAX_SEGS && pkts[j].iov_len <= seg &&
                   total + pkts[j].iov_len <= GSO_MAX_BYTES) {
                total += pkts[j].iov_len;
                if (pkts[j++].iov_len < seg)
                    break; /* only the last segment may be shorter */
            }
        }
        struct msghdr *h = &d->send_hdr[m].msg_hdr;
        memset(h, 0, sizeof(*h));
        h->msg_name = (void *)&ep->addr;
        h->msg_namelen = ep->len;
        h->msg_iov = (struct iovec *)&pkts[i];
        h->msg_iovlen = j - i;
        if (j - i > 1) {
            h->msg_control = d->send_cmsg[m];
            h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
            struct cmsghdr *c = CMSG_FIRSTHDR(h);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t gs = (uint16_t)seg;
            memcpy(CMSG_DATA(c), &gs, sizeof(gs));
        }
        m++;
        i = j;
        if (m == SEND_MSGS) {
            udp_sendall(d, fd, d->send_hdr, m);
            m = 0;
        }
    }
    if (m)
        udp_sendall(d, fd, d->send_hdr, m);
}

static void xmit(struct wg_device *d, struct wg_peer *p, const struct iovec *pkts, size_t n)
{
    const struct wg_endpoint *ep = &p->ep;
    if (ep->len == 0 || n == 0) {
        d->st.tx_dropped += n;
        return;
    }
    if (ep->transport == WG_TRANSPORT_UDP && wgd_udp_fd_for(d, ep) < 0) {
        d->st.tx_dropped += n; /* not bound (yet) */
        return;
    }
    for (size_t i = 0; i < n; i++)
        p->tx_bytes += pkts[i].iov_len;
    if (ep->transport == WG_TRANSPORT_UDP) {
        wgd_udp_send(d, ep, pkts, n);
        return;
    }
    if (ep->transport >= d->n_tr + 1u) {
        d->st.tx_dropped += n;
        return;
    }
    const struct transport *t = &d->tr[ep->transport - 1];
    int sent = t->ops->send(t->ctx, ep, pkts, n);
    if (sent < (int)n)
        d->st.tx_dropped += n - (size_t)(sent < 0 ? 0 : sent);
}

/* A reply (cookie) to an address that is not (yet) a peer's endpoint. */
static void xmit_to(struct wg_device *d, const struct wg_endpoint *ep, const uint8_t *msg, size_t len)
{
    struct iovec iov = {(void *)msg, len};
    if (ep->transport == WG_TRANSPORT_UDP) {
        wgd_udp_send(d, ep, &iov, 1);
    } else if (ep->transport <= d->n_tr) {
        const struct transport *t = &d->tr[ep->transport - 1];
        t->ops->send(t->ctx, ep, &iov, 1);
    }
}

/* ---- keypairs and handshakes ---- */

static void kp_free(struct wg_device *d, struct kp *k)
{
    if (!k)
        return;
    idx_del(d, k->k.local_index);
    wg_keypair_clear(&k->k);
    free(k);
}

bool wgd_kp_send_usable(const struct wg_peer *p, const struct kp *k)
{
    return k && wg_timers_key_usable(&p->tm, p->d->now, k->k.created, k->k.send_counter);
}

void wgd_staged_drop(struct wg_peer *p)
{
    while (p->n_staged) {
        free(staged_take(p).buf);
        p->d->st.tx_dropped++;
    }
}

void wgd_zero_keys(struct wg_peer *p)
{
    struct wg_device *d = p->d;
    kp_free(d, p->cur);
    kp_free(d, p->prev_kp);
    kp_free(d, p->next_kp);
    p->cur = p->prev_kp = p->next_kp = NULL;
    idx_del(d, p->hs_index);
    p->hs_index = 0;
    wg_handshake_clear(&p->hs);
}


static void send_initiation(struct wg_peer *p)
{
    struct wg_device *d = p->d;
    if (!d->have_key || p->ep.len == 0)
        return;
    idx_del(d, p->hs_index);
    p->hs_index = idx_new(d, IDX_HANDSHAKE, p, NULL);
    if (!p->hs_index)
        return;
    uint8_t msg[WG_INITIATION_LEN];
    if (wg_create_initiation(&p->hs, &d->local, msg, p->hs_index, NULL, NULL, d->now) < 0) {
        idx_del(d, p->hs_index);
        p->hs_index = 0;
        return;
    }
    struct iovec iov = {msg, sizeof(msg)};
    xmit(d, p, &iov, 1);
    log_debug("wireguard: initiation sent to peer %02x%02x%02x%02x", p->pub[0], p->pub[1], p->pub[2], p->pub[3]);
}

void wgd_want_handshake(struct wg_peer *p)
{
    if (wg_timers_want_handshake(&p->tm, p->d->now) & WG_TIMER_SEND_INITIATION)
        send_initiation(p);
}

/* Encrypt n slots (payload at +16, lengths in lens, sizes in caps, NULL: arena slots of SLOT_CAP) with the
 * current keypair and send them. The slots become the datagrams. Returns false (nothing sent) if there is no usable keypair. */
static bool seal_and_send(struct wg_peer *p, uint8_t *const *slots, const size_t *lens, const size_t *caps,
                          size_t n, bool keepalive_from_timers)
{
    struct wg_device *d = p->d;
    struct kp *k = p->cur;
    if (!wgd_kp_send_usable(p, k))
        return false;
    size_t out = 0;
    bool data = false;
    for (size_t i = 0; i < n; i++) {
        int m = wg_transport_encrypt(&k->k, slots[i], caps ? caps[i] : SLOT_CAP, lens[i], d->mtu);
        if (m < 0) {
            d->st.tx_dropped++;
            continue;
        }
        data |= lens[i] > 0;
        d->send_iov[out].iov_base = slots[i];
        d->send_iov[out].iov_len = (size_t)m;
        out++;
    }
    xmit(d, p, d->send_iov, out);
    d->st.tx_packets += out;
    if (!(keepalive_from_timers && !data))
        wg_timers_packet_sent(&p->tm, d->now, data ? WG_PKT_DATA : WG_PKT_KEEPALIVE);
    if (wg_timers_keep_fresh_sending(&p->tm, d->now, k->k.created, k->k.send_counter, k->k.initiator) &
        WG_TIMER_SEND_INITIATION)
        send_initiation(p);
    return true;
}

static void stage(struct wg_peer *p, const uint8_t *payload, size_t len)
{
    struct wg_device *d = p->d;
    if (p->n_staged == MAX_STAGED) { /* full: the oldest goes (as wireguard-go) */
        free(staged_take(p).buf);
        d->st.tx_dropped++;
    }
    size_t cap = WG_TRANSPORT_MIN_LEN + wg_transport_padded_len(len, d->mtu);
    uint8_t *b = d->n_staged_all < STAGED_ALL_MAX ? malloc(cap) : NULL;
    if (b && !p->staged && !(p->staged = malloc(MAX_STAGED * sizeof *p->staged))) {
        free(b);
        b = NULL;
    }
    if (!b) {
        d->st.tx_dropped++;
        return;
    }
    memcpy(b + WG_TRANSPORT_HEADER_LEN, payload, len);
    struct staged *s = &p->staged[(p->staged_head + p->n_staged) % MAX_STAGED];
    s->buf = b;
    s->len = (uint32_t)len;
    s->cap = (uint32_t)cap;
    p->n_staged++;
    d->n_staged_all++;
}

/* Send what waited for a session. Returns true if anything (or nothing needed to) went out. */
static bool send_staged(struct wg_peer *p, bool keepalive_from_timers)
{
    if (!p->n_staged)
        return true;
    if (!wgd_kp_send_usable(p, p->cur)) {
        wgd_want_handshake(p);
        return false;
    }
    while (p->n_staged) {
        uint8_t *slots[64];
        size_t lens[64], caps[64], n = 0;
        while (p->n_staged && n < 64) {
            struct staged s = staged_take(p);
            slots[n] = s.buf;
            caps[n] = s.cap;
            lens[n++] = s.len;
        }
        seal_and_send(p, slots, lens, caps, n, keepalive_from_timers);
        for (size_t i = 0; i < n; i++)
            free(slots[i]);
    }
    return true;
}

void wgd_send_keepalive(struct wg_peer *p, bool from_timers)
{
    if (p->n_staged) {
        send_staged(p, from_timers);
        return;
    }
    uint8_t buf[WG_TRANSPORT_MIN_LEN + 16];
    uint8_t *slot = buf;
    size_t len = 0;
    if (!wgd_kp_send_usable(p, p->cur)) {
        wgd_want_handshake(p);
        return;
    }
    /* a keepalive needs no slot: 32 bytes on the stack */
    struct kp *k = p->cur;
    int m = wg_transport_encrypt(&k->k, slot, sizeof(buf), len, 0);
    if (m < 0)
        return;
    struct iovec iov = {slot, (size_t)m};
    xmit(p->d, p, &iov, 1);
    if (!from_timers)
        wg_timers_packet_sent(&p->tm, p->d->now, WG_PKT_KEEPALIVE);
}

static void peer_actions(struct wg_peer *p, unsigned act)
{
    if (act & WG_TIMER_ZERO_KEYS) {
        bool had = p->cur || p->next_kp || p->prev_kp;
        wgd_zero_keys(p);
        if (had)
            emit(p->d, p, WG_EVENT_KEYS_ZEROED);
    }
    if (act & WG_TIMER_GIVE_UP)
        wgd_staged_drop(p);
    if (act & WG_TIMER_SEND_INITIATION)
        send_initiation(p);
    if (act & WG_TIMER_SEND_KEEPALIVE)
        wgd_send_keepalive(p, true);
}

void wgd_peer_arm(struct wg_peer *p)
{
    uint64_t dl = wg_timers_next_deadline(&p->tm);
    if (dl == WG_TIMER_OFF)
        return;
    if (timer_armed(&p->timer) && p->timer_deadline <= dl)
        return; /* it fires first and re-arms */
    p->timer_deadline = dl;
    uint64_t now = p->d->now;
    timer_start(&p->timer, dl > now ? (dl - now + WG_NSEC_PER_MSEC - 1) / WG_NSEC_PER_MSEC : 0);
}

void wgd_on_peer_timer(struct timer *t, void *arg)
{
    (void)t;
    struct wg_peer *p = arg;
    p->d->now = wgd_mono_ns();
    p->timer_deadline = UINT64_MAX;
    peer_actions(p, wg_timers_tick(&p->tm, p->d->now));
    wgd_peer_arm(p);
}

static void roam(struct wg_peer *p, const struct wg_endpoint *from)
{
    if (p->d->no_roam)
        return;
    if (p->ep.transport == from->transport && p->ep.len == from->len &&
        memcmp(&p->ep.addr, &from->addr, from->len) == 0)
        return;
    p->ep = *from;
    emit(p->d, p, WG_EVENT_ENDPOINT_CHANGED);
}

static void handshake_done(struct wg_peer *p, bool initiator)
{
    clock_gettime(CLOCK_REALTIME, &p->last_hs);
    unsigned act = wg_timers_handshake_complete(&p->tm, p->d->now, initiator);
    emit(p->d, p, WG_EVENT_HANDSHAKE);
    if (p->n_staged)
        send_staged(p, (act & WG_TIMER_SEND_KEEPALIVE) != 0);
    else if (act & WG_TIMER_SEND_KEEPALIVE)
        wgd_send_keepalive(p, true);
}

/* ---- receiving ---- */

static struct wg_handshake *by_key(void *ctx, const uint8_t pub[32])
{
    struct wg_peer *p = wg_peer_find(ctx, pub);
    return p ? &p->hs : NULL;
}

static struct wg_handshake *by_index(void *ctx, uint32_t idx)
{
    const struct idx_entry *e = idx_find(ctx, idx);
    return e && e->kind == IDX_HANDSHAKE ? &e->peer->hs : NULL;
}

static struct wg_peer *peer_of_hs(struct wg_handshake *hs)
{
    return (struct wg_peer *)((char *)hs - offsetof(struct wg_peer, hs));
}

static void src_bytes(const struct wg_endpoint *ep, const uint8_t **b, size_t *n)
{
    static __thread uint8_t buf[18];
    if (ep->transport == WG_TRANSPORT_UDP && ep->addr.sa.sa_family == AF_INET) {
        memcpy(buf, &ep->addr.in4.sin_addr, 4);
        memcpy(buf + 4, &ep->addr.in4.sin_port, 2);
        *b = buf;
        *n = 6;
    } else if (ep->transport == WG_TRANSPORT_UDP && ep->addr.sa.sa_family == AF_INET6) {
        memcpy(buf, &ep->addr.in6.sin6_addr, 16);
        memcpy(buf + 16, &ep->addr.in6.sin6_port, 2);
        *b = buf;
        *n = 18;
    } else {
        *b = ep->addr.bytes;
        *n = ep->len;
    }
}

/* mac1 first (cheap); under load a valid mac2 too, else answer with a cookie. */
static bool handshake_admitted(struct wg_device *d, const struct wg_endpoint *from, const uint8_t *msg,
                               size_t len)
{
    if (!wg_cookie_check_mac1(&d->local.cookies, msg, len))
        return false;
    if (d->now - d->load_window > WG_NSEC_PER_SEC) {
        d->under_load = d->load_count > UNDER_LOAD_PER_SEC;
        d->load_window = d->now;
        d->load_count = 0;
    }
    d->load_count++;
    if (!(d->under_load || d->always_load || d->load_count > UNDER_LOAD_PER_SEC))
        return true;
    const uint8_t *src;
    size_t srclen;
    src_bytes(from, &src, &srclen);
    if (wg_cookie_check_mac2(&d->local.cookies, msg, len, src, srclen, d->now))
        return true;
    uint8_t reply[WG_COOKIE_REPLY_LEN];
    if (wg_cookie_create_reply(&d->local.cookies, reply, msg, len, src, srclen, d->now, NULL) > 0) {
        xmit_to(d, from, reply, sizeof(reply));
        d->st.cookie_replies++;
        log_debug("wireguard: under load: cookie reply sent for a handshake without mac2");
    }
    return false;
}

static void rx_initiation(struct wg_device *d, const struct wg_endpoint *from, const uint8_t *msg, size_t len)
{
    struct wg_handshake *hs;
    if (!d->have_key || !handshake_admitted(d, from, msg, len) ||
        wg_consume_initiation(&d->local, msg, len, by_key, d, d->now, &hs) != 0) {
        d->st.rx_dropped++;
        return;
    }
    struct wg_peer *p = peer_of_hs(hs);
    p->rx_bytes += len;
    roam(p, from);
    wg_timers_packet_received(&p->tm, d->now, WG_PKT_HANDSHAKE);
    /* our own pending initiation (if any) is superseded */
    idx_del(d, p->hs_index);
    p->hs_index = 0;
    struct kp *k = calloc(1, sizeof(*k));
    uint32_t idx = k ? idx_new(d, IDX_KEYPAIR, p, k) : 0;
    uint8_t resp[WG_RESPONSE_LEN];
    if (!idx || wg_create_response(&p->hs, resp, idx, NULL, d->now) < 0 ||
        wg_handshake_derive_keypair(&p->hs, &k->k, d->now) < 0) {
        idx_del(d, idx);
        free(k);
        wg_handshake_clear(&p->hs);
        return;
    }
    k->peer = p;
    /* responder: the new keypair waits in `next` until the initiator uses it */
    kp_free(d, p->next_kp);
    kp_free(d, p->prev_kp);
    p->prev_kp = NULL;
    p->next_kp = k;
    wg_timers_session_derived(&p->tm, d->now);
    struct iovec iov = {resp, sizeof(resp)};
    xmit(d, p, &iov, 1);
    wg_timers_packet_sent(&p->tm, d->now, WG_PKT_HANDSHAKE);
    wgd_peer_arm(p);
}

static void rx_response(struct wg_device *d, const struct wg_endpoint *from, const uint8_t *msg, size_t len)
{
    struct wg_handshake *hs;
    if (!d->have_key || !handshake_admitted(d, from, msg, len) ||
        wg_consume_response(&d->local, msg, len, by_index, d, d->now, &hs) != 0) {
        d->st.rx_dropped++;
        return;
    }
    struct wg_peer *p = peer_of_hs(hs);
    struct kp *k = calloc(1, sizeof(*k));
    if (!k || wg_handshake_derive_keypair(&p->hs, &k->k, d->now) < 0) {
        free(k);
        idx_del(d, p->hs_index);
        p->hs_index = 0;
        wg_handshake_clear(&p->hs);
        return;
    }
    k->peer = p;
    /* the handshake's index now names the keypair */
    struct idx_entry *e = idx_slot(d, p->hs_index, false);
    if (e) {
        e->kind = IDX_KEYPAIR;
        e->kp = k;
    }
    p->hs_index = 0;
    /* initiator: the new keypair is current at once */
    if (p->next_kp) {
        kp_free(d, p->prev_kp);
        p->prev_kp = p->next_kp;
        p->next_kp = NULL;
        kp_free(d, p->cur);
    } else {
        kp_free(d, p->prev_kp);
        p->prev_kp = p->cur;
    }
    p->cur = k;
    p->rx_bytes += len;
    roam(p, from);
    wg_timers_packet_received(&p->tm, d->now, WG_PKT_HANDSHAKE);
    wg_timers_session_derived(&p->tm, d->now);
    handshake_done(p, true);
    wgd_peer_arm(p);
}

static void rx_cookie(struct wg_device *d, const uint8_t *msg, size_t len)
{
    const struct idx_entry *e = idx_find(d, wg_msg_receiver(msg, WG_MSG_COOKIE_REPLY));
    if (!e || wg_cookie_consume_reply(&e->peer->hs.cookies, msg, len, d->now) != 0)
        d->st.rx_dropped++;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The IP packet inside a decrypted payload: its real length, or 0 if it is not a sane IPv4/IPv6 packet
 * from an address the peer may use. */
static size_t inner_check(struct wg_device *d, struct wg_peer *p, const uint8_t *pkt, size_t n)
{
    size_t len;
    struct wg_aip_owner *o;
    if (n >= 20 && (pkt[0] >> 4) == 4) {
        len = be16(pkt + 2);
        if (len < 20 || len > n)
            return 0;
        o = wg_aip_lookup(&d->aip, 4, pkt + 12);
    } else if (n >= 40 && (pkt[0] >> 4) == 6) {
        len = 40 + (size_t)be16(pkt + 4);
        if (len > n)
            return 0;
        o = wg_aip_lookup(&d->aip, 6, pkt + 8);
    } else {
        return 0;
    }
    return o == &p->aip ? len : 0;
}

static void rx_transport(struct wg_device *d, const struct wg_endpoint *from, uint8_t *msg, size_t len)
{
    const struct idx_entry *e = idx_find(d, wg_msg_receiver(msg, WG_MSG_TRANSPORT));
    if (!e || e->kind != IDX_KEYPAIR) {
        d->st.rx_dropped++;
        return;
    }
    struct wg_peer *p = e->peer;
    struct kp *k = e->kp;
    if (d->now - k->k.created >= p->tm.p.reject_after_time) {
        d->st.rx_dropped++;
        return;
    }
    int n = wg_transport_decrypt(&k->k, msg, len);
    if (n < 0) {
        d->st.rx_dropped++;
        return;
    }
    p->rx_bytes += len;
    roam(p, from);
    if (k == p->next_kp) {
        /* the initiator used the new keypair: it is confirmed, and current */
        kp_free(d, p->prev_kp);
        p->prev_kp = p->cur;
        p->cur = k;
        p->next_kp = NULL;
        handshake_done(p, false);
    }
    wg_timers_packet_received(&p->tm, d->now, n ? WG_PKT_DATA : WG_PKT_KEEPALIVE);
    if (p->cur &&
        (wg_timers_keep_fresh_receiving(&p->tm, d->now, p->cur->k.created, p->cur->k.initiator) &
         WG_TIMER_SEND_INITIATION))
        send_initiation(p);
    wgd_peer_arm(p);
    if (n == 0)
        return;
    uint8_t *pkt = msg + WG_TRANSPORT_HEADER_LEN;
    size_t ip = inner_check(d, p, pkt, (size_t)n);
    if (!ip || d->rx_n == RX_PKTS || (!d->rx_pkts && rx_batch_get(d))) {
        d->st.rx_dropped++;
        return;
    }
    if (d->in_hook && d->in_hook(d->hook_ctx, p, pkt, ip) != WG_PKT_PASS) {
        d->st.rx_filtered++;
        return;
    }
    d->rx_pkts[d->rx_n].iov_base = pkt;
    d->rx_pkts[d->rx_n].iov_len = ip;
    d->rx_from[d->rx_n++] = p;
}

static void rx_one(struct wg_device *d, const struct wg_endpoint *from, uint8_t *msg, size_t len)
{
    switch (wg_msg_classify(msg, len)) {
    case WG_MSG_TRANSPORT:
        rx_transport(d, from, msg, len);
        break;
    case WG_MSG_INITIATION:
        rx_initiation(d, from, msg, len);
        break;
    case WG_MSG_RESPONSE:
        rx_response(d, from, msg, len);
        break;
    case WG_MSG_COOKIE_REPLY:
        rx_cookie(d, msg, len);
        break;
    default:
        d->st.rx_dropped++;
    }
}

/* Hand the round's decrypted packets to the tunnel side. */
static void rx_flush(struct wg_device *d)
{
    if (!d->rx_n)
        return;
    if (d->tun) {
        size_t w = wg_tun_write(d->tun, d->rx_pkts, d->rx_n);
        d->st.rx_packets += w;
        d->st.rx_dropped += d->rx_n - w;
    } else if (d->deliver) {
        size_t i = 0;
        while (i < d->rx_n) {
            size_t j = i + 1;
            while (j < d->rx_n && d->rx_from[j] == d->rx_from[i])
                j++;
            d->deliver(d->deliver_ctx, d->rx_from[i], d->rx_pkts + i, j - i);
            i = j;
        }
        d->st.rx_packets += d->rx_n;
    } else {
        d->st.rx_dropped += d->rx_n;
    }
    d->rx_n = 0;
}

void wg_device_input(struct wg_device *d, const struct wg_endpoint *from, uint8_t *buf, size_t len)
{
    d->now = wgd_mono_ns();
    rx_one(d, from, buf, len);
    rx_flush(d);
}

void wgd_on_udp(struct loop_watch *w, int fd, int events, void *arg)
{
    (void)w;
    (void)events;
    struct wg_device *d = arg;
    for (int round = 0; round < IO_ROUNDS; round++) {
        for (unsigned i = 0; i < RX_MSGS; i++) {
            struct msghdr *h = &d->rx_hdr[i].msg_hdr;
            d->rx_iov[i].iov_base = d->rx_arena + (size_t)i * RX_BUF;
            d->rx_iov[i].iov_len = RX_BUF;
            h->msg_name = &d->rx_addr[i];
            h->msg_namelen = sizeof(d->rx_addr[i]);
            h->msg_iov = &d->rx_iov[i];
            h->msg_iovlen = 1;
            h->msg_control = d->rx_cmsg[i];
            h->msg_controllen = sizeof(d->rx_cmsg[i]);
            h->msg_flags = 0;
        }
        int got = recvmmsg(fd, d->rx_hdr, RX_MSGS, MSG_DONTWAIT, NULL);
        if (got <= 0)
            break;
        d->now = wgd_mono_ns();
        arenas_touched(d);
        for (int i = 0; i < got; i++) {
            struct msghdr *h = &d->rx_hdr[i].msg_hdr;
            size_t len = d->rx_hdr[i].msg_len, seg = len;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                    int gs;
                    memcpy(&gs, CMSG_DATA(c), sizeof(gs));
                    if (gs > 0)
                        seg = (size_t)gs;
                }
            struct wg_endpoint from;
            from.transport = WG_TRANSPORT_UDP;
            from.len = h->msg_namelen;
            memset(&from.addr, 0, sizeof(from.addr));
            memcpy(&from.addr, &d->rx_addr[i], h->msg_namelen);
            uint8_t *b = d->rx_iov[i].iov_base;
            for (size_t off = 0; off < len; off += seg) {
                size_t l = len - off < seg ? len - off : seg;
                if (d->rx_n + 1 >= RX_PKTS)
                    rx_flush(d);
                if (d->udp_other && wg_msg_classify(b + off, l) < 0) {
                    /* disco or STUN: the hook may change peers, so what was decrypted goes out first */
                    rx_flush(d);
                    d->st.udp_other++;
                    d->udp_other(d->udp_other_ctx, (struct sockaddr *)&d->rx_addr[i], h->msg_namelen, b + off, l);
                    d->now = wgd_mono_ns();
                    continue;
                }
                rx_one(d, &from, b + off, l);
            }
        }
        rx_flush(d);
        if (got < RX_MSGS)
            break;
    }
}

/* ---- sending tunnel packets ---- */

/* The packet arenas (a batch of tunnel packets, 2.4 MiB; a batch of GRO trains, 2 MiB) are taken when the
 * device first moves packets of that kind: a device that is only configured (a node before it logs in, the
 * UAPI tests and fuzzer) never pays for them. 0, or -1 when out of memory. */
int wgd_tx_arena_get(struct wg_device *d)
{
    if (d->tx_arena)
        return 0;
    if (!(d->tx_arena = arena_map(TX_ARENA_LEN)))
        return -1;
    for (int i = 0; i < TX_BATCH; i++) {
        d->tx_slot[i] = d->tx_arena + (size_t)i * SLOT_CAP;
        d->tx_payload[i] = d->tx_slot[i] + WG_TRANSPORT_HEADER_LEN;
    }
    return 0;
}

int wgd_rx_arena_get(struct wg_device *d)
{
    if (!d->rx_arena && !(d->rx_arena = arena_map(RX_ARENA_LEN)))
        return -1;
    return 0;
}


static void tx_enqueue(struct wg_device *d, int i)
{
    uint8_t *pkt = d->tx_payload[i];
    size_t len = d->tx_len[i];
    if (d->out_hook) {
        enum wg_pkt_verdict v = d->out_hook(d->hook_ctx, pkt, len);
        if (v == WG_PKT_TAKEN)
            return;
        if (v != WG_PKT_PASS) {
            d->st.tx_filtered++;
            return;
        }
    }
    struct wg_aip_owner *o = NULL;
    if (len >= 20 && (pkt[0] >> 4) == 4)
        o = wg_aip_lookup(&d->aip, 4, pkt + 16);
    else if (len >= 40 && (pkt[0] >> 4) == 6)
        o = wg_aip_lookup(&d->aip, 6, pkt + 24);
    if (!o) {
        d->st.tx_dropped++;
        return;
    }
    struct wg_peer *p = (struct wg_peer *)((char *)o - offsetof(struct wg_peer, aip));
    d->tx_nextq[i] = -1;
    if (!p->in_tx) {
        p->in_tx = true;
        p->txq_head = p->txq_tail = i;
        p->txq_n = 1;
        p->tx_next = d->tx_peers;
        d->tx_peers = p;
    } else {
        d->tx_nextq[p->txq_tail] = i;
        p->txq_tail = i;
        p->txq_n++;
    }
}

static void tx_flush(struct wg_device *d)
{
    for (struct wg_peer *p = d->tx_peers, *nx; p; p = nx) {
        nx = p->tx_next;
        p->in_tx = false;
        uint8_t *slots[TX_BATCH];
        size_t lens[TX_BATCH], n = 0;
        for (int i = p->txq_head; i >= 0; i = d->tx_nextq[i]) {
            slots[n] = d->tx_slot[i];
            lens[n++] = d->tx_len[i];
        }
        if (p->ep.len == 0) {
            d->st.tx_dropped += n;
            continue;
        }
        if (p->n_staged)
            send_staged(p, false); /* keep the order: what waited goes first */
        if (p->n_staged || !seal_and_send(p, slots, lens, NULL, n, false)) {
            for (size_t i = 0; i < n; i++)
                stage(p, slots[i] + WG_TRANSPORT_HEADER_LEN, lens[i]);
            wgd_want_handshake(p);
        }
        wgd_peer_arm(p);
    }
    d->tx_peers = NULL;
}

void wgd_on_tun(struct loop_watch *w, int fd, int events, void *arg)
{
    (void)w;
    (void)fd;
    (void)events;
    struct wg_device *d = arg;
    for (int round = 0; round < IO_ROUNDS; round++) {
        int n = wg_tun_read(d->tun, d->tx_payload, d->tx_len, TX_BATCH, SLOT_PAYLOAD, &d->st.tx_dropped);
        if (n < 0) {
            log_warn("wireguard: reading %s: %s", wg_tun_name(d->tun), strerror(errno));
            loop_watch_set(d->wtun, 0);
            if (d->tun_gone)
                d->tun_gone(d->tun_gone_ctx);
            return;
        }
        if (n == 0)
            break;
        d->now = wgd_mono_ns();
        arenas_touched(d);
        for (int i = 0; i < n; i++)
            tx_enqueue(d, i);
        tx_flush(d);
        if (n < TX_BATCH)
            break;
    }
}

size_t wg_device_send(struct wg_device *d, const struct iovec *pkts, size_t n)
{
    if (wgd_tx_arena_get(d)) {
        d->st.tx_dropped += n;
        return 0;
    }
    d->now = wgd_mono_ns();
    arenas_touched(d);
    size_t accepted = 0;
    while (n) {
        size_t m = n < TX_BATCH ? n : TX_BATCH;
        for (size_t i = 0; i < m; i++) {
            if (pkts[i].iov_len > SLOT_PAYLOAD) {
                d->st.tx_dropped++;
                d->tx_len[i] = 0;
                continue;
            }
            memcpy(d->tx_payload[i], pkts[i].iov_base, pkts[i].iov_len);
            d->tx_len[i] = pkts[i].iov_len;
            tx_enqueue(d, (int)i);
            accepted++;
        }
        tx_flush(d);
        pkts += m;
        n -= m;
    }
    return accepted;
}

/* ---- device ---- */

struct wg_device *wg_device_new(struct loop *loop)
{
    if (sodium_init() < 0)
        return NULL;
    struct wg_device *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->loop = loop;
    d->fd4 = d->fd6 = -1;
    d->mtu = WG_DEFAULT_MTU;
    d->timer_scale = 1;
    d->gso_ok = true;
    d->n_buckets = 64;
    d->buckets = calloc(d->n_buckets, sizeof(*d->buckets));
    if (!d->buckets) {
        free(d);
        return NULL;
    }
    timer_init(&d->t_idle, loop, on_idle, d);
    wg_aip_init(&d->aip);
    d->now = wgd_mono_ns();
    return d;
}

void wgd_udp_close_all(struct wg_device *d)
{
    if (d->w4)
        loop_watch_free(d->w4);
    if (d->w6)
        loop_watch_free(d->w6);
    if (d->fd4 >= 0)
        close(d->fd4);
    if (d->fd6 >= 0)
        close(d->fd6);
    d->w4 = d->w6 = NULL;
    d->fd4 = d->fd6 = -1;
    d->port = 0;
}

void wg_device_free(struct wg_device *d)
{
    if (!d)
        return;
    while (d->first)
        wg_peer_remove(d->first);
    wgd_udp_close_all(d);
    wg_device_attach_tun(d, NULL);
    wg_aip_free(&d->aip);
    wg_local_clear(&d->local);
    free(d->idx);
    free(d->buckets);
    timer_stop(&d->t_idle);
    if (d->tx_arena)
        munmap(d->tx_arena, TX_ARENA_LEN);
    if (d->rx_arena)
        munmap(d->rx_arena, RX_ARENA_LEN);
    free(d->rx_pkts);
    free(d->rx_from);
    free(d);
}

