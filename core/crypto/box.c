// SPDX-License-Identifier: BSD-3-Clause
/* NaCl box over libsodium's crypto_box_easy family, which already produces tag ‖ ciphertext; we only put
 * the nonce in front. */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "core/crypto/box.h"
#include "core/crypto/key.h"

_Static_assert(crypto_box_NONCEBYTES == BOX_NONCEBYTES, "box nonce size");
_Static_assert(crypto_box_MACBYTES == BOX_MACBYTES, "box tag size");
_Static_assert(crypto_box_BEFORENMBYTES == sizeof(((struct box_shared *)0)->k), "box shared key size");

/* crypto_box_*_easy take unsigned long long lengths; refuse what would overflow our ssize_t result. */
static int box_len_ok(size_t len)
{
    return len <= (size_t)SSIZE_MAX - BOX_OVERHEAD && len <= crypto_box_MESSAGEBYTES_MAX;
}

ssize_t box_seal_nonce(uint8_t *out, const uint8_t nonce[BOX_NONCEBYTES], const uint8_t *msg, size_t len,
                       const uint8_t peer_pub[32], const uint8_t my_priv[32])
{
    if (key_crypto_init() < 0 || !box_len_ok(len))
        return -1;
    memmove(out, nonce, BOX_NONCEBYTES);
    if (crypto_box_easy(out + BOX_NONCEBYTES, msg, len, out, peer_pub, my_priv) != 0)
        return -1;
    return (ssize_t)(len + BOX_OVERHEAD);
}

ssize_t box_seal(uint8_t *out, const uint8_t *msg, size_t len,
                 const uint8_t peer_pub[32], const uint8_t my_priv[32])
{
    uint8_t nonce[BOX_NONCEBYTES];
    if (key_crypto_init() < 0)
        return -1;
    randombytes_buf(nonce, sizeof(nonce));
    return box_seal_nonce(out, nonce, msg, len, peer_pub, my_priv);
}

ssize_t box_open(uint8_t *out, const uint8_t *in, size_t inlen,
                 const uint8_t peer_pub[32], const uint8_t my_priv[32])
{
    if (inlen < BOX_OVERHEAD || inlen > (size_t)SSIZE_MAX || key_crypto_init() < 0)
        return -1;
    if (crypto_box_open_easy(out, in + BOX_NONCEBYTES, inlen - BOX_NONCEBYTES, in, peer_pub, my_priv) != 0)
        return -1;
    return (ssize_t)(inlen - BOX_OVERHEAD);
}

int box_precompute(struct box_shared *s, const uint8_t peer_pub[32], const uint8_t my_priv[32])
{
    if (key_crypto_init() < 0)
        return -1;
    if (crypto_box_beforenm(s->k, peer_pub, my_priv) != 0) {
        sodium_memzero(s, sizeof(*s));
        return -1;
    }
    return 0;
}

void box_shared_wipe(struct box_shared *s)
{
    sodium_memzero(s, sizeof(*s));
}

ssize_t box_seal_shared_nonce(uint8_t *out, const uint8_t nonce[BOX_NONCEBYTES], const uint8_t *msg,
                              size_t len, const struct box_shared *s)
{
    if (!box_len_ok(len))
        return -1;
    memmove(out, nonce, BOX_NONCEBYTES);
    if (crypto_box_easy_afternm(out + BOX_NONCEBYTES, msg, len, out, s->k) != 0)
        return -1;
    return (ssize_t)(len + BOX_OVERHEAD);
}

ssize_t box_seal_shared(uint8_t *out, const uint8_t *msg, size_t len, const struct box_shared *s)
{
    uint8_t nonce[BOX_NONCEBYTES];
    if (key_crypto_init() < 0)
        return -1;
    randombytes_buf(nonce, sizeof(nonce));
    return box_seal_shared_nonce(out, nonce, msg, len, s);
}

ssize_t box_open_shared(uint8_t *out, const uint8_t *in, size_t inlen, const struct box_shared *s)
{
    if (inlen < BOX_OVERHEAD || inlen > (size_t)SSIZE_MAX)
        return -1;
    if (crypto_box_open_easy_afternm(out, in + BOX_NONCEBYTES, inlen - BOX_NONCEBYTES, in, s->k) != 0)
        return -1;
    return (ssize_t)(inlen - BOX_OVERHEAD);
}
