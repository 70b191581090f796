// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "core/ctx.h"
#include "core/http.h"
#include "core/json/json_util.h"
#include "core/log.h"
#include "core/module.h"
#include "modules/control/api/cred.h"
#include "modules/control/access.h"
#include "modules/control/app.h"
#include "modules/control/authkey.h"
#include "modules/control/ctrl.h"
#include "modules/control/naming.h"
#include "modules/control/ops.h"
#include "modules/control/store.h"

/* The admin socket: HTTP over a unix socket (mode 0660) in the runtime directory systemd gives the service
 * ($RUNTIME_DIRECTORY, /run/weft in the units: where the CLI looks when the configuration does not say, and
 * reachable by the service's group while state_dir stays 0700), else in state_dir; one JSON request body per call
 * and a JSON answer ({"error":"..."} with a 4xx/5xx on refusal). Only local users in the socket's group
 * reach it: it is the authority for users, keys and nodes. The CLI verbs (verbs.c) are its client.
 *
 *   GET  /v1/users                      POST /v1/users/create {name}
 *   POST /v1/users/rename {name,new_name}   POST /v1/users/delete {name,force}
 *   GET  /v1/authkeys                   POST /v1/authkeys/create {user,reusable,ephemeral,expiration,tags}
 *   POST /v1/authkeys/expire {id}
 *   GET  /v1/nodes                      POST /v1/nodes/register {user,authid}
 *   POST /v1/nodes/expire {node}        POST /v1/nodes/rename {node,name}    POST /v1/nodes/delete {node}
 *   POST /v1/nodes/routes {node}        POST /v1/nodes/approve-routes {node,routes:[CIDR...]}
 *   GET  /v1/apikeys                    POST /v1/apikeys/create {description,expiration}
 *   POST /v1/apikeys/expire {id}
 *   GET  /v1/oauth-clients              POST /v1/oauth-clients/create {description,scopes,expiration}
 *   POST /v1/oauth-clients/delete {id}
 *   GET  /v1/policy                     POST /v1/policy/set {policy}         POST /v1/policy/check {policy}
 * (node: ID, stable ID or name; expiration: seconds from now, 0 = never; a refused policy answers 400 with
 *  "errors": [{line, col, message}]). The changes themselves are ops.c's, shared with the REST API (api/). */

