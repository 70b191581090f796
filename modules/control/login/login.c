// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/login/login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"
#include "modules/control/api/parse.h"
#include "modules/control/ctrl.h"
#include "modules/control/store.h"

/* Control's side of interactive login (login.h has the provider's): the pages a browser is sent to, what a
 * proven identity may do, and the console's sessions. A session is a random token in an HttpOnly cookie
 * (weft_session). Control keeps only its hash, with the user's name and the expiry, in the store (login state,
 * schema 9): every control instance on the database takes the cookie, a logout through any of them ends it
 * everywhere, and a restart logs nobody out. Nothing is cached: each request reads the row by its key.
 * Requests that change something with a session must also carry its CSRF token (the weft_csrf cookie, readable
 * by the console's script) in an X-CSRF-Token header: another site can make a browser send the cookie, never
 * the header. The CSRF token is derived from the session token (a keyed hash), so it needs no storing. */

#define SESSION_LIFE (12 * 3600)
#define TOKEN_BYTES 32
#define CSRF_BYTES 16
_Static_assert(LOGIN_FLOW_DATA_MAX <= STORE_LOGIN_DATA_MAX, "a provider's flow data must fit the store");

struct login {
    struct ctrl *c;
    const struct login_provider *prov;
    void *p;
    struct login_host host;
    bool secure;
};

/* A session in the store: its user, and the CSRF token of its cookie. */
struct session {
    char user[MODEL_USER_NAME_MAX + 1];
    char csrf[2 * CSRF_BYTES + 1];
    uint8_t hash[32];
};

static void hash_token(const char *token, uint8_t out[32])
{
    crypto_generichash(out, 32, (const uint8_t *)token, strlen(token), NULL, 0);
}

/* The CSRF token of a session token: a hash keyed by the session token, so only its holder can compute it. */
static void csrf_of(const char *token, char out[2 * CSRF_BYTES + 1])
{
    uint8_t raw[CSRF_BYTES];
    size_t kl = strlen(token);
    crypto_generichash(raw, sizeof raw, (const uint8_t *)"weft-csrf", 9, (const uint8_t *)token,
                       kl > crypto_generichash_KEYBYTES_MAX ? crypto_generichash_KEYBYTES_MAX : kl);
    sodium_bin2hex(out, 2 * CSRF_BYTES + 1, raw, sizeof raw);
}

/* ---- what the provider calls ---- */

static bool host_node_pending(void *arg, const char *authid, char *host, size_t hostlen)
{
    struct login *l = arg;
    return reg_pending_info(l->c, authid, host, hostlen);
}

/* The weft user an identity logs in as: the one bound to (issuer, subject); at the identity's first login the
 * user named id->user (created when there is none) is bound to it. A user bound to another identity is not
 * taken over by one that shows the same e-mail address. 0 with the user in *u, or -1 with msg. */
static int user_of(struct ctrl *c, const struct login_identity *id, struct model_user *u, char *msg, size_t msglen)
{
    int64_t uid;
    bool bind = id->issuer && *id->issuer && id->subject && *id->subject;
    if (bind && !store_identity_get(c->store, id->issuer, id->subject, &uid)) {
        if (!store_user_get_by_id(c->store, uid, u))
            return 0;
        snprintf(msg, msglen, "the user bound to this identity cannot be read");
        log_error("module=control event=login user_id=%lld error=\"%s\"", (long long)uid, store_errmsg(c->store));
        return -1;
    }
    if (store_user_get_by_name(c->store, id->user, u)) { /* the first login creates the user */
        memset(u, 0, sizeof *u);
        if (model_strlcpy(u->name, id->user, sizeof u->name) ||
            model_strlcpy(u->display_name, id->display_name ? id->display_name : "", sizeof u->display_name) ||
            store_user_create(c->store, u)) {
            snprintf(msg, msglen, "the user %s cannot be created", id->user);
            log_error("module=control event=login action=user_create user=\"%s\" error=\"%s\"", id->user,
                      store_errmsg(c->store));
            return -1;
        }
        ctrl_users_reload(c);
        log_info("module=control event=login action=user_create user=\"%s\" id=%lld via=oidc", u->name,
                 (long long)u->id);
    }
    if (!bind)
        return 0;
    int rc = store_identity_bind(c->store, id->issuer, id->subject, u->id);
    if (rc == STORE_CONFLICT) {
        snprintf(msg, msglen, "the weft user %s belongs to another identity at the identity provider; ask an "
                 "administrator", u->name);
        log_info("module=control event=login purpose=node result=refused user=\"%s\" sub=\"%s\" reason=\"the "
                 "user is bound to another identity (issuer, subject)\"", u->name, id->subject);
        return -1;
    }
    if (rc) {
        snprintf(msg, msglen, "the identity cannot be recorded");
        log_error("module=control event=login action=identity_bind user=\"%s\" error=\"%s\"", u->name,
                  store_errmsg(c->store));
        return -1;
    }
    log_info("module=control event=login action=identity_bind user=\"%s\" id=%lld issuer=\"%s\" sub=\"%s\"",
             u->name, (long long)u->id, id->issuer, id->subject);
    return 0;
}

