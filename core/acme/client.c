// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/acme/client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/acme/cert.h"
#include "core/acme/jws.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tls.h"

#define MAX_NONCE_RETRIES 5
#define MAX_POLLS 150            /* of one authorization or the order (with a 1-5 s pause each) */
#define ORDER_TIME_MS (15 * 60000) /* a whole order, at most */

struct acme_order;
typedef void (*step_fn)(struct acme_order *o, const struct fetch_response *r, struct json_object *body);

struct acme_order {
    struct acme_order_opts o;
    struct fetch *pending;
    struct timer t;
    uint64_t deadline;
    char *nonce;
    char *new_nonce, *new_account, *new_order;
    char *kid, *order_url, *finalize, *cert_url;
    char **authz;
    size_t nauthz, iauthz;
    /* the challenge under way */
    char *chal_url, *chal_token, *chal_name;
    int chal_set, chal_posted, polls;
    /* the request being made: sent again with a fresh nonce when the server says badNonce */
    char *req_url, *req_payload;
    int req_get, nonce_retries;
    step_fn next, after_nonce;
};

static void request(struct acme_order *o);

static void clear_challenge(struct acme_order *o)
{
    if (o->chal_set && o->o.clear_challenge)
        o->o.clear_challenge(o->o.arg, o->o.challenge, o->chal_name, o->chal_token);
    o->chal_set = o->chal_posted = 0;
    free(o->chal_url);
    free(o->chal_token);
    free(o->chal_name);
    o->chal_url = o->chal_token = o->chal_name = NULL;
}

static void order_free(struct acme_order *o)
{
    clear_challenge(o);
    if (o->pending)
        fetch_cancel(o->pending);
    timer_stop(&o->t);
    free(o->nonce);
    free(o->new_nonce);
    free(o->new_account);
    free(o->new_order);
    free(o->kid);
    free(o->order_url);
    free(o->finalize);
    free(o->cert_url);
    for (size_t i = 0; i < o->nauthz; i++)
        free(o->authz[i]);
    free(o->authz);
    free(o->req_url);
    free(o->req_payload);
    free(o);
}

static void finish(struct acme_order *o, const char *chain, size_t len, const char *err)
{
    clear_challenge(o);
    o->o.done(o->o.arg, chain, len, err);
    order_free(o);
}