int admin_socket_path(const char *dir, const char *admin_socket, char *out, size_t len)
{
    const char *s = admin_socket && *admin_socket ? admin_socket : "control.sock";
    int n = s[0] == '/' ? snprintf(out, len, "%s", s) : snprintf(out, len, "%s/%s", dir, s);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static void reply(struct http_req *req, int status, struct json_object *o)
{
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    http_respond_json(req, status, t);
    json_object_put(o);
}

static void fail(struct http_req *req, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct http_req *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    reply(req, status, o);
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int64_t jint(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static bool jbool(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static struct json_object *time_obj(int64_t unix_sec)
{
    if (!unix_sec)
        return NULL;
    char buf[TC_TIME_TEXT_MAX];
    struct tc_time t = tc_time_from_unix(unix_sec, 0);
    return tc_time_format(&t, buf) < 0 ? NULL : json_object_new_string(buf);
}

static struct json_object *strlist(const struct model_strlist *l)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < l->n; i++)
        json_object_array_add(a, json_object_new_string(l->v[i]));
    return a;
}

static struct json_object *node_obj(struct ctrl *c, const struct cnode *n)
{
    const struct model_node *m = &n->m;
    struct json_object *o = json_object_new_object();
    char a4[INET_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "", fq[512];
    if (m->has_ipv4)
        inet_ntop(AF_INET, m->ipv4, a4, sizeof a4);
    if (m->has_ipv6)
        inet_ntop(AF_INET6, m->ipv6, a6, sizeof a6);
    snprintf(fq, sizeof fq, "%s.%s", m->given_name, c->conf->dns.base_domain);
    const struct model_user *u = ctrl_user(c, m->user_id);
    json_object_object_add(o, "id", json_object_new_int64(m->id));
    json_object_object_add(o, "name", json_object_new_string(m->given_name));
    json_object_object_add(o, "fqdn", json_object_new_string(fq));
    json_object_object_add(o, "hostname", json_object_new_string(m->hostname));
    json_object_object_add(o, "user", json_object_new_string(u ? u->name : ""));
    json_object_object_add(o, "ipv4", json_object_new_string(a4));
    json_object_object_add(o, "ipv6", json_object_new_string(a6));
    json_object_object_add(o, "online", json_object_new_boolean(m->online));
    json_object_object_add(o, "ephemeral", json_object_new_boolean(m->ephemeral));
    json_object_object_add(o, "expired", json_object_new_boolean(ctrl_node_expired(n, ctrl_now())));
    json_object_object_add(o, "expiry", time_obj(m->expiry));
    json_object_object_add(o, "last_seen", time_obj(m->last_seen));
    json_object_object_add(o, "created", time_obj(m->created));
    json_object_object_add(o, "tags", strlist(&m->tags));
    json_object_object_add(o, "advertised_routes", strlist(&m->routes_advertised));
    json_object_object_add(o, "approved_routes", strlist(&m->routes_approved));
    json_object_object_add(o, "primary_routes", strlist(&n->primary));
    json_object_object_add(o, "exit_node", json_object_new_boolean(routes_is_exit(n)));
    return o;
}

static void users(struct ctrl *c, struct http_req *req, const char *op, struct json_object *in)
{
    if (!strcmp(op, "")) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; i < c->nusers; i++) {
            struct json_object *o = json_object_new_object();
            size_t nodes = 0;
            for (size_t j = 0; j < c->nnodes; j++)
                nodes += c->nodes[j]->m.user_id == c->users[i].id;
            json_object_object_add(o, "id", json_object_new_int64(c->users[i].id));
            json_object_object_add(o, "name", json_object_new_string(c->users[i].name));
            json_object_object_add(o, "nodes", json_object_new_int64((int64_t)nodes));
            json_object_object_add(o, "created", time_obj(c->users[i].created));
            json_object_array_add(a, o);
        }
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "users", a);
        reply(req, 200, o);
        return;
    }
    const char *name = jstr(in, "name");
    if (!name || !*name) {
        fail(req, 400, "a user name is needed");
        return;
    }
    struct model_user u;
    memset(&u, 0, sizeof u);
    int rc;
    if (!strcmp(op, "/create")) {
        if (model_strlcpy(u.name, name, sizeof u.name)) {
            fail(req, 400, "user name too long");
            return;
        }
        rc = store_user_create(c->store, &u);
        if (rc) {
            fail(req, rc == STORE_CONFLICT ? 409 : 500, "%s", rc == STORE_CONFLICT ? "that user exists"
                                                                                  : store_errmsg(c->store));
            return;
        }
        ctrl_users_reload(c);
        log_info("module=control event=admin action=user_create user=%s id=%lld", u.name, (long long)u.id);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_int64(u.id));
        json_object_object_add(o, "name", json_object_new_string(u.name));
        reply(req, 200, o);
        return;
    }
    if (store_user_get_by_name(c->store, name, &u)) {
        fail(req, 404, "no user %s", name);
        return;
    }
    if (!strcmp(op, "/rename")) {
        const char *nn = jstr(in, "new_name");
        if (!nn || !*nn || strlen(nn) > MODEL_USER_NAME_MAX) {
            fail(req, 400, "a new name is needed");
            return;
        }
        rc = store_user_rename(c->store, u.id, nn);
        if (rc) {
            fail(req, rc == STORE_CONFLICT ? 409 : 500, "%s", rc == STORE_CONFLICT ? "that name is taken"
                                                                                  : store_errmsg(c->store));
            return;
        }
        ctrl_users_reload(c); /* streams get the new UserProfiles */
        fanout_flush(c);
        log_info("module=control event=admin action=user_rename user=%s new_name=%s id=%lld", name, nn,
                 (long long)u.id);
        reply(req, 200, json_object_new_object());
        return;
    }
    if (!strcmp(op, "/delete")) {
        bool force = jbool(in, "force");
        size_t owned = 0;
        for (size_t j = 0; j < c->nnodes; j++)
            owned += c->nodes[j]->m.user_id == u.id;
        if (owned && !force) {
            fail(req, 409, "user %s owns %zu node(s): delete them first, or use --force", name, owned);
            return;
        }
        for (size_t j = c->nnodes; j-- > 0;)
            if (c->nodes[j]->m.user_id == u.id)
                ctrl_node_remove(c, c->nodes[j], true);
        rc = store_user_delete(c->store, u.id, force);
        if (rc) {
            fail(req, rc == STORE_INUSE ? 409 : 500, "%s", store_errmsg(c->store));
            return;
        }
        ctrl_users_reload(c);
        log_info("module=control event=admin action=user_delete user=%s id=%lld nodes_deleted=%zu", name,
                 (long long)u.id, owned);
        reply(req, 200, json_object_new_object());
        return;
    }
    fail(req, 404, "no such operation");
}

