// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/control_client.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto/noise_ts2021.h"
#include "core/h2.h"
#include "core/http_client.h"
#include "core/loop.h"
#include "core/noise_stream.h"
#include "core/wire/ts2021.h"

#define DEFAULT_TIMEOUT_MS 10000
#define KEY_BODY_MAX 65536 /* what the Go client reads of /key at most */
#define HIGH_WATER (256 * 1024)

enum phase {
    PH_KEY_CONNECT, /* connecting for GET /key */
    PH_KEY_HEAD,    /* http_client owns the stream */
    PH_KEY_BODY,    /* reading the /key body */
    PH_CONNECT,     /* connecting for the upgrade */
    PH_UPGRADE,     /* http_client owns the stream */
    PH_HANDSHAKE,   /* reading the Noise response */
    PH_NOISE,       /* records flow: early payload, then HTTP/2 */
    PH_DEAD,
};

struct control_client {
    struct loop *loop;
    enum phase phase;
    int ready, closed, congested;
    control_client_ready_cb on_ready;
    control_client_close_cb on_close;
    void *arg;

    char *addr;      /* host:port to dial */
    char *authority; /* Host / :authority */
    int tls;
    struct stream_connect_opts copts;
    char *sni, *ca_file, *pin_file;

    struct key machine, control;
    int have_control;
    uint16_t version;
    struct ts2021_handshake hs;

    struct stream *s; /* the current connection (before noise) */
    size_t key_need;  /* /key body length, SIZE_MAX: until EOF */
    uint8_t *keybody;
    size_t keybody_len;

    struct noise_stream *ns;
    struct ts2021_early early;
    int early_done;
    struct h2 *h2;
    uint8_t *pre; /* HTTP/2 output produced before the channel was up */
    size_t pre_len;
    struct timer t_timeout;
    size_t ncalls;
};

struct control_call {
    struct control_client *cc;
    struct h2_call *hc;
    struct control_call_cbs cbs;
    void *arg;
    int status;
    uint8_t *body;
    size_t len, cap;
    const char *fail;
};

static void start_upgrade(struct control_client *cc);

static void cc_free(void *arg)
{
    struct control_client *cc = arg;
    timer_stop(&cc->t_timeout);
    h2_free(cc->h2); /* calls of a closed client are silent */
    ts2021_handshake_wipe(&cc->hs);
    ts2021_early_free(&cc->early);
    sodium_memzero(&cc->machine, sizeof(cc->machine));
    free(cc->addr);
    free(cc->authority);
    free(cc->sni);
    free(cc->ca_file);
    free(cc->pin_file);
    free(cc->keybody);
    free(cc->pre);
    free(cc);
}

/* Report the failure once (unless closed by the owner), drop the connection, free. Never called from inside
 * an nghttp2 callback. */
static void fail(struct control_client *cc, const char *err)
{
    if (cc->phase == PH_DEAD)
        return;
    enum phase was = cc->phase;
    cc->phase = PH_DEAD;
    timer_stop(&cc->t_timeout);
    if (cc->h2 != NULL) { /* calls still open hear about it first */
        h2_free(cc->h2);
        cc->h2 = NULL;
    }
    if (!cc->closed) {
        cc->closed = 1;
        if (!cc->ready) {
            if (cc->on_ready)
                cc->on_ready(cc, err, cc->arg);
        } else if (cc->on_close) {
            cc->on_close(cc, err, cc->arg);
        }
    }
    if (cc->ns != NULL) {
        noise_stream_abandon(cc->ns);
        cc->ns = NULL;
    }
    if (cc->s != NULL) {
        struct stream *s = cc->s;
        cc->s = NULL;
        if (was == PH_KEY_HEAD || was == PH_UPGRADE) {
            stream_close(s); /* http_client calls back with an error: cc is freed there */
            return;
        }
        stream_set_callbacks(s, NULL, NULL, NULL, NULL);
        stream_close(s); /* a connect in progress is cancelled quietly */
    }
    loop_defer(cc->loop, cc_free, cc);
}

static void on_timeout(struct timer *t, void *arg)
{
    fail(arg, "timeout");
}

/* ---- HTTP/2 glue ---- */

