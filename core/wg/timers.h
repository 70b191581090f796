// SPDX-License-Identifier: BSD-3-Clause
/* The WireGuard timer rules (whitepaper §6, as wireguard-go applies them) as a pure per-peer state
 * machine. The data plane reports events and the current monotonic time in ns; the machine never reads a
 * clock. It answers with actions (a bitmask of WG_TIMER_*), and keeps deadlines: the data plane arms one
 * OS timer at wg_timers_next_deadline() and calls wg_timers_tick() when it expires.
 *
 * Every action the machine returns is already accounted for in its state (as if the packet had gone
 * out): the caller performs it but does not report that packet again with wg_timers_packet_sent(). */
#ifndef WEFT_WG_TIMERS_H
#define WEFT_WG_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wg/constants.h"

enum {
    WG_TIMER_SEND_INITIATION = 1u << 0, /* create and send a handshake initiation now */
    WG_TIMER_SEND_KEEPALIVE = 1u << 1,  /* send an empty transport packet with the current keypair */
    WG_TIMER_ZERO_KEYS = 1u << 2,       /* wipe every keypair and the handshake state of this peer */
    WG_TIMER_GIVE_UP = 1u << 3,         /* handshake retries exhausted: drop the packets queued for it */
};

/* What kind of authenticated packet went out or came in. */
enum wg_timer_pkt {
    WG_PKT_HANDSHAKE, /* a valid initiation/response (sent: the response; initiations are the machine's) */
    WG_PKT_KEEPALIVE, /* transport message with an empty payload */
    WG_PKT_DATA,      /* transport message with a payload */
};

#define WG_TIMER_OFF UINT64_MAX

/* Durations in ns. wg_timer_params_init() fills the protocol's values divided by `scale_div` (1 for real
 * use; tests pass e.g. 100 to make a 120 s rekey take 1.2 s). */
struct wg_timer_params {
    uint64_t rekey_after_time, reject_after_time, rekey_attempt_time, rekey_timeout, jitter_max;
    uint64_t keepalive_timeout, persistent_keepalive; /* persistent_keepalive 0 = off */
    uint64_t rekey_after_messages, reject_after_messages;
    uint32_t max_handshakes; /* retransmissions before giving up: rekey_attempt_time / rekey_timeout */
};

struct wg_timers {
    struct wg_timer_params p;
    uint64_t rng;
    /* deadlines, WG_TIMER_OFF when not armed */
    uint64_t retransmit_at, keepalive_at, new_handshake_at, zero_keys_at, persistent_at;
    uint64_t last_sent_handshake, last_handshake;
    uint32_t handshake_attempts;
    bool sent_handshake, have_handshake;
    bool need_another_keepalive, sent_last_minute_handshake;
};

void wg_timer_params_init(struct wg_timer_params *p, uint32_t persistent_keepalive_s, unsigned scale_div);
/* `seed` feeds the retransmit jitter (deterministic in tests); 0 draws one from the system. */
void wg_timers_init(struct wg_timers *t, const struct wg_timer_params *p, uint64_t seed);
/* Disarm everything (peer removed or device down). */
void wg_timers_stop(struct wg_timers *t);

/* A packet must go out but there is no usable keypair: start a handshake unless one was sent less than
 * REKEY_TIMEOUT ago. Returns WG_TIMER_SEND_INITIATION or 0. */
unsigned wg_timers_want_handshake(struct wg_timers *t, uint64_t now);
/* An authenticated packet was sent to / received from the peer. */
void wg_timers_packet_sent(struct wg_timers *t, uint64_t now, enum wg_timer_pkt kind);
void wg_timers_packet_received(struct wg_timers *t, uint64_t now, enum wg_timer_pkt kind);
/* A new keypair was derived (responder: response created; initiator: response consumed). */
void wg_timers_session_derived(struct wg_timers *t, uint64_t now);
/* The handshake is confirmed (initiator: response consumed; responder: first packet under the new
 * keypair). The initiator gets WG_TIMER_SEND_KEEPALIVE: it should confirm the keys at once. */
unsigned wg_timers_handshake_complete(struct wg_timers *t, uint64_t now, bool initiator);

/* Freshness checks on the keypair in use, to call on each send / receive (cheap). Return
 * WG_TIMER_SEND_INITIATION when the key wants replacing: on send when it carried more than
 * REKEY_AFTER_MESSAGES, or (initiator only) is older than REKEY_AFTER_TIME; on receive (initiator only,
 * once) when it is older than REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT. */
unsigned wg_timers_keep_fresh_sending(struct wg_timers *t, uint64_t now, uint64_t created,
                                      uint64_t send_counter, bool initiator);
unsigned wg_timers_keep_fresh_receiving(struct wg_timers *t, uint64_t now, uint64_t created, bool initiator);
/* May a keypair created at `created` that has used `counter` nonces still be used at `now`? */
bool wg_timers_key_usable(const struct wg_timers *t, uint64_t now, uint64_t created, uint64_t counter);

/* Fire every deadline <= now; returns the actions. */
unsigned wg_timers_tick(struct wg_timers *t, uint64_t now);
/* The earliest armed deadline, or WG_TIMER_OFF. */
uint64_t wg_timers_next_deadline(const struct wg_timers *t);

/* Change the persistent keepalive interval (ns, 0 = off). Turning it on sends one at once. */
unsigned wg_timers_set_persistent_keepalive(struct wg_timers *t, uint64_t now, uint64_t interval);

#endif
