// SPDX-License-Identifier: BSD-3-Clause
/* HMAC-BLAKE2s (RFC 2104) and HKDF-extract/expand with empty info, as the Noise spec uses them. */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "core/crypto/blake2s.h"
#include "core/crypto/kdf.h"

void hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen)
{
    struct blake2s_state s;
    uint8_t k[BLAKE2S_BLOCKBYTES] = { 0 };
    uint8_t pad[BLAKE2S_BLOCKBYTES];
    uint8_t inner[BLAKE2S_OUTBYTES];

    if (keylen > BLAKE2S_BLOCKBYTES)
        blake2s(k, BLAKE2S_OUTBYTES, key, keylen, NULL, 0);
    else if (keylen)
        memcpy(k, key, keylen);

    for (int i = 0; i < BLAKE2S_BLOCKBYTES; i++)
        pad[i] = k[i] ^ 0x36;
    blake2s_init(&s, BLAKE2S_OUTBYTES);
    blake2s_update(&s, pad, sizeof(pad));
    blake2s_update(&s, in, inlen);
    blake2s_final(&s, inner);

    for (int i = 0; i < BLAKE2S_BLOCKBYTES; i++)
        pad[i] = k[i] ^ 0x5c;
    blake2s_init(&s, BLAKE2S_OUTBYTES);
    blake2s_update(&s, pad, sizeof(pad));
    blake2s_update(&s, inner, sizeof(inner));
    blake2s_final(&s, out);

    sodium_memzero(k, sizeof(k));
    sodium_memzero(pad, sizeof(pad));
    sodium_memzero(inner, sizeof(inner));
}

void hkdf_blake2s(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                  uint8_t out1[32], uint8_t out2[32], uint8_t out3[32])
{
    uint8_t prk[32], t[33], o1[32], o2[32], o3[32];

    hmac_blake2s(prk, key, keylen, in, inlen);
    t[0] = 0x01;
    hmac_blake2s(o1, prk, 32, t, 1);
    if (out2 || out3) {
        memcpy(t, o1, 32);
        t[32] = 0x02;
        hmac_blake2s(o2, prk, 32, t, 33);
    }
    if (out3) {
        memcpy(t, o2, 32);
        t[32] = 0x03;
        hmac_blake2s(o3, prk, 32, t, 33);
    }
    if (out1)
        memcpy(out1, o1, 32);
    if (out2)
        memcpy(out2, o2, 32);
    if (out3)
        memcpy(out3, o3, 32);

    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(t, sizeof(t));
    sodium_memzero(o1, sizeof(o1));
    sodium_memzero(o2, sizeof(o2));
    sodium_memzero(o3, sizeof(o3));
}

void noise_kdf(const uint8_t ck[32], const uint8_t *in, size_t inlen,
               uint8_t out1[32], uint8_t out2[32], uint8_t out3[32])
{
    hkdf_blake2s(ck, 32, in, inlen, out1, out2, out3);
}
