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
#include "core/acme/msg.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tls.h"

#define MAX_NONCE_RETRIES 5
#define MAX_POLLS 150            /* of one authorization or the order (with a 1-5 s pause each) */
#define ORDER_TIME_MS (15 * 60000) /* a whole order, at most */

struct acme_order;
typedef void (*step_fn)(struct acme_order *o, const struct fetch_response *r);

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

/* The server's problem detail, or the status. */
static const char *problem(const struct fetch_response *r, char *buf, size_t len)
{
    int bad_nonce;
    char detail[400];
    if (acme_problem_parse(r->body, r->len, detail, sizeof detail, &bad_nonce) == 0)
        snprintf(buf, len, "%s, HTTP %d", detail, r->status);
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
    char detail[400];
    int bad_nonce = 0;
    if (r->status == 400 && acme_problem_parse(r->body, r->len, detail, sizeof detail, &bad_nonce) == 0 &&
        bad_nonce && o->nonce_retries++ < MAX_NONCE_RETRIES) {
        request(o); /* RFC 8555 §6.5: retry with the nonce that came with the error */
        return;
    }
    o->next(o, r);
}

static void on_nonce(struct acme_order *o, const struct fetch_response *r)
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
static void on_authz(struct acme_order *o, const struct fetch_response *r);
static void on_order_state(struct acme_order *o, const struct fetch_response *r);

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

static void on_cert(struct acme_order *o, const struct fetch_response *r)
{
    char buf[512];
    if (r->status != 200 || r->len == 0 || !strstr(r->body, "-----BEGIN CERTIFICATE-----")) {
        fail(o, "downloading the certificate: %s", problem(r, buf, sizeof buf));
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
static void on_order_state(struct acme_order *o, const struct fetch_response *r)
{
    char buf[512];
    struct acme_order_msg m;
    if (r->status != 200 || acme_order_parse(r->body, r->len, &m) != 0) {
        fail(o, "finalizing the order: %s", problem(r, buf, sizeof buf));
        return;
    }
    if (strcmp(m.status, "valid") == 0 && m.certificate) {
        free(o->cert_url);
        o->cert_url = m.certificate;
        m.certificate = NULL;
        post(o, o->cert_url, "", on_cert);
    } else if (strcmp(m.status, "processing") == 0 || strcmp(m.status, "ready") == 0) {
        poll_later(o, r, poll_order);
    } else {
        fail(o, "the order is %s: %s", m.status, m.error ? m.error : "no detail");
    }
    acme_order_msg_free(&m);
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

static void on_challenge_posted(struct acme_order *o, const struct fetch_response *r)
{
    char buf[512];
    if (r->status != 200) {
        fail(o, "%s: answering the %s challenge: %s", o->chal_name, tls_challenge_names[o->o.challenge],
             problem(r, buf, sizeof buf));
        return;
    }
    o->chal_posted = 1;
    poll_later(o, r, poll_authz);
}

/* One authorization: valid already, or answer its challenge of our kind and wait until it is decided. */
static void on_authz(struct acme_order *o, const struct fetch_response *r)
{
    char buf[512];
    const char *want = tls_challenge_names[o->o.challenge];
    struct acme_authz_msg a;
    if (r->status != 200 || acme_authz_parse(r->body, r->len, want, &a) != 0) {
        fail(o, "authorization %s: %s", o->authz[o->iauthz], problem(r, buf, sizeof buf));
        return;
    }
    if (strcmp(a.status, "valid") == 0) {
        log_info("event=acme name=%s msg=\"authorized\"", a.name);
        clear_challenge(o);
        o->iauthz++;
        acme_authz_msg_free(&a);
        next_authz(o);
        return;
    }
    if (strcmp(a.status, "pending") != 0) {
        fail(o, "%s: the %s challenge failed (authorization %s): %s", a.name, want, a.status,
             a.error ? a.error : "no detail");
        acme_authz_msg_free(&a);
        return;
    }
    if (o->chal_posted) { /* still being validated */
        acme_authz_msg_free(&a);
        poll_later(o, r, poll_authz);
        return;
    }
    if (!a.token) {
        fail(o, "%s: the server offers no %s challenge (set tls.acme.challenge to another kind)", a.name, want);
        acme_authz_msg_free(&a);
        return;
    }
    char *ka = acme_key_authorization(a.token, o->o.account_key);
    clear_challenge(o);
    o->chal_name = a.name;
    o->chal_token = a.token;
    o->chal_url = a.url;
    a.name = a.token = a.url = NULL;
    acme_authz_msg_free(&a);
    if (!ka || o->o.set_challenge(o->o.arg, o->o.challenge, o->chal_name, o->chal_token, ka) != 0) {
        free(ka);
        fail(o, "%s: cannot answer the %s challenge", o->chal_name, want);
        return;
    }
    free(ka);
    o->chal_set = 1;
    o->polls = 0;
    log_info("event=acme name=%s challenge=%s msg=\"answering\"", o->chal_name, want);
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

static void on_new_order(struct acme_order *o, const struct fetch_response *r)
{
    char buf[512];
    const char *loc = fetch_header(r, "Location");
    struct acme_order_msg m;
    if (r->status != 201 || !loc || acme_order_parse(r->body, r->len, &m) != 0) {
        fail(o, "new order: %s", problem(r, buf, sizeof buf));
        return;
    }
    if (!m.finalize || m.nauthz == 0) {
        acme_order_msg_free(&m);
        fail(o, "new order: no finalize URL or no authorizations");
        return;
    }
    o->order_url = strdup(loc);
    o->finalize = m.finalize;
    o->authz = m.authz;
    o->nauthz = m.nauthz;
    m.finalize = NULL;
    m.authz = NULL;
    m.nauthz = 0;
    acme_order_msg_free(&m);
    next_authz(o);
}

static void on_account(struct acme_order *o, const struct fetch_response *r)
{
    char buf[512];
    const char *loc = fetch_header(r, "Location");
    if ((r->status != 200 && r->status != 201) || !loc) {
        fail(o, "account: %s", problem(r, buf, sizeof buf));
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

static void on_directory(struct acme_order *o, const struct fetch_response *r)
{
    struct acme_directory d;
    if (r->status != 200 || acme_directory_parse(r->body, r->len, &d) != 0) {
        fail(o, "%s is not an ACME directory (HTTP %d)", o->o.directory, r->status);
        return;
    }
    o->new_nonce = d.new_nonce;
    o->new_account = d.new_account;
    o->new_order = d.new_order;
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
