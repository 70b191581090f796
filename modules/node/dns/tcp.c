// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dns/tcp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/loop.h"

#define TCP_MAX_CONNS 256          /* a flood beyond this gets RST */
#define TCP_RX_CAP (65535 + 2)     /* one whole message at most waits here */
#define TCP_TX_MAX (1024 * 1024)   /* answers not yet taken by the peer; more and it is reset */
#define TCP_MAX_PENDING 16         /* queries being answered at once per connection (pipelining) */
#define TCP_RTO_MS 200             /* first retransmission: the peer is on this machine */
#define TCP_MAX_RETRIES 6
#define TCP_IDLE_MS 30000          /* RFC 7766 suggests seconds; a resolver reconnects when it needs */

enum { ST_SYN_RCVD, ST_ESTAB, ST_CLOSING };

struct conn {
    struct dns_tcp *t;
    uint64_t id;
    struct ipp_flow flow; /* the peer's view: src = the peer */
    int state;
    uint32_t iss, snd_una, snd_nxt, rcv_nxt;
    uint32_t acked_to; /* the last ACK we sent (a pure ACK is needed only when rcv_nxt moved past it) */
    uint32_t snd_wnd;
    uint16_t mss;
    uint8_t *rx;
    size_t rxlen;
    uint8_t *tx; /* from snd_una on (after the SYN) */
    size_t txlen, txcap;
    bool fin_rcvd, fin_sent;
    int pending;
    int retries;
    bool delivering;
    struct timer timer;
    struct conn *next;
};

struct dns_tcp {
    struct loop *loop;
    unsigned mtu;
    struct dns_tcp_ops ops;
    void *arg;
    struct conn *conns;
    uint64_t next_id;
    struct dns_tcp_stats st;
    uint8_t pkt[65536 + IPP_HEADROOM];
};

static bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static bool seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

static uint16_t rx_window(const struct conn *c)
{
    size_t free_ = TCP_RX_CAP - c->rxlen;
    return (uint16_t)(free_ > 65535 ? 65535 : free_);
}

static void emit(struct dns_tcp *t, const struct ipp_flow *peer, uint32_t seq, uint32_t ack, uint8_t flags,
                 uint16_t window, uint16_t mss, const uint8_t *data, size_t len)
{
    struct ipp_flow rf;
    ipp_flow_reverse(peer, &rf);
    size_t n = ipp_build(t->pkt, sizeof t->pkt, &rf, IPP_TCP, seq, ack, flags, window, mss, data, len);
    if (n)
        t->ops.send(t->arg, t->pkt, n);
}

static uint16_t our_mss(const struct dns_tcp *t, int family)
{
    return (uint16_t)(t->mtu - (family == 4 ? 40 : 60));
}

