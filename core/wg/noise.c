// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/noise.h"

#include <sodium.h>
#include <string.h>

#include "core/crypto/blake2s.h"
#include "core/crypto/kdf.h"
#include "core/wg/constants.h"

/* Checked against HASH() of the strings by the unit test. */
const uint8_t wg_initial_chain_key[32] = {
    0x60, 0xe2, 0x6d, 0xae, 0xf3, 0x27, 0xef, 0xc0, 0x2e, 0xc3, 0x35, 0xe2, 0xa0, 0x25, 0xd2, 0xd0,
    0x16, 0xeb, 0x42, 0x06, 0xf8, 0x72, 0x77, 0xf5, 0x2d, 0x38, 0xd1, 0x98, 0x8b, 0x78, 0xcd, 0x36,
};
const uint8_t wg_initial_hash[32] = {
    0x22, 0x11, 0xb3, 0x61, 0x08, 0x1a, 0xc5, 0x66, 0x69, 0x12, 0x43, 0xdb, 0x45, 0x8a, 0xd5, 0x32,
    0x2d, 0x9c, 0x6c, 0x66, 0x22, 0x93, 0xe8, 0xb7, 0x0e, 0xe1, 0x9c, 0x65, 0xba, 0x07, 0x9e, 0xf3,
};

static const uint8_t zero_nonce[12];

static void mix_hash(uint8_t h[32], const uint8_t *data, size_t len)
{
    struct blake2s_state s;
    blake2s_init(&s, 32);
    blake2s_update(&s, h, 32);
    blake2s_update(&s, data, len);
    blake2s_final(&s, h);
}

static int dh(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
    /* libsodium refuses (returns -1 for) an all-zero result: a low-order public key. */
    return crypto_scalarmult(out, priv, pub) == 0 ? 0 : WG_EDH;
}

/* AEAD with the all-zero nonce: every handshake key is used exactly once. */
static void seal(uint8_t *out, const uint8_t key[32], const uint8_t *pt, size_t ptlen, const uint8_t h[32])
{
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, ptlen, h, 32, NULL, zero_nonce, key);
}

static int open_(uint8_t *out, const uint8_t key[32], const uint8_t *ct, size_t ctlen, const uint8_t h[32])
{
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, ctlen, h, 32, zero_nonce, key) == 0
               ? 0
               : WG_EDECRYPT;
}

static void hash_with_key(uint8_t out[32], const uint8_t pub[32])
{
    memcpy(out, wg_initial_hash, 32);
    mix_hash(out, pub, 32);
}

static int ephemeral(uint8_t priv[32], uint8_t pub[32], const uint8_t *inject)
{
    if (inject)
        memcpy(priv, inject, 32);
    else
        randombytes_buf(priv, 32);
    return crypto_scalarmult_base(pub, priv) == 0 ? 0 : WG_EDH;
}

void wg_key_generate(uint8_t priv[32], uint8_t pub[32])
{
    do
        randombytes_buf(priv, 32);
    while (crypto_scalarmult_base(pub, priv) != 0);
}

int wg_local_init(struct wg_local *l, const uint8_t priv[32])
{
    memset(l, 0, sizeof(*l));
    memcpy(l->priv, priv, 32);
    if (crypto_scalarmult_base(l->pub, l->priv) != 0) {
        wg_local_clear(l);
        return WG_EDH;
    }
    hash_with_key(l->init_hash, l->pub);
    wg_cookie_checker_init(&l->cookies, l->pub);
    return 0;
}

void wg_local_clear(struct wg_local *l)
{
    sodium_memzero(l, sizeof(*l));
}

int wg_handshake_init(struct wg_handshake *hs, const struct wg_local *l, const uint8_t remote_pub[32],
                      const uint8_t *psk)
{
    memset(hs, 0, sizeof(*hs));
    memcpy(hs->remote_static, remote_pub, 32);
    if (psk)
        memcpy(hs->psk, psk, 32);
    hash_with_key(hs->init_hash, remote_pub);
    wg_cookie_gen_init(&hs->cookies, remote_pub);
    hs->static_ok = dh(hs->static_static, l->priv, remote_pub) == 0;
    return hs->static_ok ? 0 : WG_EDH;
}

