// SPDX-License-Identifier: BSD-3-Clause
/* ACME's JSON Web Signatures (RFC 8555 §6.2, RFC 7515, RFC 7638) with an ECDSA P-256 account key (ES256),
 * over OpenSSL. Strings returned are malloc'd; NULL when out of memory or OpenSSL fails. */
#ifndef WEFT_CORE_ACME_JWS_H
#define WEFT_CORE_ACME_JWS_H

#include <stddef.h>

#include <openssl/evp.h>

/* base64url without padding (RFC 7515 §2). */
char *acme_b64url(const void *data, size_t len);
/* The public key as a JWK with its members in lexicographic order and no spaces: what the thumbprint is
 * taken over (RFC 7638 §3). */
char *acme_jwk(EVP_PKEY *key);
/* base64url(SHA-256(JWK)) (RFC 7638). */
char *acme_thumbprint(EVP_PKEY *key);
/* A challenge's key authorization: token "." thumbprint (RFC 8555 §8.1). */
char *acme_key_authorization(const char *token, EVP_PKEY *key);
/* A flattened JWS of payload (a JSON text; "" for POST-as-GET) for url, with the account URL as kid, or the
 * JWK when kid is NULL (newAccount). */
char *acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload);

#endif
