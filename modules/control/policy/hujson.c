// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/hujson.h"

/* A recursive-descent reader over the whole text. Position bookkeeping is the current line and the
 * offset where it starts; a value's column is its offset minus that. */

struct rd {
    const char *p, *end, *base;
    const char *line_start;
    uint32_t line;
    int depth;
    struct tc_arena *arena;
    struct hj_error *err;
    bool failed;
};

static struct hj_pos pos_at(const struct rd *r, const char *at)
{
    return (struct hj_pos){r->line, (uint32_t)(at - r->line_start) + 1};
}

static int fail_at(struct rd *r, const char *at, const char *msg)
{
    if (!r->failed) {
        r->failed = true;
        r->err->pos = pos_at(r, at);
        snprintf(r->err->msg, sizeof r->err->msg, "%s", msg);
    }
    return -1;
}

static const char *describe(const struct rd *r, char *buf, size_t cap)
{
    if (r->p >= r->end)
        return "end of input";
    unsigned char c = (unsigned char)*r->p;
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, cap, "'%c'", c);
    else
        snprintf(buf, cap, "byte 0x%02x", c);
    return buf;
}

static int unexpected(struct rd *r, const char *wanted)
{
    char d[24], msg[96];
    snprintf(msg, sizeof msg, "unexpected %s, want %s", describe(r, d, sizeof d), wanted);
    return fail_at(r, r->p, msg);
}

/* Skips whitespace and comments. -1 on an unterminated block comment or a stray '/'. */
static int skip_ws(struct rd *r)
{
    while (r->p < r->end) {
        char c = *r->p;
        if (c == '\n') {
            r->p++;
            r->line++;
            r->line_start = r->p;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            r->p++;
        } else if (c == '/' && r->p + 1 < r->end && r->p[1] == '/') {
            while (r->p < r->end && *r->p != '\n')
                r->p++;
        } else if (c == '/' && r->p + 1 < r->end && r->p[1] == '*') {
            const char *start = r->p;
            r->p += 2;
            for (;;) {
                if (r->p + 1 >= r->end)
                    return fail_at(r, start, "unterminated /* comment");
                if (r->p[0] == '*' && r->p[1] == '/') {
                    r->p += 2;
                    break;
                }
                if (*r->p == '\n') {
                    r->line++;
                    r->line_start = r->p + 1;
                }
                r->p++;
            }
        } else if (c == '/') {
            return fail_at(r, r->p, "unexpected '/' (a comment starts with // or /*)");
        } else {
            break;
        }
    }
    return 0;
}

static struct hj_val *new_val(struct rd *r, enum hj_type t, const char *at)
{
    struct hj_val *v = tc_arena_alloc(r->arena, sizeof *v);
    if (!v) {
        fail_at(r, at, "out of memory");
        return NULL;
    }
    v->type = t;
    v->pos = pos_at(r, at);
    v->src = at;
    return v;
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (end - p < n)
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
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

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* At the opening quote. Decodes into the arena. */
static int read_string(struct rd *r, const char **out, size_t *outlen)
{
    const char *start = r->p++;
    /* the decoded text is never longer than the source */
    const char *q = r->p;
    while (q < r->end && *q != '"') {
        if (*q == '\\' && q + 1 < r->end)
            q++;
        q++;
    }
    if (q >= r->end)
        return fail_at(r, start, "unterminated string");
    char *o = tc_arena_alloc(r->arena, (size_t)(q - r->p) + 1);
    if (!o)
        return fail_at(r, start, "out of memory");
    size_t n = 0;
    while (*r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20)
            return fail_at(r, r->p, "control character in string (escape it)");
        if (c == '\\') {
            const char *esc = r->p;
            char e = r->p[1];
            r->p += 2;
            switch (e) {
            case '"': o[n++] = '"'; break;
            case '\\': o[n++] = '\\'; break;
            case '/': o[n++] = '/'; break;
            case 'b': o[n++] = '\b'; break;
            case 'f': o[n++] = '\f'; break;
            case 'n': o[n++] = '\n'; break;
            case 'r': o[n++] = '\r'; break;
            case 't': o[n++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (hex4(r->p, r->end, &cp))
                    return fail_at(r, esc, "bad \\u escape");
                r->p += 4;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' && !hex4(r->p + 2, r->end, &lo) &&
                        lo >= 0xdc00 && lo <= 0xdfff) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        r->p += 6;
                    } else {
                        cp = 0xfffd; /* a lone surrogate: Go substitutes U+FFFD */
                    }
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    cp = 0xfffd;
                }
                n += put_utf8(o + n, cp);
                break;
            }
            default:
                return fail_at(r, esc, "bad escape in string");
            }
            continue;
        }
        int l = utf8_len((const unsigned char *)r->p, (const unsigned char *)r->end);
        if (!l)
            return fail_at(r, r->p, "invalid UTF-8 in string");
        memcpy(o + n, r->p, (size_t)l);
        n += (size_t)l;
        r->p += l;
    }
    r->p++; /* closing quote */
    o[n] = 0;
    *out = o;
    *outlen = n;
    return 0;
}

