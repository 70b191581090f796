// SPDX-License-Identifier: BSD-3-Clause
/* Minimal TAP producer for C unit tests: plan, ok, is_*, done. One header, no state beyond a counter. */
#ifndef WEFT_T_TAP_H
#define WEFT_T_TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_planned;

static inline void plan(int n) { tap_planned = n; printf("1..%d\n", n); }
static inline void skip_all(const char *why) { printf("1..0 # SKIP %s\n", why); exit(0); }

static inline int vok(int cond, const char *fmt, va_list ap)
{
    tap_n++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vok(cond, fmt, ap);
    va_end(ap);
    return r;
}

static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static inline void skip(const char *why) { tap_n++; printf("ok %d # SKIP %s\n", tap_n, why); }

/* Compare bytes against a lowercase hex string; prints both on mismatch. */
static inline int is_hex(const void *got, size_t len, const char *want_hex, const char *name)
{
    char *hex = malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", ((const uint8_t *)got)[i]);
    hex[len * 2] = 0;
    int r = ok(strcmp(hex, want_hex) == 0, "%s", name);
    if (!r)
        diag("got  %s\n# want %s", hex, want_hex);
    free(hex);
    return r;
}

static inline int is_int(long long got, long long want, const char *name)
{
    int r = ok(got == want, "%s", name);
    if (!r)
        diag("got %lld, want %lld", got, want);
    return r;
}

static inline int is_str(const char *got, const char *want, const char *name)
{
    int r = ok(got && want && strcmp(got, want) == 0, "%s", name);
    if (!r)
        diag("got '%s', want '%s'", got ? got : "(null)", want ? want : "(null)");
    return r;
}

/* Decode hex into buf (returns length, or -1). For test vectors. */
static inline long unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        buf[i] = (uint8_t)v;
    }
    return (long)(n / 2);
}

static inline int done_testing(void)
{
    if (!tap_planned)
        printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
