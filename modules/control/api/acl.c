// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/log.h"
#include "modules/control/access.h"
#include "modules/control/api/api.h"
#include "modules/control/control.h"
#include "modules/control/ctrl.h"
#include "modules/control/policy/hujson.h"

/* The policy file: GET|POST /tailnet/{t}/acl and POST /tailnet/{t}/acl/validate, Tailscale's shape, over
 * the same operations as `weft policy get|set|check` (access.h). The ETag is a hash of the text in force,
 * so an editor that sends it back in If-Match does not overwrite a change it has not seen (412). Without
 * a policy every node may reach every other: GET shows that as the allow-all policy it equals. Setting
 * needs control.policy.mode database; in file mode the file is the policy and POST says so (409). */

static const char default_policy[] = "// No access policy is in force: every node may reach every other.\n"
                                     "{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"*\"], "
                                     "\"dst\": [\"*:*\"]},\n  ],\n}\n";

static const char *current(struct ctrl *c, size_t *len)
{
    const char *t = access_text(c, len);
    if (!t) {
        t = default_policy;
        *len = sizeof default_policy - 1;
    }
    return t;
}

/* "\"<32 hex>\"": BLAKE2b-128 of the text */
static void etag_of(const char *text, size_t len, char out[35])
{
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)text, len, NULL, 0);
    out[0] = '"';
    sodium_bin2hex(out + 1, 33, h, sizeof h);
    out[33] = '"';
    out[34] = 0;
}

/* Answers the policy in force: HuJSON as it was written when the client asks for application/hujson,
 * else standard JSON (comments and trailing commas blanked, as Tailscale answers by default). */
static void reply_policy(struct api_call *k)
{
    size_t len;
    const char *t = current(k->c, &len);
    char etag[35];
    etag_of(t, len, etag);
    const char *accept = http_req_header(k->req, "Accept");
    bool hujson = accept && strstr(accept, "application/hujson");
    char *copy = NULL;
    if (!hujson) {
        if (!(copy = malloc(len + 1))) {
            api_error(k, 500, "out of memory");
            return;
        }
        memcpy(copy, t, len);
        copy[len] = 0;
        hj_standardize(copy, len); /* the text in force parsed: it is well-formed */
    }
    struct http_header h[] = {{"Content-Type", hujson ? "application/hujson" : "application/json"},
                              {"ETag", etag},
                              {"Cache-Control", "no-store"}};
    http_respond(k->req, 200, h, 3, hujson ? t : copy, len);
    free(copy);
}

void api_acl_get(struct api_call *k)
{
    reply_policy(k);
}

/* A refusal: {"message", "data": [{"errors": [...]}]}, each error "line L, column C: message" when it
 * has a place (the console and scripts find the line in it). */
static void refused(struct api_call *k, int status, const struct pol_errors *e)
{
    struct json_object *o = json_object_new_object(), *errs = json_object_new_array();
    for (size_t i = 0; i < e->n; i++) {
        char m[1200];
        if (e->v[i].line)
            snprintf(m, sizeof m, "line %u, column %u: %s", e->v[i].line, e->v[i].col, e->v[i].msg);
        else
            snprintf(m, sizeof m, "%s", e->v[i].msg);
        json_object_array_add(errs, json_object_new_string(m));
    }
    char msg[1300];
    if (e->n == 1)
        snprintf(msg, sizeof msg, "policy refused: %s", json_object_get_string(json_object_array_get_idx(errs, 0)));
    else
        snprintf(msg, sizeof msg, "policy refused: %zu errors", e->n);
    json_object_object_add(o, "message", json_object_new_string(msg));
    struct json_object *d = json_object_new_object(), *arr = json_object_new_array();
    json_object_object_add(d, "errors", errs);
    json_object_array_add(arr, d);
    json_object_object_add(o, "data", arr);
    api_reply(k, status, o);
}

static const char *body_text(struct api_call *k, size_t *len)
{
    const char *t = (const char *)http_req_body(k->req, len);
    if (!t || !*len) {
        api_error(k, 400, "a policy is required in the body (HuJSON or JSON)");
        return NULL;
    }
    return t;
}

void api_acl_set(struct api_call *k)
{
    size_t len;
    const char *text = body_text(k, &len);
    if (!text)
        return;
    if (k->c->conf->policy_mode != POLICY_MODE_DATABASE) {
        api_error(k, 409, "control.policy.mode is file: the policy comes from %s; edit that file instead "
                  "(or set control.policy.mode: database)", access_source(k->c));
        return;
    }
    const char *match = http_req_header(k->req, "If-Match");
    if (match && strcmp(match, "*")) {
        size_t cl;
        const char *cur = current(k->c, &cl);
        char etag[35];
        etag_of(cur, cl, etag);
        /* the tag as sent, quoted or not */
        size_t ml = strlen(match);
        bool same = !strcmp(match, etag) || (ml == 32 && !strncmp(match, etag + 1, 32));
        if (!same) {
            api_error(k, 412, "precondition failed: the policy changed since it was read (If-Match %s, now %s)",
                      match, etag);
            return;
        }
    }
    struct pol_errors errs;
    if (access_set(k->c, text, len, &errs)) {
        refused(k, 400, &errs);
        pol_errors_free(&errs);
        return;
    }
    pol_errors_free(&errs);
    log_info("module=control event=api action=policy_set by=%s bytes=%zu", k->who, len);
    reply_policy(k);
}

void api_acl_validate(struct api_call *k)
{
    size_t len;
    const char *text = body_text(k, &len);
    if (!text)
        return;
    struct pol_errors errs;
    if (access_check(k->c, text, len, &errs)) {
        refused(k, 200, &errs); /* Tailscale answers a failed validation 200 with its message */
        pol_errors_free(&errs);
        return;
    }
    pol_errors_free(&errs);
    api_reply(k, 200, json_object_new_object());
}
