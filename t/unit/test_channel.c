// SPDX-License-Identifier: BSD-3-Clause
/* The control channel end to end in one process: modules/control/channel.c on a core/http server on
 * 127.0.0.1, core/control_client connecting to it. /key, the handshake, the early payload, routing
 * (404, 501, handlers), bodies across many records, the 1 MiB cap, many streams at once, a long streamed
 * answer under flow control with a bounded queue, async answers, on_gone, refused handshakes (error
 * frames), garbage after the upgrade, GOAWAY on shutdown. */
#include "config.h"
#include "core/control_client.h"
#include "core/crypto/key.h"
#include "core/crypto/noise_ts2021.h"
#include "core/http.h"
#include "core/http_client.h"
#include "core/loop.h"
#include "core/noise_stream.h"
#include "core/wire/ts2021.h"
#include "modules/control/channel.h"
#include "t/tap.h"

static struct loop *L;
static struct channel *ch;
static char url[64];
static struct key machine;

static int run_until(int *flag, int ms)
{
    uint64_t end = loop_update_now(L) + (uint64_t)ms;
    while (!*flag && loop_now(L) < end)
        loop_run_once(L, 20);
    return *flag;
}

/* ---- server handlers (test only) ---- */

static void h_echo(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    char mk[KEY_TEXT_MAX], ver[16];
    key_format(mk, sizeof(mk), KEY_TEXT_MACHINE, &peer->machine);
    snprintf(ver, sizeof(ver), "%u", peer->version);
    const char *ct = h2_req_header(req, "content-type");
    const struct http_header hs[] = {
        {"x-machine", mk}, {"x-version", ver}, {"x-method", h2_req_method(req)}, {"x-ct", ct ? ct : "-"}};
    size_t len;
    const uint8_t *body = h2_req_body(req, &len);
    h2_respond(req, 200, hs, 4, body, len);
}

/* a long answer produced as the queue drains: total bytes of a known pattern */
struct producer {
    struct h2_req *req;
    size_t sent, total, max_queued;
    int gone;
};
static struct producer prod;
static int stream_gone;

static void prod_fill(void *arg)
{
    struct producer *p = arg;
    uint8_t chunk[16384];
    while (p->sent < p->total && h2_reply_queued(p->req) < 128 * 1024) {
        size_t n = p->total - p->sent < sizeof(chunk) ? p->total - p->sent : sizeof(chunk);
        for (size_t i = 0; i < n; i++)
            chunk[i] = (uint8_t)((p->sent + i) * 7);
        h2_reply_write(p->req, chunk, n);
        p->sent += n;
        if (h2_reply_queued(p->req) > p->max_queued)
            p->max_queued = h2_reply_queued(p->req);
    }
    if (p->sent == p->total) {
        h2_reply_end(p->req);
        p->req = NULL;
    }
}

static void prod_gone(void *arg)
{
    struct producer *p = arg;
    p->gone = 1;
    p->req = NULL;
    stream_gone = 1;
}

static void h_stream(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    static const struct http_header hs[] = {{"content-type", "application/octet-stream"}};
    memset(&prod, 0, sizeof(prod));
    prod.req = req;
    prod.total = 8u << 20;
    h2_req_on_gone(req, prod_gone, &prod);
    h2_reply_on_drain(req, prod_fill, &prod);
    h2_reply_start(req, 200, hs, 1);
    prod_fill(&prod);
}

/* answers 100 ms later from a timer */
static struct timer later_t;
static struct h2_req *later_req;
static void later_fire(struct timer *t, void *arg)
{
    if (later_req != NULL)
        h2_respond_text(later_req, 202, "later\n");
    later_req = NULL;
}
static void later_gone(void *arg)
{
    later_req = NULL;
}
static void h_later(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    later_req = req;
    h2_req_on_gone(req, later_gone, NULL);
    timer_start(&later_t, 100);
}

