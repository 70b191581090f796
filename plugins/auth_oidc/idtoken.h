// SPDX-License-Identifier: BSD-3-Clause
/* The provider's signing keys (a JWK Set) and the validation of an ID token against them (OpenID Connect
 * Core §3.1.3.7): signature by a key of the set with an allowed algorithm, issuer, audience (and azp),
 * expiry, issue time, nonce. The JOSE work is cjose's; the claims are json-c's. Pure functions of their
 * input (t/fuzz/fuzz_oidc.c). */
#ifndef WEFT_AUTH_OIDC_IDTOKEN_H
#define WEFT_AUTH_OIDC_IDTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define JWKS_MAX 64
#define IDT_LEEWAY 60 /* seconds of clock difference tolerated on exp, iat, nbf */

struct jwks_key {
    char kid[128]; /* "" if the key has none */
    void *jwk;     /* cjose_jwk_t */
    int kty;       /* cjose_jwk_kty_t */
};

struct jwks {
    struct jwks_key k[JWKS_MAX];
    size_t n;
};

/* Replaces keys with the signing keys of a JWK Set document ({"keys": [...]}); keys with "use" other than
 * "sig", or of a type other than RSA and EC, are left out. 0, or -1 with a message (keys unchanged). */
int jwks_load(struct jwks *keys, const char *json, size_t len, char *err, size_t errlen);
void jwks_clear(struct jwks *keys);

struct idt_expect {
    const char *issuer;
    const char *client_id;
    const char *nonce;
    const char *const *algs; /* allowed "alg" values, NULL-terminated */
    int64_t now;             /* unix seconds */
};

enum { IDT_OK = 0, IDT_BAD = -1, IDT_UNKNOWN_KEY = -2 };

/* Validates token: IDT_OK with *claims (the payload, to put) set; IDT_UNKNOWN_KEY when its "kid" is not in
 * keys (the provider may have rotated: fetch the set again); IDT_BAD with the reason in err. */
int idt_check(const char *token, size_t len, const struct jwks *keys, const struct idt_expect *want,
              struct json_object **claims, char *err, size_t errlen);

#endif