static int cc_write(void *arg, const uint8_t *data, size_t len)
{
    struct control_client *cc = arg;
    if (cc->ns == NULL) { /* not up yet: keep it for when it is */
        uint8_t *p = realloc(cc->pre, cc->pre_len + len);
        if (p == NULL)
            return -1;
        memcpy(p + cc->pre_len, data, len);
        cc->pre = p;
        cc->pre_len += len;
        return 0;
    }
    if (noise_stream_write(cc->ns, data, len) != 0)
        return -1;
    if (noise_stream_queued(cc->ns) > HIGH_WATER) {
        cc->congested = 1;
        noise_stream_pause(cc->ns);
        return 1;
    }
    return 0;
}

static void cc_feed(struct control_client *cc, const uint8_t *data, size_t len)
{
    if (len == 0 || cc->phase != PH_NOISE)
        return;
    if (h2_feed(cc->h2, data, len) != 0) {
        fail(cc, "HTTP/2 protocol error");
        return;
    }
    if (!h2_alive(cc->h2))
        noise_stream_end(cc->ns); /* GOAWAY and nothing open: the close callback reports */
}

static void be_ready(struct control_client *cc)
{
    cc->early_done = 1;
    cc->ready = 1;
    timer_stop(&cc->t_timeout);
    if (cc->on_ready != NULL && !cc->closed)
        cc->on_ready(cc, NULL, cc->arg);
}

static void noise_data(struct noise_stream *ns, uint8_t *data, size_t len, void *arg)
{
    struct control_client *cc = arg;
    if (!cc->early_done) {
        long used = ts2021_early_feed(&cc->early, data, len);
        if (used < 0 || cc->early.state == TS2021_EARLY_ERROR) {
            fail(cc, "bad early payload");
            return;
        }
        if (cc->early.state == TS2021_EARLY_READING)
            return;
        if (cc->early.state == TS2021_EARLY_NONE) {
            uint8_t hdr[TS2021_EARLY_HEADER_LEN];
            size_t n = cc->early.hdr_have;
            memcpy(hdr, cc->early.hdr, n);
            be_ready(cc);
            if (cc->phase != PH_NOISE)
                return;
            cc_feed(cc, hdr, n);
        } else {
            be_ready(cc);
        }
        data += used;
        len -= (size_t)used;
    }
    cc_feed(cc, data, len);
}

static void noise_drain(struct noise_stream *ns, void *arg)
{
    struct control_client *cc = arg;
    if (cc->congested) {
        cc->congested = 0;
        noise_stream_resume(cc->ns);
    }
    h2_flush(cc->h2);
}

static void noise_closed(struct noise_stream *ns, const char *err, void *arg)
{
    struct control_client *cc = arg;
    cc->ns = NULL; /* freed by noise_stream after this */
    fail(cc, err ? err : "closed by the server");
}

/* ---- the Noise handshake response ---- */

static void handshake_read(struct stream *s, void *arg)
{
    struct control_client *cc = arg;
    size_t len;
    uint8_t *p = stream_input(s, &len);
    uint8_t type;
    ssize_t fl = ts2021_frame_len(p, len, &type);
    if (fl == 0 || (size_t)fl > len) {
        if (fl > 0 && type != TS2021_TYPE_RESPONSE && type != TS2021_TYPE_ERROR) {
            fail(cc, "unexpected handshake message type");
        }
        return;
    }
    if (type == TS2021_TYPE_ERROR) {
        const uint8_t *text;
        size_t tl;
        char msg[300];
        if (ts2021_error_text(p, (size_t)fl, &text, &tl) != 0)
            tl = 0;
        snprintf(msg, sizeof(msg), "server error: \"%.*s\"", (int)(tl > 200 ? 200 : tl), (const char *)text);
        fail(cc, msg);
        return;
    }
    struct ts2021_transport t;
    if (ts2021_initiator_finish(&cc->hs, &t, p, (size_t)fl) != 0) {
        fail(cc, "handshake failed");
        return;
    }
    stream_consume(s, (size_t)fl);
    cc->s = NULL; /* noise_stream owns it now */
    cc->phase = PH_NOISE;
    ts2021_early_init(&cc->early);
    cc->ns = noise_stream_new(s, &t, noise_data, noise_drain, noise_closed, cc);
    ts2021_transport_wipe(&t);
    if (cc->ns == NULL) {
        fail(cc, "out of memory");
        return;
    }
    if (cc->pre_len > 0) {
        noise_stream_write(cc->ns, cc->pre, cc->pre_len);
        free(cc->pre);
        cc->pre = NULL;
        cc->pre_len = 0;
    }
    h2_flush(cc->h2);
}

