// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/acme/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/json/json_util.h"

static struct json_object *parse(const char *body, size_t len)
{
    struct json_object *o = body && len ? tc_json_parse(body, len) : NULL;
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static char *jdup(struct json_object *o, const char *key)
{
    const char *s = jstr(o, key);
    return s ? strdup(s) : NULL;
}

static struct json_object *jobj(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_object) ? v : NULL;
}

int acme_directory_parse(const char *body, size_t len, struct acme_directory *d)
{
    memset(d, 0, sizeof *d);
    struct json_object *o = parse(body, len);
    d->new_nonce = jdup(o, "newNonce");
    d->new_account = jdup(o, "newAccount");
    d->new_order = jdup(o, "newOrder");
    json_object_put(o);
    if (d->new_nonce && d->new_account && d->new_order)
        return 0;
    acme_directory_free(d);
    return -1;
}

void acme_directory_free(struct acme_directory *d)
{
    free(d->new_nonce);
    free(d->new_account);
    free(d->new_order);
    memset(d, 0, sizeof *d);
}

int acme_order_parse(const char *body, size_t len, struct acme_order_msg *m)
{
    memset(m, 0, sizeof *m);
    struct json_object *o = parse(body, len), *az;
    if (!o || !(m->status = jdup(o, "status"))) {
        json_object_put(o);
        acme_order_msg_free(m);
        return -1;
    }
    m->finalize = jdup(o, "finalize");
    m->certificate = jdup(o, "certificate");
    m->error = jdup(jobj(o, "error"), "detail");
    if (json_object_object_get_ex(o, "authorizations", &az) && json_object_is_type(az, json_type_array)) {
        size_t n = json_object_array_length(az);
        m->authz = calloc(n ? n : 1, sizeof *m->authz);
        for (size_t i = 0; m->authz && i < n; i++) {
            struct json_object *u = json_object_array_get_idx(az, i);
            if (json_object_is_type(u, json_type_string))
                m->authz[m->nauthz++] = strdup(json_object_get_string(u));
        }
    }
    json_object_put(o);
    return 0;
}

void acme_order_msg_free(struct acme_order_msg *m)
{
    free(m->status);
    free(m->finalize);
    free(m->certificate);
    free(m->error);
    for (size_t i = 0; i < m->nauthz; i++)
        free(m->authz[i]);
    free(m->authz);
    memset(m, 0, sizeof *m);
}

int acme_authz_parse(const char *body, size_t len, const char *type, struct acme_authz_msg *a)
{
    memset(a, 0, sizeof *a);
    struct json_object *o = parse(body, len), *ident = jobj(o, "identifier"), *chals;
    const char *itype = jstr(ident, "type");
    if (!o || !itype || strcmp(itype, "dns") != 0 || !(a->status = jdup(o, "status")) ||
        !(a->name = jdup(ident, "value"))) {
        json_object_put(o);
        acme_authz_msg_free(a);
        return -1;
    }
    if (json_object_object_get_ex(o, "challenges", &chals) && json_object_is_type(chals, json_type_array))
        for (size_t i = 0; i < json_object_array_length(chals); i++) {
            struct json_object *c = json_object_array_get_idx(chals, i);
            const char *t = json_object_is_type(c, json_type_object) ? jstr(c, "type") : NULL;
            if (!t || strcmp(t, type) != 0 || !jstr(c, "token") || !jstr(c, "url"))
                continue;
            free(a->token);
            free(a->url);
            free(a->error);
            a->token = jdup(c, "token");
            a->url = jdup(c, "url");
            a->error = jdup(jobj(c, "error"), "detail");
        }
    json_object_put(o);
    return 0;
}

void acme_authz_msg_free(struct acme_authz_msg *a)
{
    free(a->status);
    free(a->name);
    free(a->token);
    free(a->url);
    free(a->error);
    memset(a, 0, sizeof *a);
}

int acme_problem_parse(const char *body, size_t len, char *buf, size_t cap, int *bad_nonce)
{
    struct json_object *o = parse(body, len);
    const char *type = jstr(o, "type"), *detail = jstr(o, "detail");
    *bad_nonce = type && strcmp(type, "urn:ietf:params:acme:error:badNonce") == 0;
    if (cap)
        buf[0] = 0;
    int rc = -1;
    if (type || detail) {
        snprintf(buf, cap, "%s (%s)", detail ? detail : "no detail", type ? type : "no type");
        rc = 0;
    }
    json_object_put(o);
    return rc;
}
