// SPDX-License-Identifier: BSD-3-Clause
/* One peer's paths (spec disco.md §4; the behaviour of tailscale's magicsock endpoint, our own code):
 *
 *  - candidates: the netmap's Endpoints, the addresses its last CallMeMaybe listed, and the sources of
 *    its disco pings; each with when we last pinged it and its last pong's latency;
 *  - sending: over UDP only while the best address is trusted (a pong in the last 6.5 s), else through
 *    DERP (and to the untrusted best address too), starting discovery: a ping to every candidate not
 *    pinged in 5 s and, if any went out, a CallMeMaybe through DERP with our endpoints so the peer pings
 *    back at once (both NATs open);
 *  - a pong for one of our pings makes its address the best if it is better (lower latency, with
 *    preferences for private, link-local and IPv6 addresses, and hysteresis) or the best is untrusted;
 *  - while we send (45 s), a heartbeat every 3 s pings the best address and, every 60 s or when trust
 *    lapsed, all candidates (no search when the best is under 5 ms);
 *  - when pongs stop, trust lapses after 6.5 s: DERP carries the packets again while discovery goes on.
 *
 * A pong counts only from where its ping went (the UDP address pinged, or DERP for a DERP ping): a valid
 * box from another address is someone replaying it.
 *
 * Ours beyond Tailscale: a ping that arrives over UDP while we have no trusted path to its sender is
 * answered with a ping back to its source (at most once a second per address). Our own first ping there
 * was most likely dropped by the peer's NAT before the peer's CallMeMaybe pings opened it; waiting out
 * the 5 s discovery interval would leave this side on DERP that long. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "core/log.h"
#include "modules/node/magicsock/ms_int.h"

/* Grow the array *v of *cap elements of size sz by up to 4 (not past max), the new ones zeroed. Returns 1,
 * or 0 (out of memory or at max: the array is as it was). Pointers into the array are stale after. */
static int grow(void **v, uint8_t *cap, size_t sz, size_t max)
{
    size_t n = *cap + 4u > max ? max : *cap + 4u;
    if (n <= *cap)
        return 0;
    uint8_t *w = realloc(*v, n * sz);
    if (!w)
        return 0;
    memset(w + *cap * sz, 0, (n - *cap) * sz);
    *v = w;
    *cap = (uint8_t)n;
    return 1;
}

/* ---- candidates ---- */

static struct ms_epstate *ep_find(struct ms_peer *p, const struct disco_addr *a)
{
    for (size_t i = 0; i < p->eps_cap; i++)
        if (p->eps[i].used && ms_addr_eq(&p->eps[i].addr, a))
            return &p->eps[i];
    return NULL;
}

static void clear_best(struct ms_peer *p)
{
    if (p->have_best) {
        char a[64];
        log_info("module=node event=path peer=%lld name=%s path=derp was=%s", (long long)p->id, p->name,
                 ms_addr_format(&p->best, a, sizeof a));
        p->m->st.path_changes++;
    }
    p->have_best = false;
    memset(&p->best, 0, sizeof p->best);
    p->best_latency_us = 0;
    p->best_at = p->trust_until = 0;
}

static void ep_delete(struct ms_peer *p, struct ms_epstate *st)
{
    if (p->have_best && ms_addr_eq(&p->best, &st->addr))
        clear_best(p);
    memset(st, 0, sizeof *st);
}

/* A new candidate. When the table is full the stalest candidate learned from pings gives way (the netmap
 * and CallMeMaybe ones are the peer's own word); NULL if there is none. */
static struct ms_epstate *ep_add(struct ms_peer *p, const struct disco_addr *a)
{
    struct ms_epstate *slot = NULL, *stalest = NULL;
    for (size_t i = 0; i < p->eps_cap && !slot; i++)
        if (!p->eps[i].used)
            slot = &p->eps[i];
    if (!slot && grow((void **)&p->eps, &p->eps_cap, sizeof *p->eps, MS_MAX_EPS))
        slot = &p->eps[p->eps_cap - 1];
    if (!slot) {
        for (size_t i = 0; i < p->eps_cap; i++) {
            struct ms_epstate *st = &p->eps[i];
            if (st->last_got_ping && st->index < 0 && !st->cmm_time &&
                !(p->have_best && ms_addr_eq(&p->best, &st->addr)) &&
                (!stalest || st->last_got_ping < stalest->last_got_ping))
                stalest = st;
        }
        p->m->st.candidates_dropped++;
        if (!stalest)
            return NULL;
        ep_delete(p, stalest);
        slot = stalest;
    }
    memset(slot, 0, sizeof *slot);
    slot->used = true;
    slot->index = -1;
    slot->addr = *a;
    return slot;
}

