// SPDX-License-Identifier: BSD-3-Clause
/* Sliding-window replay filter for transport counters (RFC 6479 style: a ring of 64-bit words, whole
 * words cleared as the window advances). One receiver thread owns a window: no locks, no atomics. */
#ifndef WEFT_WG_REPLAY_H
#define WEFT_WG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define WG_REPLAY_RING_WORDS 128 /* power of two */
#define WG_REPLAY_RING_BITS (WG_REPLAY_RING_WORDS * 64)
/* Counters up to this far behind the highest accepted one are still judged; the rest of the ring (one
 * word) is the part being cleared as the window moves. */
#define WG_REPLAY_WINDOW (WG_REPLAY_RING_BITS - 64) /* 8128 */

struct wg_replay {
    uint64_t last; /* highest counter accepted so far */
    uint64_t ring[WG_REPLAY_RING_WORDS];
};

void wg_replay_init(struct wg_replay *r);
/* Would `counter` be accepted? Read-only: a cheap filter before spending a decryption. */
bool wg_replay_check(const struct wg_replay *r, uint64_t counter);
/* Accept `counter` (after the packet authenticated): true if new and inside the window (it is then
 * recorded), false if replayed, too old, or >= WG_REJECT_AFTER_MESSAGES. */
bool wg_replay_update(struct wg_replay *r, uint64_t counter);

#endif
