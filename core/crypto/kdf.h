// SPDX-License-Identifier: BSD-3-Clause
/* HMAC-BLAKE2s and the Noise HKDF built on it (WireGuard and ts2021 MixKey/Split). */
#ifndef WEFT_CRYPTO_KDF_H
#define WEFT_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

/* RFC 2104 HMAC with BLAKE2s-256 (block 64, output 32); keys longer than 64 bytes are hashed first. */
void hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen);

/* HKDF (RFC 5869, empty info) over HMAC-BLAKE2s with a key of any length; noise_kdf is this with a
 * 32-byte chaining key. Same output/aliasing rules as noise_kdf. */
void hkdf_blake2s(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                  uint8_t out1[32], uint8_t out2[32], uint8_t out3[32]);

/* Noise HKDF over HMAC-BLAKE2s: writes up to three 32-byte outputs; pass NULL for those not wanted.
 * Outputs may alias ck or each other (everything is computed in scratch first). */
void noise_kdf(const uint8_t ck[32], const uint8_t *in, size_t inlen,
               uint8_t out1[32], uint8_t out2[32], uint8_t out3[32]);

#endif
