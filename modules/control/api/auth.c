// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/http.h"
#include "core/limit.h"
#include "core/log.h"
#include "modules/control/api/api.h"
#include "modules/control/api/cred.h"
#include "modules/control/api/limit.h"
#include "modules/control/api/parse.h"
#include "modules/control/ctrl.h"
#include "modules/control/login/login.h"
#include "modules/control/store.h"

/* Who may call the API: an API key ("tskey-api-...", `weft apikeys create`, every scope) or an OAuth
 * access token, given as "Authorization: Bearer SECRET" or as the user name of basic auth, as Tailscale
 * takes them. Access tokens come from POST /api/v2/oauth/token (client credentials grant, RFC 6749 §4.4)
 * for a client of `weft oauth-clients create --scopes ...`, carry a subset of its scopes and live
 * API_TOKEN_LIFE seconds. They are kept in the store (login state, schema 9: the hash of the token's text, its
 * client and scopes), so that every control instance on the database takes a token any of them issued, and a
 * restart does not end them. Nothing about them is cached here: the client is read again at every use, so
 * revoking, expiring or deleting it through any instance ends its tokens everywhere at once. Every refusal
 * costs the source a token of the failed-authentication limiter (limit.h); a source out of tokens gets 429
 * before any secret is looked at. */

#define API_TOKEN_LIFE 3600

struct api_auth {
    struct api_limit *limit;
    struct log_every limited_log; /* one line per 10 s about limited sources, not one per request */
};

struct api_auth *api_auth_new(void)
{
    struct api_auth *au = calloc(1, sizeof *au);
    if (au && !(au->limit = api_limit_new())) {
        free(au);
        return NULL;
    }
    return au;
}

