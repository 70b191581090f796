// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/channel.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto/noise_ts2021.h"
#include "core/http.h"
#include "core/json/jbuf.h"
#include "core/limit.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/noise_stream.h"
#include "core/route.h"
#include "core/stream.h"
#include "core/wire/ts2021.h"

/* Stop pulling HTTP/2 output (and reading the peer) while this much is queued on the socket. */
#define HIGH_WATER (256 * 1024)
/* A peer that reads nothing of what we queue for this long is dropped. */
#define WRITE_TIMEOUT_MS 60000
#define MAX_BODY (1024 * 1024)

struct route {
    struct route_key key; /* first: core/route.h finds routes by it */
    int status; /* fixed answer when fn is NULL: 404 or 501 */
    channel_handler fn;
    void *arg;
};

/* A refused upgrade is logged at most this often (with the count since the last line). */
#define REFUSE_LOG_MS 60000

struct channel {
    struct loop *loop;
    struct key priv, pub;
    char key_json[200];
    struct route *routes;
    size_t nroutes;
    struct channel_conn *conns;
    size_t nconns;
    size_t nupgrading; /* answered 101, not yet handed over: they count against max_conns */
    int stopping;
    struct channel_limits lim;
    struct accept_limit accept;
    struct log_every refuse_log;
    struct channel_stats st;
};

struct channel_conn {
    struct channel *ch;
    struct channel_conn *prev, *next;
    struct noise_stream *ns;
    struct h2 *h2;
    struct channel_peer peer;
    struct key chal_priv;
    int ending, congested;
    int got_request; /* the first request arrived: the upgrade deadline is off */
    struct timer idle;
};

/* Between the handler that checked the handshake and the upgraded socket. */
struct pending {
    struct channel *ch;
    struct channel_peer peer;
    struct key chal_priv;
    struct ts2021_transport t;
    uint8_t resp[TS2021_RESPONSE_LEN];
    const char *refuse; /* an error frame to send instead of the response */
};

/* The endpoints of spec §5.1 a server may answer 501 for. */
static const struct {
    const char *path;
    int prefix;
} optional_paths[] = {
    {"/machine/set-dns", 0},       {"/machine/id-token", 0},        {"/machine/audit-log", 0},
    {"/machine/feature/query", 0}, {"/machine/update-health", 0},   {"/machine/whoami", 0},
    {"/machine/c2n", 0},           {"/machine/set-device-attr", 0}, {"/machine/ssh/action/", 1},
};

/* ---- connections ---- */

static void conn_end(struct channel_conn *c)
{
    if (c->ending)
        return;
    c->ending = 1;
    noise_stream_end(c->ns); /* what h2 queued last (a GOAWAY) still goes out */
}

static int conn_write(void *arg, const uint8_t *data, size_t len)
{
    struct channel_conn *c = arg;
    if (noise_stream_write(c->ns, data, len) != 0)
        return -1;
    if (noise_stream_queued(c->ns) > HIGH_WATER) {
        c->congested = 1;
        noise_stream_pause(c->ns);
        return 1;
    }
    return 0;
}

static void conn_check(struct channel_conn *c)
{
    if (!c->ending && !h2_alive(c->h2))
        conn_end(c);
}

static void conn_data(struct noise_stream *ns, uint8_t *data, size_t len, void *arg)
{
    struct channel_conn *c = arg;
    if (c->ending)
        return;
    if (h2_feed(c->h2, data, len) != 0) {
        log_debug("module=control event=h2_error peer=%s", c->peer.addr);
        conn_end(c);
        return;
    }
    conn_check(c);
}

static void conn_drain(struct noise_stream *ns, void *arg)
{
    struct channel_conn *c = arg;
    if (c->congested) {
        c->congested = 0;
        noise_stream_resume(c->ns);
    }
    h2_flush(c->h2);
    conn_check(c);
}

static void conn_unlink(struct channel_conn *c)
{
    struct channel *ch = c->ch;
    if (c->prev)
        c->prev->next = c->next;
    else
        ch->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ch->nconns--;
}

static void conn_closed(struct noise_stream *ns, const char *err, void *arg)
{
    struct channel_conn *c = arg;
    log_debug("module=control event=channel_closed peer=%s error=\"%s\"", c->peer.addr, err ? err : "");
    if (!c->got_request && err != NULL && strcmp(err, "deadline") == 0)
        c->ch->st.closed_first_request++;
    timer_stop(&c->idle);
    conn_unlink(c);
    h2_free(c->h2); /* open requests see on_gone */
    sodium_memzero(&c->chal_priv, sizeof(c->chal_priv));
    free(c);
}

