// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/transport.h"

#include <sodium.h>
#include <string.h>

#include "core/wg/constants.h"

static void nonce_of(uint8_t nonce[12], uint64_t counter)
{
    memset(nonce, 0, 4);
    wg_put_le64(nonce + 4, counter);
}

size_t wg_transport_padded_len(size_t len, size_t mtu)
{
    size_t last = len;
    if (mtu) {
        if (last > mtu)
            last %= mtu; /* an over-MTU packet is padded by its last MTU-sized unit (WireGuard's rule) */
        size_t padded = (last + 15) & ~(size_t)15;
        if (padded > mtu)
            padded = mtu;
        return len + (padded > last ? padded - last : 0);
    }
    return (len + 15) & ~(size_t)15;
}

int wg_transport_encrypt(struct wg_keypair *kp, uint8_t *buf, size_t cap, size_t len, size_t mtu)
{
    if (cap < WG_TRANSPORT_MIN_LEN || len > cap - WG_TRANSPORT_MIN_LEN || len > INT32_MAX - 64)
        return WG_EINVAL;
    size_t padded = wg_transport_padded_len(len, mtu);
    if (padded > cap - WG_TRANSPORT_MIN_LEN)
        padded = len; /* no room for padding: padding is only a length-hiding courtesy */
    uint64_t counter = __atomic_fetch_add(&kp->send_counter, 1, __ATOMIC_RELAXED);
    if (counter >= WG_REJECT_AFTER_MESSAGES) {
        __atomic_store_n(&kp->send_counter, WG_REJECT_AFTER_MESSAGES, __ATOMIC_RELAXED);
        return WG_ECOUNTER;
    }
    uint8_t *p = buf + WG_TRANSPORT_HEADER_LEN;
    memset(p + len, 0, padded - len);
    uint8_t nonce[12];
    nonce_of(nonce, counter);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(p, p + padded, NULL, p, padded, NULL, 0, NULL, nonce,
                                                       kp->send_key);
    wg_put_le32(buf, WG_MSG_TRANSPORT);
    wg_put_le32(buf + WG_DATA_RECEIVER, kp->remote_index);
    wg_put_le64(buf + WG_DATA_COUNTER, counter);
    return (int)(WG_TRANSPORT_MIN_LEN + padded);
}

/* Everything about a transport message that can be judged without the key. */
static int check_header(const struct wg_keypair *kp, const uint8_t *msg, size_t len, uint64_t *counter)
{
    if (wg_msg_classify(msg, len) != WG_MSG_TRANSPORT || len > INT32_MAX)
        return WG_EINVAL;
    if (wg_get_le32(msg + WG_DATA_RECEIVER) != kp->local_index)
        return WG_EPEER;
    *counter = wg_get_le64(msg + WG_DATA_COUNTER);
    if (*counter >= WG_REJECT_AFTER_MESSAGES)
        return WG_EREPLAY;
    return 0;
}

static int open_body(const struct wg_keypair *kp, uint8_t *msg, size_t len, uint64_t counter)
{
    size_t clen = len - WG_TRANSPORT_MIN_LEN;
    uint8_t *p = msg + WG_TRANSPORT_HEADER_LEN;
    uint8_t nonce[12];
    nonce_of(nonce, counter);
    /* libsodium checks the tag before decrypting, and on failure zeroes the (in-place) payload. */
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(p, NULL, p, clen, p + clen, NULL, 0, nonce,
                                                           kp->recv_key) != 0)
        return WG_EDECRYPT;
    return (int)clen;
}

int wg_transport_open(const struct wg_keypair *kp, uint8_t *msg, size_t len, uint64_t *counter)
{
    int rc = check_header(kp, msg, len, counter);
    return rc < 0 ? rc : open_body(kp, msg, len, *counter);
}

int wg_transport_decrypt(struct wg_keypair *kp, uint8_t *msg, size_t len)
{
    uint64_t c;
    int n = check_header(kp, msg, len, &c);
    if (n < 0)
        return n;
    if (!wg_replay_check(&kp->replay, c))
        return WG_EREPLAY; /* cheap refusal before spending a decryption */
    if ((n = open_body(kp, msg, len, c)) < 0)
        return n;
    if (!wg_replay_update(&kp->replay, c))
        return WG_EREPLAY;
    return n;
}