/* a streamed answer that never ends: the client goes away */
static int forever_gone;
static void forever_gone_cb(void *arg)
{
    forever_gone = 1;
}
static void h_forever(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    h2_req_on_gone(req, forever_gone_cb, NULL);
    h2_reply_start(req, 200, NULL, 0);
    h2_reply_write(req, "tick", 4);
}

/* ---- client side ---- */

struct waiter {
    int done, status, head_status;
    char err[200];
    uint8_t *body;
    size_t len;
    char hdr_machine[KEY_TEXT_MAX], hdr_version[16], hdr_ct[64], hdr_method[16];
    size_t streamed, bad_bytes;
};

static void w_head(struct control_call *c, int status, const struct http_header *hs, size_t n, void *arg)
{
    struct waiter *w = arg;
    w->head_status = status;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(hs[i].name, "x-machine") == 0)
            snprintf(w->hdr_machine, sizeof(w->hdr_machine), "%s", hs[i].value);
        if (strcmp(hs[i].name, "x-version") == 0)
            snprintf(w->hdr_version, sizeof(w->hdr_version), "%s", hs[i].value);
        if (strcmp(hs[i].name, "content-type") == 0 || strcmp(hs[i].name, "x-ct") == 0)
            snprintf(w->hdr_ct, sizeof(w->hdr_ct), "%s", hs[i].value);
        if (strcmp(hs[i].name, "x-method") == 0)
            snprintf(w->hdr_method, sizeof(w->hdr_method), "%s", hs[i].value);
    }
}

static void w_done(struct control_call *c, int status, const uint8_t *body, size_t len, const char *err,
                   void *arg)
{
    struct waiter *w = arg;
    w->done = 1;
    w->status = status;
    snprintf(w->err, sizeof(w->err), "%s", err ? err : "");
    free(w->body);
    w->body = malloc(len + 1);
    memcpy(w->body, body, len);
    w->body[len] = 0;
    w->len = len;
}

static void w_data(struct control_call *c, const uint8_t *data, size_t len, void *arg)
{
    struct waiter *w = arg;
    for (size_t i = 0; i < len; i++)
        if (data[i] != (uint8_t)((w->streamed + i) * 7))
            w->bad_bytes++;
    w->streamed += len;
}

static const struct control_call_cbs collect = {w_head, NULL, w_done};
static const struct control_call_cbs streaming = {w_head, w_data, w_done};

struct conn_state {
    int ready, failed, closed;
    char err[200], close_err[200];
};

static void on_ready(struct control_client *cc, const char *err, void *arg)
{
    struct conn_state *st = arg;
    if (err) {
        st->failed = 1;
        snprintf(st->err, sizeof(st->err), "%s", err);
    } else {
        st->ready = 1;
    }
}

static void on_close(struct control_client *cc, const char *err, void *arg)
{
    struct conn_state *st = arg;
    st->closed = 1;
    snprintf(st->close_err, sizeof(st->close_err), "%s", err ? err : "");
}

static struct control_client *connect_client(struct conn_state *st, const struct key *ctl, uint16_t version)
{
    memset(st, 0, sizeof(*st));
    struct control_client_opts o = {.server_url = url,
                                    .machine_priv = &machine,
                                    .control_pub = ctl,
                                    .version = version,
                                    .timeout_ms = 5000};
    return control_client_connect(L, &o, on_ready, on_close, st);
}

static struct waiter *call(struct control_client *cc, const char *method, const char *path, const void *body,
                           size_t len, const struct control_call_cbs *cbs)
{
    struct waiter *w = calloc(1, sizeof(*w));
    if (control_client_request(cc, method, path, NULL, 0, body, len, cbs, w) == NULL)
        w->done = -1;
    return w;
}

static void wfree(struct waiter *w)
{
    free(w->body);
    free(w);
}

/* ---- a raw client: a valid handshake, then whatever bytes we like ---- */

