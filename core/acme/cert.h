// SPDX-License-Identifier: BSD-3-Clause
/* The certificate side of ACME, over OpenSSL: keys, the CSR, a placeholder certificate to serve until the
 * first one is issued, the tls-alpn-01 challenge certificate (RFC 8737 §3), and what a stored certificate
 * covers. Strings returned are malloc'd. */
#ifndef WEFT_CORE_ACME_CERT_H
#define WEFT_CORE_ACME_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* A new ECDSA P-256 key; NULL on failure. */
EVP_PKEY *acme_key_new(void);
/* PKCS#8 PEM of a private key / the key in a PEM text (NULL if none). */
char *acme_key_pem(EVP_PKEY *key);
EVP_PKEY *acme_key_from_pem(const char *pem, size_t len);
/* A PKCS#10 request for names (the first is the subject's CN; all are DNS subjectAltNames), signed with key:
 * DER, base64url (RFC 8555 §7.4 "csr"). */
char *acme_csr(EVP_PKEY *key, char *const *names, size_t n);
/* A self-signed certificate for names, valid from an hour ago for days; PEM into *cert and *key. 0 or -1. */
int acme_self_signed(char *const *names, size_t n, int days, char **cert, char **key);
/* The tls-alpn-01 certificate for name: self-signed, subjectAltName name, and the critical acmeIdentifier
 * extension holding SHA-256(key_authorization). PEM into *cert and *key. 0 or -1. */
int acme_alpn_cert(const char *name, const char *key_authorization, char **cert, char **key);
/* The first certificate of a PEM chain: its validity (Unix seconds) and whether its subjectAltNames include
 * every name (case-insensitive). 0, or -1 if it does not parse. */
int acme_cert_info(const char *pem, size_t len, char *const *names, size_t n, int64_t *not_before,
                   int64_t *not_after, int *covers);

#endif
