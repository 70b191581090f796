// SPDX-License-Identifier: BSD-3-Clause
/* ts2021 Noise IK: the symmetric state of Noise rev 34 with BLAKE2s, X25519 and ChaCha20-Poly1305, no
 * handshake payloads, and transport records whose nonce carries a big-endian counter (unlike WireGuard). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/crypto/blake2s.h"
#include "core/crypto/kdf.h"
#include "core/crypto/key.h"
#include "core/crypto/noise_ts2021.h"

static const char ts2021_protocol_name[] = "Noise_IK_25519_ChaChaPoly_BLAKE2s";

enum {
    HS_NONE = 0,
    HS_INITIATOR_SENT, /* initiation built, waiting for the response */
    HS_RESPONDER_READ, /* initiation accepted, response not yet built */
};

/* h = HASH(h || data) */
static void mix_hash(uint8_t h[32], const uint8_t *data, size_t len)
{
    struct blake2s_state s;
    blake2s_init(&s, 32);
    blake2s_update(&s, h, 32);
    blake2s_update(&s, data, len);
    blake2s_final(&s, h);
}

/* (ck, k) = HKDF(ck, DH(priv, pub)); fails on an all-zero DH result. */
static int mix_dh(struct ts2021_handshake *hs, uint8_t k[32], const uint8_t priv[32], const uint8_t pub[32])
{
    uint8_t dh[32];
    if (crypto_scalarmult(dh, priv, pub) != 0 || sodium_is_zero(dh, 32)) {
        sodium_memzero(dh, sizeof(dh));
        return TS2021_ERR_AUTH;
    }
    noise_kdf(hs->ck, dh, sizeof(dh), hs->ck, k, NULL);
    sodium_memzero(dh, sizeof(dh));
    return 0;
}

/* Each handshake key is used exactly once, so its nonce is always zero. */
static void encrypt_and_hash(struct ts2021_handshake *hs, const uint8_t k[32], uint8_t *out,
                             const uint8_t *pt, size_t len)
{
    static const uint8_t zero_nonce[12];
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, hs->h, 32, NULL, zero_nonce, k);
    mix_hash(hs->h, out, len + TS2021_TAG_LEN);
}

static int decrypt_and_hash(struct ts2021_handshake *hs, const uint8_t k[32], uint8_t *out,
                            const uint8_t *ct, size_t len)
{
    static const uint8_t zero_nonce[12];
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, hs->h, 32, zero_nonce, k) != 0)
        return TS2021_ERR_AUTH;
    mix_hash(hs->h, ct, len);
    return 0;
}

/* Initialize(name) + MixHash(prologue) + MixHash(responder static). */
static void hs_init(struct ts2021_handshake *hs, uint16_t version, const uint8_t responder_pub[32])
{
    char prologue[48];
    int n = snprintf(prologue, sizeof(prologue), "Tailscale Control Protocol v%u", (unsigned)version);
    /* The name is 33 bytes, longer than a hash, so h = HASH(name). */
    blake2s(hs->h, 32, ts2021_protocol_name, sizeof(ts2021_protocol_name) - 1, NULL, 0);
    memcpy(hs->ck, hs->h, 32);
    mix_hash(hs->h, (const uint8_t *)prologue, (size_t)n);
    mix_hash(hs->h, responder_pub, 32);
    hs->version = version;
}

/* Ephemeral key pair: injected (tests, benchmarks) or random. */
static int hs_ephemeral(struct ts2021_handshake *hs, const uint8_t *eph_priv)
{
    if (eph_priv)
        memcpy(hs->e_priv, eph_priv, 32);
    else
        randombytes_buf(hs->e_priv, 32);
    return crypto_scalarmult_base(hs->e_pub, hs->e_priv) == 0 ? 0 : TS2021_ERR;
}

/* Split(): (k1, k2) = HKDF(ck, ""); the initiator sends with k1. */
static void hs_split(struct ts2021_handshake *hs, struct ts2021_transport *t, int initiator)
{
    uint8_t k1[32], k2[32];
    noise_kdf(hs->ck, NULL, 0, k1, k2, NULL);
    memset(t, 0, sizeof(*t));
    memcpy(t->tx.key, initiator ? k1 : k2, 32);
    memcpy(t->rx.key, initiator ? k2 : k1, 32);
    memcpy(t->handshake_hash, hs->h, 32);
    memcpy(t->peer, hs->rs, 32);
    t->version = hs->version;
    sodium_memzero(k1, sizeof(k1));
    sodium_memzero(k2, sizeof(k2));
}

