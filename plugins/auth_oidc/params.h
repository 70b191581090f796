// SPDX-License-Identifier: BSD-3-Clause
/* The little text the OpenID flow reads from a browser and writes for it: query parameters of the
 * callback, the Cookie header, form-encoded request bodies and URLs. Pure functions (t/fuzz/fuzz_oidc.c). */
#ifndef WEFT_AUTH_OIDC_PARAMS_H
#define WEFT_AUTH_OIDC_PARAMS_H

#include <stddef.h>

/* A growing string; s stays NULL after a failed allocation (every later call is then a no-op). */
struct qbuf {
    char *s;
    size_t len, cap;
    int failed;
};
void qbuf_add(struct qbuf *b, const char *p, size_t n);
/* v percent-encoded (RFC 3986 unreserved characters kept). */
void qbuf_enc(struct qbuf *b, const char *v);
/* "&name=value" (no '&' when b is empty), both encoded. */
void qbuf_param(struct qbuf *b, const char *name, const char *value);

/* The value of parameter name in a query or form body ('+' and %XX decoded) into out: 1 found, 0 not, -1
 * malformed (bad escape, a NUL, or longer than cap - 1). */
int param_get(const char *q, size_t len, const char *name, char *out, size_t cap);
/* The value of cookie name in a Cookie header: 1 found, 0 not, -1 too long for cap. */
int cookie_get(const char *hdr, const char *name, char *out, size_t cap);

#endif
