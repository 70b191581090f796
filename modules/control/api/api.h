// SPDX-License-Identifier: BSD-3-Clause
/* The REST API under /api/v2/ on control's listeners, shaped like Tailscale's public API (paths, JSON
 * field names, status codes, {"message": ...} error bodies) for what weft has; weft-only parts under
 * /api/v2/weft/. openapi.json (served at /api/v2/openapi.json) describes exactly what is routed here.
 *
 * router.c  the route table, tailnet check, JSON bodies, dispatch        auth.c  API keys, OAuth tokens
 * limit.c   failed authentications per source                            cred.c  secrets and their hashes
 * parse.c   Authorization header, form bodies, scopes (fuzzed)           devices.c keys.c users.c dns.c acl.c
 * The changes themselves are ../ops.c's, shared with the admin socket. */
#ifndef WEFT_CONTROL_API_H
#define WEFT_CONTROL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "modules/control/model.h"

struct ctrl;
struct http_server;
struct http_req;
struct api;

/* The API for c (NULL on failure): one per control instance, whatever its listeners, so that OAuth tokens
 * and the limiter of failed authentications are the same on each. api_route serves it on srv under
 * /api/v2/ (0 or -1). */
struct api *api_new(struct ctrl *c);
int api_route(struct api *a, struct http_server *srv);
void api_free(struct api *a);

/* ---- for the handlers ---- */

struct api_call {
    struct api *api;
    struct ctrl *c;
    struct http_req *req;
    char arg[128];            /* the path's {id} segment, or "" */
    struct json_object *body; /* the request's JSON object (POST with a body), else NULL */
    char who[MODEL_USER_NAME_MAX + 16]; /* the credential's KEYID, or "session:USER" (logs) */
};

/* Answers with o (taken; NULL = an empty body). */
void api_reply(struct api_call *k, int status, struct json_object *o);
/* Answers {"message": ...}. */
void api_error(struct api_call *k, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* RFC 3339 UTC ("2024-01-02T03:04:05Z"); 0 gives Go's zero time, as Tailscale writes it. */
struct json_object *api_time(int64_t unix_sec);
struct json_object *api_strlist(const struct model_strlist *l);
/* A body member of the given type, or NULL (absent or null). Sets *bad when present with another type. */
struct json_object *api_member(struct api_call *k, const char *name, enum json_type type, bool *bad);

/* auth.c */
enum { API_AUTH_OK = 0 };
#define API_SCOPE_ANY "any" /* a route any valid credential may call */
/* Checks the request's credentials and that they allow scope: API_AUTH_OK (k->who set), or answers
 * (401, 403, 429) and returns its status. */
int api_authenticate(struct api_call *k, const char *scope);
/* POST /api/v2/oauth/token */
void api_oauth_token(struct api_call *k);
struct api_auth;
struct api_auth *api_auth_new(void);
void api_auth_free(struct api_auth *au);
struct api_auth *api_auth_of(struct api *a);

/* handlers */
void api_devices_list(struct api_call *k);
void api_acl_get(struct api_call *k);
void api_acl_set(struct api_call *k);
void api_acl_validate(struct api_call *k);
void api_device_get(struct api_call *k);
void api_device_delete(struct api_call *k);
void api_device_authorized(struct api_call *k);
void api_device_expire(struct api_call *k);
void api_device_name(struct api_call *k);
void api_device_tags(struct api_call *k);
void api_device_routes(struct api_call *k);
void api_weft_device_user(struct api_call *k);
void api_weft_derp(struct api_call *k);
void api_console_login_methods(struct api_call *k);
void api_keys_list(struct api_call *k);
void api_keys_create(struct api_call *k);
void api_key_get(struct api_call *k);
void api_key_delete(struct api_call *k);
void api_users_list(struct api_call *k);
void api_user_get(struct api_call *k);
void api_weft_users_create(struct api_call *k);
void api_dns_nameservers(struct api_call *k);
void api_dns_searchpaths(struct api_call *k);
void api_dns_preferences(struct api_call *k);
void api_dns_split(struct api_call *k);
void api_weft_dns_reset(struct api_call *k);
void api_openapi(struct api_call *k);
void api_whoami(struct api_call *k);

#endif
