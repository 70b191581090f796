// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "modules/control/api/cred.h"
#include "modules/control/api/parse.h"
#include "modules/control/ctrl.h"
#include "modules/control/naming.h"
#include "modules/control/routes.h"
#include "modules/control/store.h"

static int fail(char *err, size_t errlen, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

struct cnode *ops_find_node(struct ctrl *c, const char *ref)
{
    if (!ref || !*ref)
        return NULL;
    char *e;
    long long id = strtoll(ref, &e, 10);
    if (!*e && id > 0)
        return ctrl_node_by_id(c, id);
    for (size_t i = 0; i < c->nnodes; i++)
        if (!strcmp(c->nodes[i]->m.stable_id, ref))
            return c->nodes[i];
    return ctrl_node_by_name(c, ref);
}

int ops_node_expire(struct ctrl *c, struct cnode *n, const char *via, char *err, size_t errlen)
{
    int64_t old = n->m.expiry;
    n->m.expiry = ctrl_now();
    ctrl_revoke(c, n->m.node_key);
    if (ctrl_node_save(c, n, CH_FULL | CH_SELF)) {
        n->m.expiry = old;
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    }
    routes_node_update(c, n); /* an expired node serves no route */
    log_info("module=control event=%s action=node_expire node=%lld name=%s", via, (long long)n->m.id,
             n->m.given_name);
    return 200;
}

int ops_node_rename(struct ctrl *c, struct cnode *n, const char *name, const char *via, char *err, size_t errlen)
{
    if (!name || !naming_label_valid(name))
        return fail(err, errlen, 400, "a name is 1-63 of a-z, 0-9 and '-', not starting or ending with '-'");
    struct cnode *other = ctrl_node_by_name(c, name);
    if (other && other != n)
        return fail(err, errlen, 409, "node %lld is called %s", (long long)other->m.id, name);
    char old[sizeof n->m.given_name];
    memcpy(old, n->m.given_name, sizeof old);
    bool was_renamed = n->m.renamed;
    model_strlcpy(n->m.given_name, name, sizeof n->m.given_name);
    n->m.renamed = true; /* the client's hostname no longer renames it */
    if (ctrl_node_save(c, n, CH_FULL | CH_SELF)) {
        memcpy(n->m.given_name, old, sizeof old);
        ctrl_node_reindex(c, n);
        n->m.renamed = was_renamed;
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    }
    log_info("module=control event=%s action=node_rename node=%lld name=%s new_name=%s", via, (long long)n->m.id,
             old, n->m.given_name);
    return 200;
}

int ops_node_move(struct ctrl *c, struct cnode *n, int64_t user_id, const char *via, char *err, size_t errlen)
{
    const struct model_user *to = ctrl_user(c, user_id), *from = ctrl_user(c, n->m.user_id);
    if (!to)
        return fail(err, errlen, 404, "user %lld not found", (long long)user_id);
    int64_t old = n->m.user_id;
    if (old == user_id)
        return 200;
    n->m.user_id = user_id;
    if (ctrl_node_save(c, n, CH_FULL | CH_SELF)) {
        n->m.user_id = old;
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    }
    log_info("module=control event=%s action=node_move node=%lld name=%s from=%s to=%s", via, (long long)n->m.id,
             n->m.given_name, from ? from->name : "-", to->name);
    return 200;
}

int ops_node_delete(struct ctrl *c, struct cnode *n, const char *via, char *err, size_t errlen)
{
    char gone[sizeof n->m.given_name];
    int64_t gone_id = n->m.id;
    memcpy(gone, n->m.given_name, sizeof gone);
    if (ctrl_node_remove(c, n, true))
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    log_info("module=control event=%s action=node_delete node=%lld name=%s", via, (long long)gone_id, gone);
    return 200;
}

int ops_node_approve_routes(struct ctrl *c, struct cnode *n, struct json_object *routes, const char *via, char *err,
                            size_t errlen)
{
    if (!routes || !json_object_is_type(routes, json_type_array))
        return fail(err, errlen, 400, "routes: a list of prefixes is needed (empty: approve none)");
    struct model_strlist l = {0};
    size_t len = json_object_array_length(routes);
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(routes, i);
        const char *r = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
        char canon[ROUTE_TEXT_MAX], why[160];
        if (!r) {
            model_strlist_free(&l);
            return fail(err, errlen, 400, "routes: element %zu is not a string", i);
        }
        if (routes_canonical(c, r, canon, sizeof canon, why, sizeof why)) {
            model_strlist_free(&l);
            return fail(err, errlen, 400, "route %.100s: %s", r, why);
        }
        if (model_strlist_contains(&l, canon))
            continue;
        if (l.n >= ROUTES_MAX || model_strlist_add(&l, canon)) {
            model_strlist_free(&l);
            return fail(err, errlen, 400, "more than %d routes", ROUTES_MAX);
        }
    }
    if (model_strlist_contains(&l, "0.0.0.0/0") != model_strlist_contains(&l, "::/0")) {
        model_strlist_free(&l);
        return fail(err, errlen, 400, "an exit node is approved with both 0.0.0.0/0 and ::/0");
    }
    int rc = routes_set_approved(c, n, &l);
    model_strlist_free(&l);
    if (rc)
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    char *t = model_strlist_to_json(&n->m.routes_approved);
    log_info("module=control event=%s action=approve_routes node=%lld name=%s routes=%s", via, (long long)n->m.id,
             n->m.given_name, t ? t : "?");
    free(t);
    return 200;
}

