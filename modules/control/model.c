// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/model.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

int model_strlist_add(struct model_strlist *l, const char *s)
{
    char *c = strdup(s);
    if (!c)
        return -1;
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v) {
        free(c);
        return -1;
    }
    v[l->n++] = c;
    l->v = v;
    return 0;
}

void model_strlist_free(struct model_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int model_strlist_copy(struct model_strlist *dst, const struct model_strlist *src)
{
    struct model_strlist t = {NULL, 0};
    for (size_t i = 0; i < src->n; i++)
        if (model_strlist_add(&t, src->v[i]) < 0) {
            model_strlist_free(&t);
            return -1;
        }
    model_strlist_free(dst);
    *dst = t;
    return 0;
}

int model_strlist_contains(const struct model_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

char *model_strlist_to_json(const struct model_strlist *l)
{
    json_object *a = json_object_new_array_ext((int)l->n);
    if (!a)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        json_object *s = json_object_new_string(l->v[i]);
        if (!s || json_object_array_add(a, s) < 0) {
            json_object_put(s);
            json_object_put(a);
            return NULL;
        }
    }
    const char *txt =
        json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *r = txt ? strdup(txt) : NULL;
    json_object_put(a);
    return r;
}

int model_strlist_from_json(struct model_strlist *l, const char *json)
{
    struct model_strlist t = {NULL, 0};
    model_strlist_free(l);
    if (!json || !*json)
        return 0;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -1;
    size_t len = strlen(json);
    json_object *a = json_tokener_parse_ex(tok, json, (int)(len > INT32_MAX ? INT32_MAX : len));
    int bad = !a || json_tokener_get_error(tok) != json_tokener_success ||
              json_tokener_get_parse_end(tok) != len || !json_object_is_type(a, json_type_array);
    json_tokener_free(tok);
    if (bad) {
        json_object_put(a);
        return -1;
    }
    size_t n = json_object_array_length(a);
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(a, i);
        if (!json_object_is_type(s, json_type_string) ||
            model_strlist_add(&t, json_object_get_string(s)) < 0) {
            model_strlist_free(&t);
            json_object_put(a);
            return -1;
        }
    }
    json_object_put(a);
    *l = t;
    return 0;
}

void model_node_clear(struct model_node *n)
{
    model_strlist_free(&n->endpoints);
    model_strlist_free(&n->tags);
    model_strlist_free(&n->routes_advertised);
    model_strlist_free(&n->routes_approved);
    free(n->hostinfo);
    memset(n, 0, sizeof(*n));
}

int model_node_copy(struct model_node *dst, const struct model_node *src)
{
    *dst = *src;
    dst->endpoints = (struct model_strlist){NULL, 0};
    dst->tags = (struct model_strlist){NULL, 0};
    dst->routes_advertised = (struct model_strlist){NULL, 0};
    dst->routes_approved = (struct model_strlist){NULL, 0};
    dst->hostinfo = NULL;
    if (model_strlist_copy(&dst->endpoints, &src->endpoints) < 0 ||
        model_strlist_copy(&dst->tags, &src->tags) < 0 ||
        model_strlist_copy(&dst->routes_advertised, &src->routes_advertised) < 0 ||
        model_strlist_copy(&dst->routes_approved, &src->routes_approved) < 0 ||
        (src->hostinfo && !(dst->hostinfo = strdup(src->hostinfo)))) {
        model_node_clear(dst);
        return -1;
    }
    return 0;
}

void model_authkey_clear(struct model_authkey *k)
{
    model_strlist_free(&k->tags);
    memset(k, 0, sizeof(*k));
}

void model_nodes_free(struct model_node *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        model_node_clear(&v[i]);
    free(v);
}

void model_authkeys_free(struct model_authkey *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        model_authkey_clear(&v[i]);
    free(v);
}

int model_strlcpy(char *dst, const char *src, size_t cap)
{
    if (cap == 0)
        return 1;
    size_t len = strlen(src);
    if (len < cap) {
        memcpy(dst, src, len + 1);
        return 0;
    }
    size_t n = cap - 1;
    /* Back off over UTF-8 continuation bytes so that no sequence is cut in half. */
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
        n--;
    memcpy(dst, src, n);
    dst[n] = 0;
    return 1;
}