static void fail(struct acme_order *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct acme_order *o, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    finish(o, NULL, 0, msg);
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

/* "detail (type)" of an RFC 7807 problem document, or the status. */
static const char *problem(const struct fetch_response *r, struct json_object *body, char *buf, size_t len)
{
    const char *type = jstr(body, "type"), *detail = jstr(body, "detail");
    if (detail || type)
        snprintf(buf, len, "%s (%s, HTTP %d)", detail ? detail : "no detail", type ? type : "no type", r->status);
    else
        snprintf(buf, len, "HTTP %d", r->status);
    return buf;
}

/* ---- requests ---- */

static void on_response(const struct fetch_response *r, void *arg)
{
    struct acme_order *o = arg;
    o->pending = NULL;
    if (r->err) {
        fail(o, "%s: %s", o->req_url, r->err);
        return;
    }
    const char *nonce = fetch_header(r, "Replay-Nonce");
    if (nonce) {
        free(o->nonce);
        o->nonce = strdup(nonce);
    }
    struct json_object *body = r->len ? json_tokener_parse(r->body) : NULL;
    const char *type = jstr(body, "type");
    if (r->status == 400 && type && strcmp(type, "urn:ietf:params:acme:error:badNonce") == 0 &&
        o->nonce_retries++ < MAX_NONCE_RETRIES) {
        json_object_put(body);
        request(o); /* RFC 8555 §6.5: retry with the nonce that came with the error */
        return;
    }
    step_fn next = o->next;
    next(o, r, body);
    json_object_put(body);
}

static void on_nonce(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    if (!o->nonce) {
        fail(o, "%s: no Replay-Nonce (HTTP %d)", o->new_nonce, r->status);
        return;
    }
    o->next = o->after_nonce;
    request(o);
}

/* Send the current request: GET, or a JWS POST (with a fresh nonce first when there is none left). */
static void request(struct acme_order *o)
{
    struct fetch_request fr = {.ca_file = o->o.ca_file};
    char *jws = NULL;
    if (o->req_get) {
        fr.method = "GET";
        fr.url = o->req_url;
    } else if (!o->nonce) {
        fr.method = "HEAD";
        fr.url = o->new_nonce;
        o->after_nonce = o->next;
        o->next = on_nonce;
    } else {
        jws = acme_jws(o->o.account_key, o->kid, o->nonce, o->req_url, o->req_payload ? o->req_payload : "");
        free(o->nonce);
        o->nonce = NULL; /* each nonce is good once */
        if (!jws) {
            fail(o, "cannot sign the request");
            return;
        }
        fr.method = "POST";
        fr.url = o->req_url;
        fr.body = jws;
        fr.body_len = strlen(jws);
        fr.content_type = "application/jose+json";
    }
    o->pending = fetch_start(o->o.fetcher, &fr, on_response, o);
    free(jws);
    if (!o->pending)
        fail(o, "cannot start a request to %s", fr.url);
}

static void get(struct acme_order *o, const char *url, step_fn next)
{
    free(o->req_url);
    free(o->req_payload);
    o->req_url = strdup(url);
    o->req_payload = NULL;
    o->req_get = 1;
    o->nonce_retries = 0;
    o->next = next;
    request(o);
}

/* A JWS POST of payload to url ("" is POST-as-GET, RFC 8555 §6.3). */
static void post(struct acme_order *o, const char *url, const char *payload, step_fn next)
{
    char *u = strdup(url); /* url may point into o->req_url */
    free(o->req_url);
    free(o->req_payload);
    o->req_url = u;
    o->req_payload = strdup(payload);
    o->req_get = 0;
    o->nonce_retries = 0;
    o->next = next;
    request(o);
}

/* ---- the flow ---- */

static void next_authz(struct acme_order *o);
static void on_authz(struct acme_order *o, const struct fetch_response *r, struct json_object *body);
static void on_order_state(struct acme_order *o, const struct fetch_response *r, struct json_object *body);

/* Poll again after the server's Retry-After (1 to 5 s; 1 s when it says nothing). */
static void poll_later(struct acme_order *o, const struct fetch_response *r, timer_cb cb)
{
    const char *ra = fetch_header(r, "Retry-After");
    long s = ra ? strtol(ra, NULL, 10) : 1;
    if (s < 1)
        s = 1;
    if (s > 5)
        s = 5;
    if (++o->polls > MAX_POLLS || loop_now(o->o.loop) + (uint64_t)s * 1000 > o->deadline) {
        fail(o, "gave up waiting for the ACME server (%d polls)", o->polls);
        return;
    }
    o->t.cb = cb;
    timer_start(&o->t, (uint64_t)s * 1000);
}

static void on_cert(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    char buf[512];
    if (r->status != 200 || r->len == 0 || !strstr(r->body, "-----BEGIN CERTIFICATE-----")) {
        fail(o, "downloading the certificate: %s", problem(r, body, buf, sizeof buf));
        return;
    }
    finish(o, r->body, r->len, NULL);
}

static void poll_order(struct timer *t, void *arg)
{
    struct acme_order *o = arg;
    post(o, o->order_url, "", on_order_state);
}

/* The order after finalize (and while it is processing). */
static void on_order_state(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    char buf[512];
    const char *st = jstr(body, "status");
    if (r->status != 200 || !st) {
        fail(o, "finalizing the order: %s", problem(r, body, buf, sizeof buf));
        return;
    }
    if (strcmp(st, "valid") == 0) {
        free(o->cert_url);
        if (!(o->cert_url = jdup(body, "certificate"))) {
            fail(o, "the order is valid but names no certificate");
            return;
        }
        post(o, o->cert_url, "", on_cert);
    } else if (strcmp(st, "processing") == 0 || strcmp(st, "ready") == 0) {
        poll_later(o, r, poll_order);
    } else {
        struct json_object *e = NULL;
        json_object_object_get_ex(body, "error", &e);
        fail(o, "the order is %s: %s", st, e ? jstr(e, "detail") ? jstr(e, "detail") : "no detail" : "no detail");
    }
}

static void do_finalize(struct acme_order *o)
{
    char *csr = acme_csr(o->o.cert_key, o->o.names, o->o.nnames);
    if (!csr) {
        fail(o, "cannot make the certificate request");
        return;
    }
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "csr", json_object_new_string(csr));
    free(csr);
    o->polls = 0;
    post(o, o->finalize, json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN), on_order_state);
    json_object_put(p);
}

static void poll_authz(struct timer *t, void *arg)
{
    struct acme_order *o = arg;
    post(o, o->authz[o->iauthz], "", on_authz);
}

static void on_challenge_posted(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    char buf[512];
    if (r->status != 200) {
        fail(o, "%s: answering the %s challenge: %s", o->chal_name, tls_challenge_names[o->o.challenge],
             problem(r, body, buf, sizeof buf));
        return;
    }
    o->chal_posted = 1;
    poll_later(o, r, poll_authz);
}

