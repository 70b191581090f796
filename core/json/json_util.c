// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/json/json_util.h"

#include <json-c/json.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- time ---- */

/* Proleptic Gregorian calendar <-> days since 1970-01-01 (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

struct tc_time tc_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return tc_time_from_unix(ts.tv_sec, (int32_t)ts.tv_nsec);
}

int tc_time_format(const struct tc_time *t, char *out)
{
    /* Years 0..9999 only, as Go's MarshalJSON; this also keeps the arithmetic far from overflow. */
    if (t->nsec < 0 || t->nsec > 999999999 || t->sec < -INT64_C(31622400) || t->sec > INT64_C(315537897599))
        return -1;
    int64_t unix_sec = t->sec - TC_TIME_UNIX_OFFSET;
    int64_t days = unix_sec >= 0 ? unix_sec / 86400 : -((-unix_sec + 86399) / 86400);
    int64_t rem = unix_sec - days * 86400;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999)
        return -1;
    int n = snprintf(out, TC_TIME_TEXT_MAX, "%04d-%02u-%02uT%02d:%02d:%02d", (int)y, mo, d, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60));
    if (t->nsec) {
        char frac[12];
        snprintf(frac, sizeof frac, "%09d", (int)t->nsec);
        int fl = 9;
        while (frac[fl - 1] == '0')
            fl--;
        out[n++] = '.';
        memcpy(out + n, frac, (size_t)fl);
        n += fl;
    }
    out[n++] = 'Z';
    out[n] = 0;
    return n;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int tc_time_parse(const char *s, size_t len, struct tc_time *out)
{
    static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 59)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    size_t i = 19;
    int32_t ns = 0;
    if (s[i] == '.') {
        size_t nd = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 9)
                ns = ns * 10 + (s[i] - '0');
        if (nd == 0)
            return -1;
        for (; nd < 9; nd++)
            ns *= 10;
    }
    int64_t off = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    int64_t unix_sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off;
    out->sec = unix_sec + TC_TIME_UNIX_OFFSET;
    out->nsec = ns;
    return 0;
}

/* ---- keys ---- */

bool tc_key_is_zero(const tc_key *k)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < TC_KEY_LEN; i++)
        acc |= k->b[i];
    return acc == 0;
}