void channel_conn_close(struct channel_conn *c)
{
    c->ending = 1;
    noise_stream_close(c->ns);
}

static const struct route *find_route(const struct channel *ch, const char *path, size_t len)
{
    return route_find(ch->routes, ch->nroutes, sizeof(struct route), path, len);
}

/* No stream has been open for idle_ms: GOAWAY, and the connection ends once it is out (clients dial again
 * for their next request, as they do after Go's http2.Server idle timeout). */
static void conn_idle_cb(struct timer *t, void *arg)
{
    struct channel_conn *c = arg;
    if (c->ending || h2_streams(c->h2) > 0)
        return; /* a stream is open again: on_idle re-arms when it closes */
    c->ch->st.closed_idle++;
    log_debug("module=control event=channel_idle peer=%s", c->peer.addr);
    h2_goaway(c->h2);
    conn_check(c);
}

static void conn_on_idle(void *arg)
{
    struct channel_conn *c = arg;
    if (c->ch->lim.idle_ms && !c->ending)
        timer_start(&c->idle, c->ch->lim.idle_ms);
}

/* An optional endpoint (§5.1) we do not offer: 501 with {"error":"..."}. The official client turns that
 * into its message: the LocalAPI passes the body of /machine/feature/query and /machine/id-token through
 * and the CLI shows the "error" member (Go decodes it case-insensitively); set-dns and the others print
 * the status and the body. A bare 501 would read "501 Not Implemented: " with nothing after it. */
