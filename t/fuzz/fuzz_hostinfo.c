// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes the Hostinfo cleaner (modules/control/hostinfo.c), which every Hostinfo a client sends goes
 * through before control keeps it or passes it to other nodes. Properties: the result is strict JSON (an
 * object), within the byte budget (taken from the input), holds no control character raw or escaped,
 * cleaning it again changes nothing, and hostinfo_clean_str gives valid control-free UTF-8 that fits.
 * The control sources are not in libweftcore (the fuzz build's library), so they are compiled in here. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/hostinfo.c"

/* 1 if s[0..n) holds a raw control character (C0, DEL, C1). */
static int raw_control(const unsigned char *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] < 0xa0))
            return 1;
    return 0;
}

/* 1 if the JSON text s[0..n) holds a control character: raw, or a JSON escape of one. */
static int has_control(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] < 0xa0))
            return 1;
        if (u[i] == '\\' && i + 1 < n) {
            if (strchr("nrtbf", s[i + 1]))
                return 1;
            if (s[i + 1] == 'u' && i + 5 < n) {
                unsigned v = (unsigned)strtoul((char[5]){s[i + 2], s[i + 3], s[i + 4], s[i + 5], 0}, NULL, 16);
                if (v < 0x20 || (v >= 0x7f && v < 0xa0))
                    return 1;
            }
            i++; /* the escaped character is not a delimiter */
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t max = 64 + (size_t)data[0] * 64; /* 64 .. 16384 bytes */
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    size_t n1 = 0, n2 = 0;
    char *a = hostinfo_clean(json, len, NULL, max, &n1);
    if (a) {
        if (n1 != strlen(a) || n1 > max || tc_json_validate(a, n1) != 0 || a[0] != '{' || has_control(a, n1))
            abort();
        char *b = hostinfo_clean(a, n1, NULL, max, &n2);
        if (!b || n2 != n1 || memcmp(a, b, n1) != 0)
            abort();
        free(b);
        char *p = hostinfo_clean(json, len, hostinfo_peer_keys, max, &n2);
        if (!p || n2 > max || tc_json_validate(p, n2) != 0 || has_control(p, n2))
            abort();
        free(p);
    }
    free(a);
    /* the bytes as a hostname (NUL-terminated; an inner NUL just ends it) */
    char *s = malloc(len + 1), out[64];
    memcpy(s, json, len);
    s[len] = 0;
    hostinfo_clean_str(out, sizeof(out), s);
    size_t ol = strlen(out);
    if (ol >= sizeof(out) || raw_control((const unsigned char *)out, ol))
        abort();
    for (size_t i = 0; i < ol;) {
        size_t k = utf8_len((const unsigned char *)out + i, ol - i);
        if (k == 0)
            abort();
        i += k;
    }
    free(s);
    return 0;
}