static int read_number(struct rd *r, struct hj_val *v)
{
    const char *s = r->p;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return fail_at(r, s, "invalid number");
    if (*r->p == '0') {
        r->p++;
        if (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            return fail_at(r, s, "invalid number (leading zero)");
    } else {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return fail_at(r, s, "invalid number (digits must follow '.')");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return fail_at(r, s, "invalid number (bad exponent)");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    char buf[64];
    size_t n = (size_t)(r->p - s);
    if (n < sizeof buf) {
        memcpy(buf, s, n);
        buf[n] = 0;
        v->num = strtod(buf, NULL);
    } else {
        char *t = strndup(s, n);
        if (!t)
            return fail_at(r, s, "out of memory");
        v->num = strtod(t, NULL);
        free(t);
    }
    return 0;
}

static struct hj_val *read_value(struct rd *r);

/* Grows a pointer array kept in malloc'd scratch, copied into the arena when complete. */
struct vec {
    void **v;
    size_t n, cap;
};

static int vec_push(struct vec *x, void *p)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        void **v = realloc(x->v, cap * sizeof *v);
        if (!v)
            return -1;
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = p;
    return 0;
}

static struct hj_val *read_array(struct rd *r)
{
    struct hj_val *v = new_val(r, HJ_ARR, r->p);
    if (!v)
        return NULL;
    r->p++;
    struct vec items = {0};
    for (;;) {
        if (skip_ws(r))
            goto fail;
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            break;
        }
        struct hj_val *e = read_value(r);
        if (!e || vec_push(&items, e))
            goto fail;
        if (skip_ws(r))
            goto fail;
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue; /* a ']' right after is the trailing comma HuJSON allows */
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            break;
        }
        unexpected(r, "',' or ']' in array");
        goto fail;
    }
    v->len = items.n;
    if (items.n) {
        v->arr = tc_arena_array(r->arena, items.n, sizeof *v->arr);
        if (!v->arr)
            goto fail;
        memcpy(v->arr, items.v, items.n * sizeof *v->arr);
    }
    free(items.v);
    v->srclen = (size_t)(r->p - v->src);
    return v;
fail:
    free(items.v);
    return NULL;
}

static struct hj_val *read_object(struct rd *r)
{
    struct hj_val *v = new_val(r, HJ_OBJ, r->p);
    if (!v)
        return NULL;
    r->p++;
    struct vec mem = {0};
    for (;;) {
        if (skip_ws(r))
            goto fail;
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }
        if (r->p >= r->end || *r->p != '"') {
            unexpected(r, "a string key or '}' in object");
            goto fail;
        }
        struct hj_member *m = tc_arena_alloc(r->arena, sizeof *m);
        if (!m) {
            fail_at(r, r->p, "out of memory");
            goto fail;
        }
        m->pos = pos_at(r, r->p);
        if (read_string(r, &m->key, &m->keylen) || skip_ws(r))
            goto fail;
        if (r->p >= r->end || *r->p != ':') {
            unexpected(r, "':' after object key");
            goto fail;
        }
        r->p++;
        if (skip_ws(r) || !(m->val = read_value(r)) || vec_push(&mem, m))
            goto fail;
        if (skip_ws(r))
            goto fail;
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }
        unexpected(r, "',' or '}' in object");
        goto fail;
    }
    v->len = mem.n;
    if (mem.n) {
        v->obj = tc_arena_array(r->arena, mem.n, sizeof *v->obj);
        if (!v->obj)
            goto fail;
        for (size_t i = 0; i < mem.n; i++)
            v->obj[i] = *(struct hj_member *)mem.v[i];
    }
    free(mem.v);
    v->srclen = (size_t)(r->p - v->src);
    return v;
fail:
    free(mem.v);
    return NULL;
}

static bool lit(struct rd *r, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n))
        return false;
    /* "trueish" is not true */
    if ((size_t)(r->end - r->p) > n) {
        char c = r->p[n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            return false;
    }
    r->p += n;
    return true;
}

