// SPDX-License-Identifier: BSD-3-Clause
/* WireGuard's DoS defence (whitepaper §5.4.4-7): mac1 on every handshake message, and under load mac2,
 * a MAC keyed by a cookie that the responder hands out in an encrypted cookie reply and that proves the
 * sender owns its source address.
 *
 * The checker belongs to the local static key (it verifies mac1/mac2 on what we receive and makes cookie
 * replies); a generator belongs to each peer (it adds mac1/mac2 to what we send that peer and keeps the
 * cookie the peer gave us). Times are monotonic ns passed in. */
#ifndef WEFT_WG_COOKIE_H
#define WEFT_WG_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wg/messages.h"

struct wg_cookie_checker {
    uint8_t mac1_key[32];   /* HASH("mac1----" || local public key) */
    uint8_t cookie_key[32]; /* HASH("cookie--" || local public key) */
    uint8_t secret[32];     /* random, replaced when older than COOKIE_REFRESH_TIME */
    uint64_t secret_birth;
    bool secret_valid;
};

struct wg_cookie_gen {
    uint8_t mac1_key[32];   /* HASH("mac1----" || peer public key) */
    uint8_t cookie_key[32]; /* HASH("cookie--" || peer public key) */
    uint8_t cookie[WG_COOKIE_LEN];
    uint64_t cookie_birth;
    uint8_t last_mac1[WG_MAC_LEN]; /* of our last handshake message: the AD of the peer's cookie reply */
    bool have_cookie, have_last_mac1;
};

void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t local_pub[32]);
void wg_cookie_checker_clear(struct wg_cookie_checker *c);
/* msg is a whole initiation (148) or response (92): does mac1 verify? */
bool wg_cookie_check_mac1(const struct wg_cookie_checker *c, const uint8_t *msg, size_t len);
/* Under load: does mac2 prove `src` (the opaque bytes of the source address, e.g. IP || port) holds a
 * cookie from the current secret? */
bool wg_cookie_check_mac2(const struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
                          const uint8_t *src, size_t srclen, uint64_t now);
/* Build the 64-byte cookie reply to handshake message `msg` from `src`. `nonce` (24 bytes) may be NULL
 * for a random one (tests inject it). Returns WG_COOKIE_REPLY_LEN or a negative wg_err. */
int wg_cookie_create_reply(struct wg_cookie_checker *c, uint8_t out[WG_COOKIE_REPLY_LEN], const uint8_t *msg,
                           size_t len, const uint8_t *src, size_t srclen, uint64_t now,
                           const uint8_t *nonce);

void wg_cookie_gen_init(struct wg_cookie_gen *g, const uint8_t remote_pub[32]);
/* Fill mac1 (and mac2 if we hold a cookie younger than COOKIE_REFRESH_TIME, else zeros) of a whole
 * initiation or response addressed to this peer. */
void wg_cookie_add_macs(struct wg_cookie_gen *g, uint8_t *msg, size_t len, uint64_t now);
/* Take the cookie from a cookie reply (the caller found this peer by the reply's receiver index).
 * Returns 0 or a negative wg_err. */
int wg_cookie_consume_reply(struct wg_cookie_gen *g, const uint8_t *msg, size_t len, uint64_t now);

#endif