int ops_tags_from_json(struct json_object *arr, struct model_strlist *out, char *err, size_t errlen)
{
    model_strlist_free(out);
    if (!arr)
        return 200;
    if (!json_object_is_type(arr, json_type_array))
        return fail(err, errlen, 400, "tags must be an array of strings");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *t = json_object_array_get_idx(arr, i);
        const char *s = json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
        if (!s || !authkey_tag_valid(s)) {
            model_strlist_free(out);
            return fail(err, errlen, 400, "bad tag %.128s (tag:NAME, NAME starting with a letter)", s ? s : "");
        }
        if (!model_strlist_contains(out, s) && model_strlist_add(out, s)) {
            model_strlist_free(out);
            return fail(err, errlen, 500, "out of memory");
        }
    }
    return 200;
}

int ops_node_set_tags(struct ctrl *c, struct cnode *n, const struct model_strlist *tags, const char *via,
                      char *err, size_t errlen)
{
    struct model_strlist old = n->m.tags, copy = {0};
    if (model_strlist_copy(&copy, tags))
        return fail(err, errlen, 500, "out of memory");
    n->m.tags = copy;
    if (ctrl_node_save(c, n, CH_FULL | CH_SELF)) {
        model_strlist_free(&n->m.tags);
        n->m.tags = old;
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    }
    model_strlist_free(&old);
    log_info("module=control event=%s action=node_tags node=%lld name=%s tags=%zu", via, (long long)n->m.id,
             n->m.given_name, n->m.tags.n);
    return 200;
}

int ops_authkey_create(struct ctrl *c, int64_t user_id, bool reusable, bool ephemeral, int64_t expires_in,
                       const struct model_strlist *tags, const char *description, const char *via,
                       char text[AUTHKEY_TEXT_LEN + 1],
                       struct model_authkey *out, char *err, size_t errlen)
{
    const struct model_user *u = ctrl_user(c, user_id);
    if (!u)
        return fail(err, errlen, 404, "no user %lld", (long long)user_id);
    if (expires_in < 0)
        return fail(err, errlen, 400, "the expiry must not be negative");
    memset(out, 0, sizeof *out);
    int rc = authkey_create(c->store, user_id, reusable, ephemeral, expires_in > 0 ? ctrl_now() + expires_in : 0,
                            tags, description, text, out);
    if (rc)
        return fail(err, errlen, rc == STORE_INVALID ? 400 : 500, "%s", store_errmsg(c->store));
    log_info("module=control event=%s action=authkey_create id=%lld prefix=%s user=%s reusable=%s "
             "ephemeral=%s expiration=%lld tags=%zu", via, (long long)out->id, out->prefix, u->name,
             reusable ? "true" : "false", ephemeral ? "true" : "false", (long long)out->expiration, out->tags.n);
    return 200;
}

