// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/json/jbuf.h"

#include <json-c/json.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jbuf_init(struct jbuf *b) { memset(b, 0, sizeof *b); }

void jbuf_free(struct jbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

bool jbuf_reserve(struct jbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra >= SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1; /* room for a NUL */
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

char *jbuf_take(struct jbuf *b, size_t *len)
{
    if (b->oom || !jbuf_reserve(b, 0)) {
        jbuf_free(b);
        return NULL;
    }
    b->p[b->len] = 0;
    char *p = b->p;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return p;
}

void jbuf_put(struct jbuf *b, const void *s, size_t n)
{
    if (n == 0 || !jbuf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void jbuf_sep(struct jbuf *b)
{
    if (b->len == 0)
        return;
    char c = b->p[b->len - 1];
    if (c != '{' && c != '[' && c != ':')
        jbuf_putc(b, ',');
}

void jbuf_open(struct jbuf *b, char c)
{
    jbuf_sep(b);
    jbuf_putc(b, c);
}

void jbuf_close(struct jbuf *b, char c) { jbuf_putc(b, c); }

void jbuf_field(struct jbuf *b, const char *name)
{
    size_t n = strlen(name);
    jbuf_sep(b);
    if (!jbuf_reserve(b, n + 3))
        return;
    b->p[b->len++] = '"';
    memcpy(b->p + b->len, name, n);
    b->len += n;
    b->p[b->len++] = '"';
    b->p[b->len++] = ':';
}

void jbuf_name(struct jbuf *b, const char *name)
{
    jbuf_str(b, name);
    jbuf_putc(b, ':');
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0 if invalid; *cp gets the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Bytes that pass unescaped: printable ASCII and DEL, except ", \ and Go's HTML-safe set <, >, &. */
static const unsigned char plain[256] = {
    [' '] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1,
    ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, [':'] = 1, [';'] = 1, ['='] = 1,
    ['?'] = 1, ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1,
    ['Z'] = 1, ['['] = 1, [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1,
    [0x7f] = 1,
};

void jbuf_strn(struct jbuf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    jbuf_sep(b);
    /* Worst case 6 bytes out per byte in; reserving it up front keeps the loop free of checks. */
    if (n > SIZE_MAX / 8 || !jbuf_reserve(b, n * 6 + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (plain[c]) {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                *o++ = 'u', *o++ = '0', *o++ = '0', *o++ = hex[c >> 4], *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = utf8_seq(s + i, n - i, &cp);
        if (l == 0) { /* Go replaces each invalid byte with U+FFFD */
            memcpy(o, "\\ufffd", 6);
            o += 6;
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) {
            memcpy(o, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            o += 6;
            i += l;
        } else {
            memcpy(o, s + i, l);
            o += l;
            i += l;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

void jbuf_str(struct jbuf *b, const char *s) { jbuf_strn(b, s ? s : "", s ? strlen(s) : 0); }

void jbuf_i64(struct jbuf *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    jbuf_sep(b);
    jbuf_put(b, p, (size_t)(e - p));
}

void jbuf_bool(struct jbuf *b, bool v)
{
    jbuf_sep(b);
    if (v)
        jbuf_put(b, "true", 4);
    else
        jbuf_put(b, "false", 5);
}

void jbuf_null(struct jbuf *b)
{
    jbuf_sep(b);
    jbuf_put(b, "null", 4);
}

/* strconv.FormatFloat(v, 'f' or 'e', -1, 64) as encoding/json picks them: the shortest digits that
 * read back exactly; exponent form below 1e-6 and from 1e21, written "1e-7" not "1e-07". */
void jbuf_f64(struct jbuf *b, double v)
{
    char tmp[40], out[64];
    if (!isfinite(v))
        v = 0;
    if (v == 0) {
        jbuf_sep(b);
        jbuf_put(b, signbit(v) ? "-0" : "0", signbit(v) ? 2 : 1);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp = [-]d[.ddd]e(+|-)XX */
    char dig[20];
    int nd = 0, neg = tmp[0] == '-';
    const char *s = tmp + neg;
    for (; *s && *s != 'e'; s++)
        if (*s != '.')
            dig[nd++] = *s;
    int exp = atoi(s + 1);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    char *o = out;
    if (neg)
        *o++ = '-';
    double a = fabs(v);
    if (a < 1e-6 || a >= 1e21) {
        *o++ = dig[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        o += sprintf(o, "e%c%d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > exp; i--)
            *o++ = '0';
        memcpy(o, dig, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i <= exp || i < nd; i++) {
            if (i == exp + 1)
                *o++ = '.';
            *o++ = i < nd ? dig[i] : '0';
        }
    }
    jbuf_sep(b);
    jbuf_put(b, out, (size_t)(o - out));
}

void jbuf_time(struct jbuf *b, const struct tc_time *t)
{
    char tmp[TC_TIME_TEXT_MAX + 2];
    int n = tc_time_format(t, tmp + 1);
    if (n < 0) { /* out of Go's range: write the zero time rather than invalid JSON */
        struct tc_time z = { 0, 0 };
        n = tc_time_format(&z, tmp + 1);
    }
    tmp[0] = '"';
    tmp[n + 1] = '"';
    jbuf_sep(b);
    jbuf_put(b, tmp, (size_t)n + 2);
}

void jbuf_key(struct jbuf *b, const tc_key *k, const char *prefix)
{
    char tmp[TC_KEY_TEXT_MAX + 2];
    int n = tc_key_format(k, prefix, tmp + 1);
    if (n < 0) {
        b->oom = true; /* a prefix too long for TC_KEY_TEXT_MAX: a programming error */
        return;
    }
    tmp[0] = '"';
    tmp[n + 1] = '"';
    jbuf_sep(b);
    jbuf_put(b, tmp, (size_t)n + 2);
}

void jbuf_b64(struct jbuf *b, const uint8_t *p, size_t n)
{
    if (!p) {
        jbuf_null(b);
        return;
    }
    size_t el = tc_b64_encoded_len(n);
    jbuf_sep(b);
    if (n > SIZE_MAX / 2 || !jbuf_reserve(b, el + 3))
        return;
    b->p[b->len++] = '"';
    sodium_bin2base64(b->p + b->len, el + 1, p, n, sodium_base64_VARIANT_ORIGINAL);
    b->len += el;
    b->p[b->len++] = '"';
}

void jbuf_raw(struct jbuf *b, const char *text, size_t n)
{
    jbuf_sep(b);
    jbuf_put(b, text, n);
}

void jbuf_json(struct jbuf *b, struct json_object *o)
{
    size_t n = 0;
    const char *t = o ? tc_json_text(o, &n) : NULL;
    if (!t) {
        jbuf_null(b);
        return;
    }
    jbuf_raw(b, t, n);
}
