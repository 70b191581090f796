// SPDX-License-Identifier: BSD-3-Clause
/* core/h2: the exact first bytes both ends send (checked against the capture of the official client and
 * headscale, testdata/captures/http2-frames.txt), then a client and a server session wired back to back
 * in memory: headers and bodies both ways, one-shot vs streamed answers (content-length or not), flow
 * control with a congested writer, the body cap, on_gone, cancel, GOAWAY, and garbage. */
#include "config.h"
#include "core/h2.h"
#include "t/tap.h"

struct pipe {
    uint8_t *p;
    size_t len, cap;
    int congest_every, writes;
};

static int pipe_write(void *arg, const uint8_t *data, size_t len)
{
    struct pipe *pp = arg;
    if (pp->len + len > pp->cap) {
        pp->cap = (pp->len + len) * 2;
        pp->p = realloc(pp->p, pp->cap);
    }
    memcpy(pp->p + pp->len, data, len);
    pp->len += len;
    pp->writes++;
    return pp->congest_every && pp->writes % pp->congest_every == 0;
}

static char *hex(const uint8_t *p, size_t n)
{
    static char buf[4096];
    for (size_t i = 0; i < n && i < 2000; i++)
        sprintf(buf + 2 * i, "%02x", p[i]);
    return buf;
}

static struct pipe c2s, s2c;
static struct h2 *cli, *srv;

/* move bytes both ways until both sides are quiet */
static void pump(void)
{
    for (int round = 0; round < 10000; round++) {
        h2_flush(cli);
        h2_flush(srv);
        if (c2s.len == 0 && s2c.len == 0)
            return;
        if (c2s.len) {
            uint8_t *p = c2s.p;
            size_t n = c2s.len;
            c2s.p = NULL;
            c2s.len = c2s.cap = 0;
            h2_feed(srv, p, n);
            free(p);
        }
        if (s2c.len) {
            uint8_t *p = s2c.p;
            size_t n = s2c.len;
            s2c.p = NULL;
            s2c.len = s2c.cap = 0;
            h2_feed(cli, p, n);
            free(p);
        }
    }
}

/* ---- server side ---- */

static char seen_method[16], seen_path[64], seen_auth[64], seen_tslb[128], seen_ct[64];
static size_t seen_body;
static struct h2_req *held;
static int held_gone;

static void on_gone(void *arg)
{
    held_gone = 1;
    held = NULL;
}

static void on_request(struct h2_req *r, void *arg)
{
    snprintf(seen_method, sizeof(seen_method), "%s", h2_req_method(r));
    snprintf(seen_path, sizeof(seen_path), "%s", h2_req_path(r));
    snprintf(seen_auth, sizeof(seen_auth), "%s", h2_req_authority(r));
    const char *v = h2_req_header(r, "ts-lb");
    snprintf(seen_tslb, sizeof(seen_tslb), "%s", v ? v : "");
    v = h2_req_header(r, "content-type");
    snprintf(seen_ct, sizeof(seen_ct), "%s", v ? v : "");
    const uint8_t *body = h2_req_body(r, &seen_body);
    if (strcmp(h2_req_path(r), "/machine/map") == 0) {
        static const struct http_header hs[] = {{"content-type", "application/octet-stream"}};
        h2_reply_start(r, 200, hs, 1);
        held = r;
        h2_req_on_gone(r, on_gone, NULL);
        return;
    }
    if (strcmp(h2_req_path(r), "/hold") == 0) {
        held = r;
        h2_req_on_gone(r, on_gone, NULL);
        return;
    }
    if (strcmp(h2_req_path(r), "/lite") == 0) {
        h2_respond(r, 200, NULL, 0, NULL, 0);
        return;
    }
    static const struct http_header hs[] = {{"content-type", "application/json; charset=utf-8"}};
    h2_respond(r, 200, hs, 1, body, seen_body);
}

/* ---- client side ---- */

struct res {
    int status, done;
    char err[128], ct[64], cl[32];
    size_t got;
};

static void c_head(struct h2_call *c, int status, const struct http_header *hs, size_t n, void *arg)
{
    struct res *r = arg;
    r->status = status;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(hs[i].name, "content-type") == 0)
            snprintf(r->ct, sizeof(r->ct), "%s", hs[i].value);
        if (strcmp(hs[i].name, "content-length") == 0)
            snprintf(r->cl, sizeof(r->cl), "%s", hs[i].value);
    }
}

static void c_data(struct h2_call *c, const uint8_t *d, size_t n, void *arg)
{
    ((struct res *)arg)->got += n;
}