static void answer_not_supported(struct h2_req *req, const char *path, size_t plen)
{
    char what[96] = "";
    if (plen == strlen("/machine/feature/query") && !strncmp(path, "/machine/feature/query", plen)) {
        size_t blen;
        const uint8_t *body = h2_req_body(req, &blen);
        struct json_object *o = body ? tc_json_parse((const char *)body, blen) : NULL, *f;
        const char *name = "";
        if (o && json_object_object_get_ex(o, "Feature", &f) && json_object_is_type(f, json_type_string))
            name = json_object_get_string(f);
        size_t n = 0;
        for (; name[n] && n < 48; n++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", name[n]))
                break;
        if (n && !name[n])
            snprintf(what, sizeof(what), "the feature \"%s\"", name);
        json_object_put(o);
    }
    char msg[256];
    if (what[0])
        snprintf(msg, sizeof(msg), "%s is not supported by this server (weft)", what);
    else
        snprintf(msg, sizeof(msg), "%.*s is not supported by this server (weft)", (int)(plen > 96 ? 96 : plen),
                 path);
    struct jbuf b;
    jbuf_init(&b);
    jbuf_open(&b, '{');
    jbuf_field(&b, "error");
    jbuf_str(&b, msg);
    jbuf_close(&b, '}');
    jbuf_putc(&b, '\n');
    static const struct http_header h[] = {{"content-type", "application/json; charset=utf-8"}};
    if (b.oom)
        h2_respond_text(req, 501, "not supported by this server\n");
    else
        h2_respond(req, 501, h, 1, b.p, b.len);
    jbuf_free(&b);
}

static void conn_request(struct h2_req *req, void *arg)
{
    struct channel_conn *c = arg;
    if (!c->got_request) {
        c->got_request = 1;
        stream_set_deadline(noise_stream_socket(c->ns), 0);
    }
    const char *path = h2_req_path(req);
    size_t len = strcspn(path, "?");
    const struct route *rt = find_route(c->ch, path, len);
    log_debug("module=control event=request peer=%s method=%s path=%s", c->peer.addr, h2_req_method(req),
              path);
    if (rt != NULL && rt->fn != NULL) {
        rt->fn(req, &c->peer, rt->arg);
        return;
    }
    if (rt != NULL && rt->status == 501) {
        answer_not_supported(req, path, len);
        return;
    }
    static const struct http_header nf[] = {{"content-type", "text/plain; charset=utf-8"},
                                            {"x-content-type-options", "nosniff"}};
    h2_respond(req, 404, nf, 2, "404 page not found\n", 19);
}

/* ---- the upgrade ---- */

static void on_upgraded(struct stream *s, void *arg)
{
    struct pending *p = arg;
    struct channel *ch = p->ch;
    ch->nupgrading--;
    if (s == NULL)
        goto out;
    if (p->refuse != NULL) {
        uint8_t frame[128];
        ssize_t n = ts2021_error_frame(frame, sizeof(frame), p->refuse, strlen(p->refuse));
        stream_set_callbacks(s, NULL, NULL, NULL, NULL);
        if (n > 0)
            stream_write(s, frame, (size_t)n);
        stream_end(s);
        goto out;
    }
    struct channel_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        stream_close(s);
        goto out;
    }
    c->ch = ch;
    c->peer = p->peer;
    c->peer.conn = c;
    c->chal_priv = p->chal_priv;
    stream_peer_str(s, c->peer.addr, sizeof(c->peer.addr));
    c->peer.tls = stream_is_tls(s);

    /* the response and the early payload leave together (Go corks them the same way) */
    uint8_t out[TS2021_RESPONSE_LEN + TS2021_MAX_RECORD];
    size_t w = TS2021_RESPONSE_LEN;
    memcpy(out, p->resp, TS2021_RESPONSE_LEN);
    if (p->peer.version >= CHANNEL_EARLY_NOISE_VERSION) {
        char json[128];
        uint8_t early[160];
        long jl = ts2021_early_noise_json(json, sizeof(json), c->peer.challenge.b);
        long el = jl < 0 ? -1 : ts2021_early_payload_encode(early, sizeof(early), json, (size_t)jl);
        ssize_t rl = el < 0 ? -1 : ts2021_seal_record(&p->t, out + w, sizeof(out) - w, early, (size_t)el);
        if (rl < 0) {
            free(c);
            stream_close(s);
            goto out;
        }
        w += (size_t)rl;
    }
    stream_set_write_timeout(s, WRITE_TIMEOUT_MS);
    /* the HTTP/2 preface and a first request must follow soon: a peer that only holds a socket is dropped */
    stream_set_deadline(s, ch->lim.first_request_ms);
    if (stream_write(s, out, w) != 0) {
        free(c);
        stream_close(s);
        goto out;
    }
    struct h2_server_opts o = {
        .max_body = MAX_BODY, .max_buffered = ch->lim.max_buffered, .on_idle = conn_on_idle,
        .busy_count = &ch->st.refused_busy};
    c->h2 = h2_server_new(conn_write, conn_request, c, &o);
    if (c->h2 == NULL) {
        free(c);
        stream_close(s);
        goto out;
    }
    c->ns = noise_stream_new(s, &p->t, conn_data, conn_drain, conn_closed, c);
    if (c->ns == NULL) {
        h2_free(c->h2);
        free(c);
        goto out;
    }
    c->next = ch->conns;
    if (c->next)
        c->next->prev = c;
    ch->conns = c;
    ch->nconns++;
    timer_init(&c->idle, ch->loop, conn_idle_cb, c);
    conn_on_idle(c); /* no stream yet */
    {
        char mk[KEY_TEXT_MAX];
        key_format(mk, sizeof(mk), KEY_TEXT_MACHINE, &c->peer.machine);
        log_debug("module=control event=channel_open peer=%s machine=%s version=%u", c->peer.addr, mk,
                  c->peer.version);
    }
    h2_flush(c->h2); /* our SETTINGS */
out:
    ts2021_transport_wipe(&p->t);
    sodium_memzero(&p->chal_priv, sizeof(p->chal_priv));
    free(p);
}

