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
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/wg/allowedips.h"
#include "core/wg/constants.h"
#include "core/wg/noise.h"
#include "core/wg/timers.h"
#include "core/wg/transport.h"
#include "core/wg/tun.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* A slot holds one packet: the 16-byte transport header in front, the payload (an IP packet up to
 * SLOT_PAYLOAD bytes: jumbo MTUs fit), then room for the padding and the tag. */
#define SLOT_PAYLOAD 9216
#define SLOT_CAP (WG_TRANSPORT_HEADER_LEN + SLOT_PAYLOAD + 16 + WG_TAG_LEN)
#define TX_BATCH 256        /* packets read from the tunnel per round */
#define RX_MSGS 32          /* datagrams (or GRO trains) per recvmmsg */
#define RX_BUF 65536        /* one GRO train of up to 64 KiB */
#define RX_PKTS (RX_MSGS * 64)
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000
#define SEND_MSGS 64
#define MAX_STAGED 128      /* packets waiting for a handshake, per peer (as wireguard-go) */
#define POOL_MAX 2048       /* staged-packet buffers in all */
#define UNDER_LOAD_PER_SEC 1024 /* handshake messages per second beyond which mac2 is required */
#define MAX_TRANSPORTS 8
#define IO_ROUNDS 8

enum { IDX_EMPTY, IDX_HANDSHAKE, IDX_KEYPAIR, IDX_DELETED };

struct kp {
    struct wg_keypair k;
    struct wg_peer *peer;
};

struct idx_entry {
    uint32_t idx;
    uint8_t kind;
    struct wg_peer *peer;
    struct kp *kp;
};

struct staged {
    uint8_t *buf; /* pool slot, payload at +16 */
    uint32_t len;
};

struct wg_peer {
    struct wg_device *d;
    struct wg_peer *next, *prev; /* in the order added */
    struct wg_peer *hnext;       /* public key hash chain */
    uint8_t pub[32];
    void *data;
    struct wg_handshake hs;
    uint32_t hs_index; /* registered index of our pending initiation, 0 none */
    struct kp *cur, *prev_kp, *next_kp;
    struct wg_timers tm;
    struct timer timer;
    uint64_t timer_deadline;
    struct wg_aip_owner aip;
    struct wg_endpoint ep;
    uint16_t keepalive;
    uint64_t rx_bytes, tx_bytes;
    struct timespec last_hs;
    struct staged staged[MAX_STAGED];
    unsigned n_staged, staged_head;
    /* this round's outbound packets: indices into the tx batch, chained */
    int txq_head, txq_tail, txq_n;
    struct wg_peer *tx_next;
    bool in_tx;
};

struct transport {
    const struct wg_transport_ops *ops;
    void *ctx;
};

struct wg_device {
    struct loop *loop;
    struct wg_local local;
    bool have_key;
    struct wg_peer *first, *last;
    size_t n_peers;
    struct wg_peer **buckets;
    size_t n_buckets;
    struct idx_entry *idx;
    uint32_t idx_cap, idx_used, idx_tombs;
    struct wg_allowedips aip;

    int fd4, fd6;
    struct loop_watch *w4, *w6;
    uint16_t port;
    uint32_t fwmark;
    bool gso_ok;

    struct wg_tun *tun;
    struct loop_watch *wtun;
    wg_deliver_fn deliver;
    void *deliver_ctx;
    void (*tun_gone)(void *ctx);
    void *tun_gone_ctx;
    struct transport tr[MAX_TRANSPORTS];
    unsigned n_tr;
    wg_event_fn ev;
    void *ev_ctx;
    bool no_roam;
    wg_udp_other_fn udp_other;
    void *udp_other_ctx;
    wg_in_hook in_hook;
    wg_out_hook out_hook;
    void *hook_ctx;

    unsigned mtu;
    unsigned timer_scale;
    bool always_load;
    uint64_t now;
    uint64_t load_window;
    unsigned load_count;
    bool under_load;

    /* tx: slots for one round of tunnel packets */
    uint8_t *tx_arena;
    uint8_t *tx_slot[TX_BATCH];
    uint8_t *tx_payload[TX_BATCH];
    size_t tx_len[TX_BATCH];
    int tx_nextq[TX_BATCH];
    struct wg_peer *tx_peers;
    /* rx: recvmmsg buffers, and the decrypted packets of the round */
    uint8_t *rx_arena;
    struct mmsghdr rx_hdr[RX_MSGS];
    struct iovec rx_iov[RX_MSGS];
    struct sockaddr_storage rx_addr[RX_MSGS];
    uint8_t rx_cmsg[RX_MSGS][CMSG_SPACE(sizeof(int))];
    struct iovec *rx_pkts;     /* RX_PKTS of each, taken with the first packet (48 KiB) */
    struct wg_peer **rx_from;
    size_t rx_n;
    /* sending */
    struct iovec send_iov[TX_BATCH];
    struct mmsghdr send_hdr[SEND_MSGS];
    uint8_t send_cmsg[SEND_MSGS][CMSG_SPACE(sizeof(uint16_t))];
    /* staged-packet pool */
    uint8_t *pool_free;
    unsigned pool_count;

