// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json/json_util.h"
#include "core/log.h"
#include "modules/control/api/api.h"
#include "modules/control/ctrl.h"

/* The route table: every endpoint with the scope it needs (Tailscale's OAuth scope names; write scopes
 * imply :read). Paths are split on '/': "{t}" is the tailnet ("-" or the tailnet's name, base_domain),
 * "{id}" the argument handed to the handler. A path that matches with another method gets 405. */

enum body { NO_BODY, BODY_OPTIONAL, BODY_REQUIRED };

struct route {
    const char *method;
    const char *path;  /* after /api/v2/ */
    const char *scope; /* NULL: no authentication (the OpenAPI document, the token endpoint) */
    enum body body;
    void (*fn)(struct api_call *k);
};

static const struct route routes[] = {
    {"GET", "openapi.json", NULL, NO_BODY, api_openapi},
    {"POST", "oauth/token", NULL, NO_BODY, api_oauth_token}, /* a form body, read by the handler */
    {"GET", "tailnet/{t}/devices", "devices:core:read", NO_BODY, api_devices_list},
    {"GET", "device/{id}", "devices:core:read", NO_BODY, api_device_get},
    {"DELETE", "device/{id}", "devices:core", NO_BODY, api_device_delete},
    {"POST", "device/{id}/authorized", "devices:core", BODY_REQUIRED, api_device_authorized},
    {"POST", "device/{id}/expire", "devices:core", BODY_OPTIONAL, api_device_expire},
    {"POST", "device/{id}/name", "devices:core", BODY_REQUIRED, api_device_name},
    {"POST", "device/{id}/tags", "devices:core", BODY_REQUIRED, api_device_tags},
    {"GET", "device/{id}/routes", "devices:routes:read", NO_BODY, api_device_routes},
    {"POST", "device/{id}/routes", "devices:routes", BODY_REQUIRED, api_device_routes},
    {"POST", "weft/device/{id}/user", "devices:core", BODY_REQUIRED, api_weft_device_user},
    {"GET", "weft/derp", "devices:core:read", NO_BODY, api_weft_derp},
    {"GET", "weft/console/login-methods", NULL, NO_BODY, api_console_login_methods}, /* the login page asks */
    {"GET", "tailnet/{t}/keys", "auth_keys:read", NO_BODY, api_keys_list},
    {"POST", "tailnet/{t}/keys", "auth_keys", BODY_REQUIRED, api_keys_create},
    {"GET", "tailnet/{t}/keys/{id}", "auth_keys:read", NO_BODY, api_key_get},
    {"DELETE", "tailnet/{t}/keys/{id}", "auth_keys", NO_BODY, api_key_delete},
    {"GET", "tailnet/{t}/users", "users:read", NO_BODY, api_users_list},
    {"GET", "users/{id}", "users:read", NO_BODY, api_user_get},
    {"POST", "weft/users", "users", BODY_REQUIRED, api_weft_users_create},
    {"GET", "weft/whoami", API_SCOPE_ANY, NO_BODY, api_whoami},
    {"GET", "tailnet/{t}/dns/nameservers", "dns:read", NO_BODY, api_dns_nameservers},
    {"POST", "tailnet/{t}/dns/nameservers", "dns", BODY_REQUIRED, api_dns_nameservers},
    {"GET", "tailnet/{t}/dns/searchpaths", "dns:read", NO_BODY, api_dns_searchpaths},
    {"POST", "tailnet/{t}/dns/searchpaths", "dns", BODY_REQUIRED, api_dns_searchpaths},
    {"GET", "tailnet/{t}/dns/preferences", "dns:read", NO_BODY, api_dns_preferences},
    {"POST", "tailnet/{t}/dns/preferences", "dns", BODY_REQUIRED, api_dns_preferences},
    {"GET", "tailnet/{t}/dns/split-dns", "dns:read", NO_BODY, api_dns_split},
    {"PATCH", "tailnet/{t}/dns/split-dns", "dns", BODY_REQUIRED, api_dns_split},
    {"PUT", "tailnet/{t}/dns/split-dns", "dns", BODY_REQUIRED, api_dns_split},
    {"DELETE", "weft/dns", "dns", NO_BODY, api_weft_dns_reset},
    /* the policy: HuJSON bodies, read by the handlers */
    {"GET", "tailnet/{t}/acl", "policy_file:read", NO_BODY, api_acl_get},
    {"POST", "tailnet/{t}/acl", "policy_file", NO_BODY, api_acl_set},
    {"POST", "tailnet/{t}/acl/validate", "policy_file:read", NO_BODY, api_acl_validate},
};

struct api {
    struct ctrl *c;
    struct api_auth *auth;
};

struct api_auth *api_auth_of(struct api *a)
{
    return a->auth;
}

void api_reply(struct api_call *k, int status, struct json_object *o)
{
    struct http_header h[] = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
    const char *t = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                      : "";
    http_respond(k->req, status, h, 2, t, strlen(t));
    json_object_put(o);
}