static bool ep_should_delete(const struct ms_epstate *st, uint64_t now)
{
    if (st->cmm_time)
        return false;
    if (!st->last_got_ping)
        return st->index < 0; /* from the netmap, and no longer there */
    return now - st->last_got_ping > MS_SESSION_ACTIVE_MS;
}

void ms_peer_set_netmap_endpoints(struct ms_peer *p, const char *const *eps, size_t n)
{
    for (size_t i = 0; i < p->eps_cap; i++)
        p->eps[i].index = -1;
    for (size_t i = 0; i < n && i < 1000; i++) {
        struct disco_addr a;
        if (ms_addr_parse(eps[i], &a)) {
            log_debug("module=node event=bad_endpoint peer=%lld endpoint=\"%.64s\"", (long long)p->id, eps[i]);
            continue;
        }
        struct ms_epstate *st = ep_find(p, &a);
        if (!st)
            st = ep_add(p, &a);
        if (st)
            st->index = (int16_t)i;
    }
    uint64_t now = loop_now(p->m->loop);
    for (size_t i = 0; i < p->eps_cap; i++)
        if (p->eps[i].used && ep_should_delete(&p->eps[i], now))
            ep_delete(p, &p->eps[i]);
}

/* ---- the best address ---- */

/* Is a (latency la) a better path than b (lb)? Tailscale's betterAddr: points for being faster than the
 * slower of the two (percent), +50 loopback, +30 link-local, +20 private, +10 IPv6; a 1% edge alone does
 * not switch (stickiness). */
static bool better(const struct disco_addr *a, uint32_t la, const struct disco_addr *b, bool have_b, uint32_t lb)
{
    if (have_b && ms_addr_eq(a, b))
        return false;
    if (!have_b)
        return true;
    int ap = 0, bp = 0;
    if (la > lb && la > 0)
        bp = (int)(100 - (uint64_t)lb * 100 / la);
    else if (lb > 0)
        ap = (int)(100 - (uint64_t)la * 100 / lb);
    ap += ms_addr_is_loopback(a) ? 50 : ms_addr_is_linklocal(a) ? 30 : ms_addr_is_private(a) ? 20 : 0;
    bp += ms_addr_is_loopback(b) ? 50 : ms_addr_is_linklocal(b) ? 30 : ms_addr_is_private(b) ? 20 : 0;
    if (!ms_addr_is4(a))
        ap += 10;
    if (!ms_addr_is4(b))
        bp += 10;
    if (ap <= 1 && bp == 0)
        return false;
    return ap > bp;
}

