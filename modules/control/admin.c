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
#include "modules/control/access.h"
#include "modules/control/app.h"
#include "modules/control/authkey.h"
#include "modules/control/ctrl.h"
#include "modules/control/naming.h"
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
 *   GET  /v1/policy                     POST /v1/policy/set {policy}         POST /v1/policy/check {policy}
 * (node: ID or name; expiration: seconds from now, 0 = never; a refused policy answers 400 with
 *  "errors": [{line, col, message}]) */

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

static struct cnode *find_node(struct ctrl *c, const char *ref)
{
    if (!ref || !*ref)
        return NULL;
    char *e;
    long long id = strtoll(ref, &e, 10);
    if (!*e && id > 0)
        return ctrl_node_by_id(c, id);
    return ctrl_node_by_name(c, ref);
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

/* POST /v1/nodes/approve-routes: the whole approved list (empty: none). Each route must be a canonical
 * prefix outside the tailnet's ranges; 0.0.0.0/0 and ::/0 go together (an exit node). */
static void approve_routes(struct ctrl *c, struct http_req *req, struct cnode *n, struct json_object *in)
{
    struct json_object *a;
    if (!json_object_object_get_ex(in, "routes", &a) || !json_object_is_type(a, json_type_array)) {
        fail(req, 400, "routes: a list of prefixes is needed (empty: approve none)");
        return;
    }
    struct model_strlist l = {0};
    size_t len = json_object_array_length(a);
    for (size_t i = 0; i < len; i++) {
        const char *r = json_object_get_string(json_object_array_get_idx(a, i));
        char canon[ROUTE_TEXT_MAX], why[160];
        if (routes_canonical(c, r, canon, sizeof canon, why, sizeof why)) {
            model_strlist_free(&l);
            fail(req, 400, "route %s: %s", r ? r : "(null)", why);
            return;
        }
        if (model_strlist_contains(&l, canon))
            continue;
        if (l.n >= ROUTES_MAX || model_strlist_add(&l, canon)) {
            model_strlist_free(&l);
            fail(req, 400, "more than %d routes", ROUTES_MAX);
            return;
        }
    }
    if (model_strlist_contains(&l, "0.0.0.0/0") != model_strlist_contains(&l, "::/0")) {
        model_strlist_free(&l);
        fail(req, 400, "an exit node is approved with both 0.0.0.0/0 and ::/0");
        return;
    }
    int rc = routes_set_approved(c, n, &l);
    model_strlist_free(&l);
    if (rc) {
        fail(req, 500, "%s", store_errmsg(c->store));
        return;
    }
    char *t = model_strlist_to_json(&n->m.routes_approved);
    log_info("module=control event=admin action=approve_routes node=%lld name=%s routes=%s", (long long)n->m.id,
             n->m.given_name, t ? t : "?");
    free(t);
    reply(req, 200, node_obj(c, n));
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
        struct json_object *t;
        if (json_object_object_get_ex(in, "tags", &t) && json_object_is_type(t, json_type_array))
            for (size_t i = 0; i < json_object_array_length(t); i++) {
                const char *s = json_object_get_string(json_object_array_get_idx(t, i));
                if (!s || !authkey_tag_valid(s)) {
                    model_strlist_free(&tags);
                    fail(req, 400, "bad tag %s (tag:NAME, NAME starting with a letter)", s ? s : "");
                    return;
                }
                model_strlist_add(&tags, s);
            }
        int64_t exp = jint(in, "expiration");
        char text[AUTHKEY_TEXT_LEN + 1];
        struct model_authkey k;
        memset(&k, 0, sizeof k);
        int rc = authkey_create(c->store, u.id, jbool(in, "reusable"), jbool(in, "ephemeral"),
                                exp > 0 ? ctrl_now() + exp : 0, &tags, text, &k);
        model_strlist_free(&tags);
        if (rc) {
            fail(req, rc == STORE_INVALID ? 400 : 500, "%s", store_errmsg(c->store));
            return;
        }
        log_info("module=control event=admin action=authkey_create id=%lld prefix=%s user=%s reusable=%s "
                 "ephemeral=%s expiration=%lld tags=%zu", (long long)k.id, k.prefix, u.name,
                 jbool(in, "reusable") ? "true" : "false", jbool(in, "ephemeral") ? "true" : "false",
                 (long long)k.expiration, k.tags.n);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_int64(k.id));
        json_object_object_add(o, "key", json_object_new_string(text));
        model_authkey_clear(&k);
        sodium_memzero(text, sizeof text);
        reply(req, 200, o);
        return;
    }
    if (!strcmp(op, "/expire")) {
        int64_t id = jint(in, "id");
        struct model_authkey k;
        if (id <= 0 || store_authkey_get_by_id(c->store, id, &k)) {
            fail(req, 404, "no pre-auth key %lld", (long long)id);
            return;
        }
        model_authkey_clear(&k);
        if (store_authkey_expire(c->store, id, ctrl_now())) {
            fail(req, 500, "%s", store_errmsg(c->store));
            return;
        }
        log_info("module=control event=admin action=authkey_expire id=%lld", (long long)id);
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
    struct cnode *n = find_node(c, jstr(in, "node"));
    if (!n) {
        fail(req, 404, "no node %s", jstr(in, "node") ? jstr(in, "node") : "(none given)");
        return;
    }
    if (!strcmp(op, "/routes")) {
        reply(req, 200, node_obj(c, n));
        return;
    }
    if (!strcmp(op, "/approve-routes")) {
        approve_routes(c, req, n, in);
        return;
    }
    if (!strcmp(op, "/expire")) {
        n->m.expiry = ctrl_now();
        ctrl_revoke(c, n->m.node_key);
        if (ctrl_node_save(c, n, CH_FULL | CH_SELF)) {
            fail(req, 500, "%s", store_errmsg(c->store));
            return;
        }
        routes_node_update(c, n); /* an expired node serves no route */
        log_info("module=control event=admin action=node_expire node=%lld name=%s", (long long)n->m.id,
                 n->m.given_name);
        reply(req, 200, node_obj(c, n));
        return;
    }
    if (!strcmp(op, "/rename")) {
        const char *name = jstr(in, "name");
        if (!name || !naming_label_valid(name)) {
            fail(req, 400, "a name is 1-63 of a-z, 0-9 and '-', not starting or ending with '-'");
            return;
        }
        struct cnode *other = ctrl_node_by_name(c, name);
        if (other && other != n) {
            fail(req, 409, "node %lld is called %s", (long long)other->m.id, name);
            return;
        }
        char old[sizeof n->m.given_name];
        memcpy(old, n->m.given_name, sizeof old);
        bool was_renamed = n->m.renamed;
        model_strlcpy(n->m.given_name, name, sizeof n->m.given_name);
        n->m.renamed = true; /* the client's hostname no longer renames it */
        if (ctrl_node_save(c, n, CH_FULL | CH_SELF)) {
            memcpy(n->m.given_name, old, sizeof old);
            n->m.renamed = was_renamed;
            fail(req, 500, "%s", store_errmsg(c->store));
            return;
        }
        log_info("module=control event=admin action=node_rename node=%lld name=%s new_name=%s", (long long)n->m.id,
                 old, n->m.given_name);
        reply(req, 200, node_obj(c, n));
        return;
    }
    if (!strcmp(op, "/delete")) {
        char gone[sizeof n->m.given_name];
        int64_t gone_id = n->m.id;
        memcpy(gone, n->m.given_name, sizeof gone);
        if (ctrl_node_remove(c, n, true)) {
            fail(req, 500, "%s", store_errmsg(c->store));
            return;
        }
        log_info("module=control event=admin action=node_delete node=%lld name=%s", (long long)gone_id, gone);
        reply(req, 200, json_object_new_object());
        return;
    }
    fail(req, 404, "no such operation");
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
    } tab[] = {{"/v1/users", users}, {"/v1/authkeys", authkeys}, {"/v1/nodes", nodes}, {"/v1/policy", policy}};
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