static void c_done(struct h2_call *c, const char *err, void *arg)
{
    struct res *r = arg;
    r->done = 1;
    snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

static const struct h2_call_cbs cbs = {c_head, c_data, c_done};

static int idles;
static void on_idle(void *arg)
{
    idles++;
}

/* Held requests (a Followup waiting for an admin) keep their bodies: the session's budget counts them,
 * and header bytes, across all its streams; past it new requests get 503 until something is released. */
static void test_budget(void)
{
    cli = h2_client_new(pipe_write, &c2s);
    struct h2_server_opts o = {.max_buffered = 256 * 1024, .on_idle = on_idle};
    srv = h2_server_new(pipe_write, on_request, &s2c, &o);
    pump();
    static uint8_t body[100 * 1024];
    struct res r[4];
    memset(r, 0, sizeof(r));
    struct h2_call *c[2];
    held = NULL;
    c[0] = h2_request(cli, "POST", "/hold", "h", NULL, 0, body, sizeof(body), &cbs, &r[0]);
    pump();
    struct h2_req *first = held;
    c[1] = h2_request(cli, "POST", "/hold", "h", NULL, 0, body, sizeof(body), &cbs, &r[1]);
    pump();
    ok(first != NULL && held != NULL && held != first && h2_streams(srv) == 2,
       "two held 100 KiB requests fit in 256 KiB");
    h2_request(cli, "POST", "/x", "h", NULL, 0, body, sizeof(body), &cbs, &r[2]);
    pump();
    is_int(r[2].status, 503, "a third body does not: 503");
    static char big[60 * 1024];
    memset(big, 'h', sizeof(big) - 1);
    struct http_header hs[] = {{"x-big", big}};
    h2_request(cli, "GET", "/x", "h", hs, 1, NULL, 0, &cbs, &r[3]);
    pump();
    is_int(r[3].status, 503, "nor do 60 KiB of headers: they count too");
    idles = 0;
    h2_call_cancel(c[0]);
    pump();
    is_int(idles, 0, "one stream still open: not idle");
    h2_call_cancel(c[1]);
    pump();
    is_int(idles, 1, "the last stream closed: on_idle");
    memset(r, 0, sizeof(r));
    h2_request(cli, "POST", "/x", "h", NULL, 0, body, sizeof(body), &cbs, &r[0]);
    pump();
    is_int(r[0].status, 200, "released: a 100 KiB body fits again");
    h2_free(srv);
    h2_free(cli);
    free(c2s.p);
    free(s2c.p);
    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));
    held = NULL;
}