static inline void put16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t get16be(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

void ts2021_handshake_wipe(struct ts2021_handshake *hs)
{
    sodium_memzero(hs, sizeof(*hs));
}

void ts2021_transport_wipe(struct ts2021_transport *t)
{
    sodium_memzero(t, sizeof(*t));
}

int ts2021_initiator_start(struct ts2021_handshake *hs, uint8_t out[TS2021_INITIATION_LEN],
                           const uint8_t machine_priv[32], const uint8_t control_pub[32], uint16_t version,
                           const uint8_t *eph_priv)
{
    uint8_t k[32], machine_pub[32];
    int r;

    memset(hs, 0, sizeof(*hs));
    if (key_crypto_init() < 0)
        return TS2021_ERR;
    memcpy(hs->s_priv, machine_priv, 32);
    memcpy(hs->rs, control_pub, 32);
    if (crypto_scalarmult_base(machine_pub, machine_priv) != 0 || (r = hs_ephemeral(hs, eph_priv)) < 0) {
        r = TS2021_ERR;
        goto fail;
    }
    hs_init(hs, version, control_pub);

    put16be(out, version);
    out[2] = TS2021_TYPE_INITIATION;
    put16be(out + 3, TS2021_INITIATION_LEN - 5);
    memcpy(out + 5, hs->e_pub, 32);
    mix_hash(hs->h, hs->e_pub, 32);                           /* e */
    if ((r = mix_dh(hs, k, hs->e_priv, control_pub)) < 0)     /* es */
        goto fail;
    encrypt_and_hash(hs, k, out + 37, machine_pub, 32);       /* s */
    if ((r = mix_dh(hs, k, hs->s_priv, control_pub)) < 0)     /* ss */
        goto fail;
    encrypt_and_hash(hs, k, out + 85, NULL, 0);               /* empty payload */
    sodium_memzero(k, sizeof(k));
    hs->state = HS_INITIATOR_SENT;
    return 0;

fail:
    sodium_memzero(k, sizeof(k));
    ts2021_handshake_wipe(hs);
    return r;
}

int ts2021_initiator_finish(struct ts2021_handshake *hs, struct ts2021_transport *t,
                            const uint8_t *msg, size_t len)
{
    uint8_t k[32];
    int r = TS2021_ERR;

    if (hs->state != HS_INITIATOR_SENT || !msg)
        goto out;
    if (len >= TS2021_HDR_LEN && msg[0] == TS2021_TYPE_ERROR) {
        r = ts2021_error_text(msg, len, NULL, NULL) == 0 ? TS2021_ERR_SERVER : TS2021_ERR;
        goto out;
    }
    if (len != TS2021_RESPONSE_LEN || msg[0] != TS2021_TYPE_RESPONSE ||
        get16be(msg + 1) != TS2021_RESPONSE_LEN - TS2021_HDR_LEN)
        goto out;

    memcpy(hs->re, msg + 3, 32);
    mix_hash(hs->h, hs->re, 32);                              /* e */
    if ((r = mix_dh(hs, k, hs->e_priv, hs->re)) < 0)          /* ee */
        goto out;
    if ((r = mix_dh(hs, k, hs->s_priv, hs->re)) < 0)          /* se */
        goto out;
    if ((r = decrypt_and_hash(hs, k, NULL, msg + 35, TS2021_TAG_LEN)) < 0)
        goto out;
    hs_split(hs, t, 1);
    r = 0;
out:
    sodium_memzero(k, sizeof(k));
    ts2021_handshake_wipe(hs);
    return r;
}

int ts2021_responder_read(struct ts2021_handshake *hs, const uint8_t *msg, size_t len,
                          const uint8_t control_priv[32], const uint8_t *control_pub,
                          uint16_t *version, uint8_t machine_pub[32])
{
    uint8_t k[32], pub[32];
    int r = TS2021_ERR;

    memset(hs, 0, sizeof(*hs));
    if (key_crypto_init() < 0 || !msg)
        goto out;
    if (len != TS2021_INITIATION_LEN || msg[2] != TS2021_TYPE_INITIATION ||
        get16be(msg + 3) != TS2021_INITIATION_LEN - 5)
        goto out;
    if (control_pub)
        memcpy(pub, control_pub, 32);
    else if (crypto_scalarmult_base(pub, control_priv) != 0)
        goto out;
    memcpy(hs->s_priv, control_priv, 32);
    /* Any version is accepted here; the prologue binds the one in the header. */
    hs_init(hs, get16be(msg), pub);

    memcpy(hs->re, msg + 5, 32);
    mix_hash(hs->h, hs->re, 32);                              /* e */
    if ((r = mix_dh(hs, k, hs->s_priv, hs->re)) < 0)          /* es */
        goto out;
    if ((r = decrypt_and_hash(hs, k, hs->rs, msg + 37, 32 + TS2021_TAG_LEN)) < 0) /* s */
        goto out;
    if ((r = mix_dh(hs, k, hs->s_priv, hs->rs)) < 0)          /* ss */
        goto out;
    if ((r = decrypt_and_hash(hs, k, NULL, msg + 85, TS2021_TAG_LEN)) < 0)
        goto out;
    if (version)
        *version = hs->version;
    if (machine_pub)
        memcpy(machine_pub, hs->rs, 32);
    hs->state = HS_RESPONDER_READ;
    r = 0;
out:
    sodium_memzero(k, sizeof(k));
    if (r < 0)
        ts2021_handshake_wipe(hs);
    return r;
}

int ts2021_responder_finish(struct ts2021_handshake *hs, struct ts2021_transport *t,
                            uint8_t out[TS2021_RESPONSE_LEN], const uint8_t *eph_priv)
{
    uint8_t k[32];
    int r = TS2021_ERR;

    if (hs->state != HS_RESPONDER_READ)
        goto out;
    if ((r = hs_ephemeral(hs, eph_priv)) < 0)
        goto out;
    out[0] = TS2021_TYPE_RESPONSE;
    put16be(out + 1, TS2021_RESPONSE_LEN - TS2021_HDR_LEN);
    memcpy(out + 3, hs->e_pub, 32);
    mix_hash(hs->h, hs->e_pub, 32);                           /* e */
    if ((r = mix_dh(hs, k, hs->e_priv, hs->re)) < 0)          /* ee */
        goto out;
    if ((r = mix_dh(hs, k, hs->e_priv, hs->rs)) < 0)          /* se */
        goto out;
    encrypt_and_hash(hs, k, out + 35, NULL, 0);
    hs_split(hs, t, 0);
    r = 0;
out:
    sodium_memzero(k, sizeof(k));
    ts2021_handshake_wipe(hs);
    return r;
}

ssize_t ts2021_frame_len(const uint8_t *buf, size_t len, uint8_t *type)
{
    if (len < TS2021_HDR_LEN)
        return 0;
    if (type)
        *type = buf[0];
    return TS2021_HDR_LEN + (ssize_t)get16be(buf + 1);
}

ssize_t ts2021_record_len(const uint8_t *buf, size_t len)
{
    if (len < TS2021_HDR_LEN)
        return 0;
    size_t l = get16be(buf + 1);
    if (buf[0] != TS2021_TYPE_RECORD || l > TS2021_MAX_CIPHERTEXT || l < TS2021_TAG_LEN)
        return TS2021_ERR;
    return (ssize_t)(TS2021_HDR_LEN + l);
}

/* 0x00000000 ‖ counter as uint64 big-endian. */
static void ts2021_nonce(uint8_t nonce[12], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (56 - 8 * i));
}

