// SPDX-License-Identifier: BSD-3-Clause
/* Arbitrary bytes into each control JSON parser; whatever parses is re-emitted, re-parsed and re-emitted:
 * the two emissions must be byte-identical (emit o parse is idempotent), and nothing may crash or leak. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/tailcfg.h"

#define ROUNDTRIP(T)                                                                                           \
    static void rt_##T(const char *data, size_t size)                                                          \
    {                                                                                                          \
        struct tc_##T a, b;                                                                                    \
        struct jbuf j1, j2;                                                                                    \
        if (tc_##T##_parse(&a, data, size) < 0)                                                                \
            return;                                                                                            \
        jbuf_init(&j1);                                                                                        \
        jbuf_init(&j2);                                                                                        \
        if (tc_##T##_emit(&j1, &a) < 0)                                                                        \
            abort();                                                                                           \
        if (tc_##T##_parse(&b, j1.p, j1.len) < 0) {                                                            \
            fprintf(stderr, #T ": own output does not parse (%s): %.*s\n", b.doc.error, (int)j1.len, j1.p);    \
            abort();                                                                                           \
        }                                                                                                      \
        if (tc_##T##_emit(&j2, &b) < 0)                                                                        \
            abort();                                                                                           \
        if (j1.len != j2.len || memcmp(j1.p, j2.p, j1.len) != 0) {                                             \
            fprintf(stderr, #T ": not stable:\n%.*s\n%.*s\n", (int)j1.len, j1.p, (int)j2.len, j2.p);           \
            abort();                                                                                           \
        }                                                                                                      \
        tc_##T##_clear(&a);                                                                                    \
        tc_##T##_clear(&b);                                                                                    \
        jbuf_free(&j1);                                                                                        \
        jbuf_free(&j2);                                                                                        \
    }

ROUNDTRIP(register_request)
ROUNDTRIP(register_response)
ROUNDTRIP(map_request)
ROUNDTRIP(map_response)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    rt_register_request(s, size);
    rt_register_response(s, size);
    rt_map_request(s, size);
    rt_map_response(s, size);
    return 0;
}