static struct hj_val *read_value(struct rd *r)
{
    if (skip_ws(r))
        return NULL;
    if (r->p >= r->end) {
        unexpected(r, "a value");
        return NULL;
    }
    if (++r->depth > HJ_MAX_DEPTH) {
        fail_at(r, r->p, "nested too deeply");
        return NULL;
    }
    struct hj_val *v = NULL;
    const char *at = r->p;
    char c = *r->p;
    if (c == '{') {
        v = read_object(r);
    } else if (c == '[') {
        v = read_array(r);
    } else if (c == '"') {
        if ((v = new_val(r, HJ_STR, at)) && read_string(r, &v->s, &v->len))
            v = NULL;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if ((v = new_val(r, HJ_NUM, at)) && read_number(r, v))
            v = NULL;
    } else if (lit(r, "true")) {
        if ((v = new_val(r, HJ_BOOL, at)))
            v->b = true;
    } else if (lit(r, "false")) {
        v = new_val(r, HJ_BOOL, at);
    } else if (lit(r, "null")) {
        v = new_val(r, HJ_NULL, at);
    } else {
        unexpected(r, "a value");
    }
    r->depth--;
    if (v && v->type != HJ_ARR && v->type != HJ_OBJ)
        v->srclen = (size_t)(r->p - at);
    return v;
}

int hj_parse(const char *text, size_t len, struct hj_doc *doc, struct hj_error *err)
{
    memset(doc, 0, sizeof *doc);
    memset(err, 0, sizeof *err);
    struct rd r = {.p = text, .end = text + len, .base = text, .line_start = text, .line = 1,
                   .arena = &doc->arena, .err = err};
    /* a UTF-8 byte order mark is tolerated, as editors write one */
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
        r.p += 3;
        r.line_start = r.p;
    }
    struct hj_val *v = read_value(&r);
    if (v && !skip_ws(&r) && r.p < r.end)
        unexpected(&r, "end of input after the value");
    if (!v || r.failed) {
        if (!r.failed)
            fail_at(&r, r.p, "invalid input");
        hj_free(doc);
        return -1;
    }
    doc->root = v;
    return 0;
}

void hj_free(struct hj_doc *doc)
{
    tc_arena_free(&doc->arena);
    doc->root = NULL;
}

struct hj_val *hj_get(const struct hj_val *obj, const char *key)
{
    if (!obj || obj->type != HJ_OBJ)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = obj->len; i-- > 0;)
        if (obj->obj[i].keylen == kl && !memcmp(obj->obj[i].key, key, kl))
            return obj->obj[i].val;
    return NULL;
}

const char *hj_type_name(enum hj_type t)
{
    switch (t) {
    case HJ_NULL: return "null";
    case HJ_BOOL: return "boolean";
    case HJ_NUM: return "number";
    case HJ_STR: return "string";
    case HJ_ARR: return "array";
    case HJ_OBJ: return "object";
    }
    return "?";
}

void hj_emit(struct jbuf *b, const struct hj_val *v)
{
    switch (v->type) {
    case HJ_NULL: jbuf_null(b); break;
    case HJ_BOOL: jbuf_bool(b, v->b); break;
    case HJ_NUM:
        jbuf_sep(b);
        jbuf_put(b, v->src, v->srclen);
        break;
    case HJ_STR: jbuf_strn(b, v->s, v->len); break;
    case HJ_ARR:
        jbuf_open(b, '[');
        for (size_t i = 0; i < v->len; i++)
            hj_emit(b, v->arr[i]);
        jbuf_close(b, ']');
        break;
    case HJ_OBJ:
        jbuf_open(b, '{');
        for (size_t i = 0; i < v->len; i++) {
            jbuf_strn(b, v->obj[i].key, v->obj[i].keylen);
            jbuf_putc(b, ':');
            hj_emit(b, v->obj[i].val);
        }
        jbuf_close(b, '}');
        break;
    }
}

int hj_standardize(char *t, size_t len)
{
    size_t i = 0;
    size_t last = (size_t)-1; /* offset of the last ',' outside strings that may be trailing */
    while (i < len) {
        char c = t[i];
        if (c == '"') {
            i++;
            while (i < len && t[i] != '"') {
                if (t[i] == '\\')
                    i++;
                i++;
            }
            if (i >= len)
                return -1;
            i++;
            last = (size_t)-1;
        } else if (c == '/' && i + 1 < len && t[i + 1] == '/') {
            while (i < len && t[i] != '\n')
                t[i++] = ' ';
        } else if (c == '/' && i + 1 < len && t[i + 1] == '*') {
            t[i] = t[i + 1] = ' ';
            i += 2;
            for (;;) {
                if (i + 1 >= len)
                    return -1;
                if (t[i] == '*' && t[i + 1] == '/') {
                    t[i] = t[i + 1] = ' ';
                    i += 2;
                    break;
                }
                if (t[i] != '\n')
                    t[i] = ' ';
                i++;
            }
        } else if (c == ',') {
            last = i++;
        } else if (c == ']' || c == '}') {
            if (last != (size_t)-1)
                t[last] = ' ';
            last = (size_t)-1;
            i++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
        } else {
            last = (size_t)-1;
            i++;
        }
    }
    return 0;
}
