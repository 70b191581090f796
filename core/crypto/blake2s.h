// SPDX-License-Identifier: BSD-3-Clause
/* BLAKE2s (RFC 7693): libsodium only has BLAKE2b, and WireGuard and the ts2021 Noise handshake need BLAKE2s. */
#ifndef WEFT_CRYPTO_BLAKE2S_H
#define WEFT_CRYPTO_BLAKE2S_H

#include <stddef.h>
#include <stdint.h>

#define BLAKE2S_OUTBYTES 32
#define BLAKE2S_BLOCKBYTES 64
#define BLAKE2S_KEYBYTES 32

struct blake2s_state {
    uint32_t h[8], t[2], f[2];
    uint8_t buf[64];
    size_t buflen, outlen;
};

/* outlen 1..32 (values outside are clamped into that range). */
void blake2s_init(struct blake2s_state *s, size_t outlen);
/* keylen 0..32 (longer keys are truncated to 32; 0 = unkeyed). */
void blake2s_init_key(struct blake2s_state *s, size_t outlen, const void *key, size_t keylen);
void blake2s_update(struct blake2s_state *s, const void *in, size_t inlen);
/* Writes outlen bytes and wipes the state. */
void blake2s_final(struct blake2s_state *s, uint8_t *out);
/* One-shot; key may be NULL when keylen is 0. */
void blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const void *key, size_t keylen);

#endif