void api_auth_free(struct api_auth *au)
{
    if (!au)
        return;
    api_limit_free(au->limit);
    free(au);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Refuses with status and message; a 401 counts against the source. */
static int refuse(struct api_call *k, int status, const char *why, const char *msg)
{
    struct sockaddr_storage ss;
    char src[64];
    if (status == 401 && http_req_peer(k->req, (struct sockaddr *)&ss))
        api_limit_failed(api_auth_of(k->api)->limit, (struct sockaddr *)&ss, now_ms());
    log_info("module=control event=api_auth result=refused status=%d reason=\"%s\" src=%s path=%s", status, why,
             http_req_peer_str(k->req, src, sizeof src), http_req_path(k->req));
    if (status == 401) {
        struct http_header h[] = {{"Content-Type", "application/json"},
                                  {"WWW-Authenticate", "Bearer realm=\"weft\", Basic realm=\"weft\""}};
        char body[256];
        snprintf(body, sizeof body, "{\"message\":\"%s\"}", msg);
        http_respond(k->req, 401, h, 2, body, strlen(body));
    } else {
        api_error(k, status, "%s", msg);
    }
    return status;
}

/* The limiter's verdict for the request's source: true if it may go on (else answered 429). */
static bool source_allowed(struct api_call *k)
{
    struct sockaddr_storage ss;
    int retry = 0;
    if (!http_req_peer(k->req, (struct sockaddr *)&ss) ||
        api_limit_allowed(api_auth_of(k->api)->limit, (struct sockaddr *)&ss, now_ms(), &retry))
        return true;
    char src[64], ra[16], body[160];
    snprintf(ra, sizeof ra, "%d", retry);
    snprintf(body, sizeof body, "{\"message\":\"too many failed authentications from this address; retry in %d s\"}",
             retry);
    uint64_t held = 0;
    if (log_every_ok(&api_auth_of(k->api)->limited_log, now_ms(), 10000, &held))
        log_info("module=control event=api_auth result=limited src=%s retry_after=%d more_limited=%llu",
                 http_req_peer_str(k->req, src, sizeof src), retry, (unsigned long long)held);
    struct http_header h[] = {{"Content-Type", "application/json"}, {"Retry-After", ra}};
    http_respond(k->req, 429, h, 2, body, strlen(body));
    return false;
}

/* Scopes of a valid secret into scopes, its KEYID into who: 0, or -1 (unknown, expired, revoked). */
static int check_secret(struct api_call *k, const char *secret, char *scopes, size_t cap, const char **why)
{
    char id[MODEL_CRED_ID_MAX + 1];
    size_t len = strlen(secret);
    int64_t now = ctrl_now();
    *why = "malformed key";
    if (cred_parse(CRED_APIKEY_PREFIX, secret, len, id))
        return -1;
    *why = "unknown key";
    if (id[0] == 't') { /* an OAuth access token: "CLIENT SCOPES" in the store */
        uint8_t h[32];
        char data[STORE_LOGIN_DATA_MAX + 1], client[MODEL_CRED_ID_MAX + 1];
        cred_hash(secret, len, h);
        int rc = store_login_get(k->c->store, STORE_LOGIN_TOKEN, h, now, data);
        if (rc != STORE_OK) {
            if (rc != STORE_NOTFOUND)
                log_error("module=control event=api_auth token=%s error=\"%s\"", id, store_errmsg(k->c->store));
            *why = rc == STORE_NOTFOUND ? "unknown or expired token" : "the token cannot be read";
            return -1;
        }
        size_t cl_len = strcspn(data, " ");
        if (!cl_len || cl_len > MODEL_CRED_ID_MAX) {
            *why = "malformed token record";
            return -1;
        }
        memcpy(client, data, cl_len);
        client[cl_len] = 0;
        struct model_cred cl; /* a revoked, expired or deleted client's tokens end with it */
        if (store_cred_get(k->c->store, client, &cl) || cl.kind != MODEL_CRED_OAUTH || cl.revoked ||
            (cl.expiration && cl.expiration <= now)) {
            *why = "the token's OAuth client is gone";
            return -1;
        }
        snprintf(scopes, cap, "%s", data[cl_len] ? data + cl_len + 1 : "");
        snprintf(k->who, sizeof k->who, "%s", client);
        return 0;
    }
    struct model_cred m;
    if (store_cred_get(k->c->store, id, &m) || m.kind != MODEL_CRED_APIKEY || !cred_matches(&m, secret, len))
        return -1;
    if (m.revoked || (m.expiration && m.expiration <= now)) {
        *why = "expired key";
        return -1;
    }
    snprintf(scopes, cap, "%s", m.scopes);
    snprintf(k->who, sizeof k->who, "%s", m.key_id);
    return 0;
}

int api_authenticate(struct api_call *k, const char *scope)
{
    if (!source_allowed(k))
        return 429;
    const char *hdr = http_req_header(k->req, "Authorization");
    char user[API_SECRET_MAX], pass[API_SECRET_MAX], scopes[MODEL_CRED_SCOPES_MAX + 1];
    const char *why = "malformed Authorization";
    if (!hdr && k->c->login) { /* the admin console's session cookie (login/login.c): every scope */
        int r = login_session_check(k->c->login, k->req, k->who, sizeof k->who, &why);
        if (r > 0)
            return API_AUTH_OK;
        if (r < 0 && strstr(why, "CSRF"))
            return refuse(k, 403, why, "a console session must send its X-CSRF-Token header (the weft_csrf cookie)");
        if (r < 0)
            return refuse(k, 401, why, "console session unknown or expired: log in again");
    }
    if (!hdr)
        return refuse(k, 401, "no credentials", "API token required (Authorization: Bearer tskey-api-...)");
    int bad = api_parse_authorization(hdr, user, sizeof user, pass, sizeof pass) ||
              check_secret(k, user, scopes, sizeof scopes, &why);
    sodium_memzero(user, sizeof user);
    sodium_memzero(pass, sizeof pass);
    if (bad)
        return refuse(k, 401, why, "API token invalid");
    if (strcmp(scope, API_SCOPE_ANY) && !api_scope_allows(scopes, scope)) {
        char msg[200];
        snprintf(msg, sizeof msg, "calling actor does not have enough permissions to perform this function "
                 "(needs scope %s)", scope);
        return refuse(k, 403, "scope", msg);
    }
    return API_AUTH_OK;
}

static void oauth_error(struct api_call *k, int status, const char *error, const char *msg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(error));
    json_object_object_add(o, "error_description", json_object_new_string(msg));
    json_object_object_add(o, "message", json_object_new_string(msg));
    api_reply(k, status, o);
}

