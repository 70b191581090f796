// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/acme/cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "core/acme/jws.h"

EVP_PKEY *acme_key_new(void)
{
    return EVP_EC_gen("P-256");
}

static char *bio_text(BIO *b)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    return n > 0 ? strndup(p, (size_t)n) : NULL;
}

char *acme_key_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1)
        out = bio_text(b);
    BIO_free(b);
    return out;
}

EVP_PKEY *acme_key_from_pem(const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return k;
}

/* "DNS:a,DNS:b" for the subjectAltName extension (names are checked DNS names: no commas). */
static char *san_text(char *const *names, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 5;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p = 0;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%sDNS:%s", i ? "," : "", names[i]);
    return s;
}

static int add_ext(X509 *cert, X509_REQ *req, STACK_OF(X509_EXTENSION) *sk, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cert, cert, req, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        return -1;
    int ok = cert ? X509_add_ext(cert, e, -1) == 1 : sk_X509_EXTENSION_push(sk, e) > 0;
    if (!ok || cert)
        X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

char *acme_csr(EVP_PKEY *key, char *const *names, size_t n)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char *san = san_text(names, n), *out = NULL;
    unsigned char *der = NULL;
    if (!req || !exts || !san || n == 0)
        goto done;
    X509_NAME *subj = X509_REQ_get_subject_name(req);
    if (X509_REQ_set_version(req, 0) != 1 ||
        X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)names[0], -1, -1, 0) != 1 ||
        add_ext(NULL, req, exts, NID_subject_alt_name, san) || X509_REQ_add_extensions(req, exts) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1 || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        goto done;
    int len = i2d_X509_REQ(req, &der);
    if (len > 0)
        out = acme_b64url(der, (size_t)len);
done:
    ERR_clear_error();
    OPENSSL_free(der);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    free(san);
    return out;
}

/* A self-signed certificate for names with key; extra is added when not NULL. */
static X509 *self_signed(EVP_PKEY *key, char *const *names, size_t n, int days, X509_EXTENSION *extra)
{
    X509 *x = X509_new();
    char *san = san_text(names, n);
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (!x || !san || RAND_bytes(serial, sizeof serial) != 1)
        goto fail;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || X509_set_version(x, 2) != 1)
        goto fail;
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
    X509_NAME *nm = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)names[0], -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, nm) != 1 || X509_set_pubkey(x, key) != 1 ||
        add_ext(x, NULL, NULL, NID_subject_alt_name, san) ||
        (extra && X509_add_ext(x, extra, -1) != 1) || X509_sign(x, key, EVP_sha256()) <= 0)
        goto fail;
    BN_free(bn);
    free(san);
    return x;
fail:
    ERR_clear_error();
    BN_free(bn);
    free(san);
    X509_free(x);
    return NULL;
}

static int pem_pair(X509 *x, EVP_PKEY *key, char **cert, char **keypem)
{
    BIO *b = BIO_new(BIO_s_mem());
    *cert = NULL;
    *keypem = NULL;
    if (b && PEM_write_bio_X509(b, x) == 1)
        *cert = bio_text(b);
    BIO_free(b);
    *keypem = acme_key_pem(key);
    if (!*cert || !*keypem) {
        free(*cert);
        free(*keypem);
        *cert = *keypem = NULL;
        return -1;
    }
    return 0;
}

int acme_self_signed(char *const *names, size_t n, int days, char **cert, char **key)
{
    EVP_PKEY *k = acme_key_new();
    X509 *x = k && n ? self_signed(k, names, n, days, NULL) : NULL;
    int rc = x ? pem_pair(x, k, cert, key) : -1;
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int acme_alpn_cert(const char *name, const char *key_authorization, char **cert, char **key)
{
    /* id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical; its value is the DER of an OCTET STRING holding
     * the SHA-256 digest of the key authorization */
    unsigned char der[2 + SHA256_DIGEST_LENGTH] = {0x04, SHA256_DIGEST_LENGTH};
    SHA256((const unsigned char *)key_authorization, strlen(key_authorization), der + 2);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    EVP_PKEY *k = acme_key_new();
    X509 *x = NULL;
    int rc = -1;
    if (oid && val && k && ASN1_OCTET_STRING_set(val, der, sizeof der) == 1 &&
        (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, val)) != NULL) {
        char *names[1] = {(char *)name};
        if ((x = self_signed(k, names, 1, 7, ext)) != NULL)
            rc = pem_pair(x, k, cert, key);
    }
    ERR_clear_error();
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(val);
    ASN1_OBJECT_free(oid);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    return ASN1_TIME_to_tm(t, &tm) == 1 ? (int64_t)timegm(&tm) : 0;
}

int acme_cert_info(const char *pem, size_t len, char *const *names, size_t n, int64_t *not_before,
                   int64_t *not_after, int *covers)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!x) {
        ERR_clear_error();
        return -1;
    }
    *not_before = asn1_unix(X509_get0_notBefore(x));
    *not_after = asn1_unix(X509_get0_notAfter(x));
    *covers = 1;
    for (size_t i = 0; i < n && *covers; i++)
        *covers = X509_check_host(x, names[i], strlen(names[i]), X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
    X509_free(x);
    ERR_clear_error();
    return 0;
}
