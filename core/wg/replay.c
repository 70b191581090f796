// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/replay.h"

#include <string.h>

#include "core/wg/constants.h"

#define RING_MASK (WG_REPLAY_RING_WORDS - 1)

void wg_replay_init(struct wg_replay *r)
{
    memset(r, 0, sizeof(*r));
}

bool wg_replay_check(const struct wg_replay *r, uint64_t counter)
{
    if (counter >= WG_REJECT_AFTER_MESSAGES)
        return false;
    if (counter > r->last)
        return true;
    if (r->last - counter > WG_REPLAY_WINDOW)
        return false;
    uint64_t word = r->ring[(counter >> 6) & RING_MASK];
    return !(word & (1ULL << (counter & 63)));
}

bool wg_replay_update(struct wg_replay *r, uint64_t counter)
{
    if (counter >= WG_REJECT_AFTER_MESSAGES)
        return false;
    uint64_t block = counter >> 6;
    if (counter > r->last) {
        /* Slide forward: clear the words between the old top word and the new one (at most the whole
         * ring). The bits of the new top word that are not yet seen are zero after this. */
        uint64_t cur = r->last >> 6;
        uint64_t diff = block - cur;
        if (diff > WG_REPLAY_RING_WORDS)
            diff = WG_REPLAY_RING_WORDS;
        for (uint64_t i = 1; i <= diff; i++)
            r->ring[(cur + i) & RING_MASK] = 0;
        r->last = counter;
    } else if (r->last - counter > WG_REPLAY_WINDOW) {
        return false;
    }
    uint64_t bit = 1ULL << (counter & 63);
    uint64_t *w = &r->ring[block & RING_MASK];
    if (*w & bit)
        return false;
    *w |= bit;
    return true;
}
