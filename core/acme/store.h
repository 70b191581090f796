// SPDX-License-Identifier: BSD-3-Clause
/* Where ACME keeps what it needs across restarts: state_dir/acme/ (0700) holds the account key
 * (account.key) and, per certificate, NAME.key and NAME.crt (NAME: its first domain); every file 0600,
 * written whole or not at all (a temporary file renamed into place). */
#ifndef WEFT_CORE_ACME_STORE_H
#define WEFT_CORE_ACME_STORE_H

#include <stddef.h>

#include <openssl/evp.h>

/* state_dir/acme into out, created 0700 if missing. 0, or -1 with err. */
int acme_store_dir(const char *state_dir, char *out, size_t len, char *err, size_t errlen);
/* A whole file (at most 1 MiB), NUL-terminated; NULL if it cannot be read. */
char *acme_store_read(const char *path, size_t *len);
/* Replace path with data, mode 0600. 0, or -1 with err. */
int acme_store_write(const char *path, const char *data, size_t len, char *err, size_t errlen);
/* dir/account.key, created (P-256, 0600) when missing; *created says so. NULL with err on failure. */
EVP_PKEY *acme_store_account_key(const char *dir, int *created, char *err, size_t errlen);

#endif