int main(void)
{
    /* the official client's preface */
    cli = h2_client_new(pipe_write, &c2s);
    h2_flush(cli);
    is_str(hex(c2s.p, c2s.len),
           "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a" /* PRI * HTTP/2.0 ... */
           "000012040000000000"                               /* SETTINGS, 3 entries: */
           "000200000000"
           "000400400000"
           "000600a00000" /* ENABLE_PUSH=0 IWS=4194304 MHLS=10485760 */
           "000004080000000000"
           "40000000", /* WINDOW_UPDATE(0, 1073741824) */
           "client preface: magic, SETTINGS and WINDOW_UPDATE as tailscale v1.68.2 sends them");

    /* the server's first frames: what Go's http2.Server (headscale) sends */
    srv = h2_server_new(pipe_write, on_request, &s2c, NULL);
    h2_flush(srv);
    is_str(hex(s2c.p, s2c.len),
           "00001e040000000000"
           "000500100000"
           "0003000000fa"
           "000600100140"
           "000100001000"
           "000400100000"
           "000004080000000000000f0001",
           "server: SETTINGS MAX_FRAME_SIZE=1048576 MAX_CONCURRENT_STREAMS=250 MAX_HEADER_LIST_SIZE=1048896 "
           "HEADER_TABLE_SIZE=4096 INITIAL_WINDOW_SIZE=1048576, WINDOW_UPDATE(0, 983041)");
    free(s2c.p);
    s2c.p = NULL;
    s2c.len = s2c.cap = 0;
    h2_free(srv);

    srv = h2_server_new(pipe_write, on_request, &s2c, NULL);
    pump();

    /* a register-like request */
    struct http_header hs[] = {
        {"ts-lb", "nodekey:fbc961927e46baf7abef37d5c37242d6c727bedbcfa11200a273d0eff271981e"},
        {"accept-encoding", "gzip"}};
    struct res r1 = {0};
    h2_request(cli, "POST", "/machine/register", "127.0.0.1:18081", hs, 2, "{\"Version\":97}", 14, &cbs,
               &r1);
    pump();
    is_str(seen_method, "POST", "the server sees :method");
    is_str(seen_path, "/machine/register", ":path");
    is_str(seen_auth, "127.0.0.1:18081", ":authority");
    is_str(seen_tslb, hs[0].value, "and the ts-lb header");
    is_str(seen_ct, "", "no content-type needed");
    is_int((long long)seen_body, 14, "the body");
    ok(r1.done && r1.err[0] == 0 && r1.status == 200, "the client gets 200");
    is_str(r1.ct, "application/json; charset=utf-8", "content-type as given");
    is_str(r1.cl, "14", "and content-length on a one-shot answer");

    /* a lite map request: 200 with no body */
    struct res r2 = {0};
    h2_request(cli, "POST", "/machine/map", "h", NULL, 0, "{}", 2, &cbs, &r2);
    pump();
    ok(held != NULL && r2.status == 200, "a streamed answer starts with its headers");
    is_str(r2.ct, "application/octet-stream", "application/octet-stream");
    is_str(r2.cl, "", "and no content-length");
    /* flow control: 10 MB through a client window of 4 MiB, with the server's writer congesting */
    s2c.congest_every = 3;
    uint8_t chunk[65536];
    memset(chunk, 'm', sizeof(chunk));
    size_t max_q = 0;
    for (int i = 0; i < 160; i++) {
        h2_reply_write(held, chunk, sizeof(chunk));
        if (h2_reply_queued(held) > max_q)
            max_q = h2_reply_queued(held);
        if (i % 4 == 3)
            pump();
    }
    pump();
    is_int((long long)r2.got, 160LL * 65536, "10 MB of DATA arrive, congestion and windows notwithstanding");
    ok(h2_reply_queued(held) == 0, "the queue is empty after");
    ok(!r2.done, "the stream stays open");
    h2_reply_end(held);
    held = NULL;
    pump();
    ok(r2.done && r2.err[0] == 0, "h2_reply_end ends it cleanly");
    s2c.congest_every = 0;

    struct res r3 = {0};
    h2_request(cli, "POST", "/lite", "h", NULL, 0, "{}", 2, &cbs, &r3);
    pump();
    ok(r3.done && r3.status == 200 && r3.got == 0 && strcmp(r3.cl, "0") == 0,
       "an empty answer: 200, content-length 0 (%s)", r3.cl);

    /* over the body cap: 413 */
    static uint8_t big[(1 << 20) + 10];
    struct res r4 = {0};
    h2_request(cli, "POST", "/x", "h", NULL, 0, big, sizeof(big), &cbs, &r4);
    pump();
    is_int(r4.status, 413, "a body over 1 MiB: 413");

    /* held request: the client cancels, the server hears */
    struct res r5 = {0};
    struct h2_call *c5 = h2_request(cli, "GET", "/hold", "h", NULL, 0, NULL, 0, &cbs, &r5);
    pump();
    ok(held != NULL && h2_streams(srv) == 1, "a held request is open on the server");
    h2_call_cancel(c5);
    pump();
    ok(held_gone && h2_streams(srv) == 0, "cancelled: on_gone, and the stream is gone");

    /* a held request when the session is freed */
    held_gone = 0;
    struct res r6 = {0};
    h2_request(cli, "GET", "/hold", "h", NULL, 0, NULL, 0, &cbs, &r6);
    pump();
    h2_free(srv);
    ok(held_gone, "freeing the server session: on_gone for what was open");
    h2_free(cli);
    ok(r6.done && r6.err[0] != 0, "freeing the client session: on_done with an error (%s)", r6.err);
    free(c2s.p);
    free(s2c.p);
    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));

    /* GOAWAY with nothing open: both sides are done */
    cli = h2_client_new(pipe_write, &c2s);
    srv = h2_server_new(pipe_write, on_request, &s2c, NULL);
    pump();
    ok(h2_alive(srv) && h2_alive(cli), "a fresh pair is alive");
    h2_goaway(srv);
    pump();
    ok(!h2_alive(srv), "after GOAWAY with no stream the server session is finished");
    ok(h2_request(cli, "GET", "/x", "h", NULL, 0, NULL, 0, &cbs, &r1) == NULL || !h2_alive(cli),
       "and the client takes no new request");
    h2_free(srv);
    h2_free(cli);
    free(c2s.p);
    free(s2c.p);
    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));

    test_budget();

    /* garbage instead of a preface */
    srv = h2_server_new(pipe_write, on_request, &s2c, NULL);
    ok(h2_feed(srv, (const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27) != 0 || !h2_alive(srv),
       "HTTP/1.1 instead of the preface: the session fails");
    h2_free(srv);
    free(s2c.p);
    return done_testing();
}