/* Counter 2^64-1 is never used: the connection must end before it. */
#define TS2021_NONCE_INVALID UINT64_MAX

ssize_t ts2021_seal_record(struct ts2021_transport *t, uint8_t *out, size_t cap, const uint8_t *pt, size_t len)
{
    uint8_t nonce[12];
    if (len > TS2021_MAX_PLAINTEXT || (!pt && len))
        return TS2021_ERR;
    if (cap < TS2021_HDR_LEN + len + TS2021_TAG_LEN)
        return TS2021_ERR_SPACE;
    if (t->tx.nonce >= TS2021_NONCE_INVALID)
        return TS2021_ERR_NONCE;
    ts2021_nonce(nonce, t->tx.nonce);
    /* Encrypt first: pt may sit at out + 3, and the header does not overlap it. */
    crypto_aead_chacha20poly1305_ietf_encrypt(out + TS2021_HDR_LEN, NULL, pt, len, NULL, 0, NULL, nonce,
                                              t->tx.key);
    out[0] = TS2021_TYPE_RECORD;
    put16be(out + 1, (uint16_t)(len + TS2021_TAG_LEN));
    t->tx.nonce++;
    return (ssize_t)(TS2021_HDR_LEN + len + TS2021_TAG_LEN);
}

ssize_t ts2021_open_record(struct ts2021_transport *t, uint8_t *out, size_t cap, const uint8_t *rec, size_t len)
{
    uint8_t nonce[12];
    ssize_t rl = ts2021_record_len(rec, len);
    if (rl <= 0 || (size_t)rl != len)
        return TS2021_ERR;
    size_t ctlen = len - TS2021_HDR_LEN;
    if (cap < ctlen - TS2021_TAG_LEN)
        return TS2021_ERR_SPACE;
    if (t->rx.nonce >= TS2021_NONCE_INVALID)
        return TS2021_ERR_NONCE;
    ts2021_nonce(nonce, t->rx.nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, rec + TS2021_HDR_LEN, ctlen, NULL, 0, nonce,
                                                  t->rx.key) != 0)
        return TS2021_ERR_AUTH;
    t->rx.nonce++;
    return (ssize_t)(ctlen - TS2021_TAG_LEN);
}