/* One authorization: valid already, or answer its challenge of our kind and wait until it is decided. */
static void on_authz(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    char buf[512];
    const char *st = jstr(body, "status");
    struct json_object *ident = NULL, *chals = NULL;
    json_object_object_get_ex(body, "identifier", &ident);
    const char *name = jstr(ident, "value");
    if (r->status != 200 || !st || !name) {
        fail(o, "authorization %s: %s", o->authz[o->iauthz], problem(r, body, buf, sizeof buf));
        return;
    }
    const char *want = tls_challenge_names[o->o.challenge];
    struct json_object *mine = NULL;
    if (json_object_object_get_ex(body, "challenges", &chals) && json_object_is_type(chals, json_type_array))
        for (size_t i = 0; i < json_object_array_length(chals); i++) {
            struct json_object *c = json_object_array_get_idx(chals, i);
            const char *type = jstr(c, "type");
            if (type && strcmp(type, want) == 0)
                mine = c;
        }
    if (strcmp(st, "valid") == 0) {
        log_info("event=acme name=%s msg=\"authorized\"", name);
        clear_challenge(o);
        o->iauthz++;
        next_authz(o);
        return;
    }
    if (strcmp(st, "pending") != 0) {
        struct json_object *e = NULL;
        if (mine)
            json_object_object_get_ex(mine, "error", &e);
        fail(o, "%s: the %s challenge failed (authorization %s): %s", name, want, st,
             e && jstr(e, "detail") ? jstr(e, "detail") : "no detail");
        return;
    }
    if (o->chal_posted) { /* still being validated */
        poll_later(o, r, poll_authz);
        return;
    }
    const char *token = jstr(mine, "token"), *url = jstr(mine, "url");
    if (!mine || !token || !url) {
        fail(o, "%s: the server offers no %s challenge (set tls.acme.challenge to another kind)", name, want);
        return;
    }
    char *ka = acme_key_authorization(token, o->o.account_key);
    clear_challenge(o);
    o->chal_name = strdup(name);
    o->chal_token = strdup(token);
    o->chal_url = strdup(url);
    if (!ka || o->o.set_challenge(o->o.arg, o->o.challenge, name, token, ka) != 0) {
        free(ka);
        fail(o, "%s: cannot answer the %s challenge", name, want);
        return;
    }
    free(ka);
    o->chal_set = 1;
    o->polls = 0;
    log_info("event=acme name=%s challenge=%s msg=\"answering\"", name, want);
    post(o, o->chal_url, "{}", on_challenge_posted);
}

static void next_authz(struct acme_order *o)
{
    if (o->iauthz == o->nauthz) {
        do_finalize(o);
        return;
    }
    o->chal_posted = 0;
    post(o, o->authz[o->iauthz], "", on_authz);
}

static void on_new_order(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    char buf[512];
    const char *loc = fetch_header(r, "Location");
    struct json_object *az = NULL;
    if (r->status != 201 || !loc || !json_object_object_get_ex(body, "authorizations", &az) ||
        !json_object_is_type(az, json_type_array) || !(o->finalize = jdup(body, "finalize"))) {
        fail(o, "new order: %s", problem(r, body, buf, sizeof buf));
        return;
    }
    o->order_url = strdup(loc);
    o->nauthz = json_object_array_length(az);
    o->authz = calloc(o->nauthz ? o->nauthz : 1, sizeof *o->authz);
    for (size_t i = 0; o->authz && i < o->nauthz; i++) {
        const char *u = json_object_get_string(json_object_array_get_idx(az, i));
        o->authz[i] = strdup(u ? u : "");
    }
    if (!o->authz) {
        fail(o, "out of memory");
        return;
    }
    next_authz(o);
}

static void on_account(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    char buf[512];
    const char *loc = fetch_header(r, "Location");
    if ((r->status != 200 && r->status != 201) || !loc) {
        fail(o, "account: %s", problem(r, body, buf, sizeof buf));
        return;
    }
    o->kid = strdup(loc);
    if (r->status == 201)
        log_info("event=acme account=%s msg=\"account created\"", o->kid);
    struct json_object *p = json_object_new_object(), *ids = json_object_new_array();
    for (size_t i = 0; i < o->o.nnames; i++) {
        struct json_object *id = json_object_new_object();
        json_object_object_add(id, "type", json_object_new_string("dns"));
        json_object_object_add(id, "value", json_object_new_string(o->o.names[i]));
        json_object_array_add(ids, id);
    }
    json_object_object_add(p, "identifiers", ids);
    post(o, o->new_order, json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
         on_new_order);
    json_object_put(p);
}

static void on_directory(struct acme_order *o, const struct fetch_response *r, struct json_object *body)
{
    if (r->status != 200 || !(o->new_nonce = jdup(body, "newNonce")) ||
        !(o->new_account = jdup(body, "newAccount")) || !(o->new_order = jdup(body, "newOrder"))) {
        fail(o, "%s is not an ACME directory (HTTP %d)", o->o.directory, r->status);
        return;
    }
    /* newAccount with the key finds the account again when it exists (200) or creates it (201) */
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "termsOfServiceAgreed", json_object_new_boolean(1));
    if (o->o.email) {
        char mail[300];
        snprintf(mail, sizeof mail, "mailto:%s", o->o.email);
        struct json_object *c = json_object_new_array();
        json_object_array_add(c, json_object_new_string(mail));
        json_object_object_add(p, "contact", c);
    }
    post(o, o->new_account, json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
         on_account);
    json_object_put(p);
}

static void begin(struct timer *t, void *arg)
{
    struct acme_order *o = arg;
    get(o, o->o.directory, on_directory);
}

struct acme_order *acme_order_start(const struct acme_order_opts *opts)
{
    struct acme_order *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->o = *opts;
    o->deadline = loop_now(opts->loop) + ORDER_TIME_MS;
    timer_init(&o->t, opts->loop, begin, o);
    timer_start(&o->t, 0); /* from the loop: done never runs inside this call */
    return o;
}

void acme_order_cancel(struct acme_order *o)
{
    if (o)
        order_free(o);
}
