// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/tls.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

const char *const tls_challenge_names[] = {"http-01", "tls-alpn-01", NULL};

const char *tls_check_acme_domain(const char *v, char *buf, size_t len)
{
    if (strncmp(v, "*.", 2) == 0 && cfg_is_domain(v, 1)) {
        snprintf(buf, len, "'%s': a wildcard name needs the dns-01 challenge, which weft does not do", v);
        return buf;
    }
    if (!cfg_is_domain(v, 0) || !strchr(v, '.')) {
        snprintf(buf, len, "'%s' is not a public DNS name a certificate can be issued for", v);
        return buf;
    }
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void tls_conf_copy(struct tls_conf *dst, const struct tls_conf *src)
{
    *dst = *src;
    dst->cert = dup_or_null(src->cert);
    dst->key = dup_or_null(src->key);
    dst->acme_email = dup_or_null(src->acme_email);
    dst->acme_directory = dup_or_null(src->acme_directory);
    dst->acme_http_listen = dup_or_null(src->acme_http_listen);
    dst->acme_ca_file = dup_or_null(src->acme_ca_file);
    dst->acme_domains.v = src->acme_domains.n ? calloc(src->acme_domains.n, sizeof(char *)) : NULL;
    dst->acme_domains.n = dst->acme_domains.v ? src->acme_domains.n : 0;
    for (size_t i = 0; i < dst->acme_domains.n; i++)
        dst->acme_domains.v[i] = strdup(src->acme_domains.v[i]);
}

void tls_conf_free(struct tls_conf *t)
{
    free(t->cert);
    free(t->key);
    free(t->acme_email);
    free(t->acme_directory);
    free(t->acme_http_listen);
    free(t->acme_ca_file);
    for (size_t i = 0; i < t->acme_domains.n; i++)
        free(t->acme_domains.v[i]);
    free(t->acme_domains.v);
    memset(t, 0, sizeof *t);
}

int tls_conf_enabled(const struct tls_conf *t)
{
    return t && (t->acme_domains.n > 0 || (t->cert && t->key));
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int tls_conf_equal(const struct tls_conf *a, const struct tls_conf *b)
{
    return tls_conf_same(a, b) && str_eq(a->cert, b->cert) && str_eq(a->key, b->key) &&
           str_eq(a->acme_email, b->acme_email) && a->acme_challenge == b->acme_challenge &&
           str_eq(a->acme_http_listen, b->acme_http_listen) && str_eq(a->acme_ca_file, b->acme_ca_file) &&
           a->acme_renew_before == b->acme_renew_before;
}

int tls_conf_same(const struct tls_conf *a, const struct tls_conf *b)
{
    if (a->acme_domains.n != b->acme_domains.n)
        return 0;
    if (a->acme_domains.n == 0)
        return str_eq(a->cert, b->cert) && str_eq(a->key, b->key);
    for (size_t i = 0; i < a->acme_domains.n; i++)
        if (strcasecmp(a->acme_domains.v[i], b->acme_domains.v[i]) != 0)
            return 0;
    return str_eq(a->acme_directory, b->acme_directory);
}

void tls_conf_check(const struct cfg_section *s, const char *listen_key, const char *listen,
                    const struct tls_conf *t, struct cfg_errors *err)
{
    int files = t->cert || t->key, acme = t->acme_domains.n > 0;
    if ((t->cert == NULL) != (t->key == NULL))
        cfg_error(err, s, t->cert ? "tls_cert" : "tls_key", "needs %s as well",
                  t->cert ? "tls_key" : "tls_cert");
    if (files && acme)
        cfg_error(err, s, "tls.acme.domains", "set either tls_cert/tls_key or tls.acme, not both");
    if (listen && !files && !acme)
        cfg_error(err, s, listen_key, "a TLS listener needs a certificate: set tls_cert and tls_key, or "
                                      "tls.acme.domains");
    if (!listen && (files || acme))
        cfg_error(err, s, acme ? "tls.acme.domains" : t->cert ? "tls_cert" : "tls_key",
                  "there is no %s to use it on", listen_key);
}

/* ---- the certificate a listener serves ---- */

struct challenge {
    char *name;
    SSL_CTX *ctx;
};

struct tls_ctx {
    SSL_CTX *ssl;
    X509 *cur; /* what it serves (a reference), for notAfter and the fingerprint */
    struct challenge *chal;
    size_t nchal;
};

int tls_hello_alpn_has(const unsigned char *p, size_t len, const char *proto)
{
    size_t pl = strlen(proto);
    if (len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2)
        return 0;
    for (size_t i = 2; i < len;) {
        size_t l = p[i++];
        if (l == 0 || i + l > len)
            return 0;
        if (l == pl && memcmp(p + i, proto, l) == 0)
            return 1;
        i += l;
    }
    return 0;
}

int tls_hello_sni(const unsigned char *p, size_t len, char *out, size_t cap)
{
    if (len < 5 || (size_t)((p[0] << 8) | p[1]) != len - 2 || p[2] != 0)
        return -1;
    size_t l = (size_t)((p[3] << 8) | p[4]);
    if (l == 0 || l + 5 > len || l >= cap || memchr(p + 5, 0, l))
        return -1;
    memcpy(out, p + 5, l);
    out[l] = 0;
    return 0;
}

/* An ACME validation handshake (ALPN acme-tls/1 for a name with a pending challenge) is switched to the
 * challenge's context: its certificate and its ALPN answer. Every other handshake goes on unchanged. */
static int on_client_hello(SSL *s, int *alert, void *arg)
{
    struct tls_ctx *t = arg;
    const unsigned char *p;
    size_t len;
    char name[256];
    if (t->nchal == 0 || !SSL_client_hello_get0_ext(s, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &len) ||
        !tls_hello_alpn_has(p, len, "acme-tls/1") || !SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &len) ||
        tls_hello_sni(p, len, name, sizeof name) != 0)
        return SSL_CLIENT_HELLO_SUCCESS;
    for (size_t i = 0; i < t->nchal; i++)
        if (strcasecmp(t->chal[i].name, name) == 0) {
            SSL_set_SSL_CTX(s, t->chal[i].ctx);
            log_info("event=acme challenge=tls-alpn-01 name=%s msg=\"answered a validation handshake\"", name);
            break;
        }
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int select_acme_tls(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                           unsigned int inlen, void *arg)
{
    unsigned char *o;
    if (SSL_select_next_proto(&o, outlen, (const unsigned char *)"\012acme-tls/1", 11, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* idle connections (thousands of DERP clients) give their read/write buffers back: ~12 KiB each */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

struct tls_ctx *tls_ctx_new(void)
{
    struct tls_ctx *t = calloc(1, sizeof *t);
    if (t == NULL || (t->ssl = server_ctx()) == NULL) {
        free(t);
        return NULL;
    }
    SSL_CTX_set_client_hello_cb(t->ssl, on_client_hello, t);
    return t;
}

void tls_ctx_free(struct tls_ctx *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nchal; i++) {
        free(t->chal[i].name);
        SSL_CTX_free(t->chal[i].ctx);
    }
    free(t->chal);
    X509_free(t->cur);
    SSL_CTX_free(t->ssl);
    free(t);
}

void *tls_ctx_ssl(struct tls_ctx *t)
{
    return t->ssl;
}

/* A chain (leaf first) and a key from PEM BIOs; the key must match the leaf. 0 or -1 with err. */
static int read_pair(BIO *cb, BIO *kb, X509 **leaf, STACK_OF(X509) **chain, EVP_PKEY **key, const char *what,
                     char *err, size_t errlen)
{
    *leaf = PEM_read_bio_X509_AUX(cb, NULL, NULL, NULL);
    *chain = sk_X509_new_null();
    *key = NULL;
    if (*leaf == NULL || *chain == NULL) {
        snprintf(err, errlen, "%s: no PEM certificate", what);
        goto fail;
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(*chain, x)) {
            X509_free(x);
            goto fail;
        }
    ERR_clear_error(); /* the end of the chain reads as an error */
    *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    if (*key == NULL) {
        snprintf(err, errlen, "%s: no PEM private key", what);
        goto fail;
    }
    if (X509_check_private_key(*leaf, *key) != 1) {
        snprintf(err, errlen, "%s: the private key does not match the certificate", what);
        goto fail;
    }
    return 0;
fail:
    ERR_clear_error();
    X509_free(*leaf);
    sk_X509_pop_free(*chain, X509_free);
    EVP_PKEY_free(*key);
    *leaf = NULL;
    *chain = NULL;
    *key = NULL;
    return -1;
}

/* Serve leaf/chain/key from now on. SSL objects take their certificate from the context when a connection
 * is accepted, so open connections keep theirs. */
static int install(struct tls_ctx *t, X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key, char *err, size_t errlen)
{
    int ok = SSL_CTX_use_cert_and_key(t->ssl, leaf, key, chain, 1) == 1;
    if (ok) {
        X509_free(t->cur);
        t->cur = leaf;
    } else {
        snprintf(err, errlen, "the certificate cannot be used (%s)", ERR_reason_error_string(ERR_peek_error()));
        ERR_clear_error();
        X509_free(leaf);
    }
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

int tls_ctx_use_files(struct tls_ctx *t, const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    BIO *cb = BIO_new_file(cert_file, "r"), *kb = BIO_new_file(key_file, "r");
    X509 *leaf;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
    int rc = -1;
    char what[600];
    if (cb == NULL || kb == NULL) {
        snprintf(err, errlen, "cannot open %s", cb == NULL ? cert_file : key_file);
        ERR_clear_error();
    } else {
        snprintf(what, sizeof what, "%s + %s", cert_file, key_file);
        if (read_pair(cb, kb, &leaf, &chain, &key, what, err, errlen) == 0)
            rc = install(t, leaf, chain, key, err, errlen);
    }
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

int tls_ctx_use_pem(struct tls_ctx *t, const char *chain_pem, size_t chain_len, const char *key_pem,
                    size_t key_len, char *err, size_t errlen)
{
    BIO *cb = BIO_new_mem_buf(chain_pem, (int)chain_len), *kb = BIO_new_mem_buf(key_pem, (int)key_len);
    X509 *leaf;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
    int rc = -1;
    if (cb && kb && read_pair(cb, kb, &leaf, &chain, &key, "certificate", err, errlen) == 0)
        rc = install(t, leaf, chain, key, err, errlen);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

int64_t tls_ctx_not_after(struct tls_ctx *t)
{
    if (t->cur == NULL)
        return 0;
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(t->cur), &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

void tls_ctx_fingerprint(struct tls_ctx *t, char out[65])
{
    unsigned char md[32];
    unsigned int n = sizeof md;
    out[0] = 0;
    if (t->cur == NULL || X509_digest(t->cur, EVP_sha256(), md, &n) != 1)
        return;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int tls_ctx_set_alpn_challenge(struct tls_ctx *t, const char *name, const char *chain, const char *key)
{
    for (size_t i = 0; i < t->nchal; i++)
        if (strcasecmp(t->chal[i].name, name) == 0) {
            free(t->chal[i].name);
            SSL_CTX_free(t->chal[i].ctx);
            t->chal[i] = t->chal[--t->nchal];
            break;
        }
    if (chain == NULL)
        return 0;
    SSL_CTX *ctx = server_ctx();
    if (ctx == NULL)
        return -1;
    BIO *cb = BIO_new_mem_buf(chain, -1), *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    BIO_free(cb);
    BIO_free(kb);
    int ok = x && k && SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1;
    X509_free(x);
    EVP_PKEY_free(k);
    struct challenge *v = ok ? realloc(t->chal, (t->nchal + 1) * sizeof *v) : NULL;
    if (v == NULL) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return -1;
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_acme_tls, NULL);
    t->chal = v;
    t->chal[t->nchal].name = strdup(name);
    t->chal[t->nchal++].ctx = ctx;
    return 0;
}
