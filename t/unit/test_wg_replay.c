// SPDX-License-Identifier: BSD-3-Clause
/* The transport replay window: order, reordering inside the window, age limit, duplicates, large
 * counters, the REJECT_AFTER_MESSAGES ceiling, and agreement with a naive model on random traffic. */
#include "config.h"

#include <stdbool.h>

#include "core/wg/constants.h"
#include "core/wg/replay.h"
#include "t/tap.h"

static struct wg_replay r;

/* Reference: remember every accepted counter in a big bitmap; accept if new and max - c <= WINDOW. */
#define MODEL_BITS (1u << 20)
static uint8_t seen[MODEL_BITS / 8];
static uint64_t model_max;
static bool model_any;

static bool model(uint64_t c)
{
    if (model_any && c < model_max && model_max - c > WG_REPLAY_WINDOW)
        return false;
    if (seen[c / 8] & (1u << (c % 8)))
        return false;
    seen[c / 8] |= (uint8_t)(1u << (c % 8));
    if (!model_any || c > model_max)
        model_max = c;
    model_any = true;
    return true;
}

int main(void)
{
    wg_replay_init(&r);
    int fails = 0;
    for (uint64_t c = 0; c < 20000; c++)
        fails += !wg_replay_update(&r, c);
    is_int(fails, 0, "20000 counters in order all accepted");
    ok(!wg_replay_update(&r, 19999), "the latest counter again is refused");
    ok(!wg_replay_update(&r, 12345), "an old duplicate inside the window is refused");
    ok(!wg_replay_update(&r, 0), "counter 0 far behind is refused");

    wg_replay_init(&r);
    ok(wg_replay_update(&r, 100), "jump to 100");
    ok(wg_replay_update(&r, 50), "50 out of order within the window");
    ok(!wg_replay_update(&r, 50), "50 again refused");
    ok(wg_replay_check(&r, 99), "check: 99 would be accepted");
    ok(wg_replay_update(&r, 99), "99 accepted");
    ok(!wg_replay_check(&r, 99), "check: 99 no longer");
    ok(wg_replay_update(&r, 0), "0 still inside the window");

    wg_replay_init(&r);
    uint64_t top = 10 * (uint64_t)WG_REPLAY_WINDOW + 17;
    ok(wg_replay_update(&r, top), "advance far ahead");
    ok(wg_replay_update(&r, top - WG_REPLAY_WINDOW), "exactly WINDOW behind: accepted");
    ok(!wg_replay_update(&r, top - WG_REPLAY_WINDOW - 1), "WINDOW + 1 behind: refused");
    ok(!wg_replay_check(&r, top - WG_REPLAY_WINDOW - 1), "check agrees");
    ok(wg_replay_update(&r, top - 1), "just behind the top");
    ok(WG_REPLAY_WINDOW >= 2048, "window is at least 2048 packets");

    /* Stale bits must not survive a slide: bits set at c are cleared when the ring comes round. */
    wg_replay_init(&r);
    ok(wg_replay_update(&r, 5), "5");
    ok(wg_replay_update(&r, 5 + WG_REPLAY_RING_BITS), "one full ring later");
    ok(!wg_replay_update(&r, 5 + WG_REPLAY_RING_BITS), "its duplicate refused");
    ok(wg_replay_update(&r, 5 + WG_REPLAY_RING_BITS - 64), "same slot one word back, not a false duplicate");
    ok(wg_replay_update(&r, 6 + 2 * WG_REPLAY_RING_BITS + 3), "slide by more than the ring");
    ok(wg_replay_update(&r, 5 + 2 * WG_REPLAY_RING_BITS), "a counter aliasing an old one is fresh");

    /* Near the top of the counter space. */
    wg_replay_init(&r);
    uint64_t hi = WG_REJECT_AFTER_MESSAGES - 1;
    ok(wg_replay_update(&r, hi - 3000), "a counter near 2^64");
    ok(wg_replay_update(&r, hi), "REJECT_AFTER_MESSAGES - 1 accepted");
    ok(!wg_replay_update(&r, hi), "and not twice");
    ok(wg_replay_update(&r, hi - 3000 + 1), "behind it, within the window");
    ok(!wg_replay_update(&r, WG_REJECT_AFTER_MESSAGES), "REJECT_AFTER_MESSAGES refused");
    ok(!wg_replay_check(&r, UINT64_MAX), "UINT64_MAX refused");
    ok(!wg_replay_update(&r, UINT64_MAX), "UINT64_MAX refused by update");
    is_int((long long)(WG_REJECT_AFTER_MESSAGES - (UINT64_MAX - 8192)), 0,
           "REJECT_AFTER_MESSAGES = 2^64-2^13-1");

    /* Random walk against the model: mostly forward, with reordering, duplicates and stragglers. */
    wg_replay_init(&r);
    uint64_t x = 0x243f6a8885a308d3ULL, c = 0;
    int mism = 0;
    long accepted = 0;
    for (int i = 0; i < 400000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t probe;
        switch (x % 8) {
        case 0: probe = c > 9000 ? c - 9000 + (x >> 8) % 2000 : (x >> 8) % 2000; break; /* near the edge */
        case 1: probe = c > 64 ? c - (x >> 8) % 64 : 0; break;                           /* duplicates */
        default: c += 1 + (x >> 8) % 3; probe = c; break;
        }
        if (probe >= MODEL_BITS)
            break;
        bool want = model(probe);
        bool got = wg_replay_update(&r, probe);
        mism += want != got;
        accepted += got;
    }
    is_int(mism, 0, "agrees with the naive model on random traffic");
    ok(accepted > 100000, "the random walk exercised acceptance");
    return done_testing();
}