void wg_handshake_clear(struct wg_handshake *hs)
{
    sodium_memzero(hs->hash, sizeof(hs->hash));
    sodium_memzero(hs->chain_key, sizeof(hs->chain_key));
    sodium_memzero(hs->eph_priv, sizeof(hs->eph_priv));
    sodium_memzero(hs->remote_eph, sizeof(hs->remote_eph));
    hs->local_index = hs->remote_index = 0;
    hs->state = WG_HS_ZEROED;
}

int wg_create_initiation(struct wg_handshake *hs, const struct wg_local *l, uint8_t out[WG_INITIATION_LEN],
                         uint32_t local_index, const uint8_t *eph_priv, const uint8_t *timestamp,
                         uint64_t now)
{
    uint8_t ck[32], h[32], k[32], ss[32], epriv[32], ts[WG_TAI64N_LEN];
    int rc;

    if (!hs->static_ok)
        return WG_EDH;
    memset(out, 0, WG_INITIATION_LEN);
    out[0] = WG_MSG_INITIATION;
    wg_put_le32(out + WG_INIT_SENDER, local_index);

    memcpy(ck, wg_initial_chain_key, 32);
    memcpy(h, hs->init_hash, 32);
    if ((rc = ephemeral(epriv, out + WG_INIT_EPHEMERAL, eph_priv)) != 0)
        goto out;
    noise_kdf(ck, out + WG_INIT_EPHEMERAL, 32, ck, NULL, NULL);
    mix_hash(h, out + WG_INIT_EPHEMERAL, 32);

    if ((rc = dh(ss, epriv, hs->remote_static)) != 0)
        goto out;
    noise_kdf(ck, ss, 32, ck, k, NULL);
    seal(out + WG_INIT_STATIC, k, l->pub, 32, h);
    mix_hash(h, out + WG_INIT_STATIC, 32 + WG_TAG_LEN);

    noise_kdf(ck, hs->static_static, 32, ck, k, NULL);
    if (timestamp)
        memcpy(ts, timestamp, sizeof(ts));
    else
        wg_tai64n_now(ts);
    seal(out + WG_INIT_TIMESTAMP, k, ts, sizeof(ts), h);
    mix_hash(h, out + WG_INIT_TIMESTAMP, WG_TAI64N_LEN + WG_TAG_LEN);

    wg_cookie_add_macs(&hs->cookies, out, WG_INITIATION_LEN, now);

    memcpy(hs->chain_key, ck, 32);
    memcpy(hs->hash, h, 32);
    memcpy(hs->eph_priv, epriv, 32);
    hs->local_index = local_index;
    hs->state = WG_HS_CREATED_INITIATION;
    rc = WG_INITIATION_LEN;
out:
    sodium_memzero(ck, sizeof(ck));
    sodium_memzero(k, sizeof(k));
    sodium_memzero(ss, sizeof(ss));
    sodium_memzero(epriv, sizeof(epriv));
    return rc;
}