static void handle_ts2021(struct http_req *req, void *arg)
{
    struct channel *ch = arg;
    const char *m = http_req_method(req);
    if (strcmp(m, "POST") != 0 && strcmp(m, "GET") != 0) {
        http_respond_text(req, 405, "method not allowed\n");
        return;
    }
    if (ch->stopping) {
        http_respond_text(req, 503, "shutting down\n");
        return;
    }
    /* before any Noise work: a refused peer costs no DH */
    int refuse = accept_limit_check(&ch->accept, ch->nconns + ch->nupgrading, loop_now(ch->loop));
    if (refuse != 0) {
        if (refuse == 503)
            ch->st.refused_max_conns++;
        else
            ch->st.refused_rate++;
        uint64_t held = 0;
        if (log_every_ok(&ch->refuse_log, loop_now(ch->loop), REFUSE_LOG_MS, &held)) {
            char peer[ADDR_STRLEN];
            log_warn("module=control event=channel_refused reason=%s peer=%s conns=%zu max_conns=%lld "
                     "accept_rate=%lld refused_before=%llu msg=\"new control connections are refused (logged "
                     "once a minute)\"",
                     refuse == 503 ? "max_conns" : "accept_rate", http_req_peer_str(req, peer, sizeof(peer)),
                     ch->nconns + ch->nupgrading, ch->lim.max_conns, ch->lim.accept_rate,
                     (unsigned long long)held);
        }
        http_respond_text(req, refuse, refuse == 503 ? "too many connections\n" : "slow down\n");
        return;
    }
    enum ts2021_upgrade_kind kind = ts2021_upgrade_kind(http_req_header(req, "Upgrade"));
    if (kind == TS2021_UPGRADE_WEBSOCKET) {
        http_respond_text(req, 501, "websocket transport not supported\n");
        return;
    }
    if (kind != TS2021_UPGRADE_CONTROL || http_req_version(req) >= 0x200) {
        http_respond_text(req, 400,
                          "missing or wrong Upgrade header (HTTP/1.1 upgrade to "
                          "tailscale-control-protocol expected)\n");
        return;
    }
    uint8_t init[TS2021_INITIATION_LEN];
    int hr = ts2021_handshake_header_parse(http_req_header(req, "X-Tailscale-Handshake"), init);
    if (hr == TS2021_HS_BAD) {
        http_respond_text(req, 400, "invalid tailscale handshake header\n");
        return;
    }
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        http_respond_text(req, 503, "out of memory\n");
        return;
    }
    p->ch = ch;
    /* The refusals controlbase sends as error frames (after the 101, as Go does). */
    struct ts2021_handshake hs;
    if (hr == TS2021_HS_BAD_LEN) {
        p->refuse = "wrong handshake initiation size";
    } else if (init[2] != TS2021_TYPE_INITIATION) {
        p->refuse = "unexpected handshake message type";
    } else if (((unsigned)init[3] << 8 | init[4]) != TS2021_INITIATION_LEN - 5) {
        p->refuse = "wrong handshake initiation length";
    } else if (ts2021_responder_read(&hs, init, sizeof(init), ch->priv.b, ch->pub.b, &p->peer.version,
                                     p->peer.machine.b) != 0) {
        p->refuse = "handshake failed"; /* not our control key, or a forged initiation */
    } else if (p->peer.version < CHANNEL_MIN_VERSION) {
        ts2021_handshake_wipe(&hs);
        p->refuse = "unsupported client version";
    } else if (ts2021_responder_finish(&hs, &p->t, p->resp, NULL) != 0) {
        p->refuse = "handshake failed";
    } else if (p->peer.version >= CHANNEL_EARLY_NOISE_VERSION &&
               (key_generate(&p->chal_priv) != 0 || key_public(&p->peer.challenge, &p->chal_priv) != 0)) {
        p->refuse = "internal error";
    }
    if (p->refuse != NULL) {
        char peer[ADDR_STRLEN];
        log_info("module=control event=handshake_refused peer=%s reason=\"%s\"",
                 http_req_peer_str(req, peer, sizeof(peer)), p->refuse);
        ts2021_transport_wipe(&p->t);
    }
    /* h2o writes "Connection: upgrade" itself */
    if (http_upgrade(req, TS2021_UPGRADE, NULL, 0, on_upgraded, p) != 0) {
        ts2021_transport_wipe(&p->t);
        free(p);
        http_respond_text(req, 400, "upgrade needs HTTP/1.1\n");
        return;
    }
    ch->nupgrading++;
}