struct raw {
    struct stream *s;
    int closed, upgraded, status;
    struct ts2021_handshake hs;
    struct ts2021_transport t;
    struct noise_stream *ns;
    const uint8_t *send;
    size_t send_len;
    int plaintext; /* send through Noise (1) or raw after the handshake (0) */
    uint8_t frame[128];
    size_t frame_len;
};

static void raw_ns_close(struct noise_stream *ns, const char *err, void *arg)
{
    ((struct raw *)arg)->closed = 1;
}

static void raw_read(struct stream *s, void *arg)
{
    struct raw *r = arg;
    size_t len;
    uint8_t *p = stream_input(s, &len);
    if (r->upgraded)
        return;
    uint8_t type;
    ssize_t fl = ts2021_frame_len(p, len, &type);
    if (fl <= 0 || (size_t)fl > len)
        return;
    r->upgraded = 1;
    if (type == TS2021_TYPE_ERROR) {
        r->frame_len = (size_t)fl < sizeof(r->frame) ? (size_t)fl : sizeof(r->frame);
        memcpy(r->frame, p, r->frame_len);
        return;
    }
    if (ts2021_initiator_finish(&r->hs, &r->t, p, (size_t)fl) != 0)
        return;
    stream_consume(s, (size_t)fl);
    if (r->plaintext) {
        r->ns = noise_stream_new(s, &r->t, NULL, NULL, raw_ns_close, r);
        noise_stream_write(r->ns, r->send, r->send_len);
    } else {
        stream_write(s, r->send, r->send_len);
    }
}

static void raw_close(struct stream *s, const char *err, void *arg)
{
    ((struct raw *)arg)->closed = 1;
}

static void raw_response(struct stream *s, const struct http_response *res, const char *err, void *arg)
{
    struct raw *r = arg;
    if (err) {
        r->closed = 1;
        return;
    }
    r->status = res->status;
    stream_set_callbacks(s, raw_read, NULL, raw_close, r);
    stream_read_start(s);
}

static const char *raw_b64;
static const char *raw_method = "POST";
static void raw_connected(struct stream *s, const char *err, void *arg)
{
    struct raw *r = arg;
    uint8_t init[TS2021_INITIATION_LEN];
    char b64[200];
    if (err) {
        r->closed = 1;
        return;
    }
    ts2021_initiator_start(&r->hs, init, machine.b, channel_public_key(ch)->b, 97, NULL);
    ts2021_base64_encode(b64, sizeof(b64), init, sizeof(init));
    struct http_header hs[] = {{"Upgrade", "tailscale-control-protocol"},
                               {"Connection", "upgrade"},
                               {"X-Tailscale-Handshake", raw_b64 ? raw_b64 : b64}};
    http_client_request(s, raw_method, "/ts2021", "test", hs, 3, NULL, 0, raw_response, r);
}

static void raw_run(struct raw *r, const char *addr)
{
    r->s = stream_connect(L, addr, NULL, raw_connected, r);
}

/* ---- the tests ---- */

