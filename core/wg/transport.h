// SPDX-License-Identifier: BSD-3-Clause
/* Transport data messages (type 4): 16-byte header (type, receiver index, 64-bit LE counter), then the
 * payload zero-padded to a multiple of 16 and sealed with ChaCha20-Poly1305 under the keypair's key and
 * the counter as nonce. Works in place on the caller's buffer; no allocation. */
#ifndef WEFT_WG_TRANSPORT_H
#define WEFT_WG_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/wg/constants.h"
#include "core/wg/noise.h"

/* The padded payload length for a payload of `len` (mtu 0: no cap). As WireGuard: round up to 16, but
 * never beyond the MTU. */
size_t wg_transport_padded_len(size_t len, size_t mtu);

/* Seal a message in place. The payload (len bytes, may be 0 for a keepalive) is at
 * buf + WG_TRANSPORT_HEADER_LEN; buf has room for `cap` bytes in all. Returns the message length
 * (16 + padded + 16) or WG_EINVAL (no room) / WG_ECOUNTER (nonces exhausted: the keypair is dead). */
int wg_transport_encrypt(struct wg_keypair *kp, uint8_t *buf, size_t cap, size_t len, size_t mtu);

/* Open a classified transport message in place without touching the replay window (for a data plane
 * that decrypts in parallel and then runs wg_replay_update() in order). Stores the counter. Returns the
 * padded plaintext length (plaintext at msg + WG_TRANSPORT_HEADER_LEN) or a negative wg_err; after
 * WG_EDECRYPT the payload bytes are zeroed (libsodium wipes its output), the header is kept. */
int wg_transport_open(const struct wg_keypair *kp, uint8_t *msg, size_t len, uint64_t *counter);

/* wg_transport_open() plus the replay window: the one-thread receive path. A replayed or too old
 * counter gives WG_EREPLAY. Returns the padded plaintext length; 0 is a keepalive. */
int wg_transport_decrypt(struct wg_keypair *kp, uint8_t *msg, size_t len);

#endif