static void authkeys(struct ctrl *c, struct http_req *req, const char *op, struct json_object *in)
{
    if (!strcmp(op, "")) {
        struct model_authkey *v = NULL;
        size_t n = 0;
        if (store_authkey_list(c->store, &v, &n)) {
            fail(req, 500, "%s", store_errmsg(c->store));
            return;
        }
        struct json_object *a = json_object_new_array();
        int64_t now = ctrl_now();
        for (size_t i = 0; i < n; i++) {
            struct json_object *o = json_object_new_object();
            const struct model_user *u = ctrl_user(c, v[i].user_id);
            int st = authkey_check(&v[i], now);
            json_object_object_add(o, "id", json_object_new_int64(v[i].id));
            json_object_object_add(o, "prefix", json_object_new_string(v[i].prefix));
            json_object_object_add(o, "user", json_object_new_string(u ? u->name : ""));
            json_object_object_add(o, "reusable", json_object_new_boolean(v[i].reusable));
            json_object_object_add(o, "ephemeral", json_object_new_boolean(v[i].ephemeral));
            json_object_object_add(o, "used", json_object_new_int64(v[i].used_count));
            json_object_object_add(o, "usable", json_object_new_boolean(st == AUTHKEY_OK));
            json_object_object_add(o, "expiration", time_obj(v[i].expiration));
            json_object_object_add(o, "created", time_obj(v[i].created));
            json_object_object_add(o, "tags", strlist(&v[i].tags));
            json_object_array_add(a, o);
        }
        model_authkeys_free(v, n);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "authkeys", a);
        reply(req, 200, o);
        return;
    }
    if (!strcmp(op, "/create")) {
        const char *user = jstr(in, "user");
        struct model_user u;
        if (!user || store_user_get_by_name(c->store, user, &u)) {
            fail(req, 404, "no user %s", user ? user : "(none given)");
            return;
        }
        struct model_strlist tags = {0};
        struct json_object *t = NULL;
        char err[512], text[AUTHKEY_TEXT_LEN + 1];
        json_object_object_get_ex(in, "tags", &t);
        int st = ops_tags_from_json(t, &tags, err, sizeof err);
        struct model_authkey k;
        if (st == 200)
            st = ops_authkey_create(c, u.id, jbool(in, "reusable"), jbool(in, "ephemeral"), jint(in, "expiration"),
                                    &tags, jstr(in, "description"), "admin", text, &k, err, sizeof err);
        model_strlist_free(&tags);
        if (st != 200) {
            fail(req, st, "%s", err);
            return;
        }
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_int64(k.id));
        json_object_object_add(o, "key", json_object_new_string(text));
        model_authkey_clear(&k);
        sodium_memzero(text, sizeof text);
        reply(req, 200, o);
        return;
    }
    if (!strcmp(op, "/expire")) {
        char err[512];
        int st = ops_authkey_expire(c, jint(in, "id"), "admin", err, sizeof err);
        if (st != 200)
            fail(req, st, "%s", err);
        else
            reply(req, 200, json_object_new_object());
        return;
    }
    fail(req, 404, "no such operation");
}

static void nodes(struct ctrl *c, struct http_req *req, const char *op, struct json_object *in)
{
    if (!strcmp(op, "")) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; i < c->nnodes; i++)
            json_object_array_add(a, node_obj(c, c->nodes[i]));
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "nodes", a);
        reply(req, 200, o);
        return;
    }
    if (!strcmp(op, "/register")) {
        char err[512];
        const char *user = jstr(in, "user"), *id = jstr(in, "authid");
        if (!user || !id) {
            fail(req, 400, "user and authid are needed");
            return;
        }
        /* accept the whole AuthURL too */
        const char *slash = strrchr(id, '/');
        if (slash)
            id = slash + 1;
        int64_t nid = reg_approve(c, id, user, err, sizeof err);
        if (nid < 0) {
            fail(req, 404, "%s", err);
            return;
        }
        struct cnode *n = ctrl_node_by_id(c, nid);
        log_info("module=control event=admin action=node_register authid=%s user=%s node=%lld name=%s", id, user,
                 (long long)nid, n ? n->m.given_name : "-");
        reply(req, 200, n ? node_obj(c, n) : json_object_new_object());
        return;
    }
    struct cnode *n = ops_find_node(c, jstr(in, "node"));
    if (!n) {
        fail(req, 404, "no node %s", jstr(in, "node") ? jstr(in, "node") : "(none given)");
        return;
    }
    if (!strcmp(op, "/routes")) {
        reply(req, 200, node_obj(c, n));
        return;
    }
    char err[512];
    int st;
    if (!strcmp(op, "/approve-routes"))
        st = ops_node_approve_routes(c, n, json_object_object_get(in, "routes"), "admin", err, sizeof err);
    else if (!strcmp(op, "/expire"))
        st = ops_node_expire(c, n, "admin", err, sizeof err);
    else if (!strcmp(op, "/rename"))
        st = ops_node_rename(c, n, jstr(in, "name"), "admin", err, sizeof err);
    else if (!strcmp(op, "/delete"))
        st = ops_node_delete(c, n, "admin", err, sizeof err);
    else
        st = snprintf(err, sizeof err, "no such operation") > 0 ? 404 : 500;
    if (st != 200)
        fail(req, st, "%s", err);
    else
        reply(req, 200, strcmp(op, "/delete") ? node_obj(c, n) : json_object_new_object());
}