void api_error(struct api_call *k, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(msg));
    api_reply(k, status, o);
}

struct json_object *api_time(int64_t unix_sec)
{
    char buf[TC_TIME_TEXT_MAX];
    if (!unix_sec)
        return json_object_new_string("0001-01-01T00:00:00Z");
    struct tc_time t = tc_time_from_unix(unix_sec, 0);
    return tc_time_format(&t, buf) < 0 ? NULL : json_object_new_string(buf);
}

struct json_object *api_strlist(const struct model_strlist *l)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < l->n; i++)
        json_object_array_add(a, json_object_new_string(l->v[i]));
    return a;
}

struct json_object *api_member(struct api_call *k, const char *name, enum json_type type, bool *bad)
{
    struct json_object *v;
    if (!k->body || !json_object_object_get_ex(k->body, name, &v) || !v)
        return NULL;
    if (!json_object_is_type(v, type)) {
        *bad = true;
        return NULL;
    }
    return v;
}

/* Whether the path's segments match pattern; the {id} segment into arg. 0 no, 1 yes, 2 yes but the
 * tailnet is not ours. */
static int match(struct ctrl *c, const char *pattern, const char *path, char *arg, size_t cap)
{
    int tailnet_ok = 1;
    arg[0] = 0;
    while (*pattern && *path) {
        size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");
        if (!sl)
            return 0;
        if (pl == 3 && !strncmp(pattern, "{t}", 3)) {
            const char *bd = c->conf->dns.base_domain;
            if (!((sl == 1 && *path == '-') || (bd && strlen(bd) == sl && !strncmp(bd, path, sl))))
                tailnet_ok = 0;
        } else if (pl == 4 && !strncmp(pattern, "{id}", 4)) {
            if (sl >= cap)
                return 0;
            memcpy(arg, path, sl);
            arg[sl] = 0;
        } else if (pl != sl || strncmp(pattern, path, sl)) {
            return 0;
        }
        pattern += pl;
        path += sl;
        if ((*pattern == '/') != (*path == '/'))
            return 0;
        if (*pattern)
            pattern++, path++;
    }
    if (*pattern || *path)
        return 0;
    return tailnet_ok ? 1 : 2;
}

static void handle(struct http_req *req, void *arg)
{
    struct api *a = arg;
    struct api_call k = {.api = a, .c = a->c, .req = req};
    const char *path = http_req_path(req) + strlen("/api/v2/"), *method = http_req_method(req);
    const struct route *r = NULL;
    bool other_method = false, foreign = false;
    char allow[64] = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int m = match(a->c, routes[i].path, path, k.arg, sizeof k.arg);
        if (!m)
            continue;
        if (strcmp(routes[i].method, method)) {
            other_method = true;
            size_t l = strlen(allow);
            snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "", routes[i].method);
            continue;
        }
        foreign = m == 2;
        r = &routes[i];
        break;
    }
    if (!r) {
        if (other_method) {
            struct http_header h[] = {{"Content-Type", "application/json"}, {"Allow", allow}};
            char body[160];
            snprintf(body, sizeof body, "{\"message\":\"method not allowed (allowed: %s)\"}", allow);
            http_respond(req, 405, h, 2, body, strlen(body));
        } else {
            api_error(&k, 404, "not found: no API endpoint /api/v2/%.200s", path);
        }
        return;
    }
    if (r->scope && api_authenticate(&k, r->scope) != API_AUTH_OK)
        return;
    if (foreign) {
        api_error(&k, 404, "tailnet not found (this server's tailnet is \"-\" or %s)",
                  a->c->conf->dns.base_domain ? a->c->conf->dns.base_domain : "-");
        return;
    }
    size_t len = 0;
    const uint8_t *body = http_req_body(req, &len);
    if (r->body != NO_BODY) {
        if (len) {
            k.body = tc_json_parse((const char *)body, len);
            if (!k.body || !json_object_is_type(k.body, json_type_object)) {
                json_object_put(k.body);
                api_error(&k, 400, "invalid JSON: the body must be a JSON object");
                return;
            }
        } else if (r->body == BODY_REQUIRED) {
            api_error(&k, 400, "a JSON body is required");
            return;
        }
    }
    log_debug("module=control event=api method=%s path=/api/v2/%s by=%s", method, path, k.who[0] ? k.who : "-");
    r->fn(&k);
    json_object_put(k.body);
}

struct api *api_new(struct ctrl *c)
{
    struct api *a = calloc(1, sizeof *a);
    if (!a || !(a->auth = api_auth_new())) {
        free(a);
        return NULL;
    }
    a->c = c;
    return a;
}

int api_route(struct api *a, struct http_server *srv)
{
    return http_route(srv, "/api/v2/", 1, handle, a);
}

void api_free(struct api *a)
{
    if (!a)
        return;
    api_auth_free(a->auth);
    free(a);
}
