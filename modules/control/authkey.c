// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/authkey.h"

#include <sodium.h>
#include <string.h>

#include "modules/control/store.h"

const char *authkey_reason(int status)
{
    switch (status) {
    case AUTHKEY_OK: return "ok";
    case AUTHKEY_UNKNOWN: return "invalid auth key: no such key";
    case AUTHKEY_REVOKED: return "auth key has been revoked";
    case AUTHKEY_EXPIRED: return "auth key has expired";
    case AUTHKEY_USED: return "auth key has already been used (it is single-use)";
    case AUTHKEY_ERROR: return "auth key could not be checked (server storage error), try again later";
    }
    return "invalid auth key";
}

void authkey_hash(const char *text, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)text, len);
}

bool authkey_well_formed(const char *text)
{
    size_t p = sizeof(AUTHKEY_TEXT_PREFIX) - 1;
    if (!text || strlen(text) != AUTHKEY_TEXT_LEN || strncmp(text, AUTHKEY_TEXT_PREFIX, p) != 0)
        return false;
    for (size_t i = p; i < AUTHKEY_TEXT_LEN; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return true;
}

int authkey_generate(char text[AUTHKEY_TEXT_LEN + 1], struct model_authkey *k)
{
    uint8_t secret[AUTHKEY_SECRET_HEX / 2];
    size_t p = sizeof(AUTHKEY_TEXT_PREFIX) - 1;
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(secret, sizeof(secret));
    memcpy(text, AUTHKEY_TEXT_PREFIX, p);
    sodium_bin2hex(text + p, AUTHKEY_SECRET_HEX + 1, secret, sizeof(secret));
    sodium_memzero(secret, sizeof(secret));
    memcpy(k->prefix, text, p + AUTHKEY_SHOWN_HEX);
    k->prefix[p + AUTHKEY_SHOWN_HEX] = 0;
    authkey_hash(text, AUTHKEY_TEXT_LEN, k->hash);
    return 0;
}

int authkey_check(const struct model_authkey *k, int64_t now)
{
    if (k->revoked)
        return AUTHKEY_REVOKED;
    if (k->expiration && k->expiration <= now)
        return AUTHKEY_EXPIRED;
    if (!k->reusable && k->used_count > 0)
        return AUTHKEY_USED;
    return AUTHKEY_OK;
}

int authkey_lookup(struct store *s, const char *text, int64_t now, struct model_authkey *out)
{
    uint8_t h[32];
    memset(out, 0, sizeof(*out));
    if (!authkey_well_formed(text))
        return AUTHKEY_UNKNOWN;
    authkey_hash(text, AUTHKEY_TEXT_LEN, h);
    int rc = store_authkey_get_by_hash(s, h, out);
    if (rc == STORE_NOTFOUND)
        return AUTHKEY_UNKNOWN;
    if (rc != STORE_OK)
        return AUTHKEY_ERROR;
    return authkey_check(out, now);
}

bool authkey_tag_valid(const char *tag)
{
    if (!tag || strncmp(tag, "tag:", 4) != 0)
        return false;
    size_t n = strlen(tag);
    if (n == 4 || n > AUTHKEY_TAG_MAX)
        return false;
    char c = tag[4];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        return false;
    for (size_t i = 5; i < n; i++) {
        c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

int authkey_create(struct store *s, int64_t user_id, bool reusable, bool ephemeral, int64_t expiration,
                   const struct model_strlist *tags, const char *description, char text[AUTHKEY_TEXT_LEN + 1],
                   struct model_authkey *out)
{
    memset(out, 0, sizeof(*out));
    if (tags)
        for (size_t i = 0; i < tags->n; i++)
            if (!authkey_tag_valid(tags->v[i]))
                return store_fail(s, STORE_INVALID,
                                  "invalid tag '%.*s': tags are 'tag:' followed by a letter "
                                  "and letters, digits or dashes",
                                  AUTHKEY_TAG_MAX, tags->v[i]);
    out->user_id = user_id;
    out->reusable = reusable;
    out->ephemeral = ephemeral;
    out->expiration = expiration;
    if (description)
        model_strlcpy(out->description, description, sizeof(out->description));
    if ((tags && model_strlist_copy(&out->tags, tags) < 0) || authkey_generate(text, out) < 0) {
        model_authkey_clear(out);
        return store_fail(s, STORE_IO, "pre-auth key: out of memory or no randomness");
    }
    int rc = store_authkey_create(s, out);
    if (rc != STORE_OK) {
        model_authkey_clear(out);
        sodium_memzero(text, AUTHKEY_TEXT_LEN + 1);
    }
    return rc;
}