int tc_key_format(const tc_key *k, const char *prefix, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t pl = strlen(prefix);
    if (pl + 2 * TC_KEY_LEN + 1 > TC_KEY_TEXT_MAX)
        return -1;
    memcpy(out, prefix, pl);
    for (size_t i = 0; i < TC_KEY_LEN; i++) {
        out[pl + 2 * i] = hex[k->b[i] >> 4];
        out[pl + 2 * i + 1] = hex[k->b[i] & 15];
    }
    out[pl + 2 * TC_KEY_LEN] = 0;
    return (int)(pl + 2 * TC_KEY_LEN);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tc_key_parse(const char *s, size_t len, const char *prefix, tc_key *out)
{
    size_t pl = strlen(prefix);
    if (len == 0) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    if (len != pl + 2 * TC_KEY_LEN || memcmp(s, prefix, pl) != 0)
        return -1;
    for (size_t i = 0; i < TC_KEY_LEN; i++) {
        int hi = hexval(s[pl + 2 * i]), lo = hexval(s[pl + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out->b[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- base64 ---- */

size_t tc_b64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

long tc_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (len == 0)
        return 0;
    if (sodium_base642bin(out, cap, s, len, "\r\n", &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + len)
        return -1;
    return (long)bin_len;
}

/* ---- arena ---- */

struct tc_arena_blk {
    struct tc_arena_blk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_BLK 65536

void *tc_arena_alloc(struct tc_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    struct tc_arena_blk *b = a->blk;
    if (b && b->cap - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p; /* blocks come from calloc and are never reused: already zero */
    }
    if (n > SIZE_MAX - sizeof *b)
        return NULL;
    size_t cap = n > ARENA_BLK / 4 ? n : ARENA_BLK;
    struct tc_arena_blk *nb = calloc(1, sizeof *nb + cap);
    if (!nb)
        return NULL;
    nb->cap = cap;
    nb->used = n;
    if (b && cap == n) { /* a big one-off: keep filling the current block afterwards */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->blk = nb;
    }
    return nb->data;
}

void *tc_arena_array(struct tc_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / 2 / size)
        return NULL;
    return tc_arena_alloc(a, n * size);
}

void tc_arena_free(struct tc_arena *a)
{
    struct tc_arena_blk *b = a->blk;
    while (b) {
        struct tc_arena_blk *n = b->next;
        free(b);
        b = n;
    }
    a->blk = NULL;
}

/* ---- strict JSON ---- */

struct vs {
    const char *p, *e;
};

#define V_MAX_DEPTH 64

static void v_ws(struct vs *v)
{
    while (v->p < v->e && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

/* Length of the valid UTF-8 sequence starting at s (non-ASCII lead byte), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *e)
{
    unsigned char c = s[0];
    size_t len;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if ((size_t)(e - s) < len)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlong 3/4-byte forms, UTF-16 surrogates, beyond U+10FFFF */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

static int v_string(struct vs *v)
{
    v->p++; /* opening quote */
    while (v->p < v->e) {
        unsigned char c = (unsigned char)*v->p++;
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1;
        if (c >= 0x80) { /* UTF-8 checked here: json-c's own check costs more than its whole parse */
            size_t l = utf8_len((const unsigned char *)v->p - 1, (const unsigned char *)v->e);
            if (!l)
                return -1;
            v->p += l - 1;
            continue;
        }
        if (c != '\\')
            continue;
        if (v->p >= v->e)
            return -1;
        switch (*v->p++) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (v->e - v->p < 4)
                return -1;
            for (int i = 0; i < 4; i++)
                if (hexval(*v->p++) < 0)
                    return -1;
            break;
        default:
            return -1;
        }
    }
    return -1;
}

static int v_digits(struct vs *v)
{
    const char *s = v->p;
    while (v->p < v->e && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > s ? 0 : -1;
}

static int v_number(struct vs *v)
{
    const char *s = v->p;
    bool is_float = false;
    if (*v->p == '-')
        v->p++;
    if (v->p < v->e && *v->p == '0')
        v->p++;
    else if (v_digits(v) < 0)
        return -1;
    if (v->p < v->e && *v->p == '.') {
        v->p++;
        is_float = true;
        if (v_digits(v) < 0)
            return -1;
    }
    if (v->p < v->e && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        is_float = true;
        if (v->p < v->e && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (v_digits(v) < 0)
            return -1;
    }
    if (is_float) { /* Go refuses floats out of float64 range; so must we, or peers choke */
        char buf[128];
        size_t n = (size_t)(v->p - s);
        if (n >= sizeof buf)
            return -1;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (!isfinite(strtod(buf, NULL)))
            return -1;
    }
    return 0;
}

static int v_lit(struct vs *v, const char *lit, size_t n)
{
    if ((size_t)(v->e - v->p) < n || memcmp(v->p, lit, n) != 0)
        return -1;
    v->p += n;
    return 0;
}

static int v_value(struct vs *v, int depth)
{
    if (v->p >= v->e)
        return -1;
    switch (*v->p) {
    case '"':
        return v_string(v);
    case 't':
        return v_lit(v, "true", 4);
    case 'f':
        return v_lit(v, "false", 5);
    case 'n':
        return v_lit(v, "null", 4);
    case '{':
    case '[': {
        char close = *v->p == '{' ? '}' : ']';
        bool obj = close == '}';
        if (depth >= V_MAX_DEPTH)
            return -1;
        v->p++;
        v_ws(v);
        if (v->p < v->e && *v->p == close) {
            v->p++;
            return 0;
        }
        for (;;) {
            if (obj) {
                if (v->p >= v->e || *v->p != '"' || v_string(v) < 0)
                    return -1;
                v_ws(v);
                if (v->p >= v->e || *v->p != ':')
                    return -1;
                v->p++;
                v_ws(v);
            }
            if (v_value(v, depth + 1) < 0)
                return -1;
            v_ws(v);
            if (v->p >= v->e)
                return -1;
            if (*v->p == close) {
                v->p++;
                return 0;
            }
            if (*v->p != ',')
                return -1;
            v->p++;
            v_ws(v);
        }
    }
    default:
        if (*v->p == '-' || (*v->p >= '0' && *v->p <= '9'))
            return v_number(v);
        return -1;
    }
}

int tc_json_validate(const char *s, size_t len)
{
    struct vs v = { s, s + len };
    v_ws(&v);
    if (v_value(&v, 0) < 0)
        return -1;
    v_ws(&v);
    return v.p == v.e ? 0 : -1;
}

struct json_object *tc_json_parse(const char *s, size_t len)
{
    if (len > INT32_MAX || tc_json_validate(s, len) < 0)
        return NULL;
    json_tokener *tok = json_tokener_new_ex(V_MAX_DEPTH);
    if (!tok)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);
    json_tokener_free(tok);
    return o; /* a bare scalar stays "incomplete" (NULL): all our documents are objects */
}

const char *tc_json_text(struct json_object *o, size_t *len)
{
    return json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}