static void handle_key(struct http_req *req, void *arg)
{
    struct channel *ch = arg;
    if (strcmp(http_req_method(req), "GET") != 0 && strcmp(http_req_method(req), "HEAD") != 0) {
        http_respond_text(req, 405, "method not allowed\n");
        return;
    }
    /* v (the client's capability version) is required and numeric, as headscale wants it */
    const char *q = http_req_query(req), *v = NULL;
    for (const char *p = q; p != NULL && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
        if (strncmp(p, "v=", 2) == 0) {
            v = p + 2;
            break;
        }
    size_t vl = v ? strcspn(v, "&") : 0;
    int numeric = vl > 0 && vl < 10;
    for (size_t i = 0; numeric && i < vl; i++)
        numeric = v[i] >= '0' && v[i] <= '9';
    if (!numeric) {
        http_respond_text(req, 400, "v parameter (capability version) required\n");
        return;
    }
    http_respond_json(req, 200, ch->key_json);
}

/* ---- the channel ---- */

struct channel *channel_new(struct loop *l, const struct key *control_priv)
{
    struct channel *ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return NULL;
    ch->loop = l;
    ch->priv = *control_priv;
    char pub[KEY_TEXT_MAX];
    if (key_public(&ch->pub, &ch->priv) != 0 ||
        key_format(pub, sizeof(pub), KEY_TEXT_MACHINE, &ch->pub) < 0) {
        channel_free(ch);
        return NULL;
    }
    snprintf(
        ch->key_json, sizeof(ch->key_json),
        "{\"legacyPublicKey\":\"mkey:0000000000000000000000000000000000000000000000000000000000000000\","
        "\"publicKey\":\"%s\"}",
        pub);
    for (size_t i = 0; i < sizeof(optional_paths) / sizeof(optional_paths[0]); i++) {
        if (channel_handle(ch, optional_paths[i].path, optional_paths[i].prefix, NULL, NULL) != 0) {
            channel_free(ch);
            return NULL;
        }
        ch->routes[ch->nroutes - 1].status = 501;
    }
    return ch;
}

int channel_attach(struct channel *ch, struct http_server *srv)
{
    if (http_route(srv, "/key", 0, handle_key, ch) != 0 ||
        http_route(srv, TS2021_PATH, 0, handle_ts2021, ch) != 0)
        return -1;
    return 0;
}

int channel_handle(struct channel *ch, const char *path, int prefix, channel_handler fn, void *arg)
{
    if (path == NULL || path[0] != '/')
        return -1;
    for (size_t i = 0; i < ch->nroutes; i++) {
        struct route *rt = &ch->routes[i];
        if (rt->key.prefix == !!prefix && strcmp(rt->key.path, path) == 0) {
            rt->fn = fn;
            rt->arg = arg;
            rt->status = 404;
            return 0;
        }
    }
    struct route *rs = realloc(ch->routes, (ch->nroutes + 1) * sizeof(*rs));
    if (rs == NULL)
        return -1;
    ch->routes = rs;
    struct route *rt = &rs[ch->nroutes];
    if (route_key_init(&rt->key, path, prefix) != 0)
        return -1;
    rt->fn = fn;
    rt->arg = arg;
    rt->status = 404;
    ch->nroutes++;
    return 0;
}

void channel_set_limits(struct channel *ch, const struct channel_limits *lim)
{
    ch->lim = *lim;
    accept_limit_init(&ch->accept, lim->max_conns, lim->accept_rate, lim->accept_burst, loop_now(ch->loop));
}

const struct channel_stats *channel_stats(const struct channel *ch)
{
    return &ch->st;
}

const struct key *channel_public_key(const struct channel *ch)
{
    return &ch->pub;
}

void channel_shutdown(struct channel *ch)
{
    ch->stopping = 1;
    for (struct channel_conn *c = ch->conns; c != NULL; c = c->next) {
        h2_goaway(c->h2);
        conn_check(c);
    }
}

int channel_idle(struct channel *ch)
{
    for (struct channel_conn *c = ch->conns; c != NULL; c = c->next)
        conn_check(c); /* sessions whose last stream ended since the GOAWAY */
    return ch->nconns == 0;
}

size_t channel_connections(const struct channel *ch)
{
    return ch->nconns;
}

void channel_free(struct channel *ch)
{
    if (ch == NULL)
        return;
    while (ch->conns != NULL) {
        struct channel_conn *c = ch->conns;
        conn_unlink(c);
        timer_stop(&c->idle);
        noise_stream_abandon(c->ns); /* the stream is freed by the loop; no callback reaches us */
        h2_free(c->h2);
        sodium_memzero(&c->chal_priv, sizeof(c->chal_priv));
        free(c);
    }
    for (size_t i = 0; i < ch->nroutes; i++)
        free(ch->routes[i].key.path);
    free(ch->routes);
    sodium_memzero(&ch->priv, sizeof(ch->priv));
    free(ch);
}
