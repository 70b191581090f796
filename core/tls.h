// SPDX-License-Identifier: BSD-3-Clause
/* TLS for listeners: a role's certificate keys (files, or ACME), and the certificate a TLS listener serves,
 * which can be replaced while it runs (SIGHUP re-reads the files; ACME renews) without touching open
 * connections: new handshakes get the new certificate. */
#ifndef WEFT_CORE_TLS_H
#define WEFT_CORE_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/cfgcheck.h"

enum tls_challenge { TLS_CHALLENGE_HTTP01, TLS_CHALLENGE_TLSALPN01 };

/* A role's certificate source: files (cert + key), or ACME (acme_domains not empty). */
struct tls_conf {
    char *cert; /* tls_cert: PEM chain */
    char *key;  /* tls_key: PEM private key */
    struct cfg_list acme_domains;
    char *acme_email;
    char *acme_directory;
    int acme_challenge; /* enum tls_challenge */
    char *acme_http_listen;
    char *acme_ca_file;
    long long acme_renew_before; /* ms */
};

extern const char *const tls_challenge_names[];
#define TLS_ACME_LETSENCRYPT "https://acme-v02.api.letsencrypt.org/directory"

/* The keys of a struct tls_conf member m of a role's config struct type, for its key table. */
#define TLS_KEYS(type, m)                                                                                       \
    {"tls_cert", CFG_STR, NULL, "PEM certificate chain for tls_listen (re-read on SIGHUP)",                      \
     offsetof(type, m.cert), 0, 0, NULL, NULL},                                                                  \
    {"tls_key", CFG_STR, NULL, "PEM private key for tls_listen (re-read on SIGHUP)", offsetof(type, m.key), 0,   \
     0, NULL, NULL},                                                                                             \
    {"tls.acme.domains", CFG_LIST, NULL,                                                                         \
     "get tls_listen's certificate by ACME (RFC 8555) for these names instead of tls_cert/tls_key",             \
     offsetof(type, m.acme_domains), 0, 0, NULL, tls_check_acme_domain},                                        \
    {"tls.acme.email", CFG_STR, NULL, "contact address for the ACME account (optional)",                       \
     offsetof(type, m.acme_email), 0, 0, NULL, cfg_check_email},                                                \
    {"tls.acme.directory", CFG_STR, TLS_ACME_LETSENCRYPT, "the ACME server's directory URL",                   \
     offsetof(type, m.acme_directory), 0, 0, NULL, cfg_check_https_url},                                        \
    {"tls.acme.challenge", CFG_ENUM, "http-01",                                                                  \
     "http-01 (the server answers on tls.acme.http_listen, port 80) or tls-alpn-01 (on tls_listen, port 443)",  \
     offsetof(type, m.acme_challenge), 0, 0, tls_challenge_names, NULL},                                        \
    {"tls.acme.http_listen", CFG_STR, ":80", "where http-01 challenges are answered (shared with a listener "  \
     "on the same address)", offsetof(type, m.acme_http_listen), 0, 0, NULL, cfg_check_listen},                 \
    {"tls.acme.ca_file", CFG_STR, NULL, "PEM CA bundle to verify the ACME server with (default: the system's)", \
     offsetof(type, m.acme_ca_file), 0, 0, NULL, cfg_check_ca_file},                                                          \
    {"tls.acme.renew_before", CFG_DURATION, "30d", "renew this long before the certificate expires",          \
     offsetof(type, m.acme_renew_before), 60000, 365LL * 86400 * 1000, NULL, NULL}

const char *tls_check_acme_domain(const char *v, char *buf, size_t len);

/* A deep copy (src's strings and lists duplicated) / free what it holds. */
void tls_conf_copy(struct tls_conf *dst, const struct tls_conf *src);
void tls_conf_free(struct tls_conf *t);
/* 1 if t gives a certificate (files or ACME). */
int tls_conf_enabled(const struct tls_conf *t);
/* 1 if every key of a and b is the same. */
int tls_conf_equal(const struct tls_conf *a, const struct tls_conf *b);
/* 1 if a and b name the same certificate source (same files, or ACME for the same names). */
int tls_conf_same(const struct tls_conf *a, const struct tls_conf *b);
/* A role's check hook: tls_listen (the key named listen_key, value listen) needs a source; files need both
 * halves; files and ACME exclude each other. */
void tls_conf_check(const struct cfg_section *s, const char *listen_key, const char *listen,
                    const struct tls_conf *t, struct cfg_errors *err);

/* ---- the certificate a listener serves ---- */
struct tls_ctx;

/* A server context (TLS 1.2+) with no certificate yet; NULL on failure. */
struct tls_ctx *tls_ctx_new(void);
void tls_ctx_free(struct tls_ctx *t);
/* The OpenSSL SSL_CTX listeners accept with (its certificate changes in place). */
void *tls_ctx_ssl(struct tls_ctx *t);
/* Serve this certificate chain and key (PEM files / PEM text) from the next handshake on. The old one stays
 * on any error (message in err: unreadable, not PEM, key does not match). 0 or -1. */
int tls_ctx_use_files(struct tls_ctx *t, const char *cert_file, const char *key_file, char *err, size_t errlen);
int tls_ctx_use_pem(struct tls_ctx *t, const char *chain, size_t chain_len, const char *key, size_t key_len,
                    char *err, size_t errlen);
/* The certificate served now: its notAfter (Unix seconds; 0 if none), and its SHA-256 fingerprint as hex
 * (65 bytes) for logs and tests. */
int64_t tls_ctx_not_after(struct tls_ctx *t);
void tls_ctx_fingerprint(struct tls_ctx *t, char out[65]);
/* acme-tls/1 (RFC 8737): a handshake for name offering ALPN "acme-tls/1" gets this certificate and key (PEM)
 * instead; NULL chain removes it. 0 or -1. */
int tls_ctx_set_alpn_challenge(struct tls_ctx *t, const char *name, const char *chain, const char *key);

/* ClientHello extension bodies, as any TLS client sends them: 1 if an ALPN extension lists proto; the host
 * name of a server_name extension into out (0), or -1 if malformed or too long. */
int tls_hello_alpn_has(const unsigned char *ext, size_t len, const char *proto);
int tls_hello_sni(const unsigned char *ext, size_t len, char *out, size_t cap);

#endif
