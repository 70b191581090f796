// SPDX-License-Identifier: BSD-3-Clause
/* NaCl crypto_box (X25519 + XSalsa20-Poly1305) laid out as DERP and disco send it: nonce(24) ‖ tag(16) ‖
 * ciphertext (spec keys.md §3). Keys are raw 32-byte X25519 keys (struct key's .b). */
#ifndef WEFT_CRYPTO_BOX_H
#define WEFT_CRYPTO_BOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BOX_NONCEBYTES 24
#define BOX_MACBYTES 16
#define BOX_OVERHEAD (BOX_NONCEBYTES + BOX_MACBYTES) /* 40 */

/* Seals len bytes of msg to peer_pub with a fresh random nonce into out (len + BOX_OVERHEAD bytes; out
 * must not overlap msg). Returns len + BOX_OVERHEAD, or -1 (e.g. low-order peer key). */
ssize_t box_seal(uint8_t *out, const uint8_t *msg, size_t len,
                 const uint8_t peer_pub[32], const uint8_t my_priv[32]);
/* Same with a caller-given nonce (test vectors only: a nonce must never repeat for a key pair). */
ssize_t box_seal_nonce(uint8_t *out, const uint8_t nonce[BOX_NONCEBYTES], const uint8_t *msg, size_t len,
                       const uint8_t peer_pub[32], const uint8_t my_priv[32]);
/* Opens nonce ‖ tag ‖ ciphertext (inlen bytes) into out (inlen - BOX_OVERHEAD bytes; no overlap).
 * Returns the plaintext length, or -1 (too short, forged, wrong keys). */
ssize_t box_open(uint8_t *out, const uint8_t *in, size_t inlen,
                 const uint8_t peer_pub[32], const uint8_t my_priv[32]);

/* Precomputed shared key (crypto_box_beforenm) for a peer pair: the disco hot path. */
struct box_shared {
    uint8_t k[32];
};
/* 0, or -1 for a low-order peer key. */
int box_precompute(struct box_shared *s, const uint8_t peer_pub[32], const uint8_t my_priv[32]);
void box_shared_wipe(struct box_shared *s);
ssize_t box_seal_shared(uint8_t *out, const uint8_t *msg, size_t len, const struct box_shared *s);
ssize_t box_seal_shared_nonce(uint8_t *out, const uint8_t nonce[BOX_NONCEBYTES], const uint8_t *msg,
                              size_t len, const struct box_shared *s);
ssize_t box_open_shared(uint8_t *out, const uint8_t *in, size_t inlen, const struct box_shared *s);

#endif