void api_oauth_token(struct api_call *k)
{
    struct api_auth *au = api_auth_of(k->api);
    if (!source_allowed(k))
        return;
    size_t len = 0;
    const char *body = (const char *)http_req_body(k->req, &len);
    char id[API_SECRET_MAX], secret[API_SECRET_MAX], grant[64], want[MODEL_CRED_SCOPES_MAX + 1];
    int hid = api_form_get(body, len, "client_id", id, sizeof id),
        hsec = api_form_get(body, len, "client_secret", secret, sizeof secret),
        hgr = api_form_get(body, len, "grant_type", grant, sizeof grant),
        hsc = api_form_get(body, len, "scope", want, sizeof want);
    if (hid < 0 || hsec < 0 || hgr < 0 || hsc < 0) {
        oauth_error(k, 400, "invalid_request", "malformed form body (application/x-www-form-urlencoded)");
        return;
    }
    if (hgr == 1 && strcmp(grant, "client_credentials")) {
        oauth_error(k, 400, "unsupported_grant_type", "only grant_type=client_credentials is supported");
        return;
    }
    const char *hdr = http_req_header(k->req, "Authorization");
    if (hdr && (hid != 1 || hsec != 1)) { /* RFC 6749 §2.3.1: the client may authenticate with basic auth */
        if (api_parse_authorization(hdr, id, sizeof id, secret, sizeof secret) == 0)
            hid = hsec = 1;
    }
    struct model_cred cl;
    char cid[MODEL_CRED_ID_MAX + 1];
    if (hid != 1 || hsec != 1 || cred_parse(CRED_CLIENT_PREFIX, secret, strlen(secret), cid) ||
        strcmp(cid, id) || store_cred_get(k->c->store, cid, &cl) || cl.kind != MODEL_CRED_OAUTH ||
        !cred_matches(&cl, secret, strlen(secret)) || cl.revoked ||
        (cl.expiration && cl.expiration <= ctrl_now())) {
        sodium_memzero(secret, sizeof secret);
        struct sockaddr_storage ss;
        char src[64];
        if (http_req_peer(k->req, (struct sockaddr *)&ss))
            api_limit_failed(au->limit, (struct sockaddr *)&ss, now_ms());
        log_info("module=control event=api_auth result=refused status=401 reason=\"bad client\" src=%s "
                 "path=/api/v2/oauth/token", http_req_peer_str(k->req, src, sizeof src));
        oauth_error(k, 401, "invalid_client", "unknown OAuth client, or a wrong, expired or revoked secret");
        return;
    }
    sodium_memzero(secret, sizeof secret);
    /* The token's scopes: those asked for, each of which the client must hold; else all the client's. */
    if (hsc == 1 && *want) {
        char bad[80];
        if (!api_scopes_valid(want, bad, sizeof bad)) {
            oauth_error(k, 400, "invalid_scope", "unknown scope");
            return;
        }
        for (const char *p = want; *p;) {
            p += strspn(p, " ,");
            size_t n = strcspn(p, " ,");
            char one[64];
            if (!n)
                break;
            snprintf(one, sizeof one, "%.*s", (int)(n < 63 ? n : 63), p);
            if (!api_scope_allows(cl.scopes, one)) {
                oauth_error(k, 400, "invalid_scope", "the client does not hold every scope asked for");
                return;
            }
            p += n;
        }
    } else {
        snprintf(want, sizeof want, "%s", cl.scopes);
    }
    int64_t now = ctrl_now();
    struct model_cred t = {0};
    char text[CRED_TEXT_MAX], data[STORE_LOGIN_DATA_MAX + 1];
    if (cred_generate(CRED_APIKEY_PREFIX, 't', text, sizeof text, &t)) {
        api_error(k, 500, "no random token");
        return;
    }
    snprintf(data, sizeof data, "%s %s", cl.key_id, want);
    if (store_login_put(k->c->store, STORE_LOGIN_TOKEN, t.hash, data, now + API_TOKEN_LIFE)) {
        log_error("module=control event=api_auth action=oauth_token client=%s error=\"%s\"", cl.key_id,
                  store_errmsg(k->c->store));
        sodium_memzero(text, sizeof text);
        api_error(k, 500, "the token cannot be stored");
        return;
    }
    log_info("module=control event=api_auth action=oauth_token client=%s token=%s scopes=\"%s\"", cl.key_id,
             t.key_id, want);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "access_token", json_object_new_string(text));
    json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
    json_object_object_add(o, "expires_in", json_object_new_int(API_TOKEN_LIFE));
    json_object_object_add(o, "scope", json_object_new_string(want));
    sodium_memzero(text, sizeof text);
    api_reply(k, 200, o);
}

/* GET /api/v2/weft/whoami: who the credentials are (the console shows it). */
void api_whoami(struct api_call *k)
{
    struct json_object *o = json_object_new_object();
    bool session = !strncmp(k->who, "session:", 8);
    json_object_object_add(o, "kind", json_object_new_string(session ? "session" : k->who[0] == 'c' ? "oauth" : "apikey"));
    json_object_object_add(o, "id", json_object_new_string(session ? k->who + 8 : k->who));
    api_reply(k, 200, o);
}
