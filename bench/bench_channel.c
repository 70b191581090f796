// SPDX-License-Identifier: BSD-3-Clause
/* Control channel figures, server (modules/control/channel.c) and clients (core/control_client) in one
 * process over 127.0.0.1: handshakes per second with 1000 clients connecting at once and the memory each
 * connection costs (both ends together), small requests per second on one connection (100 in flight),
 * and a streamed answer's MB/s through Noise + HTTP/2 flow control. Wall-clock times. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/control_client.h"
#include "core/http.h"
#include "core/loop.h"
#include "modules/control/channel.h"

static struct loop *L;
static char url[64];
static struct key control_pub;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- server handlers ---- */

static void h_echo(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    size_t len;
    const uint8_t *b = h2_req_body(req, &len);
    h2_respond(req, 200, NULL, 0, b, len);
}

static size_t stream_total, stream_sent;
static struct h2_req *stream_req;
static void fill(void *arg)
{
    static uint8_t chunk[65536];
    while (stream_req != NULL && stream_sent < stream_total && h2_reply_queued(stream_req) < 256 * 1024) {
        h2_reply_write(stream_req, chunk, sizeof(chunk));
        stream_sent += sizeof(chunk);
    }
    if (stream_req != NULL && stream_sent >= stream_total) {
        h2_reply_end(stream_req);
        stream_req = NULL;
    }
}
static void h_stream(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    stream_req = req;
    stream_sent = 0;
    h2_reply_on_drain(req, fill, NULL);
    h2_reply_start(req, 200, NULL, 0);
    fill(NULL);
}

/* ---- clients ---- */

static int nready, nfailed, ndone;
static size_t streamed;

static void on_ready(struct control_client *cc, const char *err, void *arg)
{
    if (err)
        nfailed++;
    else
        nready++;
}

static void on_done(struct control_call *c, int status, const uint8_t *b, size_t len, const char *err,
                    void *arg)
{
    ndone++;
}

static void on_data(struct control_call *c, const uint8_t *d, size_t len, void *arg)
{
    streamed += len;
}

static struct control_client *connect_one(void)
{
    struct key m;
    key_generate(&m);
    struct control_client_opts o = {
        .server_url = url, .machine_priv = &m, .control_pub = &control_pub, .timeout_ms = 30000};
    return control_client_connect(L, &o, on_ready, NULL, NULL);
}

static void run_while(int *count, int want, double limit_s)
{
    double end = now_s() + limit_s;
    while (*count < want && now_s() < end)
        loop_run_once(L, 10);
}

int main(void)
{
    struct rlimit rl; /* 1000 connections are 2000 descriptors here */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    L = loop_new();
    struct http_server *srv = http_server_new(L);
    char err[256];
    int id = http_listen(srv, "127.0.0.1:0", NULL, err, sizeof(err));
    if (id < 0) {
        fprintf(stderr, "bench_channel: %s\n", err);
        return 1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", http_listener_port(srv, id));
    struct key control_priv;
    key_generate(&control_priv);
    key_public(&control_pub, &control_priv);
    struct channel *ch = channel_new(L, &control_priv);
    channel_attach(ch, srv);
    channel_handle(ch, "/echo", 0, h_echo, NULL);
    channel_handle(ch, "/stream", 0, h_stream, NULL);

    /* warm up allocator and loop with one connection */
    struct control_client *first = connect_one();
    run_while(&nready, 1, 10);

    int N = 1000;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * 1000 + 64)
        N = rl.rlim_cur > 264 ? (int)(rl.rlim_cur - 64) / 2 : 100; /* each connection has two ends here */
    static struct control_client *ccs[1000];
    long rss0 = rss_kb();
    double t0 = now_s();
    for (int i = 0; i < N; i++)
        ccs[i] = connect_one();
    run_while(&nready, N + 1, 30);
    double t1 = now_s();
    long rss1 = rss_kb();
    printf("handshakes: %d clients at once, %d ready, %d failed in %.2f s: %.0f handshakes/s\n", N,
           nready - 1, nfailed, t1 - t0, (nready - 1) / (t1 - t0));
    printf("memory: %.1f KiB per connection (client + server ends, RSS)\n", (double)(rss1 - rss0) / N);
    for (int i = 0; i < N; i++)
        control_client_close(ccs[i]);
    loop_run_once(L, 10);

    /* small requests, 100 in flight on one connection */
    static const struct control_call_cbs cbs = {NULL, NULL, on_done};
    int total = 20000, sent = 0;
    t0 = now_s();
    while (ndone < total && now_s() < t0 + 20) {
        while (sent - ndone < 100 && sent < total) {
            control_client_request(first, "POST", "/echo", NULL, 0, "{\"Version\":97}", 14, &cbs, NULL);
            sent++;
        }
        loop_run_once(L, 10);
    }
    t1 = now_s();
    printf("requests: %d echo requests on one connection (100 in flight) in %.2f s: %.0f req/s\n", ndone,
           t1 - t0, ndone / (t1 - t0));

    /* one long streamed answer */
    static const struct control_call_cbs scbs = {NULL, on_data, on_done};
    stream_total = 256u << 20;
    int before = ndone;
    t0 = now_s();
    control_client_request(first, "POST", "/stream", NULL, 0, NULL, 0, &scbs, NULL);
    run_while(&ndone, before + 1, 30);
    t1 = now_s();
    printf("stream: %zu MiB streamed in %.2f s: %.0f MB/s\n", streamed >> 20, t1 - t0,
           streamed / (t1 - t0) / 1e6);

    control_client_close(first);
    loop_run_once(L, 10);
    channel_free(ch);
    http_server_free(srv);
    loop_free(L);
    return 0;
}