size_t ts2021_sealed_len(size_t len)
{
    size_t full = len / TS2021_MAX_PLAINTEXT, rest = len % TS2021_MAX_PLAINTEXT;
    return full * TS2021_MAX_RECORD + (rest ? rest + TS2021_HDR_LEN + TS2021_TAG_LEN : 0);
}

ssize_t ts2021_seal(struct ts2021_transport *t, uint8_t *out, size_t cap, const uint8_t *pt, size_t len)
{
    if (len > (size_t)SSIZE_MAX / 2 || (!pt && len))
        return TS2021_ERR;
    size_t need = ts2021_sealed_len(len);
    size_t records = (len + TS2021_MAX_PLAINTEXT - 1) / TS2021_MAX_PLAINTEXT;
    if (cap < need)
        return TS2021_ERR_SPACE;
    if (records > TS2021_NONCE_INVALID - t->tx.nonce)
        return TS2021_ERR_NONCE;
    size_t off = 0, w = 0;
    while (off < len) {
        size_t n = len - off < TS2021_MAX_PLAINTEXT ? len - off : TS2021_MAX_PLAINTEXT;
        ssize_t r = ts2021_seal_record(t, out + w, cap - w, pt + off, n);
        if (r < 0)
            return r; /* cannot happen: room and nonces were checked */
        off += n;
        w += (size_t)r;
    }
    return (ssize_t)w;
}

ssize_t ts2021_error_frame(uint8_t *out, size_t cap, const char *text, size_t textlen)
{
    if (textlen > 0xffff)
        textlen = 0xffff;
    if (cap < TS2021_HDR_LEN + textlen)
        return TS2021_ERR_SPACE;
    out[0] = TS2021_TYPE_ERROR;
    put16be(out + 1, (uint16_t)textlen);
    if (textlen)
        memcpy(out + TS2021_HDR_LEN, text, textlen);
    return (ssize_t)(TS2021_HDR_LEN + textlen);
}

int ts2021_error_text(const uint8_t *msg, size_t len, const uint8_t **text, size_t *textlen)
{
    if (!msg || len < TS2021_HDR_LEN || msg[0] != TS2021_TYPE_ERROR ||
        len != TS2021_HDR_LEN + (size_t)get16be(msg + 1))
        return TS2021_ERR;
    if (text)
        *text = msg + TS2021_HDR_LEN;
    if (textlen)
        *textlen = len - TS2021_HDR_LEN;
    return 0;
}
