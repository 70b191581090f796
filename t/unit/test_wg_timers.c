// SPDX-License-Identifier: BSD-3-Clause
/* The timer state machine's decisions at the boundaries of every rule (spec/wireguard.md §3.6). */
#include "config.h"

#include "core/wg/timers.h"
#include "t/tap.h"

#define S WG_NSEC_PER_SEC
#define MS WG_NSEC_PER_MSEC

static struct wg_timers t;

static void fresh(uint32_t persistent)
{
    struct wg_timer_params p;
    wg_timer_params_init(&p, persistent, 1);
    wg_timers_init(&t, &p, 42);
}

int main(void)
{
    /* Retransmission and giving up. */
    fresh(0);
    is_int((long long)wg_timers_next_deadline(&t), (long long)WG_TIMER_OFF, "nothing armed at start");
    is_int(wg_timers_tick(&t, 1000 * S), 0, "a tick with nothing armed does nothing");
    is_int(wg_timers_want_handshake(&t, 0), WG_TIMER_SEND_INITIATION, "first handshake goes out");
    is_int(wg_timers_want_handshake(&t, 1 * S), 0, "another within REKEY_TIMEOUT is rate-limited");
    uint64_t d = wg_timers_next_deadline(&t);
    ok(d >= 5 * S && d < 5 * S + 334 * MS, "retransmit after REKEY_TIMEOUT + jitter < 334 ms");
    is_int(wg_timers_want_handshake(&t, 5 * S - 1), 0, "still limited just before 5 s");
    is_int(wg_timers_tick(&t, d - 1), 0, "no retransmit before the deadline");
    is_int(wg_timers_tick(&t, d), WG_TIMER_SEND_INITIATION, "retransmit at the deadline");
    int inits = 1, gave_up = 0;
    uint64_t when = 0, prev = d;
    for (int i = 0; i < 40 && !gave_up; i++) {
        d = wg_timers_next_deadline(&t);
        if (d - prev < 5 * S || d - prev >= 5 * S + 334 * MS) {
            ok(0, "retransmit interval out of range");
            break;
        }
        unsigned a = wg_timers_tick(&t, d);
        prev = d;
        if (a & WG_TIMER_SEND_INITIATION)
            inits++;
        if (a & WG_TIMER_GIVE_UP)
            gave_up = 1, when = d;
    }
    is_int(inits, 19, "19 retransmissions (attempt counter > 90 s / 5 s = 18 stops them)");
    ok(gave_up, "then gives up");
    ok(when >= 100 * S && when < 100 * S + 20 * 334 * MS, "after ~100 s");
    d = wg_timers_next_deadline(&t);
    is_int((long long)(d - when), (long long)(540 * S), "gives up: keys zeroed 3 x REJECT_AFTER_TIME later");
    is_int(wg_timers_tick(&t, d), WG_TIMER_ZERO_KEYS, "ZERO_KEYS then");
    is_int((long long)wg_timers_next_deadline(&t), (long long)WG_TIMER_OFF, "and all quiet");

    /* Handshake completion stops retransmission; the initiator confirms with a keepalive. */
    fresh(0);
    wg_timers_want_handshake(&t, 0);
    wg_timers_session_derived(&t, 1 * S);
    is_int(wg_timers_handshake_complete(&t, 1 * S, true), WG_TIMER_SEND_KEEPALIVE,
           "initiator completing sends a keepalive");
    is_int((long long)wg_timers_next_deadline(&t), (long long)(541 * S), "only the zero-keys deadline left");
    is_int(wg_timers_handshake_complete(&t, 2 * S, false), 0, "responder completing sends nothing");
    is_int(wg_timers_tick(&t, 541 * S - 1), 0, "keys live until 3 x REJECT_AFTER_TIME");
    is_int(wg_timers_tick(&t, 541 * S), WG_TIMER_ZERO_KEYS, "zeroed at 3 x REJECT_AFTER_TIME");

    /* Data sent, nothing back: new handshake after KEEPALIVE + REKEY_TIMEOUT (+ jitter). */
    fresh(0);
    wg_timers_packet_sent(&t, 10 * S, WG_PKT_DATA);
    d = wg_timers_next_deadline(&t);
    ok(d >= 25 * S && d < 25 * S + 334 * MS, "new-handshake deadline at 15 s + jitter");
    wg_timers_packet_sent(&t, 12 * S, WG_PKT_DATA);
    is_int((long long)wg_timers_next_deadline(&t), (long long)d, "more data does not push it back");
    is_int(wg_timers_tick(&t, d - 1), 0, "not before");
    is_int(wg_timers_tick(&t, d), WG_TIMER_SEND_INITIATION, "initiation at the deadline");
    fresh(0);
    wg_timers_packet_sent(&t, 10 * S, WG_PKT_DATA);
    wg_timers_packet_received(&t, 20 * S, WG_PKT_KEEPALIVE);
    is_int((long long)wg_timers_next_deadline(&t), (long long)WG_TIMER_OFF, "any reply cancels it");
    fresh(0);
    wg_timers_packet_sent(&t, 10 * S, WG_PKT_KEEPALIVE);
    is_int((long long)wg_timers_next_deadline(&t), (long long)WG_TIMER_OFF, "a keepalive sent arms nothing");

    /* Data received: keepalive after KEEPALIVE_TIMEOUT unless something goes out. */
    fresh(0);
    wg_timers_packet_received(&t, 100 * S, WG_PKT_DATA);
    is_int((long long)wg_timers_next_deadline(&t), (long long)(110 * S), "keepalive due 10 s after data in");
    is_int(wg_timers_tick(&t, 110 * S - 1), 0, "not before");
    is_int(wg_timers_tick(&t, 110 * S), WG_TIMER_SEND_KEEPALIVE, "keepalive at 10 s");
    is_int((long long)wg_timers_next_deadline(&t), (long long)WG_TIMER_OFF, "once");
    wg_timers_packet_received(&t, 200 * S, WG_PKT_DATA);
    wg_timers_packet_sent(&t, 205 * S, WG_PKT_DATA);
    is_int(wg_timers_tick(&t, 210 * S), 0, "data sent in between replaces the keepalive");
    fresh(0);
    wg_timers_packet_received(&t, 0, WG_PKT_KEEPALIVE);
    is_int((long long)wg_timers_next_deadline(&t), (long long)WG_TIMER_OFF,
           "a keepalive in needs no answer");
    wg_timers_packet_received(&t, 0, WG_PKT_DATA);
    wg_timers_packet_received(&t, 5 * S, WG_PKT_DATA);
    is_int(wg_timers_tick(&t, 10 * S), WG_TIMER_SEND_KEEPALIVE, "keepalive at 10 s");
    is_int((long long)wg_timers_next_deadline(&t), (long long)(20 * S),
           "data that came while it was pending asks for another one 10 s later");
    is_int(wg_timers_tick(&t, 20 * S), WG_TIMER_SEND_KEEPALIVE, "the second keepalive");

    /* Key freshness. */
    fresh(0);
    is_int(wg_timers_keep_fresh_sending(&t, 120 * S, 0, 5, true), 0, "initiator key of exactly 120 s: kept");
    is_int(wg_timers_keep_fresh_sending(&t, 120 * S + 1, 0, 5, true), WG_TIMER_SEND_INITIATION,
           "older than REKEY_AFTER_TIME on send: rekey");
    fresh(0);
    is_int(wg_timers_keep_fresh_sending(&t, 170 * S, 0, 5, false), 0, "the responder never rekeys on age");
    is_int(wg_timers_keep_fresh_sending(&t, 1 * S, 0, WG_REKEY_AFTER_MESSAGES, false), 0,
           "REKEY_AFTER_MESSAGES itself: kept");
    is_int(wg_timers_keep_fresh_sending(&t, 1 * S, 0, WG_REKEY_AFTER_MESSAGES + 1, false),
           WG_TIMER_SEND_INITIATION, "more than REKEY_AFTER_MESSAGES: either side rekeys");
    fresh(0);
    is_int(wg_timers_keep_fresh_receiving(&t, 165 * S, 0, true), 0, "receiving with a 165 s key: kept");
    is_int(wg_timers_keep_fresh_receiving(&t, 165 * S + 1, 0, true), WG_TIMER_SEND_INITIATION,
           "older than REJECT - KEEPALIVE - REKEY_TIMEOUT: last-minute handshake");
    is_int(wg_timers_keep_fresh_receiving(&t, 171 * S, 0, true), 0, "only once");
    wg_timers_handshake_complete(&t, 172 * S, true);
    is_int(wg_timers_keep_fresh_receiving(&t, 400 * S, 200 * S, true), WG_TIMER_SEND_INITIATION,
           "again after a completed handshake");
    is_int(wg_timers_keep_fresh_receiving(&t, 400 * S, 0, false), 0, "never for the responder");
    ok(wg_timers_key_usable(&t, 180 * S - 1, 0, 0), "usable just before REJECT_AFTER_TIME");
    ok(!wg_timers_key_usable(&t, 180 * S, 0, 0), "not at REJECT_AFTER_TIME");
    ok(wg_timers_key_usable(&t, 1, 0, WG_REJECT_AFTER_MESSAGES - 1), "usable at the last nonce");
    ok(!wg_timers_key_usable(&t, 1, 0, WG_REJECT_AFTER_MESSAGES), "not past REJECT_AFTER_MESSAGES");

    /* Persistent keepalive. */
    fresh(0);
    is_int(wg_timers_set_persistent_keepalive(&t, 0, 25 * S), WG_TIMER_SEND_KEEPALIVE,
           "turning persistent keepalive on sends one");
    is_int((long long)wg_timers_next_deadline(&t), (long long)(25 * S), "next one after the interval");
    is_int(wg_timers_tick(&t, 25 * S), WG_TIMER_SEND_KEEPALIVE, "sent at the interval");
    wg_timers_packet_received(&t, 30 * S, WG_PKT_KEEPALIVE);
    is_int((long long)wg_timers_next_deadline(&t), (long long)(55 * S), "any traffic restarts the interval");
    is_int(wg_timers_set_persistent_keepalive(&t, 31 * S, 0), 0, "turned off");
    is_int((long long)wg_timers_next_deadline(&t), (long long)WG_TIMER_OFF, "disarmed");
    fresh(0);
    wg_timers_packet_received(&t, 0, WG_PKT_DATA);
    is_int((long long)wg_timers_next_deadline(&t), (long long)(10 * S),
           "without persistent keepalive: none");

    /* Timeouts firing together are all reported. */
    fresh(0);
    wg_timers_packet_received(&t, 0, WG_PKT_DATA);
    wg_timers_session_derived(&t, 0);
    is_int(wg_timers_tick(&t, 1000 * S), WG_TIMER_SEND_KEEPALIVE | WG_TIMER_ZERO_KEYS,
           "a late tick reports every expired timer");

    /* Scaled for tests. */
    struct wg_timer_params p;
    wg_timer_params_init(&p, 0, 100);
    wg_timers_init(&t, &p, 7);
    is_int((long long)p.rekey_after_time, (long long)(1200 * MS), "scale 100: REKEY_AFTER_TIME 1.2 s");
    wg_timers_want_handshake(&t, 0);
    d = wg_timers_next_deadline(&t);
    ok(d >= 50 * MS && d < 50 * MS + 3340 * 1000, "scale 100: retransmit after 50 ms + jitter");
    ok(wg_timers_keep_fresh_sending(&t, 1300 * MS, 0, 0, true) == WG_TIMER_SEND_INITIATION,
       "scale 100: rekey after 1.2 s");
    is_int(p.max_handshakes, 18, "max attempts unchanged by scaling");

    /* Jitter is deterministic per seed and spreads peers apart. */
    struct wg_timers a, b;
    wg_timers_init(&a, NULL, 1);
    wg_timers_init(&b, NULL, 2);
    wg_timers_want_handshake(&a, 0);
    wg_timers_want_handshake(&b, 0);
    ok(wg_timers_next_deadline(&a) != wg_timers_next_deadline(&b), "different seeds, different jitter");
    return done_testing();
}
