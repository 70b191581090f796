// SPDX-License-Identifier: BSD-3-Clause
/* One ACME order (RFC 8555 §7): directory, nonce, account (found again, or created, from the account key),
 * new order, each authorization through one challenge, finalize with a CSR, download the chain. Runs on the
 * loop over core/fetch.h; every step is a callback, nothing blocks. */
#ifndef WEFT_CORE_ACME_CLIENT_H
#define WEFT_CORE_ACME_CLIENT_H

#include <stddef.h>

#include <openssl/evp.h>

struct loop;
struct fetcher;
struct acme_order;

struct acme_order_opts {
    struct loop *loop;
    struct fetcher *fetcher;
    const char *directory; /* the directory URL */
    const char *ca_file;   /* to verify the ACME server (NULL: the system's store) */
    const char *email;     /* account contact, or NULL */
    EVP_PKEY *account_key; /* P-256; kept by the caller */
    EVP_PKEY *cert_key;    /* the certificate's key; kept by the caller */
    char *const *names;
    size_t nnames;
    int challenge; /* enum tls_challenge (core/tls.h) */
    /* Answer a challenge for name from now on: the key authorization at /.well-known/acme-challenge/TOKEN
     * (http-01), or the acme-tls/1 certificate (tls-alpn-01). 0, or -1 if it cannot. */
    int (*set_challenge)(void *arg, int challenge, const char *name, const char *token, const char *key_auth);
    void (*clear_challenge)(void *arg, int challenge, const char *name, const char *token);
    /* The end: the PEM chain (leaf first), or err (the server's problem detail when it gave one). The order is
     * freed after this returns. */
    void (*done)(void *arg, const char *chain, size_t len, const char *err);
    void *arg;
};

/* Start; NULL if it cannot (out of memory). done runs later, never from within this call. The options'
 * strings and keys must outlive the order. */
struct acme_order *acme_order_start(const struct acme_order_opts *o);
/* Stop it: done does not run; challenges it set are cleared. */
void acme_order_cancel(struct acme_order *o);

#endif