static void conn_free(struct conn *c)
{
    struct dns_tcp *t = c->t;
    for (struct conn **pp = &t->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    timer_stop(&c->timer);
    free(c->rx);
    free(c->tx);
    free(c);
    t->st.open--;
    t->st.closed++;
}

static void conn_reset(struct conn *c)
{
    emit(c->t, &c->flow, c->snd_nxt, c->rcv_nxt, TCPF_RST | TCPF_ACK, 0, 0, NULL, 0);
    c->t->st.reset++;
    conn_free(c);
}

static void arm(struct conn *c)
{
    if (c->snd_una != c->snd_nxt)
        timer_start(&c->timer, (uint64_t)TCP_RTO_MS << (c->retries < 6 ? c->retries : 6));
    else
        timer_start(&c->timer, TCP_IDLE_MS);
}

static void cemit(struct conn *c, uint8_t flags, uint16_t mss, const uint8_t *data, size_t len)
{
    emit(c->t, &c->flow, c->snd_nxt, c->rcv_nxt, flags, rx_window(c), mss, data, len);
    c->acked_to = c->rcv_nxt;
}

/* Send what the window allows; the FIN once everything is out and both sides are done. */
static void output(struct conn *c, bool force_ack)
{
    struct dns_tcp *t = c->t;
    bool sent = false;
    if (c->state == ST_SYN_RCVD) {
        if (c->snd_nxt == c->iss) {
            cemit(c, TCPF_SYN | TCPF_ACK, our_mss(t, c->flow.family), NULL, 0);
            c->snd_nxt = c->iss + 1;
        }
        arm(c);
        return;
    }
    for (;;) {
        if (c->fin_sent)
            break;
        size_t off = c->snd_nxt - c->snd_una;
        if (off >= c->txlen)
            break;
        size_t inflight = off, room = c->snd_wnd > inflight ? c->snd_wnd - inflight : 0;
        size_t n = c->txlen - off;
        if (n > c->mss)
            n = c->mss;
        if (n > room)
            n = room;
        if (!n)
            break; /* the window is shut: the retransmission timer probes it */
        cemit(c, TCPF_ACK | TCPF_PSH, 0, c->tx + off, n);
        c->snd_nxt += (uint32_t)n;
        sent = true;
    }
    if (!c->fin_sent && c->fin_rcvd && !c->pending && c->snd_nxt - c->snd_una == c->txlen) {
        cemit(c, TCPF_FIN | TCPF_ACK, 0, NULL, 0);
        c->snd_nxt++;
        c->fin_sent = true;
        sent = true;
    }
    if (!sent && force_ack && c->acked_to != c->rcv_nxt)
        cemit(c, TCPF_ACK, 0, NULL, 0);
    arm(c);
}

static void on_timer(struct timer *tm, void *arg)
{
    struct conn *c = arg;
    if (c->snd_una == c->snd_nxt) { /* idle */
        conn_reset(c);
        return;
    }
    if (++c->retries > TCP_MAX_RETRIES) {
        conn_reset(c);
        return;
    }
    c->t->st.retransmits++;
    /* go back to the oldest byte not acknowledged */
    if (c->state == ST_SYN_RCVD) {
        c->snd_nxt = c->iss;
    } else {
        c->snd_nxt = c->snd_una;
        c->fin_sent = false;
        if (!c->snd_wnd)
            c->snd_wnd = 1; /* a window probe */
    }
    output(c, false);
}

static struct conn *by_id(struct dns_tcp *t, uint64_t id)
{
    struct conn *c = t->conns;
    while (c && c->id != id)
        c = c->next;
    return c;
}

static struct conn *conn_find(struct dns_tcp *t, const struct ipp_flow *f)
{
    for (struct conn *c = t->conns; c; c = c->next)
        if (c->flow.family == f->family && c->flow.sport == f->sport && c->flow.dport == f->dport &&
            !memcmp(c->flow.src, f->src, 16) && !memcmp(c->flow.dst, f->dst, 16))
            return c;
    return NULL;
}

/* Hand complete messages to the resolver, as many as may be pending. */
static void deliver(struct conn *c)
{
    struct dns_tcp *t = c->t;
    uint64_t id = c->id;
    if (c->delivering)
        return; /* an answer given from inside the callback: the loop below goes on */
    c->delivering = true;
    while (c->pending < TCP_MAX_PENDING && c->rxlen >= 2) {
        size_t ml = (size_t)c->rx[0] << 8 | c->rx[1];
        if (!ml) { /* nothing a DNS client sends */
            c->delivering = false;
            conn_reset(c);
            return;
        }
        if (c->rxlen < 2 + ml)
            break;
        c->pending++;
        /* the callback may answer at once (and so touch c's buffers): pass a copy */
        uint8_t *m = malloc(ml);
        if (!m) {
            c->delivering = false;
            conn_reset(c);
            return;
        }
        memcpy(m, c->rx + 2, ml);
        memmove(c->rx, c->rx + 2 + ml, c->rxlen - 2 - ml);
        c->rxlen -= 2 + ml;
        struct ipp_flow f = c->flow;
        t->ops.message(t->arg, id, &f, m, ml);
        free(m);
        if (!by_id(t, id)) /* the answer closed it */
            return;
    }
    c->delivering = false;
}

void dns_tcp_input(struct dns_tcp *t, const struct ipp_packet *p)
{
    struct conn *c = conn_find(t, &p->flow);
    if (p->flags & TCPF_RST) {
        if (c)
            conn_free(c);
        return;
    }
    if (!c) {
        if ((p->flags & (TCPF_SYN | TCPF_ACK)) != TCPF_SYN) {
            /* a stray (an old connection, a scan): RST as RFC 793 says */
            t->st.stray++;
            if (p->flags & TCPF_ACK)
                emit(t, &p->flow, p->ack, 0, TCPF_RST, 0, 0, NULL, 0);
            else
                emit(t, &p->flow, 0, p->seq + (uint32_t)p->len + ((p->flags & TCPF_FIN) ? 1 : 0),
                     TCPF_RST | TCPF_ACK, 0, 0, NULL, 0);
            return;
        }
        if (t->st.open >= TCP_MAX_CONNS) {
            t->st.refused++;
            emit(t, &p->flow, 0, p->seq + 1, TCPF_RST | TCPF_ACK, 0, 0, NULL, 0);
            return;
        }
        c = calloc(1, sizeof *c);
        if (!c || !(c->rx = malloc(TCP_RX_CAP))) {
            free(c);
            return;
        }
        c->t = t;
        c->id = ++t->next_id;
        c->flow = p->flow;
        c->state = ST_SYN_RCVD;
        randombytes_buf(&c->iss, sizeof c->iss);
        c->snd_una = c->snd_nxt = c->iss;
        c->rcv_nxt = p->seq + 1;
        c->snd_wnd = p->window;
        uint16_t mine = our_mss(t, p->flow.family);
        c->mss = p->mss ? (p->mss < mine ? p->mss : mine) : 536;
        if (c->mss < 64)
            c->mss = 64;
        timer_init(&c->timer, t->loop, on_timer, c);
        c->next = t->conns;
        t->conns = c;
        t->st.open++;
        t->st.opened++;
        output(c, false);
        return;
    }
    if (p->flags & TCPF_SYN) {
        if (c->state == ST_SYN_RCVD && p->seq + 1 == c->rcv_nxt) { /* our SYN-ACK was lost */
            c->snd_nxt = c->iss;
            output(c, false);
        } else {
            conn_reset(c); /* a new SYN on a live connection: start over */
        }
        return;
    }
    if (!(p->flags & TCPF_ACK))
        return;
    /* acknowledgement */
    if (seq_lt(c->snd_una, p->ack) && seq_le(p->ack, c->snd_nxt)) {
        uint32_t acked = p->ack - c->snd_una;
        if (c->state == ST_SYN_RCVD) {
            c->state = ST_ESTAB;
            acked--; /* the SYN */
            c->snd_una++;
        }
        size_t data = acked > c->txlen ? c->txlen : acked;
        if (data) /* tx is NULL until there is something to send */
            memmove(c->tx, c->tx + data, c->txlen - data);
        c->txlen -= data;
        c->snd_una += (uint32_t)data;
        if (acked > data) /* our FIN */
            c->snd_una = p->ack;
        c->retries = 0;
        if (c->fin_sent && p->ack == c->snd_nxt && c->fin_rcvd) {
            conn_free(c);
            return;
        }
    } else if (c->state == ST_SYN_RCVD) {
        return; /* not the ACK of our SYN */
    }
    c->snd_wnd = p->window;
    /* data, then FIN, in order only */
    bool ack_now = false;
    uint32_t seq = p->seq;
    const uint8_t *d = p->payload;
    size_t len = p->len;
    if (len && seq_lt(seq, c->rcv_nxt)) { /* partly old: keep the new part */
        uint32_t skip = c->rcv_nxt - seq;
        if (skip >= len) {
            len = 0;
            ack_now = true; /* a retransmission of what we have: it lost our ACK */
        } else {
            d += skip;
            len -= skip;
        }
        seq = c->rcv_nxt;
    }
    if (len) {
        if (seq != c->rcv_nxt || c->fin_rcvd) {
            ack_now = true; /* a gap: say where we are */
            len = 0;
        } else {
            size_t room = TCP_RX_CAP - c->rxlen;
            size_t take = len < room ? len : room;
            memcpy(c->rx + c->rxlen, d, take);
            c->rxlen += take;
            c->rcv_nxt += (uint32_t)take;
            ack_now = true;
            if (take < len)
                len = 0; /* the rest comes again when there is room; its FIN too */
        }
    }
    if ((p->flags & TCPF_FIN) && !c->fin_rcvd && p->seq + (uint32_t)p->len == c->rcv_nxt) {
        c->fin_rcvd = true;
        c->rcv_nxt++;
        ack_now = true;
    }
    uint64_t id = c->id;
    deliver(c);
    if (!by_id(t, id))
        return;
    if (c->fin_rcvd && c->rxlen && c->pending == 0 && c->rxlen < 2 + ((size_t)c->rx[0] << 8 | c->rx[1])) {
        conn_reset(c); /* closed in the middle of a message */
        return;
    }
    output(c, ack_now);
}

int dns_tcp_reply(struct dns_tcp *t, uint64_t id, const uint8_t *msg, size_t len)
{
    struct conn *c = by_id(t, id);
    if (!c)
        return -1;
    if (c->pending)
        c->pending--;
    if (!msg || !len || len > 65535) {
        conn_reset(c);
        return 0;
    }
    if (c->txlen + 2 + len > TCP_TX_MAX) {
        conn_reset(c); /* it does not read its answers */
        return 0;
    }
    if (c->txlen + 2 + len > c->txcap) {
        size_t cap = c->txcap ? c->txcap : 4096;
        while (cap < c->txlen + 2 + len)
            cap *= 2;
        uint8_t *n = realloc(c->tx, cap);
        if (!n) {
            conn_reset(c);
            return 0;
        }
        c->tx = n;
        c->txcap = cap;
    }
    c->tx[c->txlen] = (uint8_t)(len >> 8);
    c->tx[c->txlen + 1] = (uint8_t)len;
    memcpy(c->tx + c->txlen + 2, msg, len);
    c->txlen += 2 + len;
    deliver(c); /* more may have waited for a free slot */
    if (!by_id(t, id))
        return 0;
    output(c, false);
    return 0;
}

struct dns_tcp *dns_tcp_new(struct loop *l, unsigned path_mtu, const struct dns_tcp_ops *ops, void *arg)
{
    struct dns_tcp *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->loop = l;
    t->mtu = path_mtu >= 576 ? path_mtu : 576;
    t->ops = *ops;
    t->arg = arg;
    return t;
}

void dns_tcp_free(struct dns_tcp *t)
{
    if (!t)
        return;
    while (t->conns)
        conn_free(t->conns);
    free(t);
}

void dns_tcp_get_stats(const struct dns_tcp *t, struct dns_tcp_stats *st)
{
    *st = t->st;
}