    struct wg_device_stats st;
};

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

static uint64_t mono_ns(void)
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

/* ---- staged-packet pool ---- */

static uint8_t *pool_get(struct wg_device *d)
{
    uint8_t *b = d->pool_free;
    if (b) {
        memcpy(&d->pool_free, b, sizeof(b));
        return b;
    }
    if (d->pool_count >= POOL_MAX)
        return NULL;
    b = malloc(SLOT_CAP);
    if (b)
        d->pool_count++;
    return b;
}

static void pool_put(struct wg_device *d, uint8_t *b)
{
    memcpy(b, &d->pool_free, sizeof(b));
    d->pool_free = b;
}

/* ---- sending datagrams ---- */

static int udp_fd_for(struct wg_device *d, const struct wg_endpoint *ep)
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

static void udp_send(struct wg_device *d, const struct wg_endpoint *ep, const struct iovec *pkts, size_t n)
{
    int fd = udp_fd_for(d, ep);
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
    if (ep->transport == WG_TRANSPORT_UDP && udp_fd_for(d, ep) < 0) {
        d->st.tx_dropped += n; /* not bound (yet) */
        return;
    }
    for (size_t i = 0; i < n; i++)
        p->tx_bytes += pkts[i].iov_len;
    if (ep->transport == WG_TRANSPORT_UDP) {
        udp_send(d, ep, pkts, n);
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
        udp_send(d, ep, &iov, 1);
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

static bool kp_send_usable(const struct wg_peer *p, const struct kp *k)
{
    return k && wg_timers_key_usable(&p->tm, p->d->now, k->k.created, k->k.send_counter);
}

static void staged_drop(struct wg_peer *p)
{
    while (p->n_staged) {
        struct staged *s = &p->staged[p->staged_head];
        pool_put(p->d, s->buf);
        p->staged_head = (p->staged_head + 1) % MAX_STAGED;
        p->n_staged--;
        p->d->st.tx_dropped++;
    }
}

static void zero_keys(struct wg_peer *p)
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

static void peer_arm(struct wg_peer *p);

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

static void want_handshake(struct wg_peer *p)
{
    if (wg_timers_want_handshake(&p->tm, p->d->now) & WG_TIMER_SEND_INITIATION)
        send_initiation(p);
}

/* Encrypt n slots (payload at +16, lengths in lens) with the current keypair and send them. The slots
 * become the datagrams. Returns false (nothing sent) if there is no usable keypair. */
static bool seal_and_send(struct wg_peer *p, uint8_t *const *slots, const size_t *lens, size_t n,
                          bool keepalive_from_timers)
{
    struct wg_device *d = p->d;
    struct kp *k = p->cur;
    if (!kp_send_usable(p, k))
        return false;
    size_t out = 0;
    bool data = false;
    for (size_t i = 0; i < n; i++) {
        int m = wg_transport_encrypt(&k->k, slots[i], SLOT_CAP, lens[i], d->mtu);
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
    if (p->n_staged == MAX_STAGED) {
        /* full: the oldest goes (as wireguard-go) */
        struct staged *s = &p->staged[p->staged_head];
        pool_put(d, s->buf);
        p->staged_head = (p->staged_head + 1) % MAX_STAGED;
        p->n_staged--;
        d->st.tx_dropped++;
    }
    uint8_t *b = pool_get(d);
    if (!b) {
        d->st.tx_dropped++;
        return;
    }
    memcpy(b + WG_TRANSPORT_HEADER_LEN, payload, len);
    struct staged *s = &p->staged[(p->staged_head + p->n_staged) % MAX_STAGED];
    s->buf = b;
    s->len = (uint32_t)len;
    p->n_staged++;
}

/* Send what waited for a session. Returns true if anything (or nothing needed to) went out. */
static bool send_staged(struct wg_peer *p, bool keepalive_from_timers)
{
    struct wg_device *d = p->d;
    if (!p->n_staged)
        return true;
    if (!kp_send_usable(p, p->cur)) {
        want_handshake(p);
        return false;
    }
    while (p->n_staged) {
        uint8_t *slots[64];
        size_t lens[64], n = 0;
        while (p->n_staged && n < 64) {
            struct staged *s = &p->staged[p->staged_head];
            slots[n] = s->buf;
            lens[n++] = s->len;
            p->staged_head = (p->staged_head + 1) % MAX_STAGED;
            p->n_staged--;
        }
        seal_and_send(p, slots, lens, n, keepalive_from_timers);
        for (size_t i = 0; i < n; i++)
            pool_put(d, slots[i]);
    }
    return true;
}

static void send_keepalive(struct wg_peer *p, bool from_timers)
{
    if (p->n_staged) {
        send_staged(p, from_timers);
        return;
    }
    uint8_t buf[WG_TRANSPORT_MIN_LEN + 16];
    uint8_t *slot = buf;
    size_t len = 0;
    if (!kp_send_usable(p, p->cur)) {
        want_handshake(p);
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
        zero_keys(p);
        if (had)
            emit(p->d, p, WG_EVENT_KEYS_ZEROED);
    }
    if (act & WG_TIMER_GIVE_UP)
        staged_drop(p);
    if (act & WG_TIMER_SEND_INITIATION)
        send_initiation(p);
    if (act & WG_TIMER_SEND_KEEPALIVE)
        send_keepalive(p, true);
}

static void peer_arm(struct wg_peer *p)
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

static void on_peer_timer(struct timer *t, void *arg)
{
    (void)t;
    struct wg_peer *p = arg;
    p->d->now = mono_ns();
    p->timer_deadline = UINT64_MAX;
    peer_actions(p, wg_timers_tick(&p->tm, p->d->now));
    peer_arm(p);
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
        send_keepalive(p, true);
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
    peer_arm(p);
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
    peer_arm(p);
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
    peer_arm(p);
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
    d->now = mono_ns();
    rx_one(d, from, buf, len);
    rx_flush(d);
}

static void on_udp(struct loop_watch *w, int fd, int events, void *arg)
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
        d->now = mono_ns();
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
                    d->now = mono_ns();
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
static int tx_arena_get(struct wg_device *d)
{
    if (d->tx_arena)
        return 0;
    if (!(d->tx_arena = malloc((size_t)TX_BATCH * SLOT_CAP)))
        return -1;
    for (int i = 0; i < TX_BATCH; i++) {
        d->tx_slot[i] = d->tx_arena + (size_t)i * SLOT_CAP;
        d->tx_payload[i] = d->tx_slot[i] + WG_TRANSPORT_HEADER_LEN;
    }
    return 0;
}

static int rx_arena_get(struct wg_device *d)
{
    if (!d->rx_arena && !(d->rx_arena = malloc((size_t)RX_MSGS * RX_BUF)))
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
        if (p->n_staged || !seal_and_send(p, slots, lens, n, false)) {
            for (size_t i = 0; i < n; i++)
                stage(p, slots[i] + WG_TRANSPORT_HEADER_LEN, lens[i]);
            want_handshake(p);
        }
        peer_arm(p);
    }
    d->tx_peers = NULL;
}

static void on_tun(struct loop_watch *w, int fd, int events, void *arg)
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
        d->now = mono_ns();
        for (int i = 0; i < n; i++)
            tx_enqueue(d, i);
        tx_flush(d);
        if (n < TX_BATCH)
            break;
    }
}

