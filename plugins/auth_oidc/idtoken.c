// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "plugins/auth_oidc/idtoken.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>

/* cjose asserts (abort) on a base64url text whose length is 1 mod 4, so nothing reaches it unchecked: only
 * base64url characters (no padding: RFC 7515 2, RFC 7517), and a length some base64 text can have. */
static bool b64url_ok(const char *t, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return false;
    }
    if (len % 4 == 1)
        return false;
    if (len % 4 == 0)
        return true;
    /* canonical only (RFC 4648 3.5): the last character's unused bits are zero, so one token has one text */
    char ch = t[len - 1];
    int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
            : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
            : ch >= '0' && ch <= '9' ? ch - '0' + 52
            : ch == '-'              ? 62
                                     : 63;
    return (v & (len % 4 == 2 ? 0x0f : 0x03)) == 0;
}

/* The members of a JWK cjose decodes as base64url: each must be such a text if present. */
static bool jwk_members_ok(struct json_object *k)
{
    static const char *const b64[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y", "k", NULL};
    for (size_t i = 0; b64[i]; i++) {
        struct json_object *v;
        if (json_object_object_get_ex(k, b64[i], &v) &&
            (!json_object_is_type(v, json_type_string) ||
             !b64url_ok(json_object_get_string(v), (size_t)json_object_get_string_len(v))))
            return false;
    }
    return true;
}

void jwks_clear(struct jwks *keys)
{
    for (size_t i = 0; i < keys->n; i++)
        cjose_jwk_release(keys->k[i].jwk);
    keys->n = 0;
}

static const char *str_member(struct json_object *o, const char *name)
{
    struct json_object *v;
    return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

int jwks_load(struct jwks *keys, const char *json, size_t len, char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *doc = tok ? json_tokener_parse_ex(tok, json, (int)len) : NULL, *arr;
    if (tok)
        json_tokener_free(tok);
    if (!doc || !json_object_object_get_ex(doc, "keys", &arr) || !json_object_is_type(arr, json_type_array)) {
        snprintf(err, errlen, "not a JWK Set (want {\"keys\": [...]})");
        json_object_put(doc);
        return -1;
    }
    struct jwks next = {.n = 0};
    for (size_t i = 0; i < json_object_array_length(arr) && next.n < JWKS_MAX; i++) {
        struct json_object *k = json_object_array_get_idx(arr, i);
        const char *kty = str_member(k, "kty"), *use = str_member(k, "use"), *kid = str_member(k, "kid");
        if (!json_object_is_type(k, json_type_object) || !kty || (strcmp(kty, "RSA") && strcmp(kty, "EC")) ||
            (use && strcmp(use, "sig")) || (kid && strlen(kid) >= sizeof next.k[0].kid))
            continue;
        if (!jwk_members_ok(k))
            continue;
        const char *text = json_object_to_json_string_ext(k, JSON_C_TO_STRING_PLAIN);
        cjose_err ce;
        cjose_jwk_t *jwk = cjose_jwk_import(text, strlen(text), &ce);
        if (!jwk)
            continue; /* one bad key does not spoil the others */
        struct jwks_key *d = &next.k[next.n++];
        snprintf(d->kid, sizeof d->kid, "%s", kid ? kid : "");
        d->jwk = jwk;
        d->kty = cjose_jwk_get_kty(jwk, &ce);
    }
    json_object_put(doc);
    if (!next.n) {
        snprintf(err, errlen, "the JWK Set has no RSA or EC signing key");
        return -1;
    }
    jwks_clear(keys);
    *keys = next;
    return 0;
}

/* The key type an algorithm needs. */
static int alg_kty(const char *alg)
{
    return alg[0] == 'E' ? CJOSE_JWK_KTY_EC : CJOSE_JWK_KTY_RSA;
}

static bool aud_ok(struct json_object *claims, const char *client_id, char *err, size_t errlen)
{
    struct json_object *aud, *azp;
    if (!json_object_object_get_ex(claims, "aud", &aud)) {
        snprintf(err, errlen, "no audience (aud)");
        return false;
    }
    if (json_object_is_type(aud, json_type_string)) {
        if (!strcmp(json_object_get_string(aud), client_id))
            return true;
    } else if (json_object_is_type(aud, json_type_array)) {
        bool found = false;
        size_t n = json_object_array_length(aud);
        for (size_t i = 0; i < n && !found; i++) {
            struct json_object *a = json_object_array_get_idx(aud, i);
            found = json_object_is_type(a, json_type_string) && !strcmp(json_object_get_string(a), client_id);
        }
        /* several audiences: the authorized party must be us (Core §3.1.3.7 items 4 and 5) */
        if (found && (n == 1 || (json_object_object_get_ex(claims, "azp", &azp) &&
                                 json_object_is_type(azp, json_type_string) &&
                                 !strcmp(json_object_get_string(azp), client_id))))
            return true;
    }
    snprintf(err, errlen, "the token is for another audience (aud is not %s)", client_id);
    return false;
}

/* A NumericDate claim: 1 present (into *v), 0 absent, -1 present but not a number. */
static int num_claim(struct json_object *claims, const char *name, int64_t *v)
{
    struct json_object *o;
    if (!json_object_object_get_ex(claims, name, &o))
        return 0;
    if (!json_object_is_type(o, json_type_int) && !json_object_is_type(o, json_type_double))
        return -1;
    *v = json_object_get_int64(o);
    return 1;
}

static int check_claims(struct json_object *claims, const struct idt_expect *want, char *err, size_t errlen)
{
    const char *iss = str_member(claims, "iss"), *sub = str_member(claims, "sub"),
               *nonce = str_member(claims, "nonce");
    int64_t exp = 0, iat = 0, nbf = 0;
    if (!iss || strcmp(iss, want->issuer)) {
        snprintf(err, errlen, "the token's issuer is not %s", want->issuer);
        return IDT_BAD;
    }
    if (!aud_ok(claims, want->client_id, err, errlen))
        return IDT_BAD;
    if (num_claim(claims, "exp", &exp) != 1) {
        snprintf(err, errlen, "no expiry (exp)");
        return IDT_BAD;
    }
    if (exp + IDT_LEEWAY <= want->now) {
        snprintf(err, errlen, "the token expired %lld s ago", (long long)(want->now - exp));
        return IDT_BAD;
    }
    if (num_claim(claims, "iat", &iat) != 1 || iat > want->now + IDT_LEEWAY) {
        snprintf(err, errlen, "no issue time (iat), or one in the future");
        return IDT_BAD;
    }
    int r = num_claim(claims, "nbf", &nbf);
    if (r < 0 || (r == 1 && nbf > want->now + IDT_LEEWAY)) {
        snprintf(err, errlen, "the token is not valid yet (nbf)");
        return IDT_BAD;
    }
    if (!sub || !*sub) {
        snprintf(err, errlen, "no subject (sub)");
        return IDT_BAD;
    }
    if (want->nonce && (!nonce || strcmp(nonce, want->nonce))) {
        snprintf(err, errlen, "the token's nonce is not this login's");
        return IDT_BAD;
    }
    return IDT_OK;
}

/* Three '.'-separated base64url parts (a compact JWS, RFC 7515 7.1). */
static bool compact_jws_shape(const char *t, size_t len)
{
    const char *end = t + len, *p = t;
    for (int part = 0; part < 3; part++) {
        const char *dot = part < 2 ? memchr(p, '.', (size_t)(end - p)) : end;
        if (!dot || !b64url_ok(p, (size_t)(dot - p)))
            return false;
        p = dot + 1;
    }
    return true;
}

int idt_check(const char *token, size_t len, const struct jwks *keys, const struct idt_expect *want,
              struct json_object **claims, char *err, size_t errlen)
{
    cjose_err ce;
    *claims = NULL;
    if (len > 16384 || memchr(token, 0, len)) {
        snprintf(err, errlen, "malformed token");
        return IDT_BAD;
    }
    /* cjose asserts (abort) on a base64url part whose length is 1 mod 4: what it is handed must be a
     * compact JWS already, three parts of base64url characters without padding, each a possible length */
    if (!compact_jws_shape(token, len)) {
        snprintf(err, errlen, "malformed token (not a compact JWS)");
        return IDT_BAD;
    }
    cjose_jws_t *jws = cjose_jws_import(token, len, &ce);
    if (!jws) {
        snprintf(err, errlen, "malformed token (not a compact JWS)");
        return IDT_BAD;
    }
    int rc = IDT_BAD;
    cjose_header_t *hdr = cjose_jws_get_protected(jws);
    const char *alg = hdr ? cjose_header_get(hdr, CJOSE_HDR_ALG, &ce) : NULL;
    const char *kid = hdr ? cjose_header_get(hdr, CJOSE_HDR_KID, &ce) : NULL;
    bool allowed = false;
    for (size_t i = 0; alg && want->algs[i] && !allowed; i++)
        allowed = !strcmp(alg, want->algs[i]);
    if (!allowed) {
        snprintf(err, errlen, "signature algorithm %.20s is not accepted (control.oidc.algorithms)",
                 alg ? alg : "(none)");
        goto out;
    }
    /* the key: the one its kid names; without a kid, any key of the algorithm's type that verifies */
    bool verified = false, candidate = false;
    for (size_t i = 0; i < keys->n && !verified; i++) {
        const struct jwks_key *k = &keys->k[i];
        if ((kid && strcmp(kid, k->kid)) || k->kty != alg_kty(alg))
            continue;
        candidate = true;
        verified = cjose_jws_verify(jws, k->jwk, &ce);
    }
    if (!candidate) {
        snprintf(err, errlen, "signed with an unknown key (kid %.60s)", kid ? kid : "none");
        rc = IDT_UNKNOWN_KEY;
        goto out;
    }
    if (!verified) {
        snprintf(err, errlen, "bad signature");
        goto out;
    }
    uint8_t *plain = NULL;
    size_t plen = 0;
    if (!cjose_jws_get_plaintext(jws, &plain, &plen, &ce) || !plain) {
        snprintf(err, errlen, "no payload");
        goto out;
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *c = tok ? json_tokener_parse_ex(tok, (const char *)plain, (int)plen) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (!c || !json_object_is_type(c, json_type_object)) {
        json_object_put(c);
        snprintf(err, errlen, "the payload is not a JSON object");
        goto out;
    }
    rc = check_claims(c, want, err, errlen);
    if (rc == IDT_OK)
        *claims = c;
    else
        json_object_put(c);
out:
    cjose_jws_release(jws);
    return rc;
}