static int authkey_end(struct ctrl *c, int64_t id, bool revoke, const char *via, char *err, size_t errlen)
{
    struct model_authkey k;
    if (id <= 0 || store_authkey_get_by_id(c->store, id, &k))
        return fail(err, errlen, 404, "no pre-auth key %lld", (long long)id);
    model_authkey_clear(&k);
    if (revoke ? store_authkey_revoke(c->store, id) : store_authkey_expire(c->store, id, ctrl_now()))
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    log_info("module=control event=%s action=authkey_%s id=%lld", via, revoke ? "revoke" : "expire", (long long)id);
    return 200;
}

int ops_authkey_expire(struct ctrl *c, int64_t id, const char *via, char *err, size_t errlen)
{
    return authkey_end(c, id, false, via, err, errlen);
}

int ops_authkey_revoke(struct ctrl *c, int64_t id, const char *via, char *err, size_t errlen)
{
    return authkey_end(c, id, true, via, err, errlen);
}

static const char *kind_name(int kind)
{
    return kind == MODEL_CRED_APIKEY ? "apikey" : "oauth_client";
}

int ops_cred_create(struct ctrl *c, int kind, const char *description, const char *scopes, int64_t expires_in,
                    const char *via, char *secret, size_t cap, struct model_cred *out, char *err, size_t errlen)
{
    char bad[80];
    memset(out, 0, sizeof *out);
    out->kind = kind;
    if (kind == MODEL_CRED_APIKEY) {
        scopes = "all";
    } else if (kind != MODEL_CRED_OAUTH) {
        return fail(err, errlen, 400, "unknown credential kind");
    } else if (!scopes || !api_scopes_valid(scopes, bad, sizeof bad)) {
        return fail(err, errlen, 400, "unknown scope %s (known: all, devices:core, devices:routes, auth_keys, dns, "
                    "policy_file, users, each also as NAME:read)", scopes ? bad : "(none given)");
    }
    if (expires_in < 0)
        return fail(err, errlen, 400, "the expiry must not be negative");
    if (description && model_strlcpy(out->description, description, sizeof out->description))
        return fail(err, errlen, 400, "the description is longer than %d bytes", MODEL_CRED_DESC_MAX);
    if (model_strlcpy(out->scopes, scopes, sizeof out->scopes))
        return fail(err, errlen, 400, "too many scopes");
    out->expiration = expires_in > 0 ? ctrl_now() + expires_in : 0;
    int rc = STORE_CONFLICT;
    for (int tries = 0; tries < 4 && rc == STORE_CONFLICT; tries++) { /* a KEYID clash: draw again */
        if (cred_generate(kind == MODEL_CRED_APIKEY ? CRED_APIKEY_PREFIX : CRED_CLIENT_PREFIX,
                          kind == MODEL_CRED_APIKEY ? 'k' : 'c', secret, cap, out))
            return fail(err, errlen, 500, "no random secret");
        rc = store_cred_create(c->store, out);
    }
    if (rc) {
        sodium_memzero(secret, cap);
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    }
    log_info("module=control event=%s action=%s_create id=%s scopes=\"%s\" expiration=%lld", via, kind_name(kind),
             out->key_id, out->scopes, (long long)out->expiration);
    return 200;
}

int ops_cred_end(struct ctrl *c, int kind, const char *key_id, const char *via, char *err, size_t errlen)
{
    struct model_cred m;
    if (!key_id || store_cred_get(c->store, key_id, &m) || m.kind != kind)
        return fail(err, errlen, 404, "no %s %s", kind == MODEL_CRED_APIKEY ? "API key" : "OAuth client",
                    key_id ? key_id : "(none given)");
    if (kind == MODEL_CRED_APIKEY ? store_cred_expire(c->store, key_id, ctrl_now())
                                  : store_cred_revoke(c->store, key_id))
        return fail(err, errlen, 500, "%s", store_errmsg(c->store));
    log_info("module=control event=%s action=%s_%s id=%s", via, kind_name(kind),
             kind == MODEL_CRED_APIKEY ? "expire" : "delete", key_id);
    return 200;
}
