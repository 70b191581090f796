// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "plugins/auth_oidc/params.h"

#include <stdlib.h>
#include <string.h>

void qbuf_add(struct qbuf *b, const char *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            free(b->s);
            b->s = NULL;
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

void qbuf_enc(struct qbuf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            qbuf_add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            qbuf_add(b, e, 3);
        }
    }
}

void qbuf_param(struct qbuf *b, const char *name, const char *value)
{
    if (b->len && b->s[b->len - 1] != '?' && b->s[b->len - 1] != '&')
        qbuf_add(b, "&", 1);
    qbuf_enc(b, name);
    qbuf_add(b, "=", 1);
    qbuf_enc(b, value);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int param_get(const char *q, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && q[end] != '&')
            end++;
        if (end - i > nl && q[i + nl] == '=' && !memcmp(q + i, name, nl)) {
            size_t o = 0;
            for (size_t j = i + nl + 1; j < end; j++) {
                char c = q[j];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    int h = j + 2 < end ? hexval(q[j + 1]) : -1, l = j + 2 < end ? hexval(q[j + 2]) : -1;
                    if (h < 0 || l < 0)
                        return -1;
                    c = (char)(h << 4 | l);
                    j += 2;
                }
                if (c == 0 || o + 1 >= cap)
                    return -1;
                out[o++] = c;
            }
            out[o] = 0;
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

int cookie_get(const char *hdr, const char *name, char *out, size_t cap)
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
