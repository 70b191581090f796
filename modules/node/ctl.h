// SPDX-License-Identifier: BSD-3-Clause
/* The node's control session (spec control-ts2021.md §6-§7): over core/control_client's Noise + HTTP/2
 * channel, /machine/register (pre-auth key, interactive AuthURL + Followup, re-login, node-key rotation,
 * logout), then a lite map request and the streaming /machine/map long poll whose MapResponses (zstd
 * frames) go to the daemon; lite endpoint updates while the stream stays open. When control goes away,
 * or says nothing for 120 s, it reconnects with exponential backoff and jitter. */
#ifndef WEFT_NODE_CTL_H
#define WEFT_NODE_CTL_H

#include <stdint.h>

struct node;
struct ctl;

/* The capability version we announce (Noise prologue, RegisterRequest, MapRequest). */
#define NODE_CAPVER 113

/* Start a session for n (login with n->authkey if the node key is not registered yet). NULL if OOM. */
struct ctl *ctl_new(struct node *n);
/* Close the channel (the map stream ends: control marks us offline) and free; no callback follows. */
void ctl_free(struct ctl *c);

/* Our home DERP, endpoints or NetInfo may have changed: a lite map request if the stream is up and what
 * control last heard differs. */
void ctl_send_update(struct ctl *c);
/* The self node's key expiry as control says (unix seconds, 0 never): plan the node-key rotation. */
void ctl_set_key_expiry(struct ctl *c, int64_t expiry);
/* Log out: a RegisterRequest with an Expiry in the past for the current key; done(arg, err) after the
 * answer (err NULL) or a failure. The session stops retrying. */
void ctl_logout(struct ctl *c, void (*done)(void *arg, const char *err), void *arg);
/* Milliseconds until the next connection attempt (0 if connected or connecting). */
uint64_t ctl_retry_in(const struct ctl *c);

/* Tests and timing: backoff bounds (ms) and the map stream's silence watchdog. */
#define CTL_BACKOFF_MIN_MS 500
#define CTL_BACKOFF_MAX_MS 30000
#define CTL_WATCHDOG_MS 120000
/* The delay before attempt k (0-based) with jitter: in [b/2, b] where b = min(MIN << k, MAX). rnd is
 * a random 32-bit value. */
static inline uint64_t ctl_backoff_ms(unsigned attempt, uint32_t rnd)
{
    uint64_t b = CTL_BACKOFF_MIN_MS;
    for (unsigned i = 0; i < attempt && b < CTL_BACKOFF_MAX_MS; i++)
        b *= 2;
    if (b > CTL_BACKOFF_MAX_MS)
        b = CTL_BACKOFF_MAX_MS;
    return b / 2 + rnd % (b / 2 + 1);
}

/* When to rotate a node key: at `now` plus 80% of what is left before expiry, and at least 1 s before
 * it (at once if less is left). */
static inline int64_t ctl_rotation_time(int64_t now, int64_t expiry)
{
    int64_t left = expiry - now;
    if (left <= 1)
        return now;
    int64_t at = now + left * 4 / 5;
    return at > expiry - 1 ? expiry - 1 : at;
}

#endif