static void parse_key(struct control_client *cc);

static void raw_closed(struct stream *s, const char *err, void *arg)
{
    struct control_client *cc = arg;
    cc->s = NULL;
    if (cc->phase == PH_KEY_BODY && cc->key_need == SIZE_MAX && err == NULL) {
        parse_key(cc); /* a /key body delimited by the end of the connection */
        return;
    }
    fail(cc, err ? err : "connection closed");
}

/* http_client's answer after fail() closed its stream: only the freeing is left. */
static int http_abandoned(struct control_client *cc)
{
    if (cc->phase != PH_DEAD)
        return 0;
    cc_free(cc);
    return 1;
}

static void on_upgrade_response(struct stream *s, const struct http_response *res, const char *err,
                                void *arg)
{
    struct control_client *cc = arg;
    if (http_abandoned(cc))
        return;
    if (err != NULL) {
        cc->s = NULL; /* http_client closed it */
        fail(cc, err);
        return;
    }
    cc->phase = PH_HANDSHAKE;
    if (!ts2021_http_response_ok(res->status, http_response_header(res, "Upgrade"))) {
        char msg[80];
        snprintf(msg, sizeof(msg), "upgrade refused: HTTP %d", res->status);
        fail(cc, msg);
        return;
    }
    stream_set_callbacks(s, handshake_read, NULL, raw_closed, cc);
    stream_read_start(s);
}

static void on_upgrade_connected(struct stream *s, const char *err, void *arg)
{
    struct control_client *cc = arg;
    if (err != NULL) {
        cc->s = NULL;
        fail(cc, err);
        return;
    }
    uint8_t init[TS2021_INITIATION_LEN];
    char b64[200];
    if (ts2021_initiator_start(&cc->hs, init, cc->machine.b, cc->control.b, cc->version, NULL) != 0 ||
        ts2021_base64_encode(b64, sizeof(b64), init, sizeof(init)) < 0) {
        fail(cc, "handshake initiation failed");
        return;
    }
    const struct http_header hs[] = {
        {"Upgrade", TS2021_UPGRADE},
        {"Connection", "upgrade"},
        {"X-Tailscale-Handshake", b64},
    };
    cc->phase = PH_UPGRADE;
    if (http_client_request(s, "POST", TS2021_PATH, cc->authority, hs, 3, NULL, 0, on_upgrade_response,
                            cc) != 0) {
        cc->phase = PH_CONNECT; /* the stream is still ours to close */
        fail(cc, "cannot send the upgrade request");
    }
}

static void start_upgrade(struct control_client *cc)
{
    cc->phase = PH_CONNECT;
    cc->s = stream_connect(cc->loop, cc->addr, &cc->copts, on_upgrade_connected, cc);
    if (cc->s == NULL)
        fail(cc, "cannot connect");
}

/* ---- GET /key ---- */

static void parse_key(struct control_client *cc)
{
    struct json_object *j = json_tokener_parse(cc->keybody ? (const char *)cc->keybody : "");
    struct json_object *pk = NULL;
    const char *err = NULL;
    if (j == NULL || !json_object_object_get_ex(j, "publicKey", &pk) ||
        !json_object_is_type(pk, json_type_string))
        err = "/key: no publicKey in the answer";
    else if (key_parse_str(&cc->control, KEY_TEXT_MACHINE, json_object_get_string(pk)) != 0)
        err = "/key: malformed publicKey";
    else if (key_is_zero(&cc->control))
        err = "/key: control server is too old; no noise key";
    json_object_put(j);
    free(cc->keybody);
    cc->keybody = NULL;
    if (err != NULL) {
        fail(cc, err);
        return;
    }
    cc->have_control = 1;
    start_upgrade(cc);
}

static void key_body_read(struct stream *s, void *arg)
{
    struct control_client *cc = arg;
    size_t len;
    uint8_t *p = stream_input(s, &len);
    size_t want = cc->key_need == SIZE_MAX ? KEY_BODY_MAX : cc->key_need;
    if (cc->keybody_len + len > want)
        len = want - cc->keybody_len;
    memcpy(cc->keybody + cc->keybody_len, p, len);
    cc->keybody_len += len;
    cc->keybody[cc->keybody_len] = 0;
    stream_consume(s, len);
    if (cc->keybody_len < want)
        return;
    if (cc->key_need == SIZE_MAX) {
        fail(cc, "/key: answer too large");
        return;
    }
    stream_set_callbacks(s, NULL, NULL, NULL, NULL);
    stream_close(s);
    cc->s = NULL;
    parse_key(cc);
}

