// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "core/ctx.h"
#include "core/fetch.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/module.h"
#include "modules/control/login/provider.h"
#include "plugins/auth_oidc/idtoken.h"
#include "plugins/auth_oidc/params.h"

/* OpenID Connect's authorization code flow (Core §3.1) for control's interactive logins (login/provider.h).
 *
 * At start the provider's discovery document (.well-known/openid-configuration) gives the endpoints, then
 * its JWK Set the signing keys; both are fetched again when they fail (discovery) or when a token names a
 * key not in the set (rotation; at most once per control.oidc.jwks_refresh_min). A login (begin) draws a
 * state, a nonce and a PKCE verifier, keeps them in a flow bound to the browser by a random cookie
 * (weft_oidc, HttpOnly, only sent to the callback path), and sends the browser to the authorization
 * endpoint. Flows are kept by control (login_host.flow_put/take: in its store, found by the hash of the
 * state), so the callback may come back to any control instance on the database; what a flow holds is sealed
 * (crypto_secretbox) under a key derived from the browser's cookie, so the database never holds a verifier in
 * clear and only the browser that started a login can finish it. The callback takes the flow out by its state
 * (so a state works once, on any instance), opens it with the cookie, trades the code for tokens at the
 * token endpoint and validates the ID token (idtoken.c); the allow-lists decide, and control registers the
 * machine or opens a console session. All HTTP goes through core/fetch (libcurl on the loop): nothing here
 * blocks the loop. */

#define FLOW_TTL 600 /* seconds a login may take at the provider */
#define FLOWS_MAX 1000 /* logins begun through this instance per FLOW_TTL (unauthenticated: each is a write) */
#define DISCOVERY_RETRY_MIN_MS 2000
#define DISCOVERY_RETRY_MAX_MS 300000
#define FLOW_COOKIE "weft_oidc"

struct flow {
    char state[44], nonce[44], verifier[64], binding[33];
    enum login_purpose purpose;
    char arg[512]; /* the AuthID, or the console path to land on */
    int64_t created;
};

struct oidc;

/* A callback being answered: waiting for the token endpoint, or for the key set. */
struct call {
    struct oidc *o;
    struct call *next;
    struct http_req *req;
    struct fetch *fx;
    struct flow f;
    char *id_token;
    bool waits_keys;
};

struct oidc {
    struct loop *loop;
    struct fetcher *fx;
    const struct login_host *host;
    /* settings (copies) */
    char *issuer, *client_id, *secret, *scopes, *extra, *ca_file, *redirect_uri;
    char **allowed_domains, **allowed_users, **allowed_groups, **console_users, **console_groups, **algs;
    bool pkce, secure;
    uint64_t refresh_min_ms;
    /* discovery */
    char *authz_ep, *token_ep, *jwks_uri;
    struct fetch *disc_fx;
    struct timer retry;
    uint64_t retry_ms;
    /* keys */
    struct jwks keys;
    struct fetch *jwks_fx;
    bool keys_loaded;
    uint64_t last_refetch; /* loop time of the last fetch for an unknown key; 0: none yet */
    /* logins begun in the current FLOW_TTL window (the flows themselves are in control's store) */
    int64_t window;
    size_t begun;
    struct call *calls;
};

static int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char **dup_list(const struct cfg_list *l)
{
    char **v = calloc(l->n + 1, sizeof *v);
    for (size_t i = 0; v && i < l->n; i++)
        v[i] = strdup(l->v[i]);
    return v;
}

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static bool in_list(char **v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcasecmp(v[i], s))
            return true;
    return false;
}

/* ---- pages ---- */

static void html_escape(const char *in, char *out, size_t cap)
{
    size_t j = 0;
    for (; in && *in && j + 7 < cap; in++) {
        const char *r = NULL;
        switch (*in) {
        case '<': r = "&lt;"; break;
        case '>': r = "&gt;"; break;
        case '&': r = "&amp;"; break;
        case '"': r = "&quot;"; break;
        case '\'': r = "&#39;"; break;
        }
        if (r) {
            memcpy(out + j, r, strlen(r));
            j += strlen(r);
        } else if ((unsigned char)*in >= 0x20) {
            out[j++] = *in;
        }
    }
    out[j] = 0;
}