int main(void)
{
    L = loop_new();
    struct http_server *srv = http_server_new(L);
    char err[256];
    int id = http_listen(srv, "127.0.0.1:0", NULL, err, sizeof(err));
    if (id < 0) {
        printf("1..0 # SKIP cannot listen: %s\n", err);
        return 0;
    }
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_listener_port(srv, id));
    snprintf(url, sizeof(url), "http://%s", addr);
    timer_init(&later_t, L, later_fire, NULL);

    /* fixed keys: the test is about the channel, not key generation */
    struct key control_priv, control_pub;
    unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e06b", control_priv.b, 32);
    unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", machine.b, 32);
    key_public(&control_pub, &control_priv);
    ch = channel_new(L, &control_priv);
    ok(ch != NULL && channel_attach(ch, srv) == 0, "a channel on the HTTP server");
    channel_handle(ch, "/test/echo", 0, h_echo, NULL);
    channel_handle(ch, "/test/stream", 0, h_stream, NULL);
    channel_handle(ch, "/test/later", 0, h_later, NULL);
    channel_handle(ch, "/test/forever", 0, h_forever, NULL);
    channel_handle(ch, "/test/sub/", 1, h_echo, NULL);

    /* a client that fetches /key first */
    struct conn_state st;
    struct control_client *cc = connect_client(&st, NULL, 97);
    ok(cc != NULL, "client connecting");
    ok(run_until(&st.ready, 5000), "GET /key, upgrade, Noise handshake and early payload: ready (%s)",
       st.err);
    ok(key_equal(control_client_server_key(cc), &control_pub), "the key from /key is the control key");
    const char *early = control_client_early_json(cc);
    ok(early != NULL && strncmp(early, "{\"nodeKeyChallenge\":\"chalpub:", 29) == 0,
       "early payload with a nodeKeyChallenge: %s", early ? early : "(none)");
    struct key chal;
    ok(control_client_challenge(cc, &chal) == 0 && !key_is_zero(&chal), "the challenge key parses");
    is_int((long long)channel_connections(ch), 1, "the server counts one connection");

    struct waiter *w = call(cc, "POST", "/machine/unknown", "{}", 2, &collect);
    run_until(&w->done, 3000);
    is_int(w->status, 404, "an unknown path: 404");
    is_str((char *)w->body, "404 page not found\n", "with Go's body");
    is_str(w->hdr_ct, "text/plain; charset=utf-8", "and its content type");
    wfree(w);
    w = call(cc, "POST", "/machine/register", "{}", 2, &collect);
    run_until(&w->done, 3000);
    is_int(w->status, 404, "/machine/register is unrouted until its handler is set");
    wfree(w);
    const char *optional[] = {"/machine/set-dns", "/machine/update-health", "/machine/id-token",
                              "/machine/ssh/action/1/to/2"};
    for (size_t i = 0; i < 4; i++) {
        w = call(cc, "POST", optional[i], NULL, 0, &collect);
        run_until(&w->done, 3000);
        is_int(w->status, 501, optional[i]);
        wfree(w);
    }

    /* echo: machine key, version, body through many records */
    size_t big = 300000;
    uint8_t *bigbody = malloc(big);
    for (size_t i = 0; i < big; i++)
        bigbody[i] = (uint8_t)(i * 13 + 1);
    w = call(cc, "POST", "/test/echo?x=1", bigbody, big, &collect);
    run_until(&w->done, 5000);
    is_int(w->status, 200, "echo: 200");
    ok(w->len == big && memcmp(w->body, bigbody, big) == 0, "a 300 kB body comes back intact");
    char mk[KEY_TEXT_MAX];
    struct key machine_pub;
    key_public(&machine_pub, &machine);
    key_format(mk, sizeof(mk), KEY_TEXT_MACHINE, &machine_pub);
    is_str(w->hdr_machine, mk, "the handler sees the machine key the handshake proved");
    is_str(w->hdr_version, "97", "and the capability version");
    is_str(w->hdr_method, "POST", "and the method");
    wfree(w);
    w = call(cc, "GET", "/test/sub/deeper", NULL, 0, &collect);
    run_until(&w->done, 3000);
    is_int(w->status, 200, "a prefix route");
    wfree(w);

    /* the body cap: 1 MiB passes, 1 MiB + 1 gets 413 */
    uint8_t *mib = calloc(1, (1 << 20) + 1);
    w = call(cc, "POST", "/test/echo", mib, 1 << 20, &collect);
    run_until(&w->done, 10000);
    ok(w->status == 200 && w->len == (1 << 20), "a 1 MiB body is accepted (%d)", w->status);
    wfree(w);
    w = call(cc, "POST", "/test/echo", mib, (1 << 20) + 1, &collect);
    run_until(&w->done, 10000);
    is_int(w->status, 413, "1 MiB + 1: 413");
    wfree(w);
    free(mib);

    /* 100 streams at once */
    struct waiter *many[100];
    int done_ok = 0;
    for (int i = 0; i < 100; i++)
        many[i] = call(cc, "POST", "/test/echo", bigbody + i, 5000 + (size_t)i, &collect);
    {
        uint64_t end = loop_update_now(L) + 10000;
        int all;
        do {
            loop_run_once(L, 20);
            all = 1;
            for (int i = 0; i < 100; i++)
                all &= many[i]->done != 0;
        } while (!all && loop_now(L) < end);
    }
    for (int i = 0; i < 100; i++) {
        done_ok += many[i]->status == 200 && many[i]->len == 5000 + (size_t)i &&
                   memcmp(many[i]->body, bigbody + i, many[i]->len) == 0;
        wfree(many[i]);
    }
    is_int(done_ok, 100, "100 concurrent streams on one connection all answered right");

    /* a long streamed answer: delivered chunk by chunk, the server's queue stays bounded */
    w = call(cc, "POST", "/test/stream", "{}", 2, &streaming);
    run_until(&w->done, 20000);
    ok(w->done == 1 && w->err[0] == 0, "8 MiB streamed answer completes (%s)", w->err);
    is_int(w->head_status, 200, "status 200");
    is_str(w->hdr_ct, "application/octet-stream", "content type as sent");
    is_int((long long)w->streamed, 8 << 20, "every byte arrived");
    is_int((long long)w->bad_bytes, 0, "in order and intact");
    ok(prod.max_queued <= 128 * 1024 + 16384, "the producer's queue stayed bounded (max %zu)",
       prod.max_queued);
    wfree(w);

    /* async answer */
    w = call(cc, "GET", "/test/later", NULL, 0, &collect);
    run_until(&w->done, 3000);
    ok(w->status == 202 && strcmp((char *)w->body, "later\n") == 0, "an answer given later from a timer");
    wfree(w);

    /* the client cancels a streamed answer: the handler learns it */
    struct waiter *fw = calloc(1, sizeof(*fw));
    struct control_call *fc =
        control_client_request(cc, "GET", "/test/forever", NULL, 0, NULL, 0, &streaming, fw);
    run_until(&fw->head_status, 3000);
    control_call_cancel(fc);
    ok(run_until(&forever_gone, 3000), "cancelling the call tells the handler (on_gone)");
    wfree(fw);

    /* refused handshakes: wrong control key, too old a version */
    struct conn_state st2;
    struct key wrong;
    key_generate(&wrong);
    struct key wrong_pub;
    key_public(&wrong_pub, &wrong);
    connect_client(&st2, &wrong_pub, 97);
    run_until(&st2.failed, 5000);
    is_str(st2.err, "server error: \"handshake failed\"", "a handshake for another control key is refused");
    connect_client(&st2, &control_pub, 20);
    run_until(&st2.failed, 5000);
    is_str(st2.err, "server error: \"unsupported client version\"", "capability version 20 is refused");

    /* a client below the early-payload version gets none, and works */
    struct conn_state st3;
    struct control_client *cc3 = connect_client(&st3, &control_pub, 40);
    ok(run_until(&st3.ready, 5000), "version 40 connects");
    ok(control_client_early_json(cc3) == NULL, "and gets no early payload");
    w = call(cc3, "POST", "/test/echo", "x", 1, &collect);
    run_until(&w->done, 3000);
    is_str(w->hdr_version, "40", "requests work on it");
    wfree(w);
    control_client_close(cc3);

    /* malformed peers are dropped; the good client keeps working */
    static const uint8_t garbage[] = "this is not a noise record at all, not even close..............";
    struct raw r1 = {.send = garbage, .send_len = sizeof(garbage), .plaintext = 0};
    raw_run(&r1, addr);
    ok(run_until(&r1.closed, 5000), "garbage instead of Noise records: the server drops the connection");
    struct raw r2 = {.send = garbage, .send_len = sizeof(garbage), .plaintext = 1};
    raw_run(&r2, addr);
    ok(run_until(&r2.closed, 5000), "garbage instead of HTTP/2 inside Noise: dropped too");
    raw_b64 = "AAAA";
    struct raw r3 = {0};
    raw_run(&r3, addr);
    run_until(&r3.upgraded, 5000);
    ok(r3.status == 101 && r3.frame_len > 3 && r3.frame[0] == 3 &&
           memcmp(r3.frame + 3, "wrong handshake initiation size", 31) == 0,
       "a short initiation: 101, then the error frame \"wrong handshake initiation size\"");
    raw_b64 = "!!!notbase64";
    struct raw r4 = {0};
    raw_run(&r4, addr);
    run_until(&r4.closed, 5000);
    is_int(r4.status, 400, "an undecodable X-Tailscale-Handshake: 400");
    raw_b64 = NULL;
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
    raw_method = "GET";
    struct raw r5 = {.send = preface, .send_len = sizeof(preface) - 1, .plaintext = 1};
    raw_run(&r5, addr);
    run_until(&r5.upgraded, 5000);
    ok(r5.status == 101 && r5.ns != NULL && r5.frame_len == 0, "the GET variant of the upgrade works too");
    raw_method = "PUT";
    struct raw r6 = {0};
    raw_run(&r6, addr);
    run_until(&r6.status, 5000);
    is_int(r6.status, 405, "other methods: 405");
    if (!r6.closed)
        stream_close(r6.s);
    raw_method = "POST";
    if (r5.ns != NULL && !r5.closed)
        noise_stream_close(r5.ns);
    w = call(cc, "POST", "/test/echo", "still", 5, &collect);
    run_until(&w->done, 3000);
    ok(w->status == 200 && strcmp((char *)w->body, "still") == 0, "the good client still works");
    wfree(w);

    /* 200 clients handshaking at once */
    enum { N = 200 };
    static struct conn_state sts[N];
    static struct control_client *ccs[N];
    int ready = 0;
    for (int i = 0; i < N; i++)
        ccs[i] = connect_client(&sts[i], &control_pub, 97);
    {
        uint64_t end = loop_update_now(L) + 20000;
        do {
            loop_run_once(L, 20);
            ready = 0;
            for (int i = 0; i < N; i++)
                ready += sts[i].ready;
        } while (ready < N && loop_now(L) < end);
    }
    is_int(ready, N, "200 clients handshake at once");
    static struct waiter *ws[N];
    int answered = 0;
    for (int i = 0; i < N; i++)
        ws[i] = sts[i].ready ? call(ccs[i], "POST", "/test/echo", "hi", 2, &collect) : NULL;
    {
        uint64_t end = loop_update_now(L) + 20000;
        do {
            loop_run_once(L, 20);
            answered = 0;
            for (int i = 0; i < N; i++)
                answered += ws[i] && ws[i]->status == 200;
        } while (answered < N && loop_now(L) < end);
    }
    is_int(answered, N, "and each gets its answer");
    is_int((long long)channel_connections(ch), N + 1, "the server holds 201 connections");
    for (int i = 0; i < N; i++) {
        if (ws[i])
            wfree(ws[i]);
        if (sts[i].ready)
            control_client_close(ccs[i]);
    }
    {
        uint64_t end = loop_update_now(L) + 5000;
        while (channel_connections(ch) > 1 && loop_now(L) < end)
            loop_run_once(L, 20);
    }
    is_int((long long)channel_connections(ch), 1, "closed clients leave the server");

    /* graceful shutdown: GOAWAY, the idle client's channel closes */
    channel_shutdown(ch);
    ok(run_until(&st.closed, 5000), "shutdown: the client hears GOAWAY and closes (%s)", st.close_err);
    {
        uint64_t end = loop_update_now(L) + 3000;
        while (!channel_idle(ch) && loop_now(L) < end)
            loop_run_once(L, 20);
    }
    is_int((long long)channel_connections(ch), 0, "no connection left");

    free(bigbody);
    channel_free(ch);
    http_server_free(srv);
    loop_free(L);
    return done_testing();
}
