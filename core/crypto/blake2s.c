// SPDX-License-Identifier: BSD-3-Clause
/* BLAKE2s per RFC 7693: sequential parameter block only (no tree hashing, salt or personalization). */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "core/crypto/blake2s.h"

static const uint32_t blake2s_iv[8] = {
    0x6A09E667UL, 0xBB67AE85UL, 0x3C6EF372UL, 0xA54FF53AUL,
    0x510E527FUL, 0x9B05688CUL, 0x1F83D9ABUL, 0x5BE0CD19UL,
};

static const uint8_t blake2s_sigma[10][16] = {
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
    { 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
    { 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
    { 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
    { 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
    { 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
    { 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
    { 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
    { 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
    { 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline uint32_t rotr32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load32_le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32_le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#define G(a, b, c, d, x, y)                 \
    do {                                    \
        a = a + b + (x);                    \
        d = rotr32(d ^ a, 16);              \
        c = c + d;                          \
        b = rotr32(b ^ c, 12);              \
        a = a + b + (y);                    \
        d = rotr32(d ^ a, 8);               \
        c = c + d;                          \
        b = rotr32(b ^ c, 7);               \
    } while (0)

#define ROUND(r)                                                             \
    do {                                                                     \
        const uint8_t *sg = blake2s_sigma[r];                                 \
        G(v0, v4, v8, v12, m[sg[0]], m[sg[1]]);                                \
        G(v1, v5, v9, v13, m[sg[2]], m[sg[3]]);                                \
        G(v2, v6, v10, v14, m[sg[4]], m[sg[5]]);                               \
        G(v3, v7, v11, v15, m[sg[6]], m[sg[7]]);                               \
        G(v0, v5, v10, v15, m[sg[8]], m[sg[9]]);                               \
        G(v1, v6, v11, v12, m[sg[10]], m[sg[11]]);                             \
        G(v2, v7, v8, v13, m[sg[12]], m[sg[13]]);                              \
        G(v3, v4, v9, v14, m[sg[14]], m[sg[15]]);                              \
    } while (0)

/* Compresses one 64-byte block; the caller has already added its length to t. Working state kept in
 * locals so the compiler can hold it in registers. */
static void blake2s_compress(struct blake2s_state *s, const uint8_t block[64])
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = load32_le(block + 4 * i);

    uint32_t v0 = s->h[0], v1 = s->h[1], v2 = s->h[2], v3 = s->h[3];
    uint32_t v4 = s->h[4], v5 = s->h[5], v6 = s->h[6], v7 = s->h[7];
    uint32_t v8 = blake2s_iv[0], v9 = blake2s_iv[1], v10 = blake2s_iv[2], v11 = blake2s_iv[3];
    uint32_t v12 = blake2s_iv[4] ^ s->t[0], v13 = blake2s_iv[5] ^ s->t[1];
    uint32_t v14 = blake2s_iv[6] ^ s->f[0], v15 = blake2s_iv[7] ^ s->f[1];

    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);

    s->h[0] ^= v0 ^ v8;
    s->h[1] ^= v1 ^ v9;
    s->h[2] ^= v2 ^ v10;
    s->h[3] ^= v3 ^ v11;
    s->h[4] ^= v4 ^ v12;
    s->h[5] ^= v5 ^ v13;
    s->h[6] ^= v6 ^ v14;
    s->h[7] ^= v7 ^ v15;
}

#undef ROUND
#undef G

static inline void blake2s_add_counter(struct blake2s_state *s, uint32_t n)
{
    s->t[0] += n;
    if (s->t[0] < n)
        s->t[1]++;
}

void blake2s_init_key(struct blake2s_state *s, size_t outlen, const void *key, size_t keylen)
{
    if (outlen < 1)
        outlen = 1;
    if (outlen > BLAKE2S_OUTBYTES)
        outlen = BLAKE2S_OUTBYTES;
    if (!key || keylen > BLAKE2S_KEYBYTES)
        keylen = key ? BLAKE2S_KEYBYTES : 0;

    memset(s, 0, sizeof(*s));
    memcpy(s->h, blake2s_iv, sizeof(s->h));
    /* Parameter block word 0: digest length, key length, fanout 1, depth 1. */
    s->h[0] ^= 0x01010000UL ^ ((uint32_t)keylen << 8) ^ (uint32_t)outlen;
    s->outlen = outlen;
    if (keylen) {
        /* The zero-padded key is the first block; it stays buffered so it is also the last block
         * when the message is empty. */
        memcpy(s->buf, key, keylen);
        s->buflen = BLAKE2S_BLOCKBYTES;
    }
}

void blake2s_init(struct blake2s_state *s, size_t outlen)
{
    blake2s_init_key(s, outlen, NULL, 0);
}

void blake2s_update(struct blake2s_state *s, const void *in_, size_t inlen)
{
    const uint8_t *in = in_;
    if (!inlen)
        return;
    /* The final block must be compressed with f0 set, so a full buffer is only flushed once more
     * input is known to follow. */
    size_t fill = BLAKE2S_BLOCKBYTES - s->buflen;
    if (inlen > fill) {
        memcpy(s->buf + s->buflen, in, fill);
        blake2s_add_counter(s, BLAKE2S_BLOCKBYTES);
        blake2s_compress(s, s->buf);
        s->buflen = 0;
        in += fill;
        inlen -= fill;
        while (inlen > BLAKE2S_BLOCKBYTES) {
            blake2s_add_counter(s, BLAKE2S_BLOCKBYTES);
            blake2s_compress(s, in);
            in += BLAKE2S_BLOCKBYTES;
            inlen -= BLAKE2S_BLOCKBYTES;
        }
    }
    memcpy(s->buf + s->buflen, in, inlen);
    s->buflen += inlen;
}

void blake2s_final(struct blake2s_state *s, uint8_t *out)
{
    uint8_t full[BLAKE2S_OUTBYTES];
    blake2s_add_counter(s, (uint32_t)s->buflen);
    s->f[0] = 0xFFFFFFFFUL;
    memset(s->buf + s->buflen, 0, BLAKE2S_BLOCKBYTES - s->buflen);
    blake2s_compress(s, s->buf);
    for (int i = 0; i < 8; i++)
        store32_le(full + 4 * i, s->h[i]);
    memcpy(out, full, s->outlen);
    sodium_memzero(full, sizeof(full));
    sodium_memzero(s, sizeof(*s));
}

void blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const void *key, size_t keylen)
{
    struct blake2s_state s;
    blake2s_init_key(&s, outlen, key, keylen);
    blake2s_update(&s, in, inlen);
    blake2s_final(&s, out);
}
