// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "modules/control/api/api.h"
#include "modules/control/authkey.h"
#include "modules/control/ctrl.h"
#include "modules/control/ops.h"
#include "modules/control/store.h"

/* Auth keys (weft's pre-auth keys): GET|POST /tailnet/{t}/keys, GET|DELETE /tailnet/{t}/keys/{id}.
 * A key is created as Tailscale's body says:
 *   {"capabilities": {"devices": {"create": {"reusable", "ephemeral", "preauthorized", "tags"}}},
 *    "expirySeconds": N, "description": "..."}
 * Every weft key pre-authorizes (there is no approval step after registering with a key), so
 * preauthorized is taken and reported as true. A weft key belongs to a user: the weft-only member "user"
 * (a login name) says which; without it the tailnet's only user, if there is exactly one. DELETE revokes
 * the key (it stays listed, invalid, as Tailscale lists revoked keys). */

static struct json_object *key_obj(struct ctrl *c, const struct model_authkey *k, const char *text)
{
    struct json_object *o = json_object_new_object(), *caps = json_object_new_object(),
                       *dev = json_object_new_object(), *cr = json_object_new_object();
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)k->id);
    const struct model_user *u = ctrl_user(c, k->user_id);
    json_object_object_add(o, "id", json_object_new_string(id));
    if (text)
        json_object_object_add(o, "key", json_object_new_string(text));
    json_object_object_add(o, "keyType", json_object_new_string("auth"));
    json_object_object_add(o, "description", json_object_new_string(k->description));
    json_object_object_add(o, "created", api_time(k->created));
    if (k->expiration)
        json_object_object_add(o, "expires", api_time(k->expiration));
    json_object_object_add(o, "invalid", json_object_new_boolean(authkey_check(k, ctrl_now()) != AUTHKEY_OK));
    json_object_object_add(o, "userId", json_object_new_string(u ? u->name : ""));
    json_object_object_add(cr, "reusable", json_object_new_boolean(k->reusable));
    json_object_object_add(cr, "ephemeral", json_object_new_boolean(k->ephemeral));
    json_object_object_add(cr, "preauthorized", json_object_new_boolean(true));
    json_object_object_add(cr, "tags", api_strlist(&k->tags));
    json_object_object_add(dev, "create", cr);
    json_object_object_add(caps, "devices", dev);
    json_object_object_add(o, "capabilities", caps);
    json_object_object_add(o, "prefix", json_object_new_string(k->prefix));
    json_object_object_add(o, "usedCount", json_object_new_int64(k->used_count));
    return o;
}

void api_keys_list(struct api_call *k)
{
    struct model_authkey *v = NULL;
    size_t n = 0;
    if (store_authkey_list(k->c->store, &v, &n)) {
        api_error(k, 500, "%s", store_errmsg(k->c->store));
        return;
    }
    struct json_object *a = json_object_new_array(), *o = json_object_new_object();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, key_obj(k->c, &v[i], NULL));
    model_authkeys_free(v, n);
    json_object_object_add(o, "keys", a);
    api_reply(k, 200, o);
}

/* The members of o along path ("a", "b", ...) down to the last, NULL if absent; *bad when a step is not
 * an object or the last not of type t. */
static struct json_object *dig(struct json_object *o, const char *const *path, enum json_type t, bool *bad)
{
    struct json_object *v = o;
    for (; *path; path++) {
        if (!v)
            return NULL;
        if (!json_object_is_type(v, json_type_object)) {
            *bad = true;
            return NULL;
        }
        if (!json_object_object_get_ex(v, *path, &v) || !v)
            return NULL;
    }
    if (!json_object_is_type(v, t)) {
        *bad = true;
        return NULL;
    }
    return v;
}

void api_keys_create(struct api_call *k)
{
    static const char *const p_reusable[] = {"capabilities", "devices", "create", "reusable", NULL},
                             *const p_ephemeral[] = {"capabilities", "devices", "create", "ephemeral", NULL},
                             *const p_preauth[] = {"capabilities", "devices", "create", "preauthorized", NULL},
                             *const p_tags[] = {"capabilities", "devices", "create", "tags", NULL},
                             *const p_expiry[] = {"expirySeconds", NULL}, *const p_desc[] = {"description", NULL},
                             *const p_user[] = {"user", NULL};
    bool bad = false;
    struct json_object *reusable = dig(k->body, p_reusable, json_type_boolean, &bad),
                       *ephemeral = dig(k->body, p_ephemeral, json_type_boolean, &bad),
                       *tags = dig(k->body, p_tags, json_type_array, &bad),
                       *expiry = dig(k->body, p_expiry, json_type_int, &bad),
                       *desc = dig(k->body, p_desc, json_type_string, &bad),
                       *user = dig(k->body, p_user, json_type_string, &bad);
    dig(k->body, p_preauth, json_type_boolean, &bad);
    if (bad) {
        api_error(k, 400, "bad request: capabilities.devices.create.{reusable,ephemeral,preauthorized} are "
                  "booleans, tags an array of strings, expirySeconds a number, description and user strings");
        return;
    }
    if (desc && json_object_get_string_len(desc) > 255) {
        api_error(k, 400, "description is longer than 255 bytes");
        return;
    }
    int64_t uid = 0;
    if (user) {
        const char *name = json_object_get_string(user);
        for (size_t i = 0; i < k->c->nusers && !uid; i++)
            if (!strcmp(k->c->users[i].name, name))
                uid = k->c->users[i].id;
        if (!uid) {
            api_error(k, 404, "user not found: %.100s", name);
            return;
        }
    } else if (k->c->nusers == 1) {
        uid = k->c->users[0].id;
    } else {
        api_error(k, 400, "this tailnet has %zu users: say which one owns the key with the weft member "
                  "\"user\" (a login name)", k->c->nusers);
        return;
    }
    char err[512], text[AUTHKEY_TEXT_LEN + 1];
    struct model_strlist tl = {0};
    struct model_authkey m;
    int st = ops_tags_from_json(tags, &tl, err, sizeof err);
    if (st == 200)
        st = ops_authkey_create(k->c, uid, reusable && json_object_get_boolean(reusable),
                                ephemeral && json_object_get_boolean(ephemeral),
                                expiry ? json_object_get_int64(expiry) : 90 * 86400, &tl,
                                desc ? json_object_get_string(desc) : NULL, "api", text, &m, err, sizeof err);
    model_strlist_free(&tl);
    if (st != 200) {
        api_error(k, st, "%s", err);
        return;
    }
    struct json_object *o = key_obj(k->c, &m, text);
    model_authkey_clear(&m);
    sodium_memzero(text, sizeof text);
    api_reply(k, 200, o);
}

static int key_arg(struct api_call *k, struct model_authkey *out)
{
    char *e;
    long long id = strtoll(k->arg, &e, 10);
    if (*e || id <= 0 || store_authkey_get_by_id(k->c->store, id, out)) {
        api_error(k, 404, "key not found: %.100s", k->arg);
        return -1;
    }
    return 0;
}

void api_key_get(struct api_call *k)
{
    struct model_authkey m;
    if (key_arg(k, &m))
        return;
    struct json_object *o = key_obj(k->c, &m, NULL);
    model_authkey_clear(&m);
    api_reply(k, 200, o);
}

void api_key_delete(struct api_call *k)
{
    struct model_authkey m;
    char err[512];
    if (key_arg(k, &m))
        return;
    int st = ops_authkey_revoke(k->c, m.id, "api", err, sizeof err);
    model_authkey_clear(&m);
    if (st == 200)
        api_reply(k, 200, NULL);
    else
        api_error(k, st, "%s", err);
}
