// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/timers.h"

#include <sodium.h>
#include <string.h>

void wg_timer_params_init(struct wg_timer_params *p, uint32_t persistent_keepalive_s, unsigned scale_div)
{
    if (scale_div == 0)
        scale_div = 1;
    p->rekey_after_time = WG_REKEY_AFTER_TIME / scale_div;
    p->reject_after_time = WG_REJECT_AFTER_TIME / scale_div;
    p->rekey_attempt_time = WG_REKEY_ATTEMPT_TIME / scale_div;
    p->rekey_timeout = WG_REKEY_TIMEOUT / scale_div;
    p->jitter_max = WG_REKEY_TIMEOUT_JITTER_MAX / scale_div;
    p->keepalive_timeout = WG_KEEPALIVE_TIMEOUT / scale_div;
    p->persistent_keepalive = (uint64_t)persistent_keepalive_s * WG_NSEC_PER_SEC / scale_div;
    p->rekey_after_messages = WG_REKEY_AFTER_MESSAGES;
    p->reject_after_messages = WG_REJECT_AFTER_MESSAGES;
    p->max_handshakes = (uint32_t)WG_MAX_TIMER_HANDSHAKES;
}

void wg_timers_init(struct wg_timers *t, const struct wg_timer_params *p, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    if (p)
        t->p = *p;
    else
        wg_timer_params_init(&t->p, 0, 1);
    if (seed == 0)
        randombytes_buf(&seed, sizeof(seed));
    t->rng = seed;
    wg_timers_stop(t);
}

void wg_timers_stop(struct wg_timers *t)
{
    t->retransmit_at = t->keepalive_at = t->new_handshake_at = WG_TIMER_OFF;
    t->zero_keys_at = t->persistent_at = WG_TIMER_OFF;
    t->need_another_keepalive = false;
}

/* splitmix64: only spreads retransmissions of many peers apart, needs no cryptographic strength. */
static uint64_t jitter(struct wg_timers *t)
{
    if (t->p.jitter_max == 0)
        return 0;
    uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z % t->p.jitter_max;
}

static uint64_t after(uint64_t now, uint64_t d)
{
    return d >= WG_TIMER_OFF - now ? WG_TIMER_OFF - 1 : now + d;
}

/* Any authenticated packet in either direction restarts the persistent keepalive interval. */
static void traversal(struct wg_timers *t, uint64_t now)
{
    if (t->p.persistent_keepalive)
        t->persistent_at = after(now, t->p.persistent_keepalive);
}

static void any_sent(struct wg_timers *t, uint64_t now)
{
    traversal(t, now);
    t->keepalive_at = WG_TIMER_OFF; /* whatever we sent tells the peer we are alive */
}

static unsigned send_initiation(struct wg_timers *t, uint64_t now, bool retry)
{
    if (!retry)
        t->handshake_attempts = 0;
    if (t->sent_handshake && now - t->last_sent_handshake < t->p.rekey_timeout)
        return 0;
    t->sent_handshake = true;
    t->last_sent_handshake = now;
    any_sent(t, now);
    t->retransmit_at = after(now, t->p.rekey_timeout + jitter(t));
    return WG_TIMER_SEND_INITIATION;
}

static unsigned send_keepalive(struct wg_timers *t, uint64_t now)
{
    any_sent(t, now);
    return WG_TIMER_SEND_KEEPALIVE;
}

unsigned wg_timers_want_handshake(struct wg_timers *t, uint64_t now)
{
    return send_initiation(t, now, false);
}

void wg_timers_packet_sent(struct wg_timers *t, uint64_t now, enum wg_timer_pkt kind)
{
    any_sent(t, now);
    /* Data out and nothing back within KEEPALIVE + REKEY_TIMEOUT: the session may be dead. */
    if (kind == WG_PKT_DATA && t->new_handshake_at == WG_TIMER_OFF)
        t->new_handshake_at = after(now, t->p.keepalive_timeout + t->p.rekey_timeout + jitter(t));
}

void wg_timers_packet_received(struct wg_timers *t, uint64_t now, enum wg_timer_pkt kind)
{
    traversal(t, now);
    t->new_handshake_at = WG_TIMER_OFF;
    if (kind != WG_PKT_DATA)
        return;
    /* Data in: acknowledge with a keepalive unless we send something within KEEPALIVE_TIMEOUT. */
    if (t->keepalive_at == WG_TIMER_OFF)
        t->keepalive_at = after(now, t->p.keepalive_timeout);
    else
        t->need_another_keepalive = true;
}

