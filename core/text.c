// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/text.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence at s if it is well formed (shortest form, no surrogates), else 0; its code
 * point in *cp. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    size_t len;
    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    uint32_t c = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static size_t strip(char *s, bool lines)
{
    unsigned char *r = (unsigned char *)s, *w = r;
    while (*r) {
        if (*r < 0x80) {
            if ((*r >= 0x20 && *r != 0x7f) || (lines && (*r == '\n' || *r == '\t')))
                *w++ = *r;
            r++;
            continue;
        }
        uint32_t cp;
        size_t n = utf8_seq(r, &cp);
        if (n == 0) {
            *w++ = '?';
            r++;
        } else {
            if (cp > 0x9f) { /* U+0080..U+009F are the C1 controls */
                memmove(w, r, n);
                w += n;
            }
            r += n;
        }
    }
    *w = 0;
    return (size_t)(w - (unsigned char *)s);
}

size_t text_strip_controls(char *s)
{
    return strip(s, false);
}

size_t text_strip_controls_lines(char *s)
{
    return strip(s, true);
}

void json_strip_controls(struct json_object *o)
{
    if (o == NULL)
        return;
    switch (json_object_get_type(o)) {
    case json_type_string: {
        const char *v = json_object_get_string(o);
        int len = json_object_get_string_len(o);
        char *t = malloc((size_t)len + 1);
        if (t == NULL)
            return;
        memcpy(t, v, (size_t)len);
        t[len] = 0; /* an embedded NUL ("\u0000") ends the text here, as it would for %s */
        size_t n = text_strip_controls(t);
        if (n != (size_t)len)
            json_object_set_string_len(o, t, (int)n);
        free(t);
        break;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            json_strip_controls(json_object_array_get_idx(o, i));
        break;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            json_strip_controls(v);
        }
        break;
    }
    default:
        break;
    }
}
