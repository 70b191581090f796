// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/cookie.h"

#include <sodium.h>
#include <string.h>

#include "core/crypto/blake2s.h"
#include "core/wg/constants.h"
#include "core/wg/errors.h"

static void labelled_key(uint8_t out[32], const char label[8], const uint8_t pub[32])
{
    struct blake2s_state s;
    blake2s_init(&s, 32);
    blake2s_update(&s, label, 8);
    blake2s_update(&s, pub, 32);
    blake2s_final(&s, out);
}

static bool handshake_len(size_t len)
{
    return len == WG_INITIATION_LEN || len == WG_RESPONSE_LEN;
}

/* mac1 covers everything before it, mac2 everything before mac2. */
static size_t mac1_off(size_t len)
{
    return len - 2 * WG_MAC_LEN;
}

static size_t mac2_off(size_t len)
{
    return len - WG_MAC_LEN;
}

static void mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen)
{
    blake2s(out, WG_MAC_LEN, in, inlen, key, keylen);
}

static void make_cookie(const struct wg_cookie_checker *c, uint8_t cookie[WG_COOKIE_LEN], const uint8_t *src,
                        size_t srclen)
{
    mac(cookie, c->secret, sizeof(c->secret), src, srclen);
}

void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t local_pub[32])
{
    memset(c, 0, sizeof(*c));
    labelled_key(c->mac1_key, "mac1----", local_pub);
    labelled_key(c->cookie_key, "cookie--", local_pub);
}

void wg_cookie_checker_clear(struct wg_cookie_checker *c)
{
    sodium_memzero(c, sizeof(*c));
}

bool wg_cookie_check_mac1(const struct wg_cookie_checker *c, const uint8_t *msg, size_t len)
{
    if (!handshake_len(len))
        return false;
    uint8_t m[WG_MAC_LEN];
    mac(m, c->mac1_key, sizeof(c->mac1_key), msg, mac1_off(len));
    return sodium_memcmp(m, msg + mac1_off(len), WG_MAC_LEN) == 0;
}

bool wg_cookie_check_mac2(const struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
                          const uint8_t *src, size_t srclen, uint64_t now)
{
    if (!handshake_len(len) || !c->secret_valid || now - c->secret_birth > WG_COOKIE_REFRESH_TIME)
        return false;
    uint8_t cookie[WG_COOKIE_LEN], m[WG_MAC_LEN];
    make_cookie(c, cookie, src, srclen);
    mac(m, cookie, sizeof(cookie), msg, mac2_off(len));
    sodium_memzero(cookie, sizeof(cookie));
    return sodium_memcmp(m, msg + mac2_off(len), WG_MAC_LEN) == 0;
}

int wg_cookie_create_reply(struct wg_cookie_checker *c, uint8_t out[WG_COOKIE_REPLY_LEN], const uint8_t *msg,
                           size_t len, const uint8_t *src, size_t srclen, uint64_t now, const uint8_t *nonce)
{
    if (!handshake_len(len))
        return WG_EINVAL;
    if (!c->secret_valid || now - c->secret_birth > WG_COOKIE_REFRESH_TIME) {
        randombytes_buf(c->secret, sizeof(c->secret));
        c->secret_birth = now;
        c->secret_valid = true;
    }
    uint8_t cookie[WG_COOKIE_LEN];
    make_cookie(c, cookie, src, srclen);

    memset(out, 0, WG_COOKIE_REPLY_LEN);
    out[0] = WG_MSG_COOKIE_REPLY;
    memcpy(out + WG_COOKIE_RECEIVER, msg + 4, 4); /* the sender index of the message answered */
    if (nonce)
        memcpy(out + WG_COOKIE_NONCE, nonce, WG_COOKIE_NONCE_LEN);
    else
        randombytes_buf(out + WG_COOKIE_NONCE, WG_COOKIE_NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + WG_COOKIE_ENCRYPTED, NULL, cookie, sizeof(cookie),
                                               msg + mac1_off(len), WG_MAC_LEN, NULL, out + WG_COOKIE_NONCE,
                                               c->cookie_key);
    sodium_memzero(cookie, sizeof(cookie));
    return WG_COOKIE_REPLY_LEN;
}

void wg_cookie_gen_init(struct wg_cookie_gen *g, const uint8_t remote_pub[32])
{
    memset(g, 0, sizeof(*g));
    labelled_key(g->mac1_key, "mac1----", remote_pub);
    labelled_key(g->cookie_key, "cookie--", remote_pub);
}

void wg_cookie_add_macs(struct wg_cookie_gen *g, uint8_t *msg, size_t len, uint64_t now)
{
    if (!handshake_len(len))
        return;
    mac(msg + mac1_off(len), g->mac1_key, sizeof(g->mac1_key), msg, mac1_off(len));
    memcpy(g->last_mac1, msg + mac1_off(len), WG_MAC_LEN);
    g->have_last_mac1 = true;
    if (g->have_cookie && now - g->cookie_birth <= WG_COOKIE_REFRESH_TIME)
        mac(msg + mac2_off(len), g->cookie, sizeof(g->cookie), msg, mac2_off(len));
    else
        memset(msg + mac2_off(len), 0, WG_MAC_LEN);
}

int wg_cookie_consume_reply(struct wg_cookie_gen *g, const uint8_t *msg, size_t len, uint64_t now)
{
    if (len != WG_COOKIE_REPLY_LEN || wg_get_le32(msg) != WG_MSG_COOKIE_REPLY)
        return WG_EINVAL;
    if (!g->have_last_mac1)
        return WG_ESTATE; /* we sent nothing this could answer */
    uint8_t cookie[WG_COOKIE_LEN];
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, NULL, NULL, msg + WG_COOKIE_ENCRYPTED,
                                                   WG_COOKIE_LEN + WG_TAG_LEN, g->last_mac1, WG_MAC_LEN,
                                                   msg + WG_COOKIE_NONCE, g->cookie_key) != 0)
        return WG_EDECRYPT;
    memcpy(g->cookie, cookie, sizeof(cookie));
    sodium_memzero(cookie, sizeof(cookie));
    g->cookie_birth = now;
    g->have_cookie = true;
    return 0;
}