static void set_best(struct ms_peer *p, const struct disco_addr *a, uint32_t latency_us)
{
    char t[64];
    log_info("module=node event=path peer=%lld name=%s path=direct addr=%s latency_ms=%.2f", (long long)p->id,
             p->name, ms_addr_format(a, t, sizeof t), latency_us / 1000.0);
    p->m->st.path_changes++;
    p->have_best = true;
    p->best = *a;
    p->best_latency_us = latency_us;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    p->best_since_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pings ---- */

static void arm_ping_timer(struct ms_peer *p)
{
    uint64_t first = 0;
    for (size_t i = 0; i < p->pings_cap; i++)
        if (p->pings[i].used && (!first || p->pings[i].at < first))
            first = p->pings[i].at;
    if (!first) {
        timer_stop(&p->t_ping);
        return;
    }
    timer_start_at(&p->t_ping, first + MS_PING_TIMEOUT_MS);
}

static void on_ping_timeout(struct timer *t, void *arg)
{
    struct ms_peer *p = arg;
    uint64_t now = loop_now(p->m->loop);
    for (size_t i = 0; i < p->pings_cap; i++) {
        struct ms_sent_ping *sp = &p->pings[i];
        if (!sp->used || sp->at + MS_PING_TIMEOUT_MS > now)
            continue;
        sp->used = false;
        /* no pong: a best address that also lost its trust is given up; maybe our side moved */
        if (!sp->derp && p->have_best && ms_addr_eq(&sp->to, &p->best) && now > p->trust_until) {
            clear_best(p);
            ms_path_lost(p->m);
        }
    }
    arm_ping_timer(p);
}

static void start_ping(struct ms_peer *p, const struct disco_addr *to, int region, uint64_t now,
                       enum ms_ping_purpose purpose)
{
    struct ms *m = p->m;
    if (!p->have_disco || !m->have_keys)
        return;
    if (to && purpose != MS_PING_CLI) {
        struct ms_epstate *st = ep_find(p, to);
        if (!st)
            return; /* not a live candidate */
        st->last_ping = now;
    }
    struct ms_sent_ping *sp = NULL, *oldest = NULL;
    for (size_t i = 0; i < p->pings_cap && !sp; i++) {
        if (!p->pings[i].used)
            sp = &p->pings[i];
        else if (!oldest || p->pings[i].at < oldest->at)
            oldest = &p->pings[i];
    }
    if (!sp && grow((void **)&p->pings, &p->pings_cap, sizeof *p->pings, MS_MAX_PINGS))
        sp = &p->pings[p->pings_cap - 1];
    else if (!sp)
        sp = oldest; /* full: the oldest ping is as good as timed out */
    if (!sp)
        return;
    memset(sp, 0, sizeof *sp);
    randombytes_buf(sp->txid, sizeof sp->txid);
    sp->derp = to == NULL;
    if (to)
        sp->to = *to;
    sp->region = region;
    sp->at = now;
    sp->at_us = ms_now_us();
    sp->purpose = (uint8_t)purpose;
    sp->used = true;
    uint8_t plain[64];
    long n = disco_ping_encode(plain, sizeof plain, sp->txid, m->node_pub, 0);
    if (n < 0 || !ms_send_disco(m, p, to, region, plain, (size_t)n)) {
        sp->used = false; /* could not send (no route, no IPv6): forget it */
        return;
    }
    m->st.ping_tx++;
    if (!timer_armed(&p->t_ping))
        arm_ping_timer(p);
}

static void send_cmm(struct ms_peer *p)
{
    struct ms *m = p->m;
    struct disco_addr eps[MS_MAX_LOCAL_EPS];
    for (size_t i = 0; i < m->neps; i++)
        eps[i] = m->eps[i].addr;
    uint8_t plain[2 + MS_MAX_LOCAL_EPS * DISCO_EP_LEN];
    long n = disco_call_me_maybe_encode(plain, sizeof plain, eps, m->neps);
    if (n > 0 && ms_send_disco(m, p, NULL, ms_peer_region(p), plain, (size_t)n)) {
        m->st.cmm_tx++;
        log_debug("module=node event=call_me_maybe peer=%lld endpoints=%zu", (long long)p->id, m->neps);
    }
}

/* CallMeMaybe with our endpoints, once they are fresh (re-STUN first if they are not). */
static void enqueue_cmm(struct ms_peer *p)
{
    struct ms *m = p->m;
    uint64_t now = loop_now(m->loop);
    if (!m->eps_time || now - m->eps_time > MS_ENDPOINTS_FRESH_MS) {
        log_debug("module=node event=call_me_maybe_wait peer=%lld msg=\"endpoints stale: re-STUN first\"",
                  (long long)p->id);
        p->want_cmm = true;
        ms_restun(m, "refresh-for-peering");
        return;
    }
    send_cmm(p);
}

void ms_peer_endpoints_fresh(struct ms_peer *p)
{
    if (!p->want_cmm)
        return;
    p->want_cmm = false;
    send_cmm(p);
}

/* Ping every candidate not pinged in the last 5 s; with send_cmm, tell the peer to ping back. */
static void send_disco_pings(struct ms_peer *p, uint64_t now, bool with_cmm)
{
    p->last_full_ping = now;
    bool any = false;
    for (size_t i = 0; i < p->eps_cap; i++) {
        struct ms_epstate *st = &p->eps[i];
        if (!st->used)
            continue;
        if (ep_should_delete(st, now)) {
            ep_delete(p, st);
            continue;
        }
        if (st->last_ping && now - st->last_ping < MS_DISCO_PING_INTERVAL_MS)
            continue;
        any = true;
        start_ping(p, &st->addr, 0, now, MS_PING_DISCOVERY);
    }
    if (any && with_cmm && ms_peer_region(p))
        enqueue_cmm(p);
}

static bool want_full_ping(const struct ms_peer *p, uint64_t now)
{
    if (!p->have_best || !p->last_full_ping)
        return true;
    if (now > p->trust_until)
        return true;
    if (p->best_latency_us <= MS_GOOD_ENOUGH_LATENCY_US)
        return false;
    return now - p->last_full_ping >= MS_UPGRADE_DIRECT_MS;
}

static void on_heartbeat(struct timer *t, void *arg)
{
    struct ms_peer *p = arg;
    uint64_t now = loop_now(p->m->loop);
    if (!p->last_send_ext || now - p->last_send_ext > MS_SESSION_ACTIVE_MS)
        return; /* idle: heartbeats stop until the next send */
    if (now > p->trust_until) {
        size_t n = 0;
        for (size_t i = 0; i < p->eps_cap; i++)
            n += p->eps[i].used;
        log_debug("module=node event=heartbeat peer=%lld best=%s candidates=%zu", (long long)p->id,
                  p->have_best ? "untrusted" : "none", n);
    }
    if (p->have_best)
        start_ping(p, &p->best, 0, now, MS_PING_HEARTBEAT);
    if (want_full_ping(p, now))
        send_disco_pings(p, now, true);
    timer_start(&p->t_heartbeat, MS_HEARTBEAT_MS);
}

/* ---- the engine's packets ---- */

void ms_peer_send(struct ms_peer *p, const struct iovec *pkts, size_t n)
{
    struct ms *m = p->m;
    uint64_t now = loop_now(m->loop);
    bool trusted = p->have_best && now <= p->trust_until;
    bool was_idle = !p->last_send_ext || now - p->last_send_ext > MS_SESSION_ACTIVE_MS;
    p->last_send_ext = now;
    if (was_idle)
        ms_endpoints_active(m); /* periodic re-STUN resumes (it stops while every peer is idle) */
    if (!trusted)
        send_disco_pings(p, now, true);
    if (!timer_armed(&p->t_heartbeat))
        timer_start(&p->t_heartbeat, MS_HEARTBEAT_MS);
    if (p->have_best && ms_send_udp(m, &p->best, pkts, n))
        p->tx_direct += n;
    if (trusted)
        return;
    int region = ms_peer_region(p);
    for (size_t i = 0; i < n; i++)
        if (m->cbs.derp_send && m->cbs.derp_send(m->arg, region, p->key, &pkts[i], 1) == 0)
            p->tx_derp++;
}

/* ---- disco messages ---- */

bool ms_peer_add_candidate(struct ms_peer *p, const struct disco_addr *src, const uint8_t txid[12])
{
    uint64_t now = loop_now(p->m->loop);
    struct ms_epstate *st = ep_find(p, src);
    if (st) {
        bool dup = memcmp(txid, st->last_got_ping_txid, DISCO_TXID_LEN) == 0;
        memcpy(st->last_got_ping_txid, txid, DISCO_TXID_LEN);
        if (st->last_got_ping)
            st->last_got_ping = now; /* a runtime candidate stays while it keeps pinging */
        return dup;
    }
    st = ep_add(p, src);
    if (!st)
        return false;
    st->last_got_ping = now;
    memcpy(st->last_got_ping_txid, txid, DISCO_TXID_LEN);
    char a[64];
    log_debug("module=node event=candidate peer=%lld addr=%s", (long long)p->id, ms_addr_format(src, a, sizeof a));
    return false;
}

void ms_peer_ping_back(struct ms_peer *p, const struct disco_addr *src)
{
    uint64_t now = loop_now(p->m->loop);
    if (p->have_best && now <= p->trust_until)
        return; /* we have a path; heartbeats keep it */
    struct ms_epstate *st = ep_find(p, src);
    if (!st || (st->last_ping && now - st->last_ping < MS_PING_BACK_MS))
        return;
    start_ping(p, src, 0, now, MS_PING_DISCOVERY);
}

bool ms_peer_handle_pong(struct ms_peer *p, const struct disco_msg *msg, const struct disco_addr *src, int region)
{
    struct ms_sent_ping *sp = NULL;
    for (size_t i = 0; i < p->pings_cap && !sp; i++)
        if (p->pings[i].used && memcmp(p->pings[i].txid, msg->pong.tx_id, DISCO_TXID_LEN) == 0)
            sp = &p->pings[i];
    if (!sp)
        return false;
    if (region ? !sp->derp : (sp->derp || !ms_addr_eq(&sp->to, src))) {
        p->m->st.pong_wrong_path++; /* a genuine box, but not from where the ping went: ignored */
        return true;
    }
    uint64_t now = loop_now(p->m->loop);
    uint64_t lat = ms_now_us() - sp->at_us;
    uint32_t latency = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
    struct ms_sent_ping ping = *sp;
    sp->used = false;
    arm_ping_timer(p);
    if (ping.purpose != MS_PING_HEARTBEAT) {
        char a[64];
        log_debug("module=node event=pong peer=%lld from=%s latency_ms=%.2f", (long long)p->id,
                  ping.derp ? "derp" : ms_addr_format(&ping.to, a, sizeof a), latency / 1000.0);
    }
    if (ping.derp)
        return true;
    struct ms_epstate *st = ep_find(p, &ping.to);
    if (!st)
        return true; /* no longer a candidate */
    st->last_pong = now;
    st->latency_us = latency;
    st->pong_src = msg->pong.src;
    bool untrusted = now > p->trust_until;
    if (better(&ping.to, latency, &p->best, p->have_best, p->best_latency_us) || untrusted) {
        if (!p->have_best || !ms_addr_eq(&p->best, &ping.to))
            set_best(p, &ping.to, latency);
    }
    if (p->have_best && ms_addr_eq(&p->best, &ping.to)) {
        p->best_latency_us = latency;
        p->best_at = now;
        p->trust_until = now + MS_TRUST_UDP_MS;
    }
    return true;
}

void ms_peer_handle_cmm(struct ms_peer *p, const struct disco_msg *msg)
{
    uint64_t now = loop_now(p->m->loop);
    bool was[MS_MAX_EPS] = {false};
    for (size_t i = 0; i < p->eps_cap; i++) {
        was[i] = p->eps[i].used && p->eps[i].cmm;
        p->eps[i].cmm = false;
    }
    size_t added = 0;
    for (size_t i = 0; i < msg->call_me_maybe.n && i < 1000; i++) {
        struct disco_addr a;
        disco_endpoint_get(msg->call_me_maybe.endpoints, i, &a);
        if (!ms_addr_valid(&a) || (!ms_addr_is4(&a) && ms_addr_is_linklocal(&a)))
            continue; /* IPv6 link-local needs a zone: ignored, as Tailscale does */
        struct ms_epstate *st = ep_find(p, &a);
        if (!st) {
            st = ep_add(p, &a);
            added += st != NULL;
        }
        if (!st)
            continue;
        st->cmm = true;
        st->cmm_time = now;
    }
    /* what its previous CallMeMaybe listed and this one does not goes (unless the netmap lists it) */
    for (size_t i = 0; i < p->eps_cap; i++)
        if (was[i] && p->eps[i].used && !p->eps[i].cmm) {
            p->eps[i].cmm_time = 0;
            if (p->eps[i].index < 0 && !p->eps[i].last_got_ping)
                ep_delete(p, &p->eps[i]);
        }
    log_debug("module=node event=call_me_maybe_rx peer=%lld endpoints=%zu new=%zu", (long long)p->id,
              msg->call_me_maybe.n, added);
    /* the peer just pinged us from these: ping them all back now, whatever the 5 s rule says */
    for (size_t i = 0; i < p->eps_cap; i++)
        p->eps[i].last_ping = 0;
    send_disco_pings(p, now, false);
}

bool ms_peer_pong_allowed(struct ms_peer *p)
{
    uint64_t now = loop_now(p->m->loop);
    uint64_t add = (now - p->pong_refill) * MS_PONG_RATE / 1000;
    if (add) {
        p->pong_tokens = (uint32_t)(p->pong_tokens + add > MS_PONG_BURST ? MS_PONG_BURST : p->pong_tokens + add);
        p->pong_refill = now;
    }
    if (!p->pong_tokens)
        return false;
    p->pong_tokens--;
    return true;
}

/* ---- life ---- */

void ms_peer_init(struct ms_peer *p)
{
    timer_init(&p->t_heartbeat, p->m->loop, on_heartbeat, p);
    timer_init(&p->t_ping, p->m->loop, on_ping_timeout, p);
    p->pong_tokens = MS_PONG_BURST;
    p->pong_refill = loop_now(p->m->loop);
}

void ms_peer_stop(struct ms_peer *p)
{
    timer_stop(&p->t_heartbeat);
    timer_stop(&p->t_ping);
}

void ms_peer_reset(struct ms_peer *p)
{
    clear_best(p);
    p->last_send_ext = p->last_full_ping = 0;
    p->want_cmm = false;
    for (size_t i = 0; i < p->eps_cap; i++) {
        struct ms_epstate *st = &p->eps[i];
        st->last_ping = st->last_pong = 0;
        st->latency_us = 0;
    }
    free(p->pings);
    p->pings = NULL;
    p->pings_cap = 0;
    timer_stop(&p->t_ping);
}