int wg_consume_initiation(const struct wg_local *l, const uint8_t *msg, size_t len, wg_peer_by_key_fn lookup,
                          void *ctx, uint64_t now, struct wg_handshake **peer)
{
    uint8_t ck[32], h[32], k[32], ss[32], spub[32], ts[WG_TAI64N_LEN];
    struct wg_handshake *hs;
    int rc;

    if (wg_msg_classify(msg, len) != WG_MSG_INITIATION)
        return WG_EINVAL;
    if (!wg_cookie_check_mac1(&l->cookies, msg, len))
        return WG_EMAC;

    memcpy(ck, wg_initial_chain_key, 32);
    memcpy(h, l->init_hash, 32);
    noise_kdf(ck, msg + WG_INIT_EPHEMERAL, 32, ck, NULL, NULL);
    mix_hash(h, msg + WG_INIT_EPHEMERAL, 32);

    if ((rc = dh(ss, l->priv, msg + WG_INIT_EPHEMERAL)) != 0)
        goto out;
    noise_kdf(ck, ss, 32, ck, k, NULL);
    if ((rc = open_(spub, k, msg + WG_INIT_STATIC, 32 + WG_TAG_LEN, h)) != 0)
        goto out;
    mix_hash(h, msg + WG_INIT_STATIC, 32 + WG_TAG_LEN);

    hs = lookup(ctx, spub);
    if (!hs || sodium_memcmp(hs->remote_static, spub, 32) != 0) {
        rc = WG_EPEER;
        goto out;
    }
    if (!hs->static_ok) {
        rc = WG_EDH;
        goto out;
    }
    noise_kdf(ck, hs->static_static, 32, ck, k, NULL);
    if ((rc = open_(ts, k, msg + WG_INIT_TIMESTAMP, WG_TAI64N_LEN + WG_TAG_LEN, h)) != 0)
        goto out;
    mix_hash(h, msg + WG_INIT_TIMESTAMP, WG_TAI64N_LEN + WG_TAG_LEN);

    /* Replay protection without any state shared with the initiator: its clock must move forward. */
    if (!wg_tai64n_after(ts, hs->last_timestamp)) {
        rc = WG_EREPLAY;
        goto out;
    }
    if (hs->have_consumed && now - hs->last_initiation_consumed <= WG_HANDSHAKE_INITIATION_RATE) {
        rc = WG_EFLOOD;
        goto out;
    }

    memcpy(hs->chain_key, ck, 32);
    memcpy(hs->hash, h, 32);
    memcpy(hs->remote_eph, msg + WG_INIT_EPHEMERAL, 32);
    sodium_memzero(hs->eph_priv, sizeof(hs->eph_priv));
    hs->remote_index = wg_get_le32(msg + WG_INIT_SENDER);
    memcpy(hs->last_timestamp, ts, sizeof(ts));
    hs->last_initiation_consumed = now;
    hs->have_consumed = true;
    hs->state = WG_HS_CONSUMED_INITIATION;
    *peer = hs;
    rc = 0;
out:
    sodium_memzero(ck, sizeof(ck));
    sodium_memzero(k, sizeof(k));
    sodium_memzero(ss, sizeof(ss));
    return rc;
}

/* The part of the response both sides compute the same way once they have the DH results:
 * (ck, tau, k) = KDF3(ck, psk); h = HASH(h || tau). Leaves k for the empty AEAD. */
static void mix_psk(uint8_t ck[32], uint8_t h[32], uint8_t k[32], const uint8_t psk[32])
{
    uint8_t tau[32];
    noise_kdf(ck, psk, 32, ck, tau, k);
    mix_hash(h, tau, 32);
    sodium_memzero(tau, sizeof(tau));
}

int wg_create_response(struct wg_handshake *hs, uint8_t out[WG_RESPONSE_LEN], uint32_t local_index,
                       const uint8_t *eph_priv, uint64_t now)
{
    uint8_t ck[32], h[32], k[32], ss[32], epriv[32];
    int rc;

    if (hs->state != WG_HS_CONSUMED_INITIATION)
        return WG_ESTATE;
    memset(out, 0, WG_RESPONSE_LEN);
    out[0] = WG_MSG_RESPONSE;
    wg_put_le32(out + WG_RESP_SENDER, local_index);
    wg_put_le32(out + WG_RESP_RECEIVER, hs->remote_index);

    memcpy(ck, hs->chain_key, 32);
    memcpy(h, hs->hash, 32);
    if ((rc = ephemeral(epriv, out + WG_RESP_EPHEMERAL, eph_priv)) != 0)
        goto out;
    noise_kdf(ck, out + WG_RESP_EPHEMERAL, 32, ck, NULL, NULL);
    mix_hash(h, out + WG_RESP_EPHEMERAL, 32);

    if ((rc = dh(ss, epriv, hs->remote_eph)) != 0)
        goto out;
    noise_kdf(ck, ss, 32, ck, NULL, NULL);
    if ((rc = dh(ss, epriv, hs->remote_static)) != 0)
        goto out;
    noise_kdf(ck, ss, 32, ck, NULL, NULL);

    mix_psk(ck, h, k, hs->psk);
    seal(out + WG_RESP_EMPTY, k, NULL, 0, h);
    mix_hash(h, out + WG_RESP_EMPTY, WG_TAG_LEN);

    wg_cookie_add_macs(&hs->cookies, out, WG_RESPONSE_LEN, now);

    memcpy(hs->chain_key, ck, 32);
    memcpy(hs->hash, h, 32);
    hs->local_index = local_index;
    hs->state = WG_HS_CREATED_RESPONSE;
    rc = WG_RESPONSE_LEN;
out:
    sodium_memzero(ck, sizeof(ck));
    sodium_memzero(k, sizeof(k));
    sodium_memzero(ss, sizeof(ss));
    sodium_memzero(epriv, sizeof(epriv));
    return rc;
}