static void on_key_response(struct stream *s, const struct http_response *res, const char *err, void *arg)
{
    struct control_client *cc = arg;
    if (http_abandoned(cc))
        return;
    if (err != NULL) {
        cc->s = NULL; /* http_client closed it */
        fail(cc, err);
        return;
    }
    cc->phase = PH_KEY_BODY;
    if (res->status != 200) {
        char msg[64];
        snprintf(msg, sizeof(msg), "/key: HTTP %d", res->status);
        fail(cc, msg);
        return;
    }
    const char *cl = http_response_header(res, "Content-Length");
    cc->key_need = SIZE_MAX;
    if (cl != NULL) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (*cl < '0' || *cl > '9' || *end != 0 || v > KEY_BODY_MAX) {
            fail(cc, "/key: bad or too large Content-Length");
            return;
        }
        cc->key_need = (size_t)v;
    }
    cc->keybody = malloc(KEY_BODY_MAX + 1);
    if (cc->keybody == NULL) {
        fail(cc, "out of memory");
        return;
    }
    cc->keybody[0] = 0;
    if (cc->key_need == 0) {
        fail(cc, "/key: empty answer");
        return;
    }
    stream_set_callbacks(s, key_body_read, NULL, raw_closed, cc);
    stream_read_start(s);
}

static void on_key_connected(struct stream *s, const char *err, void *arg)
{
    struct control_client *cc = arg;
    if (err != NULL) {
        cc->s = NULL;
        fail(cc, err);
        return;
    }
    char path[32];
    snprintf(path, sizeof(path), "/key?v=%u", cc->version);
    cc->phase = PH_KEY_HEAD;
    if (http_client_request(s, "GET", path, cc->authority, NULL, 0, NULL, 0, on_key_response, cc) != 0) {
        cc->phase = PH_CONNECT; /* the stream is still ours to close */
        fail(cc, "cannot send the /key request");
    }
}

/* ---- public ---- */

/* "http://host[:port][/...]" → dial address and authority. */
static int parse_url(struct control_client *cc, const char *url)
{
    const char *p;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        cc->tls = 1;
    } else {
        return -1;
    }
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n > 300)
        return -1;
    cc->authority = strndup(p, n);
    if (cc->authority == NULL)
        return -1;
    /* a port is there when the last ':' comes after any ']' */
    const char *colon = strrchr(cc->authority, ':'), *br = strrchr(cc->authority, ']');
    int has_port = colon != NULL && (br == NULL || colon > br);
    size_t need = n + 8;
    if ((cc->addr = malloc(need)) == NULL)
        return -1;
    if (has_port)
        snprintf(cc->addr, need, "%s", cc->authority);
    else
        snprintf(cc->addr, need, "%s:%d", cc->authority, cc->tls ? 443 : 80);
    return 0;
}