size_t wg_device_send(struct wg_device *d, const struct iovec *pkts, size_t n)
{
    if (tx_arena_get(d)) {
        d->st.tx_dropped += n;
        return 0;
    }
    d->now = mono_ns();
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
    wg_aip_init(&d->aip);
    d->now = mono_ns();
    return d;
}

static void udp_close_all(struct wg_device *d)
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
    udp_close_all(d);
    wg_device_attach_tun(d, NULL);
    while (d->pool_free) {
        uint8_t *b = d->pool_free;
        memcpy(&d->pool_free, b, sizeof(b));
        free(b);
    }
    wg_aip_free(&d->aip);
    wg_local_clear(&d->local);
    free(d->idx);
    free(d->buckets);
    free(d->tx_arena);
    free(d->rx_arena);
    free(d->rx_pkts);
    free(d->rx_from);
    free(d);
}

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
    timer_init(&p->timer, d->loop, on_peer_timer, p);
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
    zero_keys(p);
    staged_drop(p);
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
    d->now = mono_ns();
    p->keepalive = seconds;
    uint64_t interval = (uint64_t)seconds * WG_NSEC_PER_SEC / (d->timer_scale ? d->timer_scale : 1);
    unsigned act = wg_timers_set_persistent_keepalive(&p->tm, d->now, interval);
    if (act & WG_TIMER_SEND_KEEPALIVE)
        send_keepalive(p, true);
    peer_arm(p);
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
    s->have_session = kp_send_usable(p, p->cur);
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
    p->d->now = mono_ns();
    want_handshake(p);
    peer_arm(p);
}

int wg_device_set_private_key(struct wg_device *d, const uint8_t priv[32])
{
    d->now = mono_ns();
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
        zero_keys(p);
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
    if (rx_arena_get(d)) {
        close(fd4);
        if (fd6 >= 0)
            close(fd6);
        errno = ENOMEM;
        return -1;
    }
    udp_close_all(d);
    d->fd4 = fd4;
    d->fd6 = fd6;
    d->port = fd_port(fd4);
    d->w4 = loop_watch_add(d->loop, fd4, LOOP_READ, on_udp, d);
    if (fd6 >= 0)
        d->w6 = loop_watch_add(d->loop, fd6, LOOP_READ, on_udp, d);
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
    if (tun && tx_arena_get(d)) {
        log_error("wireguard: out of memory for %s's packets; not reading it", wg_tun_name(tun));
        return;
    }
    if (tun) {
        int mtu = wg_tun_mtu(tun);
        if (mtu > 0)
            d->mtu = (unsigned)mtu;
        d->wtun = loop_watch_add(d->loop, wg_tun_fd(tun), LOOP_READ, on_tun, d);
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
    if (udp_fd_for(d, &ep) < 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    udp_send(d, &ep, pkts, n);
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