int wg_consume_response(const struct wg_local *l, const uint8_t *msg, size_t len, wg_peer_by_index_fn lookup,
                        void *ctx, uint64_t now, struct wg_handshake **peer)
{
    uint8_t ck[32], h[32], k[32], ss[32];
    struct wg_handshake *hs;
    int rc;

    (void)now;
    if (wg_msg_classify(msg, len) != WG_MSG_RESPONSE)
        return WG_EINVAL;
    if (!wg_cookie_check_mac1(&l->cookies, msg, len))
        return WG_EMAC;
    uint32_t idx = wg_get_le32(msg + WG_RESP_RECEIVER);
    hs = lookup(ctx, idx);
    if (!hs)
        return WG_EPEER;
    if (hs->state != WG_HS_CREATED_INITIATION || hs->local_index != idx)
        return WG_ESTATE;

    memcpy(ck, hs->chain_key, 32);
    memcpy(h, hs->hash, 32);
    noise_kdf(ck, msg + WG_RESP_EPHEMERAL, 32, ck, NULL, NULL);
    mix_hash(h, msg + WG_RESP_EPHEMERAL, 32);

    if ((rc = dh(ss, hs->eph_priv, msg + WG_RESP_EPHEMERAL)) != 0)
        goto out;
    noise_kdf(ck, ss, 32, ck, NULL, NULL);
    if ((rc = dh(ss, l->priv, msg + WG_RESP_EPHEMERAL)) != 0)
        goto out;
    noise_kdf(ck, ss, 32, ck, NULL, NULL);

    mix_psk(ck, h, k, hs->psk);
    if ((rc = open_(NULL, k, msg + WG_RESP_EMPTY, WG_TAG_LEN, h)) != 0)
        goto out;
    mix_hash(h, msg + WG_RESP_EMPTY, WG_TAG_LEN);

    memcpy(hs->chain_key, ck, 32);
    memcpy(hs->hash, h, 32);
    memcpy(hs->remote_eph, msg + WG_RESP_EPHEMERAL, 32);
    sodium_memzero(hs->eph_priv, sizeof(hs->eph_priv));
    hs->remote_index = wg_get_le32(msg + WG_RESP_SENDER);
    hs->state = WG_HS_CONSUMED_RESPONSE;
    *peer = hs;
    rc = 0;
out:
    sodium_memzero(ck, sizeof(ck));
    sodium_memzero(k, sizeof(k));
    sodium_memzero(ss, sizeof(ss));
    return rc;
}

int wg_handshake_derive_keypair(struct wg_handshake *hs, struct wg_keypair *kp, uint64_t now)
{
    bool initiator;
    if (hs->state == WG_HS_CONSUMED_RESPONSE)
        initiator = true;
    else if (hs->state == WG_HS_CREATED_RESPONSE)
        initiator = false;
    else
        return WG_ESTATE;

    memset(kp, 0, sizeof(*kp));
    /* (T_send_i, T_recv_i) = KDF2(ck, ""); the responder's are the same two swapped. */
    if (initiator)
        noise_kdf(hs->chain_key, NULL, 0, kp->send_key, kp->recv_key, NULL);
    else
        noise_kdf(hs->chain_key, NULL, 0, kp->recv_key, kp->send_key, NULL);
    wg_replay_init(&kp->replay);
    kp->local_index = hs->local_index;
    kp->remote_index = hs->remote_index;
    kp->created = now;
    kp->initiator = initiator;
    wg_handshake_clear(hs);
    return 0;
}

void wg_keypair_clear(struct wg_keypair *kp)
{
    sodium_memzero(kp, sizeof(*kp));
}
