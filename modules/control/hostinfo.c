// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/hostinfo.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/json/jbuf.h"
#include "core/json/json_util.h"

const char *const hostinfo_approval_keys[] = {
    "IPNVersion", "OS", "OSVersion", "Hostname", "Distro", "DistroVersion", "DeviceModel", NULL,
};

const char *const hostinfo_peer_keys[] = {
    "IPNVersion", "OS", "OSVersion", "Hostname", "Services", "sshHostKeys", "RoutableIPs", "ShieldsUp",
    "Userspace", "UserspaceRouter", "AppConnector", "RequestTags", NULL,
};

/* Length of the UTF-8 sequence starting at s[0..n), or 0 if it is not a valid one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (k == 0 || k > n || (k == 2 && c < 0xC2) || (k == 4 && c > 0xF4))
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (k == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))) /* overlong, surrogates */
        return 0;
    if (k == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)))
        return 0;
    return k;
}

/* Copies src[0..n) into dst (room for cap bytes, NUL included), skipping C0 controls, DEL, C1 controls
 * (U+0080-U+009F) and invalid bytes, stopping before a character that would not fit. Its length. */
static size_t clean_into(char *dst, size_t cap, const char *src, size_t n)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(s + i, n - i);
        if (k == 0) {
            i++;
            continue;
        }
        bool ctl = (k == 1 && (s[i] < 0x20 || s[i] == 0x7f)) || (k == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0);
        if (!ctl) {
            if (o + k + 1 > cap)
                break;
            memmove(dst + o, s + i, k); /* dst may be src (cleaning in place) */
            o += k;
        }
        i += k;
    }
    if (cap)
        dst[o] = 0;
    return o;
}

char *hostinfo_clean_str(char *dst, size_t cap, const char *src)
{
    clean_into(dst, cap, src ? src : "", src ? strlen(src) : 0);
    return dst;
}

struct cleaner {
    struct jbuf b;
    size_t max;
    char tmp[HOSTINFO_STR_MAX + 1];
};

static void put_str(struct cleaner *c, const char *s, size_t n, bool key)
{
    size_t l = clean_into(c->tmp, sizeof(c->tmp), s, n);
    if (key)
        jbuf_name(&c->b, c->tmp); /* no NUL inside: it is a control character */
    else
        jbuf_strn(&c->b, c->tmp, l);
}

static bool wanted(const char *const *keys, const char *k)
{
    if (keys == NULL)
        return true;
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return true;
    return false;
}

static void put_value(struct cleaner *c, struct json_object *v, int depth, const char *const *keys)
{
    switch (json_object_get_type(v)) {
    case json_type_string:
        put_str(c, json_object_get_string(v), (size_t)json_object_get_string_len(v), false);
        return;
    case json_type_null:
        jbuf_null(&c->b);
        return;
    case json_type_boolean:
    case json_type_int:
    case json_type_double:
        jbuf_json(&c->b, v);
        return;
    case json_type_array: {
        if (depth >= HOSTINFO_DEPTH_MAX) {
            jbuf_null(&c->b);
            return;
        }
        jbuf_open(&c->b, '[');
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n && i < HOSTINFO_ITEMS_MAX; i++) {
            size_t mark = c->b.len;
            put_value(c, json_object_array_get_idx(v, i), depth + 1, NULL);
            if (c->b.len > c->max) { /* this item does not fit: leave it (and the rest) out */
                c->b.len = mark;
                break;
            }
        }
        jbuf_close(&c->b, ']');
        return;
    }
    case json_type_object: {
        if (depth >= HOSTINFO_DEPTH_MAX) {
            jbuf_null(&c->b);
            return;
        }
        jbuf_open(&c->b, '{');
        /* keys as written (cleaned): two that differ only in control characters must not both be kept,
         * a JSON reader would keep one of them, and cleaning again would change the result */
        char **seen = calloc(HOSTINFO_ITEMS_MAX, sizeof(*seen));
        size_t i = 0;
        json_object_object_foreach(v, k, m)
        {
            if (i >= HOSTINFO_ITEMS_MAX || seen == NULL)
                break;
            if (!wanted(keys, k))
                continue;
            clean_into(c->tmp, sizeof(c->tmp), k, strlen(k));
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(seen[j], c->tmp) == 0;
            if (dup || (seen[i] = strdup(c->tmp)) == NULL)
                continue;
            i++;
            size_t mark = c->b.len;
            put_str(c, k, strlen(k), true);
            put_value(c, m, depth + 1, NULL);
            if (c->b.len > c->max) {
                c->b.len = mark;
                break;
            }
        }
        for (size_t j = 0; j < i; j++)
            free(seen[j]);
        free(seen);
        jbuf_close(&c->b, '}');
        return;
    }
    }
}

char *hostinfo_clean(const char *json, size_t len, const char *const *keys, size_t max, size_t *outlen)
{
    if (json == NULL || len == 0)
        return NULL;
    struct json_object *o = tc_json_parse(json, len);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    struct cleaner *c = malloc(sizeof(*c));
    if (c == NULL) {
        json_object_put(o);
        return NULL;
    }
    jbuf_init(&c->b);
    /* room for the closing brackets of the open levels, which are written after the budget check */
    c->max = max > HOSTINFO_DEPTH_MAX + 2 ? max - HOSTINFO_DEPTH_MAX - 2 : 0;
    put_value(c, o, 0, keys);
    json_object_put(o);
    char *out = c->b.oom ? NULL : jbuf_take(&c->b, outlen);
    jbuf_free(&c->b);
    free(c);
    return out;
}