struct control_client *control_client_connect(struct loop *l, const struct control_client_opts *o,
                                              control_client_ready_cb on_ready,
                                              control_client_close_cb on_close, void *arg)
{
    if (o == NULL || o->server_url == NULL || o->machine_priv == NULL)
        return NULL;
    struct control_client *cc = calloc(1, sizeof(*cc));
    if (cc == NULL)
        return NULL;
    cc->loop = l;
    cc->on_ready = on_ready;
    cc->on_close = on_close;
    cc->arg = arg;
    cc->machine = *o->machine_priv;
    cc->version = o->version ? o->version : CONTROL_CLIENT_VERSION;
    timer_init(&cc->t_timeout, l, on_timeout, cc);
    if (parse_url(cc, o->server_url) != 0)
        goto bad;
    if (o->connect != NULL) {
        cc->copts = *o->connect;
        if ((o->connect->sni && !(cc->sni = strdup(o->connect->sni))) ||
            (o->connect->ca_file && !(cc->ca_file = strdup(o->connect->ca_file))) ||
            (o->connect->pin_cert_file && !(cc->pin_file = strdup(o->connect->pin_cert_file))))
            goto bad;
        cc->copts.sni = cc->sni;
        cc->copts.ca_file = cc->ca_file;
        cc->copts.pin_cert_file = cc->pin_file;
    }
    cc->copts.tls = cc->tls;
    if ((cc->h2 = h2_client_new(cc_write, cc)) == NULL)
        goto bad;
    timer_start(&cc->t_timeout, o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
    if (o->control_pub != NULL) {
        cc->control = *o->control_pub;
        cc->have_control = 1;
        cc->phase = PH_CONNECT;
        cc->s = stream_connect(l, cc->addr, &cc->copts, on_upgrade_connected, cc);
    } else {
        cc->phase = PH_KEY_CONNECT;
        cc->s = stream_connect(l, cc->addr, &cc->copts, on_key_connected, cc);
    }
    if (cc->s == NULL)
        goto bad;
    return cc;
bad:
    cc_free(cc);
    return NULL;
}

static void close_deferred(void *arg)
{
    fail(arg, "closed");
}

void control_client_close(struct control_client *cc)
{
    if (cc == NULL || cc->closed)
        return;
    cc->closed = 1; /* silences every callback from here on */
    if (loop_defer(cc->loop, close_deferred, cc) != 0)
        abort(); /* no memory for a deferred call: nothing sane is left */
}

const struct key *control_client_server_key(const struct control_client *cc)
{
    return &cc->control;
}

const char *control_client_early_json(const struct control_client *cc)
{
    return cc->early.state == TS2021_EARLY_GOT ? cc->early.json : NULL;
}

int control_client_challenge(const struct control_client *cc, struct key *chal)
{
    if (cc->early.state != TS2021_EARLY_GOT || cc->early.json == NULL)
        return -1;
    return ts2021_early_noise_parse(cc->early.json, strlen(cc->early.json), chal->b) == 1 ? 0 : -1;
}

size_t control_client_calls(const struct control_client *cc)
{
    return cc->ncalls;
}

/* ---- calls ---- */

static void call_head(struct h2_call *hc, int status, const struct http_header *hs, size_t n, void *arg)
{
    struct control_call *c = arg;
    c->status = status;
    if (!c->cc->closed && c->cbs.on_head != NULL)
        c->cbs.on_head(c, status, hs, n, c->arg);
}

static void call_data(struct h2_call *hc, const uint8_t *data, size_t len, void *arg)
{
    struct control_call *c = arg;
    if (c->cc->closed || c->fail != NULL)
        return;
    if (c->cbs.on_data != NULL) {
        c->cbs.on_data(c, data, len, c->arg);
        return;
    }
    if (c->len + len > CONTROL_CALL_MAX_BODY) {
        c->fail = "response body too large";
        return;
    }
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->len + len + 1)
            cap *= 2;
        uint8_t *p = realloc(c->body, cap);
        if (p == NULL) {
            c->fail = "out of memory";
            return;
        }
        c->body = p;
        c->cap = cap;
    }
    memcpy(c->body + c->len, data, len);
    c->len += len;
    c->body[c->len] = 0;
}

static void call_done(struct h2_call *hc, const char *err, void *arg)
{
    struct control_call *c = arg;
    struct control_client *cc = c->cc;
    cc->ncalls--;
    if (!cc->closed && c->cbs.on_done != NULL)
        c->cbs.on_done(c, c->status, c->body ? c->body : (const uint8_t *)"", c->len, err ? err : c->fail,
                       c->arg);
    free(c->body);
    free(c);
}

struct control_call *control_client_request(struct control_client *cc, const char *method, const char *path,
                                            const struct http_header *hs, size_t n, const void *body,
                                            size_t len, const struct control_call_cbs *cbs, void *arg)
{
    if (cc->closed || cc->h2 == NULL || cbs == NULL)
        return NULL;
    struct control_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cc = cc;
    c->cbs = *cbs;
    c->arg = arg;
    static const struct h2_call_cbs h2cbs = {call_head, call_data, call_done};
    struct http_header all[n + 1];
    for (size_t i = 0; i < n; i++)
        all[i] = hs[i];
    all[n] = (struct http_header){"user-agent", "weft"};
    c->hc = h2_request(cc->h2, method, path, cc->authority, all, n + 1, body, len, &h2cbs, c);
    if (c->hc == NULL) {
        free(c);
        return NULL;
    }
    cc->ncalls++;
    return c;
}

void control_call_cancel(struct control_call *c)
{
    c->cc->ncalls--;
    h2_call_cancel(c->hc);
    free(c->body);
    free(c);
}
