// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/api/parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

static int put(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap || memchr(s, 0, n))
        return -1;
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

int api_parse_authorization(const char *hdr, char *user, size_t ucap, char *pass, size_t pcap)
{
    if (!hdr || !ucap || !pcap)
        return -1;
    while (*hdr == ' ')
        hdr++;
    size_t sl = strcspn(hdr, " ");
    const char *v = hdr + sl;
    while (*v == ' ')
        v++;
    size_t vl = strlen(v);
    while (vl && v[vl - 1] == ' ')
        vl--;
    if (!vl)
        return -1;
    if (sl == 6 && !strncasecmp(hdr, "Bearer", 6)) {
        pass[0] = 0;
        return put(user, ucap, v, vl);
    }
    if (sl != 5 || strncasecmp(hdr, "Basic", 5))
        return -1;
    unsigned char dec[2 * API_SECRET_MAX + 2];
    size_t dl;
    if (vl > 4 * (sizeof dec / 3) ||
        sodium_base642bin(dec, sizeof dec, v, vl, NULL, &dl, NULL, sodium_base64_VARIANT_ORIGINAL) ||
        memchr(dec, 0, dl))
        return -1;
    unsigned char *colon = memchr(dec, ':', dl);
    size_t ul = colon ? (size_t)(colon - dec) : dl;
    int rc = put(user, ucap, (const char *)dec, ul) ||
             put(pass, pcap, colon ? (const char *)colon + 1 : "", colon ? dl - ul - 1 : 0) ? -1 : 0;
    sodium_memzero(dec, sizeof dec);
    return rc;
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into out; -1 on a bad escape, a NUL, or no room. */
static int unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexv((unsigned char)s[i + 1]), l = hexv((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            ch = h << 4 | l;
            i += 2;
        }
        if (!ch || j + 1 >= cap)
            return -1;
        out[j++] = (char)ch;
    }
    if (!cap)
        return -1;
    out[j] = 0;
    return 0;
}

int api_form_get(const char *body, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name), i = 0;
    char key[64];
    while (i < len) {
        const char *f = body + i;
        const char *amp = memchr(f, '&', len - i);
        size_t fl = amp ? (size_t)(amp - f) : len - i;
        i += fl + 1;
        const char *eq = memchr(f, '=', fl);
        size_t kl = eq ? (size_t)(eq - f) : fl;
        if (unescape(f, kl, key, sizeof key)) {
            for (size_t k = 0; k < kl; k++) /* a key too long to be ours is skipped; a broken escape is not */
                if (f[k] == '%' && (k + 2 >= kl || hexv((unsigned char)f[k + 1]) < 0 ||
                                    hexv((unsigned char)f[k + 2]) < 0))
                    return -1;
            continue;
        }
        if (strlen(key) != nl || memcmp(key, name, nl))
            continue;
        return unescape(eq ? eq + 1 : f + fl, eq ? fl - kl - 1 : 0, out, cap) ? -1 : 1;
    }
    return 0;
}

static const char *const known[] = {"all", "devices:core", "devices:routes", "auth_keys", "dns", "policy_file",
                                    "users"};

static bool known_scope(const char *w, size_t n)
{
    size_t r = sizeof ":read" - 1;
    if (n > r && !memcmp(w + n - r, ":read", r))
        n -= r;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == n && !memcmp(known[i], w, n))
            return true;
    return false;
}

#define SEP " ,"

bool api_scopes_valid(const char *list, char *bad, size_t badcap)
{
    size_t words = 0;
    for (const char *p = list; p && *p;) {
        p += strspn(p, SEP);
        size_t n = strcspn(p, SEP);
        if (!n)
            break;
        if (!known_scope(p, n)) {
            if (bad && badcap)
                snprintf(bad, badcap, "%.*s", (int)(n < 64 ? n : 64), p);
            return false;
        }
        words++;
        p += n;
    }
    if (!words && bad && badcap)
        snprintf(bad, badcap, "%s", "(none given)");
    return words > 0;
}

static bool has(const char *granted, const char *s, size_t n)
{
    for (const char *p = granted; p && *p;) {
        p += strspn(p, SEP);
        size_t l = strcspn(p, SEP);
        if (!l)
            break;
        if (l == n && !memcmp(p, s, n))
            return true;
        p += l;
    }
    return false;
}

bool api_scope_allows(const char *granted, const char *need)
{
    size_t n = strlen(need), r = sizeof ":read" - 1;
    bool read = n > r && !strcmp(need + n - r, ":read");
    return has(granted, "all", 3) || (read && has(granted, "all:read", 8)) || has(granted, need, n) ||
           (read && has(granted, need, n - r));
}

int api_cookie_get(const char *hdr, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = hdr; p && *p;) {
        p += strspn(p, " \t;");
        size_t pair = strcspn(p, ";");
        const char *eq = memchr(p, '=', pair);
        if (eq && (size_t)(eq - p) == nl && !strncmp(p, name, nl)) {
            size_t vl = pair - nl - 1;
            while (vl && (eq[vl] == ' ' || eq[vl] == '\t'))
                vl--;
            if (vl + 1 > cap)
                return -1;
            memcpy(out, eq + 1, vl);
            out[vl] = 0;
            return 1;
        }
        p += pair;
    }
    return 0;
}
