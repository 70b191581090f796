// SPDX-License-Identifier: BSD-3-Clause
/* The certificate of one TLS listener kept by ACME: the stored one when it is still good (else a placeholder
 * while the first is issued), renewed renew_before its expiry (at most a third of its lifetime early), and each
 * new one stored (core/acme/store.h) and swapped into the listener for new handshakes, with no restart. A
 * failed order is tried again later (2 minutes, doubling to 6 hours). */
#ifndef WEFT_CORE_ACME_MANAGER_H
#define WEFT_CORE_ACME_MANAGER_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct tls_conf;
struct tls_ctx;
struct acme_mgr;

struct acme_mgr_opts {
    struct loop *loop;
    const char *state_dir;
    const struct tls_conf *conf; /* copied */
    struct tls_ctx *tctx;        /* the listener's certificate: outlives the manager */
    const char *listener;        /* its address, for the log */
};

/* Load or create the account key, install the stored certificate (or a placeholder) into tctx, and schedule
 * the first order or the renewal. NULL with err on failure (state_dir not writable...). */
struct acme_mgr *acme_mgr_new(const struct acme_mgr_opts *o, char *err, size_t errlen);
/* Stop what is under way and free (tctx keeps the certificate it has). */
void acme_mgr_free(struct acme_mgr *m);
/* The same names and directory with other settings (reload): take them (renewal rescheduled). */
void acme_mgr_update(struct acme_mgr *m, const struct tls_conf *conf);
/* When the next renewal (or retry) is due, Unix seconds; 0 while an order is under way. */
int64_t acme_mgr_next(const struct acme_mgr *m);

#endif
