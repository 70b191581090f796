// SPDX-License-Identifier: BSD-3-Clause
/* The WireGuard handshake: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s with WireGuard's identifier, mac1/mac2,
 * TAI64N replay protection, and the derivation of a session keypair (spec/wireguard.md §3).
 *
 * No I/O, no allocation, no clock reads: times are monotonic ns passed in, the wall-clock timestamp and
 * ephemeral keys can be injected (tests replay the spec's transcript). The caller owns the maps from
 * static public key and from local index to a peer's wg_handshake, and the allocation of local indices;
 * the consume functions ask for the peer through a callback. Nothing here locks: one thread at a time
 * per wg_handshake (and per wg_local for the cookie secret). */
#ifndef WEFT_WG_NOISE_H
#define WEFT_WG_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wg/cookie.h"
#include "core/wg/errors.h"
#include "core/wg/messages.h"
#include "core/wg/replay.h"
#include "core/wg/tai64n.h"

#define WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define WG_LABEL_MAC1 "mac1----"
#define WG_LABEL_COOKIE "cookie--"

/* Ci0 = HASH(CONSTRUCTION), Hi0 = HASH(Ci0 || IDENTIFIER). */
extern const uint8_t wg_initial_chain_key[32];
extern const uint8_t wg_initial_hash[32];

/* Our static identity (the node key), with what is derived from it once. */
struct wg_local {
    uint8_t priv[32], pub[32];
    uint8_t init_hash[32]; /* HASH(Hi0 || pub): where every initiation to us starts */
    struct wg_cookie_checker cookies;
};

enum wg_hs_state {
    WG_HS_ZEROED,
    WG_HS_CREATED_INITIATION,
    WG_HS_CONSUMED_INITIATION,
    WG_HS_CREATED_RESPONSE,
    WG_HS_CONSUMED_RESPONSE,
};

/* Per-peer handshake state. */
struct wg_handshake {
    enum wg_hs_state state;
    uint8_t remote_static[32];
    uint8_t static_static[32]; /* DH(local priv, remote static), precomputed */
    uint8_t psk[32];
    uint8_t init_hash[32];     /* HASH(Hi0 || remote static): where our initiations start */
    uint8_t hash[32], chain_key[32];
    uint8_t eph_priv[32], remote_eph[32];
    uint32_t local_index, remote_index;
    uint8_t last_timestamp[WG_TAI64N_LEN]; /* newest initiation timestamp accepted from this peer */
    uint64_t last_initiation_consumed;     /* monotonic ns */
    bool have_consumed, static_ok;
    struct wg_cookie_gen cookies;
};

/* A session: what the data plane needs per keypair. */
struct wg_keypair {
    uint8_t send_key[32], recv_key[32];
    uint64_t send_counter; /* next nonce; atomically incremented so several threads may encrypt */
    struct wg_replay replay;
    uint32_t local_index, remote_index;
    uint64_t created; /* monotonic ns */
    bool initiator;
};

/* Finds the peer whose static public key this is (consume_initiation), or whose handshake owns this local
 * index (consume_response); NULL if none. */
typedef struct wg_handshake *(*wg_peer_by_key_fn)(void *ctx, const uint8_t remote_static[32]);
typedef struct wg_handshake *(*wg_peer_by_index_fn)(void *ctx, uint32_t local_index);

/* priv is the 32-byte private key (clamped or not: X25519 clamps). Returns 0 or WG_EDH. */
int wg_local_init(struct wg_local *l, const uint8_t priv[32]);
void wg_local_clear(struct wg_local *l);

/* psk NULL = 32 zero bytes (what Tailscale uses). A remote key giving an all-zero shared secret is kept
 * but every handshake with it fails (WG_EDH). */
int wg_handshake_init(struct wg_handshake *hs, const struct wg_local *l, const uint8_t remote_pub[32],
                      const uint8_t *psk);
/* Forget the ephemeral state (keeps the peer's identity, last timestamp and cookie). */
void wg_handshake_clear(struct wg_handshake *hs);

/* Write a 148-byte initiation from us (sender `local_index`). eph_priv / timestamp NULL = fresh random /
 * now; tests inject them. Returns WG_INITIATION_LEN or a negative wg_err. */
int wg_create_initiation(struct wg_handshake *hs, const struct wg_local *l, uint8_t out[WG_INITIATION_LEN],
                         uint32_t local_index, const uint8_t *eph_priv, const uint8_t *timestamp,
                         uint64_t now);
/* Check mac1, decrypt, find the peer (lookup), and require a newer timestamp and no flood. On success
 * *peer is the peer's handshake, now in WG_HS_CONSUMED_INITIATION; nothing is changed on failure. */
int wg_consume_initiation(const struct wg_local *l, const uint8_t *msg, size_t len, wg_peer_by_key_fn lookup,
                          void *ctx, uint64_t now, struct wg_handshake **peer);
/* Answer a consumed initiation with a 92-byte response. Returns WG_RESPONSE_LEN or a negative wg_err. */
int wg_create_response(struct wg_handshake *hs, uint8_t out[WG_RESPONSE_LEN], uint32_t local_index,
                       const uint8_t *eph_priv, uint64_t now);
/* Check mac1, find our initiation by the receiver index, decrypt. On success *peer is in
 * WG_HS_CONSUMED_RESPONSE; nothing is changed on failure. */
int wg_consume_response(const struct wg_local *l, const uint8_t *msg, size_t len, wg_peer_by_index_fn lookup,
                        void *ctx, uint64_t now, struct wg_handshake **peer);
/* After create_response (responder) or consume_response (initiator): derive the session keys into kp and
 * wipe the handshake's ephemeral state. Returns 0 or WG_ESTATE. */
int wg_handshake_derive_keypair(struct wg_handshake *hs, struct wg_keypair *kp, uint64_t now);

void wg_keypair_clear(struct wg_keypair *kp);

/* Generate a fresh X25519 key pair (private random, public derived). */
void wg_key_generate(uint8_t priv[32], uint8_t pub[32]);

#endif
