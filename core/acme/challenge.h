// SPDX-License-Identifier: BSD-3-Clause
/* Answering ACME challenges. http-01 (RFC 8555 §8.3): GET /.well-known/acme-challenge/TOKEN on port 80 gives
 * the key authorization; one table for the process, served by acme_http01_handle on whichever listener the
 * core routes it on. tls-alpn-01 (RFC 8737): a handshake with ALPN acme-tls/1 for the name gets a certificate
 * carrying the key authorization's digest, on the TLS listener the certificate is for. */
#ifndef WEFT_CORE_ACME_CHALLENGE_H
#define WEFT_CORE_ACME_CHALLENGE_H

struct http_req;
struct tls_ctx;

#define ACME_HTTP01_PREFIX "/.well-known/acme-challenge/"

/* Answer token with key_auth until cleared. 0 or -1. */
int acme_http01_set(const char *token, const char *key_auth);
void acme_http01_clear(const char *token);
/* The HTTP handler (route ACME_HTTP01_PREFIX as a prefix to it; arg unused). */
void acme_http01_handle(struct http_req *req, void *arg);

/* Serve name's acme-tls/1 handshakes on t with a certificate for key_auth / stop. 0 or -1. */
int acme_tlsalpn01_set(struct tls_ctx *t, const char *name, const char *key_auth);
void acme_tlsalpn01_clear(struct tls_ctx *t, const char *name);

#endif