/* API keys and OAuth clients of the REST API (api/): `weft apikeys`, `weft oauth-clients`. */
static void creds(struct ctrl *c, struct http_req *req, int kind, const char *op, struct json_object *in)
{
    char err[512];
    if (!strcmp(op, "")) {
        struct model_cred *v = NULL;
        size_t n = 0;
        if (store_cred_list(c->store, kind, &v, &n)) {
            fail(req, 500, "%s", store_errmsg(c->store));
            return;
        }
        struct json_object *a = json_object_new_array();
        int64_t now = ctrl_now();
        for (size_t i = 0; i < n; i++) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "id", json_object_new_string(v[i].key_id));
            json_object_object_add(o, "description", json_object_new_string(v[i].description));
            if (kind == MODEL_CRED_OAUTH)
                json_object_object_add(o, "scopes", json_object_new_string(v[i].scopes));
            json_object_object_add(o, "usable", json_object_new_boolean(
                                                    !v[i].revoked && (!v[i].expiration || v[i].expiration > now)));
            json_object_object_add(o, "expiration", time_obj(v[i].expiration));
            json_object_object_add(o, "created", time_obj(v[i].created));
            json_object_array_add(a, o);
        }
        free(v);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, kind == MODEL_CRED_APIKEY ? "apikeys" : "oauth_clients", a);
        reply(req, 200, o);
        return;
    }
    if (!strcmp(op, "/create")) {
        char secret[CRED_TEXT_MAX];
        struct model_cred m;
        int st = ops_cred_create(c, kind, jstr(in, "description"), jstr(in, "scopes"), jint(in, "expiration"),
                                 "admin", secret, sizeof secret, &m, err, sizeof err);
        if (st != 200) {
            fail(req, st, "%s", err);
            return;
        }
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(m.key_id));
        json_object_object_add(o, kind == MODEL_CRED_APIKEY ? "key" : "secret", json_object_new_string(secret));
        if (kind == MODEL_CRED_OAUTH)
            json_object_object_add(o, "scopes", json_object_new_string(m.scopes));
        json_object_object_add(o, "expiration", time_obj(m.expiration));
        sodium_memzero(secret, sizeof secret);
        reply(req, 200, o);
        return;
    }
    if (!strcmp(op, kind == MODEL_CRED_APIKEY ? "/expire" : "/delete")) {
        int st = ops_cred_end(c, kind, jstr(in, "id"), "admin", err, sizeof err);
        if (st != 200)
            fail(req, st, "%s", err);
        else
            reply(req, 200, json_object_new_object());
        return;
    }
    fail(req, 404, "no such operation");
}

static void apikeys(struct ctrl *c, struct http_req *req, const char *op, struct json_object *in)
{
    creds(c, req, MODEL_CRED_APIKEY, op, in);
}

static void oauth_clients(struct ctrl *c, struct http_req *req, const char *op, struct json_object *in)
{
    creds(c, req, MODEL_CRED_OAUTH, op, in);
}

/* ---- the access policy ---- */

static void refused(struct http_req *req, const char *what, const struct pol_errors *e)
{
    struct json_object *o = json_object_new_object(), *a = json_object_new_array();
    json_object_object_add(o, "error", json_object_new_string(what));
    for (size_t i = 0; i < e->n; i++) {
        struct json_object *x = json_object_new_object();
        json_object_object_add(x, "line", json_object_new_int((int)e->v[i].line));
        json_object_object_add(x, "col", json_object_new_int((int)e->v[i].col));
        json_object_object_add(x, "message", json_object_new_string(e->v[i].msg));
        json_object_array_add(a, x);
    }
    json_object_object_add(o, "errors", a);
    reply(req, 400, o);
}