void wg_timers_session_derived(struct wg_timers *t, uint64_t now)
{
    t->zero_keys_at = after(now, 3 * t->p.reject_after_time);
}

unsigned wg_timers_handshake_complete(struct wg_timers *t, uint64_t now, bool initiator)
{
    t->retransmit_at = WG_TIMER_OFF;
    t->handshake_attempts = 0;
    t->sent_last_minute_handshake = false;
    t->have_handshake = true;
    t->last_handshake = now;
    return initiator ? send_keepalive(t, now) : 0;
}

unsigned wg_timers_keep_fresh_sending(struct wg_timers *t, uint64_t now, uint64_t created,
                                      uint64_t send_counter, bool initiator)
{
    if (send_counter > t->p.rekey_after_messages || (initiator && now - created > t->p.rekey_after_time))
        return send_initiation(t, now, false);
    return 0;
}

unsigned wg_timers_keep_fresh_receiving(struct wg_timers *t, uint64_t now, uint64_t created, bool initiator)
{
    if (t->sent_last_minute_handshake || !initiator)
        return 0;
    uint64_t limit = t->p.reject_after_time - t->p.keepalive_timeout - t->p.rekey_timeout;
    if (now - created > limit) {
        t->sent_last_minute_handshake = true;
        return send_initiation(t, now, false);
    }
    return 0;
}

bool wg_timers_key_usable(const struct wg_timers *t, uint64_t now, uint64_t created, uint64_t counter)
{
    return now - created < t->p.reject_after_time && counter < t->p.reject_after_messages;
}

unsigned wg_timers_tick(struct wg_timers *t, uint64_t now)
{
    unsigned act = 0;
    if (now >= t->zero_keys_at) {
        t->zero_keys_at = WG_TIMER_OFF;
        act |= WG_TIMER_ZERO_KEYS;
    }
    if (now >= t->retransmit_at) {
        t->retransmit_at = WG_TIMER_OFF;
        if (t->handshake_attempts > t->p.max_handshakes) {
            act |= WG_TIMER_GIVE_UP;
            t->keepalive_at = WG_TIMER_OFF;
            /* Keys left over from before the attempts still go, 3 x REJECT_AFTER_TIME from now at the
             * latest. */
            if (t->zero_keys_at == WG_TIMER_OFF)
                t->zero_keys_at = after(now, 3 * t->p.reject_after_time);
        } else {
            t->handshake_attempts++;
            act |= send_initiation(t, now, true);
        }
    }
    if (now >= t->new_handshake_at) {
        t->new_handshake_at = WG_TIMER_OFF;
        act |= send_initiation(t, now, false);
    }
    if (now >= t->persistent_at) {
        t->persistent_at = WG_TIMER_OFF;
        if (t->p.persistent_keepalive)
            act |= send_keepalive(t, now);
    }
    if (now >= t->keepalive_at) {
        t->keepalive_at = WG_TIMER_OFF;
        act |= send_keepalive(t, now);
        if (t->need_another_keepalive) {
            t->need_another_keepalive = false;
            t->keepalive_at = after(now, t->p.keepalive_timeout);
        }
    }
    return act;
}

uint64_t wg_timers_next_deadline(const struct wg_timers *t)
{
    uint64_t d = t->retransmit_at;
    if (t->keepalive_at < d)
        d = t->keepalive_at;
    if (t->new_handshake_at < d)
        d = t->new_handshake_at;
    if (t->zero_keys_at < d)
        d = t->zero_keys_at;
    if (t->persistent_at < d)
        d = t->persistent_at;
    return d;
}

unsigned wg_timers_set_persistent_keepalive(struct wg_timers *t, uint64_t now, uint64_t interval)
{
    bool was_off = t->p.persistent_keepalive == 0;
    t->p.persistent_keepalive = interval;
    if (interval == 0) {
        t->persistent_at = WG_TIMER_OFF;
        return 0;
    }
    if (was_off)
        return send_keepalive(t, now);
    t->persistent_at = after(now, interval);
    return 0;
}
