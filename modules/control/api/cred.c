// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/api/cred.h"

#include <sodium.h>
#include <string.h>

void cred_hash(const char *text, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)text, len, NULL, 0);
}

bool cred_matches(const struct model_cred *c, const char *text, size_t len)
{
    uint8_t h[32];
    cred_hash(text, len, h);
    return sodium_memcmp(h, c->hash, 32) == 0;
}

int cred_generate(const char *prefix, char id_letter, char *text, size_t cap, struct model_cred *c)
{
    uint8_t id[CRED_ID_HEX / 2], secret[CRED_SECRET_HEX / 2];
    size_t p = strlen(prefix), len = p + 1 + CRED_ID_HEX + 1 + CRED_SECRET_HEX;
    if (sodium_init() < 0 || cap <= len)
        return -1;
    randombytes_buf(id, sizeof id);
    randombytes_buf(secret, sizeof secret);
    memcpy(text, prefix, p);
    text[p] = id_letter;
    sodium_bin2hex(text + p + 1, CRED_ID_HEX + 1, id, sizeof id);
    text[p + 1 + CRED_ID_HEX] = '-';
    sodium_bin2hex(text + p + 2 + CRED_ID_HEX, CRED_SECRET_HEX + 1, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    memcpy(c->key_id, text + p, 1 + CRED_ID_HEX);
    c->key_id[1 + CRED_ID_HEX] = 0;
    cred_hash(text, len, c->hash);
    return 0;
}

static bool hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int cred_parse(const char *prefix, const char *text, size_t len, char key_id[MODEL_CRED_ID_MAX + 1])
{
    size_t p = strlen(prefix);
    if (len != p + 1 + CRED_ID_HEX + 1 + CRED_SECRET_HEX || memcmp(text, prefix, p))
        return -1;
    const char *id = text + p;
    if (!(id[0] >= 'a' && id[0] <= 'z') || !hex(id + 1, CRED_ID_HEX) || id[1 + CRED_ID_HEX] != '-' ||
        !hex(id + 2 + CRED_ID_HEX, CRED_SECRET_HEX))
        return -1;
    memcpy(key_id, id, 1 + CRED_ID_HEX);
    key_id[1 + CRED_ID_HEX] = 0;
    return 0;
}