static void policy(struct ctrl *c, struct http_req *req, const char *op, struct json_object *in)
{
    if (!*op) {
        struct json_object *o = json_object_new_object();
        size_t len;
        const char *t = access_text(c, &len);
        json_object_object_add(o, "mode", json_object_new_string(c->conf->policy_mode ? "database" : "file"));
        json_object_object_add(o, "source", json_object_new_string(access_source(c)));
        json_object_object_add(o, "policy", t ? json_object_new_string_len(t, (int)len) : NULL);
        reply(req, 200, o);
        return;
    }
    struct json_object *v;
    if (!json_object_object_get_ex(in, "policy", &v) || !json_object_is_type(v, json_type_string)) {
        fail(req, 400, "want {\"policy\": TEXT}");
        return;
    }
    const char *text = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    struct pol_errors errs;
    if (!strcmp(op, "/set")) {
        if (access_set(c, text, len, &errs)) {
            refused(req, "policy refused", &errs);
            pol_errors_free(&errs);
            return;
        }
    } else if (!strcmp(op, "/check")) {
        if (access_check(c, text, len, &errs)) {
            refused(req, "policy refused", &errs);
            pol_errors_free(&errs);
            return;
        }
    } else {
        fail(req, 404, "no such operation");
        return;
    }
    pol_errors_free(&errs);
    reply(req, 200, json_object_new_object());
}

static void handle(struct http_req *req, void *arg)
{
    struct ctrl *c = arg;
    const char *path = http_req_path(req);
    bool get = !strcmp(http_req_method(req), "GET");
    size_t len = 0;
    const uint8_t *body = http_req_body(req, &len);
    struct json_object *in = NULL;
    if (!get) {
        if (strcmp(http_req_method(req), "POST")) {
            fail(req, 405, "GET or POST");
            return;
        }
        in = body && len ? tc_json_parse((const char *)body, len) : json_object_new_object();
        if (!in || !json_object_is_type(in, json_type_object)) {
            json_object_put(in);
            fail(req, 400, "the body must be a JSON object");
            return;
        }
    }
    static const struct {
        const char *prefix;
        void (*fn)(struct ctrl *, struct http_req *, const char *, struct json_object *);
    } tab[] = {{"/v1/users", users},     {"/v1/authkeys", authkeys},           {"/v1/nodes", nodes},
                 {"/v1/apikeys", apikeys}, {"/v1/oauth-clients", oauth_clients}, {"/v1/policy", policy}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        size_t pl = strlen(tab[i].prefix);
        if (strncmp(path, tab[i].prefix, pl) || (path[pl] && path[pl] != '/'))
            continue;
        const char *op = path + pl;
        if (get != !*op) {
            fail(req, 405, get ? "use POST" : "use GET");
        } else {
            log_debug("module=control event=admin path=%s", path); /* changes are logged with what changed */
            tab[i].fn(c, req, op, in);
        }
        json_object_put(in);
        return;
    }
    json_object_put(in);
    fail(req, 404, "no such path");
}

struct http_server *admin_listen(struct weft_instance *inst, struct ctrl *c)
{
    char path[4096], addr[4200], err[512], rundir[4096];
    const char *dir = weft_state_dir(inst->ctx), *rd = getenv("RUNTIME_DIRECTORY");
    if (rd && *rd) { /* systemd may list several, ':'-separated: the first */
        snprintf(rundir, sizeof rundir, "%.*s", (int)strcspn(rd, ":"), rd);
        dir = rundir;
    }
    if (admin_socket_path(dir, c->conf->admin_socket, path, sizeof path)) {
        log_error("module=control event=admin error=\"socket path too long\"");
        return NULL;
    }
    struct http_server *srv = http_server_new(weft_loop(inst->ctx));
    if (!srv)
        return NULL;
    snprintf(addr, sizeof addr, "unix:%s", path);
    struct http_listen_opts o = {.mode = 0660};
    http_server_set_max_body(srv, 16u << 20); /* a policy file can be large */
    if (http_listen(srv, addr, &o, err, sizeof err) < 0 || http_route(srv, "/v1/", 1, handle, c)) {
        log_error("module=control event=admin socket=%s error=\"%s\"", path, err);
        http_server_free(srv);
        return NULL;
    }
    log_info("module=control event=admin socket=%s", path);
    return srv;
}