static int host_node_login(void *arg, const char *authid, const struct login_identity *id, char *msg, size_t msglen)
{
    struct login *l = arg;
    struct ctrl *c = l->c;
    struct model_user u;
    char err[256];
    if (user_of(c, id, &u, msg, msglen))
        return -1;
    int64_t node = reg_approve(c, authid, u.name, err, sizeof err);
    if (node < 0) {
        snprintf(msg, msglen, "%s", err);
        log_info("module=control event=login purpose=node result=refused authid=%s user=\"%s\" error=\"%s\"",
                 authid, u.name, err);
        return -1;
    }
    log_info("module=control event=login purpose=node result=registered authid=%s user=\"%s\" node=%lld via=oidc",
             authid, u.name, (long long)node);
    snprintf(msg, msglen, "%s", u.name);
    return 0;
}

static int host_console_login(void *arg, const struct login_identity *id, char cookies[2][256], char *msg,
                              size_t msglen)
{
    struct login *l = arg;
    int64_t now = ctrl_now();
    if (!id->console) {
        snprintf(msg, msglen, "%s may not use the admin console (control.oidc.console_users / console_groups)",
                 id->user);
        log_info("module=control event=login purpose=console result=refused user=\"%s\" reason=\"not a console "
                 "user\"",
                 id->user);
        return -1;
    }
    uint8_t raw[TOKEN_BYTES], h[32];
    char token[2 * TOKEN_BYTES + 1], csrf[2 * CSRF_BYTES + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(token, sizeof token, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    hash_token(token, h);
    csrf_of(token, csrf);
    if (store_login_put(l->c->store, STORE_LOGIN_SESSION, h, id->user, now + SESSION_LIFE)) {
        log_error("module=control event=login purpose=console user=\"%s\" error=\"%s\"", id->user,
                  store_errmsg(l->c->store));
        sodium_memzero(token, sizeof token);
        snprintf(msg, msglen, "the session cannot be stored");
        return -1;
    }
    const char *sec = l->secure ? "; Secure" : "";
    snprintf(cookies[0], 256, LOGIN_SESSION_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s", token,
             SESSION_LIFE, sec);
    snprintf(cookies[1], 256, LOGIN_CSRF_COOKIE "=%s; Path=/; Max-Age=%d; SameSite=Lax%s", csrf, SESSION_LIFE,
             sec);
    sodium_memzero(token, sizeof token);
    log_info("module=control event=login purpose=console result=session user=\"%s\"", id->user);
    return 0;
}

/* ---- OpenID logins under way ---- */

static int host_flow_put(void *arg, const char *state, const char *data, int ttl)
{
    struct login *l = arg;
    uint8_t h[32];
    hash_token(state, h);
    if (store_login_put(l->c->store, STORE_LOGIN_FLOW, h, data, ctrl_now() + ttl)) {
        log_error("module=control event=login action=flow_put error=\"%s\"", store_errmsg(l->c->store));
        return -1;
    }
    return 0;
}

static int host_flow_take(void *arg, const char *state, char *out, size_t cap)
{
    struct login *l = arg;
    uint8_t h[32];
    char data[STORE_LOGIN_DATA_MAX + 1];
    hash_token(state, h);
    int rc = store_login_take(l->c->store, STORE_LOGIN_FLOW, h, ctrl_now(), data);
    if (rc) {
        if (rc != STORE_NOTFOUND)
            log_error("module=control event=login action=flow_take error=\"%s\"", store_errmsg(l->c->store));
        return -1;
    }
    if (strlen(data) >= cap)
        return -1;
    memcpy(out, data, strlen(data) + 1);
    return 0;
}

/* ---- sessions for the API ---- */

/* The session of req's cookie into *out: 1, 0 when none is known (or it expired), -1 when the store failed. */
static int session_of(struct login *l, struct http_req *req, struct session *out)
{
    const char *hdr = http_req_header(req, "Cookie");
    char token[2 * TOKEN_BYTES + 1];
    if (!l || !hdr || api_cookie_get(hdr, LOGIN_SESSION_COOKIE, token, sizeof token) != 1)
        return 0;
    char data[STORE_LOGIN_DATA_MAX + 1];
    hash_token(token, out->hash);
    csrf_of(token, out->csrf);
    sodium_memzero(token, sizeof token);
    int rc = store_login_get(l->c->store, STORE_LOGIN_SESSION, out->hash, ctrl_now(), data);
    if (rc == STORE_NOTFOUND)
        return 0;
    if (rc) {
        log_error("module=control event=login purpose=console error=\"%s\"", store_errmsg(l->c->store));
        return -1;
    }
    model_strlcpy(out->user, data, sizeof out->user); /* (a longer name was never stored) */
    return 1;
}

int login_session_check(struct login *l, struct http_req *req, char *who, size_t wholen, const char **why)
{
    const char *hdr = http_req_header(req, "Cookie");
    char probe[8];
    if (!hdr || api_cookie_get(hdr, LOGIN_SESSION_COOKIE, probe, sizeof probe) == 0)
        return 0;
    struct session s;
    int r = session_of(l, req, &s);
    if (r <= 0) {
        *why = r < 0 ? "the console session cannot be read" : "unknown or expired console session";
        return -1;
    }
    const char *m = http_req_method(req);
    if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
        const char *t = http_req_header(req, "X-CSRF-Token");
        if (!t || strlen(t) != strlen(s.csrf) || sodium_memcmp(t, s.csrf, strlen(s.csrf))) {
            *why = "console session without its X-CSRF-Token";
            return -1;
        }
    }
    snprintf(who, wholen, "session:%s", s.user);
    return 1;
}

/* ---- the pages ---- */

static void h_console_login(struct http_req *req, void *arg)
{
    struct login *l = arg;
    char next[512] = "/admin/";
    const char *q = http_req_query(req);
    char v[512];
    /* only a path of this server: never an open redirect */
    if (q && api_form_get(q, strlen(q), "next", v, sizeof v) == 1 && v[0] == '/' && v[1] != '/' && v[1] != '\\' &&
        !strpbrk(v, "\r\n"))
        snprintf(next, sizeof next, "%s", v);
    l->prov->begin(l->p, req, LOGIN_CONSOLE, next);
}

static void h_callback(struct http_req *req, void *arg)
{
    struct login *l = arg;
    l->prov->callback(l->p, req);
}

static void h_logout(struct http_req *req, void *arg)
{
    struct login *l = arg;
    if (strcmp(http_req_method(req), "POST")) {
        http_respond_text(req, 405, "method not allowed: POST /admin/logout\n");
        return;
    }
    char who[300];
    const char *why = "";
    int r = login_session_check(l, req, who, sizeof who, &why);
    if (r < 0) {
        http_respond_text(req, 403, "forbidden: no console session, or no X-CSRF-Token\n");
        return;
    }
    struct session s;
    if (r > 0 && session_of(l, req, &s) > 0) { /* ends it on every instance: the row is gone */
        int rc = store_login_delete(l->c->store, STORE_LOGIN_SESSION, s.hash);
        if (rc && rc != STORE_NOTFOUND) { /* (not found: a logout through another instance came first) */
            log_error("module=control event=logout user=\"%s\" error=\"%s\"", s.user, store_errmsg(l->c->store));
            http_respond_text(req, 503, "the session cannot be ended now; try again\n");
            return;
        }
        log_info("module=control event=logout user=\"%s\"", s.user);
    }
    const char *sec = l->secure ? "; Secure" : "";
    char c1[160], c2[160];
    snprintf(c1, sizeof c1, LOGIN_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax%s", sec);
    snprintf(c2, sizeof c2, LOGIN_CSRF_COOKIE "=; Path=/; Max-Age=0; SameSite=Lax%s", sec);
    struct http_header h[] = {{"Set-Cookie", c1}, {"Set-Cookie", c2}, {"Cache-Control", "no-store"}};
    http_respond(req, 204, h, 3, "", 0);
}

bool login_active(const struct login *l)
{
    return l && l->p;
}

void login_begin_node(struct login *l, struct http_req *req, const char *authid)
{
    l->prov->begin(l->p, req, LOGIN_NODE, authid);
}

struct login *login_open(struct weft_instance *inst, struct ctrl *c, char *err, size_t errlen)
{
    const struct control_conf *conf = c->conf;
    err[0] = 0;
    if (!conf->oidc.issuer)
        return NULL;
    const struct login_provider *prov = weft_service_get(inst->ctx, LOGIN_PROVIDER_SERVICE);
    if (!prov) {
        snprintf(err, errlen, "control.oidc.issuer is set but no login provider is loaded: install the auth_oidc "
                              "plugin (auth_oidc.so in the module path)");
        return NULL;
    }
    struct login *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->c = c;
    l->prov = prov;
    l->secure = c->server_tls;
    l->host = (struct login_host){l, host_node_pending, host_node_login, host_console_login, host_flow_put,
                                  host_flow_take};
    char redirect[1024];
    size_t bl = strlen(conf->server_url);
    while (bl && conf->server_url[bl - 1] == '/')
        bl--;
    snprintf(redirect, sizeof redirect, "%.*s%s", (int)bl, conf->server_url, LOGIN_CALLBACK_PATH);
    l->p = prov->open(inst->ctx, &conf->oidc, redirect, l->secure, &l->host, err, errlen);
    if (!l->p) {
        free(l);
        return NULL;
    }
    log_info("module=control event=login provider=%s issuer=%s redirect_uri=%s", prov->name, conf->oidc.issuer,
             redirect);
    return l;
}

int login_routes(struct login *l, struct http_server *srv)
{
    return http_route(srv, "/admin/login/oidc", 0, h_console_login, l) ||
           http_route(srv, LOGIN_CALLBACK_PATH, 0, h_callback, l) || http_route(srv, "/admin/logout", 0, h_logout, l);
}

void login_free(struct login *l)
{
    if (!l)
        return;
    if (l->p)
        l->prov->close(l->p);
    free(l);
}
