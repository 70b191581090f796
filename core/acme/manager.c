// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/acme/manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "core/acme/cert.h"
#include "core/acme/challenge.h"
#include "core/acme/client.h"
#include "core/acme/store.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tls.h"

#define RETRY_FIRST_S 120
#define RETRY_MAX_S (6 * 3600)
#define CHECK_MAX_S (12 * 3600) /* look again at least this often (suspend, clock changes) */

struct acme_mgr {
    struct loop *loop;
    struct fetcher *fetcher;
    struct tls_conf conf;
    struct tls_ctx *tctx;
    char *listener;
    char dir[4200], crt[4300], key[4300];
    EVP_PKEY *account;
    EVP_PKEY *cert_key; /* of the order under way */
    struct acme_order *order;
    struct timer t;
    int64_t not_before, not_after; /* of the issued certificate served; 0: the placeholder */
    int64_t next;                  /* when the timer is due, Unix seconds */
    unsigned retry_s;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void names_text(const struct acme_mgr *m, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < m->conf.acme_domains.n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", m->conf.acme_domains.v[i]);
}

/* When to renew: renew_before before expiry, but never earlier than two thirds into the lifetime (a
 * renew_before longer than the certificate lives would otherwise renew it again at once). */
static int64_t renew_at(const struct acme_mgr *m)
{
    int64_t life = m->not_after - m->not_before, before = m->conf.acme_renew_before / 1000;
    if (before >= life)
        before = life / 3;
    return m->not_after - before;
}

static void arm(struct acme_mgr *m, int64_t when)
{
    int64_t now = now_s(), wait = when > now ? when - now : 0;
    if (wait > CHECK_MAX_S)
        wait = CHECK_MAX_S;
    m->next = when;
    timer_start(&m->t, (uint64_t)wait * 1000);
}

static void schedule(struct acme_mgr *m)
{
    if (m->order)
        return;
    if (!m->not_after) {
        arm(m, now_s());
        return;
    }
    int64_t at = renew_at(m);
    if (at > now_s())
        log_info("event=acme listener=%s msg=\"renewal scheduled\" renew_at=%lld in_s=%lld not_after=%lld",
                 m->listener, (long long)at, (long long)(at - now_s()), (long long)m->not_after);
    arm(m, at);
}

/* Serve chain + key (PEM) from now on; remember its validity. 0 or -1. */
static int install(struct acme_mgr *m, const char *chain, size_t clen, const char *key, size_t klen, char *err,
                   size_t errlen)
{
    int64_t nb, na;
    int covers;
    if (acme_cert_info(chain, clen, m->conf.acme_domains.v, m->conf.acme_domains.n, &nb, &na, &covers) != 0) {
        snprintf(err, errlen, "not a PEM certificate");
        return -1;
    }
    if (!covers) {
        snprintf(err, errlen, "it is not for every name of tls.acme.domains");
        return -1;
    }
    if (na <= now_s()) {
        snprintf(err, errlen, "it has expired");
        return -1;
    }
    if (tls_ctx_use_pem(m->tctx, chain, clen, key, klen, err, errlen) != 0)
        return -1;
    m->not_before = nb;
    m->not_after = na;
    return 0;
}

static int set_challenge(void *arg, int kind, const char *name, const char *token, const char *key_auth)
{
    struct acme_mgr *m = arg;
    return kind == TLS_CHALLENGE_HTTP01 ? acme_http01_set(token, key_auth)
                                        : acme_tlsalpn01_set(m->tctx, name, key_auth);
}

static void clear_challenge(void *arg, int kind, const char *name, const char *token)
{
    struct acme_mgr *m = arg;
    if (kind == TLS_CHALLENGE_HTTP01)
        acme_http01_clear(token);
    else
        acme_tlsalpn01_clear(m->tctx, name);
}

static void order_done(void *arg, const char *chain, size_t len, const char *err)
{
    struct acme_mgr *m = arg;
    char why[512], names[1024];
    names_text(m, names, sizeof names);
    m->order = NULL;
    char *key = chain ? acme_key_pem(m->cert_key) : NULL;
    EVP_PKEY_free(m->cert_key);
    m->cert_key = NULL;
    if (chain && !key)
        err = "cannot write the key";
    if (!err && install(m, chain, len, key, strlen(key), why, sizeof why) != 0)
        err = why;
    if (err) {
        free(key);
        log_error("event=acme listener=%s names=%s result=failed error=\"%s\" retry_in_s=%u", m->listener, names,
                  err, m->retry_s);
        arm(m, now_s() + m->retry_s);
        m->retry_s = m->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : m->retry_s * 2;
        return;
    }
    m->retry_s = RETRY_FIRST_S;
    char e1[512], e2[512];
    if (acme_store_write(m->key, key, strlen(key), e1, sizeof e1) != 0 ||
        acme_store_write(m->crt, chain, len, e2, sizeof e2) != 0)
        log_error("event=acme listener=%s msg=\"the new certificate is served but cannot be stored; it will be "
                  "requested again after a restart\" error=\"%s\"",
                  m->listener, e1[0] ? e1 : e2);
    free(key);
    char fp[65];
    tls_ctx_fingerprint(m->tctx, fp);
    log_info("event=acme listener=%s names=%s result=issued not_after=%lld sha256=%s", m->listener, names,
             (long long)m->not_after, fp);
    schedule(m);
}

static void on_timer(struct timer *t, void *arg)
{
    struct acme_mgr *m = arg;
    if (m->order)
        return;
    if (m->next > now_s()) { /* a long wait is taken in steps */
        arm(m, m->next);
        return;
    }
    char names[1024];
    names_text(m, names, sizeof names);
    m->cert_key = acme_key_new();
    struct acme_order_opts o = {
        .loop = m->loop,
        .fetcher = m->fetcher,
        .directory = m->conf.acme_directory,
        .ca_file = m->conf.acme_ca_file,
        .email = m->conf.acme_email,
        .account_key = m->account,
        .cert_key = m->cert_key,
        .names = m->conf.acme_domains.v,
        .nnames = m->conf.acme_domains.n,
        .challenge = m->conf.acme_challenge,
        .set_challenge = set_challenge,
        .clear_challenge = clear_challenge,
        .done = order_done,
        .arg = m,
    };
    if (!m->cert_key || !(m->order = acme_order_start(&o))) {
        EVP_PKEY_free(m->cert_key);
        m->cert_key = NULL;
        log_error("event=acme listener=%s result=failed error=\"cannot start an order\"", m->listener);
        arm(m, now_s() + m->retry_s);
        return;
    }
    m->next = 0;
    log_info("event=acme listener=%s names=%s directory=%s challenge=%s msg=\"%s\"", m->listener, names,
             m->conf.acme_directory, tls_challenge_names[m->conf.acme_challenge],
             m->not_after ? "renewing the certificate" : "requesting a certificate");
}

/* The stored certificate, if it is still good for these names; else a placeholder to serve meanwhile. */
static int load_stored(struct acme_mgr *m, char *err, size_t errlen)
{
    size_t cl, kl;
    char *chain = acme_store_read(m->crt, &cl), *key = acme_store_read(m->key, &kl), why[256];
    int ok = chain && key && install(m, chain, cl, key, kl, why, sizeof why) == 0;
    if (chain && key && !ok)
        log_warn("event=acme listener=%s file=%s msg=\"the stored certificate is not used: %s\"", m->listener, m->crt,
                 why);
    free(chain);
    free(key);
    if (ok)
        return 0;
    char *pc, *pk;
    if (acme_self_signed(m->conf.acme_domains.v, m->conf.acme_domains.n, 7, &pc, &pk) != 0) {
        snprintf(err, errlen, "cannot make a placeholder certificate");
        return -1;
    }
    int rc = tls_ctx_use_pem(m->tctx, pc, strlen(pc), pk, strlen(pk), err, errlen);
    free(pc);
    free(pk);
    m->not_before = m->not_after = 0;
    return rc;
}

struct acme_mgr *acme_mgr_new(const struct acme_mgr_opts *o, char *err, size_t errlen)
{
    struct acme_mgr *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->loop = o->loop;
    m->tctx = o->tctx;
    m->listener = strdup(o->listener);
    m->retry_s = RETRY_FIRST_S;
    tls_conf_copy(&m->conf, o->conf);
    timer_init(&m->t, o->loop, on_timer, m);
    int created;
    if (!m->listener || !(m->fetcher = fetcher_new(o->loop, err, errlen)) ||
        acme_store_dir(o->state_dir, m->dir, sizeof m->dir, err, errlen) != 0 ||
        !(m->account = acme_store_account_key(m->dir, &created, err, errlen)))
        goto fail;
    if (created)
        log_info("event=acme file=%s/account.key msg=\"ACME account key created\"", m->dir);
    snprintf(m->crt, sizeof m->crt, "%s/%s.crt", m->dir, m->conf.acme_domains.v[0]);
    snprintf(m->key, sizeof m->key, "%s/%s.key", m->dir, m->conf.acme_domains.v[0]);
    if (load_stored(m, err, errlen) != 0)
        goto fail;
    if (m->not_after)
        log_info("event=acme listener=%s file=%s msg=\"serving the stored certificate\" not_after=%lld", m->listener,
                 m->crt, (long long)m->not_after);
    schedule(m);
    return m;
fail:
    acme_mgr_free(m);
    return NULL;
}

void acme_mgr_free(struct acme_mgr *m)
{
    if (!m)
        return;
    acme_order_cancel(m->order);
    timer_stop(&m->t);
    fetcher_free(m->fetcher);
    EVP_PKEY_free(m->account);
    EVP_PKEY_free(m->cert_key);
    tls_conf_free(&m->conf);
    free(m->listener);
    free(m);
}

void acme_mgr_update(struct acme_mgr *m, const struct tls_conf *conf)
{
    if (m->order) { /* it points into the old settings: start it again with the new ones */
        acme_order_cancel(m->order);
        m->order = NULL;
        EVP_PKEY_free(m->cert_key);
        m->cert_key = NULL;
    }
    tls_conf_free(&m->conf);
    tls_conf_copy(&m->conf, conf);
    timer_stop(&m->t);
    schedule(m);
}

int64_t acme_mgr_next(const struct acme_mgr *m)
{
    return m->order ? 0 : m->next;
}
