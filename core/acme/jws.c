// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/acme/jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>

char *acme_b64url(const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *out = malloc(len / 3 * 4 + 5), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
    }
    *o = 0;
    return out;
}

/* A P-256 coordinate as exactly 32 bytes, base64url. */
static char *coord(EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char buf[32];
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        return NULL;
    int ok = BN_bn2binpad(bn, buf, sizeof buf) == sizeof buf;
    BN_free(bn);
    return ok ? acme_b64url(buf, sizeof buf) : NULL;
}

char *acme_jwk(EVP_PKEY *key)
{
    char *x = coord(key, OSSL_PKEY_PARAM_EC_PUB_X), *y = coord(key, OSSL_PKEY_PARAM_EC_PUB_Y), *out = NULL;
    if (x && y) {
        size_t n = strlen(x) + strlen(y) + 64;
        if ((out = malloc(n)))
            snprintf(out, n, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    }
    free(x);
    free(y);
    return out;
}

char *acme_thumbprint(EVP_PKEY *key)
{
    char *jwk = acme_jwk(key);
    if (!jwk)
        return NULL;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)jwk, strlen(jwk), md);
    free(jwk);
    return acme_b64url(md, sizeof md);
}

char *acme_key_authorization(const char *token, EVP_PKEY *key)
{
    char *tp = acme_thumbprint(key), *out = NULL;
    if (tp) {
        size_t n = strlen(token) + strlen(tp) + 2;
        if ((out = malloc(n)))
            snprintf(out, n, "%s.%s", token, tp);
    }
    free(tp);
    return out;
}

/* ES256: the DER ECDSA signature of SHA-256(input) as r || s, 32 bytes each (RFC 7518 §3.4). */
static char *sign_es256(EVP_PKEY *key, const char *input)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128], raw[64];
    size_t dlen = sizeof der;
    char *out = NULL;
    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(md, der, &dlen, (const unsigned char *)input, strlen(input)) == 1) {
        const unsigned char *p = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
        if (sig) {
            const BIGNUM *r, *s;
            ECDSA_SIG_get0(sig, &r, &s);
            if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
                out = acme_b64url(raw, sizeof raw);
            ECDSA_SIG_free(sig);
        }
    }
    EVP_MD_CTX_free(md);
    return out;
}

char *acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload)
{
    struct json_object *h = json_object_new_object();
    char *jwk = NULL, *ph = NULL, *pp = NULL, *sig = NULL, *input = NULL, *out = NULL;
    json_object_object_add(h, "alg", json_object_new_string("ES256"));
    if (kid) {
        json_object_object_add(h, "kid", json_object_new_string(kid));
    } else {
        if (!(jwk = acme_jwk(key)))
            goto done;
        json_object_object_add(h, "jwk", json_tokener_parse(jwk));
    }
    json_object_object_add(h, "nonce", json_object_new_string(nonce));
    json_object_object_add(h, "url", json_object_new_string(url));
    const char *hs = json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!(ph = acme_b64url(hs, strlen(hs))) || !(pp = acme_b64url(payload, strlen(payload))))
        goto done;
    size_t n = strlen(ph) + strlen(pp) + 2;
    if (!(input = malloc(n)))
        goto done;
    snprintf(input, n, "%s.%s", ph, pp);
    if (!(sig = sign_es256(key, input)))
        goto done;
    n = strlen(ph) + strlen(pp) + strlen(sig) + 64;
    if ((out = malloc(n)))
        snprintf(out, n, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", ph, pp, sig);
done:
    json_object_put(h);
    free(jwk);
    free(ph);
    free(pp);
    free(sig);
    free(input);
    return out;
}