/* An HTML page: title and a sentence (escaped here). */
static void page(struct http_req *req, int status, const char *title, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void page(struct http_req *req, int status, const char *title, const char *fmt, ...)
{
    char text[1024], esc[3072], body[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    html_escape(text, esc, sizeof esc);
    snprintf(body, sizeof body,
             "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>weft: %s</title>"
             "</head><body><h1>%s</h1>\n<p>%s</p>\n</body></html>\n",
             title, title, esc);
    struct http_header h[] = {{"Content-Type", "text/html; charset=utf-8"}, {"Cache-Control", "no-store"}};
    http_respond(req, status, h, 2, body, strlen(body));
}

/* ---- flows ---- */

static void random_b64(char *out, size_t cap, size_t nbytes)
{
    uint8_t raw[48];
    randombytes_buf(raw, nbytes);
    sodium_bin2base64(out, cap, raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The key a flow is sealed under: a hash of the browser's binding cookie, which the database never sees. */
static void flow_key(const char *binding, uint8_t key[crypto_secretbox_KEYBYTES])
{
    crypto_generichash(key, crypto_secretbox_KEYBYTES, (const uint8_t *)binding, strlen(binding),
                       (const uint8_t *)"weft-oidc-flow", 14);
}

/* Seals f (purpose, nonce, verifier, arg) under its binding: base64url(secretbox nonce || box) into out. */
static int flow_seal(const struct flow *f, char *out, size_t cap)
{
    char plain[sizeof f->nonce + sizeof f->verifier + sizeof f->arg + 8];
    int n = snprintf(plain, sizeof plain, "%c\n%s\n%s\n%s", f->purpose == LOGIN_NODE ? 'n' : 'c', f->nonce,
                     f->verifier, f->arg);
    uint8_t key[crypto_secretbox_KEYBYTES], box[crypto_secretbox_NONCEBYTES + sizeof plain + crypto_secretbox_MACBYTES];
    if (n < 0 || (size_t)n >= sizeof plain)
        return -1;
    size_t blen = crypto_secretbox_NONCEBYTES + (size_t)n + crypto_secretbox_MACBYTES;
    if (sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > cap)
        return -1;
    flow_key(f->binding, key);
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const uint8_t *)plain, (size_t)n, box, key);
    sodium_memzero(plain, sizeof plain);
    sodium_memzero(key, sizeof key);
    sodium_bin2base64(out, cap, box, blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

/* Opens what flow_seal made with the browser's binding cookie into f: 0, or -1 (another browser's, or none). */
static int flow_open(const char *sealed, const char *binding, struct flow *f)
{
    uint8_t box[LOGIN_FLOW_DATA_MAX], key[crypto_secretbox_KEYBYTES];
    char plain[LOGIN_FLOW_DATA_MAX + 1];
    size_t blen;
    if (!*binding || sodium_base642bin(box, sizeof box, sealed, strlen(sealed), NULL, &blen, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
        blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return -1;
    size_t plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    flow_key(binding, key);
    int bad = crypto_secretbox_open_easy((uint8_t *)plain, box + crypto_secretbox_NONCEBYTES,
                                         blen - crypto_secretbox_NONCEBYTES, box, key);
    sodium_memzero(key, sizeof key);
    if (bad)
        return -1;
    plain[plen] = 0;
    char *nonce = strchr(plain, '\n'), *verifier = nonce ? strchr(nonce + 1, '\n') : NULL,
         *arg = verifier ? strchr(verifier + 1, '\n') : NULL;
    if (!arg || (plain[0] != 'n' && plain[0] != 'c'))
        return -1;
    *nonce++ = *verifier++ = *arg++ = 0;
    f->purpose = plain[0] == 'n' ? LOGIN_NODE : LOGIN_CONSOLE;
    snprintf(f->nonce, sizeof f->nonce, "%s", nonce);
    snprintf(f->verifier, sizeof f->verifier, "%s", verifier);
    snprintf(f->arg, sizeof f->arg, "%s", arg);
    sodium_memzero(plain, sizeof plain);
    return 0;
}

/* ---- discovery and keys ---- */

static void discover(struct oidc *o);
static void keys_fetch(struct oidc *o);
static void call_keys_ready(struct oidc *o);

static void retry_tick(struct timer *t, void *arg)
{
    (void)t;
    discover(arg);
}

static void discovery_failed(struct oidc *o, const char *why)
{
    log_warn("module=auth_oidc event=oidc_discovery result=failed issuer=%s error=\"%s\" retry_ms=%llu", o->issuer,
             why, (unsigned long long)o->retry_ms);
    timer_start(&o->retry, o->retry_ms);
    o->retry_ms = o->retry_ms * 2 > DISCOVERY_RETRY_MAX_MS ? DISCOVERY_RETRY_MAX_MS : o->retry_ms * 2;
}

static void on_discovery(const struct fetch_response *r, void *arg)
{
    struct oidc *o = arg;
    o->disc_fx = NULL;
    if (r->err || r->status != 200) {
        char why[300];
        snprintf(why, sizeof why, "%s", r->err ? r->err : "");
        if (!r->err)
            snprintf(why, sizeof why, "HTTP %d", r->status);
        discovery_failed(o, why);
        return;
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *d = tok ? json_tokener_parse_ex(tok, r->body, (int)r->len) : NULL, *v;
    if (tok)
        json_tokener_free(tok);
    const char *iss = NULL, *az = NULL, *te = NULL, *ju = NULL;
    if (d && json_object_object_get_ex(d, "issuer", &v) && json_object_is_type(v, json_type_string))
        iss = json_object_get_string(v);
    if (d && json_object_object_get_ex(d, "authorization_endpoint", &v) && json_object_is_type(v, json_type_string))
        az = json_object_get_string(v);
    if (d && json_object_object_get_ex(d, "token_endpoint", &v) && json_object_is_type(v, json_type_string))
        te = json_object_get_string(v);
    if (d && json_object_object_get_ex(d, "jwks_uri", &v) && json_object_is_type(v, json_type_string))
        ju = json_object_get_string(v);
    if (!iss || !az || !te || !ju) {
        json_object_put(d);
        discovery_failed(o, "the discovery document lacks issuer, authorization_endpoint, token_endpoint or jwks_uri");
        return;
    }
    if (strcmp(iss, o->issuer)) { /* Discovery §4.3: the issuer must be the one asked for */
        char why[600];
        snprintf(why, sizeof why, "the discovery document names issuer %.250s, not %.250s", iss, o->issuer);
        json_object_put(d);
        discovery_failed(o, why);
        return;
    }
    free(o->authz_ep);
    free(o->token_ep);
    free(o->jwks_uri);
    o->authz_ep = strdup(az);
    o->token_ep = strdup(te);
    o->jwks_uri = strdup(ju);
    json_object_put(d);
    o->retry_ms = DISCOVERY_RETRY_MIN_MS;
    log_info("module=auth_oidc event=oidc_discovery result=ok issuer=%s authorization_endpoint=%s token_endpoint=%s "
             "jwks_uri=%s",
             o->issuer, o->authz_ep, o->token_ep, o->jwks_uri);
    keys_fetch(o);
}

static void discover(struct oidc *o)
{
    if (o->disc_fx)
        return;
    char url[1200];
    size_t l = strlen(o->issuer);
    while (l && o->issuer[l - 1] == '/')
        l--;
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)l, o->issuer);
    struct fetch_request rq = {.method = "GET", .url = url, .ca_file = o->ca_file, .timeout_ms = 10000};
    o->disc_fx = fetch_start(o->fx, &rq, on_discovery, o);
    if (!o->disc_fx)
        discovery_failed(o, "cannot start the request");
}

static void on_keys(const struct fetch_response *r, void *arg)
{
    struct oidc *o = arg;
    char err[256] = "";
    o->jwks_fx = NULL;
    if (r->err || r->status != 200)
        snprintf(err, sizeof err, "%s (HTTP %d)", r->err ? r->err : "fetch failed", r->status);
    else if (jwks_load(&o->keys, r->body, r->len, err, sizeof err) == 0)
        o->keys_loaded = true;
    if (err[0])
        log_warn("module=auth_oidc event=oidc_jwks result=failed uri=%s error=\"%s\"", o->jwks_uri, err);
    else
        log_info("module=auth_oidc event=oidc_jwks result=ok uri=%s keys=%zu", o->jwks_uri, o->keys.n);
    call_keys_ready(o);
}

static void keys_fetch(struct oidc *o)
{
    if (o->jwks_fx || !o->jwks_uri)
        return;
    struct fetch_request rq = {.method = "GET", .url = o->jwks_uri, .ca_file = o->ca_file, .timeout_ms = 10000};
    o->jwks_fx = fetch_start(o->fx, &rq, on_keys, o);
}

/* ---- begin ---- */

static void begin(void *p, struct http_req *req, enum login_purpose purpose, const char *arg)
{
    struct oidc *o = p;
    if (!o->authz_ep) {
        discover(o);
        page(req, 503, "Login unavailable",
             "The identity provider %s has not answered yet. Try again in a moment.", o->issuer);
        return;
    }
    int64_t now = now_unix();
    if (now - o->window >= FLOW_TTL) {
        o->window = now;
        o->begun = 0;
    }
    if (o->begun >= FLOWS_MAX) {
        page(req, 503, "Login unavailable", "Too many logins are under way. Try again in a few minutes.");
        return;
    }
    struct flow f = {.purpose = purpose, .created = now};
    random_b64(f.state, sizeof f.state, 32);
    random_b64(f.nonce, sizeof f.nonce, 32);
    random_b64(f.verifier, sizeof f.verifier, 32);
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(f.binding, sizeof f.binding, b, sizeof b);
    snprintf(f.arg, sizeof f.arg, "%s", arg);

    struct qbuf u = {0};
    qbuf_add(&u, o->authz_ep, strlen(o->authz_ep));
    qbuf_add(&u, strchr(o->authz_ep, '?') ? "&" : "?", 1);
    qbuf_param(&u, "response_type", "code");
    qbuf_param(&u, "client_id", o->client_id);
    qbuf_param(&u, "redirect_uri", o->redirect_uri);
    qbuf_param(&u, "scope", o->scopes);
    qbuf_param(&u, "state", f.state);
    qbuf_param(&u, "nonce", f.nonce);
    if (o->pkce) {
        uint8_t h[crypto_hash_sha256_BYTES];
        char ch[64];
        crypto_hash_sha256(h, (const uint8_t *)f.verifier, strlen(f.verifier));
        sodium_bin2base64(ch, sizeof ch, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        qbuf_param(&u, "code_challenge", ch);
        qbuf_param(&u, "code_challenge_method", "S256");
    }
    if (o->extra && *o->extra) {
        qbuf_add(&u, "&", 1);
        qbuf_add(&u, o->extra, strlen(o->extra));
    }
    if (!u.s) {
        page(req, 500, "Login failed", "out of memory");
        return;
    }
    char sealed[LOGIN_FLOW_DATA_MAX + 1];
    if (flow_seal(&f, sealed, sizeof sealed) || o->host->flow_put(o->host->arg, f.state, sealed, FLOW_TTL)) {
        sodium_memzero(&f, sizeof f);
        free(u.s);
        page(req, 503, "Login unavailable", "The login cannot be recorded now. Try again in a moment.");
        return;
    }
    o->begun++;
    char cookie[200];
    snprintf(cookie, sizeof cookie, FLOW_COOKIE "=%s; Path=%s; Max-Age=%d; HttpOnly; SameSite=Lax%s", f.binding,
             LOGIN_CALLBACK_PATH, FLOW_TTL, o->secure ? "; Secure" : "");
    struct http_header h[] = {{"Location", u.s}, {"Set-Cookie", cookie}, {"Cache-Control", "no-store"}};
    http_respond(req, 302, h, 3, "", 0);
    log_info("module=auth_oidc event=oidc_login step=begin purpose=%s begun=%zu",
             purpose == LOGIN_NODE ? "node" : "console", o->begun);
    sodium_memzero(&f, sizeof f);
    free(u.s);
}

/* ---- callback ---- */

static void call_free(struct call *c)
{
    struct oidc *o = c->o;
    for (struct call **pp = &o->calls; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c->fx)
        fetch_cancel(c->fx);
    free(c->id_token);
    sodium_memzero(&c->f, sizeof c->f);
    free(c);
}

static void call_gone(void *arg)
{
    call_free(arg);
}

/* Answers the call's browser and ends the call. */
static void refuse(struct call *c, int status, const char *reason, const char *title, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void refuse(struct call *c, int status, const char *reason, const char *title, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    log_info("module=auth_oidc event=oidc_login result=refused purpose=%s reason=\"%s\" detail=\"%s\"",
             c->f.purpose == LOGIN_NODE ? "node" : "console", reason, text);
    http_req_on_gone(c->req, NULL, NULL);
    page(c->req, status, title, "%s", text);
    call_free(c);
}

static const char *claim_str(struct json_object *claims, const char *name)
{
    struct json_object *v;
    return json_object_object_get_ex(claims, name, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static bool in_groups(struct json_object *claims, char **want)
{
    struct json_object *g;
    if (!want || !want[0] || !json_object_object_get_ex(claims, "groups", &g) ||
        !json_object_is_type(g, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(g); i++) {
        struct json_object *x = json_object_array_get_idx(g, i);
        if (json_object_is_type(x, json_type_string) && in_list(want, json_object_get_string(x)))
            return true;
    }
    return false;
}

/* The validated claims decide: who the user is, and whether the allow-lists let them in. */
static void finish(struct call *c, struct json_object *claims)
{
    struct oidc *o = c->o;
    const char *email = claim_str(claims, "email"), *sub = claim_str(claims, "sub");
    const char *name = claim_str(claims, "name");
    struct json_object *ev;
    bool verified = json_object_object_get_ex(claims, "email_verified", &ev) && json_object_get_boolean(ev);
    if (email && !verified) {
        refuse(c, 403, "email not verified", "Login refused",
               "The identity provider has not verified the e-mail address %s.", email);
        return;
    }
    char user[300];
    if (email) {
        snprintf(user, sizeof user, "%s", email);
        for (char *p = user; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else { /* no address: the subject at the provider's host names the user */
        const char *h = strstr(o->issuer, "://");
        h = h ? h + 3 : o->issuer;
        snprintf(user, sizeof user, "%.200s@%.*s", sub, (int)strcspn(h, "/:"), h);
    }
    bool allowed = true;
    if ((o->allowed_users && o->allowed_users[0]) || (o->allowed_domains && o->allowed_domains[0])) {
        const char *at = email ? strrchr(email, '@') : NULL;
        allowed = email && (in_list(o->allowed_users, email) || (at && in_list(o->allowed_domains, at + 1)));
    }
    if (allowed && o->allowed_groups && o->allowed_groups[0])
        allowed = in_groups(claims, o->allowed_groups);
    if (!allowed) {
        log_info("module=auth_oidc event=oidc_login result=refused reason=\"not allowed\" user=\"%s\" sub=\"%s\"",
                 user, sub);
        refuse(c, 403, "not allowed", "Not allowed",
               "%s is not allowed to log in to this tailnet (control.oidc.allowed_domains, allowed_users, "
               "allowed_groups). Ask an administrator.",
               email ? email : user);
        return;
    }
    struct login_identity id = {
        .issuer = claim_str(claims, "iss"),
        .subject = sub,
        .user = user,
        .display_name = name ? name : "",
        .console = (email && in_list(o->console_users, email)) || in_groups(claims, o->console_groups),
    };
    char msg[512] = "";
    if (c->f.purpose == LOGIN_NODE) {
        char host[300] = "";
        o->host->node_pending(o->host->arg, c->f.arg, host, sizeof host);
        if (o->host->node_login(o->host->arg, c->f.arg, &id, msg, sizeof msg)) {
            refuse(c, 409, "registration", "Login failed", "The machine could not be registered: %s", msg);
            return;
        }
        log_info("module=auth_oidc event=oidc_login result=ok purpose=node user=\"%s\" sub=\"%s\"", msg, sub);
        http_req_on_gone(c->req, NULL, NULL);
        page(c->req, 200, "Machine registered", "%s is now registered to %s. You may close this window.",
             host[0] ? host : "The machine", msg); /* the user bound to the identity */
        call_free(c);
        return;
    }
    char cookies[2][256];
    if (o->host->console_login(o->host->arg, &id, cookies, msg, sizeof msg)) {
        refuse(c, 403, "console", "Not allowed", "%s", msg);
        return;
    }
    log_info("module=auth_oidc event=oidc_login result=ok purpose=console user=\"%s\" sub=\"%s\"", user, sub);
    char clear[160];
    snprintf(clear, sizeof clear, FLOW_COOKIE "=; Path=%s; Max-Age=0; HttpOnly; SameSite=Lax%s", LOGIN_CALLBACK_PATH,
             o->secure ? "; Secure" : "");
    struct http_header h[] = {{"Location", c->f.arg},   {"Set-Cookie", cookies[0]}, {"Set-Cookie", cookies[1]},
                              {"Set-Cookie", clear},    {"Cache-Control", "no-store"}};
    http_req_on_gone(c->req, NULL, NULL);
    http_respond(c->req, 302, h, 5, "", 0);
    sodium_memzero(cookies, sizeof cookies);
    call_free(c);
}

/* Validates the call's ID token; waits for the key set once when its key is unknown. */
static void validate(struct call *c)
{
    struct oidc *o = c->o;
    const char *const *algs = (const char *const *)o->algs;
    struct idt_expect want = {o->issuer, o->client_id, c->f.nonce, algs, now_unix()};
    struct json_object *claims = NULL;
    char err[300];
    int rc = idt_check(c->id_token, strlen(c->id_token), &o->keys, &want, &claims, err, sizeof err);
    if (rc == IDT_UNKNOWN_KEY && !c->waits_keys) {
        uint64_t now = loop_now(o->loop);
        /* the set was never loaded, or the provider may have rotated its keys: fetch it again, but not
         * more often than jwks_refresh_min however many tokens name unknown keys */
        if (!o->keys_loaded || !o->last_refetch || now - o->last_refetch >= o->refresh_min_ms) {
            if (o->keys_loaded)
                o->last_refetch = now;
            log_info("module=auth_oidc event=oidc_jwks action=refetch reason=\"%s\"", err);
            c->waits_keys = true;
            keys_fetch(o);
            if (o->jwks_fx)
                return; /* call_keys_ready */
        }
    }
    if (rc != IDT_OK) {
        refuse(c, 403, "id token", "Login refused", "The identity provider's ID token was refused: %s.", err);
        return;
    }
    finish(c, claims);
    json_object_put(claims);
}

static void call_keys_ready(struct oidc *o)
{
    for (struct call *c = o->calls, *next; c; c = next) {
        next = c->next;
        if (c->waits_keys && !c->fx && c->id_token)
            validate(c);
    }
}

static void on_token(const struct fetch_response *r, void *arg)
{
    struct call *c = arg;
    c->fx = NULL;
    if (r->err) {
        refuse(c, 502, "token endpoint", "Login failed", "The identity provider's token endpoint failed: %s.",
               r->err);
        return;
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *d = tok ? json_tokener_parse_ex(tok, r->body, (int)r->len) : NULL, *v;
    if (tok)
        json_tokener_free(tok);
    if (r->status != 200) {
        const char *e = d && json_object_object_get_ex(d, "error", &v) ? json_object_get_string(v) : "";
        char es[200];
        snprintf(es, sizeof es, "%s", e ? e : "");
        json_object_put(d);
        refuse(c, 403, "token endpoint", "Login refused", "The identity provider refused the code (HTTP %d %s).",
               r->status, es);
        return;
    }
    if (!d || !json_object_object_get_ex(d, "id_token", &v) || !json_object_is_type(v, json_type_string)) {
        json_object_put(d);
        refuse(c, 502, "token endpoint", "Login failed", "The identity provider's answer has no ID token.");
        return;
    }
    c->id_token = strdup(json_object_get_string(v));
    json_object_put(d);
    if (!c->id_token) {
        refuse(c, 500, "memory", "Login failed", "out of memory");
        return;
    }
    validate(c);
}

static void callback(void *p, struct http_req *req)
{
    struct oidc *o = p;
    const char *q = http_req_query(req);
    size_t ql = q ? strlen(q) : 0;
    char state[64] = "", code[1024] = "", error[128] = "", cookie[64] = "";
    int hs = q ? param_get(q, ql, "state", state, sizeof state) : 0;
    int hc = q ? param_get(q, ql, "code", code, sizeof code) : 0;
    int he = q ? param_get(q, ql, "error", error, sizeof error) : 0;
    char iss[512] = "";
    int hi = q ? param_get(q, ql, "iss", iss, sizeof iss) : 0;
    const char *ch = http_req_header(req, "Cookie");
    if (ch)
        cookie_get(ch, FLOW_COOKIE, cookie, sizeof cookie);
    struct call *c = calloc(1, sizeof *c);
    if (!c) {
        page(req, 500, "Login failed", "out of memory");
        return;
    }
    c->o = o;
    c->req = req;
    c->next = o->calls;
    o->calls = c;
    char sealed[LOGIN_FLOW_DATA_MAX + 1];
    if (hs != 1 || !state[0] || o->host->flow_take(o->host->arg, state, sealed, sizeof sealed)) {
        /* a state used before (a replay, or the browser's back button), forged, or expired */
        refuse(c, 400, "state", "Login failed",
               "This login link is unknown, expired or already used. Start the login again.");
        return;
    }
    if (flow_open(sealed, cookie, &c->f)) { /* sealed under another browser's cookie, or no cookie */
        refuse(c, 400, "browser binding", "Login failed",
               "This login was started in another browser (or cookies are off). Start the login again there.");
        return;
    }
    if (hi != 0 && (hi < 0 || strcmp(iss, o->issuer))) { /* RFC 9207: the answer of another provider (mix-up) */
        refuse(c, 400, "issuer", "Login failed", "The answer came from another identity provider than %s.", o->issuer);
        return;
    }
    if (he == 1) {
        refuse(c, 403, "provider error", "Login refused", "The identity provider answered: %s.", error);
        return;
    }
    if (hc != 1 || !code[0]) {
        refuse(c, 400, "no code", "Login failed", "The identity provider sent no authorization code.");
        return;
    }
    struct qbuf b = {0};
    qbuf_param(&b, "grant_type", "authorization_code");
    qbuf_param(&b, "code", code);
    qbuf_param(&b, "redirect_uri", o->redirect_uri);
    if (o->pkce)
        qbuf_param(&b, "code_verifier", c->f.verifier);
    char auth[1200] = "";
    const char *hdrs[2] = {NULL, NULL};
    if (o->secret) { /* client_secret_basic (RFC 6749 §2.3.1: the parts form-encoded first) */
        struct qbuf cred = {0};
        qbuf_enc(&cred, o->client_id);
        qbuf_add(&cred, ":", 1);
        qbuf_enc(&cred, o->secret);
        if (cred.s && cred.len < 600) {
            memcpy(auth, "Authorization: Basic ", 21);
            sodium_bin2base64(auth + 21, sizeof auth - 21, (const uint8_t *)cred.s, cred.len,
                              sodium_base64_VARIANT_ORIGINAL);
            hdrs[0] = auth;
        }
        if (cred.s)
            sodium_memzero(cred.s, cred.len);
        free(cred.s);
    } else { /* a public client */
        qbuf_param(&b, "client_id", o->client_id);
    }
    if (!b.s || (o->secret && !hdrs[0])) {
        free(b.s);
        refuse(c, 500, "memory", "Login failed", "out of memory");
        return;
    }
    struct fetch_request rq = {.method = "POST", .url = o->token_ep, .body = b.s, .body_len = b.len,
                               .content_type = "application/x-www-form-urlencoded", .ca_file = o->ca_file,
                               .timeout_ms = 15000, .headers = hdrs};
    c->fx = fetch_start(o->fx, &rq, on_token, c);
    sodium_memzero(auth, sizeof auth);
    sodium_memzero(b.s, b.len);
    free(b.s);
    if (!c->fx) {
        refuse(c, 502, "token endpoint", "Login failed", "The request to the token endpoint could not start.");
        return;
    }
    http_req_on_gone(req, call_gone, c);
}

/* ---- open / close ---- */

static void oidc_close(void *p)
{
    struct oidc *o = p;
    while (o->calls) { /* shutting down with logins under way: answer them */
        struct call *c = o->calls;
        http_req_on_gone(c->req, NULL, NULL);
        page(c->req, 503, "Login failed", "The server is shutting down. Try again in a moment.");
        call_free(c);
    }
    timer_stop(&o->retry);
    if (o->fx)
        fetcher_free(o->fx);
    jwks_clear(&o->keys);
    free(o->issuer);
    free(o->client_id);
    if (o->secret)
        sodium_memzero(o->secret, strlen(o->secret));
    free(o->secret);
    free(o->scopes);
    free(o->extra);
    free(o->ca_file);
    free(o->redirect_uri);
    free(o->authz_ep);
    free(o->token_ep);
    free(o->jwks_uri);
    free_list(o->allowed_domains);
    free_list(o->allowed_users);
    free_list(o->allowed_groups);
    free_list(o->console_users);
    free_list(o->console_groups);
    free_list(o->algs);
    free(o);
}

static char *read_secret(const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = 0;
    if (!n) {
        snprintf(err, errlen, "control.oidc.client_secret_file %s: cannot read a secret from it", file);
        return NULL;
    }
    char *s = strdup(buf);
    sodium_memzero(buf, sizeof buf);
    return s;
}

static void *oidc_open(struct weft_ctx *ctx, const struct login_oidc_conf *conf, const char *redirect_uri,
                       bool secure, const struct login_host *host, char *err, size_t errlen)
{
    if (!conf->issuer || !conf->client_id) {
        snprintf(err, errlen, "control.oidc needs issuer and client_id");
        return NULL;
    }
    struct oidc *o = calloc(1, sizeof *o);
    if (!o || sodium_init() < 0) {
        free(o);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->loop = weft_loop(ctx);
    timer_init(&o->retry, o->loop, retry_tick, o);
    o->host = host;
    o->secure = secure;
    o->pkce = conf->pkce;
    o->refresh_min_ms = (uint64_t)conf->jwks_refresh_min;
    o->retry_ms = DISCOVERY_RETRY_MIN_MS;
    o->issuer = strdup(conf->issuer);
    o->client_id = strdup(conf->client_id);
    o->ca_file = dup_or_null(conf->ca_file);
    o->redirect_uri = strdup(redirect_uri);
    o->allowed_domains = dup_list(&conf->allowed_domains);
    o->allowed_users = dup_list(&conf->allowed_users);
    o->allowed_groups = dup_list(&conf->allowed_groups);
    o->console_users = dup_list(&conf->console_users);
    o->console_groups = dup_list(&conf->console_groups);
    o->algs = dup_list(&conf->algorithms);
    if (conf->client_secret && *conf->client_secret)
        o->secret = strdup(conf->client_secret);
    else if (conf->client_secret_file && !(o->secret = read_secret(conf->client_secret_file, err, errlen))) {
        oidc_close(o);
        return NULL;
    }
    /* scopes: openid first, always */
    struct qbuf s = {0};
    qbuf_add(&s, "openid", 6);
    for (size_t i = 0; i < conf->scopes.n; i++)
        if (strcmp(conf->scopes.v[i], "openid")) {
            qbuf_add(&s, " ", 1);
            qbuf_add(&s, conf->scopes.v[i], strlen(conf->scopes.v[i]));
        }
    o->scopes = s.s;
    /* extra parameters, form-encoded once here */
    struct qbuf e = {0};
    qbuf_add(&e, "", 0);
    for (size_t i = 0; i < conf->extra_params.n; i++) {
        const char *kv = conf->extra_params.v[i], *eq = strchr(kv, '=');
        if (!eq)
            continue;
        char k[128];
        snprintf(k, sizeof k, "%.*s", (int)(eq - kv < 127 ? eq - kv : 127), kv);
        qbuf_param(&e, k, eq + 1);
    }
    o->extra = e.s;
    if (o->extra && o->extra[0] == '&')
        memmove(o->extra, o->extra + 1, strlen(o->extra));
    if (!o->issuer || !o->client_id || !o->redirect_uri || !o->scopes || !o->extra || !o->algs || !o->algs[0]) {
        snprintf(err, errlen, "control.oidc: out of memory, or no control.oidc.algorithms");
        oidc_close(o);
        return NULL;
    }
    char ferr[256];
    if (!(o->fx = fetcher_new(o->loop, ferr, sizeof ferr))) { /* libcurl is loaded here (core/fetch.c) */
        snprintf(err, errlen, "control.oidc: %s", ferr);
        oidc_close(o);
        return NULL;
    }
    discover(o);
    return o;
}

static const struct login_provider provider = {
    .name = "oidc",
    .open = oidc_open,
    .begin = begin,
    .callback = callback,
    .close = oidc_close,
};

static int auth_oidc_init(struct weft_instance *inst)
{
    return weft_service_put(inst->ctx, LOGIN_PROVIDER_SERVICE, (void *)&provider);
}

static const struct cfg_key no_keys[] = {CFG_END};

WEFT_MODULE(auth_oidc) = {
    .abi = WEFT_ABI_VERSION,
    .name = "auth_oidc",
    .version = WEFT_VERSION,
    .summary = "OpenID Connect login for control (control.oidc.*): nodes' interactive login, the admin console",
    .keys = no_keys,
    .conf_size = 0,
    .is_role = 0,
    .serves = "control",
    .init = auth_oidc_init,
};
